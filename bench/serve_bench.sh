#!/usr/bin/env bash
# Server figures for docs/PERF.md: aggregate generation tokens/s at 1, 2, 4, 8, 16 concurrent
# streams, and time to first token for a request whose ~2,000-token system prompt is already in
# the prefix cache vs the same request cold. Model: the Qwen3-30B-A3B-shaped 4-layer q8_0
# bench model (bench/make_bench_model.sh), or MODEL=path.
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
"$MOECAT_BIN" serve -m "$MODEL" --port 0 -t "$THREADS" --parallel 16 -c 4096 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
URL=""
for _ in $(seq 1 600); do
  URL=$(sed -n 's/^moecat: listening on \(http:[^ ]*\).*/\1/p' "$LOG" | head -1)
  [[ -n "$URL" ]] && curl -sf "$URL/health" >/dev/null 2>&1 && break
  kill -0 $PID 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.2
done
echo "== moecat serve $(basename "$MODEL"), $THREADS threads, $(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
node "$REPO/bench/serve_load.mjs" streams "$URL" "$STREAMS" "$MAXTOK"
node "$REPO/bench/serve_load.mjs" ttft "$URL" 1800
grep -E '^moecat_(ffn_experts_per_token|prefix_cache_hit_ratio|batch_steps_total|batch_tokens_total) ' <(curl -s "$URL/metrics")
echo "peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MiB"}') (model file $(du -m "$MODEL" | cut -f1) MiB)"
