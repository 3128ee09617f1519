#!/usr/bin/env bash
# bench/inflate_support_model.py (the shipped support model zero-padded to real matrix sizes, for
# drafting figures with a real acceptance rate) keeps the model's function: the shipped GGUF and
# the padded one (hidden 192 -> 512, MLPs 384 -> 768, experts 96 -> 192; converted to q8_0 like the
# shipped file) give the same full-vocabulary log-probs, main head and MTP head, over a support
# conversation, and the same greedy continuation. Bound: |dlogp| <= 1e-4 at the first 8 positions
# and at >= 75 % of all (the padded rows take other kernel paths -- whole 256-value units instead
# of partial ones -- so float sums may round differently, and where an expert choice or an
# activation's int8 rounding sits on a near-tie, that position, and for an expert choice the ones
# after it, may move; measured on AVX-512 and AVX2: main head identical everywhere, MTP head
# identical at 45 of 46 positions). A norm weight, eps or LoRA scale left uncompensated moves
# every position by far more. It also checks the engine: zero rows and columns add nothing.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup padded_support_model
MODEL="${MOECAT_SUPPORT_MODEL:-$SRC/models/moecat-support.gguf}"
[ -f "$MODEL" ] || e2e_die "no model at $MODEL"
e2e_run "$PY" "$SRC/bench/inflate_support_model.py" "$MODEL" "$WORK/hf" --hidden 512 --ffn 768 --expert-ffn 192
e2e_run "$MOECAT_BIN" convert "$WORK/hf" -o "$WORK/padded.gguf" --type q8_0
TOKENS=$("$MOECAT_BIN" tokenize -m "$MODEL" "Hello, I ordered a blue jacket last week (order A-55123) and it still has not arrived. Ich warte seit Tagen auf meine Bestellung, bitte helfen Sie mir." | tr ' ' ',')
for m in shipped:"$MODEL" padded:"$WORK/padded.gguf"; do
  e2e_run "$MOECAT_BIN" logprobs -m "${m#*:}" --tokens "$TOKENS" --greedy 24 --mtp -t "$THREADS" > "$WORK/${m%%:*}.json"
done
"$PY" - "$WORK/shipped.json" "$WORK/padded.json" <<'EOF' || e2e_die "the padded model is not the shipped one"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
ok = True
for key in ("logprobs", "mtp_logprobs"):
    assert len(a[key]) == len(b[key]) > 8, key
    d = [max(abs(x - y) for x, y in zip(ra, rb)) for ra, rb in zip(a[key], b[key])]
    close = sum(v <= 1e-4 for v in d)
    print("%s: max |dlogp| %.3g, first 8 positions %.3g, %d of %d positions within 1e-4" %
          (key, max(d), max(d[:8]), close, len(d)))
    ok = ok and max(d[:8]) <= 1e-4 and close >= 0.75 * len(d)
print("greedy:", "identical" if a["greedy"] == b["greedy"] else "differs", a["greedy"][:8], b["greedy"][:8])
sys.exit(0 if ok and a["greedy"] == b["greedy"] and len(a["greedy"]) == 24 else 1)
EOF
rm -rf "$WORK/hf" "$WORK/padded.gguf"
echo "PASS: the padded support model computes what the shipped one does"
