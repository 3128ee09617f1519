#!/usr/bin/env bash
# The shipped default model (models/moecat-support.gguf, docs/MODEL.md) as users get it:
#   - it is the build's default (build/default-model.gguf is the same bytes), <= 30 MB, a
#     LongCat-Flash with its MTP head, chat template, default system prompt and tools;
#   - on 60 held-out conversations (tools/support_data.py --split heldout --seed 1, the split
#     MODEL.md reports), through `moecat serve` with greedy decoding, it calls the right tool,
#     with the right arguments, and answers in the customer's language at least as often as the
#     floors below (set a few points under MODEL.md's figures for this model: a worse model, or
#     an engine change that hurts it, fails here);
#   - the expert-bias controller's target holds: 1.5 .. 2.5 FFN experts per token per MoE layer
#     (of top-3; the rest go to zero experts), from the server's /metrics;
#   - `--draft mtp` gives the same reply as plain decoding, with most drafts accepted.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup shipped_model
M="$SRC/models/moecat-support.gguf"
[ -f "$M" ] || e2e_die "the shipped model $M is missing"
[ "$(stat -c %s "$M")" -le $((30 * 1024 * 1024)) ] || e2e_die "the shipped model is over 30 MB"
DEF="$(dirname "$MOECAT_BIN")/default-model.gguf"
cmp -s "$M" "$DEF" || e2e_die "$DEF is not models/moecat-support.gguf (the build's default_model target copies it)"
INFO=$("$MOECAT_BIN" info "$M")
echo "$INFO" | grep -q "longcat_flash" || e2e_die "not a LongCat-Flash: $INFO"

# Floors (MODEL.md's figures for the shipped model minus a margin).
MIN_TOOL=0.72 MIN_ARGS=0.58 MIN_LANG=0.92

"$PY" "$SRC/tools/support_data.py" "$WORK/heldout.jsonl" --split heldout --n 60 --seed 1
PORT=$("$PY" "$SRC/tests/e2e/lib/free_port.py")
"$PY" "$SRC/tools/eval_support.py" "$M" "$WORK/heldout.jsonl" --moecat "$MOECAT_BIN" --n 60 --port "$PORT" \
  --threads "$THREADS" --metrics > "$WORK/eval.json" || e2e_die "eval_support.py failed"
"$PY" - "$WORK/eval.json" "$MIN_TOOL" "$MIN_ARGS" "$MIN_LANG" <<'EOF' || e2e_die "the shipped model is below its floors"
import json, sys
d = json.load(open(sys.argv[1]))
tool, args, lang = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print("held-out: right tool %.3f, with right arguments %.3f, right language %.3f, plain reply %.3f, "
      "FFN experts/token %.3f" % (d["right_tool"], d["right_tool_and_args"], d["right_language"],
                                  d["plain_reply_when_no_tool"], d["ffn_experts_per_token"]))
assert d["right_tool"] >= tool, d["right_tool"]
assert d["right_tool_and_args"] >= args, d["right_tool_and_args"]
assert d["right_language"] >= lang, d["right_language"]
assert 1.5 <= d["ffn_experts_per_token"] <= 2.5, d["ffn_experts_per_token"]
EOF

# MTP drafting: same reply, drafts mostly accepted.
MSG="Hallo, wo ist meine Bestellung A12345?"
"$MOECAT_BIN" run -m "$M" "$MSG" --temp 0 -t 1 > "$WORK/plain.txt" 2> "$WORK/plain.err"
"$MOECAT_BIN" run -m "$M" "$MSG" --temp 0 -t 1 --draft mtp --stats > "$WORK/mtp.txt" 2> "$WORK/mtp.err"
cmp -s "$WORK/plain.txt" "$WORK/mtp.txt" || e2e_die "--draft mtp changed the reply: $(cat "$WORK/plain.txt") vs $(cat "$WORK/mtp.txt")"
ACC=$(sed -n 's/.*draft: \([0-9]*\) of \([0-9]*\) draft tokens.*/\1 \2/p' "$WORK/mtp.err")
[ -n "$ACC" ] || e2e_die "no draft statistics: $(cat "$WORK/mtp.err")"
read -r A D <<< "$ACC"
[ "$D" -gt 0 ] && [ $((2 * A)) -gt "$D" ] || e2e_die "MTP acceptance $A of $D is not above half"
echo "mtp: $A of $D drafts accepted; reply: $(cat "$WORK/plain.txt")"
echo "shipped_model: ok"
