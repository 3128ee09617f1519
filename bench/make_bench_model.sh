#!/usr/bin/env bash
# Makes the benchmark model: Qwen3-30B-A3B's layer shapes (hidden 2048, 32 q heads / 4 kv heads,
# head_dim 128, 128 experts top-8, expert FFN 768, vocab 151936) with only 4 layers and random
# weights, as an HF bf16 checkpoint (tools/make_test_model.py --dims bench) converted by
# `moecat convert --type q8_0`. ~6.2 GB of HF bf16 (deleted afterwards unless --keep-hf) and a
# ~3.3 GB q8_0 GGUF. Idempotent: an existing GGUF is kept unless --force.
#
# Usage: bench/make_bench_model.sh [--force] [--keep-hf] [--out DIR]
# Env:   MOECAT_BIN (default: $REPO/build/moecat), MOECAT_PYTHON (default /usr/bin/python3)
# Prints the GGUF path as the last line of stdout.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$REPO/.cache/bench"
FORCE=0
KEEP_HF=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) FORCE=1; shift ;;
    --keep-hf) KEEP_HF=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    -h | --help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "make_bench_model: unknown argument $1" >&2; exit 2 ;;
  esac
done
MOECAT_BIN="${MOECAT_BIN:-$REPO/build/moecat}"
PY="${MOECAT_PYTHON:-/usr/bin/python3}"
GGUF="$OUT/qwen3moe-bench-4l-q8_0.gguf"
HF="$OUT/qwen3moe-bench-4l-hf"

if [[ -f "$GGUF" && $FORCE -eq 0 ]]; then
  echo "make_bench_model: $GGUF exists (use --force to rebuild)" >&2
  echo "$GGUF"
  exit 0
fi
[[ -x "$MOECAT_BIN" ]] || { echo "make_bench_model: moecat not found at $MOECAT_BIN (set MOECAT_BIN)" >&2; exit 1; }
"$PY" -c 'import numpy' 2>/dev/null || { echo "make_bench_model: $PY lacks numpy (apt-get install python3-numpy)" >&2; exit 1; }
mkdir -p "$OUT"
avail_kb="$(df -Pk "$OUT" | awk 'NR==2{print $4}')"
if [[ "$avail_kb" -lt $((10 * 1024 * 1024)) ]]; then
  echo "make_bench_model: need ~10 GB free in $OUT, have $((avail_kb / 1024)) MB" >&2
  exit 1
fi

rm -rf "$HF" "$GGUF.tmp"
echo "make_bench_model: writing HF bf16 checkpoint to $HF" >&2
"$PY" "$REPO/tools/make_test_model.py" qwen3moe "$HF" --dims bench --dtype bf16 --shards 4 --seed 1
echo "make_bench_model: converting to q8_0" >&2
# write to a temporary name so an interrupted conversion never looks finished
"$MOECAT_BIN" convert "$HF" -o "$GGUF.tmp" --type q8_0
mv "$GGUF.tmp" "$GGUF"
if [[ $KEEP_HF -eq 0 ]]; then
  rm -rf "$HF"
fi
ls -l "$GGUF" >&2
echo "$GGUF"
