#!/usr/bin/env bash
# The chat page of `moecat serve` in a real browser (Debian's chromium driven by playwright-core,
# tests/ref/web_chat.mjs): the page loads from the binary with nothing fetched elsewhere, a reply
# streams in, a tool call is shown and its typed-in result continues the conversation, the stop
# button ends a reply; screenshots in build/e2e/web_chat/. The system prompt and tools are
# pre-filled from GET /props (empty for the random model; the shipped support model's own for
# models/moecat-support.gguf). Demo-shop mode: examples/support/shop.py serve answers a forced
# tool call across origins (CORS), the page shows the shop's result and the conversation goes on.
# Also: --no-webui answers 404 at /, and with --api-key the page loads while the API refuses
# requests without the key.
# The model: a small random LongCat-Flash (tools/longcat_test_model.py; no template, so the
# server uses LongCat's built-in format and syntax for the forced tool call); the tools offered
# are the shop's (tools/support_data.py).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup web_chat
command -v "${CHROMIUM:-chromium}" >/dev/null || {
  [ "${MOECAT_REQUIRE_REF:-0}" = 1 ] && e2e_die "chromium is missing (scripts/install-deps.sh installs it)"
  echo "SKIP: chromium not installed"; exit 0; }
MODEL="$WORK/lc"
"$PY" "$SRC/tools/longcat_test_model.py" "$MODEL" --seed 16 >/dev/null
PYTHONPATH="$SRC/tools" "$PY" -c 'import json, support_data; print(json.dumps(support_data.TOOLS, indent=1))' > "$WORK/tools.json"
read -r PORT SHOP_PORT < <("$PY" "$SRC/tests/e2e/lib/free_port.py" --count 2)
[ -n "${SHOP_PORT:-}" ] || e2e_die "no free ports"
"$PY" "$SRC/examples/support/shop.py" init "$WORK/shop.db"
"$PY" "$SRC/examples/support/shop.py" serve "$WORK/shop.db" --port "$SHOP_PORT" > "$WORK/shop.log" 2> "$WORK/shop.err" &
SHOP=$!
"$MOECAT_BIN" serve -m "$MODEL" --port "$PORT" -t "$THREADS" > "$WORK/server.log" 2>&1 &
SRV=$!
e2e_on_exit 'kill $SRV $SHOP 2>/dev/null || true'
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$SHOP_PORT/health" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$SHOP_PORT/health" >/dev/null || { cat "$WORK/shop.err" >&2; e2e_die "shop.py serve did not start"; }
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/" | cmp -s - "$SRC/web/chat.html" || e2e_die "GET / is not web/chat.html"
# ignore_eos (the page's streaming check below relies on it): exactly max_tokens tokens.
U=$(curl -sf "http://127.0.0.1:$PORT/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":40,"temperature":0,"ignore_eos":true}' |
  "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["usage"]["completion_tokens"], d["choices"][0]["finish_reason"])')
[ "$U" = "40 length" ] || e2e_die "ignore_eos: $U (want 40 tokens, finish_reason length)"
grep -Eq "(src|href)=\"(https?:)?//" "$SRC/web/chat.html" && e2e_die "the page loads something from elsewhere"
(cd "$SRC/tests/ref" && "$NODE" web_chat.mjs "http://127.0.0.1:$PORT/" "$WORK/chat.png" --tools "$WORK/tools.json" \
  --shop "http://127.0.0.1:$SHOP_PORT" "$WORK/shop.log") || e2e_die "browser test failed"
[ -s "$WORK/chat.png" ] || e2e_die "no screenshot"
kill $SRV $SHOP; wait $SRV $SHOP 2>/dev/null || true

# The shipped support model: its system prompt and tools (GET /props) pre-fill the page.
SUPPORT="$SRC/models/moecat-support.gguf"
[ -f "$SUPPORT" ] || e2e_die "the support model $SUPPORT is missing (it is shipped in the repository)"
"$MOECAT_BIN" serve -m "$SUPPORT" --port "$PORT" -t 1 > "$WORK/server_support.log" 2>&1 &
SRV=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
(cd "$SRC/tests/ref" && "$NODE" web_chat.mjs "http://127.0.0.1:$PORT/" "$WORK/chat_support.png" --props-only) ||
  e2e_die "browser test (support model defaults) failed"
# min_tokens on a model that ends its replies: a greeting's reply ends (stop) after N tokens;
# with min_tokens N+8 it goes on past its end, to at least N+8.
ask() { curl -sf "http://127.0.0.1:$PORT/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"messages":[{"role":"user","content":"Hello!"}],"max_tokens":200,"temperature":0'"$1"'}' |
  "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["usage"]["completion_tokens"], d["choices"][0]["finish_reason"])'; }
read -r N R <<< "$(ask "")"
[ "$R" = stop ] && [ "$N" -lt 150 ] || e2e_die "the support model's greeting did not end: $N tokens, $R"
read -r N2 R2 <<< "$(ask ",\"min_tokens\":$((N + 8))")"
[ "$N2" -ge $((N + 8)) ] || e2e_die "min_tokens $((N + 8)): $N2 tokens ($R2)"
echo "min_tokens: a $N-token reply ($R) went on to $N2 tokens ($R2) with min_tokens $((N + 8))"
kill $SRV; wait $SRV 2>/dev/null || true

# --no-webui: no page; --api-key: the page loads, the API needs the key.
"$MOECAT_BIN" serve -m "$MODEL" --port "$PORT" -t 1 --no-webui > "$WORK/server2.log" 2>&1 &
SRV=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
code=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PORT/")
[ "$code" = 404 ] || e2e_die "--no-webui: GET / answered $code"
kill $SRV; wait $SRV 2>/dev/null || true
"$MOECAT_BIN" serve -m "$MODEL" --port "$PORT" -t 1 --api-key sekrit > "$WORK/server3.log" 2>&1 &
SRV=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PORT/")" = 200 ] || e2e_die "--api-key: the page did not load"
[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PORT/v1/models")" = 401 ] || e2e_die "--api-key: /v1/models without the key"
echo "web_chat: OK (screenshot $WORK/chat.png)"
