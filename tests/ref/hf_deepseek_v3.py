#!/usr/bin/env python3
"""Independent float64 reference forward pass of a DeepseekV3ForCausalLM checkpoint folder.

    hf_deepseek_v3.py HF_DIR --tokens 1,2,3 [--greedy N]

Prints the same JSON as `moecat logprobs`: {"tokens": [...], "logprobs": [[log p(v) for v in
vocab] per position], "greedy": [N argmax continuation tokens]}. A one-line summary (q_lora,
rope type, yarn factors, MoE layers, smallest routing margins) goes to stderr.

As a library: forward_logprobs(hf_dir, tokens) -> np.ndarray [len(tokens), vocab] (float64).

It follows transformers' modeling_deepseek_v3.py (DeepseekV3RMSNorm, DeepseekV3RotaryEmbedding,
DeepseekV3Attention with apply_rotary_pos_emb_interleave, DeepseekV3TopkRouter, DeepseekV3MoE,
DeepseekV3MLP, DeepseekV3DecoderLayer) and modeling_rope_utils.py (_compute_yarn_parameters)
block by block, reading only config.json and the safetensors, so it shares nothing with moecat
or llama.cpp. Everything is float64. Notable transformers semantics reproduced here:

  * MLA, uncompressed form: q = q_b(RMSNorm(q_a(x))) (or q_proj(x) when q_lora_rank is null),
    split per head into [nope | rope]; kv_a(x) = [c (kv_lora_rank) | k_rope (shared by all
    heads)]; kv_b(RMSNorm(c)) per head = [k_nope | v]. Scores over the concatenation
    [nope | rope] of each head, times softmax_scale.
  * softmax_scale = qk_head_dim^-0.5, times yarn_get_mscale(factor, mscale_all_dim)^2 when
    rope_scaling has a non-zero mscale_all_dim (factor is rope_scaling["factor"]).
  * RoPE over qk_rope_head_dim only (transformers sets config.head_dim = qk_rope_head_dim).
    rope_interleave true: the rope part is de-interleaved ([x0,x2,..,x1,x3,..]) and then rotated
    with rotate_half, i.e. pairs (x[2i], x[2i+1]) turn by frequency i. yarn: the frequencies of
    _compute_yarn_parameters (correction range from original_max_position_embeddings, floor/ceil
    'truncate', linear ramp) and cos/sin multiplied by attention_factor = get_mscale(factor,
    mscale) / get_mscale(factor, mscale_all_dim) (get_mscale(factor) if either is missing/0).
  * Router: sigmoid(x @ gate.T); selection on scores + e_score_correction_bias: group score =
    sum of the top-2 biased scores of each of n_group groups, keep topk_group groups, dropped
    experts' biased scores set to 0.0 (transformers uses masked_fill(.., 0.0), not -inf), top_k
    of those. Weights are the UNBIASED sigmoid scores of the chosen experts, divided by their
    sum + 1e-20 when norm_topk_prob, then times routed_scaling_factor. Plus shared experts (an
    MLP of width moe_intermediate_size * n_shared_experts) on every token. Layers below
    first_k_dense_replace are a dense MLP of width intermediate_size.

Self-test switch: HF_DEEPSEEK_V3_BREAK=bias (ignore e_score_correction_bias), =mscale (drop the
yarn mscale^2 factor of softmax_scale) or =interleave (rotate the rope part without the
de-interleave) makes the output deliberately wrong, to show that a comparison against it can
fail. Never set it in a real check.

Needs only python3 + numpy. Greedy decoding recomputes the whole sequence for each new token.
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_common import (apply_rotate_half, break_switch, causal_attention, cli_parser, default_inv_freq,  # noqa: E402
                       failer, gated_mlp, greedy_continuation, load_checkpoint, log_softmax, parse_tokens,
                       print_json, rms_norm, rotate_half_tables, route_to_experts, sigmoid, tie_lm_head,
                       topk_margin, yarn, yarn_get_mscale)

BREAK = break_switch("hf_deepseek_v3", "HF_DEEPSEEK_V3_BREAK", ("bias", "mscale", "interleave"))
fail = failer("hf_deepseek_v3")


def check_config(cfg, W):
    """Stops on settings this reference does not implement, rather than silently ignoring them."""
    if cfg.get("model_type") != "deepseek_v3":
        fail("model_type %r is not deepseek_v3" % cfg.get("model_type"))
    if cfg.get("hidden_act", "silu") != "silu":
        fail("hidden_act %r is not supported" % cfg["hidden_act"])
    # modeling_deepseek_v3.py always uses sigmoid scores and the noaux_tc selection; a config
    # asking for something else is not what transformers would compute either.
    if cfg.get("scoring_func", "sigmoid") != "sigmoid" or cfg.get("topk_method", "noaux_tc") != "noaux_tc":
        fail("only scoring_func sigmoid + topk_method noaux_tc (what transformers implements)")
    if cfg["n_routed_experts"] % cfg["n_group"]:
        fail("n_routed_experts is not a multiple of n_group")
    if cfg.get("attention_bias", False):
        fail("attention_bias is not supported")
    tie_lm_head(cfg, W, fail)


# ---------------------------------------------------------------------------------------------
# Building blocks (transformers semantics)

def linear(W, name, x):  # nn.Linear without bias: x @ weight.T
    return x @ W[name + ".weight"].T


def rope_params(cfg):
    """(inv_freq [rope_dim/2], attention_factor, description): DeepseekV3RotaryEmbedding's
    rope_init_fn with dim = qk_rope_head_dim."""
    dim = cfg["qk_rope_head_dim"]
    rs = cfg.get("rope_scaling")
    if not rs:
        return default_inv_freq(cfg["rope_theta"], dim), 1.0, "default"
    rope_type = rs.get("rope_type", rs.get("type"))
    if rope_type != "yarn":
        fail("rope_scaling type %r is not supported (DeepSeek-V3 uses yarn)" % rope_type)
    inv_freq, attention_factor, factor, orig, low, high = yarn(cfg, rs, dim, fail)
    desc = "yarn (factor %g, original ctx %d, ramp %s..%s, attention_factor %.6f)" % (
        factor, orig, low, high, attention_factor)
    return inv_freq, attention_factor, desc


def softmax_scale(cfg):  # DeepseekV3Attention.__init__: self.scaling
    scale = (cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]) ** -0.5
    rs = cfg.get("rope_scaling")
    if rs is not None and BREAK != "mscale":
        mscale_all_dim = rs.get("mscale_all_dim", 0)
        if mscale_all_dim:
            m = yarn_get_mscale(rs["factor"], mscale_all_dim)
            scale = scale * m * m
    return scale


def apply_rope(x, cos, sin, interleave):
    """x [T, heads, d]; cos/sin [T, d] (already times attention_factor)."""
    if interleave and BREAK != "interleave":  # apply_rotary_pos_emb_interleave's view/transpose
        T, h, d = x.shape
        x = x.reshape(T, h, d // 2, 2).transpose(0, 1, 3, 2).reshape(T, h, d)
    return apply_rotate_half(x, cos, sin)


def attention(cfg, W, p, h, cos, sin):
    """DeepseekV3Attention (eager), causal; h [T, hidden] -> [T, hidden]."""
    T = h.shape[0]
    nh, nope, rope, vd = (cfg["num_attention_heads"], cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"],
                          cfg["v_head_dim"])
    eps, kvr = cfg["rms_norm_eps"], cfg["kv_lora_rank"]
    if cfg.get("q_lora_rank") is None:
        q = linear(W, p + "q_proj", h)
    else:
        q = linear(W, p + "q_b_proj", rms_norm(linear(W, p + "q_a_proj", h), W[p + "q_a_layernorm.weight"], eps))
    q = q.reshape(T, nh, nope + rope)
    q_pass, q_rot = q[..., :nope], q[..., nope:]
    ckv = linear(W, p + "kv_a_proj_with_mqa", h)  # [T, kv_lora + rope]
    k_pass, k_rot = ckv[:, :kvr], ckv[:, kvr:]
    kv = linear(W, p + "kv_b_proj", rms_norm(k_pass, W[p + "kv_a_layernorm.weight"], eps))
    kv = kv.reshape(T, nh, nope + vd)
    k_pass, v = kv[..., :nope], kv[..., nope:]
    k_rot = k_rot.reshape(T, 1, rope)
    interleave = cfg.get("rope_interleave", True)
    q_rot, k_rot = apply_rope(q_rot, cos, sin, interleave), apply_rope(k_rot, cos, sin, interleave)
    k_rot = np.broadcast_to(k_rot, (T, nh, rope))
    qs = np.concatenate([q_pass, q_rot], -1)  # [T, heads, nope + rope]
    ks = np.concatenate([k_pass, k_rot], -1)
    return linear(W, p + "o_proj", causal_attention(qs, ks, v, softmax_scale(cfg)))


def mlp(W, p, h):  # DeepseekV3MLP: down(silu(gate(x)) * up(x))
    return gated_mlp(lambda name, x: linear(W, name, x), p + "gate_proj", p + "up_proj", p + "down_proj", h)


class Margins:
    """Smallest gaps seen in routing decisions (how far each decision is from a tie)."""

    def __init__(self):
        self.group = math.inf
        self.expert = math.inf

    def __str__(self):
        return "group %.3g, expert %.3g" % (self.group, self.expert)


def router(cfg, W, p, h, margins):
    """DeepseekV3TopkRouter: (indices [T, top_k], weights [T, top_k])."""
    E, G, k, kg = cfg["n_routed_experts"], cfg["n_group"], cfg["num_experts_per_tok"], cfg["topk_group"]
    scores = sigmoid(h @ W[p + "gate.weight"].T)  # [T, E]
    bias = W[p + "gate.e_score_correction_bias"]
    choice = scores + (0.0 if BREAK == "bias" else bias[None, :])
    grouped = -np.sort(-choice.reshape(-1, G, E // G), axis=-1)  # descending within each group
    group_scores = grouped[..., :2].sum(-1)  # topk(2).sum(): [T, G]
    margins.group = min(margins.group, float(topk_margin(group_scores, kg).min()))
    keep = np.argsort(-group_scores, axis=-1, kind="stable")[:, :kg]  # [T, topk_group]
    mask = np.zeros_like(group_scores, dtype=bool)
    np.put_along_axis(mask, keep, True, axis=-1)
    mask = np.repeat(mask, E // G, axis=-1)  # [T, E]
    masked = np.where(mask, choice, 0.0)  # masked_fill(~score_mask, 0.0)
    # margin among the surviving experts only (the 0.0 fills are never close: biased scores > 0
    # for the test models, see make_test_model.py)
    margins.expert = min(margins.expert, float(topk_margin(np.where(mask, choice, -np.inf), k).min()))
    idx = np.argsort(-masked, axis=-1, kind="stable")[:, :k]  # [T, top_k]
    w = np.take_along_axis(scores, idx, -1)
    if cfg.get("norm_topk_prob", True):
        w = w / (w.sum(-1, keepdims=True) + 1e-20)
    return idx, w * cfg["routed_scaling_factor"]


def moe(cfg, W, p, h, margins):  # DeepseekV3MoE: routed experts + shared experts
    idx, w = router(cfg, W, p, h, margins)
    out = route_to_experts(idx, w, h, cfg["n_routed_experts"], lambda e, x: mlp(W, p + "experts.%d." % e, x))
    return out + mlp(W, p + "shared_experts.", h)


def decoder_layer(cfg, W, i, x, cos, sin, margins):
    p, eps = "model.layers.%d." % i, cfg["rms_norm_eps"]
    x = x + attention(cfg, W, p + "self_attn.", rms_norm(x, W[p + "input_layernorm.weight"], eps), cos, sin)
    h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
    if i >= cfg["first_k_dense_replace"]:
        return x + moe(cfg, W, p + "mlp.", h, margins)
    return x + mlp(W, p + "mlp.", h)


class Model:
    def __init__(self, hf_dir):
        self.cfg, self.W = load_checkpoint(hf_dir, fail)
        check_config(self.cfg, self.W)
        self.inv_freq, self.attention_factor, self.rope_desc = rope_params(self.cfg)
        self.margins = Margins()

    def logprobs(self, tokens):
        """log_softmax of the logits at every position; [T, vocab]."""
        cfg, W = self.cfg, self.W
        cos, sin = rotate_half_tables(len(tokens), self.inv_freq, self.attention_factor)  # [T, rope]
        x = W["model.embed_tokens.weight"][tokens]
        for i in range(cfg["num_hidden_layers"]):
            x = decoder_layer(cfg, W, i, x, cos, sin, self.margins)
        x = rms_norm(x, W["model.norm.weight"], cfg["rms_norm_eps"])
        return log_softmax(x @ W["lm_head.weight"].T)


def forward_logprobs(hf_dir, tokens):
    """log p(next token) after each prefix of tokens: np.ndarray [len(tokens), vocab], float64."""
    return Model(hf_dir).logprobs(list(tokens))


def main():
    args = cli_parser(__doc__).parse_args()
    model = Model(args.hf_dir)
    cfg = model.cfg
    tokens = parse_tokens(args, model.W, fail)

    logprobs = model.logprobs(tokens)
    greedy = greedy_continuation(model.logprobs, tokens, logprobs[-1], args.greedy)
    n_moe = cfg["num_hidden_layers"] - min(cfg["first_k_dense_replace"], cfg["num_hidden_layers"])
    print("hf_deepseek_v3: %s, %d layers (%d MoE), q_lora_rank %s, kv_lora_rank %d, rope %s, "
          "rope_interleave %s, softmax_scale %.6f, %d tokens + %d greedy, min routing margin %s%s" % (
              cfg["architectures"][0], cfg["num_hidden_layers"], n_moe, cfg.get("q_lora_rank"),
              cfg["kv_lora_rank"], model.rope_desc, cfg.get("rope_interleave", True), softmax_scale(cfg),
              len(tokens), args.greedy, model.margins,
              " (BROKEN on purpose: HF_DEEPSEEK_V3_BREAK=%s)" % BREAK if BREAK else ""), file=sys.stderr)
    print_json({"tokens": tokens, "logprobs": logprobs.tolist(), "greedy": greedy})


if __name__ == "__main__":
    main()
