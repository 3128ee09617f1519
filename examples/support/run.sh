#!/usr/bin/env bash
# The support agent example in one command: a fresh demo shop (SQLite, in a temporary folder),
# `moecat serve` on the shipped support model, the agent loop (agent.py) playing the customer's
# messages with every tool call and result shown, then what changed in the shop's database.
#
#   bash examples/support/run.sh ["customer message" ...]
#
# With messages: plays them in order, as one conversation. Without: reads the customer's lines
# from the terminal (interactive; an empty line ends), or from stdin when it is not a terminal;
# with no input at all, plays a short demo conversation.
# Environment: MOECAT_BIN (default build/moecat), MOECAT_MODEL (default models/moecat-support.gguf),
# MOECAT_THREADS (threads of the server; default: moecat's), PYTHON (default python3),
# KEEP=1 keeps the temporary folder (shop.db, server.log, agent.log).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${MOECAT_BIN:-$ROOT/build/moecat}"
MODEL="${MOECAT_MODEL:-$ROOT/models/moecat-support.gguf}"
PY="${PYTHON:-python3}"
die() { echo "run.sh: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no moecat binary at $BIN (build it: bash scripts/build.sh, or set MOECAT_BIN)"
[ -e "$MODEL" ] || die "no model at $MODEL (set MOECAT_MODEL)"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/moecat-support.XXXXXX")"
SRV=""
cleanup() {
  if [ -n "$SRV" ]; then kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "(kept $TMP)"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# The shop, and a copy of it as it was (for the changes at the end).
"$PY" "$HERE/shop.py" init "$TMP/shop.db"
cp "$TMP/shop.db" "$TMP/before.db"

# The server, on a free port.
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
args=(serve -m "$MODEL" --port "$PORT")
[ -n "${MOECAT_THREADS:-}" ] && args+=(-t "$MOECAT_THREADS")
"$BIN" "${args[@]}" >"$TMP/server.log" 2>&1 &
SRV=$!
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  kill -0 "$SRV" 2>/dev/null || { cat "$TMP/server.log" >&2; SRV=""; die "moecat serve did not start"; }
  sleep 0.2
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { cat "$TMP/server.log" >&2; die "moecat serve did not answer"; }
echo "== $(basename "$MODEL") on http://127.0.0.1:$PORT/ (the chat page is there too), shop $TMP/shop.db"

agent=("$PY" "$HERE/agent.py" --db "$TMP/shop.db" --url "http://127.0.0.1:$PORT/v1" --trace --log "$TMP/agent.log")
if [ $# -gt 0 ]; then
  "${agent[@]}" -- "$@"
elif [ -t 0 ]; then
  "${agent[@]}"
else
  cat >"$TMP/input.txt"
  if grep -q '[^[:space:]]' "$TMP/input.txt"; then
    "${agent[@]}" --script "$TMP/input.txt"
  else
    "${agent[@]}" -- "Hi, I want to return order 40012345, it arrived damaged" "thanks!"
  fi
fi

echo "== changes in the shop's database"
"$PY" "$HERE/shop.py" diff "$TMP/before.db" "$TMP/shop.db" | sed 's/^/  /'
