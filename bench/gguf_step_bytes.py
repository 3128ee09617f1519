#!/usr/bin/env python3
"""Bytes of a GGUF's tensors that one batched decode step reads if every weight is read once:
all tensor data except the token embedding table (a step reads only its rows). Tensor sizes are
taken from the gaps between sorted data offsets (alignment padding included: at most 31 bytes
per tensor). Used by bench/serve_bench.sh for the batch roofline (issue #11: all weights read
once per step / read bandwidth measured in the same run). Needs python3 only; the header
is read with tools/longcat_community_gguf.py's Reader.

    gguf_step_bytes.py FILE.gguf   -> prints "<step bytes> <total tensor bytes>"
"""
import mmap
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from longcat_community_gguf import Reader  # noqa: E402  (the repository's GGUF header reader)


def tensor_table(path):
    """(data base offset, [(offset, name, dims, ggml type)] sorted by offset, file size)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        r = Reader(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
    if r.d[:4] != b"GGUF":
        sys.exit("%s: not a GGUF file" % path)
    r.o = 4
    version, n_t, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    if version not in (2, 3):
        sys.exit("%s: GGUF version %d" % (path, version))
    align = 32
    for _ in range(n_kv):
        key, t = r.string(), r.take("<I")
        v = r.value(t)
        if key == "general.alignment":
            align = v
    tensors = []
    for _ in range(n_t):
        name = r.string()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]
        t = r.take("<I")
        tensors.append((r.take("<Q"), name, dims, t))
    base = (r.o + align - 1) // align * align
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
