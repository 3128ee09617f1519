#!/usr/bin/env python3
"""Independent float64 reference forward pass of a LongcatFlashForCausalLM checkpoint folder.

    hf_longcat_flash.py HF_DIR --tokens 1,2,3 [--greedy N] [--mtp]

Prints the same JSON as `moecat logprobs`: {"tokens": [...], "logprobs": [[log p(v) for v in
vocab] per position], "greedy": [N argmax continuation tokens]}; with --mtp also
"mtp_logprobs": [T-1 rows], row i = the MTP head's log p(token i+2 | tokens[0..i+1]). A summary
(dims, rope, routing margins, share of slots that went to zero experts) goes to stderr.

As a library: Model(hf_dir).logprobs(tokens) -> [T, vocab]; mtp_logits(model, tokens) -> [T-1,
vocab] raw MTP logits (see below); forward_logprobs(hf_dir, tokens).

It follows transformers' models/longcat_flash/modeling_longcat_flash.py block by block, reading
only config.json and the safetensors (real checkpoint names, docs/longcat-flash.md), so it shares
nothing with moecat. Everything is float64. Semantics reproduced:

  * LongcatFlashDecoderLayer: two (MLA + dense MLP) sublayers and one MoE whose input is the
    FIRST sublayer's post_attention_layernorm output and whose output is added at the very end:
        x += attn0(in_norm0(x)); h = post_norm0(x); s = moe(h); x += mlps0(h)
        x += attn1(in_norm1(x)); x = x + mlps1(post_norm1(x)) + s
  * MLA (DeepSeek-V2 form, q_lora always on): q = q_b(RMSNorm(q_a(x))) per head [nope | rope];
    kv_a(x) = [c | k_rope]; c = RMSNorm(c); k_nope, v = kv_b(c) per head. LoRA scaling: the
    WHOLE q (nope and rope parts) times sqrt(hidden / q_lora_rank), c times
    sqrt(hidden / kv_lora_rank) (so k_nope and v scale, k_rope does not), each only when
    config mla_scale_q_lora / mla_scale_kv_lora is true (the real config has both true;
    vLLM/SGLang/mlx-lm test the flags, transformers applies both unconditionally).
    The latent norms q_a_layernorm / kv_a_layernorm use eps 1e-6 (transformers builds them with
    the RMSNorm default, not rms_norm_eps; vLLM uses rms_norm_eps — a ~1e-5 relative effect).
    Softmax scale (nope + rope)^-0.5, times yarn mscale(factor, mscale_all_dim)^2 with yarn.
  * RoPE over the rope part, interleaved pairs (x[2i], x[2i+1]) turned by frequency i
    (apply_rotary_pos_emb_interleave), base rope_theta, dim qk_rope_head_dim; yarn as
    transformers' _compute_yarn_parameters when rope_scaling is yarn.
  * Router (LongcatFlashTopkRouter): logits = x @ classifier.T in fp32 (+ classifier bias when
    router_bias), scores = softmax over n_routed + zero experts, choice = top moe_topk of
    scores + e_score_correction_bias, weights = UNBIASED scores of the chosen ones times
    routed_scaling_factor, never renormalised.
  * Experts: ids < n_routed_experts are SiLU-gated MLPs of width expert_ffn_hidden_size; ids >=
    n_routed_experts are zero ("identity") experts adding weight * x.
  * MTP (not in transformers, which drops model.mtp.*; semantics of vLLM longcat_flash_mtp.py and
    SGLang longcat_flash_nextn.py): for slot i (position i), with h_i = the main model's final
    hidden state AFTER model.norm and e = the MAIN model's embedding of token i+1 (vLLM and SGLang
    share embed_tokens and lm_head with the target model; model.mtp.embed_tokens is not used):
        x = eh_proj(cat([RMSNorm(e)*enorm, RMSNorm(h_i)*hnorm]))   (embedding half first)
        x += mla(input_layernorm(x))  (causal over the MTP slots, rope position i)
        x += mlp(post_attention_layernorm(x))  (dense, ffn_hidden_size)
        logits = lm_head(RMSNorm(x) * model.mtp.norm)  -> predicts token i+2

Self-test switches (env HF_FORWARD_BREAK; never set in a real check): zero_as_ffn computes a
zero-expert slot as routed FFN expert (id mod n_routed_experts) instead of weight * x; no_bias
ignores e_score_correction_bias when choosing experts. Either makes the output wrong on purpose
so a comparison can be shown to fail.

Needs only python3 + numpy. Greedy decoding recomputes the whole sequence for each new token.
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_common import (break_switch, causal_attention, cli_parser, default_inv_freq, failer,  # noqa: E402
                       gated_mlp, greedy_continuation, load_checkpoint, log_softmax, parse_tokens, print_json,
                       rms_norm, rope_angles, route_to_experts, softmax, tie_lm_head, topk_margin, yarn,
                       yarn_get_mscale)

BREAK = break_switch("hf_longcat_flash", "HF_FORWARD_BREAK", ("zero_as_ffn", "no_bias"))
fail = failer("hf_longcat_flash")

LATENT_NORM_EPS = 1e-6  # LongcatFlashRMSNorm(q_lora_rank / kv_lora_rank) default eps


def check_config(cfg, W):
    """Stops on settings this reference does not implement rather than ignoring them."""
    if cfg.get("architectures", ["LongcatFlashForCausalLM"])[0] != "LongcatFlashForCausalLM":
        fail("architectures %r is not LongcatFlashForCausalLM" % cfg.get("architectures"))
    # Some revisions of the released config.json carry no model_type (auto_map only).
    if cfg.get("model_type", "longcat_flash") != "longcat_flash":
        fail("model_type %r is not longcat_flash" % cfg.get("model_type"))
    if cfg.get("hidden_act", "silu") != "silu":
        fail("hidden_act %r is not supported" % cfg["hidden_act"])
    if cfg.get("attention_method", "MLA").upper() != "MLA":
        fail("attention_method %r is not MLA" % cfg["attention_method"])
    if cfg.get("zero_expert_num") and cfg.get("zero_expert_type", "identity") != "identity":
        fail("zero_expert_type %r is not identity" % cfg["zero_expert_type"])
    if cfg.get("q_lora_rank") is None:
        fail("q_lora_rank null: transformers' LongcatFlashMLA always uses q_a/q_b")
    if cfg.get("attention_bias", False):
        fail("attention_bias is not supported")
    if cfg.get("norm_topk_prob", False):
        fail("norm_topk_prob true is not what transformers computes (it never renormalises)")
    tie_lm_head(cfg, W, fail)


# ---------------------------------------------------------------------------------------------
# Building blocks

def rope_params(cfg):
    """(inv_freq [rope/2], attention_factor, description) over dim = qk_rope_head_dim."""
    dim, base = cfg["qk_rope_head_dim"], cfg["rope_theta"]
    if cfg.get("head_dim", dim) != dim:
        # transformers' rotary embedding reads config.head_dim; Meituan's config class sets it
        # to qk_rope_head_dim. A config where they differ is ambiguous.
        fail("head_dim %r != qk_rope_head_dim %d" % (cfg["head_dim"], dim))
    rs = cfg.get("rope_scaling")
    if not rs or rs.get("rope_type", rs.get("type")) == "default":
        return default_inv_freq(base, dim), 1.0, "default (theta %g)" % base
    if rs.get("rope_type", rs.get("type")) != "yarn":
        fail("rope_scaling type %r is not supported (only yarn)" % rs.get("rope_type", rs.get("type")))
    inv_freq, attention_factor, factor, orig, low, high = yarn(cfg, rs, dim, fail)
    return inv_freq, attention_factor, "yarn (theta %g, factor %g, original ctx %d, ramp %s..%s, " \
        "attention_factor %.6f)" % (base, factor, orig, low, high, attention_factor)


def softmax_scale(cfg):  # LongcatFlashMLA.scaling = yarn_apply_mscale(rope, qk_head_dim^-0.5)
    scale = (cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]) ** -0.5
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type", "default")) != "default" and rs.get("mscale_all_dim"):
        m = yarn_get_mscale(rs["factor"], rs["mscale_all_dim"])
        scale *= m * m
    return scale


def rope_interleaved(x, cos, sin):
    """x [T, heads, d]; cos/sin [T, d/2]: pairs (x[2i], x[2i+1]) turned by frequency i. (The
    transformers version writes the result de-interleaved, [evens | odds]; that permutes q and
    k identically, so scores are the same.)"""
    a, b = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, None, :], sin[:, None, :]
    out = np.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = b * c + a * s
    return out


# ---------------------------------------------------------------------------------------------
# Model

class Model:
    def __init__(self, hf_dir):
        cfg, W = load_checkpoint(hf_dir, fail)
        check_config(cfg, W)
        self.setup(cfg, W)

    def setup(self, cfg, W):
        """Everything after loading and checking (LiteModel checks its own way, then calls this)."""
        self.cfg, self.W = cfg, W
        self.inv_freq, self.attention_factor, self.rope_desc = rope_params(cfg)
        H = cfg["hidden_size"]
        # mla_scale_* are booleans in the released config; absent -> transformers' behaviour (on).
        self.q_scale = math.sqrt(H / cfg["q_lora_rank"]) if cfg.get("mla_scale_q_lora", True) else 1.0
        self.kv_scale = math.sqrt(H / cfg["kv_lora_rank"]) if cfg.get("mla_scale_kv_lora", True) else 1.0
        self.n_routed = cfg["n_routed_experts"]
        self.n_zero = cfg.get("zero_expert_num") or 0
        self.min_margin = math.inf
        self.slots = 0
        self.zero_slots = 0

    def lin(self, name, x):
        return x @ self.W[name + ".weight"].T

    def mlp(self, p, x):  # LongcatFlashMLP: down(silu(gate(x)) * up(x))
        return gated_mlp(self.lin, p + "gate_proj", p + "up_proj", p + "down_proj", x)

    def mla(self, p, h, cos, sin):
        """LongcatFlashMLA (eager), causal; h [T, hidden] -> [T, hidden]."""
        cfg, W = self.cfg, self.W
        T = h.shape[0]
        nh, nope, rope, vd = (cfg["num_attention_heads"], cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"],
                              cfg["v_head_dim"])
        kvr = cfg["kv_lora_rank"]
        q = self.lin(p + "q_b_proj", rms_norm(self.lin(p + "q_a_proj", h), W[p + "q_a_layernorm.weight"],
                                              LATENT_NORM_EPS))
        q = q.reshape(T, nh, nope + rope) * self.q_scale  # q_pass and q_rot both scaled
        ckv = self.lin(p + "kv_a_proj_with_mqa", h)  # [T, kv_lora + rope]
        c = rms_norm(ckv[:, :kvr], W[p + "kv_a_layernorm.weight"], LATENT_NORM_EPS) * self.kv_scale
        k_rot = ckv[:, kvr:].reshape(T, 1, rope)  # not scaled
        kv = self.lin(p + "kv_b_proj", c).reshape(T, nh, nope + vd)
        k_nope, v = kv[..., :nope], kv[..., nope:]
        q_rot = rope_interleaved(q[..., nope:], cos, sin)
        k_rot = np.broadcast_to(rope_interleaved(k_rot, cos, sin), (T, nh, rope))
        qs = np.concatenate([q[..., :nope], q_rot], -1)
        ks = np.concatenate([k_nope, k_rot], -1)
        return self.lin(p + "o_proj", causal_attention(qs, ks, v, softmax_scale(cfg)))

    def moe(self, p, h):
        """LongcatFlashMoE: router over routed + zero experts, identity zero experts."""
        cfg, W = self.cfg, self.W
        E, Z, k = self.n_routed, self.n_zero, cfg["moe_topk"]
        logits = h @ W[p + "router.classifier.weight"].T
        if cfg.get("router_bias", False):
            logits = logits + W[p + "router.classifier.bias"]
        scores = softmax(logits)  # [T, E + Z]
        choice = scores if BREAK == "no_bias" else scores + W[p + "router.e_score_correction_bias"][None, :]
        self.min_margin = min(self.min_margin, float(topk_margin(choice, k).min()))
        idx = np.argsort(-choice, axis=-1, kind="stable")[:, :k]  # [T, k]
        w = np.take_along_axis(scores, idx, -1) * cfg["routed_scaling_factor"]
        self.slots += idx.size
        self.zero_slots += int((idx >= E).sum())

        def expert(e, x):
            if e < E:
                return self.mlp(p + "experts.%d." % e, x)
            if BREAK == "zero_as_ffn":
                return self.mlp(p + "experts.%d." % (e % E), x)
            return x  # zero ("identity") expert: adds weight * x

        return route_to_experts(idx, w, h, E + Z, expert)

    def layer(self, L, x, cos, sin):
        p, eps = "model.layers.%d." % L, self.cfg["rms_norm_eps"]
        W = self.W
        x = x + self.mla(p + "self_attn.0.", rms_norm(x, W[p + "input_layernorm.0.weight"], eps), cos, sin)
        h = rms_norm(x, W[p + "post_attention_layernorm.0.weight"], eps)
        shortcut = self.moe(p + "mlp.", h)
        x = x + self.mlp(p + "mlps.0.", h)
        x = x + self.mla(p + "self_attn.1.", rms_norm(x, W[p + "input_layernorm.1.weight"], eps), cos, sin)
        h = rms_norm(x, W[p + "post_attention_layernorm.1.weight"], eps)
        return x + self.mlp(p + "mlps.1.", h) + shortcut

    def rope_tables(self, T):
        ang = rope_angles(T, self.inv_freq)  # [T, rope/2]
        return np.cos(ang) * self.attention_factor, np.sin(ang) * self.attention_factor

    def embed(self, tokens):  # [T, hidden]
        return self.W["model.embed_tokens.weight"][tokens]

    def hidden(self, tokens):
        """Final hidden states after model.norm: [T, hidden]."""
        cos, sin = self.rope_tables(len(tokens))
        x = self.embed(list(tokens))
        for L in range(self.cfg["num_layers"]):
            x = self.layer(L, x, cos, sin)
        return rms_norm(x, self.W["model.norm.weight"], self.cfg["rms_norm_eps"])

    def logprobs(self, tokens):
        logits = self.hidden(list(tokens)) @ self.W["lm_head.weight"].T
        return log_softmax(logits)


def mtp_logits(model, tokens):
    """MTP head logits [T-1, vocab]: row i predicts token i+2 from the main model's final hidden
    state at position i and the main embedding of token i+1 (see the module docstring)."""
    W, cfg = model.W, model.cfg
    if "model.mtp.layers.0.eh_proj.weight" not in W:
        fail("the checkpoint has no model.mtp.* tensors")
    tokens = list(tokens)
    if len(tokens) < 2:
        fail("the MTP head needs at least 2 tokens")
    eps, q = cfg["rms_norm_eps"], "model.mtp.layers.0."
    h = model.hidden(tokens)[:-1]  # [T-1, H], post model.norm
    e = W["model.embed_tokens.weight"][tokens[1:]]  # MAIN embedding (shared by vLLM / SGLang)
    x = np.concatenate([rms_norm(e, W[q + "enorm.m.weight"], eps), rms_norm(h, W[q + "hnorm.m.weight"], eps)], -1)
    x = model.lin(q + "eh_proj", x)
    cos, sin = model.rope_tables(len(tokens) - 1)  # slot i sits at position i
    x = x + model.mla(q + "self_attn.", rms_norm(x, W[q + "input_layernorm.weight"], eps), cos, sin)
    x = x + model.mlp(q + "transformer_layer.mlp.", rms_norm(x, W[q + "post_attention_layernorm.weight"], eps))
    return rms_norm(x, W["model.mtp.norm.weight"], eps) @ W["lm_head.weight"].T


def forward_logprobs(hf_dir, tokens):
    return Model(hf_dir).logprobs(list(tokens))


def main():
    ap = cli_parser(__doc__)
    ap.add_argument("--mtp", action="store_true", help="also print mtp_logprobs")
    args = ap.parse_args()
    model = Model(args.hf_dir)
    cfg = model.cfg
    tokens = parse_tokens(args, model.W, fail)

    logprobs = model.logprobs(tokens)
    margin, share = model.min_margin, model.zero_slots / max(1, model.slots)
    out = {"tokens": tokens, "logprobs": logprobs.tolist()}
    if args.mtp:
        out["mtp_logprobs"] = log_softmax(mtp_logits(model, tokens)).tolist()
    out["greedy"] = greedy_continuation(model.logprobs, tokens, logprobs[-1], args.greedy)
    print("hf_longcat_flash: %d layers x 2 sublayers, hidden %d, q_lora %d, kv_lora %d, mla scales %.4f/%.4f, "
          "%d routed + %d zero experts top-%d x %g, rope %s, softmax_scale %.6f, %d tokens + %d greedy; "
          "prompt: min routing margin %.3g, zero-expert share of slots %.3f; all passes: min margin %.3g%s" % (
              cfg["num_layers"], cfg["hidden_size"], cfg["q_lora_rank"], cfg["kv_lora_rank"], model.q_scale,
              model.kv_scale, model.n_routed, model.n_zero, cfg["moe_topk"], cfg["routed_scaling_factor"],
              model.rope_desc, softmax_scale(cfg), len(tokens), args.greedy, margin, share, model.min_margin,
              " (BROKEN on purpose: HF_FORWARD_BREAK=%s)" % BREAK if BREAK else ""), file=sys.stderr)
    print_json(out)


if __name__ == "__main__":
    main()
