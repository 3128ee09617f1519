#!/usr/bin/env python3
"""Independent float64 reference forward pass of a GptOssForCausalLM checkpoint folder.

    hf_gpt_oss.py HF_DIR --tokens 1,2,3 [--greedy N]

Prints the same JSON as `moecat logprobs`: {"tokens": [...], "logprobs": [[log p(v) for v in
vocab] per position], "greedy": [N argmax continuation tokens]}. A one-line summary (layer types,
window, rope, share of clamped SwiGLU inputs, smallest routing margin) goes to stderr.

As a library: forward_logprobs(hf_dir, tokens) -> np.ndarray [len(tokens), vocab] (float64).

It follows transformers' modeling_gpt_oss.py (GptOssRMSNorm, GptOssRotaryEmbedding,
GptOssAttention with eager_attention_forward, GptOssTopKRouter, GptOssExperts, GptOssDecoderLayer)
and modeling_rope_utils.py (_compute_yarn_parameters), reading only config.json and the
safetensors (experts unquantized f32/f16/bf16, or MXFP4 *_blocks/*_scales dequantized as
transformers does), so it shares nothing with moecat or llama.cpp.
Notable transformers semantics reproduced here:

  * Attention: q/k/v/o nn.Linear WITH bias; GQA; scaling head_dim^-0.5. RoPE on the whole head
    in "half" layout (_apply_rotary_emb: first half / second half of each head, cos/sin of
    size head_dim/2), yarn frequencies and cos/sin times attention_factor (get_mscale(factor) =
    0.1 ln(factor) + 1), the yarn correction range floored/ceiled unless rope_scaling.truncate
    is false.
  * Sinks: per head a learned logit self_attn.sinks[h] is appended as an extra column to the
    (scaled, masked) scores of every query row; softmax over [scores | sink]; the sink's
    probability is dropped (so each row sums to < 1). The sink is not multiplied by the scale.
  * layer_types[i] == "sliding_attention": key j is visible to query i iff i - window < j <= i
    (window = sliding_window), i.e. the query sees itself and the window - 1 previous tokens.
    "full_attention": plain causal.
  * Router: logits = x @ router.weight.T + router.bias; top-k of the logits; weights = softmax
    over the k chosen logits (not over all experts).
  * Experts (fused, unquantized layout): gate_up = x @ gate_up_proj[e] + gate_up_proj_bias[e]
    ([D] @ [D, 2F]); gate = gate_up[..., ::2], up = gate_up[..., 1::2] (INTERLEAVED columns);
    gate = min(gate, limit); up = clamp(up, -limit, limit); glu = gate * sigmoid(alpha * gate);
    out = ((up + 1) * glu) @ down_proj[e] + down_proj_bias[e]; alpha 1.702, limit 7.0 (the
    limit is hard-coded in GptOssExperts; config swiglu_limit must be 7.0).
  * Block: x += attn(RMSNorm(x)); x += moe(RMSNorm(x)) (post_attention_layernorm); final norm;
    lm_head.

Self-test switch: HF_GPT_OSS_BREAK=sinks (no sink column), =window (every layer full causal),
=clamp (no SwiGLU clamp), =interleave (gate/up as the two halves of gate_up instead of
even/odd columns), =router (softmax over all experts, then top-k) makes the output
deliberately wrong, to show that a comparison against it can fail. Never set it in a real check.

Needs only python3 + numpy. Greedy decoding recomputes the whole sequence for each new token.
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_common import load_checkpoint as load_checkpoint_common  # noqa: E402
from hf_common import (break_switch, cli_parser, default_inv_freq, failer, greedy_continuation,  # noqa: E402
                       log_softmax, parse_tokens, print_json, rms_norm, rope_angles,
                       route_to_experts, sigmoid, softmax, tie_lm_head, topk_margin, yarn)

BREAK = break_switch("hf_gpt_oss", "HF_GPT_OSS_BREAK", ("sinks", "window", "clamp", "interleave", "router"))
fail = failer("hf_gpt_oss")
ALPHA, LIMIT = 1.702, 7.0  # GptOssExperts.alpha / .limit


# e2m1 values of the 16 MXFP4 codes (transformers' integrations/mxfp4.py FP4_VALUES)
FP4_VALUES = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                       -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0])


def load_checkpoint(hf_dir):
    """(config, {name: float64 array}) like hf_common.load_checkpoint, plus MXFP4 experts:
    *_blocks [E, out, in/32, 16] + *_scales [E, out, in/32] dequantized as transformers'
    convert_moe_packed_tensors does (byte i of a block: element 2i = low nibble, 2i+1 = high
    nibble; value = FP4_VALUES[code] * 2^(scale - 127)), then transposed to the unquantized
    [E, in, out] layout under the name without the suffix."""
    cfg, W = load_checkpoint_common(hf_dir, fail)
    for name in [k for k in W if k.endswith("_blocks")]:
        base = name[:-len("_blocks")]
        blocks, scales = W.pop(name), W.pop(base + "_scales", None)
        if (scales is None or blocks.dtype != np.uint8 or scales.dtype != np.uint8 or blocks.ndim != 4
                or blocks.shape[:-1] != scales.shape or blocks.shape[-1] != 16):
            fail("%s: MXFP4 blocks %s without matching uint8 scales" % (base, blocks.shape))
        vals = np.empty(blocks.shape[:-1] + (32,))
        vals[..., 0::2] = FP4_VALUES[blocks & 0x0F]
        vals[..., 1::2] = FP4_VALUES[blocks >> 4]
        vals = np.ldexp(vals, scales.astype(np.int64)[..., None] - 127)
        E, rows = blocks.shape[:2]
        W[base] = np.swapaxes(vals.reshape(E, rows, -1), 1, 2)  # [E, in, out]
    if any(a.dtype == np.uint8 for a in W.values()):
        fail("uint8 tensors other than MXFP4 *_blocks/*_scales pairs")
    return cfg, W


def check_config(cfg, W):
    """Stops on settings this reference does not implement, rather than silently ignoring them."""
    if cfg.get("model_type") != "gpt_oss":
        fail("model_type %r is not gpt_oss" % cfg.get("model_type"))
    if not cfg.get("attention_bias", True):
        fail("attention_bias false is not supported (gpt-oss has biases)")
    if float(cfg.get("swiglu_limit", LIMIT)) != LIMIT:
        fail("swiglu_limit %r: transformers hard-codes 7.0" % cfg["swiglu_limit"])
    L = cfg["num_hidden_layers"]
    types = cfg.get("layer_types") or ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(L)]
    if len(types) != L or any(t not in ("sliding_attention", "full_attention") for t in types):
        fail("layer_types must list sliding_attention / full_attention for each of %d layers" % L)
    cfg["layer_types"] = types
    for i in range(L):
        if "model.layers.%d.mlp.experts.gate_up_proj" % i not in W:
            fail("layer %d: no mlp.experts.gate_up_proj (or _blocks/_scales)" % i)
    tie_lm_head(cfg, W, fail)


def linear(W, name, x):  # nn.Linear with bias: x @ weight.T + bias
    return x @ W[name + ".weight"].T + W[name + ".bias"]


def rope_params(cfg):
    """(inv_freq [head_dim/2], attention_factor, description)."""
    dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    rs = cfg.get("rope_scaling")
    if not rs:
        return default_inv_freq(cfg["rope_theta"], dim), 1.0, "default"
    rope_type = rs.get("rope_type", rs.get("type"))
    if rope_type != "yarn":
        fail("rope_scaling type %r is not supported (gpt-oss uses yarn)" % rope_type)
    inv_freq, attention_factor, factor, orig, low, high = yarn(cfg, rs, dim, fail)
    desc = "yarn (factor %g, original ctx %d, ramp %s..%s, truncate %s, attention_factor %.6f)" % (
        factor, orig, low, high, rs.get("truncate", True), attention_factor)
    return inv_freq, attention_factor, desc


def apply_rope(x, cos, sin):
    """_apply_rotary_emb: x [T, heads, d]; cos/sin [T, d/2] (times attention_factor)."""
    h = x.shape[-1] // 2
    a, b = x[..., :h], x[..., h:]
    c, s = cos[:, None, :], sin[:, None, :]
    return np.concatenate([a * c - b * s, b * c + a * s], -1)


def attention(cfg, W, p, h, cos, sin, sliding):
    """GptOssAttention (eager, with sinks); h [T, hidden] -> [T, hidden]."""
    T = h.shape[0]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // nh
    q = apply_rope(linear(W, p + "q_proj", h).reshape(T, nh, hd), cos, sin)
    k = apply_rope(linear(W, p + "k_proj", h).reshape(T, nkv, hd), cos, sin)
    v = linear(W, p + "v_proj", h).reshape(T, nkv, hd)
    k = np.repeat(k, nh // nkv, axis=1)  # repeat_kv: query head j uses kv head j // groups
    v = np.repeat(v, nh // nkv, axis=1)
    scores = np.einsum("thd,shd->hts", q, k) * hd ** -0.5  # [heads, T, T]
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    visible = j <= i
    if sliding and BREAK != "window":
        visible &= i - j < cfg["sliding_window"]
    scores = np.where(visible[None], scores, -np.inf)
    sinks = W[p + "sinks"]  # [heads]
    if BREAK == "sinks":
        probs = softmax(scores)
    else:
        combined = np.concatenate([scores, np.broadcast_to(sinks[:, None, None], (nh, T, 1))], -1)
        probs = softmax(combined)[..., :-1]  # the sink's share is dropped
    out = np.einsum("hts,shd->thd", probs, v).reshape(T, nh * hd)
    return linear(W, p + "o_proj", out)


class Stats:
    """Smallest routing margin and how often the SwiGLU clamps were active."""

    def __init__(self):
        self.margin = math.inf
        self.n = 0
        self.gate_clamped = 0
        self.up_clamped = 0

    def __str__(self):
        return "min routing margin %.3g, clamped gate %.1f%% / up %.1f%%" % (
            self.margin, 100.0 * self.gate_clamped / max(self.n, 1), 100.0 * self.up_clamped / max(self.n, 1))


def router(cfg, W, p, h, stats):
    """GptOssTopKRouter: (indices [T, top_k], weights [T, top_k])."""
    k = cfg["num_experts_per_tok"]
    logits = h @ W[p + "router.weight"].T + W[p + "router.bias"]  # [T, E]
    stats.margin = min(stats.margin, float(topk_margin(logits, k).min()))
    idx = np.argsort(-logits, axis=-1, kind="stable")[:, :k]
    top = np.take_along_axis(logits, idx, -1)
    if BREAK == "router":
        return idx, np.take_along_axis(softmax(logits), idx, -1)
    return idx, softmax(top)


def expert(W, p, e, x, stats):
    """GptOssExperts for one expert e on rows x [n, D]."""
    gate_up = x @ W[p + "experts.gate_up_proj"][e] + W[p + "experts.gate_up_proj_bias"][e]  # [n, 2F]
    if BREAK == "interleave":
        F = gate_up.shape[-1] // 2
        gate, up = gate_up[:, :F], gate_up[:, F:]
    else:
        gate, up = gate_up[:, ::2], gate_up[:, 1::2]
    stats.n += gate.size
    stats.gate_clamped += int((gate > LIMIT).sum())
    stats.up_clamped += int((np.abs(up) > LIMIT).sum())
    if BREAK != "clamp":
        gate = np.minimum(gate, LIMIT)
        up = np.clip(up, -LIMIT, LIMIT)
    glu = gate * sigmoid(gate * ALPHA)
    return ((up + 1) * glu) @ W[p + "experts.down_proj"][e] + W[p + "experts.down_proj_bias"][e]


def decoder_layer(cfg, W, i, x, cos, sin, stats):
    p, eps = "model.layers.%d." % i, cfg["rms_norm_eps"]
    sliding = cfg["layer_types"][i] == "sliding_attention"
    x = x + attention(cfg, W, p + "self_attn.", rms_norm(x, W[p + "input_layernorm.weight"], eps), cos, sin, sliding)
    h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
    idx, w = router(cfg, W, p + "mlp.", h, stats)
    return x + route_to_experts(idx, w, h, cfg["num_local_experts"],
                                lambda e, rows: expert(W, p + "mlp.", e, rows, stats))


class Model:
    def __init__(self, hf_dir):
        self.cfg, self.W = load_checkpoint(hf_dir)
        check_config(self.cfg, self.W)
        self.inv_freq, self.attention_factor, self.rope_desc = rope_params(self.cfg)
        self.stats = Stats()

    def logprobs(self, tokens):
        """log_softmax of the logits at every position; [T, vocab]."""
        cfg, W = self.cfg, self.W
        ang = rope_angles(len(tokens), self.inv_freq)  # [T, head_dim/2]
        cos, sin = np.cos(ang) * self.attention_factor, np.sin(ang) * self.attention_factor
        x = W["model.embed_tokens.weight"][tokens]
        for i in range(cfg["num_hidden_layers"]):
            x = decoder_layer(cfg, W, i, x, cos, sin, self.stats)
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
    n_swa = sum(t == "sliding_attention" for t in cfg["layer_types"])
    print("hf_gpt_oss: %s, %d layers (%d sliding, window %d), %d experts top-%d, rope %s, "
          "%d tokens + %d greedy, %s%s" % (
              cfg["architectures"][0], cfg["num_hidden_layers"], n_swa, cfg.get("sliding_window", 0),
              cfg["num_local_experts"], cfg["num_experts_per_tok"], model.rope_desc, len(tokens), args.greedy,
              model.stats, " (BROKEN on purpose: HF_GPT_OSS_BREAK=%s)" % BREAK if BREAK else ""), file=sys.stderr)
    print_json({"tokens": tokens, "logprobs": logprobs.tolist(), "greedy": greedy})


if __name__ == "__main__":
    main()
