#!/usr/bin/env python3
"""Writes an FP8 checkpoint with Qwen3-30B-A3B's layer shapes for speed benchmarks (bench/fp8.sh):

    fp8_model.py SMALL_QWEN3MOE_DIR OUT_DIR [--layers N] [--seed S]

SMALL_QWEN3MOE_DIR is a folder from `tools/make_test_model.py qwen3moe` (its tokenizer and
vocabulary are reused). OUT_DIR gets hidden 2048, 32 heads / 4 KV heads of 128, 128 experts
(top 8) of 768, N layers (default 2), in the DeepSeek-V3 FP8 layout: every linear weight
(`*_proj.weight`) is F8_E4M3 + `*_scale_inv` f32 [ceil(out/128), ceil(in/128)]; embeddings,
norms, router and lm_head bf16. The codes are random (every finite e4m3 byte) and the scales
small, so the model produces finite but meaningless text: for timing only (the accuracy checks
live in tests/e2e/fp8_checkpoint.sh). Tensors are generated and written one at a time, so
memory stays small. Needs python3 + numpy.
"""

import argparse
import json
import os
import shutil
import struct

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("small_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    with open(os.path.join(args.small_dir, "config.json")) as f:
        cfg = json.load(f)
    H, NH, NKV, HD, E, K, F, L = 2048, 32, 4, 128, 128, 8, 768, args.layers
    V = cfg["vocab_size"]
    cfg.update({"hidden_size": H, "num_attention_heads": NH, "num_key_value_heads": NKV, "head_dim": HD,
                "num_experts": E, "num_experts_per_tok": K, "moe_intermediate_size": F,
                "intermediate_size": 6144, "num_hidden_layers": L, "max_window_layers": L,
                "torch_dtype": "bfloat16",
                "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                        "weight_block_size": [128, 128]}})
    os.makedirs(args.out_dir, exist_ok=True)
    for fn in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        if os.path.exists(os.path.join(args.small_dir, fn)):
            shutil.copy(os.path.join(args.small_dir, fn), os.path.join(args.out_dir, fn))
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)

    # (name, kind, shape): kind fp8 (+ its scale tensor) or bf16 (with a value scale).
    t = [("model.embed_tokens.weight", "bf16", (V, H), 1.0)]
    for i in range(L):
        p = "model.layers.%d." % i
        t += [(p + "input_layernorm.weight", "norm", (H,), 0), (p + "post_attention_layernorm.weight", "norm", (H,), 0),
              (p + "self_attn.q_norm.weight", "norm", (HD,), 0), (p + "self_attn.k_norm.weight", "norm", (HD,), 0),
              (p + "self_attn.q_proj.weight", "fp8", (NH * HD, H), 0), (p + "self_attn.k_proj.weight", "fp8", (NKV * HD, H), 0),
              (p + "self_attn.v_proj.weight", "fp8", (NKV * HD, H), 0), (p + "self_attn.o_proj.weight", "fp8", (H, NH * HD), 0),
              (p + "mlp.gate.weight", "bf16", (E, H), 0.05)]
        for e in range(E):
            q = p + "mlp.experts.%d." % e
            t += [(q + "gate_proj.weight", "fp8", (F, H), 0), (q + "up_proj.weight", "fp8", (F, H), 0),
                  (q + "down_proj.weight", "fp8", (H, F), 0)]
    t += [("model.norm.weight", "norm", (H,), 0), ("lm_head.weight", "bf16", (V, H), 0.05)]

    entries = []  # (name, st dtype, shape, generator kind)
    for name, kind, shape, sc in t:
        if kind == "fp8":
            entries.append((name, "F8_E4M3", shape, ("codes",)))
            entries.append((name + "_scale_inv", "F32", (-(-shape[0] // 128), -(-shape[1] // 128)), ("scale", shape[1])))
        elif kind == "norm":
            entries.append((name, "BF16", shape, ("ones",)))
        else:
            entries.append((name, "BF16", shape, ("normal", sc)))
    header, off = {}, 0
    for name, dt, shape, _ in entries:
        n = int(np.prod(shape)) * {"F8_E4M3": 1, "F32": 4, "BF16": 2}[dt]
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    rng = np.random.default_rng(args.seed)
    with open(os.path.join(args.out_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name, dt, shape, g in entries:
            n = int(np.prod(shape))
            if g[0] == "codes":  # every finite e4m3 byte: skip 0x7F and 0xFF (NaN)
                c = rng.integers(0, 254, n, dtype=np.uint8)
                c[c >= 0x7F] += 1
                f.write(c.tobytes())
            elif g[0] == "scale":  # |w| up to ~1/sqrt(in): e4m3 codes reach 448
                s = rng.uniform(0.5, 1.0, n) / (448.0 * np.sqrt(g[1]))
                f.write(s.astype("<f4").tobytes())
            else:
                a = np.ones(n, np.float32) if g[0] == "ones" else (rng.standard_normal(n) * g[1]).astype(np.float32)
                u = a.view(np.uint32).astype(np.uint64)
                f.write(((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes())
    print("wrote %s: %d layers, %.2f GB" % (args.out_dir, L, off / 1e9))


if __name__ == "__main__":
    main()
