#!/usr/bin/env python3
"""Independent float64 reference forward pass of a Hugging Face checkpoint folder.

    hf_forward.py HF_DIR --tokens 1,2,3 [--greedy N]

Prints the same JSON as `moecat logprobs`: {"tokens": [...], "logprobs": [[log p(v) for v in
vocab] per position], "greedy": [N argmax continuation tokens]}. A one-line summary of what was
computed (architecture, rope type, MoE layers) goes to stderr.

Why it exists: moecat's HF loader and the GGUF files moecat writes share moecat's code (e.g. the
llama3 rope frequency factors), so a shared mistake passes moecat-HF vs moecat-GGUF, and can
pass moecat vs llama.cpp whenever moecat wrote the GGUF llama.cpp reads. This file follows the
transformers modeling code (modeling_llama.py, modeling_mixtral.py, modeling_qwen3_moe.py,
modeling_rope_utils.py) directly, reading only config.json and the safetensors, so it shares
nothing with moecat or llama.cpp. Everything is float64 (transformers runs float32 on these
f32 checkpoints; the difference is ~1e-6 in log p, far below the 1e-4 bound it is used with).
It is written as one small function per block so that later architectures (DeepSeek-V3,
LongCat-Flash) can be added as new block functions.

Supported: LlamaForCausalLM (rope_scaling none / default / linear / llama3, attention_bias,
mlp_bias), MixtralForCausalLM, Qwen3MoeForCausalLM (q_norm/k_norm, norm_topk_prob,
mlp_only_layers, decoder_sparse_step); tie_word_embeddings; F32 / F16 / BF16 safetensors, single
file or sharded (model.safetensors.index.json). Anything else stops with a message.

Self-test switch: HF_FORWARD_BREAK=llama3 skips the llama3 rope frequency scaling and
HF_FORWARD_BREAK=norm_topk inverts the top-k renormalisation choice of the MoE router; both
make the output deliberately wrong, to show that a comparison against it can fail. Never set
it in a real check.

Needs only python3 + numpy (Debian's /usr/bin/python3 with python3-numpy). Greedy decoding
recomputes the whole sequence for each new token (no KV cache: sequences are ~100 tokens).
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_common import (apply_rotate_half, break_switch, causal_attention, cli_parser, default_inv_freq,  # noqa: E402
                       failer, gated_mlp, greedy_continuation, llama3_inv_freq, load_checkpoint, log_softmax,
                       parse_tokens, print_json, rms_norm, rotate_half_tables, route_to_experts, softmax,
                       tie_lm_head)

BREAK = break_switch("hf_forward", "HF_FORWARD_BREAK", ("llama3", "norm_topk"))
fail = failer("hf_forward")


# ---------------------------------------------------------------------------------------------
# Building blocks (transformers semantics)

def linear(W, name, x):  # nn.Linear: x @ weight.T (+ bias when the checkpoint has one)
    y = x @ W[name + ".weight"].T
    return y + W[name + ".bias"] if name + ".bias" in W else y


def rope_inv_freq(cfg, head_dim):
    """modeling_rope_utils: _compute_default_rope_parameters, then the rope_type's rescaling."""
    inv_freq = default_inv_freq(cfg["rope_theta"], head_dim)  # [head_dim/2]
    rs = cfg.get("rope_scaling") or {}
    rope_type = rs.get("rope_type", rs.get("type", "default"))
    if rope_type == "default":
        return inv_freq, "default"
    if rope_type == "linear":
        return inv_freq / rs["factor"], "linear"
    if rope_type != "llama3":
        fail("rope_type %r is not supported" % rope_type)
    if BREAK == "llama3":
        return inv_freq, "llama3 (BROKEN on purpose: HF_FORWARD_BREAK=llama3)"
    return llama3_inv_freq(inv_freq, rs), "llama3"


def attention(cfg, W, p, h, cos, sin):
    """LlamaAttention / MixtralAttention / Qwen3MoeAttention (eager), causal; h [T, hidden]."""
    T = h.shape[0]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = head_dim(cfg)
    q = linear(W, p + "q_proj", h).reshape(T, nh, hd)
    k = linear(W, p + "k_proj", h).reshape(T, nkv, hd)
    v = linear(W, p + "v_proj", h).reshape(T, nkv, hd)
    if p + "q_norm.weight" in W:  # Qwen3: RMSNorm over head_dim of each head, before RoPE
        q = rms_norm(q, W[p + "q_norm.weight"], cfg["rms_norm_eps"])
        k = rms_norm(k, W[p + "k_norm.weight"], cfg["rms_norm_eps"])
    q, k = apply_rotate_half(q, cos, sin), apply_rotate_half(k, cos, sin)
    k = np.repeat(k, nh // nkv, axis=1)  # repeat_kv: kv head j serves query heads j*g .. j*g+g-1
    v = np.repeat(v, nh // nkv, axis=1)
    return linear(W, p + "o_proj", causal_attention(q, k, v, hd ** -0.5))


def mlp(W, gate, up, down, h):  # LlamaMLP / MixtralBlockSparseTop2MLP / Qwen3MoeMLP
    return gated_mlp(lambda name, x: linear(W, name, x), gate, up, down, h)


def moe(W, router, expert_names, top_k, renormalise, h):
    """Sparse MoE block: softmax over all experts, keep the top_k, optionally rescale them to
    sum 1, then sum the chosen experts' outputs weighted by those probabilities."""
    probs = softmax(linear(W, router, h))  # [T, experts]
    top = np.argsort(-probs, axis=-1, kind="stable")[:, :top_k]  # [T, top_k]
    weights = np.take_along_axis(probs, top, -1)
    if renormalise != (BREAK == "norm_topk"):
        weights /= weights.sum(-1, keepdims=True)
    return route_to_experts(top, weights, h, len(expert_names), lambda e, x: mlp(W, *expert_names[e], x))


def feed_forward(cfg, W, i, h):
    """The MLP half of decoder layer i, by architecture."""
    mt, p = cfg["model_type"], "model.layers.%d." % i
    if mt == "llama":
        return mlp(W, p + "mlp.gate_proj", p + "mlp.up_proj", p + "mlp.down_proj", h)
    if mt == "mixtral":  # MixtralSparseMoeBlock: w1 = gate, w3 = up, w2 = down; always renormalised
        q = p + "block_sparse_moe."
        names = [(q + "experts.%d.w1" % e, q + "experts.%d.w3" % e, q + "experts.%d.w2" % e)
                 for e in range(cfg["num_local_experts"])]
        return moe(W, q + "gate", names, cfg["num_experts_per_tok"], True, h)
    if mt == "qwen3_moe":
        if is_qwen3_sparse_layer(cfg, i):
            names = [tuple(p + "mlp.experts.%d.%s_proj" % (e, n) for n in ("gate", "up", "down"))
                     for e in range(cfg["num_experts"])]
            return moe(W, p + "mlp.gate", names, cfg["num_experts_per_tok"],
                       cfg.get("norm_topk_prob", False), h)
        return mlp(W, p + "mlp.gate_proj", p + "mlp.up_proj", p + "mlp.down_proj", h)
    fail("model_type %r is not supported" % mt)


def is_qwen3_sparse_layer(cfg, i):  # Qwen3MoeDecoderLayer.__init__
    return (i not in cfg.get("mlp_only_layers", []) and cfg["num_experts"] > 0
            and (i + 1) % cfg.get("decoder_sparse_step", 1) == 0)


def head_dim(cfg):
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def decoder_layer(cfg, W, i, x, cos, sin):  # pre-norm residual block
    p, eps = "model.layers.%d." % i, cfg["rms_norm_eps"]
    x = x + attention(cfg, W, p + "self_attn.", rms_norm(x, W[p + "input_layernorm.weight"], eps), cos, sin)
    return x + feed_forward(cfg, W, i, rms_norm(x, W[p + "post_attention_layernorm.weight"], eps))


def forward(cfg, W, tokens, inv_freq):
    """log_softmax of the logits at every position; [T, vocab]."""
    cos, sin = rotate_half_tables(len(tokens), inv_freq)  # [T, head_dim]
    x = W["model.embed_tokens.weight"][tokens]  # [T, hidden]
    for i in range(cfg["num_hidden_layers"]):
        x = decoder_layer(cfg, W, i, x, cos, sin)
    x = rms_norm(x, W["model.norm.weight"], cfg["rms_norm_eps"])
    return log_softmax(x @ W["lm_head.weight"].T)


# ---------------------------------------------------------------------------------------------

def check_config(cfg, W):
    """Stops on settings this reference does not implement, rather than silently ignoring them."""
    if cfg.get("model_type") not in ("llama", "mixtral", "qwen3_moe"):
        fail("model_type %r is not supported" % cfg.get("model_type"))
    if cfg.get("hidden_act", "silu") != "silu":
        fail("hidden_act %r is not supported" % cfg["hidden_act"])
    if cfg["num_attention_heads"] % cfg["num_key_value_heads"]:
        fail("num_attention_heads is not a multiple of num_key_value_heads")
    if cfg.get("partial_rotary_factor", 1.0) != 1.0:
        fail("partial_rotary_factor is not supported")
    tie_lm_head(cfg, W, fail)


def main():
    args = cli_parser(__doc__).parse_args()
    cfg, W = load_checkpoint(args.hf_dir, fail)
    check_config(cfg, W)
    tokens = parse_tokens(args, W, fail)
    window = cfg.get("sliding_window") if cfg.get("use_sliding_window", True) else None
    if window and len(tokens) + args.greedy > window:
        fail("sequence longer than sliding_window %d: not implemented" % window)

    inv_freq, rope_desc = rope_inv_freq(cfg, head_dim(cfg))
    n_moe = sum(1 for k in W if k.endswith((".block_sparse_moe.gate.weight", ".mlp.gate.weight")))
    print("hf_forward: %s, %d layers (%d MoE), head_dim %d, rope %s, %d tokens + %d greedy" % (
        cfg["model_type"], cfg["num_hidden_layers"], n_moe, head_dim(cfg), rope_desc, len(tokens),
        args.greedy), file=sys.stderr)

    logprobs = forward(cfg, W, tokens, inv_freq)
    greedy = greedy_continuation(lambda seq: forward(cfg, W, seq, inv_freq), tokens, logprobs[-1], args.greedy)
    print_json({"tokens": tokens, "logprobs": logprobs.tolist(), "greedy": greedy})


if __name__ == "__main__":
    main()
