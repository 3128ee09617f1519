#!/usr/bin/env bash
# Forced tool calls in LongCat's key/value syntax (issue #12 point 3): a random LongCat-Flash
# whose chat template is the tag format (it writes <longcat_arg_key> pairs, so moecat forces
# calls in that syntax, serve/grammar/key_value_call.cpp) is asked with tool_choice "required"
# and a named function, greedy and seeded, streamed and not. Every answer must be one call to an
# offered tool whose arguments parse, carry every required property and match the property
# schemas (checked by Python's json and a small schema check here, independent of moecat's);
# the streamed call assembles to the one-shot call.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup longcat_forced_kv
MODEL="$WORK/lc"
"$PY" "$SRC/tools/longcat_test_model.py" "$MODEL" --seed 21 >/dev/null
"$PY" - "$MODEL/tokenizer_config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
# The tag format's shape (enough for moecat to detect it: the template writes arg key/value pairs).
c["chat_template"] = (
    "{#- calls in this format: <longcat_tool_call>NAME <longcat_arg_key>K</longcat_arg_key>"
    " <longcat_arg_value>V</longcat_arg_value> </longcat_tool_call> #}"
    "{%- for m in messages %}{% if m['role'] == 'system' %}<longcat_system>{{ m['content'] }}"
    "{% elif m['role'] == 'user' %}<longcat_user>{{ m['content'] }}"
    "{% elif m['role'] == 'tool' %}<longcat_tool_response>{{ m['content'] }}</longcat_tool_response>"
    "{% else %}<longcat_assistant>{{ m['content'] }}</longcat_s>{% endif %}"
    "{%- endfor %}{%- if tools %}<longcat_tool_declare>{{ tools | tojson }}</longcat_tool_declare>{%- endif %}"
    "{%- if add_generation_prompt %}<longcat_assistant><longcat_think>\n{%- endif %}")
json.dump(c, open(p, "w"), indent=1)
EOF
PORT=$("$PY" "$SRC/tests/e2e/lib/free_port.py")
"$MOECAT_BIN" serve -m "$MODEL" --port "$PORT" -t "$THREADS" > "$WORK/server.log" 2>&1 &
SRV=$!
e2e_on_exit 'kill $SRV 2>/dev/null || true'
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { cat "$WORK/server.log" >&2; e2e_die "the server did not start"; }
curl -sf "http://127.0.0.1:$PORT/props" | grep -q '"longcat' || e2e_die "not served with LongCat's chat format: $(curl -s "http://127.0.0.1:$PORT/props" | head -c 300)"

"$PY" - "http://127.0.0.1:$PORT" <<'EOF' || e2e_die "forced key/value calls"
import json, sys, urllib.request
base = sys.argv[1]
TOOLS = [
    {"type": "function", "function": {"name": "lookup_order", "description": "Look up an order",
     "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}},
    {"type": "function", "function": {"name": "ship", "description": "Ship items",
     "parameters": {"type": "object", "properties": {
         "order_id": {"type": "string"}, "count": {"type": "integer", "minimum": 1, "maximum": 9},
         "express": {"type": "boolean"}, "days": {"type": "array", "items": {"type": "integer"}, "maxItems": 3},
         "note": {"type": ["string", "null"]}},
     "required": ["order_id", "count", "express"]}}},
]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}

def ok_value(schema, v):
    t = schema.get("type")
    types = t if isinstance(t, list) else [t]
    if "string" in types or t is None:
        return isinstance(v, str) and "<" not in v or (v is None and "null" in types)
    if "integer" in types:
        return isinstance(v, int) and not isinstance(v, bool) and schema.get("minimum", -1e18) <= v <= schema.get("maximum", 1e18)
    if "boolean" in types:
        return isinstance(v, bool)
    if "array" in types:
        return isinstance(v, list) and len(v) <= schema.get("maxItems", 1e9) and all(ok_value(schema["items"], x) for x in v)
    return False

def check_call(name, args, want_name=None):
    assert name in SCHEMAS, name
    if want_name: assert name == want_name, (name, want_name)
    a = json.loads(args)
    s = SCHEMAS[name]
    for k in s["required"]:
        assert k in a, (name, k, a)
    for k, v in a.items():
        assert k in s["properties"], (name, k)
        assert ok_value(s["properties"][k], v), (name, k, v)
    return a

def post(body):
    req = urllib.request.Request(base + "/v1/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        if body.get("stream"):
            calls = {}
            for line in r:
                line = line.decode().strip()
                if not line.startswith("data:") or line == "data: [DONE]": continue
                ev = json.loads(line[5:])
                assert "error" not in ev, ev
                for tc in ev["choices"][0]["delta"].get("tool_calls") or []:
                    c = calls.setdefault(tc["index"], {"name": "", "arguments": ""})
                    c["name"] += tc.get("function", {}).get("name") or ""
                    c["arguments"] += tc.get("function", {}).get("arguments") or ""
            return [calls[i] for i in sorted(calls)]
        d = json.loads(r.read())
        ch = d["choices"][0]
        assert ch["finish_reason"] == "tool_calls", ch
        return [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in ch["message"]["tool_calls"]]

n = 0
for choice in ["required", {"type": "function", "function": {"name": "ship"}}]:
    want = None if choice == "required" else "ship"
    for sampling in [{"temperature": 0}, {"temperature": 1.0, "seed": 7}, {"temperature": 1.0, "seed": 8}]:
        body = {"messages": [{"role": "user", "content": "Please ship order A12345 fast"}], "tools": TOOLS,
                "tool_choice": choice, "max_tokens": 300, **sampling}
        one = post(body)
        assert len(one) == 1, one
        a = check_call(one[0]["name"], one[0]["arguments"], want)
        streamed = post({**body, "stream": True})
        assert streamed == one, (streamed, one)
        n += 1
        print("forced", json.dumps(choice)[:40], sampling, "->", one[0]["name"], json.dumps(a)[:120])
print("longcat_forced_kv: %d forced calls checked" % n)
EOF
kill $SRV; wait $SRV 2>/dev/null || true
echo "longcat_forced_kv: OK"
