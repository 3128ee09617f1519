#!/usr/bin/env bash
# Server figures for docs/PERF.md: aggregate generation tokens/s at 1, 2, 4, 8, 16 concurrent
# streams, and time to first token for a request whose ~2,000-token system prompt is already in
# the prefix cache vs the same request cold. Then llama.cpp's llama-batched-bench (built from
# the llama.cpp that node-llama-cpp ships, bench/build_llama_bench.sh) decodes the same number
# of parallel sequences on the same GGUF, and the decode-rate ratio is printed per stream count.
# Model: the Qwen3-30B-A3B-shaped 4-layer q8_0 bench model (bench/make_bench_model.sh), or
# MODEL=path. Set NO_LLAMA=1 to skip llama.cpp.
# Usage: bench/serve_bench.sh [--streams 1,2,4,8,16] [--max-tokens 32] [--threads N]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STREAMS=1,2,4,8,16
MAXTOK=32
THREADS=$(nproc)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --streams) STREAMS="$2"; shift 2 ;;
    --max-tokens) MAXTOK="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    -h | --help) sed -n 2,7p "$0"; exit 0 ;;
    *) echo "serve_bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
MOECAT_BIN="${MOECAT_BIN:-$REPO/build/moecat}"
MODEL="${MODEL:-$(bash "$REPO/bench/make_bench_model.sh" | tail -1)}"
LOG=$(mktemp)
# SERVE_ARGS: more server options, e.g. "--draft ngram --n-draft 3" (the roofline lines then show
# what drafting adds per stream).
# shellcheck disable=SC2086
"$MOECAT_BIN" serve -m "$MODEL" --port 0 -t "$THREADS" --parallel 16 -c 4096 ${SERVE_ARGS:-} 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$LOG" "$LOG.streams" "$LOG.llama"' EXIT
URL=""
for _ in $(seq 1 600); do
  URL=$(sed -n 's/^moecat: listening on \(http:[^ ]*\).*/\1/p' "$LOG" | head -1)
  [[ -n "$URL" ]] && curl -sf "$URL/health" >/dev/null 2>&1 && break
  kill -0 $PID 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.2
done
echo "== moecat serve $(basename "$MODEL"), $THREADS threads, $(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
node "$REPO/bench/serve_load.mjs" streams "$URL" "$STREAMS" "$MAXTOK" | tee "$LOG.streams"
# ~2,000 prompt tokens with the bench model's tokenizer (its small BPE splits words finely)
node "$REPO/bench/serve_load.mjs" ttft "$URL" "${SYSTEM_WORDS:-415}"
node "$REPO/bench/serve_load.mjs" burst "$URL" 8 "${SYSTEM_WORDS:-415}"
grep -E '^moecat_(ffn_experts_per_token|prefix_cache_hit_ratio|batch_steps_total|batch_tokens_total|draft_acceptance_rate|tokens_per_verify_step) ' <(curl -s "$URL/metrics")
echo "peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MiB"}') (model file $(du -m "$MODEL" | cut -f1) MiB)"
kill $PID 2>/dev/null || true
wait $PID 2>/dev/null || true
# Batch roofline (issue #11): a decode step of N streams reads every weight once at most (all
# tensors but the token embedding, whose rows alone are read), so N x bandwidth / step bytes is
# the most N streams can generate; bandwidth measured now, same threads, server stopped.
read -r STEP_BYTES _ < <(python3 "$REPO/bench/gguf_step_bytes.py" "$MODEL")
BW=$("$MOECAT_BIN" bench -m "$MODEL" -p 0 -n 1 -r 1 -t "$THREADS" --membw -o json 2>/dev/null |
  sed -n 's/.*"membw_gbs": *\([0-9.]*\).*/\1/p' | head -1)
echo "== batch roofline: a step reads $(awk -v b="$STEP_BYTES" 'BEGIN{printf "%.3f", b/1e9}') GB (all weights but token_embd); read bandwidth $BW GB/s at $THREADS threads (moecat bench --membw)"
awk -v b="$STEP_BYTES" -v bw="$BW" '$1 ~ /^[0-9]+$/ { r = $1 * bw * 1e9 / b;
  printf "  %2d streams: roofline %8.2f tok/s (%.2f per stream), decode %8.2f = %5.1f %% (%.2f per stream), aggregate (HTTP, end to end) %8.2f = %5.1f %%\n", $1, r, r / $1, $6, 100 * $6 / r, $6 / $1, $4, 100 * $4 / r }' "$LOG.streams"
[[ "${NO_LLAMA:-0}" == 1 ]] && exit 0
BB="$(dirname "$("$REPO/bench/build_llama_bench.sh" | tail -n 1)")/llama-batched-bench"
echo "== llama.cpp llama-batched-bench, same file, $THREADS threads (S_TG: decode tokens/s over all sequences)"
"$BB" -m "$MODEL" -c $((16 * (64 + MAXTOK) + 64)) -b 512 -ub 512 -npp 32 -ntg "$MAXTOK" -npl "$STREAMS" -t "$THREADS" -fa off 2>/dev/null \
  | grep -E '^\|' | tee "$LOG.llama"
echo "== decode tokens/s, moecat serve (HTTP, batched) / llama.cpp (in-process, batched)"
awk 'FNR == NR { if ($1 ~ /^[0-9]+$/) m[$1] = $6; next }
     $2 == "|" { next }
     { split($0, c, "|"); b = c[4] + 0; if (b > 0 && (b in m)) printf "  %2d streams: %8.2f / %8.2f = %.2fx\n", b, m[b], c[9], m[b] / c[9] }' \
  "$LOG.streams" "$LOG.llama"
