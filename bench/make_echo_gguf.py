#!/usr/bin/env python3
"""A model whose greedy continuation repeats its last token, made from a q8_0 GGUF of random
weights: the output matrix becomes a copy of the token embedding and every block's output
projections (attn_output, ffn_down*) are scaled by 1/64, so the last hidden state stays close
to the current token's embedding and its own row wins the logits. Same shapes, same bytes per
step, so the batch roofline is the source file's; only the text is predictable. For measuring
speculative decoding's mechanism at real layer sizes (MODEL=OUT.gguf SERVE_ARGS="--draft ngram" bench/serve_bench.sh), where a
random model's drafts are almost never accepted: a synthetic upper bound, not a real
acceptance rate.

    make_echo_gguf.py IN.gguf OUT.gguf
"""
import shutil
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from gguf_step_bytes import tensor_table  # noqa: E402

Q8_0 = 8


def main(src, dst):
    base, tensors, _ = tensor_table(src)
    info = {name: (off, dims, t) for off, name, dims, t in tensors}
    emb, out = info.get("token_embd.weight"), info.get("output.weight")
    if not emb or not out or emb[1] != out[1] or emb[2] != Q8_0 or out[2] != Q8_0:
        sys.exit("make_echo_gguf: needs q8_0 token_embd.weight and output.weight of one shape")
    shutil.copyfile(src, dst)
    mm = np.memmap(dst, dtype=np.uint8, mode="r+")
    block = np.dtype([("d", "<f2"), ("q", "i1", 32)])

    def q8_bytes(off, dims):  # a q8_0 tensor's bytes in the file
        return mm[base + off:base + off + 34 * int(np.prod(dims)) // 32]

    q8_bytes(out[0], out[1])[:] = q8_bytes(emb[0], emb[1])
    scaled = 0
    for name, (off, dims, t) in info.items():
        if t == Q8_0 and (name.endswith("attn_output.weight") or ".ffn_down" in name):
            b = q8_bytes(off, dims).view(block)
            b["d"] = (b["d"].astype(np.float32) / 64).astype(np.float16)
            scaled += 1
    mm.flush()
    print("make_echo_gguf: %s -> %s (output = token_embd, %d output projections / 64)" % (src, dst, scaled))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
