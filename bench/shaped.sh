#!/usr/bin/env bash
# Decode speed at real DeepSeek-V3 / LongCat-Flash / gpt-oss-20b layer widths, as a fraction of
# memory bandwidth. Makes (once) GGUFs with random weights in .cache/bench/ with
# bench/make_shaped_gguf.py:
#   deepseek2:     DeepSeek-V3 dims, q8_0, 2 layers (1 dense + 1 MoE), 64 routed experts (real: 256)
#   longcat_flash: LongCat-Flash dims, q8_0, 1 layer, 64 routed + 32 zero experts (real: 512 + 256)
#   gpt-oss:       gpt-oss-20b dims, MXFP4 experts + q8_0 rest, 4 layers (real: 24), 32 experts
# then runs `moecat bench` on each and llama-bench on deepseek2 and gpt-oss (llama.cpp has no
# longcat_flash), and prints per model and thread count: generation tokens/s, weight bytes read
# per generated token, the resulting GB/s, and that as a fraction of the machine's read bandwidth.
#
# Usage: bench/shaped.sh [-p 64] [-n 32] [-r 3] [-t "1 2"] [--rounds 1] [--experts 64]
#                        [--zero-experts 32] [--models "deepseek2 longcat_flash"]
#                        [--oss-layers 4] [--no-llama] [--force]
#   -p/-n  prompt / generated tokens (pp / tg tests), -r repetitions (both tools), -t thread counts
#   --rounds K  repeat bandwidth + all speed runs K times, interleaved; report each figure's best
#               round and the range (the dev VM's second core is shared: 2-thread figures of one
#               round can be off by 2x)
#   --experts / --zero-experts  expert counts of the deepseek2 / longcat_flash files (file names
#               include them; gpt-oss always has its real 32)
#   --models    which models to make and bench, any of deepseek2 longcat_flash gpt-oss
#               (default "deepseek2 longcat_flash"; "all" = the three)
#   --oss-layers  layers of the gpt-oss file (default 4)
#   --force  regenerate the GGUFs
# Env: MOECAT_BIN (default $REPO/build/moecat), LLAMA_BENCH (default .cache/llama.cpp/build/bin/
#      llama-bench, else bench/build_llama_bench.sh), MOECAT_PYTHON (default /usr/bin/python3),
#      CXX (default g++; compiles the bandwidth probe into a temporary folder).
#
# Bytes read per generated token (q8_0 = 34 bytes per 32 weights, f32 = 4 bytes; H hidden,
# V vocab, nh heads, qr q_lora, kvr kv_lora, dn/dr/dv nope/rope/v head dims, F dense FFN,
# Fe expert FFN, S shared experts, E routed / Z zero experts, k top-k):
#   attn  = q8·(H·qr + qr·nh·(dn+dr) + H·(kvr+dr) + nh·kvr·dn + nh·dv·kvr + nh·dv·H)
#           + f32·(2H + qr + kvr)                       [q_a, q_b, kv_a_mqa, k_b, v_b, output; 4 norms]
#   dense = q8·3·H·F        expert = q8·3·H·Fe          router = f32·((E+Z)·H + (E+Z))  [+ bias]
#   head  = q8·(V·H + H) + f32·H                        [output matrix, one embedding row, output_norm]
#   deepseek2:     bytes = head + L·attn + L_dense·dense + L_moe·(router + (k + S)·expert)
#   longcat_flash: bytes = head + L·(2·attn + 2·dense + router + k_ffn·expert)
#     k_ffn = FFN (non-zero) experts per token per layer, measured with `moecat run --stats`
#     (64 generated tokens after a short prompt); k·E/(E+Z) is printed alongside.
#   gpt-oss (mx = MXFP4 = 17 bytes per 32 weights; nh/nkv heads, hd head_dim, F expert width):
#     attn   = q8·(2·H·nh·hd + 2·H·nkv·hd) + f32·(nh·hd + 2·nkv·hd + H + nh + 2H)
#              [q, k, v, o matrices; q, k, v, o biases; sinks; attn_norm, post_attention_norm]
#     router = f32·(E·H + E)         expert = mx·3·H·F + f32·(2F + H)  [gate, up, down + their biases]
#     bytes  = head + L·(attn + router + k·expert)      (k = 4; top-4 of 32 read in full)
# Every routed expert picked for the token is read in full; the KV cache (< 100 positions of
# kvr+dr floats per attention) and activations are left out (< 0.1 %).
# Bandwidth: a streaming read (sum of 64-bit words, AVX2, 4 accumulators) over a 1 GiB buffer,
# split over T threads, best of 9, compiled here with $CXX -O2 — the same measurement as
# BM_MemRead in bench/kernels_bench.cpp (which needs a -DMOECAT_BENCH=ON build), taken in the same
# run as the speeds. (An AVX-512 loop with many accumulators reads ~15 % slower on the dev VM.)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
P=64
N=32
REPS=3
THREADS="1 2"
ROUNDS=1
EXPERTS=64
ZERO=32
LLAMA=1
FORCE=0
MODELS="deepseek2 longcat_flash"
OSS_LAYERS=4
while [[ $# -gt 0 ]]; do
  case "$1" in
    -p) P="$2"; shift 2 ;;
    -n) N="$2"; shift 2 ;;
    -r) REPS="$2"; shift 2 ;;
    -t) THREADS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --experts) EXPERTS="$2"; shift 2 ;;
    --zero-experts) ZERO="$2"; shift 2 ;;
    --models) MODELS="$2"; shift 2 ;;
    --oss-layers) OSS_LAYERS="$2"; shift 2 ;;
    --no-llama) LLAMA=0; shift ;;
    --force) FORCE=1; shift ;;
    -h | --help) sed -n 2,50p "$0"; exit 0 ;;
    *) echo "shaped: unknown argument $1" >&2; exit 2 ;;
  esac
done
MOECAT_BIN="${MOECAT_BIN:-$REPO/build/moecat}"
PY="${MOECAT_PYTHON:-/usr/bin/python3}"
CXX="${CXX:-g++}"
OUT="$REPO/.cache/bench"
DS="$OUT/deepseek2-shaped-2l-${EXPERTS}e-q8_0.gguf"
LC="$OUT/longcat-flash-shaped-1l-${EXPERTS}e${ZERO}z-q8_0.gguf"
OSS="$OUT/gpt-oss-shaped-${OSS_LAYERS}l-32e-mxfp4.gguf"
[[ "$MODELS" == all ]] && MODELS="deepseek2 longcat_flash gpt-oss"
KEYS=""  # short keys of the selected models: ds lc oss
for m in $MODELS; do
  case "$m" in
    deepseek2) KEYS="$KEYS ds" ;;
    longcat_flash) KEYS="$KEYS lc" ;;
    gpt-oss) KEYS="$KEYS oss" ;;
    *) echo "shaped: unknown model '$m' in --models (deepseek2, longcat_flash, gpt-oss, all)" >&2; exit 2 ;;
  esac
done
[[ -n "$KEYS" ]] || { echo "shaped: --models is empty" >&2; exit 2; }
[[ "$OSS_LAYERS" =~ ^[1-9][0-9]*$ ]] || { echo "shaped: --oss-layers must be a positive integer" >&2; exit 2; }
has() { [[ " $KEYS " == *" $1 "* ]]; }
file_of() { case "$1" in ds) echo "$DS" ;; lc) echo "$LC" ;; oss) echo "$OSS" ;; esac; }

[[ -x "$MOECAT_BIN" ]] || { echo "shaped: moecat not found at $MOECAT_BIN (set MOECAT_BIN)" >&2; exit 1; }
"$PY" -c 'import numpy' 2>/dev/null || { echo "shaped: $PY lacks numpy (apt-get install python3-numpy)" >&2; exit 1; }
if [[ $LLAMA -eq 1 && -z "${LLAMA_BENCH:-}" ]]; then
  LLAMA_BENCH="$REPO/.cache/llama.cpp/build/bin/llama-bench"
  [[ -x "$LLAMA_BENCH" ]] || LLAMA_BENCH="$("$REPO/bench/build_llama_bench.sh" | tail -n 1)"
fi
[[ $LLAMA -eq 0 || -x "$LLAMA_BENCH" ]] || { echo "shaped: llama-bench not found at $LLAMA_BENCH" >&2; exit 1; }

mkdir -p "$OUT"
make_model() {  # arch file extra-args...
  local arch="$1" file="$2"
  shift 2
  if [[ -f "$file" && $FORCE -eq 0 ]]; then
    echo "shaped: using $file" >&2
    return
  fi
  local avail_kb
  avail_kb="$(df -Pk "$OUT" | awk 'NR==2{print $4}')"
  if [[ "$avail_kb" -lt $((8 * 1024 * 1024)) ]]; then
    echo "shaped: need ~8 GB free in $OUT for $file, have $((avail_kb / 1024)) MB" >&2
    exit 1
  fi
  "$PY" "$REPO/bench/make_shaped_gguf.py" "$arch" "$file" "$@" >/dev/null
}
if has ds; then make_model deepseek2 "$DS" --experts "$EXPERTS"; fi
if has lc; then make_model longcat_flash "$LC" --experts "$EXPERTS" --zero-experts "$ZERO"; fi
if has oss; then make_model gpt-oss "$OSS" --layers "$OSS_LAYERS"; fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# --- read bandwidth
cat >"$TMP/membw.cpp" <<'CPPEOF'
// Streaming read bandwidth: sum of 64-bit words over a 1 GiB buffer, split over T threads (one
// contiguous range each), best of 9. AVX2 with 4 accumulators when the CPU has it.
#include <immintrin.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint64_t* p, size_t n) {  // n % 16 == 0
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += 16) {
    a0 = _mm256_add_epi64(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    a2 = _mm256_add_epi64(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    a3 = _mm256_add_epi64(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  alignas(32) uint64_t t[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(t), _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
  return t[0] + t[1] + t[2] + t[3];
}
static uint64_t sum_words(const uint64_t* p, size_t n) {
  if (__builtin_cpu_supports("avx2")) return sum_avx2(p, n);
  uint64_t s = 0;
  for (size_t i = 0; i < n; ++i) s += p[i];
  return s;
}
int main(int argc, char** argv) {
  const int T = argc > 1 ? atoi(argv[1]) : 1;
  const size_t n = (size_t(1) << 30) / 8, chunks = n / 16;
  std::vector<uint64_t> buf(n);
  for (size_t i = 0; i < n; ++i) buf[i] = i;
  std::vector<uint64_t> part(T);
  double best = 0;
  for (int rep = 0; rep < 9; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> th;
    for (int t = 0; t < T; ++t)
      th.emplace_back([&, t] {
        const size_t b = chunks * t / T * 16, e = chunks * (t + 1) / T * 16;
        part[t] = sum_words(buf.data() + b, e - b);
      });
    for (auto& x : th) x.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (n * 8 / s > best) best = n * 8 / s;
  }
  uint64_t chk = 0;
  for (uint64_t v : part) chk += v;
  printf("%.3f %llu\n", best / 1e9, (unsigned long long)(chk & 1));
}
CPPEOF
"$CXX" -O2 -pthread "$TMP/membw.cpp" -o "$TMP/membw"

# --- LongCat: FFN experts per token (zero experts cost nothing)
if has lc; then
  echo "shaped: moecat run --stats on $LC" >&2
  "$MOECAT_BIN" run -m "$LC" -p "The quick brown fox jumps over the lazy dog, then rests in the shade." \
    -n 64 -t 2 --temp 0 --seed 1 --stats >/dev/null 2>"$TMP/lc_stats.txt" ||
    { cat "$TMP/lc_stats.txt" >&2; echo "shaped: moecat run failed" >&2; exit 1; }
fi

# --- bandwidth and speed, ROUNDS times
cut -d' ' -f1-3 /proc/loadavg >"$TMP/load_start"
for r in $(seq 1 "$ROUNDS"); do
  for t in $THREADS; do
    echo "shaped: round $r: read bandwidth, $t thread(s)" >&2
    "$TMP/membw" "$t" | awk '{print $1}' >"$TMP/bw_t${t}_r$r"
    for m in $KEYS; do
      f="$(file_of "$m")"
      echo "shaped: round $r: moecat bench $(basename "$f") -t $t" >&2
      "$MOECAT_BIN" bench -m "$f" -p "$P" -n "$N" -r "$REPS" -t "$t" --json >"$TMP/moecat_${m}_t${t}_r$r.json"
      if [[ $LLAMA -eq 1 && $m != lc ]]; then
        echo "shaped: round $r: llama-bench $(basename "$f") -t $t" >&2
        "$LLAMA_BENCH" -m "$f" -p "$P" -n "$N" -t "$t" -r "$REPS" -o json >"$TMP/llama_${m}_t${t}_r$r.json" 2>"$TMP/llama.err" ||
          { cat "$TMP/llama.err" >&2; echo "shaped: llama-bench failed" >&2; exit 1; }
      fi
    done
  done
done
cut -d' ' -f1-3 /proc/loadavg >"$TMP/load_end"

# shellcheck disable=SC2086  # THREADS is a word list on purpose
"$PY" - "$TMP" "$REPO" "$DS" "$LC" "$P" "$N" "$EXPERTS" "$ZERO" "$LLAMA" "$ROUNDS" "$OSS" "$OSS_LAYERS" "$KEYS" $THREADS <<'PYEOF'
import json, os, re, sys
tmp, repo, ds_file, lc_file = sys.argv[1:5]
p, n, E, Z, llama, R = (int(x) for x in sys.argv[5:11])
oss_file, L_oss, keys = sys.argv[11], int(sys.argv[12]), sys.argv[13].split()
threads = sys.argv[14:]
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(repo, "bench"))
import make_shaped_gguf as g  # the dims the files were made with

Q8, F32, MX = 34.0 / 32.0, 4.0, 17.0 / 32.0

def attn(d):
    H, nh, qr, kvr, dn, dr, dv = (d[k] for k in ("hidden", "heads", "q_lora", "kv_lora", "nope", "rope", "v"))
    return Q8 * (H * qr + qr * nh * (dn + dr) + H * (kvr + dr) + nh * kvr * dn + nh * dv * kvr + nh * dv * H) \
        + F32 * (2 * H + qr + kvr)

def head(d):
    return Q8 * (d["vocab"] * d["hidden"] + d["hidden"]) + F32 * d["hidden"]

def dense(d):
    return Q8 * 3 * d["hidden"] * d["ffn"]

def expert(d):
    return Q8 * 3 * d["hidden"] * d["expert_ffn"]

def router(d, n_out):
    return F32 * (n_out * d["hidden"] + n_out)

def oss_attn(d):  # q, k, v, o (q8_0) + q/k/v/o biases, sinks, attn_norm, post_attention_norm (f32)
    H, q, kv = d["hidden"], d["heads"] * d["head_dim"], d["heads_kv"] * d["head_dim"]
    return Q8 * (2 * H * q + 2 * H * kv) + F32 * (q + 2 * kv + H + d["heads"] + 2 * H)

def oss_expert(d):  # gate, up, down in MXFP4 + their f32 bias rows
    H, F = d["hidden"], d["expert_ffn"]
    return MX * 3 * H * F + F32 * (2 * F + H)

ds, lc, oss = g.DEEPSEEK_V3, g.LONGCAT_FLASH, g.GPT_OSS_20B
E_oss = oss["experts"]
L_ds, L_dense = 2, 1
nbytes, tensors, names, files = {}, {}, {}, {}
notes = []
def file_tensor_bytes(ts):
    return sum((t.nbytes + 31) // 32 * 32 for t in ts)
# Consistency check per model: the same formulas with every expert counted must give the file's
# tensor bytes.
checks = []
if "ds" in keys:
    nbytes["ds"] = head(ds) + L_ds * attn(ds) + L_dense * dense(ds) + \
        (L_ds - L_dense) * (router(ds, E) + (ds["topk"] + ds["shared"]) * expert(ds))
    ds_all = head(ds) - Q8 * ds["hidden"] + Q8 * ds["vocab"] * ds["hidden"] + L_ds * attn(ds) + dense(ds) + \
        router(ds, E) + (E + ds["shared"]) * expert(ds)
    checks.append(("deepseek2", ds_all, g.deepseek2_tensors(ds, L_ds, L_dense, E)))
    names["ds"], files["ds"] = "deepseek2", ds_file
    notes.append("deepseek2 %.3f GB" % (nbytes["ds"] / 1e9))
if "lc" in keys:
    stats = open(os.path.join(tmp, "lc_stats.txt")).read()
    m = re.search(r"experts: ([0-9.]+) FFN experts computed per token", stats)
    if not m:
        sys.exit("shaped: no 'experts:' line in moecat run --stats output:\n" + stats)
    k_ffn = float(m.group(1))
    k_uniform = lc["topk"] * E / (E + Z)
    nbytes["lc"] = head(lc) + 2 * attn(lc) + 2 * dense(lc) + router(lc, E + Z) + k_ffn * expert(lc)
    lc_all = head(lc) - Q8 * lc["hidden"] + Q8 * lc["vocab"] * lc["hidden"] + 2 * attn(lc) + 2 * dense(lc) + \
        router(lc, E + Z) + E * expert(lc)
    checks.append(("longcat_flash", lc_all, g.longcat_tensors(lc, 1, E, Z)))
    names["lc"], files["lc"] = "longcat_flash", lc_file
    notes.append("longcat_flash %.3f GB (k_ffn %.2f FFN experts/token measured; k*E/(E+Z) = %.2f)"
                 % (nbytes["lc"] / 1e9, k_ffn, k_uniform))
if "oss" in keys:
    nbytes["oss"] = head(oss) + L_oss * (oss_attn(oss) + router(oss, E_oss) + oss["topk"] * oss_expert(oss))
    oss_all = head(oss) - Q8 * oss["hidden"] + Q8 * oss["vocab"] * oss["hidden"] + \
        L_oss * (oss_attn(oss) + router(oss, E_oss) + E_oss * oss_expert(oss))
    checks.append(("gpt-oss", oss_all, g.gpt_oss_tensors(oss, L_oss, E_oss)))
    names["oss"], files["oss"] = "gpt-oss", oss_file
    notes.append("gpt-oss %.3f GB (%d layers: head %.3f + %d x (attn %.4f + router %.4f + 4 x expert %.4f))" % (
        nbytes["oss"] / 1e9, L_oss, head(oss) / 1e9, L_oss, oss_attn(oss) / 1e9, router(oss, E_oss) / 1e9,
        oss_expert(oss) / 1e9))
for name, formula, ts in checks:
    actual = file_tensor_bytes(ts)
    if abs(formula - actual) > 64 * len(ts):
        sys.exit("shaped: byte formula for %s gives %d for the whole file, tensors hold %d" % (name, formula, actual))

def load(path):
    with open(path) as f:
        return json.load(f)

def rounds_of(fmt, **kw):
    return [fmt.format(r=r, **kw) for r in range(1, R + 1)]

def moecat_tps(key, t, test):
    vals = []
    for path in rounds_of("moecat_{key}_t{t}_r{r}.json", key=key, t=t):
        rows = [x for x in load(os.path.join(tmp, path)) if x["test"] == test]
        if not rows:
            sys.exit("shaped: moecat bench printed no %s result in %s" % (test, path))
        vals.append(float(rows[0]["tps"]))
    return vals

def llama_tps(key, t, test):
    vals = []
    for path in rounds_of("llama_{key}_t{t}_r{r}.json", key=key, t=t):
        rows = [x for x in load(os.path.join(tmp, path))
                if ("pp%d" % x["n_prompt"] if x["n_gen"] == 0 else "tg%d" % x["n_gen"]) == test]
        if not rows:
            sys.exit("shaped: llama-bench printed no %s result in %s" % (test, path))
        vals.append(float(rows[0]["avg_ts"]))
    return vals

def fmt(vals):  # best round, and the range when there are several
    if len(vals) == 1:
        return "%.2f" % vals[0]
    return "%.2f (%.1f-%.1f)" % (max(vals), min(vals), max(vals))

print("load average (1/5/15 min) at start: %s; at end: %s" % (
    open(os.path.join(tmp, "load_start")).read().strip(), open(os.path.join(tmp, "load_end")).read().strip()))
print("weight bytes per generated token: " + "; ".join(notes))
print("t/s: best of %d round(s)%s; GB/s = GB/token x best tg t/s; 'of bw' = per round, that round's tg GB/s"
      " / its read GB/s (median%s)" % (R, " [range]" if R > 1 else "", " [range]" if R > 1 else ""))
cols = "%-14s %2s %-20s %-20s %-20s %-20s %5s %5s %6s %-20s %-16s"

def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else 0.5 * (v[len(v) // 2 - 1] + v[len(v) // 2])

def frac(nb, tg, bw):  # per-round fraction of the bandwidth measured in that round
    f = [100 * nb * x / 1e9 / b for x, b in zip(tg, bw)]
    return "%.0f%%" % median(f) if len(f) == 1 else "%.0f%% [%.0f-%.0f]" % (median(f), min(f), max(f))

print(cols % ("model", "t", "moecat pp", "moecat tg", "llama.cpp pp", "llama.cpp tg", "pp x", "tg x",
              "GB/s", "read GB/s", "of bw"))
per_round = []
for t in threads:
    bw_all = [float(open(os.path.join(tmp, f)).read()) for f in rounds_of("bw_t{t}_r{r}", t=t)]
    row = {"bw": bw_all}
    for key in keys:
        name, nb = names[key], nbytes[key]
        pp, tg = moecat_tps(key, t, "pp%d" % p), moecat_tps(key, t, "tg%d" % n)
        row[key] = tg
        lpp = ltg = None
        if key != "lc" and llama:
            lpp, ltg = llama_tps(key, t, "pp%d" % p), llama_tps(key, t, "tg%d" % n)
            row["llama_" + key] = ltg
        print(cols % (name, t, fmt(pp), fmt(tg), fmt(lpp) if lpp else "-", fmt(ltg) if ltg else "-",
                      "%.2f" % (max(pp) / max(lpp)) if lpp else "-", "%.2f" % (max(tg) / max(ltg)) if ltg else "-",
                      "%.1f" % (nb * max(tg) / 1e9), fmt(bw_all), frac(nb, tg, bw_all)))
        if ltg:
            print(cols % ("  llama.cpp", t, "", "", "", "", "", "", "%.1f" % (nb * max(ltg) / 1e9), "",
                          frac(nb, ltg, bw_all)))
    per_round.append((t, row))
if R > 1:
    cols_r = ["moecat tg " + names[k] for k in keys] + ["llama.cpp tg " + names[k] for k in keys if k != "lc" and llama]
    print("per round: t, round, read GB/s, " + ", ".join(cols_r))
    for t, row in per_round:
        for i in range(R):
            vals = ["%7.2f" % row[k][i] for k in keys] + \
                ["%7.2f" % row["llama_" + k][i] for k in keys if "llama_" + k in row]
            print("  t=%s r%d  %6.1f  %s" % (t, i + 1, row["bw"][i], " ".join(vals)))
print("memory (moecat bench, round 1): peak RSS = mapped file pages + anonymous; tensor bytes; file size")
for t in threads:
    for key in keys:
        x = load(os.path.join(tmp, "moecat_%s_t%s_r1.json" % (key, t)))[-1]
        print("  %-14s t=%s  peak RSS %.2f GiB = %.2f GiB + %.1f MiB;  tensors %.2f GiB, file %.2f GiB" % (
            names[key], t, x["peak_rss"] / 2**30, x["rss_file"] / 2**30, x["rss_anon"] / 2**20, x["size"] / 2**30,
            os.path.getsize(files[key]) / 2**30))
PYEOF
