#!/usr/bin/env python3
"""Independent float64 reference forward pass of a LongcatFlashNgramForCausalLM (LongCat-Flash-Lite)
checkpoint folder.

    hf_longcat_flash_lite.py HF_DIR --tokens 1,2,3 [--greedy N]

Prints the same JSON as `moecat logprobs` / hf_longcat_flash.py: {"tokens": [...], "logprobs":
[[log p(v) for v in vocab] per position], "greedy": [N argmax continuation tokens]}. A summary
(dims, n-gram tables, collisions, EOS resets, rope, routing margins, zero-expert share) goes to
stderr. --mtp is refused: how Lite's MTP layer embeds its input token is not pinned down by any
implementation we could read (docs/longcat-flash-lite.md).

As a library: LiteModel(hf_dir).logprobs(tokens) -> [T, vocab]; ngram_ids(cfg, tokens) -> [T,
k (n-1)] table rows; forward_logprobs(hf_dir, tokens).

Everything after the input embedding is LongCat-Flash, taken from hf_longcat_flash.py by import
(decoder layers, MLA with LoRA scales, router with zero experts, YaRN incl. the softmax mscale^2).
What is new is the input embedding, transcribed from Meituan's remote code
`modeling_longcat_ngram.py` (HF repo meituan-longcat/LongCat-Flash-Lite, class NgramEmbedding;
vLLM vllm/model_executor/models/longcat_flash_ngram.py + csrc/libtorch_stable/
ngram_embedding_kernels.cu compute the same ids). With V = vocab_size, n = emb_neighbor_num,
k = emb_split_num, m = ngram_vocab_size_ratio * V, tables indexed idx = (g - 2) k + j for n-gram
order g = 2..n and split j = 0..k-1, M_idx = int(m + 2 idx + 1):

    prev_d(p) = tokens[p - d] if p - d >= seg_start(p) else 0    (d >= 1)
    seg_start(p) = 1 + position of the last eos_token_id strictly before p (0 if none)
    id_idx(p) = (tokens[p] + sum_{d=1}^{g-1} prev_d(p) * (V^d mod M_idx)) mod M_idx
    e(p) = (embed_tokens[tokens[p]]
            + sum_idx post_projs[idx] @ embedders[idx][id_idx(p)]) / (1 + k (n-1))

i.e. an EOS token still hashes with the tokens before it, and tokens after it do not look back
past it; before the sequence start the missing tokens count as id 0. embedders[idx] has
hidden // (k (n-1)) columns; post_projs[idx] is an nn.Linear to hidden without bias.

Self-test switches (env HF_FORWARD_BREAK; never set in a real check): no_ngram uses the plain
token embedding embed_tokens[t] (what a LongCat-Flash implementation computes); no_eos_reset
ignores EOS boundaries (mlx-lm's longcat_flash_ngram.py does this); zero_as_ffn and no_bias are
passed on to hf_longcat_flash.py. Each makes the output wrong on purpose.

Needs only python3 + numpy. Greedy decoding recomputes the whole sequence for each new token
(which is also what the n-gram cache of the HF code reproduces token by token).
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_common import (break_switch, cli_parser, failer, greedy_continuation, load_checkpoint,  # noqa: E402
                       parse_tokens, print_json)

_PASSED_ON = ("zero_as_ffn", "no_bias")
BREAK = break_switch("hf_longcat_flash_lite", "HF_FORWARD_BREAK", ("no_ngram", "no_eos_reset") + _PASSED_ON)
fail = failer("hf_longcat_flash_lite")

# hf_longcat_flash.py validates HF_FORWARD_BREAK at import; hide our own switches from it.
os.environ["HF_FORWARD_BREAK"] = BREAK if BREAK in _PASSED_ON else ""
try:
    import hf_longcat_flash as base  # noqa: E402
finally:
    os.environ["HF_FORWARD_BREAK"] = BREAK


def ngram_params(cfg):
    """(V, n, k, m, [M_idx], emb_dim, eos) with the validity checks the HF code relies on."""
    for key in ("emb_neighbor_num", "emb_split_num", "ngram_vocab_size_ratio"):
        if cfg.get(key) is None:
            fail("config has no %s (not a LongCat-Flash-Lite n-gram config)" % key)
    V, n, k = cfg["vocab_size"], cfg["emb_neighbor_num"], cfg["emb_split_num"]
    if not (isinstance(n, int) and isinstance(k, int) and n >= 2 and k >= 1):
        fail("emb_neighbor_num must be an integer >= 2 and emb_split_num >= 1")
    m = cfg["ngram_vocab_size_ratio"] * V
    mods = [int(m + 2 * i + 1) for i in range(k * (n - 1))]
    if mods[0] < 1:
        fail("ngram_vocab_size_ratio %r gives empty tables" % cfg["ngram_vocab_size_ratio"])
    emb_dim = cfg["hidden_size"] // (k * (n - 1))
    eos = cfg.get("eos_token_id")
    if not isinstance(eos, int):
        # the HF code compares input_ids == eos_token_id; a list would not work there either
        fail("eos_token_id %r is not one integer" % (eos,))
    return V, n, k, m, mods, emb_dim, eos


def ngram_ids(cfg, tokens, eos_reset=True):
    """[T, k (n-1)] int64 row of each position in each n-gram table (exact integer arithmetic)."""
    V, n, k, _, mods, _, eos = ngram_params(cfg)
    T = len(tokens)
    out = np.zeros((T, k * (n - 1)), dtype=np.int64)
    seg = 0  # seg_start(p)
    for p in range(T):
        if eos_reset and p > 0 and tokens[p - 1] == eos:
            seg = p
        prev = [tokens[p - d] if p - d >= seg else 0 for d in range(n)]  # prev[0] = the token itself
        for g in range(2, n + 1):
            for j in range(k):
                idx = (g - 2) * k + j
                M = mods[idx]
                out[p, idx] = sum(prev[d] * pow(V, d, M) for d in range(g)) % M
    return out


class LiteModel(base.Model):
    def __init__(self, hf_dir):
        cfg, W = load_checkpoint(hf_dir, base.fail)
        if cfg.get("architectures", ["LongcatFlashNgramForCausalLM"])[0] != "LongcatFlashNgramForCausalLM":
            fail("architectures %r is not LongcatFlashNgramForCausalLM" % cfg.get("architectures"))
        if cfg.get("model_type", "longcat_flash_ngram") != "longcat_flash_ngram":
            fail("model_type %r is not longcat_flash_ngram" % cfg.get("model_type"))
        if cfg.get("num_hidden_layers") not in (None, 2 * cfg["num_layers"]):
            fail("num_hidden_layers %r != 2 * num_layers %d" % (cfg["num_hidden_layers"], cfg["num_layers"]))
        # Everything else is checked exactly as for LongCat-Flash; the reference then runs on the
        # already-loaded tensors (base.Model.__init__ would reload them; setup() is the rest of it).
        base.check_config(dict(cfg, architectures=["LongcatFlashForCausalLM"], model_type="longcat_flash"), W)
        self.V, self.n, self.k, self.m, self.mods, self.emb_dim, self.eos = ngram_params(cfg)
        for i, M in enumerate(self.mods):
            e, p = W.get("model.ngram_embeddings.embedders.%d.weight" % i), \
                W.get("model.ngram_embeddings.post_projs.%d.weight" % i)
            if e is None or p is None:
                fail("n-gram table %d: embedders/post_projs tensor missing" % i)
            if e.shape != (M, self.emb_dim) or p.shape != (cfg["hidden_size"], self.emb_dim):
                fail("n-gram table %d: shapes %s / %s, expected (%d, %d) / (%d, %d)" % (
                    i, e.shape, p.shape, M, self.emb_dim, cfg["hidden_size"], self.emb_dim))
        self.setup(cfg, W)
        self.collisions = 0
        self.resets = 0

    def embed(self, tokens):
        """NgramEmbedding.forward: [T, hidden]."""
        W = self.W
        x = super().embed(tokens)  # the plain token table
        if BREAK == "no_ngram":
            return x
        ids = ngram_ids(self.cfg, tokens, eos_reset=BREAK != "no_eos_reset")
        self._count(tokens, ids)
        for i in range(len(self.mods)):
            rows = W["model.ngram_embeddings.embedders.%d.weight" % i][ids[:, i]]  # [T, emb_dim]
            x = x + rows @ W["model.ngram_embeddings.post_projs.%d.weight" % i].T
        return x / (1 + self.k * (self.n - 1))

    def _count(self, tokens, ids):
        """Statistics for the summary: hash collisions between distinct n-grams, EOS resets."""
        self.resets = sum(1 for t in tokens[:-1] if t == self.eos)
        coll = 0
        for g in range(2, self.n + 1):
            grams = {}
            for p in range(len(tokens)):
                seg = max([q + 1 for q in range(p) if tokens[q] == self.eos] + [0])
                key = tuple(tokens[p - d] if p - d >= seg else 0 for d in range(g))
                for j in range(self.k):
                    grams.setdefault(((g - 2) * self.k + j, int(ids[p, (g - 2) * self.k + j])), set()).add(key)
            coll += sum(len(s) - 1 for s in grams.values())
        self.collisions = coll


def forward_logprobs(hf_dir, tokens):
    return LiteModel(hf_dir).logprobs(list(tokens))


def main():
    ap = cli_parser(__doc__)
    ap.add_argument("--mtp", action="store_true", help="refused (see the module docstring)")
    args = ap.parse_args()
    if args.mtp:
        fail("--mtp: the LongCat-Flash-Lite MTP input embedding (n-gram or plain) is not pinned down; "
             "see docs/longcat-flash-lite.md")
    model = LiteModel(args.hf_dir)
    cfg = model.cfg
    tokens = parse_tokens(args, model.W, fail)

    logprobs = model.logprobs(tokens)
    margin, share = model.min_margin, model.zero_slots / max(1, model.slots)
    collisions, resets = model.collisions, model.resets
    out = {"tokens": tokens, "logprobs": logprobs.tolist(),
           "greedy": greedy_continuation(model.logprobs, tokens, logprobs[-1], args.greedy)}
    print("hf_longcat_flash_lite: %d layers x 2 sublayers, hidden %d, n-gram n=%d k=%d (%d tables of %d..%d rows "
          "x %d), %d routed + %d zero experts top-%d x %g, rope %s, softmax_scale %.6f, %d tokens + %d greedy; "
          "prompt: %d n-gram collisions, %d EOS resets, min routing margin %.3g, zero-expert share %.3f; "
          "all passes: min margin %.3g%s" % (
              cfg["num_layers"], cfg["hidden_size"], model.n, model.k, len(model.mods), model.mods[0],
              model.mods[-1], model.emb_dim, model.n_routed, model.n_zero, cfg["moe_topk"],
              cfg["routed_scaling_factor"], model.rope_desc, base.softmax_scale(cfg), len(tokens), args.greedy,
              collisions, resets, margin, share, model.min_margin,
              " (BROKEN on purpose: HF_FORWARD_BREAK=%s)" % BREAK if BREAK else ""), file=sys.stderr)
    print_json(out)


if __name__ == "__main__":
    main()
