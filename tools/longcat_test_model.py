#!/usr/bin/env python3
"""Writes a small random LongcatFlashForCausalLM checkpoint folder in the REAL checkpoint layout.

    longcat_test_model.py OUT_DIR [--seed S] [--dtype f32|f16|bf16] [--shards N] [--no-mtp]
                          [--zero-experts Z] [--rope-scaling yarn]

As a module: write_longcat_flash(out_dir, seed=1234, dtype="f32", shards=1, with_mtp=True,
zero_experts=4, rope_scaling=None) -> (config dict, [(tensor name, shape)]).

Layout (see docs/longcat-flash.md for the sources): config.json with the key names of
meituan-longcat/LongCat-Flash-Chat (num_layers, ffn_hidden_size, expert_ffn_hidden_size,
n_routed_experts, zero_expert_num, zero_expert_type, moe_topk, routed_scaling_factor,
mla_scale_q_lora / mla_scale_kv_lora booleans, ...); safetensors with the checkpoint names:

  model.embed_tokens.weight, model.norm.weight, lm_head.weight
  model.layers.L.input_layernorm.{0,1}.weight, model.layers.L.post_attention_layernorm.{0,1}.weight
  model.layers.L.self_attn.{0,1}.{q_a_proj, q_a_layernorm, q_b_proj, kv_a_proj_with_mqa,
                                   kv_a_layernorm, kv_b_proj, o_proj}.weight
  model.layers.L.mlps.{0,1}.{gate_proj, up_proj, down_proj}.weight        (dense, ffn_hidden_size)
  model.layers.L.mlp.router.classifier.weight          [n_routed + zero, hidden]
  model.layers.L.mlp.router.e_score_correction_bias    [n_routed + zero]  (always F32)
  model.layers.L.mlp.experts.E.{gate_proj, up_proj, down_proj}.weight   (E < n_routed only)
  MTP (with_mtp): model.mtp.embed_tokens.weight, model.mtp.norm.weight,
    model.mtp.layers.0.{eh_proj.weight, enorm.m.weight, hnorm.m.weight, input_layernorm.weight,
    post_attention_layernorm.weight, self_attn.*.weight (one MLA, same names as above),
    transformer_layer.mlp.{gate_proj, up_proj, down_proj}.weight}   (dense, ffn_hidden_size)

plus tokenizer.json / tokenizer_config.json (the byte-level BPE writer of make_test_model.py,
imported read-only) and generation_config.json; tools/testmodel_common.py writes the files.
model.mtp.embed_tokens.weight is drawn independently of model.embed_tokens.weight on purpose: vLLM
and SGLang run the MTP layer with the MAIN model's embedding (and lm_head), so an implementation
that picks up the MTP copy disagrees.

Scales (measured by tests/ref/hf_longcat_flash.py, see docs/longcat-flash.md): router logits
std ~3 over the 12 (8 routed + 4 zero) experts so top-3 choices are decisive; the correction
bias is N(0, 0.04) for routed experts and +0.06 + N(0, 0.04) for zero experts, comparable to the
spread of the softmax scores, so it changes many choices and zero experts win a good share of
slots. Expert down projections are small (zero experts add weight x input, weights up to
routed_scaling_factor = 6, so the identity path dominates the MoE output anyway).

Needs only python3 + numpy (Debian's /usr/bin/python3). Each tensor has its own RNG seeded by
(seed, tensor name), so values do not depend on --shards or --dtype.
"""

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_test_model import build_tokenizer  # noqa: E402  (read-only reuse of the BPE writer)
from testmodel_common import TORCH_DTYPE, tensor_rng, write_folder  # noqa: E402

# Toy dimensions with LongCat-Flash's structure (real: hidden 6144, 28 layers, 64 heads,
# q_lora 1536, kv_lora 512, nope 128, rope 64, v 128, ffn 12288, expert ffn 2048, 512 routed +
# 256 zero experts, top-12, routed_scaling_factor 6).
DIMS = dict(hidden=128, layers=2, heads=4, q_lora=48, kv_lora=32, nope=16, rope=8, v=16,
            ffn=256, expert_ffn=32, experts=8, top_k=3, scale=6.0)


def make_config(dtype, n_vocab, special_ids, with_mtp, zero_experts, rope_scaling, dims=None,
                max_pos=2048, rope_theta=10000000.0, init_range=0.006):
    """config.json as in meituan-longcat/LongCat-Flash-Chat (its own key names, not the
    DeepSeek ones). head_dim = qk_rope_head_dim is written because transformers'
    LongcatFlashRotaryEmbedding and yarn init read config.head_dim (class default 64, which is
    the real qk_rope_head_dim); Meituan's configuration class sets head_dim = qk_rope_head_dim.
    dims, max_pos, rope_theta, init_range: other sizes (tools/train_support_model.py's model)."""
    d = dims or DIMS
    cfg = {
        "architectures": ["LongcatFlashForCausalLM"], "model_type": "longcat_flash",
        "attention_method": "MLA", "attention_bias": False, "attention_dropout": 0.0,
        "vocab_size": n_vocab, "hidden_size": d["hidden"], "ffn_hidden_size": d["ffn"],
        "expert_ffn_hidden_size": d["expert_ffn"], "num_layers": d["layers"],
        "num_attention_heads": d["heads"], "kv_lora_rank": d["kv_lora"], "q_lora_rank": d["q_lora"],
        "qk_rope_head_dim": d["rope"], "qk_nope_head_dim": d["nope"], "v_head_dim": d["v"],
        "head_dim": d["rope"], "n_routed_experts": d["experts"], "moe_topk": d["top_k"],
        "norm_topk_prob": False, "router_bias": False, "routed_scaling_factor": d["scale"],
        "zero_expert_num": zero_experts, "zero_expert_type": "identity",
        "mla_scale_q_lora": True, "mla_scale_kv_lora": True,
        "max_position_embeddings": max_pos, "rms_norm_eps": 1e-5, "rope_theta": rope_theta,
        "rope_scaling": None, "hidden_act": "silu", "initializer_range": init_range,
        "bos_token_id": special_ids["<|endoftext|>"], "eos_token_id": special_ids["<|im_end|>"],
        "tie_word_embeddings": False, "use_cache": True, "torch_dtype": TORCH_DTYPE[dtype],
        "transformers_version": "4.57.0",
    }
    if with_mtp:
        cfg["num_nextn_predict_layers"] = 1
    if rope_scaling == "yarn":
        # DeepSeek-style yarn dict (what transformers' yarn + yarn_apply_mscale read), with a
        # small original context so the 4 rope frequencies of the 8-dim rope part fall in all
        # three yarn regimes; max_position_embeddings = factor * original as transformers <= 4.56
        # derives the factor from that ratio.
        orig, factor = 128, 40
        cfg["rope_scaling"] = {"type": "yarn", "factor": factor, "original_max_position_embeddings": orig,
                               "beta_fast": 32, "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0}
        cfg["max_position_embeddings"] = factor * orig
        cfg["rope_theta"] = 10000.0  # so the 4 frequencies spread over the yarn ramp
    elif rope_scaling:
        raise SystemExit("rope_scaling %r is not supported (use yarn or None)" % rope_scaling)
    return dict(sorted(cfg.items()))


def mla_specs(p, cfg):
    H, nh, qr, kvr = cfg["hidden_size"], cfg["num_attention_heads"], cfg["q_lora_rank"], cfg["kv_lora_rank"]
    nope, rope, v = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    return [(p + "q_a_proj.weight", (qr, H), "lin"),
            (p + "q_a_layernorm.weight", (qr,), "norm"),
            (p + "q_b_proj.weight", (nh * (nope + rope), qr), "lin"),      # per head [nope | rope]
            (p + "kv_a_proj_with_mqa.weight", (kvr + rope, H), "lin"),     # [c (kv_lora) | k_rope]
            (p + "kv_a_layernorm.weight", (kvr,), "norm"),
            (p + "kv_b_proj.weight", (nh * (nope + v), kvr), "lin"),       # per head [k_nope | v]
            (p + "o_proj.weight", (H, nh * v), "lin")]


def mlp_specs(p, H, F, down_kind="lin"):
    return [(p + "gate_proj.weight", (F, H), "lin"), (p + "up_proj.weight", (F, H), "lin"),
            (p + "down_proj.weight", (H, F), down_kind)]


def tensor_specs(cfg, with_mtp):
    """[(name, shape, kind)] with the checkpoint's names, nn.Linear layout [out, in]."""
    H, V, F, Fe = cfg["hidden_size"], cfg["vocab_size"], cfg["ffn_hidden_size"], cfg["expert_ffn_hidden_size"]
    E, Z = cfg["n_routed_experts"], cfg["zero_expert_num"]
    specs = [("model.embed_tokens.weight", (V, H), "embed")]
    for L in range(cfg["num_layers"]):
        p = "model.layers.%d." % L
        for i in (0, 1):
            specs += [(p + "input_layernorm.%d.weight" % i, (H,), "norm"),
                      (p + "post_attention_layernorm.%d.weight" % i, (H,), "norm")]
            specs += mla_specs(p + "self_attn.%d." % i, cfg)
            specs += mlp_specs(p + "mlps.%d." % i, H, F)
        specs += [(p + "mlp.router.classifier.weight", (E + Z, H), "router"),
                  (p + "mlp.router.e_score_correction_bias", (E + Z,), "score_bias")]
        for e in range(E):
            specs += mlp_specs(p + "mlp.experts.%d." % e, H, Fe, "expert_down")
    specs += [("model.norm.weight", (H,), "norm"), ("lm_head.weight", (V, H), "head")]
    if with_mtp:
        q = "model.mtp.layers.0."
        specs += [("model.mtp.embed_tokens.weight", (V, H), "embed"),
                  (q + "eh_proj.weight", (H, 2 * H), "lin"),       # input cat([enorm(e), hnorm(h)])
                  (q + "enorm.m.weight", (H,), "norm"), (q + "hnorm.m.weight", (H,), "norm"),
                  (q + "input_layernorm.weight", (H,), "norm"),
                  (q + "post_attention_layernorm.weight", (H,), "norm")]
        specs += mla_specs(q + "self_attn.", cfg)
        specs += mlp_specs(q + "transformer_layer.mlp.", H, F)
        specs.append(("model.mtp.norm.weight", (H,), "norm"))
    return specs


def tensor_values(seed, name, shape, kind, cfg):
    """float32 values, deterministic in (seed, name)."""
    rng = tensor_rng(seed, name)
    if kind == "norm":  # RMSNorm gains around 1, never near 0
        return (1.0 + 0.2 * rng.standard_normal(shape)).astype(np.float32)
    if kind == "score_bias":
        # Added to the softmax SCORES (in [0, 1], ~1/12 on average) for the choice only: N(0,
        # 0.04) is comparable to their spread and flips many top-3 choices. Zero experts get
        # +0.06 on top so they take a good share of slots (the point of the test model).
        b = 0.04 * rng.standard_normal(shape)
        b[cfg["n_routed_experts"]:] += 0.06
        return b.astype(np.float32)
    fan_in = shape[-1]
    scale = {"embed": 1.0, "router": 3.0 / math.sqrt(fan_in), "head": 0.25,
             "expert_down": 0.5 / math.sqrt(fan_in)}.get(kind, 1.0 / math.sqrt(fan_in))
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def tensor_list(specs, seed, dtype, cfg, values=None):
    """[(name, shape, dtype, values)] for testmodel_common.write_folder; values(seed, name, shape,
    kind, cfg) defaults to tensor_values. e_score_correction_bias stays F32 (as the released
    DeepSeek-style checkpoints keep it) whatever dtype the weights have."""
    values = values or tensor_values

    def one(name, shape, kind):
        return lambda: [values(seed, name, shape, kind, cfg)]

    return [(name, shape, "f32" if kind == "score_bias" else dtype, one(name, shape, kind))
            for name, shape, kind in specs]


def check_args(dtype, shards, zero_experts):
    if dtype not in ("f32", "f16", "bf16"):
        raise ValueError("dtype must be f32, f16 or bf16")
    if shards < 1 or zero_experts < 0:
        raise ValueError("shards must be >= 1 and zero_experts >= 0")


def write_longcat_flash(out_dir, seed=1234, dtype="f32", shards=1, with_mtp=True, zero_experts=4,
                        rope_scaling=None):
    """Writes the folder; returns (config dict, [(tensor name, shape)])."""
    check_args(dtype, shards, zero_experts)
    tok, tok_cfg, n_vocab, special_ids = build_tokenizer("qwen2", n_merges=300)
    cfg = make_config(dtype, n_vocab, special_ids, with_mtp, zero_experts, rope_scaling)
    specs = tensor_specs(cfg, with_mtp)
    write_folder(out_dir, cfg, tok, tok_cfg, tensor_list(specs, seed, dtype, cfg), shards)
    return cfg, [(n, s) for n, s, _ in specs]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--no-mtp", action="store_true", help="omit the model.mtp.* tensors")
    ap.add_argument("--zero-experts", type=int, default=4, help="zero_expert_num (default 4)")
    ap.add_argument("--rope-scaling", choices=["yarn"], default=None)
    args = ap.parse_args()
    try:
        cfg, specs = write_longcat_flash(args.out_dir, args.seed, args.dtype, args.shards,
                                         not args.no_mtp, args.zero_experts, args.rope_scaling)
    except ValueError as e:
        raise SystemExit("longcat_test_model: %s" % e)
    n_params = sum(int(np.prod(s)) for _, s in specs)
    print("wrote %s: LongcatFlashForCausalLM, %d tensors, %.2fM params, vocab %d, dtype %s, shards %d, "
          "mtp %s, zero experts %d, rope_scaling %s" % (
              args.out_dir, len(specs), n_params / 1e6, cfg["vocab_size"], args.dtype, args.shards,
              not args.no_mtp, cfg["zero_expert_num"], args.rope_scaling), file=sys.stderr)


if __name__ == "__main__":
    main()
