#!/usr/bin/env bash
# LongCat-Flash-Lite (LongcatFlashNgramForCausalLM): LongCat-Flash plus the N-gram embedding and
# YaRN. llama.cpp does not run it; moecat is checked against tests/ref/hf_longcat_flash_lite.py
# (float64, following Meituan's modeling_longcat_ngram.py; see docs/longcat-flash-lite.md) on
# small random models from tools/longcat_lite_test_model.py (12 hashed n-gram tables of ~570 rows,
# so hash collisions happen; the prompt contains the EOS reset token; YaRN with original context
# 128; zero experts and a nonzero correction bias). Seeds picked with routing margins >= 1e-3.
#
#   moecat HF folder vs reference:  max |dlog p| <= 1e-4, identical 32-token greedy (decoding
#                                   keeps the n-gram look-back across steps)
#   moecat f32 GGUF vs HF folder:   max |dlog p| <= 1e-5, identical greedy
#   the check can fail: references without the n-gram embedding (no_ngram) or without the EOS
#   reset (no_eos_reset, mlx-lm's behaviour) must disagree
#   --draft ngram leaves greedy output unchanged (rejected drafts must not poison the look-back)
#   q8_0: mean KL(f32 || q8_0) <= 5e-2 (as for LongCat-Flash: toy-router flips dominate)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup agree_longcat_flash_lite
LITE_REF="$SRC/tests/ref/hf_longcat_flash_lite.py"

lite_agree() {  # lite_agree TAG SEED NTOK [generator options...]
  local tag="$1" seed="$2" ntok="$3"
  shift 3
  local d="$WORK/$tag"
  mkdir -p "$d"
  echo
  echo "==== $tag: longcat_flash_ngram, seed $seed, $ntok tokens, generator options: $*"
  e2e_run "$PY" "$SRC/tools/longcat_lite_test_model.py" "$d/hf" --seed "$seed" --dtype f32 "$@"
  local vocab toks
  vocab="$(e2e_vocab "$d/hf")"
  toks="$(e2e_tokens "$vocab" "$ntok" "$((seed + 1000))")"
  echo "tokens ($ntok, vocab $vocab): $toks"

  e2e_run "$MOECAT_BIN" logprobs -m "$d/hf" --tokens "$toks" --greedy 32 -t "$THREADS" >"$d/moecat_hf.json"
  e2e_run "$MOECAT_BIN" convert "$d/hf" -o "$d/f32.gguf" --type f32
  e2e_run "$MOECAT_BIN" logprobs -m "$d/f32.gguf" --tokens "$toks" --greedy 32 -t "$THREADS" >"$d/moecat_f32.json"
  "$PY" "$LITE_REF" "$d/hf" --tokens "$toks" --greedy 32 >"$d/ref.json" 2>"$d/ref.log" ||
    { cat "$d/ref.log" >&2; e2e_die "hf_longcat_flash_lite.py failed"; }
  cat "$d/ref.log"
  e2e_compare "$d/moecat_hf.json" "$d/ref.json" --label-a "moecat HF folder" --label-b "Lite reference (float64)" \
    --max-abs 1e-4 --greedy-equal
  e2e_compare "$d/moecat_hf.json" "$d/moecat_f32.json" --label-a "moecat HF folder" --label-b "moecat f32 GGUF" \
    --max-abs 1e-5 --greedy-equal

  local brk
  for brk in no_ngram no_eos_reset; do
    HF_FORWARD_BREAK="$brk" "$PY" "$LITE_REF" "$d/hf" --tokens "$toks" --greedy 32 >"$d/ref_$brk.json" 2>/dev/null ||
      e2e_die "reference with HF_FORWARD_BREAK=$brk failed to run"
    if "$PY" "$SRC/tools/compare_logprobs.py" "$d/moecat_hf.json" "$d/ref_$brk.json" --max-abs 1e-4 --greedy-equal \
      >"$d/cmp_$brk.txt" 2>&1; then
      e2e_die "moecat agrees with the reference broken by $brk: the check cannot fail"
    fi
    echo "as required, moecat disagrees with the reference broken by $brk: $(grep 'max |' "$d/cmp_$brk.txt")"
  done

  "$MOECAT_BIN" run -m "$d/f32.gguf" -p "Hello<|im_end|> I need help with my order" -n 40 --temp 0 >"$d/plain.txt" 2>/dev/null
  "$MOECAT_BIN" run -m "$d/f32.gguf" -p "Hello<|im_end|> I need help with my order" -n 40 --temp 0 --draft ngram \
    --n-draft 3 --stats >"$d/draft.txt" 2>"$d/draft.err"
  cmp -s "$d/plain.txt" "$d/draft.txt" || { diff "$d/plain.txt" "$d/draft.txt" || true; e2e_die "--draft ngram changed the output"; }
  echo "--draft ngram: output identical; $(grep '^draft:' "$d/draft.err")"

  e2e_run "$MOECAT_BIN" convert "$d/hf" -o "$d/q8_0.gguf" --type q8_0
  e2e_run "$MOECAT_BIN" logprobs -m "$d/q8_0.gguf" --tokens "$toks" -t "$THREADS" >"$d/moecat_q8_0.json"
  e2e_compare "$d/moecat_f32.json" "$d/moecat_q8_0.json" --label-a "moecat f32" --label-b "moecat q8_0" --max-kl 5e-2
  echo "==== $tag: OK"
}

lite_agree lite_yarn 267 64
lite_agree lite_plain 252 64 --rope-scaling none
echo "agree_longcat_flash_lite: all checks passed"
