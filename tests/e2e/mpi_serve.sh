#!/usr/bin/env bash
# `mpirun -np N moecat serve` (serve/expert_parallel_serve.h): rank 0 serves HTTP and schedules,
# the other ranks replay its forwards with their share of the experts.
#   * the same concurrent mix of greedy requests (chat and text completions, some streamed,
#     prompts sharing a prefix so the prefix cache and batching both play) gets byte-identical
#     answers from the single-process server and from 2 and 4 ranks, on a random Qwen3-MoE (f32);
#     with --draft mtp on the shipped LongCat-Flash support model too (2 ranks);
#   * a rank stalled (SIGSTOP) while requests run: rank 0's combine times out after
#     MOECAT_MPI_TIMEOUT, the requests in flight and new ones get 503 (never a 200 with an error),
#     and the job ends; a rank killed (SIGKILL): mpirun signals rank 0, which answers 503 /
#     an error event while it stops; the job ends within a bounded time, no hang.
# Skips (exit 0 with a message) only when this build has no MPI.
set -euo pipefail
BUILD="${MOECAT_BUILD_DIR:?set MOECAT_BUILD_DIR}"
SRC="${MOECAT_SOURCE_DIR:?set MOECAT_SOURCE_DIR}"
BIN="${MOECAT_BIN:?set MOECAT_BIN}"
PY="${MOECAT_PYTHON:-/usr/bin/python3}"
die() { echo "e2e mpi_serve: FAIL: $*" >&2; exit 1; }

if ! grep -q '^MOECAT_MPI_BUILT:INTERNAL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
  echo "SKIP: this build has no MPI (configure found no MPI or MOECAT_MPI=OFF; apt-get install openmpi-bin libopenmpi-dev)"
  exit 0
fi
command -v mpirun >/dev/null || die "moecat was built with MPI but mpirun is not on PATH (apt-get install openmpi-bin)"
command -v curl >/dev/null || die "curl is needed"

WORK="$BUILD/e2e/mpi_serve"
rm -rf "$WORK"
mkdir -p "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
MPIRUN=(mpirun --oversubscribe --allow-run-as-root --bind-to none -x MOECAT_MPI_TIMEOUT -x OMPI_MCA_btl_vader_single_copy_mechanism)
export OMPI_MCA_btl_vader_single_copy_mechanism=none  # containers without CMA / ptrace rights
export MOECAT_MPI_TIMEOUT="${MOECAT_MPI_TIMEOUT:-120}"

M="$WORK/qwen3moe"
"$PY" "$SRC/tools/make_test_model.py" qwen3moe "$M" --dtype f32 >/dev/null
"$BIN" convert "$M" -o "$M.gguf" --type f32 2>/dev/null
M="$M.gguf"
SUPPORT="$SRC/models/moecat-support.gguf"

# start NAME CMD...: runs CMD (a server on $PORT) in the background, logs to $WORK/NAME.log and
# waits for /health (not in a subshell: PIDS must keep the pid).
start() {
  local name="$1"
  shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  LAST=$!
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return 0
    kill -0 "$LAST" 2>/dev/null || die "server $name exited: $(tail -5 "$WORK/$name.log")"
    sleep 0.2
  done
  die "server $name did not come up: $(tail -5 "$WORK/$name.log")"
}
stop_server() {  # stop_server PID: SIGTERM (mpirun passes it on), then wait
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
newport() { PORT=$("$PY" "$SRC/tests/e2e/lib/free_port.py"); }

# The request mix; prints one JSON line per request (content, finish reason, token counts).
cat >"$WORK/client.py" <<'PYEOF'
import json, sys, threading, urllib.request
port, kind = sys.argv[1], sys.argv[2]
sys_prompt = "You are a careful assistant. Answer briefly and politely. " * 3
reqs = []
for i, q in enumerate(["where is my order", "hello there", "what time is it", "tell me a story about a cat",
                       "ein deutscher Satz", "numbers 1 2 3 4 5"]):
    r = {"max_tokens": 24 + 4 * i, "temperature": 0, "ignore_eos": True}
    if kind == "support":
        r.pop("ignore_eos")
    if i % 2 == 0:
        r["messages"] = [{"role": "system", "content": sys_prompt}, {"role": "user", "content": q}]
        path = "/v1/chat/completions"
    else:
        r["prompt"] = sys_prompt + q
        path = "/v1/completions"
    r["stream"] = i % 3 == 1
    reqs.append((path, r))
out = [None] * len(reqs)
def call(i):
    path, r = reqs[i]
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(r).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as resp:
        raw = resp.read().decode()
    if not r["stream"]:
        b = json.loads(raw)
        c = b["choices"][0]
        text = c["message"]["content"] if "message" in c else c["text"]
        u = b["usage"]  # cached_tokens depends on arrival order (which prompt got prefilled first)
        out[i] = {"text": text, "finish": c["finish_reason"], "usage": [u["prompt_tokens"], u["completion_tokens"]]}
        return
    text, finish = "", None
    for line in raw.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        for c in json.loads(line[6:]).get("choices", []):
            text += (c.get("delta") or {}).get("content") or c.get("text") or ""
            finish = c.get("finish_reason") or finish
    out[i] = {"text": text, "finish": finish}
ts = [threading.Thread(target=call, args=(i,)) for i in range(len(reqs))]
for t in ts: t.start()
for t in ts: t.join()
for o in out:
    assert o is not None, "a request failed"
    print(json.dumps(o, ensure_ascii=False, sort_keys=True))
PYEOF

# compare NAME MODEL KIND NP [serve args]: NP ranks answer the mix exactly as one process does.
compare() {
  local name="$1" model="$2" kind="$3" np="$4"
  shift 4
  if [ ! -f "$WORK/$name.1.jsonl" ]; then
    newport
    start "$name.1" "$BIN" serve -m "$model" --port "$PORT" -t 1 -c 512 --np 4 "$@"
    "$PY" "$WORK/client.py" "$PORT" "$kind" >"$WORK/$name.1.jsonl" || die "$name: single-process requests failed"
    stop_server "$LAST"
  fi
  newport
  start "$name.$np" "${MPIRUN[@]}" -np "$np" "$BIN" serve -m "$model" --port "$PORT" -t 1 -c 512 --np 4 "$@"
  "$PY" "$WORK/client.py" "$PORT" "$kind" >"$WORK/$name.$np.jsonl" || die "$name: requests to $np ranks failed"
  stop_server "$LAST"
  cmp -s "$WORK/$name.1.jsonl" "$WORK/$name.$np.jsonl" ||
    { diff "$WORK/$name.1.jsonl" "$WORK/$name.$np.jsonl" || true; die "$name: $np ranks answer otherwise than one process"; }
  [ "$(grep -c 'listening on' "$WORK/$name.$np.log")" = 1 ] || die "$name: not exactly one rank listens"
  echo "$name: $np ranks give the single-process answers ($(wc -c <"$WORK/$name.1.jsonl") bytes of $(wc -l <"$WORK/$name.1.jsonl") answers)"
}
if [ -z "${MPI_SERVE_ONLY_FAULTS:-}" ]; then  # (set: skip to the failure cases, when debugging them)
  compare qwen3moe "$M" random 2
  compare qwen3moe "$M" random 4
  compare support_mtp "$SUPPORT" support 2 --draft mtp
fi

# A stalled or killed rank while serving: rank 0 must not hang. A non-streamed request still
# within its first 2 s (before any byte is sent: serve/completion.cpp send_when_done) and any
# request arriving while the server stops get 503; a request past that point has sent its 200
# and a chunked body already, which then breaks off (curl fails): never a complete 200.
fault() {  # fault TAG SIGNAL
  local tag="$1" sig="$2" waited=0
  rm -f "$WORK"/pid.*
  newport
  # A simulated 3 ms link per combine keeps the requests running long enough to be interrupted.
  MOECAT_MPI_TIMEOUT=8 MOECAT_MPI_SIM_LATENCY_US=3000 start "$tag" "${MPIRUN[@]}" -x MOECAT_MPI_SIM_LATENCY_US -np 2 bash -c \
    'echo $$ > '"$WORK"'/pid.$OMPI_COMM_WORLD_RANK; exec "$0" "$@"' \
    "$BIN" serve -m "$M" --port "$PORT" -t 1 -c 2048 --np 2
  local job=$LAST
  [ -s "$WORK/pid.1" ] || die "$tag: rank 1 wrote no pid"
  # Two long requests in flight (one streamed), then the signal.
  (curl -s -o "$WORK/$tag.a.body" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"prompt":"hello","max_tokens":1500,"ignore_eos":true,"temperature":0}' \
    "http://127.0.0.1:$PORT/v1/completions" >"$WORK/$tag.a.code" 2>/dev/null && echo 0 >"$WORK/$tag.a.rc" || echo $? >"$WORK/$tag.a.rc") &
  local ca=$!
  (curl -s -N -o "$WORK/$tag.b.body" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"prompt":"world","max_tokens":1500,"ignore_eos":true,"temperature":0,"stream":true}' \
    "http://127.0.0.1:$PORT/v1/completions" >"$WORK/$tag.b.code" 2>/dev/null && echo 0 >"$WORK/$tag.b.rc" || echo $? >"$WORK/$tag.b.rc") &
  local cb=$!
  sleep 3
  local t0 late=n/a
  t0=$(date +%s)
  kill "-$sig" "$(cat "$WORK/pid.1")"
  PIDS+=("$(cat "$WORK/pid.1")")
  # A request queued 1 s before the combine's 8 s deadline is still in its silent first 2 s when
  # the server gives up: 503.
  (sleep 7; curl -s -o "$WORK/$tag.d.body" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"prompt":"queued","max_tokens":8}' "http://127.0.0.1:$PORT/v1/completions" >"$WORK/$tag.d.code" 2>/dev/null && echo 0 >"$WORK/$tag.d.rc" || echo $? >"$WORK/$tag.d.rc") &
  local cd=$!
  # Once /health says the rank is lost, a new request must get 503 at once.
  while kill -0 "$job" 2>/dev/null && [ $waited -lt 600 ]; do
    if [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health" 2>/dev/null)" = 503 ]; then
      late=$(curl -s -m 10 -o "$WORK/$tag.c.body" -w '%{http_code}' -H 'Content-Type: application/json' \
        -d '{"prompt":"late","max_tokens":8}' "http://127.0.0.1:$PORT/v1/completions" 2>/dev/null || true)
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  waited=0
  while kill -0 "$job" 2>/dev/null && [ $waited -lt 120 ]; do sleep 0.5; waited=$((waited + 1)); done
  kill -0 "$job" 2>/dev/null && die "$tag: the job still runs 60 s after rank 1 got SIG$sig (hang)"
  local dt=$(($(date +%s) - t0))
  wait "$ca" "$cb" "$cd" 2>/dev/null || true
  for f in a b d; do
    for _ in $(seq 100); do [ -s "$WORK/$tag.$f.rc" ] && break; sleep 0.1; done
  done
  [ "$sig" = STOP ] && kill -KILL "$(cat "$WORK/pid.1")" 2>/dev/null || true
  local a b arc brc
  a=$(cat "$WORK/$tag.a.code") b=$(cat "$WORK/$tag.b.code") arc=$(cat "$WORK/$tag.a.rc") brc=$(cat "$WORK/$tag.b.rc")
  echo "$tag: job ended ${dt}s after SIG$sig; in flight: non-streamed HTTP $a (curl exit $arc), streamed HTTP $b (curl exit $brc); request after /health said 503: HTTP $late"
  [ "$a" = 200 ] && [ "$arc" = 0 ] && die "$tag: a request in flight got a complete 200 although the job failed"
  # A stream ends with an error event (then [DONE]) or breaks off; never as if complete.
  grep -q '"error"' "$WORK/$tag.b.body" || [ "$brc" != 0 ] || die "$tag: the stream in flight ended as if complete"
  # killed: mpirun signals rank 0, which answers 503 until it stops listening (if mpirun's
  # SIGKILL lets it: n/a when /health never said 503 before the job was gone).
  [ "$late" = 503 ] || [ "$late" = n/a ] || die "$tag: a request sent while the server stops got HTTP $late"
  if [ "$sig" = STOP ]; then
    grep -q "no answer from the other ranks" "$WORK/$tag.log" || die "$tag: rank 0 did not report the stalled peer"
    [ "$(cat "$WORK/$tag.d.code")" = 503 ] || die "$tag: a request queued shortly before the failure got HTTP $(cat "$WORK/$tag.d.code"), want 503"
    echo "$tag: a request queued 1 s before the failure: HTTP 503 ($(head -c 120 "$WORK/$tag.d.body"))"
    [ "$late" = 503 ] || die "$tag: a request sent while the server stops got HTTP $late, want 503"
    grep -q "expert rank lost" "$WORK/$tag.c.body" || die "$tag: the 503 does not say why: $(cat "$WORK/$tag.c.body")"
    grep -q "expert rank lost" "$WORK/$tag.b.body" || die "$tag: the stream in flight got no error event"
  fi
  return 0
}
fault stalled STOP
fault killed KILL
echo "e2e mpi_serve: PASS"
