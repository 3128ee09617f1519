#!/usr/bin/env python3
"""A support agent over moecat's OpenAI API that runs the model's tool calls against the demo
shop (shop.py, SQLite).

    agent.py --db shop.db [--url http://127.0.0.1:8080/v1] [--api-key KEY] [--script FILE]
             [--trace] [--log FILE] [MESSAGE ...]

Takes customer messages (the MESSAGE arguments, else the lines of --script, else stdin: one per
line, with a prompt when stdin is a terminal), sends the conversation with the shop's tools to
/v1/chat/completions, executes every tool call the answer holds against the database, sends the
results back as `tool` messages and repeats until the model answers in plain text (at most
--max-steps model calls per customer message), then prints the reply. --trace prints every tool
call and its result as well. Every step goes to stderr (or --log FILE) as one JSON line (for
tests and for watching). Needs only python3 (stdlib: urllib, sqlite3).
"""

import argparse
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import shop  # noqa: E402
import support_data  # noqa: E402

# The shop's tools and the default system prompt: the ones the model is trained with.
SYSTEM = support_data.SYSTEM_PROMPTS["en"][0]
TOOLS = support_data.TOOLS


def chat(url, key, messages, max_tokens):
    body = {"model": "moecat", "messages": messages, "tools": TOOLS, "temperature": 0, "max_tokens": max_tokens}
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    req = urllib.request.Request(url.rstrip("/") + "/chat/completions", data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read())["choices"][0]["message"]


LOG = sys.stderr
TRACE = False


def log(**kv):
    print(json.dumps(kv, ensure_ascii=False), file=LOG, flush=True)


def turn(url, key, db, messages, user_text, max_steps, max_tokens):
    """One customer message: model calls and tool runs until a plain reply; returns it."""
    messages.append({"role": "user", "content": user_text})
    log(event="user", content=user_text)
    for _ in range(max_steps):
        m = chat(url, key, messages, max_tokens)
        calls = m.get("tool_calls") or []
        messages.append({"role": "assistant", "content": m.get("content") or "",
                         **({"tool_calls": calls} if calls else {})})
        if not calls:
            log(event="reply", content=m.get("content") or "")
            return m.get("content") or ""
        for c in calls:
            name = c["function"]["name"]
            try:
                args = json.loads(c["function"]["arguments"] or "{}")
            except ValueError:
                args = None
            result = shop.call(db, name, args) if args is not None else {"error": "arguments are not JSON"}
            log(event="tool", name=name, arguments=args, result=result)
            if TRACE:
                print("  tool call:   %s %s" % (name, c["function"]["arguments"]))
                print("  tool result: %s" % json.dumps(result, ensure_ascii=False), flush=True)
            messages.append({"role": "tool", "tool_call_id": c.get("id", ""), "content": json.dumps(result, ensure_ascii=False)})
    log(event="gave_up", steps=max_steps)
    return ""


def messages_in(a):
    """The customer's messages: arguments, --script lines, or stdin (prompted on a terminal)."""
    if a.message:
        yield from a.message
        return
    if a.script:
        with open(a.script, encoding="utf-8") as f:
            yield from f
        return
    if not sys.stdin.isatty():
        yield from sys.stdin
        return
    print("Write as the customer (empty line or Ctrl-D ends).", flush=True)
    while True:
        try:
            line = input("customer> ")
        except EOFError:
            print()
            return
        if not line.strip():
            return
        yield line


def main():
    global LOG, TRACE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("message", nargs="*", help="customer messages, in order (default: --script or stdin)")
    ap.add_argument("--db", required=True)
    ap.add_argument("--url", default="http://127.0.0.1:8080/v1")
    ap.add_argument("--api-key", default=os.environ.get("MOECAT_API_KEY", ""))
    ap.add_argument("--script", help="a file of customer messages, one per line (default: stdin)")
    ap.add_argument("--max-steps", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--trace", action="store_true", help="print tool calls and their results too")
    ap.add_argument("--log", help="the JSON lines of every step go to this file (default: stderr)")
    a = ap.parse_args()
    TRACE = a.trace
    if a.log:
        LOG = open(a.log, "a", encoding="utf-8")
    db = shop.connect(a.db)
    messages = [{"role": "system", "content": SYSTEM}]
    interactive = not a.message and not a.script and sys.stdin.isatty()
    for line in messages_in(a):
        line = line.strip()
        if not line:
            continue
        if not interactive:
            print("customer: " + line, flush=True)
        try:
            reply = turn(a.url, a.api_key, db, messages, line, a.max_steps, a.max_tokens)
        except (OSError, ValueError, KeyError) as e:  # server down, HTTP error, bad answer
            detail = e.read().decode(errors="replace") if hasattr(e, "read") else ""
            log(event="error", error=str(e), detail=detail)
            raise SystemExit("agent: the model server failed: %s %s" % (e, detail))
        print("support:  " + reply, flush=True)


if __name__ == "__main__":
    main()
