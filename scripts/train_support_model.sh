#!/usr/bin/env bash
# Makes moecat's default support model (docs/MODEL.md): the conversations (tools/support_data.py,
# training and held-out splits), the tokenizer (tools/train_bpe.py), the LongCat-Flash model
# trained on the CPU (tools/train_support_model.py, resumable: run the script again to continue),
# its HF folder WORK/hf, the q8_0 GGUF, and the figures of docs/MODEL.md (tools/model_report.py).
#   bash scripts/train_support_model.sh [WORK (default .cache/support)] [STEPS (default 1400)] [INIT.gguf]
# From scratch: about 3.5 hours on 2 cores for the default 1400 steps.
# With INIT.gguf (e.g. models/moecat-support.gguf): trains that model further on the current data
# (its tokenizer and weights read back by tools/support_from_gguf.py; short warm-up, peak lr 1e-3);
# 260 steps take about 70 minutes (docs/MODEL.md reports such a run; the shipped file is the
# from-scratch run of the first generator version).
# Then: cp WORK/moecat-support.gguf models/ to ship it. Needs scripts/install-deps.sh (full).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-.cache/support}"
STEPS="${2:-1400}"
INIT="${3:-}"
PY=/usr/bin/python3
mkdir -p "$WORK"
[ -f "$WORK/train.jsonl" ] || $PY tools/support_data.py "$WORK/train.jsonl" --n 30000 --seed 1
[ -f "$WORK/heldout.jsonl" ] || $PY tools/support_data.py "$WORK/heldout.jsonl" --split heldout --n 1000 --seed 1
TRAIN_ARGS=()
if [ -n "$INIT" ]; then
  [ -f "$WORK/init.pt" ] || $PY tools/support_from_gguf.py "$INIT" "$WORK"   # its tokenizer + weights
  TRAIN_ARGS=(--init "$WORK/init.pt" --lr 1e-3 --warmup 20)
fi
[ -f "$WORK/tokenizer.json" ] || $PY tools/train_bpe.py "$WORK/train.jsonl" "$WORK" --vocab 4096
$PY tools/train_support_model.py "$WORK" --steps "$STEPS" --save-every 20 "${TRAIN_ARGS[@]}"   # writes WORK/hf at the end
[ -x build/moecat ] || bash scripts/build.sh
./build/moecat convert "$WORK/hf" -o "$WORK/moecat-support.gguf" --type q8_0
$PY tools/model_report.py --gguf "$WORK/moecat-support.gguf" --hf "$WORK/hf" --heldout "$WORK/heldout.jsonl" \
  > "$WORK/report.json"
echo "model: $WORK/moecat-support.gguf; figures: $WORK/report.json"
