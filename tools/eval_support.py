#!/usr/bin/env python3
"""Measures the support model on held-out conversations through `moecat serve`'s OpenAI API.

    eval_support.py MODEL HELDOUT.jsonl [--moecat build/moecat] [--n N] [--port P] [--threads T] [--metrics]
                    [--tool-choice required] [--serve-arg=ARG ...]

Starts `moecat serve -m MODEL`, and for every assistant turn of the first N conversations
(tools/support_data.py --split heldout: each carries `checks`) sends the conversation up to that
turn with the shop's tools (greedy, temperature 0) and compares the answer with the check:
  tool turns   right tool: the first tool call has the expected name;
               right arguments: its arguments parse as JSON, have the expected keys, and
               carry the right values: order_id, address and query exactly; a free-text
               `reason` (start_return, escalate_to_human) must be non-empty and name the
               same order ids as the expected one (its wording is the model's). The share
               with every value exactly equal is reported too (right_tool_and_exact_args);
  reply turns  a plain reply (no tool call) with text;
  reply turns  language: where the model replied with text (no tool call), the reply is in the
               customer's language, by counting German and English function words and German
               letters (the share is over those replies; tool calls where a reply was due count
               against plain_reply_when_no_tool).
Prints one JSON object: counts and shares per measure and per scenario, and the first failures.
Needs only python3 (stdlib) and the moecat binary.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

DE = set("der die das den dem des und ist nicht sie ihre ihr ihren ihnen ich wir für mit ein eine einen es bei zu "
         "von auf wird wurde sich gerne gern leider bitte danke kann können haben hat noch schon oder wenn "
         "jederzeit gut gute guten tag hallo sagen bescheid brauchen bestellung lieferung ist sind "
         "keine kein dass nur aber auch mehr heute morgen wann wie was wo".split())
EN = set("the and is not you your i we for with a an it at to of on will was be can please thanks thank sorry "
         "has have been still or if any this that anytime glad welcome help happy hello hi let know need "
         "order delivery are no only but also more today tomorrow when how what where".split())


def language(text):
    """'de', 'en' or None, by German / English function words (and German letters)."""
    low = text.lower()
    words = re.findall(r"[a-zäöüß]+", low)
    de = sum(w in DE for w in words) + sum(c in "äöüß" for c in low)
    en = sum(w in EN for w in words)
    return "de" if de > en else "en" if en > de else None


def post(port, body, timeout=120):
    req = urllib.request.Request("http://127.0.0.1:%d/v1/chat/completions" % port, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def wait_ready(port, proc, seconds=120):
    t0 = time.time()
    while time.time() - t0 < seconds:
        if proc.poll() is not None:
            raise SystemExit("moecat serve exited with %d" % proc.returncode)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.5)
    raise SystemExit("moecat serve did not become ready")


ORDER_ID = re.compile(r"\b(?:MC-\d{4}-\d{4}|[A-Z]\d{5}|\d{8})\b")


def args_match(expected, got):
    """The right values (see the module doc): identifiers exactly, free-text reasons by content."""
    if not isinstance(got, dict) or set(got) != set(expected):
        return False
    for k, v in expected.items():
        g = got[k]
        if k == "reason":
            if not isinstance(g, str) or not g.strip() or set(ORDER_ID.findall(g)) != set(ORDER_ID.findall(v)):
                return False
        elif g != v:
            return False
    return True


def ffn_experts_per_token(port):
    """The server's FFN experts computed per token per MoE layer since it started (/metrics)."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    m = re.search(r"^moecat_ffn_experts_per_token ([\d.eE+-]+)", text, re.M)
    return float(m.group(1)) if m else None


def evaluate(port, convs, max_tokens, tool_choice=None):
    tot = collections.Counter()
    per = collections.defaultdict(collections.Counter)
    fails = []
    for d in convs:
        for c in d["checks"]:
            msgs = d["messages"][:c["turn"]]
            body = {"model": "m", "messages": msgs, "tools": d["tools"], "temperature": 0, "max_tokens": max_tokens}
            if tool_choice:
                body["tool_choice"] = tool_choice
            r = post(port, body)
            m = r["choices"][0]["message"]
            calls = m.get("tool_calls") or []
            text = m.get("content") or ""
            s = per[d["scenario"]]
            if c["tool"] is not None:
                tot["tool_turns"] += 1
                s["tool_turns"] += 1
                name_ok = bool(calls) and calls[0]["function"]["name"] == c["tool"]
                try:
                    got = json.loads(calls[0]["function"]["arguments"]) if name_ok else None
                except (ValueError, TypeError):
                    got = None
                args_ok = name_ok and args_match(c["arguments"], got)
                tot["right_tool"] += name_ok
                s["right_tool"] += name_ok
                tot["right_tool_and_args"] += args_ok
                s["right_tool_and_args"] += args_ok
                tot["right_tool_and_exact_args"] += name_ok and got == c["arguments"]
                if not args_ok and len(fails) < 40:
                    fails.append({"scenario": d["scenario"], "expected": {"tool": c["tool"], "arguments": c["arguments"]},
                                  "got": calls[:1] or text[:200]})
            else:
                tot["reply_turns"] += 1
                s["reply_turns"] += 1
                # A call the parser could not read comes back as text: it is not a reply either.
                ok = not calls and bool(text.strip()) and "<longcat_tool_call>" not in text
                tot["plain_reply"] += ok
                s["plain_reply"] += ok
                if not ok and len(fails) < 40:
                    fails.append({"scenario": d["scenario"], "expected": "a reply", "got": calls[:1] or text[:200]})
                if ok:
                    lang = language(text)
                    tot["lang_checked"] += 1
                    s["lang_checked"] += 1
                    tot["right_language"] += lang == c["lang"]
                    s["right_language"] += lang == c["lang"]
                    if lang != c["lang"] and len(fails) < 40:
                        fails.append({"scenario": d["scenario"], "expected_lang": c["lang"], "got": text[:200]})
    share = lambda k, n: round(tot[k] / tot[n], 4) if tot[n] else None  # noqa: E731
    return {"conversations": len(convs), "counts": dict(tot),
            "right_tool": share("right_tool", "tool_turns"),
            "right_tool_and_args": share("right_tool_and_args", "tool_turns"),
            "right_tool_and_exact_args": share("right_tool_and_exact_args", "tool_turns"),
            "plain_reply_when_no_tool": share("plain_reply", "reply_turns"),
            "right_language": share("right_language", "lang_checked"),
            "per_scenario": {k: dict(v) for k, v in sorted(per.items())}, "failures": fails}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("heldout")
    ap.add_argument("--moecat", default=os.path.join(os.path.dirname(__file__), "..", "build", "moecat"))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--port", type=int, default=18431)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--metrics", action="store_true", help="add the server's FFN experts per token (/metrics)")
    ap.add_argument("--tool-choice", default=None,
                    help="send this tool_choice (e.g. required) with every turn; the tool measures then show forced calls")
    ap.add_argument("--serve-arg", action="append", default=[],
                    help="extra argument for `moecat serve` (repeatable), e.g. --serve-arg=--no-tool-grammar")
    a = ap.parse_args()
    proc = subprocess.Popen([a.moecat, "serve", "-m", a.model, "--port", str(a.port), "-t", str(a.threads)] + a.serve_arg,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(a.port, proc)
        with open(a.heldout, encoding="utf-8") as f:
            convs = [json.loads(l) for _, l in zip(range(a.n), f)]
        out = evaluate(a.port, convs, a.max_tokens, a.tool_choice)
        if a.metrics:
            out["ffn_experts_per_token"] = ffn_experts_per_token(a.port)
        print(json.dumps(out, ensure_ascii=False, indent=1))
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
