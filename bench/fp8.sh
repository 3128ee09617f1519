#!/usr/bin/env bash
# FP8 checkpoint speed (issue #12 point 1): makes (once) in .cache/bench/fp8/ an FP8 folder with
# Qwen3-30B-A3B's layer shapes (bench/fp8_model.py: hidden 2048, 128 experts of 768 top-8, 32/4
# heads of 128, --layers of them, 128x128 block scales, random codes), converts it with
# `moecat convert` to q8_0 and bf16 GGUFs, and runs `moecat bench --membw` (decode t/s and the
# read bandwidth measured in the same run) on: the FP8 folder with bf16 activations (the default
# on AVX-512 BF16 + VBMI CPUs), the FP8 folder with exact f32 activations (MOECAT_FP8_ACT=f32),
# the q8_0 and the bf16 files. Peak RSS of each run is in its "memory:" line. --rounds N repeats
# the four runs N times interleaved (on a shared host, load changes between runs: compare the
# rounds, not one run of each).
#
# Usage: bench/fp8.sh [--layers 2] [-p 64] [-n 32] [-r 3] [-t 2] [--rounds 1] [--force]
# Env: MOECAT_BIN (default $REPO/build/moecat), MOECAT_PYTHON (default /usr/bin/python3)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAYERS=2
P=64
N=32
REPS=3
THREADS=2
FORCE=0
ROUNDS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --layers) LAYERS="$2"; shift 2 ;;
    -p) P="$2"; shift 2 ;;
    -n) N="$2"; shift 2 ;;
    -r) REPS="$2"; shift 2 ;;
    -t) THREADS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/fp8.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
BIN="${MOECAT_BIN:-$REPO/build/moecat}"
PY="${MOECAT_PYTHON:-/usr/bin/python3}"
D="$REPO/.cache/bench/fp8"
mkdir -p "$D"
if [ "$FORCE" = 1 ] || [ ! -f "$D/fp8/model.safetensors" ] || [ ! -f "$D/bf16.gguf" ]; then
  rm -rf "$D/small" "$D/fp8" "$D/q8_0.gguf" "$D/bf16.gguf"
  "$PY" "$REPO/tools/make_test_model.py" qwen3moe "$D/small" --dtype bf16 >/dev/null
  "$PY" "$REPO/bench/fp8_model.py" "$D/small" "$D/fp8" --layers "$LAYERS"
  "$BIN" convert "$D/fp8" -o "$D/q8_0.gguf" --type q8_0
  "$BIN" convert "$D/fp8" -o "$D/bf16.gguf" --type bf16
fi
date -u
for ((round = 1; round <= ROUNDS; ++round)); do
  for v in "fp8, bf16 activations:bf16:$D/fp8" "fp8, f32 activations:f32:$D/fp8" "q8_0:bf16:$D/q8_0.gguf" \
           "bf16:bf16:$D/bf16.gguf"; do
    IFS=: read -r tag act m <<<"$v"
    echo "=== round $round, $tag: MOECAT_FP8_ACT=$act $BIN bench -m $m -p $P -n $N -t $THREADS -r $REPS --membw"
    MOECAT_FP8_ACT=$act "$BIN" bench -m "$m" -p "$P" -n "$N" -t "$THREADS" -r "$REPS" --membw
  done
done
date -u
