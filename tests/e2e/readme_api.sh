#!/usr/bin/env bash
# The README's API examples work as printed: runs the lines of the README block that follows
# the marker "<!-- tested by tests/e2e/readme_api.sh -->" one by one against the shipped
# support model, with two substitutions only: the port (8080, also the server's default ->
# a free one, since tests run in parallel) and ./build/moecat -> $MOECAT_BIN. `npm install --prefix examples/api` is
# replaced by the openai package scripts/install-deps.sh put in tests/ref (same version;
# tests do not download). Checks: the first curl answers with a lookup_order tool call for
# the order in the message, the second (with the tool result) with a plain reply, and the
# openai client's script prints a tool call and the assistant's answer.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup readme_api
PORT=$("$PY" "$SRC/tests/e2e/lib/free_port.py")
BLOCK="$WORK/block.sh"
awk '/<!-- tested by tests\/e2e\/readme_api.sh -->/ {m=1; next} m && /^```sh/ {inb=1; next} inb && /^```/ {exit} inb {print}' \
  "$SRC/README.md" > "$BLOCK"
[ "$(grep -c . "$BLOCK")" -ge 4 ] || e2e_die "the README's API block is missing or short: $(cat "$BLOCK")"
grep -q "moecat serve" "$BLOCK" && grep -q "curl" "$BLOCK" && grep -q "openai_chat.mjs" "$BLOCK" ||
  e2e_die "the README's API block lost its serve / curl / openai lines"

cd "$SRC"
SRV=""
APINM="$SRC/examples/api/node_modules"
MADE_NM=0
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null || true; [ "$MADE_NM" = 1 ] && rm -f "$APINM"; }
e2e_on_exit cleanup
n=0
while IFS= read -r line; do
  cmd="${line%%#*}"                                     # comments are for the reader
  cmd="${cmd//8080/$PORT}"
  cmd="${cmd//.\/build\/moecat/$MOECAT_BIN}"
  [[ "$cmd" =~ ^[[:space:]]*$ ]] && continue
  n=$((n + 1))
  echo "+ $cmd" >&2
  if [[ "$cmd" == *"npm install --prefix examples/api"* ]]; then
    [ -e "$APINM" ] || { ln -s "$SRC/tests/ref/node_modules" "$APINM"; MADE_NM=1; }
    [ -d "$APINM/openai" ] || e2e_die "openai is not installed in tests/ref (scripts/install-deps.sh)"
  elif [[ "$cmd" =~ \&[[:space:]]*$ ]]; then          # the server, in the background
    srv="${cmd%&*}"
    [[ "$srv" == *--port* ]] || srv="$srv --port $PORT"   # the README relies on the default port 8080
    bash -c "$srv" > "$WORK/server.log" 2>&1 &
    SRV=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || e2e_die "the server did not come up: $(cat "$WORK/server.log")"
  else
    bash -c "$cmd" > "$WORK/out.$n" 2>&1 || e2e_die "README line failed: $line
$(cat "$WORK/out.$n")"
    cat "$WORK/out.$n"
  fi
done < "$BLOCK"

# What the lines printed: chat.json -> a tool call, tool_result.json -> a reply, the client -> both.
"$PY" - "$WORK" <<'EOF' || e2e_die "the README examples did not answer as documented"
import glob, json, os, sys
outs = [open(p).read() for p in sorted(glob.glob(os.path.join(sys.argv[1], "out.*")), key=lambda p: int(p.rsplit(".", 1)[1]))]
bodies = [json.loads(o) for o in outs if o.lstrip().startswith("{")]
assert len(bodies) == 2, "expected two curl answers, got %d" % len(bodies)
m0, m1 = bodies[0]["choices"][0]["message"], bodies[1]["choices"][0]["message"]
calls = m0.get("tool_calls") or []
assert calls and calls[0]["function"]["name"] == "lookup_order", m0
assert json.loads(calls[0]["function"]["arguments"]).get("order_id") == "A12345", calls
assert not m1.get("tool_calls") and (m1.get("content") or "").strip(), m1
client = [o for o in outs if "customer:" in o]
assert client and "tool call: lookup_order" in client[0] and "assistant:" in client[0], client
print("README API examples ok")
EOF
