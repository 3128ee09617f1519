#!/usr/bin/env python3
"""Bytes of a GGUF's tensors that one batched decode step reads if every weight is read once:
all tensor data except the token embedding table (a step reads only its rows). Tensor sizes are
taken from the gaps between sorted data offsets (alignment padding included: at most 31 bytes
per tensor). Used by bench/serve_bench.sh for the batch roofline (issue #11: all weights read
once per step / read bandwidth measured in the same run). Needs python3 only.

    gguf_step_bytes.py FILE.gguf   -> prints "<step bytes> <total tensor bytes>"
"""
import mmap
import os
import struct
import sys

SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def tensor_table(path):
    """(data base offset, [(offset, name, dims, ggml type)] sorted by offset, file size)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        d = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    o = 0

    def take(fmt):
        nonlocal o
        v = struct.unpack_from(fmt, d, o)[0]
        o += struct.calcsize(fmt)
        return v

    def skip_value(t):
        nonlocal o
        if t == 8:  # string
            n = take("<Q")
            o += n
        elif t == 9:  # array
            et, n = take("<I"), take("<Q")
            if et in SCALAR:
                o += SCALAR[et] * n
            else:
                for _ in range(n):
                    skip_value(et)
        else:
            o += SCALAR[t]

    if d[:4] != b"GGUF":
        sys.exit("%s: not a GGUF file" % path)
    o = 4
    version, n_t, n_kv = take("<I"), take("<Q"), take("<Q")
    if version not in (2, 3):
        sys.exit("%s: GGUF version %d" % (path, version))
    align = 32
    for _ in range(n_kv):
        n = take("<Q")
        key = bytes(d[o:o + n]).decode("utf-8")
        o += n
        t = take("<I")
        if key == "general.alignment" and t == 4:
            align = take("<I")
        else:
            skip_value(t)
    tensors = []
    for _ in range(n_t):
        n = take("<Q")
        name = bytes(d[o:o + n]).decode("utf-8")
        o += n
        nd = take("<I")
        dims = [take("<Q") for _ in range(nd)]
        t = take("<I")
        tensors.append((take("<Q"), name, dims, t))
    base = (o + align - 1) // align * align
    tensors.sort()
    return base, tensors, size


def main(path):
    base, tensors, size = tensor_table(path)
    total = step = 0
    for i, (off, name, _, _) in enumerate(tensors):
        end = tensors[i + 1][0] if i + 1 < len(tensors) else size - base
        total += end - off
        if name != "token_embd.weight":
            step += end - off
    print(step, total)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
