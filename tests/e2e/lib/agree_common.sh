# shellcheck shell=bash
# Shared body of tests/e2e/agree_*.sh (sourced, not run by ctest: the CMake glob only takes
# tests/e2e/*.sh). Checks moecat against llama.cpp (node-llama-cpp's prebuilt CPU build, driven
# by tests/ref/llama_ref.mjs) on small random models from tools/make_test_model.py.
#
# Environment (set by ctest): MOECAT_BIN, MOECAT_SOURCE_DIR, MOECAT_BUILD_DIR.
# Optional: MOECAT_PYTHON (default /usr/bin/python3, needs numpy), MOECAT_NODE (default node),
#           MOECAT_E2E_THREADS (default 2).
#
# Three independent computations of the f32 model are compared: moecat, llama.cpp (reading the
# GGUF moecat wrote) and tests/ref/hf_forward.py, a float64 numpy forward that follows the
# transformers modeling code and reads only config.json + safetensors. The last one matters
# because moecat's HF loader and moecat's GGUF writer share code (e.g. the llama3 rope frequency
# factors): a mistake there would be written into the GGUF, read back by llama.cpp, and pass
# both moecat-vs-llama.cpp and moecat-HF-vs-moecat-GGUF. Self-test: HF_FORWARD_BREAK=llama3 (or
# =norm_topk) in the environment makes hf_forward.py deliberately wrong, and the e2e test must
# then fail (see hf_forward.py's header).
#
# Bounds, and why:
#  * f32 GGUF, moecat vs llama.cpp: max |dlog p| <= 1e-4 and identical 32-token greedy
#    continuation. Both compute in f32 from the same f32 weights; an independent float64 numpy
#    forward of the HF checkpoint agrees with llama.cpp to ~1e-5 on these models, so 1e-4 leaves
#    10x headroom for summation order while catching any real error (e.g. a missing llama3
#    rope_freqs tensor moves log-probs by ~5, a wrong expert order or norm by >0.1).
#  * moecat on the HF folder vs moecat on its own f32 GGUF: max |dlog p| <= 1e-5 (same weights,
#    same engine; only the Q/K row permutation and tensor packing differ, which are exact).
#  * moecat on the HF folder, and llama.cpp f32, vs hf_forward.py (float64): max |dlog p| <= 1e-4
#    and identical greedy continuation. Measured ~4e-6 .. 8e-6 on all four models (f32 rounding
#    in moecat / llama.cpp against float64); skipping the llama3 frequency scaling moves log-probs
#    by ~5, dropping Mixtral's / Qwen3-MoE's top-k renormalisation by ~0.9 / ~2.
#  * Quantized / half types (q8_0, f16, bf16): llama.cpp itself is the yardstick. We measure
#    llama.cpp's own loss L = (llama f32 vs llama QT) on the same model and tokens, then require
#      KL(moecat f32 || moecat QT), mean over positions  <= max(KL_FLOOR[QT], 2 * L.kl_mean)
#      max |dlog p| (moecat QT vs llama QT)              <= max(ABS_FLOOR[QT], 2 * L.max_abs)
#    i.e. moecat may not lose more than twice what llama.cpp loses by the same quantization, and
#    moecat-QT must sit within twice llama.cpp's own f32-to-QT gap of llama.cpp-QT (both read the
#    identical quantized weights; they may differ in how activations are rounded: llama.cpp
#    rounds activations to q8_0 / f16 / bf16 before the dot products). The floors (q8_0 and bf16:
#    KL 1e-2, |d| 0.25; f16: KL 1e-4, |d| 2e-2) keep the bound from collapsing when llama.cpp's
#    own loss happens to be tiny on a given sequence. Measured with llama.cpp on these models
#    (f32 -> q8_0 mean KL / max |dlog p|): llama ~3e-3 / 0.5, mixtral ~3e-3 / 1.5, qwen3moe
#    ~1.5e-3 / 0.9; so the q8_0 KL bound is the flat 1e-2 unless llama.cpp itself loses more.
#    The large max |dlog p| come from rare MoE top-k flips and bf16/q8_0 activation rounding,
#    hence the KL bound is the sharper check for quantized types. Seeds were picked so that no
#    routing decision is a near-tie that f16 rounding flips (llama.cpp f32 vs f16 max |dlog p|
#    ~1e-2 on all four models).

set -euo pipefail

e2e_die() {
  echo "E2E FAIL: $*" >&2
  exit 1
}

# One EXIT trap per test (bash keeps only one): scripts register their own cleanup (killing
# servers) with e2e_on_exit instead of `trap ... EXIT`. After a passing run the large files of
# $WORK (models, full-vocab log-prob dumps: ~2 GB over the suite) are deleted so the suite fits
# a small CI disk; logs, screenshots and small files stay, and a failing run keeps everything for a look.
# MOECAT_E2E_KEEP=1 keeps the files of passing runs too.
_E2E_EXIT_CMDS=()
e2e_on_exit() { _E2E_EXIT_CMDS+=("$1"); }
_e2e_exit() {
  local rc=$? c
  for c in "${_E2E_EXIT_CMDS[@]}"; do eval "$c" || true; done
  if [[ $rc == 0 && "${MOECAT_E2E_KEEP:-0}" != 1 && -n "${WORK:-}" && -d "$WORK" ]]; then
    find "$WORK" -type f -size +256k ! -name '*.log' ! -name '*.png' -delete 2>/dev/null || true
  fi
}
trap _e2e_exit EXIT
# e2e_drop FILE...: a passed comparison's inputs (converted GGUFs, 30-50 MB full-vocab log-prob
# dumps) go at once, so a test holds one conversion's files at a time and many tests running
# side by side (ctest -j on a many-core CI machine) stay small on disk. MOECAT_E2E_KEEP=1 keeps them.
e2e_drop() { [[ "${MOECAT_E2E_KEEP:-0}" == 1 ]] || rm -f -- "$@"; }

# e2e_setup NAME: checks the environment and creates $WORK (= $MOECAT_BUILD_DIR/e2e/NAME).
e2e_setup() {
  local name="$1"
  : "${MOECAT_BIN:?MOECAT_BIN must point to the moecat binary}"
  : "${MOECAT_SOURCE_DIR:?MOECAT_SOURCE_DIR must point to the source tree}"
  : "${MOECAT_BUILD_DIR:?MOECAT_BUILD_DIR must point to the build tree}"
  [[ -x "$MOECAT_BIN" ]] || e2e_die "MOECAT_BIN=$MOECAT_BIN is not an executable"
  PY="${MOECAT_PYTHON:-/usr/bin/python3}"
  NODE="${MOECAT_NODE:-node}"
  THREADS="${MOECAT_E2E_THREADS:-2}"
  SRC="$MOECAT_SOURCE_DIR"
  REF="$SRC/tests/ref/llama_ref.mjs"
  command -v "$PY" >/dev/null || e2e_die "python ($PY) not found; install python3 and python3-numpy"
  "$PY" -c 'import numpy' 2>/dev/null ||
    e2e_die "$PY cannot import numpy; install python3-numpy (apt-get install python3-numpy)"
  command -v "$NODE" >/dev/null || e2e_die "node not found; the llama.cpp reference needs Node.js >= 18"
  [[ -d "$SRC/tests/ref/node_modules/node-llama-cpp" && -d "$SRC/tests/ref/node_modules/@node-llama-cpp/linux-x64" ]] ||
    e2e_die "node-llama-cpp is not installed: run 'npm ci' in $SRC/tests/ref (the llama.cpp reference is required, not optional)"
  WORK="$MOECAT_BUILD_DIR/e2e/$name"
  rm -rf "$WORK"
  mkdir -p "$WORK"
  echo "== e2e $name: work dir $WORK, moecat $MOECAT_BIN, $THREADS threads"
}

e2e_run() {  # logs the command, runs it, stops the test with its stderr on failure
  echo "+ $*" >&2
  "$@" || e2e_die "command failed (exit $?): $*"
}

# e2e_tokens VOCAB N SEED -> comma-separated ids, uniform in [0, VOCAB), fixed by SEED.
e2e_tokens() {
  "$PY" -c 'import random, sys
r = random.Random(int(sys.argv[3]))
print(",".join(str(r.randrange(int(sys.argv[1]))) for _ in range(int(sys.argv[2]))))' "$1" "$2" "$3"
}

e2e_vocab() {  # vocab_size from an HF config.json
  "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$1/config.json"
}

e2e_compare() {  # compare_logprobs.py with its output shown
  e2e_run "$PY" "$SRC/tools/compare_logprobs.py" "$@"
}

e2e_stat() {  # e2e_stat STATS.json KEY
  "$PY" -c 'import json, sys; print(repr(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$1" "$2"
}

e2e_bound() {  # e2e_bound FLOOR MEASURED -> max(FLOOR, 2 * MEASURED)
  "$PY" -c 'import sys; print(repr(max(float(sys.argv[1]), 2.0 * float(sys.argv[2]))))' "$1" "$2"
}

# e2e_hf_reference DIR TOKENS: runs tests/ref/hf_forward.py on DIR/hf -> DIR/hf_ref.json; its
# one-line summary (architecture, rope type, MoE layers) is kept in DIR/hf_ref.log and shown.
e2e_hf_reference() {
  local d="$1" toks="$2" t0 t1
  echo "+ $PY $SRC/tests/ref/hf_forward.py $d/hf --tokens <as above> --greedy 32" >&2
  t0="$(date +%s.%N)"
  if ! "$PY" "$SRC/tests/ref/hf_forward.py" "$d/hf" --tokens "$toks" --greedy 32 >"$d/hf_ref.json" 2>"$d/hf_ref.log"; then
    cat "$d/hf_ref.log" >&2
    e2e_die "hf_forward.py failed on $d/hf"
  fi
  t1="$(date +%s.%N)"
  cat "$d/hf_ref.log"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "hf_forward.py took %.1f s\n", b - a }'
}

# e2e_agree_four ARCH REF_SCRIPT TAG SEED NTOK EXPECT [make_test_model.py options...]
# The four-way f32 check for an arch that llama.cpp runs and a float64 reference transcribes:
# make the HF folder, convert it to an f32 GGUF, then require
#   moecat GGUF vs llama.cpp <= 1e-4, moecat HF vs GGUF <= 1e-5, moecat HF vs reference <= 1e-4,
#   llama.cpp vs reference <= 1e-4, all with identical 32-token greedy runs.
# EXPECT: a fixed string the reference's summary line must contain (proves the variant under
# test really was exercised). Leaves E2E_DIR and E2E_TOKS set for checks the caller adds.
e2e_agree_four() {
  local arch="$1" ref="$2" tag="$3" seed="$4" ntok="$5" expect="$6"
  shift 6
  local d="$WORK/$tag" vocab toks
  mkdir -p "$d"
  echo
  echo "==== $tag: $arch, seed $seed, $ntok tokens, generator options: $*"
  e2e_run "$PY" "$SRC/tools/make_test_model.py" "$arch" "$d/hf" --seed "$seed" --dtype f32 "$@"
  vocab="$(e2e_vocab "$d/hf")"
  toks="$(e2e_tokens "$vocab" "$ntok" "$((seed + 1000))")"
  echo "tokens ($ntok, vocab $vocab): $toks"

  e2e_run "$MOECAT_BIN" convert "$d/hf" -o "$d/f32.gguf" --type f32
  e2e_run "$MOECAT_BIN" logprobs -m "$d/f32.gguf" --tokens "$toks" --greedy 32 -t "$THREADS" >"$d/moecat_f32.json"
  e2e_run "$MOECAT_BIN" logprobs -m "$d/hf" --tokens "$toks" --greedy 32 -t "$THREADS" >"$d/moecat_hf.json"
  e2e_run "$NODE" "$REF" --model "$d/f32.gguf" --tokens "$toks" --greedy 32 --threads "$THREADS" >"$d/llama_f32.json"

  echo "+ $PY $ref $d/hf --tokens <as above> --greedy 32" >&2
  if ! "$PY" "$ref" "$d/hf" --tokens "$toks" --greedy 32 >"$d/hf_ref.json" 2>"$d/hf_ref.log"; then
    cat "$d/hf_ref.log" >&2
    e2e_die "$(basename "$ref") failed on $d/hf"
  fi
  cat "$d/hf_ref.log"
  grep -qF -- "$expect" "$d/hf_ref.log" ||
    e2e_die "$tag: $(basename "$ref") summary lacks '$expect' (variant not exercised?): $(cat "$d/hf_ref.log")"

  e2e_compare "$d/moecat_f32.json" "$d/llama_f32.json" --label-a "moecat f32 GGUF" --label-b "llama.cpp f32" \
    --max-abs 1e-4 --greedy-equal
  e2e_compare "$d/moecat_hf.json" "$d/moecat_f32.json" --label-a "moecat HF folder" --label-b "moecat f32 GGUF" \
    --max-abs 1e-5 --greedy-equal
  e2e_compare "$d/moecat_hf.json" "$d/hf_ref.json" --label-a "moecat HF folder" --label-b "HF reference (float64)" \
    --max-abs 1e-4 --greedy-equal
  e2e_compare "$d/llama_f32.json" "$d/hf_ref.json" --label-a "llama.cpp f32" --label-b "HF reference (float64)" \
    --max-abs 1e-4 --greedy-equal
  # E2E_KV_F16=0 skips the f16-cache check (deep random stacks amplify rounding chaotically).
  [[ "${E2E_KV_F16:-1}" == 1 ]] && e2e_kv_f16 "$d" "$toks"
  # shellcheck disable=SC2034  # read by the calling script
  E2E_DIR="$d"
  # shellcheck disable=SC2034
  E2E_TOKS="$toks"
}

# e2e_kv_f16 DIR TOKENS: the f16 KV cache (what run / serve / bench use by default) on
# DIR/f32.gguf. Its loss against the f32 cache is bounded by llama.cpp's own f16-cache loss on
# the same file (2x, floors as for f16 weights), and moecat and llama.cpp with f16 caches agree
# within that bound.
e2e_kv_f16() {
  local d="$1" toks="$2" kl_bound abs_bound
  echo
  echo "---- $(basename "$d"): f16 KV cache"
  e2e_run "$MOECAT_BIN" logprobs -m "$d/f32.gguf" --tokens "$toks" --greedy 32 -t "$THREADS" --cache-type f16 \
    >"$d/moecat_kv16.json"
  e2e_run "$NODE" "$REF" --model "$d/f32.gguf" --tokens "$toks" --greedy 32 --threads "$THREADS" --kv f16 \
    >"$d/llama_kv16.json"
  e2e_compare "$d/llama_f32.json" "$d/llama_kv16.json" --label-a "llama.cpp f32 cache" \
    --label-b "llama.cpp f16 cache" --stats-json "$d/llama_loss_kv16.json"
  kl_bound="$(e2e_bound 1e-4 "$(e2e_stat "$d/llama_loss_kv16.json" kl_mean)")"
  abs_bound="$(e2e_bound 2e-2 "$(e2e_stat "$d/llama_loss_kv16.json" max_abs)")"
  echo "bounds for the f16 cache: mean KL <= $kl_bound, max|dlogp| <= $abs_bound"
  e2e_compare "$d/moecat_f32.json" "$d/moecat_kv16.json" --label-a "moecat f32 cache" \
    --label-b "moecat f16 cache" --max-kl "$kl_bound" --max-abs "$abs_bound"
  e2e_compare "$d/moecat_kv16.json" "$d/llama_kv16.json" --label-a "moecat f16 cache" \
    --label-b "llama.cpp f16 cache" --max-abs "$abs_bound" --max-kl "$kl_bound"
  e2e_drop "$d/moecat_kv16.json" "$d/llama_kv16.json"
}

# e2e_check_rope_covered DIR: the reference must have used the rope type config.json asks for
# (so the llama3-rope model really exercises the llama3 frequency scaling in the reference).
e2e_check_rope_covered() {
  local d="$1" want
  want="$("$PY" -c 'import json, sys
rs = json.load(open(sys.argv[1])).get("rope_scaling") or {}
print(rs.get("rope_type", rs.get("type", "default")))' "$d/hf/config.json")"
  grep -q "rope $want," "$d/hf_ref.log" ||
    e2e_die "hf_forward.py did not apply rope type '$want' from $d/hf/config.json: $(cat "$d/hf_ref.log")"
}

# e2e_agree TAG ARCH SEED NTOK [make_test_model.py options...]
# Full check of one model; files under $WORK/TAG.
e2e_agree() {
  local tag="$1" arch="$2" seed="$3" ntok="$4"
  shift 4
  local d="$WORK/$tag"
  mkdir -p "$d"
  echo
  echo "==== $tag: $arch, seed $seed, $ntok tokens, generator options: $*"
  e2e_run "$PY" "$SRC/tools/make_test_model.py" "$arch" "$d/hf" --seed "$seed" --dtype f32 "$@"
  local vocab toks
  vocab="$(e2e_vocab "$d/hf")"
  toks="$(e2e_tokens "$vocab" "$ntok" "$((seed + 1000))")"
  echo "tokens ($ntok, vocab $vocab): $toks"

  # f32: moecat (GGUF and HF folder) vs llama.cpp
  e2e_run "$MOECAT_BIN" convert "$d/hf" -o "$d/f32.gguf" --type f32
  e2e_run "$MOECAT_BIN" logprobs -m "$d/f32.gguf" --tokens "$toks" --greedy 32 -t "$THREADS" >"$d/moecat_f32.json"
  e2e_run "$MOECAT_BIN" logprobs -m "$d/hf" --tokens "$toks" --greedy 32 -t "$THREADS" >"$d/moecat_hf.json"
  e2e_run "$NODE" "$REF" --model "$d/f32.gguf" --tokens "$toks" --greedy 32 --threads "$THREADS" >"$d/llama_f32.json"
  e2e_compare "$d/moecat_f32.json" "$d/llama_f32.json" --label-a "moecat f32 GGUF" --label-b "llama.cpp f32" \
    --max-abs 1e-4 --greedy-equal
  e2e_compare "$d/moecat_hf.json" "$d/moecat_f32.json" --label-a "moecat HF folder" --label-b "moecat f32 GGUF" \
    --max-abs 1e-5 --greedy-equal

  # f32: the independent float64 transformers-semantics reference (see the header)
  e2e_hf_reference "$d" "$toks"
  e2e_compare "$d/moecat_hf.json" "$d/hf_ref.json" --label-a "moecat HF folder" --label-b "HF reference (float64)" \
    --max-abs 1e-4 --greedy-equal
  e2e_compare "$d/llama_f32.json" "$d/hf_ref.json" --label-a "llama.cpp f32" --label-b "HF reference (float64)" \
    --max-abs 1e-4 --greedy-equal
  e2e_check_rope_covered "$d"
  e2e_kv_f16 "$d" "$toks"

  # q8_0 / f16 / bf16 conversions, bounded by llama.cpp's own loss (see the header)
  local qt kl_floor abs_floor kl_bound abs_bound same_kl
  # E2E_QTYPES: the conversions to check (default q8_0 f16 bf16).
  for qt in ${E2E_QTYPES:-q8_0 f16 bf16}; do
    case "$qt" in
      q8_0 | bf16) kl_floor=1e-2 abs_floor=0.25 ;;
      f16) kl_floor=1e-4 abs_floor=2e-2 ;;
      q4_k | q5_k | q6_k) kl_floor=2e-2 abs_floor=0.5 ;;
    esac
    # moecat and llama.cpp on the same k-quant file differ only by llama.cpp's 8-bit activations
    # (q8_K): a fixed bound far below the format's own loss, so a mis-decoded sub-block fails.
    same_kl=""
    case "$qt" in q4_k | q5_k | q6_k) same_kl=1e-2 ;; esac
    echo
    echo "---- $tag: $qt"
    e2e_run "$MOECAT_BIN" convert "$d/hf" -o "$d/$qt.gguf" --type "$qt"
    e2e_run "$MOECAT_BIN" logprobs -m "$d/$qt.gguf" --tokens "$toks" --greedy 32 -t "$THREADS" >"$d/moecat_$qt.json"
    e2e_run "$NODE" "$REF" --model "$d/$qt.gguf" --tokens "$toks" --greedy 32 --threads "$THREADS" >"$d/llama_$qt.json"
    # llama.cpp's own f32 -> qt loss: the yardstick
    e2e_compare "$d/llama_f32.json" "$d/llama_$qt.json" --label-a "llama.cpp f32" --label-b "llama.cpp $qt" \
      --stats-json "$d/llama_loss_$qt.json"
    kl_bound="$(e2e_bound "$kl_floor" "$(e2e_stat "$d/llama_loss_$qt.json" kl_mean)")"
    abs_bound="$(e2e_bound "$abs_floor" "$(e2e_stat "$d/llama_loss_$qt.json" max_abs)")"
    echo "bounds for $qt: mean KL(moecat f32 || moecat $qt) <= $kl_bound, max|dlogp|(moecat $qt vs llama.cpp $qt) <= $abs_bound"
    e2e_compare "$d/moecat_f32.json" "$d/moecat_$qt.json" --label-a "moecat f32" --label-b "moecat $qt" \
      --max-kl "$kl_bound"
    e2e_compare "$d/moecat_$qt.json" "$d/llama_$qt.json" --label-a "moecat $qt" --label-b "llama.cpp $qt" \
      --max-abs "$abs_bound" --max-kl "${same_kl:-$kl_bound}"
    e2e_drop "$d/$qt.gguf" "$d/moecat_$qt.json" "$d/llama_$qt.json"
  done
  echo "==== $tag: OK"
}
