#!/usr/bin/env python3
"""Writes a small random LongcatFlashNgramForCausalLM (LongCat-Flash-Lite) checkpoint folder in the
REAL checkpoint layout.

    longcat_lite_test_model.py OUT_DIR [--seed S] [--dtype f32|f16|bf16] [--shards N] [--no-mtp]
                               [--zero-experts Z] [--rope-scaling yarn|none]

As a module: write_longcat_lite(out_dir, seed=None, dtype="f32", shards=1, with_mtp=True,
zero_experts=4, rope_scaling="yarn") (seed None: YARN_SEED / PLAIN_SEED) -> (config dict, [(tensor name, shape)]).

LongCat-Flash-Lite is LongCat-Flash (tools/longcat_test_model.py, reused by import) plus an N-gram
embedding (docs/longcat-flash-lite.md). On top of the LongCat-Flash tensors the folder has

  model.ngram_embeddings.embedders.{i}.weight    [m + 2i + 1, hidden // (k (n-1))]   i < k (n-1)
  model.ngram_embeddings.post_projs.{i}.weight   [hidden, hidden // (k (n-1))]       (nn.Linear, no bias)

with m = ngram_vocab_size_ratio * vocab_size, n = emb_neighbor_num, k = emb_split_num; model.
embed_tokens.weight stays the plain token table (the HF module shares it as ngram_embeddings.
word_embeddings; the checkpoint stores it once, under embed_tokens). config.json carries the Lite
keys (architectures LongcatFlashNgramForCausalLM, model_type longcat_flash_ngram, emb_neighbor_num,
emb_split_num, ngram_vocab_size_ratio, num_hidden_layers = 2 num_layers, yarn rope_scaling).

Test-model choices (why):
  * n = 4, k = 4 as released -> 12 tables; hidden 144 so hidden // 12 = 12 divides exactly (the
    release: 3072 // 12 = 256).
  * ngram_vocab_size_ratio 1 (an integer, as the released 78): m = vocab = 559, tables of 560..582
    rows, so distinct n-grams of a 64-token prompt collide in every table (the release has 10.2M
    rows per table).
  * yarn as the release (factor 10, mscale = mscale_all_dim = 1, beta 32/1) but with theta 1e4 and
    original context 128 so the 4 frequencies of the 8-dim rope part fall in all three regimes
    (kept, ramped, divided by the factor); written with the "rope_type" key (the LongCat-Flash test
    model uses "type").
  * the token table has std 8 and the n-gram tables std 2 (projections 1/sqrt(12)): the embedding is
    divided by 1 + k (n-1) = 13, so these keep its RMS near 1 and the n-gram part comparable to the
    token part (it moves the log-probs by several nats, see docs/longcat-flash-lite.md).

The default seed was picked with tests/ref/hf_longcat_flash_lite.py so that no routing decision is
near a tie and the e2e prompt (random tokens, seed + 1000) contains the EOS token, so the n-gram
reset at EOS is exercised (see docs/longcat-flash-lite.md for the measured margins).

Needs only python3 + numpy. Values are deterministic in (seed, tensor name).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import longcat_test_model as lc  # noqa: E402  (LongCat-Flash layout, reused read-only)
from make_test_model import build_tokenizer  # noqa: E402
from testmodel_common import tensor_rng, write_folder  # noqa: E402

# Default seeds, chosen by a scan over seeds 1..399 (docs/longcat-flash-lite.md): the largest
# smallest routing margin among the seeds whose e2e prompt (seed + 1000) holds an EOS token.
YARN_SEED = 267
PLAIN_SEED = 252

HIDDEN = 144
NGRAM = dict(emb_neighbor_num=4, emb_split_num=4, ngram_vocab_size_ratio=1)


def make_config(dtype, with_mtp, zero_experts, rope_scaling):
    """LongCat-Flash test config (longcat_test_model.make_config) turned into the Lite one."""
    tok, tok_cfg, n_vocab, special_ids = build_tokenizer("qwen2", n_merges=300)
    cfg = lc.make_config(dtype, n_vocab, special_ids, with_mtp, zero_experts, None)
    cfg.update(NGRAM)
    cfg.update({
        "architectures": ["LongcatFlashNgramForCausalLM"], "model_type": "longcat_flash_ngram",
        "auto_map": {
            "AutoConfig": "configuration_longcat_ngram.LongcatFlashNgramConfig",
            "AutoModel": "modeling_longcat_ngram.LongcatFlashNgramModel",
            "AutoModelForCausalLM": "modeling_longcat_ngram.LongcatFlashNgramForCausalLM"},
        "hidden_size": HIDDEN,
        # transformers' save_pretrained writes these (the released config.json has them too).
        "num_hidden_layers": 2 * cfg["num_layers"], "num_key_value_heads": cfg["num_attention_heads"],
        "qk_head_dim": cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"],
    })
    cfg.pop("attention_method", None)  # the released Lite config has no attention_method key
    if rope_scaling == "yarn":
        orig, factor = 128, 10
        cfg["rope_scaling"] = {"rope_type": "yarn", "factor": float(factor),
                               "original_max_position_embeddings": orig, "beta_fast": 32.0,
                               "beta_slow": 1.0, "mscale": 1, "mscale_all_dim": 1}
        cfg["max_position_embeddings"] = factor * orig
        cfg["rope_theta"] = 10000.0
    elif rope_scaling not in (None, "none"):
        raise ValueError("rope_scaling %r is not supported (use yarn or none)" % rope_scaling)
    return dict(sorted(cfg.items())), (tok, tok_cfg)


def ngram_table_shapes(cfg):
    """[(rows, dim)] of the k (n-1) n-gram tables: rows = int(m + 2i + 1), dim = hidden // tables."""
    n, k = cfg["emb_neighbor_num"], cfg["emb_split_num"]
    tables = k * (n - 1)
    m = cfg["ngram_vocab_size_ratio"] * cfg["vocab_size"]
    return [(int(m + 2 * i + 1), cfg["hidden_size"] // tables) for i in range(tables)]


def tensor_specs(cfg, with_mtp):
    specs = lc.tensor_specs(cfg, with_mtp)
    specs = [(nm, sh, "word_embed" if nm == "model.embed_tokens.weight" else kind) for nm, sh, kind in specs]
    extra = []
    for i, (rows, dim) in enumerate(ngram_table_shapes(cfg)):
        extra.append(("model.ngram_embeddings.embedders.%d.weight" % i, (rows, dim), "ngram_table"))
        extra.append(("model.ngram_embeddings.post_projs.%d.weight" % i, (cfg["hidden_size"], dim), "lin"))
    return specs[:1] + extra + specs[1:]  # embeddings first, as in the real index


def tensor_values(seed, name, shape, kind, cfg):
    """Lite kinds on top of longcat_test_model.tensor_values (same (seed, name) seeding)."""
    if kind in ("word_embed", "ngram_table"):
        rng = tensor_rng(seed, name)
        return ((8.0 if kind == "word_embed" else 2.0) * rng.standard_normal(shape)).astype(np.float32)
    return lc.tensor_values(seed, name, shape, kind, cfg)


def write_longcat_lite(out_dir, seed=None, dtype="f32", shards=1, with_mtp=True, zero_experts=4,
                       rope_scaling="yarn"):
    """Writes the folder; returns (config dict, [(tensor name, shape)])."""
    lc.check_args(dtype, shards, zero_experts)
    if seed is None:
        seed = YARN_SEED if rope_scaling == "yarn" else PLAIN_SEED
    cfg, (tok, tok_cfg) = make_config(dtype, with_mtp, zero_experts, rope_scaling)
    specs = tensor_specs(cfg, with_mtp)
    write_folder(out_dir, cfg, tok, tok_cfg, lc.tensor_list(specs, seed, dtype, cfg, tensor_values), shards)
    return cfg, [(n, s) for n, s, _ in specs]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=None, help="default %d (yarn) / %d (none)" % (YARN_SEED, PLAIN_SEED))
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--no-mtp", action="store_true", help="omit the model.mtp.* tensors")
    ap.add_argument("--zero-experts", type=int, default=4, help="zero_expert_num (default 4)")
    ap.add_argument("--rope-scaling", choices=["yarn", "none"], default="yarn",
                    help="yarn (default, as the release) or none (plain rope)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else (YARN_SEED if args.rope_scaling == "yarn" else PLAIN_SEED)
    try:
        cfg, specs = write_longcat_lite(args.out_dir, seed, args.dtype, args.shards, not args.no_mtp,
                                        args.zero_experts, args.rope_scaling)
    except ValueError as e:
        raise SystemExit("longcat_lite_test_model: %s" % e)
    n_params = sum(int(np.prod(s)) for _, s in specs)
    rows = [r for r, _ in ngram_table_shapes(cfg)]
    print("wrote %s: LongcatFlashNgramForCausalLM, seed %d, %d tensors, %.2fM params, vocab %d, hidden %d, "
          "n-gram n=%d k=%d tables %d..%d rows x %d, dtype %s, shards %d, mtp %s, zero experts %d, rope_scaling %s"
          % (args.out_dir, seed, len(specs), n_params / 1e6, cfg["vocab_size"], cfg["hidden_size"],
             cfg["emb_neighbor_num"], cfg["emb_split_num"], rows[0], rows[-1], ngram_table_shapes(cfg)[0][1],
             args.dtype, args.shards, not args.no_mtp, cfg["zero_expert_num"], args.rope_scaling),
          file=sys.stderr)


if __name__ == "__main__":
    main()
