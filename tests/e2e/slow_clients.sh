#!/usr/bin/env bash
# Slow and idle clients cannot starve `moecat serve` (issue #11, point 7): connections that send
# their request heads a byte at a time (slowloris), keep-alive connections left idle and bodies
# sent a byte at a time, driven by tests/ref/slow_clients.mjs, while /health must answer within
# 1 s and a chat completion within 5 s on a new connection.
#  1. 147 slow heads + 1 (a thread-per-connection server with 147 workers stops answering);
#  2. 1,000 slow heads, 100 idle, 50 slow bodies from one address at the defaults: the event
#     loop holds every one of them open at once (the per-client cap, 4096, is above them);
#  3. the same against a per-client cap of 256: the attacker's oldest connections without a
#     request running make room and it keeps reconnecting (thousands of times a second), while
#     the probes come from another address (127.0.0.2), as a customer's would. (From the
#     attacker's own address a new connection can lose that race before its request arrives.)
#  4. the cap above everything again and short timeouts: each slow head and idle connection is
#     closed on time.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup slow_clients
CLIENT="$SRC/tests/ref/slow_clients.mjs"
MODEL="$WORK/model"
e2e_run "$PY" "$SRC/tools/serve_test_model.py" "$MODEL" >/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true  # the client holds over a thousand sockets

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
e2e_on_exit cleanup

# serve NAME ARGS... -> sets URL and PID; waits until /health answers.
serve() {
  local name="$1"; shift
  : > "$WORK/$name.log"
  "$MOECAT_BIN" serve -m "$MODEL" --port 0 -t "$THREADS" --parallel 2 -c 512 "$@" 2>"$WORK/$name.log" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 300); do
    URL=$(sed -n 's/^moecat: listening on \(http:[^ ]*\).*/\1/p' "$WORK/$name.log" | head -1)
    if [[ -n "$URL" ]] && curl -sf "$URL/health" >/dev/null 2>&1; then return 0; fi
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/$name.log" >&2; e2e_die "server $name exited"; }
    sleep 0.1
  done
  cat "$WORK/$name.log" >&2
  e2e_die "server $name did not come up"
}

serve default
e2e_run "$NODE" "$CLIENT" starve "$URL" 147
e2e_run "$NODE" "$CLIENT" flood "$URL" 1000 100 50 1000
kill -0 "$PID" || e2e_die "the server died"

serve capped --max-conns-per-client 256
e2e_run env PROBE_FROM=127.0.0.2 "$NODE" "$CLIENT" flood "$URL" 1000 100 50 200
kill -0 "$PID" || e2e_die "the server died"

serve roomy --max-conns-per-client 5000 --header-timeout 3 --idle-timeout 2 --body-timeout 4
e2e_run "$NODE" "$CLIENT" flood "$URL" 1000 100 50 1000 3 2
kill -0 "$PID" || e2e_die "the server died"

# SIGTERM: drain and exit 0; under ASan/UBSan a report in a log is a failure.
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${PIDS[@]}"; do wait "$p" || e2e_die "a server exited with status $? on SIGTERM (logs in $WORK)"; done
PIDS=()
if grep -l -E "AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:|UndefinedBehaviorSanitizer" "$WORK"/*.log; then
  e2e_die "sanitizer reports in the server logs above"
fi
echo "slow_clients: all checks passed"
