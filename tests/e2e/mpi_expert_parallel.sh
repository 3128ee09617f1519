#!/usr/bin/env bash
# Expert parallelism over Open MPI (model/expert_parallel.h, runtime/mpi_expert_parallel.cpp):
# `mpirun -np N moecat logprobs|run|bench` on loopback (--oversubscribe: more ranks than cores).
#   * log-probs with 2 and 4 ranks equal the single-process ones (f32 random models, HF folder
#     and GGUF, LongCat-Flash / DeepSeek-V3 / gpt-oss / Qwen3-MoE: max |dlog p| <= 1e-5);
#   * greedy `run` prints the same text with 2 ranks as with one, and only once (rank 0);
#   * `bench` runs under mpirun; `--trace` writes a Chrome trace per rank; the overlapped combine
#     gives the same bits as one waited for where it starts;
#   * failures end the job within a bounded time with a message: a rank that cannot load its
#     model (MPMD: another path on rank 1), a rank killed mid-run (SIGKILL), a stalled rank
#     (SIGSTOP: rank 0's combine times out after MOECAT_MPI_TIMEOUT = 10 seconds).
# Skips (exit 0 with a message) only when this build has no MPI (MOECAT_MPI off / no MPI found).
set -euo pipefail
BUILD="${MOECAT_BUILD_DIR:?set MOECAT_BUILD_DIR}"
SRC="${MOECAT_SOURCE_DIR:?set MOECAT_SOURCE_DIR}"
BIN="${MOECAT_BIN:?set MOECAT_BIN}"
PY="${MOECAT_PYTHON:-/usr/bin/python3}"
die() { echo "e2e mpi_expert_parallel: FAIL: $*" >&2; exit 1; }

if ! grep -q '^MOECAT_MPI_BUILT:INTERNAL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
  echo "SKIP: this build has no MPI (configure found no MPI or MOECAT_MPI=OFF; apt-get install openmpi-bin libopenmpi-dev)"
  exit 0
fi
command -v mpirun >/dev/null || die "moecat was built with MPI but mpirun is not on PATH (apt-get install openmpi-bin)"

WORK="$BUILD/e2e/mpi_expert_parallel"
rm -rf "$WORK"
mkdir -p "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
MPIRUN=(mpirun --oversubscribe --allow-run-as-root --bind-to none -x MOECAT_MPI_TIMEOUT -x OMPI_MCA_btl_vader_single_copy_mechanism)
export OMPI_MCA_btl_vader_single_copy_mechanism=none  # containers without CMA / ptrace rights
export MOECAT_MPI_TIMEOUT="${MOECAT_MPI_TIMEOUT:-120}"
TOKENS="1 5 9 14 2 33 7 21 8 3 40 11 6 19 27 4"

make_model() {  # make_model KIND DIR
  case "$1" in
    longcat_flash) "$PY" "$SRC/tools/longcat_test_model.py" "$2" >/dev/null ;;
    longcat_flash_lite) "$PY" "$SRC/tools/longcat_lite_test_model.py" "$2" >/dev/null ;;
    *) "$PY" "$SRC/tools/make_test_model.py" "$1" "$2" --dtype f32 >/dev/null ;;
  esac
}

maxdiff() {  # maxdiff A.json B.json: largest |dlog p|
  "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["tokens"] == b["tokens"], "token lists differ"
la, lb = a["logprobs"], b["logprobs"]
assert len(la) == len(lb), "row counts differ"
m = 0.0
for ra, rb in zip(la, lb):
    assert len(ra) == len(rb), "row widths differ"
    m = max(m, max(abs(x - y) for x, y in zip(ra, rb)))
print("%.3g" % m)
PYEOF
}

check_model() {  # check_model KIND gguf|hf
  local kind="$1" fmt="$2" d="$WORK/$1" m
  [ -d "$d" ] || make_model "$kind" "$d"
  m="$d"
  if [ "$fmt" = gguf ]; then
    m="$d.gguf"
    [ -f "$m" ] || "$BIN" convert "$d" -o "$m" --type f32 2>/dev/null
  fi
  "$BIN" logprobs -m "$m" --tokens "$TOKENS" -t 1 >"$WORK/$kind.$fmt.1.json"
  for n in 2 4; do
    "${MPIRUN[@]}" -np "$n" "$BIN" logprobs -m "$m" --tokens "$TOKENS" -t 1 >"$WORK/$kind.$fmt.$n.json" \
      2>"$WORK/$kind.$fmt.$n.err" || { cat "$WORK/$kind.$fmt.$n.err"; die "$kind $fmt: mpirun -np $n failed"; }
    local d1
    d1=$(maxdiff "$WORK/$kind.$fmt.1.json" "$WORK/$kind.$fmt.$n.json")
    "$PY" -c "import sys; sys.exit(0 if float('$d1') <= 1e-5 else 1)" ||
      die "$kind $fmt: $n ranks differ from one process by $d1 (bound 1e-5)"
    echo "$kind $fmt: $n ranks vs 1 process: max |dlog p| = $d1 (bound 1e-5)"
  done
}

check_model longcat_flash hf
check_model longcat_flash gguf
check_model deepseek_v3 gguf
check_model gpt_oss hf
check_model qwen3moe gguf

# Greedy generation: same text, printed once.
M="$WORK/qwen3moe.gguf"
"$BIN" run -m "$M" -p "hello world" -n 12 --temp 0 -t 1 >"$WORK/run.1.txt" 2>/dev/null
"${MPIRUN[@]}" -np 2 "$BIN" run -m "$M" -p "hello world" -n 12 --temp 0 -t 1 >"$WORK/run.2.txt" 2>"$WORK/run.2.err" ||
  { cat "$WORK/run.2.err"; die "run under mpirun failed"; }
cmp -s "$WORK/run.1.txt" "$WORK/run.2.txt" || { diff "$WORK/run.1.txt" "$WORK/run.2.txt" || true; die "run: 2 ranks print other text than 1 process"; }
echo "run: 2 ranks print the single-process text once ($(wc -c <"$WORK/run.2.txt") bytes)"
# Seeded sampling (one seed for all ranks) and a chat message on stdin (only rank 0 has it).
"$BIN" run -m "$M" -p "hello world" -n 12 --temp 0.9 --seed 7 -t 1 >"$WORK/seed.1.txt" 2>/dev/null
"${MPIRUN[@]}" -np 2 "$BIN" run -m "$M" -p "hello world" -n 12 --temp 0.9 --seed 7 -t 1 >"$WORK/seed.2.txt" 2>/dev/null
cmp -s "$WORK/seed.1.txt" "$WORK/seed.2.txt" || die "run --seed 7: 2 ranks print other text than 1 process"
echo "where is my order" | "$BIN" run -m "$M" -n 8 --temp 0 -t 1 >"$WORK/chat.1.txt" 2>/dev/null
echo "where is my order" | timeout 120 "${MPIRUN[@]}" -np 2 "$BIN" run -m "$M" -n 8 --temp 0 -t 1 >"$WORK/chat.2.txt" 2>"$WORK/chat.2.err" ||
  { cat "$WORK/chat.2.err"; die "chat from stdin under mpirun failed"; }
cmp -s "$WORK/chat.1.txt" "$WORK/chat.2.txt" || die "chat from stdin: 2 ranks answer otherwise than 1 process"
echo "run: seeded sampling and a chat message on stdin give the single-process text"

"${MPIRUN[@]}" -np 2 "$BIN" bench -m "$WORK/longcat_flash.gguf" -p 16 -n 8 -r 1 -t 1 >"$WORK/bench.txt" 2>"$WORK/bench.err" ||
  { cat "$WORK/bench.err"; die "bench under mpirun failed"; }
grep -q "tg8" "$WORK/bench.txt" || { cat "$WORK/bench.txt"; die "bench printed no tg8 line"; }
echo "bench: ok under 2 ranks"

# --trace: one Chrome trace per rank with the combine on it; waiting for each combine where it
# starts (MOECAT_MPI_NO_OVERLAP=1) computes the same bits as overlapping it with the dense path.
L="$WORK/longcat_flash.gguf"
"${MPIRUN[@]}" -np 2 "$BIN" logprobs -m "$L" --tokens "$TOKENS" -t 1 --trace "$WORK/trace.json" >"$WORK/ov.json" 2>/dev/null
MOECAT_MPI_NO_OVERLAP=1 "${MPIRUN[@]}" -x MOECAT_MPI_NO_OVERLAP -np 2 "$BIN" logprobs -m "$L" --tokens "$TOKENS" -t 1 \
  >"$WORK/noov.json" 2>/dev/null
cmp -s "$WORK/ov.json" "$WORK/noov.json" || die "overlapped and non-overlapped combines give different log-probs"
for r in 0 1; do
  "$PY" - "$WORK/trace.rank$r.json" <<'PYEOF' || die "trace of rank $r is not a Chrome trace with the combine and the dense path"
import json, sys
ev = json.load(open(sys.argv[1]))["traceEvents"]
names = {e["name"] for e in ev if e.get("ph") == "X"}
need = {"MLA 1", "MLA 2", "dense MLP 1", "dense MLP 2", "combine wait", "combine (all-gather-v in flight)"}
sys.exit(0 if need <= names else 1)
PYEOF
done
echo "trace: rank 0 and 1 timelines written; overlapped = non-overlapped log-probs"

# A rank that cannot load its model: every rank stops, rank 0 names it.
rc=0
timeout 120 "${MPIRUN[@]}" -np 1 "$BIN" logprobs -m "$M" --tokens "1 2 3" -t 1 : \
  -np 1 "$BIN" logprobs -m "$WORK/no_such_model.gguf" --tokens "1 2 3" -t 1 >"$WORK/bad.out" 2>"$WORK/bad.err" || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat "$WORK/bad.err"; die "bad load on rank 1: exit $rc (want a clean failure, not 0 or a timeout)"; }
grep -q "rank 1 of 2" "$WORK/bad.err" && grep -q "no_such_model" "$WORK/bad.err" ||
  { cat "$WORK/bad.err"; die "bad load on rank 1: the message does not name rank 1 and the path"; }
echo "bad load on rank 1: refused ($(grep -m1 'rank 1 of 2' "$WORK/bad.err"))"

# A rank that dies or stalls mid-run: long enough runs, then SIGKILL / SIGSTOP rank 1.
# Each rank writes its pid first (exec keeps it), so only our own process is signalled.
fault() {  # fault TAG SIGNAL TIMEOUT_S MOECAT_MPI_TIMEOUT
  local tag="$1" sig="$2" lim="$3" t0 rc=0 waited=0
  rm -f "$WORK"/pid.*
  MOECAT_MPI_TIMEOUT="$4" timeout "$lim" "${MPIRUN[@]}" -np 2 bash -c \
    'echo $$ > '"$WORK"'/pid.$OMPI_COMM_WORLD_RANK; exec "$0" "$@"' \
    "$BIN" bench -m "$WORK/longcat_flash.gguf" -p 64 -n 2000 -r 50 -t 1 >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
  local job=$!
  PIDS+=("$job")
  while [ ! -s "$WORK/pid.1" ] && [ $waited -lt 60 ]; do sleep 0.5; waited=$((waited + 1)); done
  [ -s "$WORK/pid.1" ] || die "$tag: rank 1 never started"
  sleep 3
  t0=$(date +%s)
  kill "-$sig" "$(cat "$WORK/pid.1")" 2>/dev/null || true  # (gone already: the job ended on its own)
  PIDS+=("$(cat "$WORK/pid.1")")
  wait "$job" || rc=$?
  local dt=$(($(date +%s) - t0))
  [ "$sig" = STOP ] && kill -KILL "$(cat "$WORK/pid.1")" 2>/dev/null || true
  [ "$rc" -ne 0 ] || die "$tag: the job exited 0"
  [ "$rc" -ne 124 ] || { cat "$WORK/$tag.err"; die "$tag: the job hung (killed by timeout after $lim s)"; }
  echo "$tag: job ended with exit $rc after ${dt}s; $(grep -m1 -i 'rank\|abort\|signal' "$WORK/$tag.err" || echo '(no message)')"
}
fault killed KILL 120 120
grep -qi "signal\|killed\|exited" "$WORK/killed.err" || { cat "$WORK/killed.err"; die "killed: no message about the lost rank"; }
fault stalled STOP 120 10
grep -q "no answer from the other ranks" "$WORK/stalled.err" || { cat "$WORK/stalled.err"; die "stalled: rank 0 did not report the stalled peer"; }
echo "e2e mpi_expert_parallel: PASS"
