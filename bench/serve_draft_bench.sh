#!/usr/bin/env bash
# Speculative decoding inside continuous batching (issue #11 point 2), figures for docs/PERF.md:
# per-stream and aggregate generation tokens/s at 1, 4 and 16 concurrent support chats on the
# shipped support model (models/moecat-support.gguf, so the acceptance rate is a real one), with
# `--draft none`, `--draft ngram` and `--draft mtp` (the model's MTP head), one server after the
# other on the same machine, and each drafting server's acceptance rate and tokens per verify
# step from /metrics.
# MODEL=FILE: another model (default the shipped one). At the shipped model's size a step costs
# next to nothing and drafting cannot pay; --padded uses the same model zero-padded to real matrix
# sizes (bench/inflate_support_model.py, made on first use in .cache/bench: same outputs, same
# acceptance rate, real bytes per step).
# Each round's decode figure per stream is held against the per-stream roofline (issue #11: a step
# reads every weight once at most, so one stream gets at most bandwidth / step bytes tokens/s
# without drafting; the bandwidth is measured in the same run, same threads, servers stopped).
# Usage: bench/serve_draft_bench.sh [--padded] [--streams 1,4,16] [--max-tokens 64] [--threads N] [--n-draft N]
# REPS=N: conversations per stream and round (default 3).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STREAMS=1,4,16
MAXTOK=64
THREADS=$(nproc)
NDRAFT=0  # 0: the server's default per drafter (mtp 1, ngram 3)
PADDED=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --streams) STREAMS="$2"; shift 2 ;;
    --max-tokens) MAXTOK="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --n-draft) NDRAFT="$2"; shift 2 ;;
    --padded) PADDED=1; shift ;;
    -h | --help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "serve_draft_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
MOECAT_BIN="${MOECAT_BIN:-$REPO/build/moecat}"
MODEL="${MODEL:-$REPO/models/moecat-support.gguf}"
if [ "$PADDED" = 1 ]; then
  SRC_MODEL="$MODEL"
  MODEL="$REPO/.cache/bench/support-padded-2048-q8_0.gguf"
  if [ ! -f "$MODEL" ]; then
    mkdir -p "$REPO/.cache/bench"
    HF=$(mktemp -d)
    /usr/bin/python3 "$REPO/bench/inflate_support_model.py" "$SRC_MODEL" "$HF/hf"
    "$MOECAT_BIN" convert "$HF/hf" -o "$MODEL.tmp" --type q8_0 && mv "$MODEL.tmp" "$MODEL"
    rm -rf "$HF"
  fi
fi
LOG=$(mktemp)
PID=""
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -f "$LOG" "$LOG".*' EXIT
echo "== moecat serve $(basename "$MODEL"), $THREADS threads, $(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for draft in none ngram mtp; do
  nd=()
  [ "$NDRAFT" -gt 0 ] && [ "$draft" != none ] && nd=(--n-draft "$NDRAFT")
  "$MOECAT_BIN" serve -m "$MODEL" --port 0 -t "$THREADS" --parallel 16 -c 2048 --draft "$draft" "${nd[@]}" 2>"$LOG" &
  PID=$!
  URL=""
  for _ in $(seq 1 300); do
    URL=$(sed -n 's/^moecat: listening on \(http:[^ ]*\).*/\1/p' "$LOG" | head -1)
    [[ -n "$URL" ]] && curl -sf "$URL/health" >/dev/null 2>&1 && break
    kill -0 $PID 2>/dev/null || { cat "$LOG"; exit 1; }
    sleep 0.2
  done
  echo "-- --draft $draft ${nd[*]}"
  BODY_FILE="$REPO/examples/api/tool_result.json" node "$REPO/bench/serve_load.mjs" support "$URL" "$STREAMS" "$MAXTOK" |
    tee "$LOG.$draft"
  if [ "$draft" != none ]; then
    curl -sf "$URL/metrics" | awk '$1 ~ /^moecat_(draft_|tokens_per_verify)/ {print "   " $1, $2}'
  fi
  kill $PID; wait $PID 2>/dev/null || true
  PID=""
done
read -r STEP_BYTES _ < <(python3 "$REPO/bench/gguf_step_bytes.py" "$MODEL")
BW=$("$MOECAT_BIN" bench -m "$MODEL" -p 0 -n 1 -r 1 -t "$THREADS" --membw -o json 2>/dev/null |
  sed -n 's/.*"membw_gbs": *\([0-9.]*\).*/\1/p' | head -1)
echo "== per-stream roofline: a step reads $(awk -v b="$STEP_BYTES" 'BEGIN{printf "%.3f", b/1e9}') GB (all weights but token_embd); read bandwidth $BW GB/s at $THREADS threads (moecat bench --membw): $(awk -v b="$STEP_BYTES" -v bw="$BW" 'BEGIN{printf "%.2f", bw * 1e9 / b}') tok/s per stream"
for draft in none ngram mtp; do
  awk -v d="$draft" -v b="$STEP_BYTES" -v bw="$BW" '$1 ~ /^[0-9]+$/ { r = bw * 1e9 / b;
    printf "  --draft %-5s %2d streams: decode %7.2f tok/s per stream = %5.1f %% of the per-stream roofline; aggregate %7.2f tok/s\n", d, $1, $6, 100 * $6 / r, $4 }' "$LOG.$draft"
done
