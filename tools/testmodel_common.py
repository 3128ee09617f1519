"""Shared writing code of the random test-checkpoint writers (make_test_model.py,
longcat_test_model.py, longcat_lite_test_model.py): per-tensor seeding, float -> f32/f16/bf16
bytes, safetensors files split into shards (+ model.safetensors.index.json), and the JSON files
of a Hugging Face folder (config, generation_config, tokenizer, tokenizer_config).

Safetensors are written by hand: u64 little-endian header length, JSON header padded with spaces
to a multiple of 8, then the raw little-endian tensor data. Needs only python3 + numpy.
"""

import json
import os
import struct
import zlib

import numpy as np

TORCH_DTYPE = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}  # config.json torch_dtype
ST_DTYPE = {"f32": "F32", "f16": "F16", "bf16": "BF16"}  # safetensors header dtype
EL_SIZE = {"f32": 4, "f16": 2, "bf16": 2}


def tensor_rng(seed, name):
    """Each tensor draws from its own generator seeded by (seed, tensor name), so its values do
    not depend on --shards, --dtype or the order tensors are generated in."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def to_dtype_bytes(x, dtype):
    if dtype == "f32":
        return x.astype("<f4").tobytes()
    if dtype == "f16":
        return x.astype("<f2").tobytes()
    # bf16: round to nearest even on the top 16 bits of the float32 pattern (finite values only,
    # so the uint32 sum cannot overflow: 0xFF7FFFFF + 0x8000 < 2^32)
    u = np.ascontiguousarray(x, dtype="<f4").view("<u4")
    u = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    return u.astype("<u2").tobytes()


def shard_groups(sizes, n_shards):
    """Splits tensors (byte sizes, in checkpoint order) into min(n_shards, count) contiguous
    groups of roughly equal byte size: [[tensor index, ...] per shard]."""
    total = sum(sizes)
    n_shards = max(1, min(n_shards, len(sizes)))
    groups, cur, acc = [], [], 0
    for i, sz in enumerate(sizes):
        cur.append(i)
        acc += sz
        if len(groups) < n_shards - 1 and acc >= total * (len(groups) + 1) / n_shards:
            groups.append(cur)
            cur = []
    if cur:
        groups.append(cur)
    while len(groups) < n_shards:  # only when there are very few, huge tensors
        big = max(range(len(groups)), key=lambda i: len(groups[i]))
        half = len(groups[big]) // 2
        groups[big:big + 1] = [groups[big][:half], groups[big][half:]]
    return groups


def write_safetensors(out_dir, tensors, n_shards):
    """tensors: [(name, shape, dtype, values)] in checkpoint order; dtype f32/f16/bf16; values()
    yields the float values as consecutive row blocks (so a big tensor never sits in memory
    whole). Writes model.safetensors, or model-0000i-of-0000n.safetensors + the index."""
    sizes = [int(np.prod(shape)) * EL_SIZE[dtype] for _, shape, dtype, _ in tensors]
    groups = shard_groups(sizes, n_shards)
    n = len(groups)
    weight_map = {}
    for gi, group in enumerate(groups):
        fname = "model.safetensors" if n == 1 else "model-%05d-of-%05d.safetensors" % (gi + 1, n)
        header = {"__metadata__": {"format": "pt"}}
        off = 0
        for i in group:
            name, shape, dtype, _ = tensors[i]
            header[name] = {"dtype": ST_DTYPE[dtype], "shape": list(shape), "data_offsets": [off, off + sizes[i]]}
            off += sizes[i]
            weight_map[name] = fname
        hjson = json.dumps(header, separators=(",", ":")).encode()
        hjson += b" " * ((8 - len(hjson) % 8) % 8)
        with open(os.path.join(out_dir, fname), "wb") as f:
            f.write(struct.pack("<Q", len(hjson)))
            f.write(hjson)
            for i in group:
                name, _, dtype, values = tensors[i]
                written = 0
                for chunk in values():
                    data = to_dtype_bytes(chunk, dtype)
                    f.write(data)
                    written += len(data)
                assert written == sizes[i], name
    if n > 1:
        index = {"metadata": {"total_size": sum(sizes)}, "weight_map": dict(sorted(weight_map.items()))}
        write_json(os.path.join(out_dir, "model.safetensors.index.json"), index)


def write_json(path, obj, final_newline=True):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        if final_newline:
            f.write("\n")


def write_folder(out_dir, cfg, tok, tok_cfg, tensors, n_shards, tokenizer_newline=True):
    """The whole HF folder: config.json, generation_config.json, tokenizer.json,
    tokenizer_config.json and the safetensors (see write_safetensors for tensors).
    tokenizer_newline False: the tokenizer files end without a newline (what make_test_model.py
    has always written; kept so its output stays byte-identical)."""
    os.makedirs(out_dir, exist_ok=True)
    # Stale shards from an earlier run with another --shards would confuse a loader.
    for f in os.listdir(out_dir):
        if f.endswith(".safetensors") or f == "model.safetensors.index.json":
            os.remove(os.path.join(out_dir, f))
    gen = {"_from_model_config": True, "bos_token_id": cfg["bos_token_id"],
           "eos_token_id": cfg["eos_token_id"], "transformers_version": cfg["transformers_version"]}
    write_json(os.path.join(out_dir, "config.json"), cfg)
    write_json(os.path.join(out_dir, "generation_config.json"), gen)
    write_json(os.path.join(out_dir, "tokenizer.json"), tok, tokenizer_newline)
    write_json(os.path.join(out_dir, "tokenizer_config.json"), tok_cfg, tokenizer_newline)
    write_safetensors(out_dir, tensors, n_shards)
