#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root) and runs moecat's main job:
# streaming a continuation from the built-in default model, then one chat request to
# `moecat serve` on the same model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --build-only
bash scripts/build.sh
./build/moecat info build/default-model.gguf
./build/moecat run -p "${1:-Hello! How can I help you today?}" -n "${2:-48}" --temp 0.8 --seed 1

# The same model behind the OpenAI-compatible server: one chat request, then stop.
LOG=$(mktemp)
./build/moecat serve --port 0 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
URL=""
for _ in $(seq 1 100); do
  URL=$(sed -n 's/^moecat: listening on \(http:[^ ]*\).*/\1/p' "$LOG" | head -1)
  [ -n "$URL" ] && curl -sf "$URL/health" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "moecat serve is up at $URL; POST /v1/chat/completions:"
curl -s "$URL/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"messages":[{"role":"system","content":"You are a support assistant."},{"role":"user","content":"My router is blinking red."}],"max_tokens":24,"seed":1}'
echo
