#!/usr/bin/env bash
# `moecat serve --prefix-cache-file`: a support system prompt is warm right after a restart.
#   1. first server, empty cache file path: a chat with the shop's system prompt and tools is
#      computed cold (cached_tokens 0); SIGTERM writes the file;
#   2. restarted server on that file: the same chat reports most of its prompt as cached and
#      answers exactly as the cold run did (greedy); a new question after the same system
#      prompt is warm too;
#   3. the file truncated, then one byte flipped: the server warns, ignores it, and answers cold;
#   4. a file written for another cache type (--cache-type f32) is ignored the same way.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup prefix_cache_restart
MODEL="${MOECAT_SUPPORT_MODEL:-$SRC/models/moecat-support.gguf}"
[ -f "$MODEL" ] || e2e_die "no model at $MODEL"
CACHE="$WORK/prefix.cache"
SRV=""
cleanup() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null || true; }
e2e_on_exit cleanup

start() {  # start LOGNAME [extra args]: a server on a free port, waits for /health
  local log="$WORK/$1.log"
  shift
  PORT=$("$PY" "$SRC/tests/e2e/lib/free_port.py")
  "$MOECAT_BIN" serve -m "$MODEL" --port "$PORT" -t "$THREADS" -c 1024 --np 2 --prefix-cache-file "$CACHE" "$@" > "$log" 2>&1 &
  SRV=$!
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return 0; sleep 0.2; done
  e2e_die "the server did not come up: $(cat "$log")"
}
stop() {  # SIGTERM and a clean exit
  kill -TERM "$SRV"
  local rc=0
  wait "$SRV" || rc=$?
  SRV=""
  [ "$rc" = 0 ] || e2e_die "the server exited with $rc at SIGTERM"
}
ask() {  # ask OUT QUESTION: the README's chat request (shop system prompt + tools), greedy
  "$PY" - "$SRC/examples/api/chat.json" "$2" > "$WORK/req.json" <<'EOF'
import json, sys
body = json.load(open(sys.argv[1]))
body["messages"][-1]["content"] = sys.argv[2]
body["temperature"] = 0
body["max_tokens"] = 48
print(json.dumps(body))
EOF
  curl -sf "http://127.0.0.1:$PORT/v1/chat/completions" -H 'Content-Type: application/json' -d @"$WORK/req.json" > "$1" ||
    e2e_die "chat request failed"
}
field() {  # field FILE: cached_tokens prompt_tokens and the message, one line
  "$PY" -c '
import json, sys
b = json.load(open(sys.argv[1]))
u = b["usage"]
m = b["choices"][0]["message"]
for c in m.get("tool_calls") or []:
    c.pop("id", None)  # random per response
print(u["prompt_tokens_details"]["cached_tokens"], u["prompt_tokens"], json.dumps(m, sort_keys=True))' "$1"
}

Q1="Hi, where is my order A12345?"
Q2="Hallo, ich möchte die Lieferadresse für Bestellung B-7781 ändern."

start first
ask "$WORK/cold.json" "$Q1"
read -r cached0 prompt0 msg0 < <(field "$WORK/cold.json")
[ "$cached0" = 0 ] || e2e_die "the first request after a start without a cache file reports $cached0 cached tokens"
grep -q "no prefix cache at" "$WORK/first.log" || e2e_die "the server did not say the cache file is new: $(cat "$WORK/first.log")"
stop
grep -q "blocks saved to" "$WORK/first.log" || e2e_die "no 'saved' line at shutdown: $(cat "$WORK/first.log")"
[ -s "$CACHE" ] || e2e_die "no cache file written"
echo "cold: prompt $prompt0 tokens, cached $cached0; cache file $(stat -c %s "$CACHE") bytes"

start second
grep -q "blocks (.* positions) loaded from" "$WORK/second.log" || e2e_die "the restarted server did not load the cache: $(cat "$WORK/second.log")"
ask "$WORK/warm.json" "$Q1"
read -r cached1 prompt1 msg1 < <(field "$WORK/warm.json")
echo "warm after restart: prompt $prompt1 tokens, cached $cached1"
[ "$prompt1" = "$prompt0" ] || e2e_die "the same request counted $prompt1 prompt tokens, before $prompt0"
# Everything but the block holding the last prompt token (16 positions) can come from the file.
[ "$cached1" -ge $(( prompt1 - 32 )) ] || e2e_die "only $cached1 of $prompt1 prompt tokens were warm after the restart"
[ "$msg1" = "$msg0" ] || e2e_die "the warm answer differs from the cold one:
cold: $msg0
warm: $msg1"
ask "$WORK/warm2.json" "$Q2"
read -r cached2 prompt2 _ < <(field "$WORK/warm2.json")
echo "another question after the same system prompt: prompt $prompt2 tokens, cached $cached2"
[ "$cached2" -ge 128 ] || e2e_die "the system prompt and tools were not warm for a new question ($cached2 cached)"
stop

cp "$CACHE" "$WORK/good.cache"
size=$(stat -c %s "$CACHE")
for damage in truncate flip; do
  cp "$WORK/good.cache" "$CACHE"
  if [ "$damage" = truncate ]; then
    truncate -s $(( size / 2 )) "$CACHE"
  else
    printf '\x5a' | dd of="$CACHE" bs=1 seek=$(( size - 100 )) conv=notrunc status=none
  fi
  start "$damage"
  grep -q "warning: ignoring the prefix cache file" "$WORK/$damage.log" || e2e_die "a $damage-damaged file was not refused: $(cat "$WORK/$damage.log")"
  ask "$WORK/$damage.json" "$Q1"
  read -r c p m < <(field "$WORK/$damage.json")
  [ "$c" = 0 ] || e2e_die "a $damage-damaged file still served $c cached tokens"
  [ "$m" = "$msg0" ] || e2e_die "the answer after a $damage-damaged cache differs from the cold one"
  stop
  echo "$damage file: refused with a warning, answered cold"
done

cp "$WORK/good.cache" "$CACHE"
start f32 --cache-type f32
grep -q "warning: ignoring the prefix cache file" "$WORK/f32.log" || e2e_die "an f16 cache was used by an f32 server: $(cat "$WORK/f32.log")"
ask "$WORK/f32.json" "$Q1"
read -r c _ _ < <(field "$WORK/f32.json")
[ "$c" = 0 ] || e2e_die "an f16 cache file served $c cached tokens to an f32 server"
stop
echo "PASS: prefix cache survives a restart; damaged and foreign files are ignored"
