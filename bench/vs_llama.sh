#!/usr/bin/env bash
# moecat vs llama.cpp speed on the same GGUF: runs `moecat bench --json` and `llama-bench -o json`
# (built by bench/build_llama_bench.sh from the llama.cpp that node-llama-cpp ships) for each
# thread count, and prints tokens/s of both and the ratio moecat / llama.cpp per test.
# Writes nothing anywhere (figures go into docs/PERF.md by hand).
#
# Usage: bench/vs_llama.sh [-m MODEL.gguf] [-p 512] [-n 128] [-t "1 2"] [-r 3]
#   -m  model (default: .cache/bench/qwen3moe-bench-4l-q8_0.gguf, made by make_bench_model.sh)
#   -p  prompt tokens (pp test), -n generated tokens (tg test), -t thread counts (space-separated),
#   -r  llama-bench repetitions (its default is 5)
# Env: MOECAT_BIN (default $REPO/build/moecat), LLAMA_BENCH (default: build/find it with
#      bench/build_llama_bench.sh), MOECAT_PYTHON (default /usr/bin/python3).
# llama-bench runs with its defaults otherwise (what a llama.cpp user gets: F16 KV cache, flash
# attention "auto", mmap), CPU only.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="$REPO/.cache/bench/qwen3moe-bench-4l-q8_0.gguf"
P=512
N=128
THREADS="1 2"
REPS=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    -m) MODEL="$2"; shift 2 ;;
    -p) P="$2"; shift 2 ;;
    -n) N="$2"; shift 2 ;;
    -t) THREADS="$2"; shift 2 ;;
    -r) REPS="$2"; shift 2 ;;
    -h | --help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "vs_llama: unknown argument $1" >&2; exit 2 ;;
  esac
done
MOECAT_BIN="${MOECAT_BIN:-$REPO/build/moecat}"
PY="${MOECAT_PYTHON:-/usr/bin/python3}"
[[ -f "$MODEL" ]] || { echo "vs_llama: no model at $MODEL (run bench/make_bench_model.sh or pass -m)" >&2; exit 1; }
[[ -x "$MOECAT_BIN" ]] || { echo "vs_llama: moecat not found at $MOECAT_BIN (set MOECAT_BIN)" >&2; exit 1; }
if [[ -z "${LLAMA_BENCH:-}" ]]; then
  LLAMA_BENCH="$("$REPO/bench/build_llama_bench.sh" | tail -n 1)"
fi
[[ -x "$LLAMA_BENCH" ]] || { echo "vs_llama: llama-bench not found at $LLAMA_BENCH" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
for t in $THREADS; do
  echo "vs_llama: moecat bench -t $t" >&2
  "$MOECAT_BIN" bench -m "$MODEL" -p "$P" -n "$N" -t "$t" --json >"$TMP/moecat_t$t.json"
  echo "vs_llama: llama-bench -t $t" >&2
  "$LLAMA_BENCH" -m "$MODEL" -p "$P" -n "$N" -t "$t" -r "$REPS" -o json >"$TMP/llama_t$t.json" 2>"$TMP/llama_t$t.err" ||
    { cat "$TMP/llama_t$t.err" >&2; echo "vs_llama: llama-bench failed" >&2; exit 1; }
done

# shellcheck disable=SC2086  # THREADS is a word list on purpose
"$PY" - "$TMP" "$MODEL" "$P" "$N" $THREADS <<'PYEOF'
import json, os, sys
tmp, model, p, n, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]

def load(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("vs_llama: cannot parse %s output %s: %s" % (what, path, e))

rows = []
for t in threads:
    mo = load(os.path.join(tmp, "moecat_t%s.json" % t), "moecat bench --json")
    ll = load(os.path.join(tmp, "llama_t%s.json" % t), "llama-bench -o json")
    mo_tps = {}
    for r in mo:
        mo_tps[(r["test"], int(r["t"]))] = float(r["tps"])
    ll_tps = {}
    for r in ll:
        # llama-bench: a pp test has n_gen 0, a tg test n_prompt 0 (n_depth 0 here)
        test = "pp%d" % r["n_prompt"] if r["n_gen"] == 0 else "tg%d" % r["n_gen"]
        ll_tps[(test, int(r["n_threads"]))] = (float(r["avg_ts"]), float(r["stddev_ts"]))
    for test in ("pp%d" % p, "tg%d" % n):
        key = (test, int(t))
        if key not in mo_tps:
            sys.exit("vs_llama: moecat bench printed no %s result for -t %s" % (test, t))
        if key not in ll_tps:
            sys.exit("vs_llama: llama-bench printed no %s result for -t %s" % (test, t))
        m = mo_tps[key]
        l, lsd = ll_tps[key]
        rows.append((test, t, m, l, lsd, m / l if l > 0 else float("nan")))

print("model: %s" % model)
print("%-8s %3s %14s %22s %8s" % ("test", "t", "moecat t/s", "llama.cpp t/s", "ratio"))
for test, t, m, l, lsd, ratio in rows:
    print("%-8s %3s %14.2f %14.2f ± %5.2f %7.2fx" % (test, t, m, l, lsd, ratio))
PYEOF
