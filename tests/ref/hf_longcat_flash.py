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

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

BREAK = os.environ.get("HF_FORWARD_BREAK", "")
if BREAK not in ("", "zero_as_ffn", "no_bias"):
    sys.exit("hf_longcat_flash: unknown HF_FORWARD_BREAK=%r (known: zero_as_ffn, no_bias)" % BREAK)

LATENT_NORM_EPS = 1e-6  # LongcatFlashRMSNorm(q_lora_rank / kv_lora_rank) default eps


def fail(msg):
    sys.exit("hf_longcat_flash: " + msg)


# ---------------------------------------------------------------------------------------------
# Checkpoint reading

def read_safetensors(path, out):
    """Adds every tensor of one .safetensors file to out as float64."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        fail("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        fail("%s: header length %d exceeds the file" % (path, n))
    header = json.loads(blob[8:8 + n])
    data = memoryview(blob)[8 + n:]
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        size = {"F32": 4, "F16": 2, "BF16": 2}.get(info["dtype"])
        if size is None:
            fail("%s: tensor %s has unsupported dtype %s" % (path, name, info["dtype"]))
        if not 0 <= begin <= end <= len(data) or end - begin != count * size:
            fail("%s: tensor %s has bad data_offsets %s" % (path, name, info["data_offsets"]))
        raw = data[begin:end]
        if info["dtype"] == "F32":
            a = np.frombuffer(raw, "<f4")
        elif info["dtype"] == "F16":
            a = np.frombuffer(raw, "<f2")
        else:  # bf16 = the top 16 bits of a float32
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        out[name] = a.astype(np.float64).reshape(info["shape"])


def load_checkpoint(hf_dir):
    with open(os.path.join(hf_dir, "config.json")) as f:
        cfg = json.load(f)
    index = os.path.join(hf_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    weights = {}
    for fn in files:
        read_safetensors(os.path.join(hf_dir, fn), weights)
    return cfg, weights


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
    if "lm_head.weight" not in W:
        if not cfg.get("tie_word_embeddings", False):
            fail("no lm_head.weight and tie_word_embeddings is false")
        W["lm_head.weight"] = W["model.embed_tokens.weight"]


# ---------------------------------------------------------------------------------------------
# Building blocks

def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def yarn_get_mscale(scale=1.0, mscale=1.0):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def rope_params(cfg):
    """(inv_freq [rope/2], attention_factor, description) over dim = qk_rope_head_dim."""
    dim, base = cfg["qk_rope_head_dim"], cfg["rope_theta"]
    if cfg.get("head_dim", dim) != dim:
        # transformers' rotary embedding reads config.head_dim; Meituan's config class sets it
        # to qk_rope_head_dim. A config where they differ is ambiguous.
        fail("head_dim %r != qk_rope_head_dim %d" % (cfg["head_dim"], dim))
    pos_freqs = base ** (np.arange(0, dim, 2) / dim)
    rs = cfg.get("rope_scaling")
    if not rs or rs.get("rope_type", rs.get("type")) == "default":
        return 1.0 / pos_freqs, 1.0, "default (theta %g)" % base
    if rs.get("rope_type", rs.get("type")) != "yarn":
        fail("rope_scaling type %r is not supported (only yarn)" % rs.get("rope_type", rs.get("type")))
    factor = float(rs["factor"])
    orig = rs.get("original_max_position_embeddings")
    if orig is None:
        fail("yarn without original_max_position_embeddings is not supported")
    if abs(cfg["max_position_embeddings"] / orig - factor) > 1e-9:
        fail("max_position_embeddings / original_max_position_embeddings != rope_scaling.factor: "
             "transformers versions disagree on such a config")
    mscale, mscale_all_dim = rs.get("mscale"), rs.get("mscale_all_dim")
    attention_factor = rs.get("attention_factor")
    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = yarn_get_mscale(factor, mscale) / yarn_get_mscale(factor, mscale_all_dim)
        else:
            attention_factor = yarn_get_mscale(factor)
    beta_fast, beta_slow = rs.get("beta_fast") or 32, rs.get("beta_slow") or 1

    def correction_dim(n_rot):
        return dim * math.log(orig / (n_rot * 2 * math.pi)) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if rs.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(dim // 2) - low) / (high - low), 0.0, 1.0)
    extrapolation = 1.0 - ramp
    inv_freq = (1.0 / (factor * pos_freqs)) * (1.0 - extrapolation) + (1.0 / pos_freqs) * extrapolation
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


def topk_margin(x, k):  # per row: (k-th largest) - ((k+1)-th largest)
    if x.shape[-1] <= k:
        return np.full(x.shape[0], np.inf)
    s = -np.sort(-x, axis=-1)
    return s[:, k - 1] - s[:, k]


# ---------------------------------------------------------------------------------------------
# Model

class Model:
    def __init__(self, hf_dir):
        self.cfg, self.W = load_checkpoint(hf_dir)
        check_config(self.cfg, self.W)
        cfg = self.cfg
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
        return self.lin(p + "down_proj", silu(self.lin(p + "gate_proj", x)) * self.lin(p + "up_proj", x))

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
        scores = np.einsum("thd,shd->hts", qs, ks) * softmax_scale(cfg)  # [heads, T, T]
        scores += np.triu(np.full((T, T), -np.inf), 1)
        probs = softmax(scores)
        out = np.einsum("hts,shd->thd", probs, v).reshape(T, nh * vd)
        return self.lin(p + "o_proj", out)

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
        out = np.zeros_like(h)
        for e in range(E + Z):
            rows, slot = np.nonzero(idx == e)
            if not len(rows):
                continue
            ww = w[rows, slot][:, None]
            if e < E:
                out[rows] += ww * self.mlp(p + "experts.%d." % e, h[rows])
            elif BREAK == "zero_as_ffn":
                out[rows] += ww * self.mlp(p + "experts.%d." % (e % E), h[rows])
            else:
                out[rows] += ww * h[rows]
        return out

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
        ang = np.arange(T)[:, None] * self.inv_freq[None, :]  # [T, rope/2]
        return np.cos(ang) * self.attention_factor, np.sin(ang) * self.attention_factor

    def hidden(self, tokens):
        """Final hidden states after model.norm: [T, hidden]."""
        cos, sin = self.rope_tables(len(tokens))
        x = self.W["model.embed_tokens.weight"][tokens]
        for L in range(self.cfg["num_layers"]):
            x = self.layer(L, x, cos, sin)
        return rms_norm(x, self.W["model.norm.weight"], self.cfg["rms_norm_eps"])

    def logprobs(self, tokens):
        logits = self.hidden(list(tokens)) @ self.W["lm_head.weight"].T
        return log_softmax(logits)


def log_softmax(logits):
    m = logits.max(-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))


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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hf_dir")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--greedy", type=int, default=0, help="argmax continuation length")
    ap.add_argument("--mtp", action="store_true", help="also print mtp_logprobs")
    args = ap.parse_args()
    model = Model(args.hf_dir)
    cfg = model.cfg
    try:
        tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    except ValueError:
        fail("--tokens must be comma-separated integers")
    vocab = model.W["model.embed_tokens.weight"].shape[0]
    if not tokens or not all(0 <= t < vocab for t in tokens):
        fail("token ids must be in [0, %d)" % vocab)
    if args.greedy < 0:
        fail("--greedy must be >= 0")

    logprobs = model.logprobs(tokens)
    margin, share = model.min_margin, model.zero_slots / max(1, model.slots)
    out = {"tokens": tokens, "logprobs": logprobs.tolist()}
    if args.mtp:
        out["mtp_logprobs"] = log_softmax(mtp_logits(model, tokens)).tolist()
    greedy, seq, last = [], list(tokens), logprobs[-1]
    for _ in range(args.greedy):
        greedy.append(int(np.argmax(last)))
        seq.append(greedy[-1])
        if len(greedy) < args.greedy:
            last = model.logprobs(seq)[-1]
    out["greedy"] = greedy
    print("hf_longcat_flash: %d layers x 2 sublayers, hidden %d, q_lora %d, kv_lora %d, mla scales %.4f/%.4f, "
          "%d routed + %d zero experts top-%d x %g, rope %s, softmax_scale %.6f, %d tokens + %d greedy; "
          "prompt: min routing margin %.3g, zero-expert share of slots %.3f; all passes: min margin %.3g%s" % (
              cfg["num_layers"], cfg["hidden_size"], cfg["q_lora_rank"], cfg["kv_lora_rank"], model.q_scale,
              model.kv_scale, model.n_routed, model.n_zero, cfg["moe_topk"], cfg["routed_scaling_factor"],
              model.rope_desc, softmax_scale(cfg), len(tokens), args.greedy, margin, share, model.min_margin,
              " (BROKEN on purpose: HF_FORWARD_BREAK=%s)" % BREAK if BREAK else ""), file=sys.stderr)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
