#!/usr/bin/env bash
# moecat vs llama.cpp on the SAME GGUF files in one run: `moecat bench --membw -o json` and
# `llama-bench -o json` per file, test depth and thread counts, then one markdown table for
# docs/PERF.md: per file, test and thread count both tokens/s, their ratio, the bytes a generated
# token reads, the read bandwidth moecat measured in the same invocation, and each engine's tg as
# a fraction of the memory roofline (bandwidth / bytes per token); then the machine line.
#
# Usage: bench/compare.sh [--files "q8_0 q4_k_m iq4_xs q2_k gpt-oss ds-q4_k_m"] [-t "1 2"]
#                         [--tests "pp512 tg128 tg128@d8192"] [-r 3] [--no-llama] [--keep-bf16]
#   --files  which files (default all; "qwen3" = the four Qwen3-shaped ones):
#     q8_0      Qwen3-30B-A3B-shaped, 4 layers (hidden 2048, 128 experts top-8, expert FFN 768,
#               vocab 151936): bench/make_bench_model.sh (HF bf16 -> moecat convert --type q8_0)
#     q4_k_m, iq4_xs, q2_k (and, not in "all": q5_k_m, q6_k, q4_0, q4_1, q5_0, q5_1, iq4_nl)
#               the same model quantized by llama.cpp's llama-quantize (Q4_K_M, IQ4_XS, Q2_K) from
#               a bf16 GGUF of it (moecat convert --type bf16 of the HF bf16 checkpoint when
#               `make_bench_model.sh --keep-hf` left it, else of the q8_0 file: its weights in bf16)
#     gpt-oss   gpt-oss-20b-shaped, 4 layers, 32 experts top-4, MXFP4 experts + q8_0 rest
#               (bench/make_shaped_gguf.py gpt-oss, the file bench/shaped.sh uses)
#     ds-q4_k_m DeepSeek-V3-shaped, 2 layers (1 dense + 1 MoE), 64 routed experts top-8 + 1 shared
#               (bench/make_shaped_gguf.py deepseek2, q8_0 -> bf16 -> llama-quantize Q4_K_M)
#   -t       thread counts (space- or comma-separated; default "1 2")
#   --tests  ppN / tgN, optionally @dD: run after D tokens of context (llama-bench -d D)
#   -r       repetitions of every test, both engines (default 3)
#   --no-llama  moecat only (no llama.cpp build needed)
#   --keep-bf16 keep the bf16 intermediates (default: deleted once their quantized files exist)
#   --isa avx2  both engines restricted to AVX2 (an AVX2-only CPU): MOECAT_ISA=avx2 and an
#               AVX2-only llama.cpp build (bench/build_llama_tools.sh LLAMA_ISA=avx2)
# Files are made on first use in $REPO/.cache/bench/ (gitignored; ~3.3 GB for q8_0, ~2 GB per
# quantized Qwen3 file, ~5.5 GB for the DeepSeek q8_0 source, ~10 GB of bf16 intermediates while
# quantizing) and reused.
# Env: MOECAT_BIN (default $REPO/build/moecat), LLAMA_BIN_DIR (llama.cpp's bin dir with llama-bench
#      and llama-quantize; default: the last stdout line of bench/build_llama_tools.sh, or
#      llama-bench from bench/build_llama_bench.sh when that script is absent), MOECAT_PYTHON
#      (default /usr/bin/python3), NICE (niceness of quantize/convert steps, default 10).
# A file one engine cannot run (an unsupported tensor type) gets "error" in its rows and the
# message below the table; the other files still run. Everything goes to stdout only at the end;
# progress goes to stderr.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FILES="q8_0 q4_k_m iq4_xs q2_k gpt-oss ds-q4_k_m"
THREADS="1 2"
TESTS="pp512 tg128 tg128@d8192"
REPS=3
LLAMA=1
KEEP_BF16=0
ISA_ARG=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --files) FILES="$2"; shift 2 ;;
    -t) THREADS="${2//,/ }"; shift 2 ;;
    --tests) TESTS="${2//,/ }"; shift 2 ;;
    -r) REPS="$2"; shift 2 ;;
    --no-llama) LLAMA=0; shift ;;
    --keep-bf16) KEEP_BF16=1; shift ;;
    --isa) ISA_ARG="$2"; shift 2 ;;
    -h | --help) sed -n 2,38p "$0"; exit 0 ;;
    *) echo "compare: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -n "$ISA_ARG" ]]; then
  [[ "$ISA_ARG" == avx2 ]] || die "--isa: only avx2 is known"
  export MOECAT_ISA=avx2 LLAMA_ISA=avx2  # moecat's kernels and an AVX2-only llama.cpp build
fi
[[ "$FILES" == all ]] && FILES="q8_0 q4_k_m iq4_xs q2_k gpt-oss ds-q4_k_m"
FILES="${FILES//qwen3/q8_0 q4_k_m iq4_xs q2_k}"
FILES="${FILES//,/ }"
MOECAT_BIN="${MOECAT_BIN:-$REPO/build/moecat}"
PY="${MOECAT_PYTHON:-/usr/bin/python3}"
NICE="${NICE:-10}"
OUT="$REPO/.cache/bench"
die() { echo "compare: $*" >&2; exit 1; }

[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || die "-r must be a positive integer"
for t in $THREADS; do [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "bad thread count '$t'"; done
[[ -x "$MOECAT_BIN" ]] || die "moecat not found at $MOECAT_BIN (set MOECAT_BIN)"
"$PY" -c 'import numpy' 2>/dev/null || die "$PY lacks numpy (apt-get install python3-numpy)"

# --- tests, grouped by depth: DEPTHS, PP[d], TG[d] (comma lists for both tools)
declare -A PP TG
DEPTHS=""
for spec in $TESTS; do
  [[ "$spec" =~ ^(pp|tg)([1-9][0-9]*)(@d([0-9]+))?$ ]] || die "bad test '$spec' (ppN, tgN, ppN@dD, tgN@dD)"
  kind="${BASH_REMATCH[1]}" len="${BASH_REMATCH[2]}" d="${BASH_REMATCH[4]:-0}"
  [[ " $DEPTHS " == *" $d "* ]] || DEPTHS="$DEPTHS $d"
  if [[ $kind == pp ]]; then PP[$d]="${PP[$d]:+${PP[$d]},}$len"; else TG[$d]="${TG[$d]:+${TG[$d]},}$len"; fi
done
for f in $FILES; do
  case "$f" in q8_0 | q4_k_m | iq4_xs | q2_k | q5_k_m | q6_k | q4_0 | q4_1 | q5_0 | q5_1 | iq4_nl | gpt-oss | ds-q4_k_m) ;; *) die "unknown file '$f' in --files" ;; esac
done

# --- llama.cpp tools
LLAMA_BENCH="" QUANTIZE=""
llama_tools() {  # sets LLAMA_BENCH / QUANTIZE on first call
  [[ -n "$LLAMA_BENCH" ]] && return
  local dir="${LLAMA_BIN_DIR:-}"
  if [[ -z "$dir" && -f "$REPO/bench/build_llama_tools.sh" ]]; then
    echo "compare: building llama.cpp's tools (bench/build_llama_tools.sh; first time: long)" >&2
    dir="$(bash "$REPO/bench/build_llama_tools.sh" | tail -n 1)"
  fi
  if [[ -n "$dir" ]]; then
    LLAMA_BENCH="$dir/llama-bench"
    QUANTIZE="$dir/llama-quantize"
  else
    echo "compare: bench/build_llama_tools.sh not found; llama-bench from bench/build_llama_bench.sh" >&2
    LLAMA_BENCH="$(bash "$REPO/bench/build_llama_bench.sh" | tail -n 1)"
    QUANTIZE="$(dirname "$LLAMA_BENCH")/llama-quantize"
  fi
  [[ $LLAMA -eq 0 || -x "$LLAMA_BENCH" ]] || die "llama-bench not found at $LLAMA_BENCH"
}

# --- files
mkdir -p "$OUT"
Q8="$OUT/qwen3moe-bench-4l-q8_0.gguf"
QBF16="$OUT/qwen3moe-bench-4l-bf16.gguf"
QHF="$OUT/qwen3moe-bench-4l-hf"
OSS="$OUT/gpt-oss-shaped-4l-32e-mxfp4.gguf"
DS8="$OUT/deepseek2-shaped-2l-64e-q8_0.gguf"
DSBF16="$OUT/deepseek2-shaped-2l-64e-bf16.gguf"
file_of() {
  case "$1" in
    q8_0) echo "$Q8" ;;
    q4_k_m | iq4_xs | q2_k | q5_k_m | q6_k | q4_0 | q4_1 | q5_0 | q5_1 | iq4_nl) echo "$OUT/qwen3moe-bench-4l-$1.gguf" ;;
    gpt-oss) echo "$OSS" ;;
    ds-q4_k_m) echo "$OUT/deepseek2-shaped-2l-64e-q4_k_m.gguf" ;;
  esac
}
need_space() {  # GB
  local avail_kb
  avail_kb="$(df -Pk "$OUT" | awk 'NR==2{print $4}')"
  [[ "$avail_kb" -ge $(($1 * 1024 * 1024)) ]] || die "need ~$1 GB free in $OUT, have $((avail_kb / 1024)) MB"
}
to_bf16() {  # src dst: moecat convert (the source's weights, in bf16)
  [[ -f "$2" ]] && return
  need_space 12
  echo "compare: moecat convert $(basename "$1") -> $(basename "$2")" >&2
  nice -n "$NICE" "$MOECAT_BIN" convert "$1" -o "$2.tmp" --type bf16 >&2
  mv "$2.tmp" "$2"
}
quantize() {  # src dst TYPE
  [[ -f "$2" ]] && return
  llama_tools
  [[ -x "$QUANTIZE" ]] || die "llama-quantize not found at $QUANTIZE (bench/build_llama_tools.sh builds it)"
  need_space 4
  echo "compare: llama-quantize $(basename "$1") -> $(basename "$2") ($3)" >&2
  nice -n "$NICE" "$QUANTIZE" "$1" "$2.tmp" "$3" "$(nproc)" >"$2.log" 2>&1 ||
    { tail -n 20 "$2.log" >&2; die "llama-quantize failed (log: $2.log)"; }
  mv "$2.tmp" "$2"
}
make_file() {
  local f="$1" dst
  dst="$(file_of "$f")"
  [[ -f "$dst" ]] && return
  case "$f" in
    q8_0)
      need_space 10
      MOECAT_BIN="$MOECAT_BIN" bash "$REPO/bench/make_bench_model.sh" >&2 ;;
    q4_k_m | iq4_xs | q2_k | q5_k_m | q6_k | q4_0 | q4_1 | q5_0 | q5_1 | iq4_nl)
      make_file q8_0
      # the HF bf16 checkpoint when make_bench_model.sh --keep-hf left it, else the q8_0 file
      if [[ -f "$QHF/config.json" ]]; then to_bf16 "$QHF" "$QBF16"; else to_bf16 "$Q8" "$QBF16"; fi
      quantize "$QBF16" "$dst" "$(echo "$f" | tr a-z A-Z)" ;;
    gpt-oss)
      need_space 8
      echo "compare: writing $(basename "$OSS")" >&2
      "$PY" "$REPO/bench/make_shaped_gguf.py" gpt-oss "$OSS" --layers 4 >/dev/null ;;
    ds-q4_k_m)
      if [[ ! -f "$DS8" ]]; then
        need_space 8
        echo "compare: writing $(basename "$DS8")" >&2
        "$PY" "$REPO/bench/make_shaped_gguf.py" deepseek2 "$DS8" --experts 64 >/dev/null
      fi
      to_bf16 "$DS8" "$DSBF16"
      quantize "$DSBF16" "$dst" Q4_K_M ;;
  esac
}
for f in $FILES; do make_file "$f"; done
if [[ $KEEP_BF16 -eq 0 ]]; then
  all_q=1
  for q in q4_k_m iq4_xs q2_k; do [[ -f "$(file_of $q)" ]] || all_q=0; done
  [[ $all_q -eq 1 ]] && rm -f "$QBF16"
  [[ -f "$(file_of ds-q4_k_m)" ]] && rm -f "$DSBF16"
fi
[[ $LLAMA -eq 1 ]] && llama_tools

# --- runs
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
TLIST="$(echo $THREADS | tr ' ' ',')"
cut -d' ' -f1-3 /proc/loadavg >"$TMP/load_start"
for f in $FILES; do
  path="$(file_of "$f")"
  for d in $DEPTHS; do
    p="${PP[$d]:-0}" n="${TG[$d]:-0}"
    echo "compare: moecat bench $(basename "$path") -p $p -n $n -d $d -t $TLIST -r $REPS" >&2
    "$MOECAT_BIN" bench -m "$path" -p "$p" -n "$n" -d "$d" -t "$TLIST" -r "$REPS" --membw -o json \
      >"$TMP/moecat_${f}_d$d.json" 2>"$TMP/moecat_${f}_d$d.err" || true
    if [[ $LLAMA -eq 1 ]]; then
      echo "compare: llama-bench $(basename "$path") -p $p -n $n -d $d -t $TLIST -r $REPS" >&2
      "$LLAMA_BENCH" -m "$path" -p "$p" -n "$n" -d "$d" -t "$TLIST" -r "$REPS" -o json \
        >"$TMP/llama_${f}_d$d.json" 2>"$TMP/llama_${f}_d$d.err" || true
    fi
  done
done
cut -d' ' -f1-3 /proc/loadavg >"$TMP/load_end"

# shellcheck disable=SC2086  # word lists on purpose
"$PY" - "$TMP" "$LLAMA" "$REPS" "$FILES" "$DEPTHS" "$TESTS" "$THREADS" <<'PYEOF'
import datetime, json, os, re, statistics, sys
tmp, llama, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
files, depths, tests, threads = (a.split() for a in sys.argv[4:8])

def load(path):
    try:
        with open(path) as f:
            return json.load(f), None
    except (OSError, ValueError):
        err = ""
        try:
            err = open(path[:-5] + ".err").read().strip().splitlines()
            err = " / ".join(l for l in err if "error" in l.lower())[:300] or (err[-1][:300] if err else "")
        except OSError:
            pass
        return None, err or "no output"

def test_key(n_prompt, n_gen, n_depth):
    return ("pp%d" % n_prompt if n_gen == 0 else "tg%d" % n_gen) + ("@d%d" % n_depth if n_depth else "")

mo, ll, errors, bw = {}, {}, [], {}
for f in files:
    for d in depths:
        recs, err = load(os.path.join(tmp, "moecat_%s_d%s.json" % (f, d)))
        if err:
            errors.append("moecat on %s (depth %s): %s" % (f, d, err))
        seen = set()
        for r in recs or []:
            mo[(f, test_key(r["n_prompt"], r["n_gen"], r["n_depth"]), r["n_threads"])] = r
            if r.get("membw_gbs") and r["n_threads"] not in seen:  # one probe per invocation and thread count
                seen.add(r["n_threads"])
                bw.setdefault(r["n_threads"], []).append(r["membw_gbs"])
        if llama:
            recs, err = load(os.path.join(tmp, "llama_%s_d%s.json" % (f, d)))
            if err:
                errors.append("llama-bench on %s (depth %s): %s" % (f, d, err))
            for r in recs or []:
                ll[(f, test_key(r["n_prompt"], r["n_gen"], r["n_depth"]), r["n_threads"])] = r

def ts(r):
    return "%.2f ± %.2f" % (r["avg_ts"], r["stddev_ts"]) if r else "error"

print("| file | test | threads | moecat t/s | llama.cpp t/s | moecat / llama.cpp | GB / token | read GB/s "
      "| moecat of roofline | llama.cpp of roofline |")
print("| --- | --- | --: | --: | --: | --: | --: | --: | --: | --: |")
cpu = None
for f in files:
    for spec in tests:
        key = spec[:-3] if spec.endswith("@d0") else spec
        for t in threads:
            m, l = mo.get((f, key, int(t))), ll.get((f, key, int(t)))
            if m and not cpu:
                cpu = m.get("cpu_info")
            ratio = "%.2f×" % (m["avg_ts"] / l["avg_ts"]) if m and l and l["avg_ts"] > 0 else "–"
            nb = m.get("bytes_per_token") if m else None
            gbs = m.get("membw_gbs") if m else None
            roof_m = "%.0f %%" % (100 * m["roofline_frac"]) if m and m.get("roofline_frac") else "–"
            roof_l = "%.0f %%" % (100 * l["avg_ts"] * nb / 1e9 / gbs) if l and nb and gbs else "–"
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                f, key.replace("@d", " @ d"), t, ts(m), ts(l) if llama else "–", ratio,
                "%.3f" % (nb / 1e9) if nb else "–", "%.1f" % gbs if gbs else "–", roof_m, roof_l))
print()
bws = ", ".join("%.1f GB/s on %s thread%s%s" % (
    statistics.median(v), t, "" if t == 1 else "s",
    "" if len(v) == 1 else " (%.1f-%.1f over %d runs)" % (min(v), max(v), len(v))) for t, v in sorted(bw.items()))
if os.environ.get("MOECAT_ISA"):
    print("Kernels restricted to %s on both sides (MOECAT_ISA, llama.cpp's LLAMA_ISA build)." % os.environ["MOECAT_ISA"])
print("Machine: %s, %d cores; streaming read (1 GiB, moecat bench --membw, median) %s; %s; load average "
      "%s at start, %s at end; %d repetitions." % (
          cpu or "unknown CPU", os.cpu_count(), bws or "not measured", datetime.date.today().isoformat(),
          open(os.path.join(tmp, "load_start")).read().strip(), open(os.path.join(tmp, "load_end")).read().strip(),
          reps))
print("GB / token: weights a generated token reads (routed experts counted from moecat's routing) + the KV "
      "cache at that depth; roofline = read GB/s / (GB / token); llama.cpp's fraction uses the same bytes.")
for e in errors:
    print("- " + e)
PYEOF
