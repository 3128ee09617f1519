#!/usr/bin/env python3
"""The prompt format of moecat's support model: LongCat-Flash-Chat's round format with tools.

render(messages, tools, add_generation_prompt) gives the text of moecat's built-in LongCat
renderer (src/serve/chat/longcat_format.cpp, render_longcat_chat) for the messages, with a
compact tool block (one line per tool and a one-line calling note instead of LongCat's JSON
schemas, see _tools_block); CHAT_TEMPLATE is a Jinja template (tokenizer_config.json
"chat_template") that renders the same text. The training data is rendered by render(), the
server renders requests with the template (its <longcat_tool_call> marker selects moecat's
LongCat output parser), and a test checks that the two agree. As a script, prints the rendering of each conversation of a JSONL file
(tools/support_data.py output):

    support_format.py DATA.jsonl [--n N]
"""

import json
import sys

TOOL_NOTE = "Call a tool as <longcat_tool_call>{\"name\": ..., \"arguments\": {...}}</longcat_tool_call>."

# Special tokens of the support tokenizer (added tokens, never split by BPE). EOS ends a reply.
EOS = "</longcat_s>"
SPECIALS = ["<longcat_s>", EOS, "<longcat_tool_call>", "</longcat_tool_call>", "<longcat_tool_response>",
            "</longcat_tool_response>"]


def _dump(v):
    """JSON as Python's json.dumps / Jinja's tojson print it (", " and ": ", UTF-8 kept)."""
    return json.dumps(v, ensure_ascii=False)


def _tools_block(tools):
    """One line per tool (name, argument names, description): a few dozen tokens per tool where
    LongCat's own format prints each JSON schema and a long note (~450 tokens for the five shop
    tools), which would make the training sequences three times longer."""
    s = "## Tools\n"
    for t in tools:
        fn = t.get("function", t)
        props = (fn.get("parameters") or {}).get("properties") or {}
        s += "- %s(%s): %s\n" % (fn.get("name", ""), ", ".join(props), fn.get("description", ""))
    return s + TOOL_NOTE


def render_call(tc):
    fn = tc.get("function", tc)
    args = fn.get("arguments", {})
    args = args if isinstance(args, str) else _dump(args)
    return "<longcat_tool_call>\n{\"name\": %s, \"arguments\": %s}\n</longcat_tool_call>" % (_dump(fn.get("name", "")), args)


def render(messages, tools, add_generation_prompt):
    """Returns (text, spans): spans are the [start, end) character ranges of assistant output
    (what the model is trained to produce: reply text, tool calls and the closing EOS)."""
    out = ""
    if tools:
        out = _tools_block(tools) + "\n\n## Messages\n"
    start = len(out)
    rnd = 0
    prev = ""
    spans = []
    for m in messages:
        role = m.get("role", "")
        content = m.get("content") or ""
        if role == "system":
            if len(out) > start:
                out += " "
            out += "SYSTEM:" + content
        elif role == "user":
            if len(out) > start:
                out += " "
            out += "[Round %d] USER:" % rnd + content
            rnd += 1
        elif role == "assistant":
            out += " ASSISTANT:"
            a = len(out)
            out += content
            for tc in m.get("tool_calls") or []:
                out += render_call(tc)
            out += EOS
            spans.append((a, len(out)))
        elif role == "tool":
            if prev != "tool":
                if len(out) > start:
                    out += " "
                out += "[Round %d] USER:" % rnd
                rnd += 1
            out += "<longcat_tool_response>\n" + content + "\n</longcat_tool_response>"
        prev = role
    if add_generation_prompt:
        out += " ASSISTANT:"
    return out, spans


# The same rendering in Jinja (HF chat-template conventions: messages, tools,
# add_generation_prompt; tojson prints like json.dumps). Tool arguments given as a JSON string
# (OpenAI shape) are printed as they are, objects through tojson.
CHAT_TEMPLATE = (
    "{%- set ns = namespace(out='', args='', started=false, round=0, prev='') -%}"
    "{%- if tools -%}"
    "{%- set ns.out = '## Tools\\n' -%}"
    "{%- for t in tools -%}"
    "{%- set fn = t.function if t.function is defined else t -%}"
    "{%- set ns.args = '' -%}"
    "{%- if fn.parameters is defined and fn.parameters.properties is defined -%}"
    "{%- for k, v in fn.parameters.properties.items() -%}"
    "{%- set ns.args = ns.args + (', ' if loop.index0 > 0 else '') + k -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- set ns.out = ns.out + '- ' + fn.name + '(' + ns.args + '): ' + (fn.description or '') + '\\n' -%}"
    "{%- endfor -%}"
    "{%- set ns.out = ns.out + " + json.dumps(TOOL_NOTE).replace("'", "\\'") + " + '\\n\\n## Messages\\n' -%}"
    "{%- endif -%}"
    "{{- ns.out -}}"
    "{%- for m in messages -%}"
    "{%- set content = m.content if m.content is string else '' -%}"
    "{%- if m.role == 'system' -%}"
    "{%- if ns.started %} {% endif -%}SYSTEM:{{ content }}{%- set ns.started = true -%}"
    "{%- elif m.role == 'user' -%}"
    "{%- if ns.started %} {% endif -%}[Round {{ ns.round }}] USER:{{ content }}"
    "{%- set ns.round = ns.round + 1 -%}{%- set ns.started = true -%}"
    "{%- elif m.role == 'assistant' -%}"
    "{{- ' ASSISTANT:' + content -}}"
    "{%- for tc in (m.tool_calls or []) -%}"
    "{%- set fn = tc.function if tc.function is defined else tc -%}"
    "<longcat_tool_call>\n{\"name\": {{ fn.name | tojson }}, \"arguments\": "
    "{%- if fn.arguments is string %} {{ fn.arguments }}{% else %} {{ fn.arguments | tojson }}{% endif -%}"
    "}\n</longcat_tool_call>"
    "{%- endfor -%}"
    "</longcat_s>{%- set ns.started = true -%}"
    "{%- elif m.role == 'tool' -%}"
    "{%- if ns.prev != 'tool' -%}"
    "{%- if ns.started %} {% endif -%}[Round {{ ns.round }}] USER:{%- set ns.round = ns.round + 1 -%}"
    "{%- endif -%}"
    "<longcat_tool_response>\n{{ content }}\n</longcat_tool_response>{%- set ns.started = true -%}"
    "{%- endif -%}"
    "{%- set ns.prev = m.role -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- ' ASSISTANT:' -}}{%- endif -%}"
)


def main():
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 3
    with open(sys.argv[1], encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= n:
                break
            d = json.loads(line)
            print(render(d["messages"], d["tools"], False)[0])
            print("-" * 80)


if __name__ == "__main__":
    main()
