#!/usr/bin/env bash
# moecat vs llama.cpp and vs tests/ref/hf_gpt_oss.py (a float64 numpy transcription of
# transformers' modeling_gpt_oss.py) on small random gpt-oss models (GptOssForCausalLM from
# tools/make_test_model.py: attention sinks, q/k/v/o biases, layer_types alternating
# sliding_attention / full_attention, yarn rope (factor 32, original context 512 so all three
# yarn frequency regimes occur), biased router with softmax over the top-k logits, fused
# gate_up experts with interleaved gate/up columns, clamped SwiGLU (alpha 1.702, limit 7) hit on
# ~4% of the gate and ~9% of the up values; unquantized f32 checkpoint):
#
#   gptoss_w8     4 layers (sliding, full, sliding, full), sliding_window 8, 80 tokens
#   gptoss_l6_w3  6 layers, sliding_window 3, 64 tokens
#
# The sequences are 8..20x longer than the window, so the sliding layers differ from full ones.
# For each: moecat converts the HF folder to an f32 GGUF; then
#   moecat f32 GGUF vs llama.cpp on that GGUF:      max |dlog p| <= 1e-4, identical 32-token greedy
#   moecat HF folder vs moecat f32 GGUF:            max |dlog p| <= 1e-5, identical greedy
#   moecat HF folder vs hf_gpt_oss.py:              max |dlog p| <= 1e-4, identical greedy
#   llama.cpp vs hf_gpt_oss.py:                     max |dlog p| <= 1e-4, identical greedy
# The last line checks the references against each other (measured 1.8e-5 with a converter that
# mimics llama.cpp's convert_hf_to_gguf.py; see docs/gguf-gpt-oss.md). Bounds as in
# lib/agree_common.sh. Seeds were picked so that no top-k routing decision is closer than
# ~8e-4 (in router logits) to a tie in the float64 reference. The test models write
# rope_scaling.truncate true: llama.cpp always floors/ceils the yarn correction range, the real
# gpt-oss config says truncate false (on these models that alone moves log p by ~2).
# Self-test: HF_GPT_OSS_BREAK=sinks (or window, clamp, interleave, router) in the environment
# makes the reference deliberately wrong and this test must then fail (measured on gptoss_w8's
# shape: dropping the sinks moves log p by ~6, the sliding window by ~12, the SwiGLU clamp by
# ~5, splitting gate/up as halves by ~11, softmax over all experts by ~1.1).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup agree_gpt_oss
GPTOSS_REF="$SRC/tests/ref/hf_gpt_oss.py"

# gptoss_agree TAG SEED NTOK EXPECT [make_test_model.py options...]
# EXPECT: a fixed string the reference's summary line must contain (proves the variant under
# test really was exercised, e.g. the sliding layers and yarn).
gptoss_agree() {
  local tag="$1" seed="$2" ntok="$3" expect="$4"
  shift 4
  e2e_agree_four gpt_oss "$GPTOSS_REF" "$tag" "$seed" "$ntok" "$expect" "$@"
  local d="$E2E_DIR" toks="$E2E_TOKS"
  # MXFP4 experts (q8_0 elsewhere), the layout llama.cpp runs gpt-oss in: both engines round
  # activations to q8_0 for these matmuls, so they agree closely but not to f32 precision.
  # Bound: mean KL(moecat || llama.cpp) <= 2e-3 (measured ~1.6e-4), identical 32-token greedy.
  e2e_run "$MOECAT_BIN" convert "$d/hf" -o "$d/mxfp4.gguf" --type mxfp4
  e2e_run "$MOECAT_BIN" logprobs -m "$d/mxfp4.gguf" --tokens "$toks" --greedy 32 -t "$THREADS" >"$d/moecat_mxfp4.json"
  e2e_run "$NODE" "$REF" --model "$d/mxfp4.gguf" --tokens "$toks" --greedy 32 --threads "$THREADS" >"$d/llama_mxfp4.json"
  e2e_compare "$d/moecat_mxfp4.json" "$d/llama_mxfp4.json" --label-a "moecat MXFP4 GGUF" --label-b "llama.cpp MXFP4" \
    --max-kl 2e-3 --greedy-equal
  # Sliding layers keep only window + batch - 1 cache rows (a ring): prefill in chunks of 5 so the
  # ring is far smaller than the sequence and wraps many times; results must not change at all.
  e2e_run "$MOECAT_BIN" logprobs -m "$d/f32.gguf" --tokens "$toks" --greedy 32 -b 5 -t "$THREADS" >"$d/moecat_b5.json"
  e2e_compare "$d/moecat_f32.json" "$d/moecat_b5.json" --label-a "moecat (batch 512)" --label-b "moecat (batch 5, ring cache)" \
    --max-abs 1e-6 --greedy-equal
  echo "==== $tag: OK"
}

# A checkpoint with MXFP4 experts as released (gate_up_proj_blocks / _scales): moecat reads the
# blocks in place of the f32 experts (nibble order and interleaved gate/up rows re-laid at load) and
# `convert` keeps them MXFP4, so the HF folder and its GGUF agree exactly; llama.cpp and moecat both
# round activations to q8_0 for MXFP4 matmuls, so they agree closely (bound: mean KL <= 1e-4,
# measured ~1e-6); the float64 reference does not round activations (bound: mean KL <= 5e-3,
# measured ~5e-4); greedy runs identical throughout.
gptoss_mxfp4() {
  local tag="$1" seed="$2" ntok="$3"
  local d="$WORK/$tag"
  mkdir -p "$d"
  echo
  echo "==== $tag: gpt_oss with MXFP4 experts, seed $seed, $ntok tokens"
  e2e_run "$PY" "$SRC/tools/make_test_model.py" gpt_oss "$d/hf" --seed "$seed" --dtype f32 --mxfp4
  local vocab toks
  vocab="$(e2e_vocab "$d/hf")"
  toks="$(e2e_tokens "$vocab" "$ntok" "$((seed + 1000))")"
  e2e_run "$MOECAT_BIN" convert "$d/hf" -o "$d/f32.gguf" --type f32
  e2e_run "$MOECAT_BIN" logprobs -m "$d/hf" --tokens "$toks" --greedy 32 -t "$THREADS" >"$d/moecat_hf.json"
  e2e_run "$MOECAT_BIN" logprobs -m "$d/f32.gguf" --tokens "$toks" --greedy 32 -t "$THREADS" >"$d/moecat_gguf.json"
  e2e_run "$NODE" "$REF" --model "$d/f32.gguf" --tokens "$toks" --greedy 32 --threads "$THREADS" >"$d/llama.json"
  "$PY" "$SRC/tests/ref/hf_gpt_oss.py" "$d/hf" --tokens "$toks" --greedy 32 >"$d/hf_ref.json" 2>"$d/hf_ref.log" ||
    { cat "$d/hf_ref.log" >&2; e2e_die "hf_gpt_oss.py failed"; }
  e2e_compare "$d/moecat_hf.json" "$d/moecat_gguf.json" --label-a "moecat HF (MXFP4 blocks)" --label-b "moecat GGUF" \
    --max-abs 1e-5 --greedy-equal
  e2e_compare "$d/moecat_gguf.json" "$d/llama.json" --label-a "moecat GGUF" --label-b "llama.cpp" \
    --max-kl 1e-4 --greedy-equal
  e2e_compare "$d/moecat_hf.json" "$d/hf_ref.json" --label-a "moecat HF (MXFP4)" --label-b "HF reference (float64)" \
    --max-kl 5e-3 --greedy-equal
  echo "==== $tag: OK"
}

gptoss_agree gptoss_w8 11 80 "4 layers (2 sliding, window 8), 8 experts top-4, rope yarn (factor 32, original ctx 512, ramp 1..6, truncate True,"
gptoss_agree gptoss_l6_w3 23 64 "6 layers (3 sliding, window 3), 8 experts top-4, rope yarn (factor 32," --layers 6 --window 3
gptoss_mxfp4 gptoss_mxfp4 11 80
echo "agree_gpt_oss: all checks passed"
