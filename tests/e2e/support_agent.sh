#!/usr/bin/env bash
# The support agent example end to end (issue #10): the shipped support model
# (models/moecat-support.gguf, or MOECAT_SUPPORT_MODEL) behind `moecat serve`, the agent loop
# (examples/support/agent.py, greedy) playing scripted customer conversations against a fresh demo
# shop (examples/support/shop.py, SQLite) each, and the shop's database checked afterwards: every
# table is dumped before and after, the changes the customer asked for are taken out (a return of
# 40012345 started, the address of A20001 set to exactly the one asked for) and what remains must
# be identical, so a wrong order, a second return, a ticket or any other write fails the test.
# Conversations that only ask for information, or ask for what the shop refuses (a return after
# 30 days), must change nothing. English and German; customer messages worded like the training
# data (tools/support_data.py's templates), one request per conversation: the small model is not
# trained on conversations that ask for two things.
# Transcripts: build/e2e/support_agent/<name>.txt (conversation) and .log (JSON steps).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup support_agent
MODEL="${MOECAT_SUPPORT_MODEL:-$SRC/models/moecat-support.gguf}"
[ -f "$MODEL" ] || e2e_die "the support model $MODEL is missing (it is shipped in the repository)"
EX="$SRC/examples/support"

PORT=$("$PY" "$SRC/tests/e2e/lib/free_port.py")
"$MOECAT_BIN" serve -m "$MODEL" --port "$PORT" -t "$THREADS" > "$WORK/server.log" 2>&1 &
SRV=$!
e2e_on_exit 'kill $SRV 2>/dev/null || true'
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { cat "$WORK/server.log" >&2; e2e_die "moecat serve did not start"; }

# check NAME EXPECT MESSAGE...: plays the messages as one conversation on a fresh shop, then
# compares the database with the one before. EXPECT is JSON: {"returns": [ORDER_ID, ...],
# "addresses": {ORDER_ID: ADDRESS}, "tickets": N} (omitted keys: no such change).
FAILED=()
check() {
  local name="$1" expect="$2" d="$WORK/$1"
  shift 2
  mkdir -p "$d"
  "$PY" "$EX/shop.py" init "$d/shop.db"
  "$PY" "$EX/shop.py" dump "$d/shop.db" > "$d/before.json"
  printf '%s\n' "$@" > "$d/script.txt"
  if ! "$PY" "$EX/agent.py" --db "$d/shop.db" --url "http://127.0.0.1:$PORT/v1" --script "$d/script.txt" --trace \
      --log "$WORK/$name.log" > "$WORK/$name.txt" 2>&1; then
    cat "$WORK/$name.txt" >&2
    e2e_die "$name: the agent failed"
  fi
  "$PY" "$EX/shop.py" dump "$d/shop.db" > "$d/after.json"
  echo "---- $name"
  sed 's/^/  /' "$WORK/$name.txt"
  if "$PY" - "$d/before.json" "$d/after.json" "$expect" <<'EOF'; then echo "  $name: OK"; else FAILED+=("$name"); fi
import json, sys
before, after = (json.load(open(p)) for p in sys.argv[1:3])
expect = json.loads(sys.argv[3])
ok = True
def bad(msg):
    global ok
    ok = False
    print("  FAIL: " + msg)
assert set(before) == set(after) and {"orders", "returns", "tickets", "customers", "products", "order_items"} <= set(before)
# Take the asked-for changes out of `after` (and put them into `before`): what is left must match.
old_returns = {r["id"] for r in before["returns"]}
for oid in expect.get("returns", []):
    new = [r for r in after["returns"] if r["order_id"] == oid and r["id"] not in old_returns]
    if len(new) != 1:
        bad("expected one new return of order %s, found %d" % (oid, len(new)))
        continue
    if not new[0]["reason"].strip():
        bad("the return of %s has no reason" % oid)
    print("  return %s of %s (reason %r, refund %.2f EUR)" % (new[0]["id"], oid, new[0]["reason"], new[0]["refund_eur"]))
    after["returns"].remove(new[0])
for oid, addr in expect.get("addresses", {}).items():
    o = [r for r in after["orders"] if r["id"] == oid]
    if not o or o[0]["address"] != addr:
        bad("order %s: address %r, expected %r" % (oid, o[0]["address"] if o else None, addr))
        continue
    print("  order %s: address now %r" % (oid, addr))
    for r in before["orders"]:
        if r["id"] == oid:
            r["address"] = addr
new_tickets = [r for r in after["tickets"] if r not in before["tickets"]]
if len(new_tickets) != expect.get("tickets", 0):
    bad("expected %d new tickets, found %s" % (expect.get("tickets", 0), new_tickets))
else:
    for r in new_tickets:
        print("  ticket %s (reason %r)" % (r["id"], r["reason"]))
        after["tickets"].remove(r)
for t in before:
    if before[t] != after[t]:
        a = {json.dumps(r, sort_keys=True) for r in before[t]}
        b = {json.dumps(r, sort_keys=True) for r in after[t]}
        bad("unexpected change in table %s: removed %s, added %s" % (t, sorted(a - b), sorted(b - a)))
sys.exit(0 if ok else 1)
EOF
}

# Customer messages in the wording of the training data (tools/support_data.py's templates).
ADDR_EN='12 Park Lane, Leeds LS1 4DY'
ADDR_EN2='7 High Street, Bristol BS1 5TR'
ADDR_DE='Bahnhofstraße 12, 20095 Hamburg'
check en_return '{"returns": ["40012345"]}' "I want to return order 40012345, it arrived damaged" "thanks!"
check en_return_hash '{"returns": ["40012345"]}' "Hello! please start a return for #40012345: wrong size"
check de_return '{"returns": ["40012345"]}' "ich möchte die Bestellung 40012345 zurückschicken, es kam beschädigt an" "danke!"
check en_address "{\"addresses\": {\"A20001\": \"$ADDR_EN\"}}" "please change the delivery address of A20001 to $ADDR_EN"
check en_address_moved "{\"addresses\": {\"A20001\": \"$ADDR_EN2\"}}" \
  "Hi, I moved, can you send order A20001 to $ADDR_EN2? - Tom Wilson" "thanks for your help"
check de_address "{\"addresses\": {\"A20001\": \"$ADDR_DE\"}}" "bitte ändern Sie die Lieferadresse von A20001 auf $ADDR_DE"
check en_human '{"tickets": 1}' "I want to talk to a human"
# Only questions, or what the shop refuses: nothing may change.
check en_status '{}' "where is my package?" "it's A12345" "thanks!"
check de_status '{}' "wo ist meine Bestellung A20001?" "danke!"
check en_late '{}' "my order MC-2026-0042 is late, it should have arrived days ago"
check en_return_too_late '{}' "can I send back A30003? I changed my mind"

[ ${#FAILED[@]} -eq 0 ] || e2e_die "the database did not change as asked in: ${FAILED[*]} (transcripts in $WORK)"
echo "support_agent: OK"
