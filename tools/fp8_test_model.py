#!/usr/bin/env python3
"""Rewrites a Hugging Face test folder (tools/make_test_model.py, tools/longcat_test_model.py) as
an FP8 checkpoint in the layout of DeepSeek-V3 / R1 and LongCat-Flash-FP8:

    fp8_test_model.py IN_DIR OUT_DIR [--block R C] [--ignore SUBSTR ...] [--ignore-key KEY] [--fp8-embed]
                      [--break KIND]

Every 2-D `*.weight` of a linear layer (names ending in `_proj.weight`, the experts included;
not embeddings (unless --fp8-embed: rows looked up through the block scales), norms, routers or
lm_head) becomes an F8_E4M3 tensor plus `NAME_scale_inv`, a
float32 [ceil(rows/R), ceil(cols/C)] tensor, such that weight = e4m3 value * scale_inv of its
R x C block (DeepSeek-V3 inference/kernel.py weight_dequant; partial blocks at the edges). The
scale of a block is max|w| / 448 (so its largest value uses e4m3's largest finite 448), the
codes are w / scale rounded to the nearest e4m3 value (ties to the even code). Tensors whose
name contains an --ignore substring, and all non-linear tensors, are written as bf16 (as the
real checkpoints' ignored layers, embeddings and norms), except the ones that precision-critical
loaders keep in f32 anyway (e_score_correction_bias stays f32 as in the real checkpoints).
config.json gets quantization_config {activation_scheme dynamic, fmt e4m3, quant_method fp8,
weight_block_size [R, C]} (+ the ignored modules when --ignore is given, under --ignore-key:
ignored_layers as DeepSeek / LongCat write it, or transformers' modules_to_not_convert).

--break makes a malformed folder for the error tests: missing-scale (the first FP8 tensor's
scale is left out), scale-shape (one row too many), scale-nan, scale-inf, scale-neg (one entry),
weight-nan (one 0x7F byte), fmt (fmt e5m2), block (weight_block_size [128]), method
(quant_method fbgemm_fp8), ignored-fp8 / ignored-noscale (the first ignored linear is listed but
written as FP8, with / without its scale). It prints the tensor it broke.

Needs python3 + numpy only.
"""

import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from hf_common import FP8_E4M3_VALUES, load_checkpoint  # noqa: E402


def fp8_encode(x):
    """Nearest e4m3 code of each float64 value in x (|x| <= 448 expected; clipped), ties to the
    even code, sign kept (also for 0)."""
    pos = FP8_E4M3_VALUES[:127]  # codes 0..126: 0 .. 448, increasing
    a = np.minimum(np.abs(x), 448.0)
    hi = np.clip(np.searchsorted(pos, a, side="left"), 0, 126)
    lo = np.maximum(hi - 1, 0)
    dhi, dlo = np.abs(pos[hi] - a), np.abs(a - pos[lo])
    code = np.where((dlo < dhi) | ((dlo == dhi) & (lo % 2 == 0)), lo, hi).astype(np.uint8)
    return code | (np.signbit(x).astype(np.uint8) << 7)


def quantize(w, br, bc):
    rows, cols = w.shape
    nr, nc = -(-rows // br), -(-cols // bc)
    scale = np.zeros((nr, nc), np.float32)
    codes = np.zeros((rows, cols), np.uint8)
    for i in range(nr):
        for j in range(nc):
            blk = w[i * br:(i + 1) * br, j * bc:(j + 1) * bc]
            s = np.float32(np.abs(blk).max() / 448.0)
            if s == 0:
                s = np.float32(1.0)
            scale[i, j] = s
            codes[i * br:(i + 1) * br, j * bc:(j + 1) * bc] = fp8_encode(blk / np.float64(s))
    return codes, scale


def bf16_bytes(a):
    """float64 -> bf16 (round to nearest even) bytes."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return u.tobytes()


def write_safetensors(path, tensors):
    """tensors: [(name, st_dtype, shape, bytes)] -> one safetensors file."""
    header, off = {}, 0
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, _, raw in tensors:
            f.write(raw)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("in_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--block", type=int, nargs=2, default=[128, 128], metavar=("R", "C"))
    ap.add_argument("--ignore", action="append", default=[], metavar="SUBSTR")
    ap.add_argument("--ignore-key", default="ignored_layers", choices=["ignored_layers", "modules_to_not_convert"])
    ap.add_argument("--fp8-embed", action="store_true", help="the token embedding FP8 too (not in released files)")
    ap.add_argument("--break", dest="brk", default=None,
                    choices=["missing-scale", "scale-shape", "scale-nan", "scale-inf", "scale-neg", "weight-nan",
                             "fmt", "block", "method", "ignored-fp8", "ignored-noscale"])
    args = ap.parse_args()
    br, bc = args.block

    def fail(msg):
        raise SystemExit("fp8_test_model: " + msg)

    cfg, W = load_checkpoint(args.in_dir, fail)
    with open(os.path.join(args.in_dir, "config.json")) as f:
        cfg = json.load(f)  # key order as written
    os.makedirs(args.out_dir, exist_ok=True)
    for fn in os.listdir(args.in_dir):
        if fn.endswith(".safetensors") or fn == "model.safetensors.index.json" or fn == "config.json":
            continue
        src = os.path.join(args.in_dir, fn)
        if os.path.isfile(src):
            shutil.copy(src, os.path.join(args.out_dir, fn))

    out, broken, n_fp8 = [], None, 0
    for name in W:  # file order
        a = W[name]
        linear = a.ndim == 2 and (name.endswith("_proj.weight") or (args.fp8_embed and name.endswith("embed_tokens.weight")))
        ignored = any(s in name for s in args.ignore)
        listed_fp8 = (linear and ignored and broken is None and args.brk in ("ignored-fp8", "ignored-noscale"))
        if listed_fp8:
            codes, scale = quantize(a, br, bc)
            broken = name
            out.append((name, "F8_E4M3", a.shape, codes.tobytes()))
            if args.brk == "ignored-fp8":
                out.append((name + "_scale_inv", "F32", scale.shape, np.ascontiguousarray(scale, "<f4").tobytes()))
        elif linear and not ignored:
            codes, scale = quantize(a, br, bc)
            n_fp8 += 1
            if args.brk and broken is None and args.brk in ("missing-scale", "scale-shape", "scale-nan",
                                                            "scale-inf", "scale-neg", "weight-nan"):
                broken = name
                if args.brk == "scale-shape":
                    scale = np.concatenate([scale, scale[-1:]], axis=0)
                elif args.brk == "scale-nan":
                    scale[-1, -1] = np.nan
                elif args.brk == "scale-inf":
                    scale[0, 0] = np.inf
                elif args.brk == "scale-neg":
                    scale[0, -1] = -scale[0, -1]
                elif args.brk == "weight-nan":
                    codes[-1, -1] = 0x7F
            out.append((name, "F8_E4M3", a.shape, codes.tobytes()))
            if args.brk != "missing-scale" or broken != name:
                out.append((name + "_scale_inv", "F32", scale.shape, np.ascontiguousarray(scale, "<f4").tobytes()))
        elif name.endswith("e_score_correction_bias") or a.dtype == np.uint8:
            out.append((name, "F32", a.shape, np.ascontiguousarray(a, "<f4").tobytes()))
        else:
            out.append((name, "BF16", a.shape, bf16_bytes(a)))
    write_safetensors(os.path.join(args.out_dir, "model.safetensors"), out)

    q = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [br, bc]}
    if args.ignore:
        q[args.ignore_key] = [n[:-len(".weight")] for n in W if any(s in n for s in args.ignore)]
    if args.brk == "fmt":
        q["fmt"] = "e5m2"
    elif args.brk == "block":
        q["weight_block_size"] = [128]
    elif args.brk == "method":
        q["quant_method"] = "fbgemm_fp8"
    cfg["quantization_config"] = q
    cfg["torch_dtype"] = "bfloat16"
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    print("wrote %s: %d FP8 matrices in %dx%d blocks%s" % (
        args.out_dir, n_fp8, br, bc, ", broke %s (%s)" % (broken, args.brk) if broken else
        (", %s" % args.brk if args.brk else "")), file=sys.stderr)
    if broken:
        print(broken)


if __name__ == "__main__":
    main()
