#!/usr/bin/env python3
"""The figures of docs/MODEL.md, measured by moecat on the held-out split.

    model_report.py --gguf models/moecat-support.gguf --hf WORK/hf --heldout WORK/heldout.jsonl
                    [--moecat build/moecat] [--n-eval 200] [--n-ppl 60] [--n-mtp 60] [--threads 2]

  perplexity     exp(mean NLL) of the assistant tokens (what the model was trained to write) of the
                 first --n-ppl held-out conversations, from `moecat logprobs` (full-vocabulary
                 log-probs per position), for the shipped q8_0 GGUF and the f32 HF folder;
  q8_0 vs f32    KL(f32 || q8_0) per position, mean and max over every position of those
                 conversations, and how often the argmax differs;
  tools, language  tools/eval_support.py's measures over --n-eval conversations through `moecat
                 serve` (greedy), and the server's FFN experts computed per token per MoE layer
                 (/metrics) over that whole run;
  MTP            `moecat run` one-shot chats on the first customer message of --n-mtp
                 conversations, greedy, with and without `--draft mtp`: draft acceptance and
                 generation tokens/s (summed over the runs; replies are identical either way).
Prints one JSON object. Needs python3 with numpy, the moecat binary, and the tokenizer in WORK.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_support import evaluate, ffn_experts_per_token, wait_ready  # noqa: E402
from support_format import render  # noqa: E402
from train_bpe import Encoder  # noqa: E402


def conv_tokens(enc, d):
    """(ids, loss mask) as the trainer builds them: assistant spans encoded on their own."""
    text, spans = render(d["messages"], d["tools"], False)
    ids, mask, pos = [], [], 0
    for a, b in spans:
        for piece, on in ((text[pos:a], 0), (text[a:b], 1)):
            t = enc.encode(piece)
            ids += t
            mask += [on] * len(t)
        pos = b
    t = enc.encode(text[pos:])
    return ids + t, mask + [0] * len(t)


def logprobs(moecat, model, ids, threads):
    out = subprocess.run([moecat, "logprobs", "-m", model, "--tokens", ",".join(map(str, ids)), "-t", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["logprobs"]


def ppl_kl(a, convs, enc):
    nll = {"q8_0": 0.0, "f32": 0.0}
    n_tok = 0
    kls, flips = [], 0
    for d in convs:
        ids, mask = conv_tokens(enc, d)
        lp = {"q8_0": logprobs(a.moecat, a.gguf, ids, a.threads), "f32": logprobs(a.moecat, a.hf, ids, a.threads)}
        for t in range(len(ids) - 1):
            if mask[t + 1]:
                n_tok += 1
                for k in nll:
                    nll[k] -= lp[k][t][ids[t + 1]]
        p, q = np.array(lp["f32"]), np.array(lp["q8_0"])  # [positions][vocab] log-probs
        kls += (np.exp(p) * (p - q)).sum(axis=1).tolist()
        flips += int((p.argmax(axis=1) != q.argmax(axis=1)).sum())
    return {"conversations": len(convs), "assistant_tokens": n_tok,
            "perplexity_q8_0": round(math.exp(nll["q8_0"] / n_tok), 4),
            "perplexity_f32": round(math.exp(nll["f32"] / n_tok), 4),
            "kl_f32_q8_0_mean": kls and sum(kls) / len(kls), "kl_f32_q8_0_max": kls and max(kls),
            "positions": len(kls), "argmax_differs": flips}


def mtp(a, convs):
    gen = re.compile(r"generation: (\d+) tokens, ([\d.]+) tok/s")
    acc = re.compile(r"draft: (\d+) of (\d+) draft tokens accepted")
    res = {}
    for draft in (None, "mtp"):
        n_tok, secs, accepted, drafted, texts = 0, 0.0, 0, 0, []
        for d in convs:
            msg = next(m["content"] for m in d["messages"] if m["role"] == "user")
            cmd = [a.moecat, "run", "-m", a.gguf, msg, "--temp", "0", "-n", "128", "-t", "1"]
            if draft:
                cmd += ["--draft", draft]
            r = subprocess.run(cmd, check=True, capture_output=True, text=True)
            g = gen.search(r.stderr)
            n, tps = int(g.group(1)), float(g.group(2))
            n_tok += n
            secs += n / tps if tps > 0 else 0.0
            if draft:
                m = acc.search(r.stderr)
                accepted += int(m.group(1))
                drafted += int(m.group(2))
            texts.append(r.stdout)
        res[draft or "none"] = {"tokens": n_tok, "tok_s": round(n_tok / secs, 1) if secs else None,
                                "accepted": accepted, "drafted": drafted, "texts": texts}
    base, m = res["none"], res["mtp"]
    return {"chats": len(convs), "generated_tokens": base["tokens"],
            "acceptance": round(m["accepted"] / m["drafted"], 4) if m["drafted"] else None,
            "tok_s_without": base["tok_s"], "tok_s_with_mtp": m["tok_s"],
            "speedup": round(m["tok_s"] / base["tok_s"], 3) if base["tok_s"] and m["tok_s"] else None,
            "replies_identical": base["texts"] == m["texts"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--hf", required=True, help="the f32 HF folder the GGUF was converted from")
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--tokenizer", help="tokenizer.json (default: HF/tokenizer.json)")
    ap.add_argument("--moecat", default=os.path.join(os.path.dirname(__file__), "..", "build", "moecat"))
    ap.add_argument("--n-eval", type=int, default=200)
    ap.add_argument("--n-ppl", type=int, default=60)
    ap.add_argument("--n-mtp", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--port", type=int, default=18433)
    a = ap.parse_args()
    with open(a.tokenizer or os.path.join(a.hf, "tokenizer.json"), encoding="utf-8") as f:
        enc = Encoder(json.load(f))
    with open(a.heldout, encoding="utf-8") as f:
        convs = [json.loads(l) for l in f]
    out = {"model": a.gguf, "heldout": a.heldout}
    out["ppl_kl"] = ppl_kl(a, convs[:a.n_ppl], enc)
    out["mtp"] = mtp(a, convs[:a.n_mtp])
    proc = subprocess.Popen([a.moecat, "serve", "-m", a.gguf, "--port", str(a.port), "-t", str(a.threads)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(a.port, proc)
        out["eval"] = evaluate(a.port, convs[:a.n_eval], 128)
        out["ffn_experts_per_token"] = ffn_experts_per_token(a.port)
    finally:
        proc.terminate()
        proc.wait()
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
