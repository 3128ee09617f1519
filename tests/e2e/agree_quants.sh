#!/usr/bin/env bash
# moecat reads the files llama.cpp's own llama-quantize writes, for every weight type, as llama.cpp
# reads them.
#
# A small random Qwen3-MoE (tools/make_test_model.py --dims kquant: every matrix row is 256 or
# 512 values, so the k- and i-quants apply to every matrix; 4 experts, top-2, 2 layers) is
# converted to an f32 GGUF by `moecat convert`; llama-imatrix makes an importance matrix from a
# short text (needed by IQ1_S / IQ1_M / IQ2_XXS / IQ2_XS, given to every i-quant and Q2_K, as
# users do); then for each llama-quantize type (QUANT_TYPES, default below) the f32 file is
# quantized with llama-quantize's default mix for that type and
#   1. `moecat info` must show tensors of that ggml type (so nothing passes on a fallback);
#   2. moecat and llama.cpp (node-llama-cpp, tests/ref/llama_ref.mjs) compute next-token
#      log-probs on the SAME quantized file over a 64-token sequence, and
#        mean over positions of KL(llama.cpp || moecat) <= max(FLOOR, FRAC * L)
#      where L = mean KL(llama.cpp f32 || llama.cpp on the quantized file) is the type's own
#      quantization loss on this model and sequence (per family: see bound_for below);
#   3. the 32-token greedy continuations are identical, unless llama.cpp's top-2 margin where
#      they part is below what the two engines' log-probs differ by anyway (a near-tie; reported).
# Why these bounds: both engines read identical quantized weights; they differ only in how
# activations are rounded (llama.cpp rounds them to q8_K / q8_0 / f16 / bf16 before its dot
# products, moecat decodes weight rows and keeps f32 activations). That difference is a small
# fraction of the format's own loss, while a mis-decoded sub-block (one 16 / 32-value group of
# every 256 wrong: a scale from the wrong bits, swapped nibbles, a wrong grid entry) perturbs
# 1/16 .. 1/8 of the weights of a tensor by about their own size, i.e. adds a sizeable part of
# the whole quantization loss (of much more than it, for the 4..8-bit types). See the table the
# test prints for the measured numbers.
#
# Each type is reported (a table at the end); the test fails at the end if any type failed, so the
# types that work are checked even while others are still placeholders ("not implemented").
#
# Needs llama-quantize and llama-imatrix from the llama.cpp revision node-llama-cpp ships
# (bench/build_llama_tools.sh; scripts/test.sh builds them): MOECAT_LLAMA_BIN = their directory
# (default: the cache directory build_llama_tools.sh uses). Without them the test is skipped,
# or fails when MOECAT_REQUIRE_REF=1 (CI).
# Env: QUANT_TYPES (llama-quantize type names; default: all of them below), MOECAT_E2E_THREADS.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"

# (llama-quantize's IQ2_S file type stores its matrices as IQ2_XS; its IQ2_M is the one that holds
# IQ2_S tensors, so both are listed.)
ALL_TYPES="Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S
IQ2_M IQ3_XXS IQ3_S IQ4_NL IQ4_XS MXFP4_MOE BF16 F16"
TYPES="${QUANT_TYPES:-$ALL_TYPES}"
SEED=83
NTOK=64

# ---- the llama.cpp tools
SRC_DIR="${MOECAT_SOURCE_DIR:?MOECAT_SOURCE_DIR must point to the source tree}"
LLAMA_BIN="${MOECAT_LLAMA_BIN:-}"
if [[ -z "$LLAMA_BIN" ]]; then
  bundle="$SRC_DIR/tests/ref/node_modules/node-llama-cpp/llama/gitRelease.bundle"
  rev=""
  if [[ -f "$bundle" ]]; then
    rev="$(git bundle list-heads "$bundle" 2>/dev/null | awk '$2=="HEAD"{print $1}')" || rev=""
  fi
  LLAMA_BIN="${MOECAT_LLAMA_CACHE:-$HOME/.cache/moecat}/llama.cpp-${rev:0:12}/build/bin"
fi
if [[ ! -x "$LLAMA_BIN/llama-quantize" || ! -x "$LLAMA_BIN/llama-imatrix" ]]; then
  msg="llama-quantize / llama-imatrix not found in $LLAMA_BIN (build them with: TARGETS='llama-quantize llama-imatrix' bench/build_llama_tools.sh, and set MOECAT_LLAMA_BIN to the directory it prints)"
  [[ "${MOECAT_REQUIRE_REF:-0}" == 1 ]] && e2e_die "$msg"
  echo "agree_quants: SKIPPED: $msg"
  exit 0
fi
QUANTIZE="$LLAMA_BIN/llama-quantize"
IMATRIX="$LLAMA_BIN/llama-imatrix"

# Its own work directory per ISA: e2e_agree_quants and e2e_agree_quants_avx2 may run at once.
e2e_setup "agree_quants${MOECAT_ISA:+_$MOECAT_ISA}"
T_START="$(date +%s)"
d="$WORK"

# Which names this llama-quantize accepts (its --help lists them, one per line, indented).
# (Exit status ignored: --help exits non-zero.)
"$QUANTIZE" --help >"$d/quantize_help.txt" 2>&1 || true
accepted() { grep -qE "^ *[0-9]+ *or *$1 *:|^ *$1 *:" "$d/quantize_help.txt"; }

# ggml tensor type (as `moecat info` names it) that a llama-quantize type puts in the matrices
ggml_type_of() {
  case "$1" in
    Q3_K_M | Q3_K_S | Q3_K_L) echo q3_k ;;
    Q4_K_M | Q4_K_S) echo q4_k ;;
    Q5_K_M | Q5_K_S) echo q5_k ;;
    MXFP4_MOE) echo mxfp4 ;;
    IQ2_S) echo iq2_xs ;; # llama_ftype_get_default_type: MOSTLY_IQ2_S -> GGML_TYPE_IQ2_XS
    IQ2_M) echo iq2_s ;;
    *) echo "$1" | tr '[:upper:]' '[:lower:]' ;;
  esac
}

# FLOOR FRAC for a type: mean KL(llama.cpp || moecat) <= max(FLOOR, FRAC * L).
#  - f16: llama.cpp rounds activations to f16 for f16 weights (measured 1.3e-6, L 1.5e-6).
#  - bf16: llama.cpp rounds activations to bf16 (measured 3.3e-5, L 8.6e-5).
#  - everything else: llama.cpp's 8-bit activations (q8_0 / q8_K) are the difference; measured
#    6e-4 .. 3.9e-3 on this model, independent of the weight type (L from 8e-4 to 1.2), with
#    single positions up to 0.18 where an expert choice flips. Hence a floor of 1e-2 (2.5x the
#    worst measured, for other CPUs' rounding), and 1% of L for the 1..3-bit types whose L is
#    ~1. Measured on corrupted files (E2E_SELFTEST below):
#    Q6_K experts with sub-block 7 using sub-block 6's scale: KL 0.10 (bound 1e-2); IQ1_S
#    experts with sub-block 7 using sub-block 6's 3-bit scale and delta sign: KL 2.7e-2
#    (bound 1.2e-2).
bound_for() {
  case "$1" in
    F16) echo "1e-4 0.5" ;;
    BF16) echo "5e-4 1.0" ;;
    *) echo "1e-2 0.01" ;;
  esac
}

# types that get the importance matrix
wants_imatrix() { case "$1" in IQ* | Q2_K) return 0 ;; *) return 1 ;; esac; }

# ---- the model, its f32 GGUF, the tokens, llama.cpp's f32 reference
echo
echo "==== model: qwen3moe --dims kquant, seed $SEED, $NTOK tokens"
e2e_run "$PY" "$SRC/tools/make_test_model.py" qwen3moe "$d/hf" --seed "$SEED" --dtype f32 --dims kquant
vocab="$(e2e_vocab "$d/hf")"
toks="$(e2e_tokens "$vocab" "$NTOK" "$((SEED + 1000))")"
echo "tokens ($NTOK, vocab $vocab): $toks"
e2e_run "$MOECAT_BIN" convert "$d/hf" -o "$d/f32.gguf" --type f32
e2e_run "$NODE" "$REF" --model "$d/f32.gguf" --tokens "$toks" --greedy 32 --threads "$THREADS" >"$d/llama_f32.json"
e2e_run "$MOECAT_BIN" logprobs -m "$d/f32.gguf" --tokens "$toks" --greedy 32 -t "$THREADS" >"$d/moecat_f32.json"
# The f32 baseline itself (agree_qwen3moe.sh checks this shape family in depth).
e2e_compare "$d/moecat_f32.json" "$d/llama_f32.json" --label-a "moecat f32" --label-b "llama.cpp f32" --max-abs 1e-4 \
  --greedy-equal

# ---- importance matrix from a short text (imatrix needs >= 2 x context tokens; -c 64)
cat >"$d/imatrix.txt" <<'EOF'
The quick brown fox jumps over the lazy dog. A mixture of experts sends every token to a few of
its feed-forward networks, chosen by a router, and adds their outputs weighted by the router's
scores. Quantization stores each weight in a few bits: blocks of 32 or 256 values share a scale,
and the importance matrix tells the quantizer which columns matter most, so it spends its error
where the activations are small. In 1969 the first message sent over the network was "lo"; the
system crashed before the rest of "login" arrived. Seven hundred and twenty-nine apples, 3.14159,
(x + y)^2 = x^2 + 2xy + y^2; {"key": [1, 2, 3]} <tag attr='v'>text</tag> -- naive cafe, resume.
She sells sea shells by the sea shore; the shells she sells are sea shells, I'm sure. Numbers:
0 1 2 3 4 5 6 7 8 9 10 100 1000 10000. Questions? Answers! Lists: first, second; third... end.
EOF
echo
echo "==== importance matrix"
if ! "$IMATRIX" -m "$d/f32.gguf" -f "$d/imatrix.txt" -o "$d/imatrix.gguf" -c 64 -t "$THREADS" --no-ppl \
  >"$d/imatrix.log" 2>&1; then
  tail -n 30 "$d/imatrix.log" >&2
  e2e_die "llama-imatrix failed (log: $d/imatrix.log)"
fi
grep -E "processing|stored|saving|chunks" "$d/imatrix.log" | tail -n 3 || true

# ---- one type
declare -A ROW_KL ROW_LOSS ROW_BOUND ROW_GREEDY ROW_RESULT ROW_TENSORS
FAILED=()
SELF_LINES=()

# greedy_check QT DIR: prints the greedy verdict; returns 1 on a real divergence.
greedy_check() {
  local qt="$1" q="$2" common max_abs ext
  common="$(e2e_stat "$q/agree.json" greedy_common_prefix)"
  if [[ "$(e2e_stat "$q/agree.json" greedy_equal)" == True ]]; then
    echo "identical"
    return 0
  fi
  max_abs="$(e2e_stat "$q/agree.json" max_abs)"
  # Both engines on the sequence + the common greedy prefix: llama.cpp's top-2 margin at the
  # position where the continuations part.
  ext="$("$PY" -c 'import json, sys
a = json.load(open(sys.argv[1]))
print(",".join(str(t) for t in a["tokens"] + a["greedy"][:int(sys.argv[2])]))' "$q/llama.json" "$common")"
  if ! "$MOECAT_BIN" logprobs -m "$q/$qt.gguf" --tokens "$ext" -t "$THREADS" >"$q/moecat_ext.json" 2>/dev/null ||
    ! "$NODE" "$REF" --model "$q/$qt.gguf" --tokens "$ext" --threads "$THREADS" >"$q/llama_ext.json" 2>/dev/null; then
    echo "differ at $common (margin check failed to run)" >&2
    echo "differ at $common"
    return 1
  fi
  "$PY" -c 'import json, sys
L = json.load(open(sys.argv[1]))["logprobs"][-1]
M = json.load(open(sys.argv[2]))["logprobs"][-1]
gl = max(range(len(L)), key=L.__getitem__)
gm = max(range(len(M)), key=M.__getitem__)
margin = L[gl] - L[gm]
tie = max(0.05, 2.0 * float(sys.argv[3]))
print("diverges at %s: llama.cpp %d vs moecat %d, llama.cpp margin %.3g %s %.3g (%s)" % (
    sys.argv[4], gl, gm, margin, "<" if margin < tie else ">=", tie,
    "near-tie" if margin < tie else "REAL divergence"))
sys.exit(0 if margin < tie else 1)' "$q/llama_ext.json" "$q/moecat_ext.json" "$max_abs" "$common" >"$q/greedy.txt"
  local rc=$?
  cat "$q/greedy.txt" >&2
  if ((rc == 0)); then echo "near-tie at $common"; else echo "differ at $common"; fi
  return "$rc"
}

run_type() {
  local qt="$1" q="$d/$1" gt floor frac loss bound kl info_n args=()
  mkdir -p "$q"
  ROW_KL[$qt]="-" ROW_LOSS[$qt]="-" ROW_BOUND[$qt]="-" ROW_GREEDY[$qt]="-" ROW_TENSORS[$qt]="-"
  echo
  echo "---- $qt"
  if ! accepted "$qt"; then
    ROW_RESULT[$qt]="FAIL: llama-quantize does not accept $qt"
    return 1
  fi
  wants_imatrix "$qt" && args=(--imatrix "$d/imatrix.gguf")
  echo "+ llama-quantize ${args[*]} f32.gguf $qt.gguf $qt $THREADS" >&2
  if ! "$QUANTIZE" "${args[@]}" "$d/f32.gguf" "$q/$qt.gguf" "$qt" "$THREADS" >"$q/quantize.log" 2>&1; then
    tail -n 5 "$q/quantize.log" >&2
    ROW_RESULT[$qt]="FAIL: llama-quantize failed (see $q/quantize.log)"
    return 1
  fi

  # 1. the file really holds the type (moecat info lists tensors by type even when the model
  # cannot be loaded, e.g. a decoder still missing)
  gt="$(ggml_type_of "$qt")"
  "$MOECAT_BIN" info "$q/$qt.gguf" >"$q/info.txt" 2>&1 || true
  grep -E "^  [A-Za-z0-9_]+ +[0-9]+ tensors" "$q/info.txt" | sed 's/^/  /'
  # (type names as ggml spells them, e.g. q4_K: compared case-insensitively)
  info_n="$(awk -v t="$gt" 'tolower($1) == t && $3 == "tensors," { print $2 }' "$q/info.txt")"
  ROW_TENSORS[$qt]="${info_n:-0} $gt"
  if [[ -z "$info_n" || "$info_n" -lt 1 ]]; then
    ROW_RESULT[$qt]="FAIL: moecat info shows no $gt tensors"
    return 1
  fi

  # 2. log-probs of both engines on the same file, and llama.cpp's own loss
  if ! "$NODE" "$REF" --model "$q/$qt.gguf" --tokens "$toks" --greedy 32 --threads "$THREADS" \
    >"$q/llama.json" 2>"$q/llama.err"; then
    tail -n 5 "$q/llama.err" >&2
    ROW_RESULT[$qt]="FAIL: llama.cpp cannot run the file"
    return 1
  fi
  "$PY" "$SRC/tools/compare_logprobs.py" "$d/llama_f32.json" "$q/llama.json" --label-a "llama.cpp f32" \
    --label-b "llama.cpp $qt" --stats-json "$q/loss.json" >"$q/loss.txt"
  loss="$(e2e_stat "$q/loss.json" kl_mean)"
  ROW_LOSS[$qt]="$loss"
  read -r floor frac <<<"$(bound_for "$qt")"
  bound="$("$PY" -c 'import sys; print("%.3g" % max(float(sys.argv[1]), float(sys.argv[2]) * float(sys.argv[3])))' \
    "$floor" "$frac" "$loss")"
  ROW_BOUND[$qt]="$bound"
  if ! "$MOECAT_BIN" logprobs -m "$q/$qt.gguf" --tokens "$toks" --greedy 32 -t "$THREADS" \
    >"$q/moecat.json" 2>"$q/moecat.err"; then
    cat "$q/moecat.err" >&2
    if grep -qi "not implemented\|not supported\|unsupported" "$q/moecat.err" "$q/info.txt"; then
      ROW_RESULT[$qt]="FAIL (placeholder): $(grep -hi -m1 "not implemented\|not supported\|unsupported" "$q/moecat.err" "$q/info.txt" | head -n 1 | cut -c1-100)"
    else
      ROW_RESULT[$qt]="FAIL: moecat logprobs failed: $(tail -n 1 "$q/moecat.err" | cut -c1-100)"
    fi
    return 1
  fi
  if ! "$PY" "$SRC/tools/compare_logprobs.py" "$q/llama.json" "$q/moecat.json" --label-a "llama.cpp $qt" \
    --label-b "moecat $qt" --stats-json "$q/agree.json" --max-kl "$bound" >"$q/agree.txt" 2>&1; then
    cat "$q/agree.txt"
    ROW_KL[$qt]="$(e2e_stat "$q/agree.json" kl_mean)"
    ROW_RESULT[$qt]="FAIL: mean KL(llama.cpp || moecat) above the bound"
    return 1
  fi
  sed 's/^/  /' "$q/agree.txt" | grep -v "^  compare\|  OK"
  kl="$(e2e_stat "$q/agree.json" kl_mean)"
  ROW_KL[$qt]="$kl"

  # 3. greedy
  if ! ROW_GREEDY[$qt]="$(greedy_check "$qt" "$q")"; then
    ROW_RESULT[$qt]="FAIL: greedy continuations differ beyond a near-tie"
    return 1
  fi
  # 4. the matrices moecat repacks at load (Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K, IQ4_NL, IQ4_XS on
  #    AVX-512; the same but Q2_K, Q3_K and Q6_K on AVX2, where those keep the file layout, so
  #    the check holds trivially) give the same bits as the file layout (--no-repack): log-probs and greedy tokens
  #    byte-identical. (Q8_0, repacked too, sums its block products in another order:
  #    tests/quant_repack_test.cpp bounds it. The check passing means no q8_0 matrix of whole
  #    256-value rows is in these mixes.)
  case "$qt" in
    Q4_0 | Q4_1 | Q5_0 | Q5_1 | IQ4_NL | Q2_K | Q3_K_M | Q4_K_M | Q5_K_M | Q6_K | IQ4_XS)
      "$MOECAT_BIN" logprobs -m "$q/$qt.gguf" --tokens "$toks" --greedy 32 -t "$THREADS" --no-repack \
        >"$q/moecat_norepack.json" 2>/dev/null
      if ! cmp -s "$q/moecat.json" "$q/moecat_norepack.json"; then
        ROW_RESULT[$qt]="FAIL: repacked weights give other log-probs than --no-repack"
        return 1
      fi
      ;;
  esac
  ROW_RESULT[$qt]="ok"
  return 0
}

for qt in $TYPES; do
  t0="$(date +%s)"
  run_type "$qt" || FAILED+=("$qt")
  echo "$qt: ${ROW_RESULT[$qt]} (KL ${ROW_KL[$qt]}, loss ${ROW_LOSS[$qt]}, bound ${ROW_BOUND[$qt]}; greedy ${ROW_GREEDY[$qt]}; $(($(date +%s) - t0)) s)"
done

# ---- self-test: the bound must reject a mis-decoded sub-block. moecat reads a copy of the file
# in which one sub-block of every block of the expert matrices takes its neighbour's scale (a
# subtle version of reading a scale from the wrong bits); llama.cpp's numbers are from the intact
# file, so moecat-on-the-copy is what a moecat decoder with that bug would compute. The copy is
# written with gguf-py from the same llama.cpp source tree (tensor offsets only).
# E2E_SELFTEST=0 skips it.
GGUF_PY="${MOECAT_GGUF_PY:-$(cd "$LLAMA_BIN/../.." 2>/dev/null && pwd)/src/gguf-py}"
selftest() {
  local qt="$1" q="$d/$1" how="$2" kl bound
  [[ "${ROW_RESULT[$qt]:-}" == ok ]] || return 0
  echo
  echo "---- self-test $qt: $how"
  if ! "$PY" - "$q/$qt.gguf" "$q/bad.gguf" "$qt" "$GGUF_PY" <<'PYEOF'; then
import shutil, sys
import numpy as np
src, dst, qt, gguf_py = sys.argv[1:5]
sys.path.insert(0, gguf_py)
import gguf  # noqa: E402
shutil.copy(src, dst)
mm = np.memmap(dst, dtype=np.uint8, mode="r+")
n = 0
for t in gguf.GGUFReader(src).tensors:
    if "exps" not in t.name:
        continue
    if qt == "Q6_K" and t.tensor_type == gguf.GGMLQuantizationType.Q6_K:
        # block_q6_K: ql[128] qh[64] scales[16] (int8) d (f16): 210 bytes
        b = mm[t.data_offset:t.data_offset + t.n_bytes].reshape(-1, 210)
        b[:, 192 + 7] = b[:, 192 + 6]
    elif qt == "IQ1_S" and t.tensor_type == gguf.GGMLQuantizationType.IQ1_S:
        # block_iq1_s: d (f16) qs[32] qh[8] (uint16: 3-bit scale in bits 12..14, delta sign bit 15)
        b = mm[t.data_offset:t.data_offset + t.n_bytes].reshape(-1, 50)
        qh = b[:, 34:50].copy().view(np.uint16)
        qh[:, 7] = (qh[:, 7] & 0x0FFF) | (qh[:, 6] & 0xF000)
        b[:, 34:50] = qh.view(np.uint8)
    else:
        continue
    n += 1
mm.flush()
if n == 0:
    sys.exit("no %s expert tensors to corrupt" % qt)
print("corrupted %d expert tensors" % n)
PYEOF
    ROW_RESULT[$qt]="FAIL: self-test could not write the corrupted copy"
    return 1
  fi
  "$MOECAT_BIN" logprobs -m "$q/bad.gguf" --tokens "$toks" -t "$THREADS" >"$q/moecat_bad.json" 2>/dev/null ||
    { ROW_RESULT[$qt]="FAIL: self-test: moecat cannot read the corrupted copy"; return 1; }
  "$PY" "$SRC/tools/compare_logprobs.py" "$q/llama.json" "$q/moecat_bad.json" --label-a "llama.cpp $qt" \
    --label-b "moecat on the corrupted $qt" --stats-json "$q/bad.json" >/dev/null
  kl="$(e2e_stat "$q/bad.json" kl_mean)"
  bound="${ROW_BOUND[$qt]}"
  if "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$kl" "$bound"; then
    echo "self-test $qt: corrupted decode gives mean KL $kl > bound $bound: the check catches it"
    SELF_LINES+=("$qt with $2: mean KL $kl > bound $bound (caught)")
  else
    echo "self-test $qt: corrupted decode gives mean KL $kl <= bound $bound: the bound is too loose"
    SELF_LINES+=("$qt with $2: mean KL $kl <= bound $bound (NOT caught)")
    ROW_RESULT[$qt]="FAIL: self-test: a mis-decoded sub-block passes (KL $kl)"
    return 1
  fi
}
if [[ "${E2E_SELFTEST:-1}" != 0 ]]; then
  if [[ -f "$GGUF_PY/gguf/__init__.py" ]]; then
    selftest Q6_K "expert sub-block 7 with sub-block 6's scale" || FAILED+=("Q6_K(self-test)")
    selftest IQ1_S "expert sub-block 7 with sub-block 6's scale and delta sign" || FAILED+=("IQ1_S(self-test)")
  else
    echo "self-test skipped: no gguf-py at $GGUF_PY (set MOECAT_GGUF_PY)"
  fi
fi

# ---- the table
echo
echo "==== agree_quants: moecat vs llama.cpp on llama-quantize's files ($NTOK tokens, qwen3moe kquant dims)"
echo "bound = max(floor, frac x format loss); format loss = mean KL(llama.cpp f32 || llama.cpp type);"
echo "KL = mean KL(llama.cpp type || moecat type), both on the same file"
printf "| %-9s | %-18s | %-12s | %-12s | %-10s | %-16s | %s\n" type "moecat-vs-llama KL" "format loss" bound "tensors" "greedy (32)" result
printf "|%s|\n" "-----------|--------------------|--------------|--------------|------------|------------------|-------"
fmt() {
  if [[ "$1" == - ]]; then echo -; else "$PY" -c 'import sys; print("%.3e" % float(sys.argv[1]))' "$1"; fi
}
for qt in $TYPES; do
  printf "| %-9s | %-18s | %-12s | %-12s | %-10s | %-16s | %s\n" "$qt" "$(fmt "${ROW_KL[$qt]}")" \
    "$(fmt "${ROW_LOSS[$qt]}")" "$(fmt "${ROW_BOUND[$qt]}")" "${ROW_TENSORS[$qt]}" \
    "${ROW_GREEDY[$qt]}" "${ROW_RESULT[$qt]}"
done
for l in "${SELF_LINES[@]}"; do echo "self-test: $l"; done
echo "agree_quants: $(($(date +%s) - T_START)) s"
if ((${#FAILED[@]})); then
  e2e_die "agree_quants: ${#FAILED[@]} type(s) failed: ${FAILED[*]}"
fi
echo "agree_quants: all checks passed"
