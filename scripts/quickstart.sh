#!/usr/bin/env bash
# A fresh Debian 12 machine (as root) to moecat doing its job: installs what the build needs,
# builds the binary only (no test suite), and shows the built-in support assistant (a small
# LongCat-Flash model trained on shop conversations, models/moecat-support.gguf) answering
# customers: one-shot chats, then the same model behind the OpenAI-compatible server with a tool
# call and its result. On a terminal it ends by serving the chat page at http://127.0.0.1:8080/
# (Ctrl-C stops); otherwise it prints how to start that.
#   bash scripts/quickstart.sh ["a customer message"]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --build-only
bash scripts/build.sh
M=./build/moecat

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
say "customer: ${1:-Hi, where is my order A12345?}"
$M run "${1:-Hi, where is my order A12345?}" --temp 0
say "customer: Hallo, ich möchte die Bestellung 40012345 zurückschicken, es kam beschädigt an."
$M run "Hallo, ich möchte die Bestellung 40012345 zurückschicken, es kam beschädigt an." --temp 0

# The server: the application runs the tool the model asked for and sends the result back.
LOG=$(mktemp)
$M serve --port 0 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
URL=""
for _ in $(seq 1 100); do
  URL=$(sed -n 's/^moecat: listening on \(http:[^ ]*\).*/\1/p' "$LOG" | head -1)
  [ -n "$URL" ] && curl -sf "$URL/health" >/dev/null 2>&1 && break
  sleep 0.1
done
say "moecat serve at $URL: POST /v1/chat/completions with the shop's tools and a tool result (examples/api/tool_result.json)"
curl -s "$URL/v1/chat/completions" -H 'Content-Type: application/json' -d @examples/api/tool_result.json |
  /usr/bin/python3 -c 'import json,sys; m=json.load(sys.stdin)["choices"][0]["message"]; print("assistant:", m.get("content") or m.get("tool_calls"))'
kill $PID 2>/dev/null || true

if [ -t 0 ] && [ -t 1 ]; then
  say "The chat page: open http://127.0.0.1:8080/ in a browser (Ctrl-C stops the server)"
  exec $M serve --port 8080
fi
say "Next: ./build/moecat run   (interactive chat)   |   ./build/moecat serve   then open http://127.0.0.1:8080/"
