#!/usr/bin/env python3
"""Trains moecat's default support model: a small LongCat-Flash-architecture model, on the CPU.

    train_support_model.py WORK_DIR [--steps N] [--threads T] [--export-only]

WORK_DIR holds everything: data (train.jsonl / heldout.jsonl from tools/support_data.py), the
tokenizer (tools/train_bpe.py), checkpoints (ckpt.pt, written every --save-every steps and at
the end: training resumes from it), and the exported HF folder WORK_DIR/hf (config.json,
model.safetensors in the real LongCat-Flash checkpoint names, tokenizer files) that
`moecat convert` turns into the shipped GGUF. Deterministic from --seed up to torch's CPU
kernels.

The model is exactly what tests/ref/hf_longcat_flash.py computes (its docstring is the spec):
per layer two MLA sublayers and two dense MLPs, the shortcut MoE fed by the first sublayer's
post-attention norm and added at the end, routed + zero ("identity") experts chosen by softmax
scores + e_score_correction_bias, weights = unbiased scores x routed_scaling_factor; the MTP
head (eh_proj over [enorm(main embedding of token i+1), hnorm(final hidden i)], one MLA + dense
MLP) predicts token i+2 and is trained with the model (loss weight --mtp-weight).

Expert-bias controller (LongCat-Flash's answer to load balance with zero experts): after every
step, each routed expert's bias moves by --bias-rate x (its target share of the routed slots -
its measured share), the target being (--target-ffn / top_k) / n_routed, so the experts share
the work evenly and the mean number of FFN experts per token tends to --target-ffn (the rest of
the top-k slots go to zero experts, which cost nothing). Zero experts' biases stay 0. The bias
is used for the choice only (never in a gradient), as in the model.

Loss: next-token cross entropy on the assistant's output only (reply text, tool calls, EOS),
the conversation rendered by tools/support_format.py. Needs Debian's python3-torch.
"""

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support_data import SYSTEM_PROMPTS, TOOLS  # noqa: E402
from longcat_test_model import make_config as longcat_config  # noqa: E402
from support_format import render  # noqa: E402
from testmodel_common import write_folder  # noqa: E402
from train_bpe import Encoder  # noqa: E402

DIMS = dict(hidden=192, layers=2, heads=4, q_lora=96, kv_lora=48, nope=32, rope=16, v=32, ffn=384,
            expert_ffn=96, experts=8, zero=4, top_k=3, scale=1.0)


def make_config(vocab, bos, eos, d=DIMS):
    """LongCat-Flash-Chat's config.json (tools/longcat_test_model.py writes it) at these sizes."""
    return longcat_config("f32", vocab, {"<|endoftext|>": bos, "<|im_end|>": eos}, True, d["zero"], None,
                          dims=d, max_pos=4096, rope_theta=10000.0, init_range=0.02)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def lin(i, o):
    return nn.Linear(i, o, bias=False)


class MLP(nn.Module):
    def __init__(self, h, f):
        super().__init__()
        self.gate_proj, self.up_proj, self.down_proj = lin(h, f), lin(h, f), lin(f, h)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


def rope_interleaved(x, cos, sin):  # x [B, T, heads, d]; cos/sin [T, d/2]
    a, b = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack([a * c - b * s, b * c + a * s], -1).flatten(-2)


class MLA(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, nh = c["hidden_size"], c["num_attention_heads"]
        self.nh, self.nope, self.rope, self.vd = nh, c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
        self.kvr = c["kv_lora_rank"]
        self.q_a_proj = lin(H, c["q_lora_rank"])
        self.q_a_layernorm = RMSNorm(c["q_lora_rank"], 1e-6)
        self.q_b_proj = lin(c["q_lora_rank"], nh * (self.nope + self.rope))
        self.kv_a_proj_with_mqa = lin(H, self.kvr + self.rope)
        self.kv_a_layernorm = RMSNorm(self.kvr, 1e-6)
        self.kv_b_proj = lin(self.kvr, nh * (self.nope + self.vd))
        self.o_proj = lin(nh * self.vd, H)
        self.q_scale = math.sqrt(H / c["q_lora_rank"])
        self.kv_scale = math.sqrt(H / self.kvr)
        self.sm_scale = (self.nope + self.rope) ** -0.5

    def forward(self, h, cos, sin, mask, past=None, cache=None):
        """h [B, T, H] at the positions of cos / sin [T, rope/2]; mask [T, P + T] over past's P
        positions (a shared prefix's keys and values [1, heads, P, d], seen by every row) and
        these. cache: a list the keys and values of these positions are appended to."""
        B, T, _ = h.shape
        q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(h))).view(B, T, self.nh, -1) * self.q_scale
        ckv = self.kv_a_proj_with_mqa(h)
        cl = self.kv_a_layernorm(ckv[..., :self.kvr]) * self.kv_scale
        k_rot = rope_interleaved(ckv[..., self.kvr:].view(B, T, 1, self.rope), cos, sin).expand(B, T, self.nh, self.rope)
        kv = self.kv_b_proj(cl).view(B, T, self.nh, self.nope + self.vd)
        k = torch.cat([kv[..., :self.nope], k_rot], -1)
        v = kv[..., self.nope:]
        q = torch.cat([q[..., :self.nope], rope_interleaved(q[..., self.nope:], cos, sin)], -1)
        # [B, heads, T, d] contiguous, so the products are plain batched GEMMs
        q, k, v = (t.permute(0, 2, 1, 3).contiguous() for t in (q, k, v))
        if cache is not None:
            cache.append((k, v))
        if past is not None:
            k = torch.cat([past[0].expand(B, -1, -1, -1), k], 2)
            v = torch.cat([past[1].expand(B, -1, -1, -1), v], 2)
        att = torch.matmul(q, k.transpose(-1, -2)) * self.sm_scale + mask
        out = torch.matmul(att.softmax(-1), v).permute(0, 2, 1, 3).reshape(B, T, -1)
        return self.o_proj(out)


class Router(nn.Module):
    def __init__(self, H, n):
        super().__init__()
        self.classifier = lin(H, n)
        self.register_buffer("e_score_correction_bias", torch.zeros(n))


class MoE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.E, self.Z, self.k = c["n_routed_experts"], c["zero_expert_num"], c["moe_topk"]
        self.scale = c["routed_scaling_factor"]
        self.router = Router(c["hidden_size"], self.E + self.Z)
        self.experts = nn.ModuleList(MLP(c["hidden_size"], c["expert_ffn_hidden_size"]) for _ in range(self.E))
        self.counts = torch.zeros(self.E + self.Z)  # slots per expert since the last controller step

    def forward(self, h, valid):
        shape = h.shape
        x = h.reshape(-1, shape[-1])
        scores = self.router.classifier(x).float().softmax(-1)  # [N, E + Z]
        idx = torch.topk(scores.detach() + self.router.e_score_correction_bias, self.k, -1).indices
        w = scores.gather(-1, idx) * self.scale  # unbiased scores, never renormalised
        with torch.no_grad():
            sel = idx[valid.reshape(-1)]
            self.counts += torch.bincount(sel.reshape(-1), minlength=self.E + self.Z).float()
        out = torch.zeros_like(x)
        for e in range(self.E + self.Z):
            tok, slot = (idx == e).nonzero(as_tuple=True)
            if tok.numel() == 0:
                continue
            y = self.experts[e](x[tok]) if e < self.E else x[tok]  # zero experts: weight * x
            out.index_add_(0, tok, y * w[tok, slot, None])
        return out.view(shape)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        eps, H = c["rms_norm_eps"], c["hidden_size"]
        self.input_layernorm = nn.ModuleList([RMSNorm(H, eps), RMSNorm(H, eps)])
        self.post_attention_layernorm = nn.ModuleList([RMSNorm(H, eps), RMSNorm(H, eps)])
        self.self_attn = nn.ModuleList([MLA(c), MLA(c)])
        self.mlps = nn.ModuleList([MLP(H, c["ffn_hidden_size"]), MLP(H, c["ffn_hidden_size"])])
        self.mlp = MoE(c)

    def forward(self, x, cos, sin, mask, valid, past=None, cache=None):
        """past / cache: the two attentions' shared-prefix keys and values (MLA.forward)."""
        x = x + self.self_attn[0](self.input_layernorm[0](x), cos, sin, mask, past and past[0], cache)
        h = self.post_attention_layernorm[0](x)
        shortcut = self.mlp(h, valid)
        x = x + self.mlps[0](h)
        x = x + self.self_attn[1](self.input_layernorm[1](x), cos, sin, mask, past and past[1], cache)
        return x + self.mlps[1](self.post_attention_layernorm[1](x)) + shortcut


class MTPLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        eps, H = c["rms_norm_eps"], c["hidden_size"]
        self.eh_proj = lin(2 * H, H)
        self.enorm = nn.ModuleDict({"m": RMSNorm(H, eps)})
        self.hnorm = nn.ModuleDict({"m": RMSNorm(H, eps)})
        self.input_layernorm = RMSNorm(H, eps)
        self.post_attention_layernorm = RMSNorm(H, eps)
        self.self_attn = MLA(c)
        self.transformer_layer = nn.ModuleDict({"mlp": MLP(H, c["ffn_hidden_size"])})

    def join(self, e, h):
        """The MTP layer's input from the embedding of token i+1 and the hidden state at i."""
        return self.eh_proj(torch.cat([self.enorm["m"](e), self.hnorm["m"](h)], -1))


class Inner(nn.Module):
    def __init__(self, c):
        super().__init__()
        H = c["hidden_size"]
        self.embed_tokens = nn.Embedding(c["vocab_size"], H)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_layers"]))
        self.norm = RMSNorm(H, c["rms_norm_eps"])
        self.mtp = nn.ModuleDict({"layers": nn.ModuleList([MTPLayer(c)]), "norm": RMSNorm(H, c["rms_norm_eps"]),
                                  "embed_tokens": nn.Embedding(c["vocab_size"], H)})


class LongcatFlash(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.model = Inner(c)
        self.lm_head = lin(c["hidden_size"], c["vocab_size"])
        half = c["qk_rope_head_dim"] // 2
        self.inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(half, dtype=torch.float64) * 2 / c["qk_rope_head_dim"]))
        for n, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02 if "embed" in n else 1.0 / math.sqrt(p.shape[1]))
                if n.endswith("down_proj.weight") or n.endswith("o_proj.weight"):
                    p.data *= 0.5 / math.sqrt(2 * c["num_layers"])

    def tables(self, T):
        ang = torch.arange(T, dtype=torch.float64)[:, None] * self.inv_freq[None, :]
        mask = torch.full((T, T), float("-inf")).triu(1)
        return ang.cos().float(), ang.sin().float(), mask

    def forward(self, ids, valid):
        """ids [B, T]; valid [B, T] (not padding). Returns the final hidden states h [B, T, H]
        (after model.norm) and the MTP layer's y [B, T-1, H] (before model.mtp.norm); logits are
        taken only where a loss needs them (lm_head(h), lm_head(mtp.norm(y)))."""
        B, T = ids.shape
        cos, sin, mask = self.tables(T)
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask, valid)
        h = self.model.norm(x)
        m = self.model.mtp["layers"][0]
        e = self.model.embed_tokens(ids[:, 1:])  # the MAIN embedding of token i+1
        y = m.join(e, h[:, :-1])
        c1, s1, mk1 = cos[:T - 1], sin[:T - 1], mask[:T - 1, :T - 1]
        y = y + m.self_attn(m.input_layernorm(y), c1, s1, mk1)
        y = y + m.transformer_layer["mlp"](m.post_attention_layernorm(y))
        return h, y

    def forward_shared(self, pre, ids, valid):
        """forward() of the rows [pre ids] (pre [1, P], P >= 2, shared by every row; ids [B, S])
        with the prefix computed once: the same function (and gradients) as forward() on the
        concatenation, at a fraction of the cost when the prefix is most of each row (the support
        conversations' tools block and system prompt are ~57 % of their tokens). Returns h
        [B, S, H], the final hidden states at positions P-1 .. P+S-2 (h[:, j] predicts ids[:, j]),
        and y [B, S, H], the MTP layer's at those positions (y[:, j] predicts ids[:, j + 1]; the
        last is unused)."""
        B, S = ids.shape
        P = pre.shape[1]
        T = P + S
        cos, sin, mask = self.tables(T)
        xp, xs = self.model.embed_tokens(pre), self.model.embed_tokens(ids)
        ones = torch.ones_like(pre, dtype=torch.bool)
        for layer in self.model.layers:
            cache = []
            xp = layer(xp, cos[:P], sin[:P], mask[:P, :P], ones, cache=cache)
            xs = layer(xs, cos[P:], sin[P:], mask[P:], valid, past=cache)
        hp, hs = self.model.norm(xp), self.model.norm(xs)
        h = torch.cat([hp[:, P - 1:].expand(B, -1, -1), hs[:, :-1]], 1)  # positions P-1 .. T-2
        m = self.model.mtp["layers"][0]
        # MTP position i pairs h[i] with the MAIN embedding of token i+1: positions 0 .. P-2
        # are the prefix's own, P-1 .. T-2 differ per row (token P is the row's first).
        yp = m.join(self.model.embed_tokens(pre[:, 1:]), hp[:, :-1])
        ys = m.join(self.model.embed_tokens(ids), h)
        cache = []
        yp = yp + m.self_attn(m.input_layernorm(yp), cos[:P - 1], sin[:P - 1], mask[:P - 1, :P - 1], cache=cache)
        ys = ys + m.self_attn(m.input_layernorm(ys), cos[P - 1:T - 1], sin[P - 1:T - 1], mask[P - 1:T - 1, :T - 1],
                              past=cache[0])
        ys = ys + m.transformer_layer["mlp"](m.post_attention_layernorm(ys))
        return h, ys


def controller_step(model, rate, target_ffn):
    """Moves each routed expert's bias toward its target share of the slots; returns the mean
    FFN experts per token over the counted slots."""
    ffn = []
    for layer in model.model.layers:
        moe = layer.mlp
        total = moe.counts.sum()
        if total == 0:
            continue
        share = moe.counts / total
        target = (target_ffn / moe.k) / moe.E
        b = moe.router.e_score_correction_bias
        b[:moe.E] += rate * (target - share[:moe.E]) / max(target, 1e-6)
        ffn.append(float(share[:moe.E].sum()) * moe.k)
        moe.counts.zero_()
    return sum(ffn) / max(1, len(ffn))


def load_data(path, enc, max_len):
    """[(ids, loss mask, P)] per conversation: the mask is 1 on the assistant's output tokens, 2 on
    the rest of the conversation after the tools block and system prompt (customer turns and tool
    results: --context-weight), 0 on those; P = the tokens of that tools block and system prompt
    (the prefix --share-prefix computes once for the conversations that share it)."""
    tok_len = {i: len(t) for t, i in enc.vocab.items()}  # byte-level BPE: one character per byte
    tok_len.update({i: len(t.encode("utf-8")) for t, i in enc.special.items()})  # e.g. the tools block's tags
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            text, spans = render(d["messages"], d["tools"], False)
            ids, mask = [], []
            pos = 0
            first_user = len(text[:max(0, text.find("[Round 0] USER:") - 1)].encode("utf-8"))
            for a, b in spans:  # text before the span (context), then the span (the output)
                for piece, on in ((text[pos:a], 2), (text[a:b], 1)):
                    t = enc.encode(piece)
                    if on == 2 and pos == 0:  # the shared prefix (tools, system prompt) gets no loss
                        off, m = 0, []
                        for i in t:
                            m.append(2 if off >= first_user else 0)
                            off += tok_len.get(i, 0)
                        mask += m
                    else:
                        mask += [on] * len(t)
                    ids += t
                pos = b
            t = enc.encode(text[pos:])
            ids += t
            mask += [0] * len(t)
            if len(ids) <= max_len:
                out.append((ids, mask, next((i for i, v in enumerate(mask) if v), 0)))
    return out


def copy_drills(n, vocab_ids, seed):
    """n synthetic sequences [noise][S][noise][S] of random tokens, the loss on the second S (mask 1):
    half their loss positions need the model to copy what it saw, which makes the copying circuit
    (induction heads) form early; in the support conversations only a few tokens per conversation
    (order ids, addresses, queries) need it, and a small model can go hundreds of steps without
    learning to copy them at all (it writes a plausible id instead)."""
    r = random.Random(seed)
    out = []
    for _ in range(n):
        s = [r.choice(vocab_ids) for _ in range(r.randint(4, 40))]
        a = [r.choice(vocab_ids) for _ in range(r.randint(0, 120))]
        b = [r.choice(vocab_ids) for _ in range(r.randint(0, 60))]
        out.append((a + s + b + s, [0] * (len(a) + len(s) + len(b)) + [1] * len(s), 0))
    return out


def shared_len(d, share):
    """The prefix of data item d that --share-prefix computes once per batch (0: none)."""
    return d[2] if share and d[2] >= 2 else 0


def batches(data, batch_tokens, rng, share=False):
    """Batches of item indices, at most batch_tokens tokens computed per batch (rows x the longest;
    with share, the items of a batch share their prefix, which counts once)."""
    groups = {}  # prefix ids -> items (without share: one group, the order as before)
    for i, d in enumerate(data):
        groups.setdefault(tuple(d[0][:shared_len(d, share)]), []).append(i)
    out = []
    for key, order in groups.items():
        P = len(key)
        rng.shuffle(order)
        # Similar lengths together (less padding): sort within chunks of 64 (with share, of 1024:
        # a batch then holds ~40 rows, whose suffixes vary more than whole conversations do).
        w = 1024 if share else 64
        for c in range(0, len(order), w):
            order[c:c + w] = sorted(order[c:c + w], key=lambda i: len(data[i][0]))
        cur, longest = [], 0
        for i in order:
            n = len(data[i][0]) - P
            if cur and P + max(longest, n) * (len(cur) + 1) > batch_tokens:
                out.append(cur)
                cur, longest = [], 0
            cur.append(i)
            longest = max(longest, n)
        if cur:
            out.append(cur)
    rng.shuffle(out)
    return out


def collate(data, idx, pad, P=0):
    """ids, mask [B, T] (padded with pad; from token P of each item on), valid [B, T]."""
    T = max(len(data[i][0]) for i in idx) - P
    ids = torch.full((len(idx), T), pad, dtype=torch.long)
    mask = torch.zeros((len(idx), T), dtype=torch.long)
    valid = torch.zeros((len(idx), T), dtype=torch.bool)
    for r, i in enumerate(idx):
        a, m = data[i][0][P:], data[i][1][P:]
        ids[r, :len(a)] = torch.tensor(a)
        mask[r, :len(m)] = torch.tensor(m, dtype=torch.long)
        valid[r, :len(a)] = True
    return ids, mask, valid


def batch_losses(model, data, idx, pad, share, context_weight):
    """(loss on the assistant's tokens, the loss trained on (with the context's), MTP loss, tokens
    computed) of one batch; with share (the items share their first P tokens), the prefix is
    computed once (LongcatFlash.forward_shared): the same losses."""
    P = shared_len(data[idx[0]], share)
    if P:
        pre = torch.tensor([data[idx[0]][0][:P]])
        ids, mask, valid = collate(data, idx, pad, P)
        h, y = model.forward_shared(pre, ids, valid)  # h[:, j] predicts ids[:, j], y[:, j] ids[:, j + 1]
        tgt, m1, y, tgt2, m2 = ids, mask, y[:, :-1], ids[:, 1:], mask[:, 1:]
        computed = P + int(valid.sum())
    else:
        ids, mask, valid = collate(data, idx, pad)
        h, y = model(ids, valid)
        h, tgt, m1, y, tgt2, m2 = h[:, :-1], ids[:, 1:], mask[:, 1:], y[:, :-1], ids[:, 2:], mask[:, 2:]
        computed = int(valid.sum())
    # Logits only where the loss is: the assistant's tokens (a sixth of the sequence).
    s1 = m1 == 1
    loss = F.cross_entropy(model.lm_head(h[s1]), tgt[s1])
    total = loss
    sc = m1 == 2
    if context_weight > 0 and bool(sc.any()):  # customer turns and tool results, lower weight
        total = total + context_weight * F.cross_entropy(model.lm_head(h[sc]), tgt[sc])
    s2 = m2 == 1
    lm = F.cross_entropy(model.lm_head(model.model.mtp["norm"](y[s2])), tgt2[s2])
    return loss, total, lm, computed


def export(model, cfg, tok, tok_cfg, out_dir):
    # moecat's extension of tokenizer_config.json: what `moecat run` chats with and the web page
    # starts from when the user gives no system prompt or tools (the shop's, as trained).
    tok_cfg = dict(tok_cfg, default_system_prompt=SYSTEM_PROMPTS["en"][0], default_tools=TOOLS)
    sd = {k: v for k, v in model.state_dict().items()}
    tensors = []
    for name, t in sd.items():
        arr = t.detach().float().numpy().astype(np.float32)
        tensors.append((name, tuple(arr.shape), "f32", (lambda a=arr: [a])))
    write_folder(out_dir, cfg, tok, tok_cfg, tensors, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-tokens", type=int, default=8192)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--mtp-weight", type=float, default=0.3)
    ap.add_argument("--target-ffn", type=float, default=2.0, help="mean FFN experts per token the bias aims at")
    ap.add_argument("--bias-rate", type=float, default=0.01)
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--max-len", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--warmup", type=int, default=100, help="steps of linear learning-rate warm-up")
    ap.add_argument("--context-weight", type=float, default=0.0,
                    help="loss weight of the conversation's other tokens (customer turns, tool results; "
                         "never the tools block or system prompt) beside the assistant's output (weight 1)")
    ap.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE",
                    help="override one of DIMS (e.g. kv_lora=64); a checkpoint keeps the dims it was made with")
    ap.add_argument("--tie-embeddings", action="store_true",
                    help="train with lm_head = embed_tokens: copying a token the customer wrote (an order id, "
                         "a street) then needs no per-token output mapping; the export writes both tensors")
    ap.add_argument("--copy-drills", type=float, default=0.0,
                    help="add this many synthetic copy sequences per conversation to the training set")
    ap.add_argument("--share-prefix", action="store_true",
                    help="batch the conversations that share their tools block and system prompt together and "
                         "compute that prefix once per batch (the same losses and gradients; ~2x the "
                         "conversations per second, and per batch of --batch-tokens computed tokens)")
    ap.add_argument("--init", help="start from these weights (tools/support_from_gguf.py's init.pt) "
                    "when WORK has no checkpoint, instead of a random initialisation")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    with open(os.path.join(a.work, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    with open(os.path.join(a.work, "tokenizer_config.json"), encoding="utf-8") as f:
        tok_cfg = json.load(f)
    enc = Encoder(tok)
    vocab = len(tok["model"]["vocab"]) + len(tok["added_tokens"])
    eos = enc.special[tok_cfg["eos_token"]]
    ckpt = os.path.join(a.work, "ckpt.pt")
    st = torch.load(ckpt) if os.path.exists(ckpt) else None
    dims = dict(DIMS, **{k: type(DIMS[k])(v) for k, v in (d.split("=", 1) for d in a.dim)})
    if st is not None:
        dims = st.get("dims", DIMS)
    cfg = make_config(vocab, enc.special[tok_cfg["bos_token"]], eos, dims)
    tie = st.get("tie", False) if st is not None else a.tie_embeddings
    model = LongcatFlash(cfg)
    if tie:  # one matrix in and out (exported as two equal tensors: the architecture is unchanged)
        model.lm_head.weight = model.model.embed_tokens.weight
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.01)
    step = 0
    rng = random.Random(a.seed)
    if st is not None:
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        rng.setstate(st["rng"])
        print("resumed at step %d" % step, file=sys.stderr)
    elif a.init:
        init = torch.load(a.init)
        own = model.state_dict()
        missing = [k for k in own if k not in init]
        unknown = [k for k in init if k not in own]
        bad = [k for k in init if k in own and tuple(init[k].shape) != tuple(own[k].shape)]
        if missing or unknown or bad:
            sys.exit("--init %s does not fit the model: missing %s, unknown %s, shape %s" % (
                a.init, missing[:5], unknown[:5], bad[:5]))
        model.load_state_dict(init)
        print("initialised from %s" % a.init, file=sys.stderr)
    if not a.export_only:
        data = load_data(os.path.join(a.work, "train.jsonl"), enc, a.max_len)
        print("train: %d conversations, %d tokens (%d of the assistant, %d of the context)" % (
            len(data), sum(len(d[0]) for d in data), sum(d[1].count(1) for d in data),
            sum(d[1].count(2) for d in data)), file=sys.stderr)
        if a.copy_drills > 0:
            specials = set(enc.special.values())
            data += copy_drills(int(a.copy_drills * len(data)), [i for i in range(vocab) if i not in specials], a.seed)
        plan = []
        t0, seen, done = time.time(), 0, 0  # tokens trained on; tokens computed (a shared prefix once)
        while step < a.steps:
            if not plan:
                plan = batches(data, a.batch_tokens, rng, a.share_prefix)
            idx = plan.pop()
            lr = a.lr * min(1.0, (step + 1) / max(1, a.warmup)) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / a.steps))))
            for g in opt.param_groups:
                g["lr"] = lr
            loss, total, lm, computed = batch_losses(model, data, idx, eos, a.share_prefix, a.context_weight)
            opt.zero_grad()
            (total + a.mtp_weight * lm).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            ffn = controller_step(model, a.bias_rate, a.target_ffn)
            step += 1
            seen += sum(len(data[i][0]) for i in idx)
            done += computed
            if step % 10 == 0:
                dt = time.time() - t0
                print("step %d loss %.4f mtp %.4f ffn/token %.2f lr %.2e %.0f tok/s (%.0f computed)" % (
                    step, loss.item(), lm.item(), ffn, lr, seen / dt, done / dt), file=sys.stderr, flush=True)
            if step % a.save_every == 0 or step == a.steps:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                            "rng": rng.getstate(), "dims": dims, "tie": tie}, ckpt + ".tmp")
                os.replace(ckpt + ".tmp", ckpt)
    export(model, cfg, tok, tok_cfg, os.path.join(a.work, "hf"))
    print("exported %s (step %d)" % (os.path.join(a.work, "hf"), step), file=sys.stderr)


if __name__ == "__main__":
    main()
