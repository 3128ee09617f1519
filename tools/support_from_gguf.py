#!/usr/bin/env python3
"""Reads moecat's shipped support model (a LongCat-Flash GGUF written by `moecat convert`) back
into what tools/train_support_model.py trains: the tokenizer files and the HF state dict.

    support_from_gguf.py MODEL.gguf WORK_DIR

Writes WORK_DIR/tokenizer.json and tokenizer_config.json (tools/train_bpe.py's format, rebuilt
from the file's merges: byte-identical vocabulary) and WORK_DIR/init.pt (HF names -> f32
tensors). The trainer starts from init.pt when it has no checkpoint (`--init`), so a shipped
model can be trained further on new data without its lost optimizer state.

Inverse of the converter's naming (src/model/arch/longcat_flash.cpp `names()`) and of the MLA
split (src/model/blocks/mla.cpp: HF kv_b_proj [H*(nope+v), kv_lora] -> attn_k_b [H, kv_lora,
nope] (each head's W_kb transposed) and attn_v_b [H, v, kv_lora]). q8_0 tensors are dequantized
(f16 scale x int8), so the weights carry q8_0's rounding (relative error ~0.4 %).
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from longcat_community_gguf import read_gguf  # noqa: E402
from train_bpe import build  # noqa: E402

PER_SUB = {"attn_norm": "input_layernorm.{i}.weight", "ffn_norm": "post_attention_layernorm.{i}.weight",
           "attn_q_a": "self_attn.{i}.q_a_proj.weight", "attn_q_a_norm": "self_attn.{i}.q_a_layernorm.weight",
           "attn_q_b": "self_attn.{i}.q_b_proj.weight", "attn_q": "self_attn.{i}.q_proj.weight",
           "attn_kv_a_mqa": "self_attn.{i}.kv_a_proj_with_mqa.weight",
           "attn_kv_a_norm": "self_attn.{i}.kv_a_layernorm.weight", "attn_output": "self_attn.{i}.o_proj.weight",
           "ffn_gate": "mlps.{i}.gate_proj.weight", "ffn_up": "mlps.{i}.up_proj.weight",
           "ffn_down": "mlps.{i}.down_proj.weight"}
TOP = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
       "output.weight": "lm_head.weight"}
MTP = {"enorm": "enorm.m.weight", "hnorm": "hnorm.m.weight", "eh_proj": "eh_proj.weight",
       "attn_norm": "input_layernorm.weight", "ffn_norm": "post_attention_layernorm.weight",
       "attn_q_a": "self_attn.q_a_proj.weight", "attn_q_a_norm": "self_attn.q_a_layernorm.weight",
       "attn_q_b": "self_attn.q_b_proj.weight", "attn_q": "self_attn.q_proj.weight",
       "attn_kv_a_mqa": "self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_norm": "self_attn.kv_a_layernorm.weight",
       "attn_output": "self_attn.o_proj.weight", "ffn_gate": "transformer_layer.mlp.gate_proj.weight",
       "ffn_up": "transformer_layer.mlp.up_proj.weight", "ffn_down": "transformer_layer.mlp.down_proj.weight"}


def dequant(ne, t, raw):
    """numpy f32 array in row-major shape reversed(ne) (GGUF's ne[0] is the innermost)."""
    shape = tuple(reversed(ne))
    if t == 0:
        return np.frombuffer(raw, "<f4").reshape(shape).copy()
    if t == 1:
        return np.frombuffer(raw, "<f2").astype(np.float32).reshape(shape)
    if t == 30:
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
    if t == 8:  # q8_0: blocks of 32, f16 scale then 32 int8
        b = np.frombuffer(raw, np.uint8).reshape(-1, 34)
        d = b[:, :2].copy().view("<f2").astype(np.float32)
        q = b[:, 2:].view(np.int8).astype(np.float32)
        return (q * d).reshape(shape)
    raise SystemExit("ggml type %d not handled" % t)


def state_dict(path):
    kv, names, tensors, _ = read_gguf(path)
    meta = {k: v for k, _, v in kv}
    arch = meta["general.architecture"]
    if arch != "longcat_flash":
        raise SystemExit("%s: architecture %s, expected longcat_flash" % (path, arch))
    H = meta[arch + ".attention.head_count"]
    kl = meta[arch + ".attention.key_length_mla"]
    rope = meta[arch + ".rope.dimension_count"]
    nope = kl - rope
    out, kb, vb = {}, {}, {}
    for name in names:
        ne, t, raw = tensors[name]
        a = dequant(ne, t, raw)
        p = name.split(".")
        if name in TOP:
            out[TOP[name]] = a
        elif p[0] == "blk":
            L = p[1]
            base = "model.layers.%s." % L
            if p[2] == "ffn_gate_inp":
                out[base + "mlp.router.classifier.weight"] = a
            elif p[2] == "exp_probs_b":
                out[base + "mlp.router.e_score_correction_bias"] = a
            elif p[2] in ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"):
                proj = p[2].split("_")[1] + "_proj"
                for e in range(a.shape[0]):
                    out[base + "mlp.experts.%d.%s.weight" % (e, proj)] = a[e]
            elif p[2] in ("attn_k_b", "attn_v_b"):
                (kb if p[2] == "attn_k_b" else vb)[base + "self_attn.%s.kv_b_proj.weight" % p[3]] = a
            else:
                out[base + PER_SUB[p[2]].replace("{i}", p[3])] = a
        elif p[0] == "mtp":
            base = "model.mtp.layers.0."
            if p[1] == "output_norm":
                out["model.mtp.norm.weight"] = a
            elif p[1] in ("attn_k_b", "attn_v_b"):
                (kb if p[1] == "attn_k_b" else vb)[base + "self_attn.kv_b_proj.weight"] = a
            else:
                out[base + MTP[p[1]]] = a
        else:
            raise SystemExit("unexpected tensor " + name)
    for k in kb:  # k_b [H, R, nope] (transposed per head), v_b [H, V, R] -> kv_b [H*(nope+V), R]
        k_rows = kb[k].transpose(0, 2, 1)  # [H, nope, R]
        assert k_rows.shape[0] == H and k_rows.shape[1] == nope, (k, k_rows.shape)
        out[k] = np.concatenate([k_rows, vb[k]], axis=1).reshape(-1, k_rows.shape[2])
    # The MTP layer's own embed_tokens copy is in the HF layout but unused (the head runs on the
    # main embedding; the GGUF leaves it out): the main one stands in.
    out["model.mtp.embed_tokens.weight"] = out["model.embed_tokens.weight"].copy()
    return meta, out


def tokenizer(meta, path):
    """(tokenizer.json, tokenizer_config.json) rebuilt from the file's merges, checked against its
    token list (byte-identical vocabulary)."""
    merges = [tuple(m.split(" ")) for m in meta["tokenizer.ggml.merges"][1]]
    pre = meta.get("tokenizer.ggml.pre", (None, "qwen2"))[1]  # the shipped model's split is Qwen2's
    tok, cfg, n = build(merges, 3 if pre == "llama-bpe" else 1)
    tokens = meta["tokenizer.ggml.tokens"][1]
    inv = {i: s for s, i in tok["model"]["vocab"].items()}
    inv.update({a["id"]: a["content"] for a in tok["added_tokens"]})
    if n != len(tokens) or any(inv.get(i) != s for i, s in enumerate(tokens)):
        raise SystemExit("%s: the vocabulary rebuilt from the merges differs from the file's tokens" % path)
    return tok, cfg


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    import torch
    path, work = sys.argv[1], sys.argv[2]
    meta, sd = state_dict(path)
    os.makedirs(work, exist_ok=True)
    tok, cfg = tokenizer(meta, path)
    n = len(meta["tokenizer.ggml.tokens"][1])
    with open(os.path.join(work, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    with open(os.path.join(work, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)
    torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, os.path.join(work, "init.pt"))
    print("support_from_gguf: %d tensors, vocab %d -> %s" % (len(sd), n, work), file=sys.stderr)


if __name__ == "__main__":
    main()
