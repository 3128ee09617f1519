#!/usr/bin/env python3
"""The shipped support model at the size of a real one: the same function, zero-padded.

The trained default model (models/moecat-support.gguf, hidden 192) is so small that a decode step
costs almost nothing and speculative decoding cannot pay; a random model of real size reads like
one but its drafts are never accepted. This writes a LongCat-Flash HF folder whose hidden size,
dense-MLP and expert widths are padded with zeros to real sizes (default hidden 2048, MLPs 2048,
experts 12288: most bytes in the experts, as in an MoE; ~0.37 GB of q8_0 weights per token at one
stream, 1.37 GB per step when every expert is read), so each step reads and multiplies real-sized
matrices while the outputs, and so the drafts' acceptance rate, are the trained model's. For bench/serve_draft_bench.sh (issue #11, point 2).

Why it is the same function (up to float rounding): every extra input column and every extra
output row is zero, so the residual stream's extra dimensions stay 0 and extra MLP / expert units
see 0 (SiLU(0) x 0 = 0). Two things depend on the hidden size and are compensated: RMSNorm over
the hidden size averages over D values instead of H (norm weights x sqrt(H / D), rms_norm_eps x
H / D), and LongCat's MLA LoRA scales sqrt(hidden / rank) (latent norm weights / sqrt(D / H)).
The attention heads, latent ranks, router and vocabulary are unchanged.

    inflate_support_model.py MODEL.gguf OUT_DIR [--hidden 2048] [--ffn 2048] [--expert-ffn 12288]

then `moecat convert OUT_DIR -o OUT.gguf --type q8_0`. Needs numpy (Debian python3-numpy).
"""
import argparse
import json
import os
import sys

import numpy as np

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools")
sys.path.insert(0, TOOLS)
from support_from_gguf import state_dict, tokenizer  # noqa: E402  (GGUF -> HF names, numpy f32)
from support_data import SYSTEM_PROMPTS, TOOLS as SHOP_TOOLS  # noqa: E402
from testmodel_common import write_folder  # noqa: E402
from train_support_model import make_config  # noqa: E402


def corner(a, shape):
    """a in the leading corner of a zero array of `shape`."""
    out = np.zeros(shape, np.float32)
    out[tuple(slice(0, n) for n in a.shape)] = a
    return out


def inflate(sd, H, D, F, Fe):
    norm_scale = np.float32(np.sqrt(H / D))
    out = {}
    for name, a in sd.items():
        leaf = name.split(".")[-2]  # ...<leaf>.weight
        if name.endswith("e_score_correction_bias"):
            out[name] = a  # the router's selection bias: one per expert
        elif name.endswith("layernorm.weight") and ("q_a_" in name or "kv_a_" in name):
            out[name] = a / np.float32(np.sqrt(D / H))  # MLA LoRA scale sqrt(hidden / rank) grows
        elif a.ndim == 1 and a.shape[0] == H:
            out[name] = corner(a * norm_scale, (D,))  # RMSNorm over the hidden size
        elif leaf == "eh_proj":  # MTP [H, 2H]: input = concat(enorm(embedding), hnorm(hidden))
            w = np.zeros((D, 2 * D), np.float32)
            w[:H, :H], w[:H, D:D + H] = a[:, :H], a[:, H:]
            out[name] = w
        elif leaf in ("gate_proj", "up_proj"):
            out[name] = corner(a, (Fe if ".experts." in name else F, D))
        elif leaf == "down_proj":
            out[name] = corner(a, (D, Fe if ".experts." in name else F))
        elif leaf in ("q_a_proj", "kv_a_proj_with_mqa", "classifier", "embed_tokens", "lm_head"):
            out[name] = corner(a, (a.shape[0], D))
        elif leaf == "o_proj":
            out[name] = corner(a, (D, a.shape[1]))
        elif leaf in ("q_b_proj", "kv_b_proj"):
            out[name] = a
        else:
            raise SystemExit("inflate: no rule for %s %s" % (name, a.shape))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--ffn", type=int, default=2048)
    ap.add_argument("--expert-ffn", type=int, default=12288)
    a = ap.parse_args()
    meta, sd = state_dict(a.model)
    arch = "longcat_flash"
    H = meta[arch + ".embedding_length"]
    F = meta[arch + ".feed_forward_length"]
    Fe = meta[arch + ".expert_feed_forward_length"]
    if a.hidden < H or a.ffn < F or a.expert_ffn < Fe:
        raise SystemExit("inflate: the new sizes must not be smaller than the model's (%d, %d, %d)" % (H, F, Fe))
    big = inflate(sd, H, a.hidden, a.ffn, a.expert_ffn)
    big.pop("model.mtp.embed_tokens.weight", None)  # the head runs on the main embedding

    tok, tok_cfg = tokenizer(meta, a.model)
    tok_cfg = dict(tok_cfg, default_system_prompt=SYSTEM_PROMPTS["en"][0], default_tools=SHOP_TOOLS)
    kv_lora = meta[arch + ".attention.kv_lora_rank"]
    rope = meta[arch + ".rope.dimension_count"]
    dims = dict(hidden=a.hidden, layers=meta[arch + ".block_count"], heads=meta[arch + ".attention.head_count"],
                q_lora=meta[arch + ".attention.q_lora_rank"], kv_lora=kv_lora,
                nope=meta[arch + ".attention.key_length_mla"] - rope, rope=rope,
                v=meta[arch + ".attention.value_length_mla"], ffn=a.ffn, expert_ffn=a.expert_ffn,
                experts=meta[arch + ".expert_count"], zero=meta[arch + ".expert_zero_count"],
                top_k=meta[arch + ".expert_used_count"], scale=meta.get(arch + ".expert_weights_scale", 1.0))
    cfg = make_config(len(meta["tokenizer.ggml.tokens"][1]), meta["tokenizer.ggml.bos_token_id"],
                      meta["tokenizer.ggml.eos_token_id"], dims)
    cfg["rms_norm_eps"] = meta[arch + ".attention.layer_norm_rms_epsilon"] * H / a.hidden
    tensors = [(n, t.shape, "f32", (lambda t=t: [t])) for n, t in sorted(big.items())]
    write_folder(a.out, cfg, tok, tok_cfg, tensors, 4)
    n = sum(t.size for t in big.values())
    print("inflate: hidden %d -> %d, MLPs %d -> %d, experts %d -> %d: %.0fM parameters -> %s" %
          (H, a.hidden, F, a.ffn, Fe, a.expert_ffn, n / 1e6, a.out), file=sys.stderr)


if __name__ == "__main__":
    main()
