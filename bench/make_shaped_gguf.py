#!/usr/bin/env python3
"""Writes a q8_0 GGUF with a real model's layer dimensions and random weights, directly (no HF
checkpoint in between: at DeepSeek-V3 / LongCat-Flash widths even one layer is too big for a bf16
HF folder on the development VM). For speed and memory benchmarks only: the numbers are random.

    make_shaped_gguf.py deepseek2 OUT.gguf [--experts 64] [--layers 2] [--dense-layers 1] [--seed 1]
    make_shaped_gguf.py longcat_flash OUT.gguf [--experts 64] [--zero-experts 32] [--layers 1]
    make_shaped_gguf.py longcat_flash_ngram OUT.gguf [--experts 64] [--zero-experts 32] [--layers 1]
    make_shaped_gguf.py gpt-oss OUT.gguf [--experts 32] [--layers 4]
    (all: [--type q8_0|q4_k] [--seed 1])

deepseek2: DeepSeek-V3's dims (hidden 7168, 128 heads, q_lora 1536, kv_lora 512, nope 128,
rope 64, v 128, dense FFN 18432, expert FFN 2048, 1 shared expert, top-8, 8 groups / top-4
groups, sigmoid scores + selection bias, routed scale 2.5, vocab 129280, yarn x40), laid out
exactly as llama.cpp's converter writes it (docs/gguf-deepseek2.md: attn_k_b / attn_v_b split,
head_count_kv 1, key_length = kv_lora + rope, *_mla keys, ...), so llama.cpp loads it too.
The first --dense-layers layers are dense, the rest MoE. Real V3: 61 layers (3 dense), 256
experts; per-token weight bytes of one MoE layer do not depend on the expert count (top-8 are
read either way), so fewer experts only shrink the file.

longcat_flash: LongCat-Flash's dims (hidden 6144, 64 heads, q_lora 1536, kv_lora 512, nope 128,
rope 64, v 128, dense FFN 12288, expert FFN 2048, top-12, routed scale 6, vocab 131072,
mla scales sqrt(6144/1536) and sqrt(6144/512)), with the tensor names and keys of
src/model/arch/longcat_flash.cpp (names(), write_meta()) and kv_b split into
attn_k_b.{i} / attn_v_b.{i} as for deepseek2 (a q8_0 kv_b cannot be split at load). Real model:
28 layers, 512 routed + 256 zero experts; the default 64 + 32 keeps the routed : zero ratio.

longcat_flash_ngram: LongCat-Flash-Lite's dims (hidden 3072, 32 heads, q_lora 1536, kv_lora 512,
nope 128, rope 64, v 128, dense FFN 6144, expert FFN 1024, top-12, routed scale 6, vocab 131072,
yarn factor 10 over 32768, rope theta 5e6) and its real n-gram embedding: 12 tables
token_embd_ngram.i of 78 x 131072 + 2i + 1 rows x 256 (31.4B parameters) and ngram_proj.i
[3072, 256], keys as src/model/arch/longcat_flash.cpp writes them (docs/longcat-flash-lite.md).
Real model: 14 layers, 256 routed + 128 zero experts (pass --experts 256 --zero-experts 128).

--type q4_k: matrices whose rows hold whole 256-value super-blocks are Q4_K (uniform random
nibbles, every 6-bit scale and min 21, d and dmin = 7.5 d per block so weights have mean 0 and
std ~1/sqrt(row)), the rest q8_0 (attn_k_b: rows of 128); norms, routers, biases f32.

gpt-oss: gpt-oss-20b's dims (hidden 2880, 64 q heads / 8 kv heads, head_dim 64, 32 experts
top-4, expert width 2880, vocab 201088, sliding window 128 on even layers (llama.cpp's default
pattern 2), yarn factor 32 over original ctx 4096 (beta 32 / 1), rope theta 150000, eps 1e-5),
with the keys and tensor names of docs/gguf-gpt-oss.md (q/k/v/o biases, attn_sinks,
post_attention_norm, router weight + bias, per-expert gate/up/down biases). Experts are MXFP4
(ggml type 39, file_type 38 MOSTLY_MXFP4_MOE) like the released checkpoints; attention,
embeddings and output q8_0; norms, biases, sinks and the router f32. Real 20b: 24 layers (120b:
36 layers, 128 experts); the experts read per token (top-4) do not depend on the layer count.

Values: q8_0 blocks with uniform int8 quants in [-127, 127] and f16 scales drawn so that every
weight has std ~ 1/sqrt(fan_in) (fan_in = the row length), which keeps activations O(1) through
matmuls; embeddings have std ~1; norms f32 ~ 1 + N(0, 0.05); routers f32 N(0, 1/fan_in);
score biases f32 (deepseek2: U[0, 0.02), non-negative as in V3 so group masking agrees between
implementations; longcat: N(0, 0.02)); gpt-oss biases and sinks f32 N(0, 0.02). MXFP4 blocks:
uniform random 4-bit e2m1 codes (std of a code's value 2.93) and E8M0 exponents 119 or 120
(2^-8 / 2^-7), i.e. weight std ~ 0.017 ~ 1/sqrt(2880), so activations stay O(1) and finite. Tokenizer: a byte-level gpt2 vocabulary (256 byte
tokens, a few merges) padded with unreachable dummy tokens to the vocab size, BOS/EOS at the
end as control tokens.

Data are generated and written in chunks of ~64 MiB (memory stays small); the file is written to
OUT.tmp and renamed when complete. Needs python3 + numpy only.
"""

import argparse
import math
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from make_test_model import bytes_to_unicode  # noqa: E402  (the byte-level BPE alphabet)

QK = 32                # q8_0 block: f16 scale + 32 int8
Q8_BLOCK_BYTES = 34
QK_K = 256             # Q4_K super-block: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
Q4K_BLOCK_BYTES = 144
GGML_F32, GGML_Q8_0, GGML_Q4_K, GGML_MXFP4 = 0, 8, 12, 39
MX_BLOCK_BYTES = 17    # MXFP4 block: E8M0 exponent byte + 16 bytes of 4-bit codes for 32 values
FILE_TYPE_Q8_0 = 7     # llama_ftype LLAMA_FTYPE_MOSTLY_Q8_0
FILE_TYPE_Q4_K_M = 15  # LLAMA_FTYPE_MOSTLY_Q4_K_M (informational: the --type q4_k mix is Q4_K + q8_0 + f32)
FILE_TYPE_MXFP4_MOE = 38  # LLAMA_FTYPE_MOSTLY_MXFP4_MOE (what the converter writes for MXFP4 checkpoints)
ALIGN = 32
CHUNK_BYTES = 64 << 20
INT8_STD = math.sqrt((255 ** 2 - 1) / 12.0)  # std of a uniform integer in [-127, 127]
NIB_STD = math.sqrt((16 ** 2 - 1) / 12.0)    # std of a uniform nibble in [0, 15]
Q4K_SC = 21  # every 6-bit sub-block scale and min (all 12 scale bytes 0x55 decode to 21 / 21)

# GGUF value types
T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR = 4, 5, 6, 7, 8, 9

DEEPSEEK_V3 = dict(hidden=7168, heads=128, q_lora=1536, kv_lora=512, nope=128, rope=64, v=128,
                   ffn=18432, expert_ffn=2048, shared=1, topk=8, groups=8, groups_used=4,
                   routed_scale=2.5, vocab=129280, ctx=163840, rope_theta=10000.0, eps=1e-6)
LONGCAT_FLASH = dict(hidden=6144, heads=64, q_lora=1536, kv_lora=512, nope=128, rope=64, v=128,
                     ffn=12288, expert_ffn=2048, topk=12, routed_scale=6.0, vocab=131072,
                     ctx=131072, rope_theta=10000000.0, eps=1e-5)
# LongCat-Flash-Lite (config.json of meituan-longcat/LongCat-Flash-Lite; docs/longcat-flash-lite.md):
# 14 layers, 256 routed + 128 zero experts, n-gram embedding n = 4, k = 4 (12 tables),
# ngram_vocab_size_ratio 78 (m = 78 x 131072), yarn factor 10 over 32768, eos 2 = n-gram reset.
LONGCAT_FLASH_LITE = dict(hidden=3072, heads=32, q_lora=1536, kv_lora=512, nope=128, rope=64, v=128,
                          ffn=6144, expert_ffn=1024, topk=12, routed_scale=6.0, vocab=131072,
                          ctx=327680, rope_theta=5000000.0, eps=1e-5, yarn_factor=10.0, yarn_orig_ctx=32768,
                          ngram_n=4, ngram_k=4, ngram_ratio=78, reset_token=2)
GPT_OSS_20B = dict(hidden=2880, heads=64, heads_kv=8, head_dim=64, experts=32, topk=4, expert_ffn=2880,
                   vocab=201088, ctx=131072, window=128, yarn_factor=32.0, yarn_orig_ctx=4096,
                   rope_theta=150000.0, eps=1e-5)


# ---------------------------------------------------------------- tensors

class Tensor:
    """shape: numpy order (outermost first); kind: 'q8' (matrix, std 1/sqrt(row)), 'embd' (q8,
    std 1), 'mx' (MXFP4 matrix, std ~1/sqrt(row)), 'norm', 'router', 'bias_pos', 'bias' (f32).
    q8 / embd tensors are q8_0, or Q4_K after to_q4k() (rows of whole 256-value super-blocks)."""

    def __init__(self, name, shape, kind):
        self.name, self.shape, self.kind = name, tuple(int(s) for s in shape), kind
        self.numel = int(np.prod(self.shape))
        self.q4k = False
        if self.is_q8:
            assert self.shape[-1] % QK == 0, name
            self.nbytes = self.numel // QK * Q8_BLOCK_BYTES
        elif self.kind == "mx":
            assert self.shape[-1] % QK == 0, name
            self.nbytes = self.numel // QK * MX_BLOCK_BYTES
        else:
            self.nbytes = self.numel * 4

    @property
    def is_q8(self):
        return self.kind in ("q8", "embd") and not self.q4k

    def to_q4k(self):
        """Q4_K instead of q8_0 where the row holds whole super-blocks; True if converted."""
        if self.kind not in ("q8", "embd") or self.shape[-1] % QK_K:
            return False
        self.q4k = True
        self.nbytes = self.numel // QK_K * Q4K_BLOCK_BYTES
        return True

    @property
    def ggml_type(self):
        if self.q4k:
            return GGML_Q4_K
        return GGML_Q8_0 if self.is_q8 else GGML_MXFP4 if self.kind == "mx" else GGML_F32


def mla_tensors(p, tag, d):
    H, nh = d["hidden"], d["heads"]
    qr, kvr, dn, dr, dv = d["q_lora"], d["kv_lora"], d["nope"], d["rope"], d["v"]
    return [
        Tensor(p + "attn_norm" + tag + ".weight", [H], "norm"),
        Tensor(p + "attn_q_a" + tag + ".weight", [qr, H], "q8"),
        Tensor(p + "attn_q_a_norm" + tag + ".weight", [qr], "norm"),
        Tensor(p + "attn_q_b" + tag + ".weight", [nh * (dn + dr), qr], "q8"),
        Tensor(p + "attn_kv_a_mqa" + tag + ".weight", [kvr + dr, H], "q8"),
        Tensor(p + "attn_kv_a_norm" + tag + ".weight", [kvr], "norm"),
        Tensor(p + "attn_k_b" + tag + ".weight", [nh, kvr, dn], "q8"),   # ggml ne {dn, kvr, nh}
        Tensor(p + "attn_v_b" + tag + ".weight", [nh, dv, kvr], "q8"),   # ggml ne {kvr, dv, nh}
        Tensor(p + "attn_output" + tag + ".weight", [H, nh * dv], "q8"),
    ]


def dense_tensors(p, tag, H, F):
    return [
        Tensor(p + "ffn_norm" + tag + ".weight", [H], "norm"),
        Tensor(p + "ffn_gate" + tag + ".weight", [F, H], "q8"),
        Tensor(p + "ffn_up" + tag + ".weight", [F, H], "q8"),
        Tensor(p + "ffn_down" + tag + ".weight", [H, F], "q8"),
    ]


def expert_tensors(p, E, H, Fe):
    return [
        Tensor(p + "ffn_gate_exps.weight", [E, Fe, H], "q8"),
        Tensor(p + "ffn_up_exps.weight", [E, Fe, H], "q8"),
        Tensor(p + "ffn_down_exps.weight", [E, H, Fe], "q8"),
    ]


def deepseek2_tensors(d, n_layer, n_dense, E):
    H, V, Fe, S = d["hidden"], d["vocab"], d["expert_ffn"], d["shared"]
    ts = [Tensor("token_embd.weight", [V, H], "embd")]
    for il in range(n_layer):
        p = "blk.%d." % il
        ts += mla_tensors(p, "", d)
        if il < n_dense:
            ts += dense_tensors(p, "", H, d["ffn"])
        else:
            ts += [Tensor(p + "ffn_norm.weight", [H], "norm"),
                   Tensor(p + "ffn_gate_inp.weight", [E, H], "router"),
                   Tensor(p + "exp_probs_b.bias", [E], "bias_pos")]
            ts += expert_tensors(p, E, H, Fe)
            ts += [Tensor(p + "ffn_gate_shexp.weight", [Fe * S, H], "q8"),
                   Tensor(p + "ffn_up_shexp.weight", [Fe * S, H], "q8"),
                   Tensor(p + "ffn_down_shexp.weight", [H, Fe * S], "q8")]
    ts += [Tensor("output_norm.weight", [H], "norm"), Tensor("output.weight", [V, H], "q8")]
    return ts


def longcat_tensors(d, n_layer, E, Z):
    H, V = d["hidden"], d["vocab"]
    ts = [Tensor("token_embd.weight", [V, H], "embd")]
    for il in range(n_layer):
        p = "blk.%d." % il
        for i in range(2):
            ts += mla_tensors(p, ".%d" % i, d)
            ts += dense_tensors(p, ".%d" % i, H, d["ffn"])
        ts += [Tensor(p + "ffn_gate_inp.weight", [E + Z, H], "router"),
               Tensor(p + "exp_probs_b.bias", [E + Z], "bias")]
        ts += expert_tensors(p, E, H, d["expert_ffn"])
    ts += [Tensor("output_norm.weight", [H], "norm"), Tensor("output.weight", [V, H], "q8")]
    return ts


def ngram_dims(d):
    """(tables, rows of each table, table width) of the LongCat-Flash-Lite n-gram embedding."""
    T = (d["ngram_n"] - 1) * d["ngram_k"]
    m = d["ngram_ratio"] * d["vocab"]
    return T, [m + 2 * i + 1 for i in range(T)], d["hidden"] // T


def longcat_ngram_tensors(d, n_layer, E, Z):
    """LongCat-Flash-Lite: the LongCat-Flash tensors plus the n-gram tables and projections
    (docs/longcat-flash-lite.md: token_embd_ngram.i [m + 2i + 1, D], ngram_proj.i [H, D])."""
    ts = longcat_tensors(d, n_layer, E, Z)
    T, rows, D = ngram_dims(d)
    for i in range(T):
        ts += [Tensor("token_embd_ngram.%d.weight" % i, [rows[i], D], "embd"),
               Tensor("ngram_proj.%d.weight" % i, [d["hidden"], D], "q8")]
    return ts


def gpt_oss_tensors(d, n_layer, E):
    D, V, F = d["hidden"], d["vocab"], d["expert_ffn"]
    q, kv = d["heads"] * d["head_dim"], d["heads_kv"] * d["head_dim"]
    ts = [Tensor("token_embd.weight", [V, D], "embd")]
    for il in range(n_layer):
        p = "blk.%d." % il
        ts += [Tensor(p + "attn_norm.weight", [D], "norm"),
               Tensor(p + "attn_q.weight", [q, D], "q8"), Tensor(p + "attn_q.bias", [q], "bias"),
               Tensor(p + "attn_k.weight", [kv, D], "q8"), Tensor(p + "attn_k.bias", [kv], "bias"),
               Tensor(p + "attn_v.weight", [kv, D], "q8"), Tensor(p + "attn_v.bias", [kv], "bias"),
               Tensor(p + "attn_output.weight", [D, q], "q8"), Tensor(p + "attn_output.bias", [D], "bias"),
               Tensor(p + "attn_sinks.weight", [d["heads"]], "bias"),
               Tensor(p + "post_attention_norm.weight", [D], "norm"),
               Tensor(p + "ffn_gate_inp.weight", [E, D], "router"),
               Tensor(p + "ffn_gate_inp.bias", [E], "bias"),
               Tensor(p + "ffn_gate_exps.weight", [E, F, D], "mx"),   # ggml ne {D, F, E}
               Tensor(p + "ffn_gate_exps.bias", [E, F], "bias"),
               Tensor(p + "ffn_up_exps.weight", [E, F, D], "mx"),
               Tensor(p + "ffn_up_exps.bias", [E, F], "bias"),
               Tensor(p + "ffn_down_exps.weight", [E, D, F], "mx"),   # ggml ne {F, D, E}
               Tensor(p + "ffn_down_exps.bias", [E, D], "bias")]
    ts += [Tensor("output_norm.weight", [D], "norm"), Tensor("output.weight", [V, D], "q8")]
    return ts


# ---------------------------------------------------------------- metadata

def deepseek2_meta(d, n_layer, n_dense, E):
    a = "deepseek2."
    return [
        ("general.architecture", T_STR, "deepseek2"),
        ("general.name", T_STR, "DeepSeek-V3-shaped random (%d layers, %d experts)" % (n_layer, E)),
        ("general.file_type", T_U32, FILE_TYPE_Q8_0),
        (a + "block_count", T_U32, n_layer),
        (a + "context_length", T_U32, d["ctx"]),
        (a + "embedding_length", T_U32, d["hidden"]),
        (a + "feed_forward_length", T_U32, d["ffn"]),
        (a + "attention.head_count", T_U32, d["heads"]),
        (a + "attention.head_count_kv", T_U32, 1),
        (a + "rope.scaling.type", T_STR, "yarn"),
        (a + "rope.scaling.factor", T_F32, 40.0),
        (a + "rope.scaling.original_context_length", T_U32, 4096),
        (a + "rope.scaling.yarn_beta_fast", T_F32, 32.0),
        (a + "rope.scaling.yarn_beta_slow", T_F32, 1.0),
        (a + "rope.freq_base", T_F32, d["rope_theta"]),
        (a + "attention.layer_norm_rms_epsilon", T_F32, d["eps"]),
        (a + "expert_count", T_U32, E),
        (a + "expert_used_count", T_U32, d["topk"]),
        (a + "expert_group_count", T_U32, d["groups"]),
        (a + "expert_group_used_count", T_U32, d["groups_used"]),
        (a + "expert_gating_func", T_U32, 2),  # sigmoid
        (a + "leading_dense_block_count", T_U32, n_dense),
        (a + "vocab_size", T_U32, d["vocab"]),
        (a + "attention.q_lora_rank", T_U32, d["q_lora"]),
        (a + "attention.kv_lora_rank", T_U32, d["kv_lora"]),
        (a + "attention.key_length", T_U32, d["kv_lora"] + d["rope"]),
        (a + "attention.value_length", T_U32, d["kv_lora"]),
        (a + "attention.key_length_mla", T_U32, d["nope"] + d["rope"]),
        (a + "attention.value_length_mla", T_U32, d["v"]),
        (a + "expert_feed_forward_length", T_U32, d["expert_ffn"]),
        (a + "expert_shared_count", T_U32, d["shared"]),
        (a + "expert_weights_scale", T_F32, d["routed_scale"]),
        (a + "expert_weights_norm", T_BOOL, True),
        (a + "rope.dimension_count", T_U32, d["rope"]),
        (a + "rope.scaling.yarn_log_multiplier", T_F32, 0.1),  # 0.1 * mscale_all_dim (1.0)
    ]


def longcat_meta(d, n_layer, E, Z, arch="longcat_flash", file_type=FILE_TYPE_Q8_0):
    a = arch + "."
    H = d["hidden"]
    name = "LongCat-Flash-Lite" if arch == "longcat_flash_ngram" else "LongCat-Flash"
    meta = [
        ("general.architecture", T_STR, arch),
        ("general.name", T_STR, "%s-shaped random (%d layers, %d+%d experts)" % (name, n_layer, E, Z)),
        ("general.file_type", T_U32, file_type),
        (a + "context_length", T_U32, d["ctx"]),
        (a + "embedding_length", T_U32, H),
        (a + "block_count", T_U32, n_layer),
        (a + "feed_forward_length", T_U32, d["ffn"]),
        (a + "expert_feed_forward_length", T_U32, d["expert_ffn"]),
        (a + "attention.head_count", T_U32, d["heads"]),
        (a + "attention.head_count_kv", T_U32, 1),
        (a + "attention.q_lora_rank", T_U32, d["q_lora"]),
        (a + "attention.kv_lora_rank", T_U32, d["kv_lora"]),
        (a + "attention.key_length_mla", T_U32, d["nope"] + d["rope"]),
        (a + "attention.value_length_mla", T_U32, d["v"]),
        (a + "attention.mla_scale_q_lora", T_F32, math.sqrt(H / d["q_lora"])),
        (a + "attention.mla_scale_kv_lora", T_F32, math.sqrt(H / d["kv_lora"])),
        (a + "attention.layer_norm_rms_epsilon", T_F32, d["eps"]),
        (a + "rope.dimension_count", T_U32, d["rope"]),
        (a + "rope.freq_base", T_F32, d["rope_theta"]),
        (a + "expert_count", T_U32, E),
        (a + "expert_zero_count", T_U32, Z),
        (a + "expert_used_count", T_U32, d["topk"]),
        (a + "expert_weights_scale", T_F32, d["routed_scale"]),
        (a + "vocab_size", T_U32, d["vocab"]),
    ]
    if "yarn_factor" in d:
        meta += [
            (a + "rope.scaling.type", T_STR, "yarn"),
            (a + "rope.scaling.factor", T_F32, d["yarn_factor"]),
            (a + "rope.scaling.original_context_length", T_U32, d["yarn_orig_ctx"]),
            (a + "rope.scaling.yarn_beta_fast", T_F32, 32.0),
            (a + "rope.scaling.yarn_beta_slow", T_F32, 1.0),
            (a + "rope.scaling.yarn_log_multiplier", T_F32, 0.1),  # 0.1 * mscale_all_dim (1.0)
        ]
    if "ngram_n" in d:
        meta += [
            (a + "ngram.neighbor_num", T_U32, d["ngram_n"]),
            (a + "ngram.split_num", T_U32, d["ngram_k"]),
            (a + "ngram.vocab_size_ratio", T_F32, float(d["ngram_ratio"])),
            (a + "ngram.modulus_base", T_U32, d["ngram_ratio"] * d["vocab"]),
            (a + "ngram.hash_base", T_U32, d["vocab"]),
            (a + "ngram.reset_token_id", T_U32, d["reset_token"]),
        ]
    return meta


def gpt_oss_meta(d, n_layer, E):
    a = "gpt-oss."
    return [
        ("general.architecture", T_STR, "gpt-oss"),
        ("general.name", T_STR, "gpt-oss-20b-shaped random (%d layers, %d experts)" % (n_layer, E)),
        ("general.file_type", T_U32, FILE_TYPE_MXFP4_MOE),
        (a + "block_count", T_U32, n_layer),
        (a + "context_length", T_U32, d["ctx"]),
        (a + "embedding_length", T_U32, d["hidden"]),
        (a + "feed_forward_length", T_U32, d["expert_ffn"]),
        (a + "attention.head_count", T_U32, d["heads"]),
        (a + "attention.head_count_kv", T_U32, d["heads_kv"]),
        (a + "rope.scaling.type", T_STR, "yarn"),
        (a + "rope.scaling.factor", T_F32, d["yarn_factor"]),
        (a + "rope.scaling.original_context_length", T_U32, d["yarn_orig_ctx"]),
        (a + "rope.scaling.yarn_beta_fast", T_F32, 32.0),
        (a + "rope.scaling.yarn_beta_slow", T_F32, 1.0),
        (a + "rope.freq_base", T_F32, d["rope_theta"]),
        (a + "attention.layer_norm_rms_epsilon", T_F32, d["eps"]),
        (a + "expert_count", T_U32, E),
        (a + "expert_used_count", T_U32, d["topk"]),
        (a + "attention.key_length", T_U32, d["head_dim"]),
        (a + "attention.value_length", T_U32, d["head_dim"]),
        (a + "attention.sliding_window", T_U32, d["window"]),
        (a + "expert_feed_forward_length", T_U32, d["expert_ffn"]),
    ]


DEEPSEEK_SPECIALS = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")
GPT_OSS_SPECIALS = ("<|startoftext|>", "<|return|>")


def tokenizer_meta(vocab_size, pre, specials=DEEPSEEK_SPECIALS, add_bos=True):
    """Byte-level BPE: 256 byte tokens, a few merges (llama.cpp requires merges for gpt2), dummy
    padding, then BOS and EOS as control tokens (ids vocab_size-2, vocab_size-1). add_bos=False
    leaves out tokenizer.ggml.add_bos_token (gpt-oss's converter does not write it)."""
    tokens = list(bytes_to_unicode().values())
    merges = [("Ġ", "t"), ("h", "e"), ("i", "n"), ("Ġt", "he"), ("e", "r"), ("a", "n")]
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    specials = list(specials)
    n_pad = vocab_size - len(tokens) - len(specials)
    if n_pad < 0:
        raise SystemExit("vocab size %d too small for the minimal tokenizer" % vocab_size)
    tokens += ["<dummy%06d>" % i for i in range(n_pad)]
    types = [1] * len(tokens) + [3] * len(specials)  # 1 normal, 3 control
    tokens += specials
    meta = [
        ("tokenizer.ggml.model", T_STR, "gpt2"),
        ("tokenizer.ggml.pre", T_STR, pre),
        ("tokenizer.ggml.tokens", (T_ARR, T_STR), tokens),
        ("tokenizer.ggml.token_type", (T_ARR, T_I32), types),
        ("tokenizer.ggml.merges", (T_ARR, T_STR), [a + " " + b for a, b in merges]),
        ("tokenizer.ggml.bos_token_id", T_U32, vocab_size - 2),
        ("tokenizer.ggml.eos_token_id", T_U32, vocab_size - 1),
    ]
    if add_bos:
        meta.append(("tokenizer.ggml.add_bos_token", T_BOOL, True))
    return meta


# ---------------------------------------------------------------- GGUF encoding

def enc_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def enc_scalar(t, v):
    if t == T_U32:
        return struct.pack("<I", v)
    if t == T_I32:
        return struct.pack("<i", v)
    if t == T_F32:
        return struct.pack("<f", v)
    if t == T_BOOL:
        return struct.pack("<B", 1 if v else 0)
    if t == T_STR:
        return enc_str(v)
    raise ValueError(t)


def enc_kv(key, t, v):
    out = [enc_str(key)]
    if isinstance(t, tuple):  # array
        et = t[1]
        out.append(struct.pack("<IIQ", T_ARR, et, len(v)))
        if et == T_I32:
            out.append(np.asarray(v, dtype="<i4").tobytes())
        else:
            out.extend(enc_scalar(et, x) for x in v)
    else:
        out.append(struct.pack("<I", t) + enc_scalar(t, v))
    return b"".join(out)


def align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def header_bytes(meta, tensors):
    parts = [b"GGUF", struct.pack("<IQQ", 3, len(tensors), len(meta))]
    parts += [enc_kv(k, t, v) for k, t, v in meta]
    off = 0
    for t in tensors:
        ne = list(reversed(t.shape))  # ggml order: fastest dimension first
        parts.append(enc_str(t.name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne) +
                     struct.pack("<IQ", t.ggml_type, off))
        off = align(off + t.nbytes)
    h = b"".join(parts)
    return h + b"\0" * (align(len(h)) - len(h)), off


def q8_chunk(rng, nblocks, base_scale):
    """nblocks q8_0 blocks as [nblocks, 34] uint8: f16 scale ~ base_scale * U(0.75, 1.25), then 32
    int8 quants uniform in [-127, 127]."""
    n = nblocks * Q8_BLOCK_BYTES
    raw = rng.bit_generator.random_raw((n + 7) // 8).view(np.uint8)[:n]
    q = raw.view(np.int8)
    np.maximum(q, -127, out=q)  # -128 never comes out of a q8_0 quantizer
    blocks = raw.reshape(nblocks, Q8_BLOCK_BYTES)
    d = (base_scale * rng.uniform(0.75, 1.25, nblocks)).astype("<f2")
    blocks[:, :2] = d.view(np.uint8).reshape(nblocks, 2)
    return blocks


def q4k_chunk(rng, nblocks, std):
    """nblocks Q4_K super-blocks as [nblocks, 144] uint8: uniform random nibbles q in [0, 15], every
    sub-block scale and min 21 (scale bytes 0x55), d ~ std / (21 * NIB_STD) * U(0.75, 1.25) and
    dmin = 7.5 d, so a weight d*21*q - dmin*21 has mean 0 and std ~ std."""
    n = nblocks * Q4K_BLOCK_BYTES
    raw = rng.bit_generator.random_raw((n + 7) // 8).view(np.uint8)[:n]
    blocks = raw.reshape(nblocks, Q4K_BLOCK_BYTES)
    d = std / (Q4K_SC * NIB_STD) * rng.uniform(0.75, 1.25, nblocks)
    blocks[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(nblocks, 2)
    blocks[:, 2:4] = (7.5 * d).astype("<f2").view(np.uint8).reshape(nblocks, 2)
    blocks[:, 4:16] = 0x55
    return blocks


def mx_chunk(rng, nblocks):
    """nblocks MXFP4 blocks as [nblocks, 17] uint8: E8M0 exponent 119 or 120 (scale 2^-8 or 2^-7),
    then 16 bytes of uniform random e2m1 codes (each nibble equally likely: value std 2.93 in
    units of the scale, |value| <= 6). Weight std ~ 0.017, about 1/sqrt(2880)."""
    n = nblocks * MX_BLOCK_BYTES
    raw = rng.bit_generator.random_raw((n + 7) // 8).view(np.uint8)[:n]
    blocks = raw.reshape(nblocks, MX_BLOCK_BYTES)
    blocks[:, 0] = 119 + (blocks[:, 0] & 1)
    return blocks


def write_tensor(f, rng, t):
    if t.q4k:
        std = 1.0 if t.kind == "embd" else 1.0 / math.sqrt(t.shape[-1])
        total = t.numel // QK_K
        per = max(1, CHUNK_BYTES // Q4K_BLOCK_BYTES)
        done = 0
        while done < total:
            nb = min(per, total - done)
            f.write(q4k_chunk(rng, nb, std).tobytes())
            done += nb
    elif t.is_q8:
        row = t.shape[-1]
        std = 1.0 if t.kind == "embd" else 1.0 / math.sqrt(row)
        base = std / INT8_STD
        total = t.numel // QK
        per = max(1, CHUNK_BYTES // Q8_BLOCK_BYTES)
        done = 0
        while done < total:
            nb = min(per, total - done)
            f.write(q8_chunk(rng, nb, base).tobytes())
            done += nb
    elif t.kind == "mx":
        total = t.numel // QK
        per = max(1, CHUNK_BYTES // MX_BLOCK_BYTES)
        done = 0
        while done < total:
            nb = min(per, total - done)
            f.write(mx_chunk(rng, nb).tobytes())
            done += nb
    else:
        n = t.numel
        if t.kind == "norm":
            x = 1.0 + 0.05 * rng.standard_normal(n)
        elif t.kind == "router":
            x = rng.standard_normal(n) / math.sqrt(t.shape[-1])
        elif t.kind == "bias_pos":
            x = rng.uniform(0.0, 0.02, n)
        elif t.kind == "bias":
            x = 0.02 * rng.standard_normal(n)
        else:
            raise ValueError(t.kind)
        f.write(x.astype("<f4").tobytes())
    pad = align(t.nbytes) - t.nbytes
    if pad:
        f.write(b"\0" * pad)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("arch", choices=["deepseek2", "longcat_flash", "longcat_flash_ngram", "gpt-oss"])
    ap.add_argument("out")
    ap.add_argument("--experts", type=int, default=None, help="routed experts (default 64; gpt-oss 32)")
    ap.add_argument("--zero-experts", type=int, default=32, help="longcat_flash: zero experts (default 32)")
    ap.add_argument("--layers", type=int, default=None, help="layers (default: deepseek2 2, longcat_flash 1, gpt-oss 4)")
    ap.add_argument("--dense-layers", type=int, default=1, help="deepseek2: leading dense layers (default 1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--type", choices=["q8_0", "q4_k"], default="q8_0",
                    help="type of the matrices (q4_k: Q4_K where rows hold whole 256-value super-blocks, "
                         "q8_0 for the others; MXFP4 experts of gpt-oss stay MXFP4)")
    args = ap.parse_args()

    if args.experts is None:
        args.experts = GPT_OSS_20B["experts"] if args.arch == "gpt-oss" else 64
    if args.arch == "gpt-oss":
        d = GPT_OSS_20B
        L = args.layers if args.layers is not None else 4
        E = args.experts
        if L < 1 or E < d["topk"]:
            sys.exit("gpt-oss: need layers >= 1 and experts >= %d" % d["topk"])
        tensors = gpt_oss_tensors(d, L, E)
        meta = gpt_oss_meta(d, L, E) + tokenizer_meta(d["vocab"], "gpt-4o", GPT_OSS_SPECIALS, add_bos=False)
    elif args.arch == "deepseek2":
        d = DEEPSEEK_V3
        L = args.layers if args.layers is not None else 2
        E = args.experts
        if L < 1 or not 0 <= args.dense_layers <= L:
            sys.exit("need layers >= 1 and 0 <= dense-layers <= layers")
        if E <= d["topk"] or E % d["groups"] or E // d["groups"] * d["groups_used"] < d["topk"]:
            sys.exit("deepseek2: --experts must be a multiple of %d with 4 groups holding >= %d experts"
                     % (d["groups"], d["topk"]))
        tensors = deepseek2_tensors(d, L, args.dense_layers, E)
        meta = deepseek2_meta(d, L, args.dense_layers, E) + tokenizer_meta(d["vocab"], "deepseek-v3")
    else:
        lite = args.arch == "longcat_flash_ngram"
        d = LONGCAT_FLASH_LITE if lite else LONGCAT_FLASH
        L = args.layers if args.layers is not None else 1
        E, Z = args.experts, args.zero_experts
        if L < 1 or E < 1 or Z < 0 or E + Z < d["topk"]:
            sys.exit("%s: need layers >= 1, experts >= 1, experts + zero-experts >= %d" % (args.arch, d["topk"]))
        tensors = (longcat_ngram_tensors if lite else longcat_tensors)(d, L, E, Z)
        ft = FILE_TYPE_Q4_K_M if args.type == "q4_k" else FILE_TYPE_Q8_0
        meta = longcat_meta(d, L, E, Z, args.arch, ft) + tokenizer_meta(d["vocab"], "deepseek-v3")
    if args.type == "q4_k":
        for t in tensors:
            t.to_q4k()

    head, data_bytes = header_bytes(meta, tensors)
    total = len(head) + data_bytes
    print("make_shaped_gguf: %s, %d tensors, %.2f GB -> %s" % (args.arch, len(tensors), total / 1e9, args.out),
          file=sys.stderr)
    tmp = args.out + ".tmp"
    rng = np.random.default_rng(args.seed)
    written = 0
    with open(tmp, "wb") as f:
        f.write(head)
        for t in tensors:
            write_tensor(f, rng, t)
            written += align(t.nbytes)
            if t.nbytes > (256 << 20):
                print("  %-28s %8.1f MB  (%5.1f%%)" % (t.name, t.nbytes / 1e6, 100.0 * written / data_bytes),
                      file=sys.stderr)
    if os.path.getsize(tmp) != total:
        sys.exit("make_shaped_gguf: wrote %d bytes, expected %d" % (os.path.getsize(tmp), total))
    os.replace(tmp, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
