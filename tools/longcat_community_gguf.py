#!/usr/bin/env python3
"""Rewrites a LongCat GGUF in moecat's own layout (`moecat convert`, arch longcat_flash or
longcat_flash_ngram; docs/longcat-flash.md) into the layout a community writer produces for
the same weights, so tests can check that moecat reads both to identical log-probs:

    longcat_community_gguf.py IN.gguf OUT.gguf [--no-dummy] [--set-u32 KEY=V] [--drop-key KEY]
                              [--drop-tensor NAME]

  longcat_flash       -> arch `longcat-flash`, as llama.cpp's LongCat-Flash pull request writes
                         it (github.com/ngxson/llama.cpp branch xsn/longcat_flash, commit b29c49fc3:
                         conversion/deepseek.py LongcatFlashModel): layer L's sublayer i in block
                         blk.{2L+i} (attn_*, attn_k_b / attn_v_b, attn_norm, ffn_norm, ffn_gate/up/
                         down); router, exp_probs_b.bias and experts in blk.{2L}, the experts with
                         one all-zero dummy expert appended; the MTP layer as block blk.{2N}
                         (nextn.eh_proj / enorm / hnorm / shared_head_norm, attn_*, ffn_*);
                         keys n_zero_experts, attention.q_lora_scale / kv_lora_scale,
                         block_count 2N+1, nextn_predict_layers 1.
  longcat_flash_ngram -> arch `longcat-flash-ngram`, as the llama.cpp fork for LongCat-Flash-Lite
                         writes it (github.com/erm14254/llama.cpp-longcat-flash, first commit
                         ded1f26af): the same blocks without the dummy expert, mlps.0 as
                         blk.{2L}.ffn_{gate,up,down}_shexp, n-gram tables ngram_embd.N /
                         ngram_proj.N, keys expert_zero_count, expert_shared_count 1,
                         ngram.neighbor_num / split_num / vocab_size_ratio (u32), no MLA scale keys
                         (the fork always applies sqrt(hidden / rank)), block_count 2N.

Hostile variants for the tests: --no-dummy (experts without the dummy), --set-u32 KEY=V (a u32
key, arch prefix added, e.g. n_zero_experts=3), --drop-key KEY, --drop-tensor NAME.
Byte-level: tensors are copied unchanged (any ggml type whose zero bytes are zeros: f32, f16,
bf16, q8_0). Needs python3 only (numpy not used).
"""

import argparse
import re
import struct
import sys

# GGUF value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<B",
          U64: "<Q", I64: "<q", F64: "<d"}
# ggml type -> (block elements, block bytes)
GGML = {0: (1, 4), 1: (1, 2), 30: (1, 2), 8: (32, 34)}


class Reader:
    def __init__(self, data):
        self.d, self.o = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.o)[0]
        self.o += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.d[self.o:self.o + n].decode("utf-8")
        self.o += n
        return s

    def value(self, t):
        if t == STR:
            return self.string()
        if t == ARR:
            et, n = self.take("<I"), self.take("<Q")
            return (et, [self.value(et) for _ in range(n)])
        return self.take(SCALAR[t])


def enc_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def enc_value(t, v):
    if t == STR:
        return enc_str(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(enc_value(et, x) for x in items)
    return struct.pack(SCALAR[t], v)


def read_gguf(path):
    data = open(path, "rb").read()
    r = Reader(data)
    assert r.d[:4] == b"GGUF", "not a GGUF file"
    r.o = 4
    version, n_t, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    assert version == 3
    kv = []
    for _ in range(n_kv):
        k = r.string()
        t = r.take("<I")
        kv.append([k, t, r.value(t)])
    tensors = []
    for _ in range(n_t):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        t, off = r.take("<I"), r.take("<Q")
        tensors.append([name, ne, t, off])
    align = next((v for k, t, v in kv if k == "general.alignment"), 32)
    base = (r.o + align - 1) // align * align
    out = {}
    for name, ne, t, off in tensors:
        if t not in GGML:
            sys.exit("tensor %s has ggml type %d; this tool copies f32/f16/bf16/q8_0 only" % (name, t))
        be, bb = GGML[t]
        nbytes = ne[0] // be * bb
        for d in ne[1:]:
            nbytes *= d
        out[name] = (ne, t, data[base + off:base + off + nbytes])
    return kv, [n for n, *_ in tensors], out, align


def write_gguf(path, kv, tensors, align):
    """tensors: list of (name, ne, ggml_type, bytes)."""
    head = [b"GGUF", struct.pack("<IQQ", 3, len(tensors), len(kv))]
    for k, t, v in kv:
        head.append(enc_str(k) + struct.pack("<I", t) + enc_value(t, v))
    off = 0
    offs = []
    for name, ne, t, b in tensors:
        head.append(enc_str(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne) +
                    struct.pack("<IQ", t, off))
        offs.append(off)
        off = (off + len(b) + align - 1) // align * align
    h = b"".join(head)
    with open(path, "wb") as f:
        f.write(h + b"\0" * ((-len(h)) % align))
        pos = 0
        for (name, ne, t, b), o in zip(tensors, offs):
            f.write(b"\0" * (o - pos))
            f.write(b)
            pos = o + len(b)
        f.write(b"\0" * ((-pos) % align))


MTP = {"enorm": "nextn.enorm", "hnorm": "nextn.hnorm", "eh_proj": "nextn.eh_proj",
       "output_norm": "nextn.shared_head_norm"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--no-dummy", action="store_true")
    ap.add_argument("--set-u32", action="append", default=[])
    ap.add_argument("--drop-key", action="append", default=[])
    ap.add_argument("--drop-tensor", action="append", default=[])
    args = ap.parse_args()

    kv, order, tensors, align = read_gguf(args.inp)
    meta = {k: v for k, t, v in kv}
    arch = meta["general.architecture"]
    if arch not in ("longcat_flash", "longcat_flash_ngram"):
        sys.exit("%s: architecture %r is not moecat's LongCat layout" % (args.inp, arch))
    ngram = arch == "longcat_flash_ngram"
    new = "longcat-flash-ngram" if ngram else "longcat-flash"
    a = arch + "."
    n_layer = meta[a + "block_count"]
    has_mtp = not ngram and "mtp.eh_proj.weight" in tensors

    out_kv = []
    for k, t, v in kv:
        if k == "general.architecture":
            out_kv.append([k, STR, new])
            continue
        if not k.startswith(a):
            out_kv.append([k, t, v])
            continue
        s = k[len(a):]
        if s in ("attention.latent_norm_rms_epsilon", "nextn_predict_layers") or s.startswith("ngram."):
            continue
        if s in ("attention.mla_scale_q_lora", "attention.mla_scale_kv_lora"):
            if not ngram:
                out_kv.append([new + ".attention." + ("q" if "_q_" in s else "kv") + "_lora_scale", t, v])
            continue
        if s == "expert_zero_count" and not ngram:
            s = "n_zero_experts"
        if s == "block_count":
            v = 2 * n_layer + (0 if ngram else 1)
        out_kv.append([new + "." + s, t, v])
    kv_lora = meta[a + "attention.kv_lora_rank"]
    rope = meta[a + "rope.dimension_count"]
    out_kv += [[new + ".attention.key_length", U32, kv_lora + rope], [new + ".attention.value_length", U32, kv_lora],
               [new + ".leading_dense_block_count", U32, 0], [new + ".expert_shared_count", U32, 1 if ngram else 0]]
    if not ngram:
        out_kv.append([new + ".nextn_predict_layers", U32, 1])  # the PR's converter always declares one
    else:
        mb, hb = meta[a + "ngram.modulus_base"], meta[a + "ngram.hash_base"]
        assert mb % hb == 0, "ngram modulus %d is not an integer multiple of the vocabulary %d" % (mb, hb)
        out_kv += [[new + ".ngram.neighbor_num", U32, meta[a + "ngram.neighbor_num"]],
                   [new + ".ngram.split_num", U32, meta[a + "ngram.split_num"]],
                   [new + ".ngram.vocab_size_ratio", U32, mb // hb]]
        # The fork resets the n-gram look-back at EOS.
        reset = meta[a + "ngram.reset_token_id"]
        for e in out_kv:
            if e[0] == "tokenizer.ggml.eos_token_id" and e[2] != reset:
                print("note: tokenizer.ggml.eos_token_id %d -> %d (the n-gram reset token)" % (e[2], reset))
                e[2] = reset
    for s in args.set_u32:
        k, v = s.split("=")
        out_kv = [e for e in out_kv if e[0] != new + "." + k] + [[new + "." + k, U32, int(v)]]
    out_kv = [e for e in out_kv if e[0] not in {new + "." + k for k in args.drop_key}]

    out = []
    for name in order:
        ne, t, b = tensors[name]
        m = re.match(r"blk\.(\d+)\.(\w+)\.([01])\.weight$", name)
        if m:
            L, base, i = int(m.group(1)), m.group(2), int(m.group(3))
            if ngram and i == 0 and base in ("ffn_gate", "ffn_up", "ffn_down"):
                base += "_shexp"
            name = "blk.%d.%s.weight" % (2 * L + i, base)
        elif (m := re.match(r"blk\.(\d+)\.(ffn_gate_inp\.weight|exp_probs_b\.bias|ffn_\w+_exps\.weight)$", name)):
            name = "blk.%d.%s" % (2 * int(m.group(1)), m.group(2))
            if not ngram and name.endswith("_exps.weight") and not args.no_dummy:
                per = len(b) // ne[-1]
                ne = ne[:-1] + [ne[-1] + 1]
                b = b + b"\0" * per  # the all-zero dummy expert, last
        elif name.startswith("mtp."):
            if not has_mtp:
                continue
            stem = name[len("mtp."):-len(".weight")]
            name = "blk.%d.%s.weight" % (2 * n_layer, MTP.get(stem, stem))
        elif (m := re.match(r"token_embd_ngram\.(\d+)\.weight$", name)):
            name = "ngram_embd.%s.weight" % m.group(1)
        elif not (name in ("token_embd.weight", "output_norm.weight", "output.weight") or name.startswith("ngram_proj.")):
            sys.exit("unexpected tensor %s" % name)
        if name in args.drop_tensor:
            continue
        out.append((name, ne, t, b))
    write_gguf(args.out, out_kv, out, align)
    print("%s: %s layout, %d tensors, %d keys" % (args.out, new, len(out), len(out_kv)))


if __name__ == "__main__":
    main()
