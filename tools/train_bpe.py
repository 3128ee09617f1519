#!/usr/bin/env python3
"""Trains the byte-level BPE tokenizer of moecat's support model on rendered support conversations.

    train_bpe.py DATA.jsonl OUT_DIR [--vocab 4096]

DATA.jsonl: tools/support_data.py output (training split). Every conversation is rendered with
tools/support_format.py (the text the model sees), the special tokens cut out, and the rest
pre-tokenized like Qwen2's tokenizer (one digit per pre-token; `--digits 3`: Llama-3's split,
digits in groups of up to three), its split regex approximated with Python's re for training;
tokenizer.json carries the real one, and any split gives valid merges. Writes
tokenizer.json (Qwen2-style byte-level BPE: NFC, merges as pairs, no BOS) and
tokenizer_config.json (EOS </longcat_s>, the support chat template). Deterministic: ties between
equally frequent pairs go to the smaller pair.

Needs only python3 (stdlib).
"""

import argparse
import collections
import json
import os
import re
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_test_model import LLAMA3_PATTERN, QWEN2_PATTERN, bytes_to_unicode  # noqa: E402  (read-only reuse)
from support_format import CHAT_TEMPLATE, EOS, SPECIALS, render  # noqa: E402

# Qwen2's split with Python's re: \p{L} ~ [^\W\d_], \p{N} ~ \d, "neither" ~ (_ | [^\w]). Exact
# for the support data's characters (letters incl. umlauts, digits, ASCII punctuation, spaces).
_L, _NOT_LN_NL, _NOT_SLN = r"[^\W\d_]", r"(?:_|[^\w\r\n])", r"(?:_|[^\s\w])"


def split_re(digits):
    """The split with digits one at a time (Qwen2's) or in groups of up to three (Llama-3's)."""
    d = r"\d" if digits == 1 else r"\d{1,3}"
    return re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|" + _NOT_LN_NL + "?" + _L + r"+|" + d + r"| ?" + _NOT_SLN +
                      r"+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def pattern_digits(tok):
    """1 or 3: how the tokenizer.json's split (written by build()) groups digits."""
    pre = tok.get("pre_tokenizer") or {}
    pats = [p.get("pattern", {}).get("Regex", "") for p in pre.get("pretokenizers", [])]
    return 3 if LLAMA3_PATTERN in pats else 1


def corpus_words(path, split):
    b2u = bytes_to_unicode()
    specials = re.compile("|".join(re.escape(s) for s in SPECIALS))
    words = collections.Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            text, _ = render(d["messages"], d["tools"], False)
            for piece in specials.split(text):
                for w in split.findall(piece):
                    words[w] += 1
    return {tuple(b2u[b] for b in w.encode("utf-8")): c for w, c in words.items()}


def learn(words, n_merges):
    """Incremental BPE: pair counts and, per pair, the words holding it; each merge rewrites
    only those words."""
    words = [(list(w), c) for w, c in words.items()]
    counts = collections.Counter()
    where = collections.defaultdict(set)
    for i, (w, c) in enumerate(words):
        for p in zip(w, w[1:]):
            counts[p] += c
            where[p].add(i)
    merges = []
    while len(merges) < n_merges and counts:
        best = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        if counts[best] < 2:
            break
        merges.append(best)
        joined = best[0] + best[1]
        for i in sorted(where.pop(best, ())):
            w, c = words[i]
            for p in zip(w, w[1:]):
                counts[p] -= c
                if counts[p] <= 0:
                    del counts[p]
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == best[0] and w[j + 1] == best[1]:
                    out.append(joined)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = (out, c)
            for p in zip(out, out[1:]):
                counts[p] += c
                where[p].add(i)
        counts.pop(best, None)
    return merges


def build(merges, digits=1):
    b2u = bytes_to_unicode()
    vocab = {}
    for ch in b2u.values():
        vocab[ch] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    added = []
    for s in SPECIALS:
        added.append({"id": len(vocab) + len(added), "content": s, "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": False, "special": True})
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN if digits == 3 else QWEN2_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [[a, b] for a, b in merges]},
    }
    added_decoder = {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in added}
    cfg = {"add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": added_decoder,
           "additional_special_tokens": [s for s in SPECIALS if s != EOS], "bos_token": "<longcat_s>",
           "clean_up_tokenization_spaces": False, "eos_token": EOS, "errors": "replace",
           "model_max_length": 4096, "pad_token": EOS, "split_special_tokens": False,
           "tokenizer_class": "PreTrainedTokenizerFast", "unk_token": None, "chat_template": CHAT_TEMPLATE}
    return tok, cfg, len(vocab) + len(added)


class Encoder:
    """Encodes text with a tokenizer.json written by this script, as HF tokenizers would: special
    tokens cut out first, NFC, the split above, bytes mapped, merges applied by rank."""

    def __init__(self, tok):
        self.vocab = tok["model"]["vocab"]
        self.ranks = {tuple(m): i for i, m in enumerate(tok["model"]["merges"])}
        self.special = {a["content"]: a["id"] for a in tok["added_tokens"]}
        self.special_re = re.compile("(" + "|".join(re.escape(s) for s in self.special) + ")")
        self.split = split_re(pattern_digits(tok))
        self.b2u = bytes_to_unicode()
        self.cache = {}

    def word(self, w):
        ids = self.cache.get(w)
        if ids is not None:
            return ids
        parts = [self.b2u[b] for b in w.encode("utf-8")]
        while len(parts) > 1:
            best = min(range(len(parts) - 1), key=lambda i: self.ranks.get((parts[i], parts[i + 1]), 1 << 30))
            if (parts[best], parts[best + 1]) not in self.ranks:
                break
            parts[best:best + 2] = [parts[best] + parts[best + 1]]
        ids = [self.vocab[p] for p in parts]
        self.cache[w] = ids
        return ids

    def encode(self, text):
        out = []
        for piece in self.special_re.split(text):
            if piece in self.special:
                out.append(self.special[piece])
            elif piece:
                for w in self.split.findall(unicodedata.normalize("NFC", piece)):
                    out.extend(self.word(w))
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("out_dir")
    ap.add_argument("--vocab", type=int, default=4096, help="total vocabulary size (bytes + merges + specials)")
    ap.add_argument("--digits", type=int, choices=[1, 3], default=1,
                    help="digits per pre-token: 1 (Qwen2's split, the shipped model's) or 3 (Llama-3's: an "
                         "order id is 2-3 tokens of 1,000 kinds; docs/MODEL.md, session 24: a small model did "
                         "not learn to copy those within 600 steps)")
    a = ap.parse_args()
    words = corpus_words(a.data, split_re(a.digits))
    merges = learn(words, a.vocab - 256 - len(SPECIALS))
    tok, cfg, n = build(merges, a.digits)
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    with open(os.path.join(a.out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)
    print("train_bpe: %d distinct words, %d merges, vocab %d" % (len(words), len(merges), n), file=sys.stderr)


if __name__ == "__main__":
    main()
