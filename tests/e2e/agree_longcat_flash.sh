#!/usr/bin/env bash
# LongCat-Flash: llama.cpp does not run it, so moecat is checked against tests/ref/hf_longcat_flash.py,
# a float64 numpy transcription of transformers' modeling_longcat_flash.py (plus the MTP head as
# vLLM / SGLang run it), on small random models in the real checkpoint layout
# (tools/longcat_test_model.py: 8 routed + 4 zero experts, top-3, nonzero e_score_correction_bias,
# MLA LoRA scales, MTP tensors). Seeds were chosen so no routing decision is within ~6e-4 of a tie.
#
#   moecat HF folder vs reference:          max |dlog p| <= 1e-4, identical 32-token greedy
#   moecat MTP head vs reference MTP head:  max |dlog p| <= 1e-4
#   moecat f32 GGUF (moecat convert) vs HF: max |dlog p| <= 1e-5 (main and MTP), identical greedy
#   the test can fail: the reference with zero experts computed as FFN experts
#   (HF_FORWARD_BREAK=zero_as_ffn) or without the correction bias (=no_bias) must disagree
#   zero experts cost no FFN work: `run --stats` reports fewer FFN experts per token than top-k
#   drafting (--draft mtp with 1 and 2 tokens, --draft ngram) leaves greedy and seeded sampled
#   output unchanged, token for token
# for a plain-RoPE model (seed 16) and a YaRN one (seed 10: factor 40, original context 128, so
# all three frequency regimes occur; LongCat-Flash-Lite uses YaRN);
#   q8_0: mean KL(f32 || q8_0) <= 5e-2 (routing flips in the 12-expert toy router, whose choices are
#   weighted by routed_scaling_factor 6, dominate it; measured 1.0e-2 plain, 2.4e-2 YaRN)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup agree_longcat_flash
LC_REF="$SRC/tests/ref/hf_longcat_flash.py"

# Copy of a logprobs JSON whose "logprobs" are the "mtp_logprobs" (compare_logprobs reads "logprobs").
mtp_view() {
  "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
# Row i predicts token i+2: pair it with tokens[1:] so the row counts match.
json.dump({"tokens": d["tokens"][1:], "logprobs": d["mtp_logprobs"], "greedy": []}, open(sys.argv[2], "w"))
PYEOF
}

lc_agree() {  # lc_agree TAG SEED NTOK [longcat_test_model.py options...]
  local tag="$1" seed="$2" ntok="$3"
  shift 3
  local d="$WORK/$tag"
  mkdir -p "$d"
  echo
  echo "==== $tag: longcat_flash, seed $seed, $ntok tokens, generator options: $*"
  e2e_run "$PY" "$SRC/tools/longcat_test_model.py" "$d/hf" --seed "$seed" --dtype f32 "$@"
  local vocab toks
  vocab="$(e2e_vocab "$d/hf")"
  toks="$(e2e_tokens "$vocab" "$ntok" "$((seed + 1000))")"
  echo "tokens ($ntok, vocab $vocab): $toks"

  e2e_run "$MOECAT_BIN" logprobs -m "$d/hf" --tokens "$toks" --greedy 32 --mtp -t "$THREADS" >"$d/moecat_hf.json"
  e2e_run "$MOECAT_BIN" convert "$d/hf" -o "$d/f32.gguf" --type f32
  e2e_run "$MOECAT_BIN" logprobs -m "$d/f32.gguf" --tokens "$toks" --greedy 32 --mtp -t "$THREADS" >"$d/moecat_f32.json"
  echo "+ $PY $LC_REF $d/hf --tokens <as above> --greedy 32 --mtp" >&2
  "$PY" "$LC_REF" "$d/hf" --tokens "$toks" --greedy 32 --mtp >"$d/ref.json" 2>"$d/ref.log" ||
    { cat "$d/ref.log" >&2; e2e_die "hf_longcat_flash.py failed"; }
  cat "$d/ref.log"

  e2e_compare "$d/moecat_hf.json" "$d/ref.json" --label-a "moecat HF folder" --label-b "LongCat reference (float64)" \
    --max-abs 1e-4 --greedy-equal
  e2e_compare "$d/moecat_hf.json" "$d/moecat_f32.json" --label-a "moecat HF folder" --label-b "moecat f32 GGUF" \
    --max-abs 1e-5 --greedy-equal
  mtp_view "$d/moecat_hf.json" "$d/moecat_hf_mtp.json"
  mtp_view "$d/moecat_f32.json" "$d/moecat_f32_mtp.json"
  mtp_view "$d/ref.json" "$d/ref_mtp.json"
  e2e_compare "$d/moecat_hf_mtp.json" "$d/ref_mtp.json" --label-a "moecat MTP head" --label-b "reference MTP head" \
    --max-abs 1e-4
  e2e_compare "$d/moecat_hf_mtp.json" "$d/moecat_f32_mtp.json" --label-a "moecat MTP (HF)" --label-b "moecat MTP (GGUF)" \
    --max-abs 1e-5

  # The comparison must be able to fail: deliberately wrong references disagree with moecat.
  local brk
  for brk in zero_as_ffn no_bias; do
    HF_FORWARD_BREAK="$brk" "$PY" "$LC_REF" "$d/hf" --tokens "$toks" --greedy 32 >"$d/ref_$brk.json" 2>/dev/null ||
      e2e_die "reference with HF_FORWARD_BREAK=$brk failed to run"
    if "$PY" "$SRC/tools/compare_logprobs.py" "$d/moecat_hf.json" "$d/ref_$brk.json" --max-abs 1e-4 --greedy-equal \
      >"$d/cmp_$brk.txt" 2>&1; then
      cat "$d/cmp_$brk.txt"
      e2e_die "moecat agrees with the reference broken by $brk: the check cannot fail"
    fi
    echo "as required, moecat disagrees with the reference broken by $brk: $(grep 'max |' "$d/cmp_$brk.txt")"
  done

  # Zero experts cost no FFN work.
  e2e_run "$MOECAT_BIN" run -m "$d/f32.gguf" -p "Hello, I need help with my order" -n 24 --temp 0 --stats \
    >"$d/run.txt" 2>"$d/run.err"
  local line per_tok
  line="$(grep '^experts:' "$d/run.err")"
  echo "$line"
  per_tok="$(echo "$line" | awk '{print $2}')"
  "$PY" -c "import sys; sys.exit(0 if 0 < float('$per_tok') < 3 else 1)" ||
    e2e_die "expected fewer than top-3 FFN experts per token with zero experts, got $per_tok"

  # Drafting never changes the output.
  local want got opts sampling
  for sampling in "--temp 0" "--temp 0.9 --seed 11"; do
    # shellcheck disable=SC2086
    "$MOECAT_BIN" run -m "$d/f32.gguf" -p "Hello, I need help with my order" -n 40 $sampling >"$d/plain.txt" 2>/dev/null
    want="$(md5sum <"$d/plain.txt")"
    for opts in "--draft mtp" "--draft mtp --n-draft 2" "--draft ngram --n-draft 3"; do
      # shellcheck disable=SC2086
      "$MOECAT_BIN" run -m "$d/f32.gguf" -p "Hello, I need help with my order" -n 40 $sampling $opts --stats \
        >"$d/draft.txt" 2>"$d/draft.err"
      got="$(md5sum <"$d/draft.txt")"
      [ "$got" = "$want" ] || { diff "$d/plain.txt" "$d/draft.txt" || true; e2e_die "$opts ($sampling) changed the output"; }
      echo "$opts ($sampling): output identical; $(grep '^draft:' "$d/draft.err")"
    done
  done

  # q8_0 stays close to f32.
  e2e_run "$MOECAT_BIN" convert "$d/hf" -o "$d/q8_0.gguf" --type q8_0
  e2e_run "$MOECAT_BIN" logprobs -m "$d/q8_0.gguf" --tokens "$toks" -t "$THREADS" >"$d/moecat_q8_0.json"
  e2e_compare "$d/moecat_f32.json" "$d/moecat_q8_0.json" --label-a "moecat f32" --label-b "moecat q8_0" --max-kl 5e-2
  echo "==== $tag: OK"
}

lc_agree longcat_s16 16 64
lc_agree longcat_yarn 10 64 --rope-scaling yarn
echo "agree_longcat_flash: all checks passed"
