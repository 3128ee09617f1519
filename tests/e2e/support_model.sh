#!/usr/bin/env bash
# The support model's toolchain (issue #10), end to end on a small scale:
#   data       tools/support_data.py is deterministic (same seed: same bytes), every check names a
#              known tool with arguments that the conversation's call carries, both languages
#              and every scenario occur, and no held-out user message occurs in the training split
#   tokenizer  tools/train_bpe.py; its Python encoder (used to build the training batches) gives
#              the ids moecat's tokenizer gives on rendered conversations (identical)
#   template   the chat template (tools/support_format.py CHAT_TEMPLATE, shipped in
#              tokenizer_config.json) rendered by @huggingface/jinja equals the renderer the
#              training data is made with (identical text; with and without tools, with the
#              generation prompt)
#   shared     --share-prefix (the tools block and system prompt computed once per batch) gives
#              the plain forward's losses (relative 1e-5) and gradients (relative 1e-4; measured
#              ~1e-6) on a batch of conversations that share that prefix
#   trainer    tools/train_support_model.py trains a few steps (the expert-bias controller moves
#              the biases) and exports the HF folder; the torch model, the float64 reference
#              tests/ref/hf_longcat_flash.py and moecat on that folder agree: max |dlog p| <= 1e-4
#              for the main head and the MTP head (measured ~5e-6 .. 9e-6: f32 vs float64).
# Needs Debian's python3-torch (scripts/install-deps.sh installs it).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup support_model
TOOLS="$SRC/tools"

"$PY" -c "import torch" 2>/dev/null || {
  [ "${MOECAT_REQUIRE_REF:-0}" = 1 ] && e2e_die "python3-torch is missing (scripts/install-deps.sh installs it)"
  echo "SKIP: python3-torch not installed"
  exit 0
}

# ---- data ----
"$PY" "$TOOLS/support_data.py" "$WORK/train.jsonl" --n 400 --seed 3
"$PY" "$TOOLS/support_data.py" "$WORK/train2.jsonl" --n 400 --seed 3
cmp -s "$WORK/train.jsonl" "$WORK/train2.jsonl" || e2e_die "support_data.py is not deterministic"
"$PY" "$TOOLS/support_data.py" "$WORK/heldout.jsonl" --split heldout --n 200 --seed 3
"$PY" - "$WORK/train.jsonl" "$WORK/heldout.jsonl" <<'PYEOF' || e2e_die "support data checks"
import json, sys
def load(p):
    return [json.loads(l) for l in open(p, encoding="utf-8")]
train, held = load(sys.argv[1]), load(sys.argv[2])
names = {t["function"]["name"] for t in train[0]["tools"]}
assert names == {"lookup_order", "start_return", "update_address", "search_products", "escalate_to_human"}, names
for d in train + held:
    msgs = d["messages"]
    assert msgs[0]["role"] == "system" and msgs[1]["role"] == "user"
    for c in d["checks"]:
        m = msgs[c["turn"]]
        assert m["role"] == "assistant" and c["lang"] == d["lang"]
        if c["tool"] is None:
            assert m["content"] and not m.get("tool_calls")
        else:
            assert c["tool"] in names, c
            fn = m["tool_calls"][0]["function"]
            assert fn["name"] == c["tool"] and json.loads(fn["arguments"]) == c["arguments"], (fn, c)
            assert msgs[c["turn"] + 1]["role"] == "tool"
for split in (train, held):
    assert {d["lang"] for d in split} == {"en", "de"}
assert len({d["scenario"] for d in train}) == 10, {d["scenario"] for d in train}
# Held-out wording is new: no held-out opening user message occurs in the training split.
seen = {d["messages"][1]["content"] for d in train}
dup = [d["messages"][1]["content"] for d in held if d["messages"][1]["content"] in seen]
assert len(dup) <= len(held) // 20, dup[:5]   # (short generic ones like "Hallo" may repeat)
print("data: %d train / %d held-out conversations, %d checks" % (len(train), len(held), sum(len(d["checks"]) for d in train)))
PYEOF

# ---- tokenizer ----
# The default split (Qwen2's, one digit per pre-token) and --digits 3 (Llama-3's): the Python
# encoder that builds the training batches must give moecat's ids for both.
"$PY" "$TOOLS/train_bpe.py" "$WORK/train.jsonl" "$WORK" --vocab 4096
mkdir -p "$WORK/d3"
"$PY" "$TOOLS/train_bpe.py" "$WORK/train.jsonl" "$WORK/d3" --vocab 4096 --digits 3
for TDIR in "$WORK" "$WORK/d3"; do
"$PY" - "$TDIR" "$MOECAT_BIN" "$WORK/heldout.jsonl" <<'PYEOF' || e2e_die "tokenizer ($TDIR): Python encoder != moecat"
import json, os, subprocess, sys
sys.path.insert(0, os.environ["MOECAT_SOURCE_DIR"] + "/tools")
import support_format as sf, train_bpe as tb
work, moecat, heldout = sys.argv[1], sys.argv[2], sys.argv[3]
tok = json.load(open(work + "/tokenizer.json", encoding="utf-8"))
enc = tb.Encoder(tok)
print("split: digits in groups of %d" % tb.pattern_digits(tok))
n = 0
for i, line in enumerate(open(heldout, encoding="utf-8")):
    if i >= 8:
        break
    d = json.loads(line)
    text = sf.render(d["messages"], d["tools"], True)[0]
    r = subprocess.run([moecat, "tokenize", "-m", work + "/tokenizer.json", "--json", "--no-bos", text],
                       capture_output=True, text=True, check=True)
    ids = json.loads(r.stdout)["ids"]
    assert ids == enc.encode(text), "conversation %d differs" % i
    n += len(ids)
print("tokenizer: %d tokens identical" % n)
PYEOF
done

# ---- template ----
"$PY" - "$WORK" <<'PYEOF'
import json, os, sys
sys.path.insert(0, os.environ["MOECAT_SOURCE_DIR"] + "/tools")
import support_format as sf
work = sys.argv[1]
cases, expect = [], []
for i, line in enumerate(open(work + "/heldout.jsonl", encoding="utf-8")):
    if i >= 30:
        break
    d = json.loads(line)
    for msgs, tools, gen in ((d["messages"], d["tools"], False), (d["messages"][:2], d["tools"], True),
                             (d["messages"][:4], None, True)):
        cases.append({"messages": msgs, "tools": tools, "add_generation_prompt": gen})
        expect.append(sf.render(msgs, tools, gen)[0])
json.dump(cases, open(work + "/cases.json", "w"), ensure_ascii=False)
json.dump(expect, open(work + "/expect.json", "w"), ensure_ascii=False)
json.dump({"template": json.load(open(work + "/tokenizer_config.json"))["chat_template"]}, open(work + "/template.json", "w"))
PYEOF
(cd "$SRC/tests/ref" && "$NODE" render_template.mjs "$WORK/template.json" "$WORK/cases.json") > "$WORK/rendered.json"
"$PY" - "$WORK" <<'PYEOF' || e2e_die "chat template != support_format.render"
import json, sys
w = sys.argv[1]
got, exp = json.load(open(w + "/rendered.json")), json.load(open(w + "/expect.json"))
assert len(got) == len(exp) == 90
for i, (g, e) in enumerate(zip(got, exp)):
    if g != e:
        j = next(k for k in range(min(len(g), len(e)) + 1) if k == min(len(g), len(e)) or g[k] != e[k])
        raise SystemExit("case %d differs at %d: %r vs %r" % (i, j, g[j - 20:j + 40], e[j - 20:j + 40]))
print("template: %d renderings identical" % len(got))
PYEOF

# ---- shared prefix ----
"$PY" - "$WORK" <<'PYEOF' || e2e_die "--share-prefix changes the losses or gradients"
import json, os, random, sys
import torch
sys.path.insert(0, os.environ["MOECAT_SOURCE_DIR"] + "/tools")
import train_support_model as tsm, train_bpe as tb
w = sys.argv[1]
torch.manual_seed(0)
tok = json.load(open(w + "/tokenizer.json", encoding="utf-8"))
tc = json.load(open(w + "/tokenizer_config.json", encoding="utf-8"))
enc = tb.Encoder(tok)
eos = enc.special[tc["eos_token"]]
cfg = tsm.make_config(len(tok["model"]["vocab"]) + len(tok["added_tokens"]), enc.special[tc["bos_token"]], eos)
data = tsm.load_data(w + "/train.jsonl", enc, 1024)
idx = max(tsm.batches(data, 4096, random.Random(1), True), key=len)
P = tsm.shared_len(data[idx[0]], True)
assert P >= 2 and len(idx) >= 4 and all(data[i][0][:P] == data[idx[0]][0][:P] for i in idx), (P, len(idx))
init = tsm.LongcatFlash(cfg).state_dict()
got = []
for share in (False, True):
    m = tsm.LongcatFlash(cfg)
    m.load_state_dict(init)
    n = cfg["n_routed_experts"] + cfg["zero_expert_num"]  # biases that route some tokens elsewhere
    m.model.layers[0].mlp.router.e_score_correction_bias.copy_(torch.linspace(-0.1, 0.1, n))
    loss, total, lm, computed = tsm.batch_losses(m, data, idx, eos, share, 0.3)
    (total + 0.3 * lm).backward()
    got.append((total.item(), lm.item(), computed, torch.cat([p.grad.flatten() for p in m.parameters() if p.grad is not None])))
(a, b) = got
rel = float((a[3] - b[3]).norm() / a[3].norm())
print("shared prefix: %d rows x prefix %d: loss %.6f / %.6f, MTP %.6f / %.6f, gradients %.1e apart; %d -> %d tokens computed"
      % (len(idx), P, a[0], b[0], a[1], b[1], rel, a[2], b[2]))
assert abs(a[0] - b[0]) <= 1e-5 * abs(a[0]) and abs(a[1] - b[1]) <= 1e-5 * abs(a[1]) and rel <= 1e-4
assert b[2] < a[2] / 2
PYEOF

# ---- trainer + export ----
# With the options of docs/MODEL.md's session-24 experiment (tied input / output embeddings, loss on
# the customer's turns, copy drills, a wider KV latent): the export must still be what moecat runs.
"$PY" "$TOOLS/train_support_model.py" "$WORK" --steps 6 --save-every 3 --batch-tokens 1536 --bias-rate 0.5 \
  --tie-embeddings --context-weight 0.3 --copy-drills 0.05 --dim kv_lora=64 --share-prefix \
  --threads "${MOECAT_E2E_THREADS:-2}" 2>&1 | tail -n 3
"$PY" - "$WORK" <<'PYEOF' > "$WORK/tokens.txt"
import json, os, sys
sys.path.insert(0, os.environ["MOECAT_SOURCE_DIR"] + "/tools")
import support_format as sf, train_bpe as tb
w = sys.argv[1]
enc = tb.Encoder(json.load(open(w + "/tokenizer.json", encoding="utf-8")))
d = json.loads(open(w + "/heldout.jsonl", encoding="utf-8").readline())
print(",".join(map(str, enc.encode(sf.render(d["messages"], d["tools"], False)[0])[:96])))
PYEOF
TOK=$(cat "$WORK/tokens.txt")
"$MOECAT_BIN" logprobs -m "$WORK/hf" --tokens "$TOK" --mtp -t "${MOECAT_E2E_THREADS:-2}" > "$WORK/moecat.json"
"$PY" "$SRC/tests/ref/hf_longcat_flash.py" "$WORK/hf" --tokens "$TOK" --mtp > "$WORK/ref.json"
"$PY" - "$WORK" <<'PYEOF' || e2e_die "trainer / reference / moecat disagree"
import json, os, sys
import numpy as np
import torch
sys.path.insert(0, os.environ["MOECAT_SOURCE_DIR"] + "/tools")
import train_support_model as tsm
w = sys.argv[1]
cfg = json.load(open(w + "/hf/config.json"))
st = torch.load(w + "/ckpt.pt")
m = tsm.LongcatFlash(cfg)
m.load_state_dict(st["model"])
bias = st["model"]["model.layers.0.mlp.router.e_score_correction_bias"]
assert float(bias.abs().max()) > 0, "the expert-bias controller never moved a bias"
assert float(bias[cfg["n_routed_experts"]:].abs().max()) == 0, "zero experts' biases must stay 0"
ref, mc = json.load(open(w + "/ref.json")), json.load(open(w + "/moecat.json"))
ids = torch.tensor([ref["tokens"]])
with torch.no_grad():
    h, y = m(ids, torch.ones_like(ids, dtype=torch.bool))
    lp = torch.log_softmax(m.lm_head(h)[0].double(), -1).numpy()
    mp = torch.log_softmax(m.lm_head(m.model.mtp["norm"](y))[0].double(), -1).numpy()
worst = 0.0
for name, a, b in (("torch", lp, ref["logprobs"]), ("torch mtp", mp, ref["mtp_logprobs"]),
                   ("moecat", mc["logprobs"], ref["logprobs"]), ("moecat mtp", mc["mtp_logprobs"], ref["mtp_logprobs"])):
    d = float(np.abs(np.array(a) - np.array(b)).max())
    print("%-10s vs reference: max |dlog p| %.2e" % (name, d))
    assert d <= 1e-4, name
PYEOF
echo "support_model: OK"
