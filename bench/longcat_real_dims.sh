#!/usr/bin/env bash
# LongCat at real dimensions, end to end (issue #12 point 4): makes (once) two GGUFs with random
# weights in .cache/bench/ with bench/make_shaped_gguf.py --type q4_k (Q4_K where rows hold whole
# 256-value super-blocks, q8_0 for attn_k_b (rows of 128), f32 norms / router / bias):
#   LongCat-Flash-Lite: every real dimension (hidden 3072, 32 heads, q_lora 1536, kv_lora 512,
#     dense FFN 6144, 256 routed experts of 1024 + 128 zero experts, top-12, vocab 131072) and the
#     real n-gram embedding (12 tables of 10,223,617 + 2i rows x 256 = 31.4B parameters, 17.7 GB
#     in Q4_K) with --lite-layers of its 14 layers (default 2)
#   LongCat-Flash: every real dimension (hidden 6144, 64 heads, dense FFN 12288, 512 routed experts
#     of 2048 + 256 zero experts, top-12, vocab 131072) with --flash-layers of its 28 (default 1)
# (~21 GB + ~12 GB; written directly in Q4_K, in 64 MiB chunks, deterministic from --seed), then
# per file: drops the file's pages from the page cache (posix_fadvise DONTNEED, this file only),
# runs `moecat bench --membw` (load time from disk, peak RSS, pp / tg tokens/s, bytes read per
# generated token from the real routing, read bandwidth in the same run), runs it again with the
# pages as the first run left them (warm load), and prints the figures and an extrapolation to
# the full models (real layer counts) for Q4_K and q8_0: RAM, bytes per token, t/s per GB/s of
# read bandwidth. The raw JSON of each run is kept in .cache/bench/longcat_real_dims.run/.
#
# Usage: bench/longcat_real_dims.sh [--lite-layers 2] [--flash-layers 1] [-p 64] [-n 16] [-r 2]
#                                   [-t 2] [--models "lite flash"] [--seed 1] [--force] [--no-warm]
# Env: MOECAT_BIN (default $REPO/build/moecat), MOECAT_PYTHON (default /usr/bin/python3)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LITE_L=2
FLASH_L=1
P=64
N=16
REPS=2
THREADS=2
MODELS="lite flash"
SEED=1
FORCE=0
WARM=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --lite-layers) LITE_L="$2"; shift 2 ;;
    --flash-layers) FLASH_L="$2"; shift 2 ;;
    -p) P="$2"; shift 2 ;;
    -n) N="$2"; shift 2 ;;
    -r) REPS="$2"; shift 2 ;;
    -t) THREADS="$2"; shift 2 ;;
    --models) MODELS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --force) FORCE=1; shift ;;
    --no-warm) WARM=0; shift ;;
    -h | --help) sed -n 2,21p "$0"; exit 0 ;;
    *) echo "longcat_real_dims: unknown argument $1" >&2; exit 2 ;;
  esac
done
MOECAT_BIN="${MOECAT_BIN:-$REPO/build/moecat}"
PY="${MOECAT_PYTHON:-/usr/bin/python3}"
OUT="$REPO/.cache/bench"
LITE="$OUT/longcat-flash-lite-real-${LITE_L}l-q4_k.gguf"
FLASH="$OUT/longcat-flash-real-${FLASH_L}l-q4_k.gguf"
[[ -x "$MOECAT_BIN" ]] || { echo "longcat_real_dims: moecat not found at $MOECAT_BIN (set MOECAT_BIN)" >&2; exit 1; }
"$PY" -c 'import numpy' 2>/dev/null || { echo "longcat_real_dims: $PY lacks numpy" >&2; exit 1; }
for m in $MODELS; do
  [[ $m == lite || $m == flash ]] || { echo "longcat_real_dims: --models takes lite and/or flash" >&2; exit 2; }
done
mkdir -p "$OUT"

make_model() {  # key file layers
  local key="$1" file="$2" layers="$3" arch experts zero need_gb
  if [[ -f "$file" && $FORCE -eq 0 ]]; then
    echo "longcat_real_dims: using $file" >&2
    return
  fi
  if [[ $key == lite ]]; then
    arch=longcat_flash_ngram experts=256 zero=128 need_gb=$((19 + 2 * layers))
  else
    arch=longcat_flash experts=512 zero=256 need_gb=$((2 + 11 * layers))
  fi
  local avail_kb
  avail_kb="$(df -Pk "$OUT" | awk 'NR==2{print $4}')"
  if [[ "$avail_kb" -lt $(((need_gb + 3) * 1024 * 1024)) ]]; then
    echo "longcat_real_dims: need ~$need_gb GB (+3) free in $OUT for $file, have $((avail_kb / 1024)) MB" >&2
    exit 1
  fi
  rm -f "$file.tmp"
  "$PY" "$REPO/bench/make_shaped_gguf.py" "$arch" "$file" --experts "$experts" --zero-experts "$zero" \
    --layers "$layers" --type q4_k --seed "$SEED" >/dev/null
}
for m in $MODELS; do
  if [[ $m == lite ]]; then make_model lite "$LITE" "$LITE_L"; else make_model flash "$FLASH" "$FLASH_L"; fi
done

TMP="$OUT/longcat_real_dims.run"  # the raw `moecat bench --json` output stays here
rm -rf "$TMP"
mkdir -p "$TMP"
evict() {  # drop this file's pages from the page cache (no other file is touched)
  "$PY" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)' "$1"
}
cut -d' ' -f1-3 /proc/loadavg >"$TMP/load_start"
date -u +%Y-%m-%dT%H:%M:%SZ >"$TMP/date"
for m in $MODELS; do
  f="$LITE"
  [[ $m == flash ]] && f="$FLASH"
  evict "$f"
  echo "longcat_real_dims: moecat bench $(basename "$f") (cold page cache)" >&2
  "$MOECAT_BIN" bench -m "$f" -p "$P" -n "$N" -r "$REPS" -t "$THREADS" --membw --json >"$TMP/${m}_cold.json"
  if [[ $WARM -eq 1 ]]; then
    echo "longcat_real_dims: moecat bench $(basename "$f") (pages as the first run left them)" >&2
    "$MOECAT_BIN" bench -m "$f" -p "$P" -n "$N" -r "$REPS" -t "$THREADS" --membw --json >"$TMP/${m}_warm.json"
  fi
done
cut -d' ' -f1-3 /proc/loadavg >"$TMP/load_end"

"$PY" - "$TMP" "$REPO" "$LITE" "$FLASH" "$LITE_L" "$FLASH_L" "$MODELS" "$WARM" "$P" "$N" <<'PYEOF'
import json, os, sys
tmp, repo, lite_file, flash_file = sys.argv[1:5]
L_lite, L_flash = int(sys.argv[5]), int(sys.argv[6])
models, warm, P, N = sys.argv[7].split(), int(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10])
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(repo, "bench"))
import make_shaped_gguf as g

REAL = {"lite": dict(d=g.LONGCAT_FLASH_LITE, E=256, Z=128, L=14, name="LongCat-Flash-Lite"),
        "flash": dict(d=g.LONGCAT_FLASH, E=512, Z=256, L=28, name="LongCat-Flash")}

def tensors(key, L, qtype):
    r = REAL[key]
    ts = (g.longcat_ngram_tensors if key == "lite" else g.longcat_tensors)(r["d"], L, r["E"], r["Z"])
    if qtype == "q4_k":
        for t in ts:
            t.to_q4k()
    return ts

def split(key, L, qtype):
    """Bytes by role, as moecat's bench counts them (bench_util.cpp token_weight_bytes):
    non-layer tensors (token_embd and n-gram tables: one row per token), per layer the tensors
    read whole and one routed expert (gate + up + down)."""
    ts = tensors(key, L, qtype)
    E = REAL[key]["E"]
    out = dict(total=0, tables=0, glob_token=0, layer_fixed=0, expert_one=0, glob_all=0, layer_all=0)
    for t in ts:
        nb = g.align(t.nbytes)
        out["total"] += nb
        if t.name.startswith("blk."):
            out["layer_all"] += nb / L
            if "_exps." in t.name:
                out["expert_one"] += t.nbytes / E / L
            else:
                out["layer_fixed"] += t.nbytes / L
        else:
            out["glob_all"] += nb
            if t.name.startswith("token_embd_ngram."):
                out["tables"] += nb
                out["glob_token"] += t.nbytes / t.shape[0]
            elif t.name == "token_embd.weight":
                out["glob_token"] += t.nbytes / t.shape[0]
            else:
                out["glob_token"] += t.nbytes
    return out

def per_token(s, L, k):
    return s["glob_token"] + L * (s["layer_fixed"] + k * s["expert_one"])

def load(path):
    with open(path) as f:
        return json.load(f)

GB, GiB = 1e9, 2.0 ** 30
print("date %s; load average (1/5/15 min) at start %s, at end %s" % (
    open(os.path.join(tmp, "date")).read().strip(), open(os.path.join(tmp, "load_start")).read().strip(),
    open(os.path.join(tmp, "load_end")).read().strip()))
rows = {}
for key in models:
    f = lite_file if key == "lite" else flash_file
    L = L_lite if key == "lite" else L_flash
    runs = [("cold", load(os.path.join(tmp, key + "_cold.json")))]
    if warm:
        runs.append(("warm", load(os.path.join(tmp, key + "_warm.json"))))
    s = split(key, L, "q4_k")
    fsize = os.path.getsize(f)
    print("\n== %s-shaped, %d of %d layers, Q4_K mix: %s" % (REAL[key]["name"], L, REAL[key]["L"], os.path.basename(f)))
    print("file %.3f GB (%.2f GiB); tensors: %.3f GB outside the layers (n-gram tables %.3f GB), %.3f GB per layer"
          % (fsize / GB, fsize / GiB, s["glob_all"] / GB, s["tables"] / GB, s["layer_all"] / GB))
    for tag, js in runs:
        pp = [x for x in js if x["test"] == "pp%d" % P][0]
        tg = [x for x in js if x["test"] == "tg%d" % N][0]
        k = tg["experts_per_token_layer"]
        formula = per_token(s, L, k)
        bw = tg["membw_gbs"]
        print("[%s] load %.1f s; peak RSS %.2f GiB (file pages %.2f GiB + anonymous %.2f GiB) = %.1f %% of the file"
              % (tag, tg["load_s"], tg["peak_rss"] / GiB, tg["rss_file"] / GiB, tg["rss_anon"] / GiB,
                 100.0 * tg["peak_rss"] / fsize))
        print("[%s] t=%d: pp%d %.2f ± %.2f t/s; tg%d %.2f ± %.2f t/s; read bandwidth %.1f GB/s (same run)"
              % (tag, tg["n_threads"], P, pp["avg_ts"], pp["stddev_ts"], N, tg["avg_ts"], tg["stddev_ts"], bw))
        print("[%s] bytes read per generated token: %.4f GB weights (%.2f FFN experts per token-layer from the "
              "routing; formula %.4f GB) + %.2f kB KV; tg = %.1f %% of the bandwidth roofline (%.2f t/s)"
              % (tag, tg["weight_bytes_per_token"] / GB, k, formula / GB, tg["kv_bytes_per_token"] / 1e3,
                 100.0 * tg["roofline_frac"], tg["roofline_ts"]))
        if abs(formula - tg["weight_bytes_per_token"]) > 1e-3 * formula:
            print("WARNING: moecat's bytes per token differ from the tensor formula by more than 0.1 %")
    rows[key] = dict(k=k, frac=tg["roofline_frac"], bw=bw, rss_anon=runs[0][1][-1]["rss_anon"],
                     anon_pred=s["total"] - s["tables"])
    print("anonymous memory %.3f GB vs. all tensors but the n-gram tables %.3f GB (repacked at load)"
          % (rows[key]["rss_anon"] / GB, rows[key]["anon_pred"] / GB))

print("\n== what a full model needs (real layer counts; bytes from the tensor list, k = FFN experts per"
      " token-layer measured above; t/s per GB/s = 1 / GB per token; 'at this bw' = the read bandwidth"
      " measured above x the fraction of it the run above reached)")
print("| model | type | file GB | RAM GB (resident) | n-gram tables GB (mmapped, rows on demand) | GB / layer |"
      " GB read / token | t/s per GB/s | t/s at this bw | KV MB / 1k tokens |")
print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
for key in models:
    r = REAL[key]
    for qtype in ("q4_k", "q8_0"):
        s = split(key, r["L"], qtype)
        bpt = per_token(s, r["L"], rows[key]["k"])
        kv = 2 * r["L"] * (r["d"]["kv_lora"] + r["d"]["rope"]) * 2 * 1000 / 1e6  # f16 latent + rope, 2 MLA
        print("| %s | %s | %.1f | %.1f | %.1f | %.3f | %.3f | %.3f | %.2f | %.1f |" % (
            r["name"], "Q4_K mix" if qtype == "q4_k" else "q8_0", s["total"] / GB, (s["total"] - s["tables"]) / GB,
            s["tables"] / GB, s["layer_all"] / GB, bpt / GB, GB / bpt, rows[key]["bw"] * rows[key]["frac"] * GB / bpt,
            kv))
PYEOF
