"""Shared pieces of the float64 numpy reference forward passes (hf_forward.py, hf_deepseek_v3.py,
hf_longcat_flash.py, hf_longcat_flash_lite.py).

What lives here is what those references compute identically: reading config.json + safetensors
as float64, RMSNorm / SiLU / sigmoid / softmax / log-softmax, the rope frequency tables of
transformers' modeling_rope_utils.py (default, llama3, yarn) and the two ways of applying them,
causal eager attention, routing tokens to experts, and the command line (--tokens / --greedy,
the greedy loop, the JSON printed). What each architecture means (block order, router rules,
scales, self-test switches) stays in its own file, so each reads as a transcription of its
modeling file. Like the references, this shares nothing with moecat or llama.cpp.

Errors go through the caller's fail(msg) (each reference prefixes its own name and exits), so a
message names the script that was run. Needs only python3 + numpy.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np


def failer(prog):
    """fail(msg): exits with 'prog: msg' (the references stop rather than guess)."""
    def fail(msg):
        sys.exit(prog + ": " + msg)
    return fail


def break_switch(prog, var, known):
    """The self-test switch in environment variable var ('' when unset); stops on unknown values
    so a typo cannot silently run an unbroken reference."""
    value = os.environ.get(var, "")
    if value not in ("",) + tuple(known):
        sys.exit("%s: unknown %s=%r (known: %s)" % (prog, var, value, ", ".join(known)))
    return value


# ---------------------------------------------------------------------------------------------
# Checkpoint reading

def _fp8_e4m3_values():
    """float64 value of each e4m3 byte (OCP FP8: sign, 4 exponent bits with bias 7, 3 mantissa
    bits; exponent 0 = subnormal m * 2^-9; 0x7F / 0xFF NaN; no infinities)."""
    v = np.empty(256)
    for b in range(256):
        e, m = (b >> 3) & 15, b & 7
        x = math.ldexp(m, -9) if e == 0 else math.ldexp(8 + m, e - 10)
        v[b] = float("nan") if (e == 15 and m == 7) else (-x if b & 0x80 else x)
    return v


FP8_E4M3_VALUES = _fp8_e4m3_values()


def read_safetensors(path, out, fail):
    """Adds every tensor of one .safetensors file to out: F32/F16/BF16 as float64, U8 (MXFP4
    blocks/scales) as uint8. Layout: u64 LE header length, JSON header {name: {dtype, shape,
    data_offsets [begin, end) relative to the data start}}, data."""
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
        size = {"F32": 4, "F16": 2, "BF16": 2, "U8": 1, "F8_E4M3": 1}.get(info["dtype"])
        if size is None:
            fail("%s: tensor %s has unsupported dtype %s" % (path, name, info["dtype"]))
        if not 0 <= begin <= end <= len(data) or end - begin != count * size:
            fail("%s: tensor %s has bad data_offsets %s" % (path, name, info["data_offsets"]))
        raw = data[begin:end]
        if info["dtype"] == "U8":
            out[name] = np.frombuffer(raw, np.uint8).reshape(info["shape"])
            continue
        if info["dtype"] == "F8_E4M3":  # decoded exactly; the block scales are applied by load_checkpoint
            codes = np.frombuffer(raw, np.uint8).reshape(info["shape"])
            if np.any((codes & 0x7F) == 0x7F):
                fail("%s: FP8 tensor %s holds NaN" % (path, name))
            out[name] = FP8_E4M3_VALUES[codes]
            out.setdefault("__fp8__", set()).add(name)
            continue
        if info["dtype"] == "F32":
            a = np.frombuffer(raw, "<f4")
        elif info["dtype"] == "F16":
            a = np.frombuffer(raw, "<f2")
        else:  # bf16 = the top 16 bits of a float32
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        out[name] = a.astype(np.float64).reshape(info["shape"])


def load_checkpoint(hf_dir, fail):
    """(config dict, {tensor name: float64 array}) from an HF folder, single file or sharded
    (model.safetensors.index.json)."""
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
        read_safetensors(os.path.join(hf_dir, fn), weights, fail)
    apply_fp8_scales(cfg, weights, fail)
    return cfg, weights


def apply_fp8_scales(cfg, W, fail):
    """FP8 checkpoints (quantization_config quant_method fp8, weight_block_size [br, bc]): each
    F8_E4M3 matrix W times its NAME_scale_inv [ceil(rows/br), ceil(cols/bc)] block by block, in
    float64 (DeepSeek-V3's inference/kernel.py weight_dequant: y = x * s, the scale of block
    (i // br, j // bc), partial blocks at the edges)."""
    fp8 = W.pop("__fp8__", set())
    if not fp8:
        return
    q = cfg.get("quantization_config") or {}
    if q.get("quant_method") != "fp8" or q.get("fmt", "e4m3") != "e4m3":
        fail("F8_E4M3 tensors without an fp8/e4m3 quantization_config")
    br, bc = q["weight_block_size"]
    for name in sorted(fp8):
        s = W.pop(name + "_scale_inv", None)
        w = W[name]
        if s is None or w.ndim != 2:
            fail("FP8 tensor %s: no scale_inv or not a matrix" % name)
        rows, cols = w.shape
        if s.shape != (-(-rows // br), -(-cols // bc)):
            fail("FP8 tensor %s: scale_inv shape %s" % (name, s.shape))
        full = np.repeat(np.repeat(s, br, axis=0), bc, axis=1)[:rows, :cols]
        W[name] = w * full


def tie_lm_head(cfg, W, fail):
    """tie_word_embeddings: without lm_head.weight the embedding is the head."""
    if "lm_head.weight" not in W:
        if not cfg.get("tie_word_embeddings", False):
            fail("no lm_head.weight and tie_word_embeddings is false")
        W["lm_head.weight"] = W["model.embed_tokens.weight"]


# ---------------------------------------------------------------------------------------------
# Elementwise and normalisation (transformers semantics, float64)

def rms_norm(x, w, eps):  # *RMSNorm: x / sqrt(mean(x^2) + eps) * w, over the last axis
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x):  # over the last axis
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def log_softmax(logits):  # over the last axis
    m = logits.max(-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))


def gated_mlp(lin, gate, up, down, x):
    """down(silu(gate(x)) * up(x)), lin(name, x) being the caller's nn.Linear."""
    return lin(down, silu(lin(gate, x)) * lin(up, x))


# ---------------------------------------------------------------------------------------------
# Rotary embeddings (modeling_rope_utils.py)

def default_inv_freq(base, dim):
    """_compute_default_rope_parameters: base^(-2i/dim), i < dim/2."""
    return 1.0 / base ** (np.arange(0, dim, 2) / dim)


def llama3_inv_freq(inv_freq, rs):
    """_compute_llama3_parameters: long wavelengths are divided by factor, short ones kept, the
    band in between interpolated smoothly in 1/wavelength."""
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old_ctx = rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    scaled = np.where(wavelen > old_ctx / lo, inv_freq / factor, inv_freq)
    smooth = (old_ctx / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old_ctx / hi) & ~(wavelen > old_ctx / lo)
    return np.where(medium, smoothed, scaled)


def yarn_get_mscale(scale=1.0, mscale=1.0):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def yarn(cfg, rs, dim, fail):
    """_compute_yarn_parameters over dim rotated dims with base cfg["rope_theta"]:
    (inv_freq [dim/2], attention_factor, factor, original ctx, ramp low, ramp high)."""
    base = cfg["rope_theta"]
    pos_freqs = base ** (np.arange(0, dim, 2) / dim)
    factor = float(rs["factor"])
    orig = rs.get("original_max_position_embeddings")
    if orig is None:
        fail("yarn without original_max_position_embeddings is not supported")
    # transformers <= 4.56 replaced factor by max_position_embeddings / orig; later versions keep
    # the explicit factor. Both agree only if the config is consistent, so insist on that.
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

    def correction_dim(n_rot):  # the dimension whose wavelength makes n_rot turns in orig tokens
        return dim * math.log(orig / (n_rot * 2 * math.pi)) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if rs.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(dim // 2) - low) / (high - low), 0.0, 1.0)
    extrapolation = 1.0 - ramp  # 1: keep the original frequency, 0: divide it by factor
    inv_freq = (1.0 / (factor * pos_freqs)) * (1.0 - extrapolation) + (1.0 / pos_freqs) * extrapolation
    return inv_freq, attention_factor, factor, orig, low, high


def rope_angles(T, inv_freq):  # [T, dim/2]: position t (= row t) times each frequency
    return np.arange(T)[:, None] * inv_freq[None, :]


def rotate_half_tables(T, inv_freq, attention_factor=1.0):
    """cos, sin [T, dim] as transformers' *RotaryEmbedding returns them: emb = cat(freqs, freqs),
    times attention_factor."""
    ang = rope_angles(T, inv_freq)
    emb = np.concatenate([ang, ang], -1)
    return np.cos(emb) * attention_factor, np.sin(emb) * attention_factor


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], -1)


def apply_rotate_half(x, cos, sin):  # apply_rotary_pos_emb; x [T, heads, dim], cos/sin [T, dim]
    return x * cos[:, None, :] + rotate_half(x) * sin[:, None, :]


# ---------------------------------------------------------------------------------------------
# Attention and experts

def causal_attention(q, k, v, scale):
    """Eager causal attention of every query head over the matching key/value head:
    q, k [T, heads, d_qk], v [T, heads, d_v] -> [T, heads * d_v]."""
    T, nh = q.shape[0], q.shape[1]
    scores = np.einsum("thd,shd->hts", q, k) * scale  # [heads, T, T]
    scores += np.triu(np.full((T, T), -np.inf), 1)
    probs = softmax(scores)
    return np.einsum("hts,shd->thd", probs, v).reshape(T, nh * v.shape[-1])


def route_to_experts(idx, weights, h, n_experts, expert):
    """sum over the chosen slots of weight * expert(e, rows of h routed to e): idx, weights
    [T, top_k]; expert(e, x [n, hidden]) -> [n, hidden]; experts nobody chose are not run."""
    out = np.zeros_like(h)
    for e in range(n_experts):
        rows, slot = np.nonzero(idx == e)
        if len(rows):
            out[rows] += weights[rows, slot][:, None] * expert(e, h[rows])
    return out


def topk_margin(x, k):  # per row: (k-th largest) - ((k+1)-th largest); inf when there is none
    if x.shape[-1] <= k:
        return np.full(x.shape[0], np.inf)
    s = -np.sort(-x, axis=-1)
    return s[:, k - 1] - s[:, k]


# ---------------------------------------------------------------------------------------------
# Command line: HF_DIR --tokens 1,2,3 [--greedy N], JSON as `moecat logprobs` prints it

def cli_parser(doc):
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("hf_dir")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--greedy", type=int, default=0, help="argmax continuation length")
    return ap


def parse_tokens(args, W, fail):
    """args.tokens as ids within the embedding's vocabulary; also checks --greedy."""
    try:
        tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    except ValueError:
        fail("--tokens must be comma-separated integers")
    vocab = W["model.embed_tokens.weight"].shape[0]
    if not tokens or not all(0 <= t < vocab for t in tokens):
        fail("token ids must be in [0, %d)" % vocab)
    if args.greedy < 0:
        fail("--greedy must be >= 0")
    return tokens


def greedy_continuation(logprobs_fn, tokens, last, n):
    """n argmax tokens after tokens, last = log p after tokens; logprobs_fn(seq) -> [T, vocab]
    recomputes the whole sequence for each new token (no KV cache: sequences are short)."""
    greedy, seq = [], list(tokens)
    for _ in range(n):
        greedy.append(int(np.argmax(last)))
        seq.append(greedy[-1])
        if len(greedy) < n:
            last = logprobs_fn(seq)[-1]
    return greedy


def print_json(out):
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
