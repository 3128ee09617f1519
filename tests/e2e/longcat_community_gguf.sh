#!/usr/bin/env bash
# LongCat GGUFs in the community layouts (docs/longcat-flash.md, docs/longcat-flash-lite.md):
# tools/longcat_community_gguf.py rewrites moecat's own f32 / q8_0 GGUF of a random model
# (tools/longcat_test_model.py, tools/longcat_lite_test_model.py) into
#   * llama.cpp's LongCat-Flash PR layout (arch longcat-flash: blocks blk.{2L} / blk.{2L+1}, a
#     trailing all-zero dummy expert, n_zero_experts, attention.q_lora_scale / kv_lora_scale, the
#     MTP layer as block blk.{2N} with nextn.* tensors), and
#   * the longcat-flash-ngram fork's LongCat-Flash-Lite layout (ngram_embd.N / ngram_proj.N,
#     ngram.* keys, mlps.0 as ffn_*_shexp, expert_zero_count, no MLA scale keys).
# Same weights, same kernels: log-probs (and the MTP head's) must be identical (max |dlog p| 0),
# greedy `run` output identical, and `moecat convert` of the community file gives moecat's
# layout back with the same log-probs. Hostile variants fail with a clear message: missing dummy
# expert, wrong n_zero_experts, missing n_zero_experts, a missing nextn tensor, a non-integer
# n-gram ratio key absent.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup longcat_community_gguf
CONV="$SRC/tools/longcat_community_gguf.py"
PROMPT="Hello, I need help with my order"

mtp_view() {  # logprobs JSON whose "logprobs" are its "mtp_logprobs"
  "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
json.dump({"tokens": d["tokens"][1:], "logprobs": d["mtp_logprobs"], "greedy": []}, open(sys.argv[2], "w"))
PYEOF
}

expect_fail() {  # expect_fail DIR TAG PATTERN FILE: logprobs on FILE must fail cleanly, message matching PATTERN
  local d="$1" tag="$2" pat="$3" f="$4" rc=0
  "$MOECAT_BIN" logprobs -m "$f" --tokens "1 2 3" -t "$THREADS" >"$d/$tag.out" 2>"$d/$tag.err" || rc=$?
  [ "$rc" -ne 0 ] || e2e_die "$tag: loading $f succeeded"
  [ "$rc" -lt 128 ] || { cat "$d/$tag.err"; e2e_die "$tag: moecat crashed (exit $rc)"; }
  grep -q -- "$pat" "$d/$tag.err" || { cat "$d/$tag.err"; e2e_die "$tag: message does not mention '$pat'"; }
  echo "$tag: refused as required: $(tail -1 "$d/$tag.err")"
}

community() {  # community TAG GENERATOR SEED NTOK MTP(0/1) [generator options...]
  local tag="$1" gen="$2" seed="$3" ntok="$4" mtp="$5"
  shift 5
  local d="$WORK/$tag" mflag=""
  [ "$mtp" = 1 ] && mflag="--mtp"
  mkdir -p "$d"
  echo
  echo "==== $tag: $gen seed $seed, $ntok tokens, options: $*"
  e2e_run "$PY" "$SRC/tools/$gen" "$d/hf" --seed "$seed" --dtype f32 "$@"
  local vocab toks type
  vocab="$(e2e_vocab "$d/hf")"
  toks="$(e2e_tokens "$vocab" "$ntok" "$((seed + 1000))")"
  for type in f32 q8_0; do
    e2e_run "$MOECAT_BIN" convert "$d/hf" -o "$d/own_$type.gguf" --type "$type"
    e2e_run "$PY" "$CONV" "$d/own_$type.gguf" "$d/comm_$type.gguf"
    # shellcheck disable=SC2086
    e2e_run "$MOECAT_BIN" logprobs -m "$d/own_$type.gguf" --tokens "$toks" --greedy 32 $mflag -t "$THREADS" >"$d/own_$type.json"
    # shellcheck disable=SC2086
    e2e_run "$MOECAT_BIN" logprobs -m "$d/comm_$type.gguf" --tokens "$toks" --greedy 32 $mflag -t "$THREADS" >"$d/comm_$type.json"
    e2e_compare "$d/own_$type.json" "$d/comm_$type.json" --label-a "moecat layout $type" \
      --label-b "community layout $type" --max-abs 0 --greedy-equal
    if [ "$mtp" = 1 ]; then
      mtp_view "$d/own_$type.json" "$d/own_${type}_mtp.json"
      mtp_view "$d/comm_$type.json" "$d/comm_${type}_mtp.json"
      e2e_compare "$d/own_${type}_mtp.json" "$d/comm_${type}_mtp.json" --label-a "MTP head, moecat layout" \
        --label-b "MTP head, community layout" --max-abs 0
    fi
  done
  # greedy run: identical text
  "$MOECAT_BIN" run -m "$d/own_f32.gguf" -p "$PROMPT" -n 24 --temp 0 >"$d/own_run.txt" 2>/dev/null
  "$MOECAT_BIN" run -m "$d/comm_f32.gguf" -p "$PROMPT" -n 24 --temp 0 >"$d/comm_run.txt" 2>/dev/null
  cmp -s "$d/own_run.txt" "$d/comm_run.txt" || { diff "$d/own_run.txt" "$d/comm_run.txt" || true; e2e_die "greedy run differs"; }
  echo "greedy run: identical ($(wc -c <"$d/own_run.txt") bytes)"
  # community -> moecat's layout (convert) -> same log-probs
  e2e_run "$MOECAT_BIN" convert "$d/comm_f32.gguf" -o "$d/back_f32.gguf" --type f32
  # shellcheck disable=SC2086
  e2e_run "$MOECAT_BIN" logprobs -m "$d/back_f32.gguf" --tokens "$toks" --greedy 32 $mflag -t "$THREADS" >"$d/back_f32.json"
  e2e_compare "$d/own_f32.json" "$d/back_f32.json" --label-a "moecat layout" --label-b "community -> convert" \
    --max-abs 0 --greedy-equal
  echo "==== $tag: OK"
}

community flash_s16 longcat_test_model.py 16 48 1
community flash_yarn longcat_test_model.py 10 48 1 --rope-scaling yarn
community lite_yarn longcat_lite_test_model.py 267 48 0

# Hostile files (llama.cpp layout unless said otherwise).
d="$WORK/flash_s16"
e2e_run "$PY" "$CONV" "$d/own_f32.gguf" "$d/no_dummy.gguf" --no-dummy
expect_fail "$d" no_dummy "dummy expert" "$d/no_dummy.gguf"
e2e_run "$PY" "$CONV" "$d/own_f32.gguf" "$d/zero3.gguf" --set-u32 n_zero_experts=3
expect_fail "$d" wrong_zero "n_zero_experts" "$d/zero3.gguf"
e2e_run "$PY" "$CONV" "$d/own_f32.gguf" "$d/no_zero_key.gguf" --drop-key n_zero_experts
expect_fail "$d" no_zero_key "n_zero_experts" "$d/no_zero_key.gguf"
nblk="$("$PY" -c "import json; print(2 * json.load(open('$d/hf/config.json'))['num_layers'])")"
e2e_run "$PY" "$CONV" "$d/own_f32.gguf" "$d/no_hnorm.gguf" --drop-tensor "blk.$nblk.nextn.hnorm.weight"
expect_fail "$d" no_nextn "blk.$nblk.nextn.hnorm.weight" "$d/no_hnorm.gguf"
e2e_run "$PY" "$CONV" "$d/own_f32.gguf" "$d/odd_blocks.gguf" --drop-key nextn_predict_layers
expect_fail "$d" odd_blocks "two blocks per" "$d/odd_blocks.gguf"
d="$WORK/lite_yarn"
e2e_run "$PY" "$CONV" "$d/own_f32.gguf" "$d/no_ratio.gguf" --drop-key ngram.vocab_size_ratio
expect_fail "$d" no_ratio "ngram.vocab_size_ratio" "$d/no_ratio.gguf"
e2e_run "$PY" "$CONV" "$d/own_f32.gguf" "$d/no_shexp.gguf" --drop-tensor blk.0.ffn_up_shexp.weight
expect_fail "$d" no_shexp "blk.0.ffn_up_shexp.weight" "$d/no_shexp.gguf"
echo "longcat_community_gguf: all checks passed"
