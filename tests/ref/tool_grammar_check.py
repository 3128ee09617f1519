#!/usr/bin/env python3
"""Tool calls under tool_choice "auto" against a running `moecat serve` (tests/e2e/tool_grammar.sh).

    tool_grammar_check.py PORT N TEMPERATURE

Sends N chat requests (half streamed) with the server's default tools and system prompt
(/props), customer messages that call for each of the shop's tools, sampled at TEMPERATURE
with seeds 0..N-1, and checks every tool call that comes back (finish_reason "tool_calls"):
its name is one of the tools and its arguments parse as a JSON object that validates under the
tool's schema (types, required, enum, maxLength, additionalProperties). A streamed call's
arguments are the concatenation of its deltas. Prints one JSON object: requests, calls,
bad (calls that fail the check) and the first failures. Needs only python3 (stdlib).
"""
import json
import sys
import urllib.request


def validate(schema, v, path="$"):
    """The first violation as a string, or None."""
    t = schema.get("type")
    ok = {"object": lambda: isinstance(v, dict), "array": lambda: isinstance(v, list),
          "string": lambda: isinstance(v, str), "boolean": lambda: isinstance(v, bool),
          "integer": lambda: isinstance(v, int) and not isinstance(v, bool),
          "number": lambda: isinstance(v, (int, float)) and not isinstance(v, bool), "null": lambda: v is None}
    if isinstance(t, str) and not ok[t]():
        return "%s: expected %s, got %r" % (path, t, v)
    if "enum" in schema and v not in schema["enum"]:
        return "%s: %r not in enum" % (path, v)
    if isinstance(v, str) and "maxLength" in schema and len(v) > schema["maxLength"]:
        return "%s: longer than %d" % (path, schema["maxLength"])
    if isinstance(v, dict):
        for k in schema.get("required", []):
            if k not in v:
                return "%s: missing %s" % (path, k)
        props = schema.get("properties", {})
        for k, x in v.items():
            if k in props:
                e = validate(props[k], x, path + "." + k)
                if e:
                    return e
            elif schema.get("additionalProperties", "properties" not in schema) is False:  # moecat's default
                return "%s: unexpected key %s" % (path, k)
    return None


def post(port, body, stream):
    req = urllib.request.Request("http://127.0.0.1:%d/v1/chat/completions" % port, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        if not stream:
            ch = json.loads(r.read())["choices"][0]
            return ch["finish_reason"], [(c["function"]["name"], c["function"]["arguments"])
                                         for c in ch["message"].get("tool_calls") or []]
        calls, finish = {}, None
        for line in r:
            line = line.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            ev = json.loads(line[6:])
            if "error" in ev:
                raise SystemExit("error event: %s" % line)
            for ch in ev.get("choices", []):
                finish = ch.get("finish_reason") or finish
                for tc in ch.get("delta", {}).get("tool_calls") or []:
                    c = calls.setdefault(tc["index"], ["", ""])
                    c[0] += tc.get("function", {}).get("name") or ""
                    c[1] += tc.get("function", {}).get("arguments") or ""
        return finish, [tuple(calls[i]) for i in sorted(calls)]


def main():
    port, n, temp = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    props = json.load(urllib.request.urlopen("http://127.0.0.1:%d/props" % port, timeout=30))
    tools = props.get("default_tools") or []
    if not tools:
        raise SystemExit("the model has no default tools")
    schemas = {t["function"]["name"]: t["function"].get("parameters", {}) for t in tools}
    system = props.get("default_system_prompt") or ""
    asks = ["Where is my order A12345?", "Ich will die Bestellung 40012345 zurückgeben, sie ist kaputt.",
            "Please change the address of order MC-2024-1234 to Hauptstr. 5, 10115 Berlin",
            "Do you sell blue garden chairs?", "I want to talk to a human NOW, this is the third time!",
            "Meine Lieferung 71234567 ist seit zwei Wochen nicht da. Wo bleibt sie?"]
    out = {"requests": 0, "calls": 0, "bad": 0, "failures": []}
    for seed in range(n):
        body = {"model": "m", "tools": tools, "temperature": temp, "seed": seed, "max_tokens": 96,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": asks[seed % len(asks)]}]}
        stream = seed % 2 == 1
        if stream:
            body["stream"] = True
        finish, calls = post(port, body, stream)
        out["requests"] += 1
        if finish != "tool_calls":
            continue
        for name, args in calls:
            out["calls"] += 1
            err = None
            if name not in schemas:
                err = "unknown tool %r" % name
            else:
                try:
                    a = json.loads(args)
                    err = validate(schemas[name], a) if isinstance(a, dict) else "arguments not an object"
                except ValueError as e:
                    err = "arguments do not parse: %s" % e
            if err:
                out["bad"] += 1
                if len(out["failures"]) < 10:
                    out["failures"].append({"seed": seed, "stream": stream, "tool": name, "arguments": args, "why": err})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
