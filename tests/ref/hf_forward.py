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

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

BREAK = os.environ.get("HF_FORWARD_BREAK", "")
if BREAK not in ("", "llama3", "norm_topk"):
    sys.exit("hf_forward: unknown HF_FORWARD_BREAK=%r (known: llama3, norm_topk)" % BREAK)


def fail(msg):
    sys.exit("hf_forward: " + msg)


# ---------------------------------------------------------------------------------------------
# Checkpoint reading

def read_safetensors(path, out):
    """Adds every tensor of one .safetensors file to out as float64: u64 LE header length, JSON
    header {name: {dtype, shape, data_offsets [begin, end) relative to the data start}}, data."""
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
    """(config dict, {tensor name: float64 array}) from an HF folder."""
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


# ---------------------------------------------------------------------------------------------
# Building blocks (transformers semantics)

def rms_norm(x, w, eps):  # LlamaRMSNorm: x / sqrt(mean(x^2) + eps) * w, over the last axis
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def linear(W, name, x):  # nn.Linear: x @ weight.T (+ bias when the checkpoint has one)
    y = x @ W[name + ".weight"].T
    return y + W[name + ".bias"] if name + ".bias" in W else y


def rope_inv_freq(cfg, head_dim):
    """modeling_rope_utils: _compute_default_rope_parameters, then the rope_type's rescaling."""
    inv_freq = 1.0 / cfg["rope_theta"] ** (np.arange(0, head_dim, 2) / head_dim)  # [head_dim/2]
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
    # _compute_llama3_parameters: long wavelengths are divided by factor, short ones kept, the
    # band in between interpolated smoothly in 1/wavelength.
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old_ctx = rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    scaled = np.where(wavelen > old_ctx / lo, inv_freq / factor, inv_freq)
    smooth = (old_ctx / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old_ctx / hi) & ~(wavelen > old_ctx / lo)
    return np.where(medium, smoothed, scaled), "llama3"


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], -1)


def apply_rope(x, inv_freq):  # x [T, heads, head_dim]; position of row t is t
    ang = np.arange(x.shape[0])[:, None] * inv_freq[None, :]  # [T, head_dim/2]
    emb = np.concatenate([ang, ang], -1)[:, None, :]  # [T, 1, head_dim]
    return x * np.cos(emb) + rotate_half(x) * np.sin(emb)


def attention(cfg, W, p, h, inv_freq):
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
    q, k = apply_rope(q, inv_freq), apply_rope(k, inv_freq)
    k = np.repeat(k, nh // nkv, axis=1)  # repeat_kv: kv head j serves query heads j*g .. j*g+g-1
    v = np.repeat(v, nh // nkv, axis=1)
    scores = np.einsum("thd,shd->hts", q, k) * hd ** -0.5  # [heads, T, T]
    scores += np.triu(np.full((T, T), -np.inf), 1)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = np.einsum("hts,shd->thd", probs, v).reshape(T, nh * hd)
    return linear(W, p + "o_proj", out)


def gated_mlp(W, gate, up, down, h):  # LlamaMLP / MixtralBlockSparseTop2MLP / Qwen3MoeMLP
    return linear(W, down, silu(linear(W, gate, h)) * linear(W, up, h))


def moe(W, router, expert_names, top_k, renormalise, h):
    """Sparse MoE block: softmax over all experts, keep the top_k, optionally rescale them to
    sum 1, then sum the chosen experts' outputs weighted by those probabilities."""
    logits = linear(W, router, h)  # [T, experts]
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    top = np.argsort(-probs, axis=-1, kind="stable")[:, :top_k]  # [T, top_k]
    weights = np.take_along_axis(probs, top, -1)
    if renormalise != (BREAK == "norm_topk"):
        weights /= weights.sum(-1, keepdims=True)
    out = np.zeros_like(h)
    for e, names in enumerate(expert_names):
        rows, slot = np.nonzero(top == e)
        if len(rows):
            out[rows] += weights[rows, slot][:, None] * gated_mlp(W, *names, h[rows])
    return out


def feed_forward(cfg, W, i, h):
    """The MLP half of decoder layer i, by architecture."""
    mt, p = cfg["model_type"], "model.layers.%d." % i
    if mt == "llama":
        return gated_mlp(W, p + "mlp.gate_proj", p + "mlp.up_proj", p + "mlp.down_proj", h)
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
        return gated_mlp(W, p + "mlp.gate_proj", p + "mlp.up_proj", p + "mlp.down_proj", h)
    fail("model_type %r is not supported" % mt)


def is_qwen3_sparse_layer(cfg, i):  # Qwen3MoeDecoderLayer.__init__
    return (i not in cfg.get("mlp_only_layers", []) and cfg["num_experts"] > 0
            and (i + 1) % cfg.get("decoder_sparse_step", 1) == 0)


def head_dim(cfg):
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def decoder_layer(cfg, W, i, x, inv_freq):  # pre-norm residual block
    p, eps = "model.layers.%d." % i, cfg["rms_norm_eps"]
    x = x + attention(cfg, W, p + "self_attn.", rms_norm(x, W[p + "input_layernorm.weight"], eps), inv_freq)
    return x + feed_forward(cfg, W, i, rms_norm(x, W[p + "post_attention_layernorm.weight"], eps))


def forward(cfg, W, tokens, inv_freq):
    """log_softmax of the logits at every position; [T, vocab]."""
    x = W["model.embed_tokens.weight"][tokens]  # [T, hidden]
    for i in range(cfg["num_hidden_layers"]):
        x = decoder_layer(cfg, W, i, x, inv_freq)
    x = rms_norm(x, W["model.norm.weight"], cfg["rms_norm_eps"])
    logits = x @ W["lm_head.weight"].T
    m = logits.max(-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))


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
    if "lm_head.weight" not in W:
        if not cfg.get("tie_word_embeddings", False):
            fail("no lm_head.weight and tie_word_embeddings is false")
        W["lm_head.weight"] = W["model.embed_tokens.weight"]  # tied: the embedding is the head


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hf_dir")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--greedy", type=int, default=0, help="argmax continuation length")
    args = ap.parse_args()
    cfg, W = load_checkpoint(args.hf_dir)
    check_config(cfg, W)
    tokens = [int(t) for t in args.tokens.split(",")]
    vocab = W["model.embed_tokens.weight"].shape[0]
    if not tokens or not all(0 <= t < vocab for t in tokens):
        fail("token ids must be in [0, %d)" % vocab)
    window = cfg.get("sliding_window") if cfg.get("use_sliding_window", True) else None
    if window and len(tokens) + args.greedy > window:
        fail("sequence longer than sliding_window %d: not implemented" % window)

    inv_freq, rope_desc = rope_inv_freq(cfg, head_dim(cfg))
    n_moe = sum(1 for k in W if k.endswith((".block_sparse_moe.gate.weight", ".mlp.gate.weight")))
    print("hf_forward: %s, %d layers (%d MoE), head_dim %d, rope %s, %d tokens + %d greedy" % (
        cfg["model_type"], cfg["num_hidden_layers"], n_moe, head_dim(cfg), rope_desc, len(tokens),
        args.greedy), file=sys.stderr)

    logprobs = forward(cfg, W, tokens, inv_freq)
    greedy, seq, last = [], list(tokens), logprobs[-1]
    for _ in range(args.greedy):
        greedy.append(int(np.argmax(last)))
        seq.append(greedy[-1])
        if len(greedy) < args.greedy:
            last = forward(cfg, W, seq, inv_freq)[-1]
    json.dump({"tokens": tokens, "logprobs": logprobs.tolist(), "greedy": greedy}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
