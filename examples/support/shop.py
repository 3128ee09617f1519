#!/usr/bin/env python3
"""The demo shop of moecat's support example: customers, products and orders in SQLite, and the
five tools the support model calls, executed against it.

    shop.py init DB [--seed S]        create (or re-create) the shop with deterministic data
    shop.py call DB NAME JSON_ARGS    run one tool call, print its JSON result
    shop.py dump DB                   print every table as JSON (rows in primary-key order)
    shop.py diff OLD_DB NEW_DB [--json]   what changed: rows added, removed, changed per table
    shop.py serve DB [--port 8765]    the tools over HTTP on 127.0.0.1 (for the chat page):
                                      POST /call {"name": ..., "arguments": {...}} -> the result
                                      as JSON; GET /dump; CORS for any origin; one JSON line
                                      per call on stdout

Tools (the names and arguments of tools/support_data.py, which the model is trained on):
  lookup_order{order_id}            status, carrier, delivery date, items of an order
  start_return{order_id, reason}    a return (30 days after delivery at most) -> return id, refund
  update_address{order_id, address} a new delivery address, only before the order has shipped
  search_products{query}            products whose name contains the query (case-insensitive)
  escalate_to_human{reason}         a ticket for a human colleague
Order ids are accepted as customers write them (case, '#', spaces or dashes), like the model's
training data. Uses Python's sqlite3 module (Debian's libsqlite3).
"""

import datetime
import http.server
import json
import random
import re
import sqlite3
import sys

SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, lang TEXT NOT NULL);
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, name_de TEXT NOT NULL,
                       price_eur REAL NOT NULL, in_stock INTEGER NOT NULL);
CREATE TABLE orders (id TEXT PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
                     status TEXT NOT NULL, carrier TEXT NOT NULL, ordered TEXT NOT NULL, delivered TEXT,
                     eta TEXT, address TEXT NOT NULL);
CREATE TABLE order_items (order_id TEXT NOT NULL REFERENCES orders(id), product_id INTEGER NOT NULL
                          REFERENCES products(id), qty INTEGER NOT NULL);
CREATE TABLE returns (id TEXT PRIMARY KEY, order_id TEXT NOT NULL REFERENCES orders(id), reason TEXT NOT NULL,
                      refund_eur REAL NOT NULL, created TEXT NOT NULL);
CREATE TABLE tickets (id TEXT PRIMARY KEY, reason TEXT NOT NULL, created TEXT NOT NULL);
"""

PRODUCTS = [("garden hose 20 m", "Gartenschlauch 20 m", 24.99), ("LED desk lamp", "LED-Schreibtischlampe", 39.90),
            ("cotton bed sheet", "Bettlaken aus Baumwolle", 29.50), ("stainless steel kettle", "Wasserkocher aus Edelstahl", 49.00),
            ("office chair", "Bürostuhl", 159.00), ("plant pot set", "Pflanztopf-Set", 19.99),
            ("wool blanket", "Wolldecke", 59.00), ("cordless drill", "Akku-Bohrschrauber", 89.00),
            ("rain boots", "Gummistiefel", 34.95), ("coffee grinder", "Kaffeemühle", 44.90),
            ("bath towel set", "Badetuch-Set", 27.00), ("bike lock", "Fahrradschloss", 22.50)]
CUSTOMERS = [("Anna Smith", "en"), ("James Brown", "en"), ("Lena Müller", "de"), ("Jonas Schmidt", "de"),
             ("Maria Taylor", "en"), ("Felix Weber", "de")]
CARRIERS = ["DHL", "UPS", "DPD", "Hermes", "GLS"]
TODAY = datetime.date(2026, 12, 1)  # the shop's "today", so results do not depend on the clock


def connect(path):
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA foreign_keys = ON")
    return db


def init(path, seed=1):
    rng = random.Random(seed)
    db = connect(path)
    for t in ("tickets", "returns", "order_items", "orders", "products", "customers"):
        db.execute("DROP TABLE IF EXISTS " + t)
    db.executescript(SCHEMA)
    for i, (n, de, p) in enumerate(PRODUCTS):
        db.execute("INSERT INTO products VALUES (?,?,?,?,?)", (i + 1, n, de, p, rng.randrange(0, 30)))
    for i, (n, lang) in enumerate(CUSTOMERS):
        db.execute("INSERT INTO customers VALUES (?,?,?,?)", (i + 1, n, n.lower().replace(" ", ".") + "@example.com", lang))
    # Fixed, memorable orders first (the example's scripted conversations use them), then random ones.
    fixed = [("A12345", 1, "shipped", None, 3), ("A20001", 2, "processing", None, None),
             ("40012345", 3, "delivered", 5, None), ("MC-2026-0042", 4, "delayed", None, 6),
             ("A30003", 5, "delivered", 60, None)]
    for oid, cust, status, days_ago, eta_days in fixed:
        add_order(db, rng, oid, cust, status, days_ago, eta_days)
    for _ in range(20):
        oid = "A%05d" % rng.randrange(10 ** 5)
        if db.execute("SELECT 1 FROM orders WHERE id=?", (oid,)).fetchone():
            continue
        status = rng.choice(["processing", "shipped", "delivered", "delayed"])
        add_order(db, rng, oid, rng.randrange(1, len(CUSTOMERS) + 1), status,
                  rng.randrange(1, 50) if status == "delivered" else None,
                  rng.randrange(1, 8) if status != "delivered" else None)
    db.commit()
    return db


def add_order(db, rng, oid, cust, status, delivered_days_ago, eta_days):
    delivered = (TODAY - datetime.timedelta(days=delivered_days_ago)).isoformat() if delivered_days_ago else None
    eta = (TODAY + datetime.timedelta(days=eta_days)).isoformat() if eta_days else None
    ordered = (TODAY - datetime.timedelta(days=(delivered_days_ago or 0) + 3)).isoformat()
    db.execute("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?)",
               (oid, cust, status, rng.choice(CARRIERS), ordered, delivered, eta, "%d Oak Street, London" % rng.randrange(1, 99)))
    for pid in rng.sample(range(1, len(PRODUCTS) + 1), rng.randint(1, 2)):
        db.execute("INSERT INTO order_items VALUES (?,?,?)", (oid, pid, 1))


def canonical(order_id):
    """'#a12345', 'A-12345', 'mc 2026 0042', 'Nr. 40012345' -> the id as stored, or the input."""
    s = re.sub(r"^(nr\.?|order)\s*", "", str(order_id).strip(), flags=re.I).lstrip("#").strip().upper()
    m = re.fullmatch(r"A[-\s]?(\d{5})", s)
    if m:
        return "A" + m.group(1)
    m = re.fullmatch(r"MC[-\s]?(\d{4})[-\s]?(\d{4})", s)
    if m:
        return "MC-%s-%s" % m.groups()
    return s


def find_order(db, order_id):
    return db.execute("SELECT * FROM orders WHERE id=?", (canonical(order_id),)).fetchone()


def tool_lookup_order(db, order_id):
    o = find_order(db, order_id)
    if not o:
        return {"error": "no order %s" % order_id}
    items = [r["name"] for r in db.execute(
        "SELECT p.name FROM order_items i JOIN products p ON p.id=i.product_id WHERE i.order_id=?", (o["id"],))]
    return {"order_id": o["id"], "status": o["status"], "carrier": o["carrier"],
            "eta": o["delivered"] if o["status"] == "delivered" else o["eta"], "items": items}


def tool_start_return(db, order_id, reason):
    o = find_order(db, order_id)
    if not o:
        return {"ok": False, "error": "no order %s" % order_id}
    if o["status"] != "delivered":
        return {"ok": False, "error": "order not delivered yet"}
    if (TODAY - datetime.date.fromisoformat(o["delivered"])).days > 30:
        return {"ok": False, "error": "return window of 30 days has passed"}
    if db.execute("SELECT 1 FROM returns WHERE order_id=?", (o["id"],)).fetchone():
        return {"ok": False, "error": "a return for this order exists already"}
    refund = db.execute("SELECT SUM(p.price_eur*i.qty) FROM order_items i JOIN products p ON p.id=i.product_id "
                        "WHERE i.order_id=?", (o["id"],)).fetchone()[0]
    rid = "R-%06d" % (db.execute("SELECT COUNT(*) FROM returns").fetchone()[0] + 1)
    db.execute("INSERT INTO returns VALUES (?,?,?,?,?)", (rid, o["id"], str(reason), refund, TODAY.isoformat()))
    db.commit()
    return {"ok": True, "return_id": rid, "label": "sent by email", "refund_eur": round(refund, 2)}


def tool_update_address(db, order_id, address):
    o = find_order(db, order_id)
    if not o:
        return {"ok": False, "error": "no order %s" % order_id}
    if o["status"] != "processing":
        return {"ok": False, "error": "order already shipped", "carrier": o["carrier"]}
    db.execute("UPDATE orders SET address=? WHERE id=?", (str(address), o["id"]))
    db.commit()
    return {"ok": True, "order_id": o["id"], "address": str(address)}


def tool_search_products(db, query):
    q = "%" + str(query).lower() + "%"
    rows = db.execute("SELECT name, name_de, price_eur, in_stock FROM products WHERE lower(name) LIKE ? OR "
                      "lower(name_de) LIKE ? ORDER BY id LIMIT 5", (q, q)).fetchall()
    return {"results": [{"name": r["name"], "price_eur": r["price_eur"], "in_stock": r["in_stock"]} for r in rows]}


def tool_escalate_to_human(db, reason):
    tid = "T-%05d" % (db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] + 1)
    db.execute("INSERT INTO tickets VALUES (?,?,?)", (tid, str(reason), TODAY.isoformat()))
    db.commit()
    return {"ticket_id": tid, "queue": "general"}


TOOLS = {"lookup_order": (tool_lookup_order, ["order_id"]), "start_return": (tool_start_return, ["order_id", "reason"]),
         "update_address": (tool_update_address, ["order_id", "address"]),
         "search_products": (tool_search_products, ["query"]), "escalate_to_human": (tool_escalate_to_human, ["reason"])}


def call(db, name, args):
    """Runs one tool call; a bad name or missing arguments give an error result (the model sees it)."""
    if name not in TOOLS:
        return {"error": "unknown tool %s" % name}
    fn, params = TOOLS[name]
    if not isinstance(args, dict) or any(p not in args for p in params):
        return {"error": "%s needs %s" % (name, ", ".join(params))}
    return fn(db, *[args[p] for p in params])


KEYS = {"customers": ["id"], "products": ["id"], "orders": ["id"], "returns": ["id"], "tickets": ["id"],
        "order_items": ["order_id", "product_id"]}


def dump(db):
    """Every table, rows ordered by key: {table: [row, ...]}."""
    return {t: [dict(r) for r in db.execute("SELECT * FROM %s ORDER BY %s" % (t, ", ".join(k)))]
            for t, k in KEYS.items()}


def diff(old, new):
    """Two dumps -> {table: {"added": [row], "removed": [row], "changed": [{"key", "before", "after"}]}},
    only tables that changed; "before"/"after" hold only the columns that differ."""
    out = {}
    for t, k in KEYS.items():
        a = {tuple(r[c] for c in k): r for r in old.get(t, [])}
        b = {tuple(r[c] for c in k): r for r in new.get(t, [])}
        d = {"added": [b[x] for x in b if x not in a], "removed": [a[x] for x in a if x not in b], "changed": []}
        for x in a:
            if x in b and a[x] != b[x]:
                cols = [c for c in b[x] if a[x].get(c) != b[x][c]]
                d["changed"].append({"key": "/".join(map(str, x)), "before": {c: a[x].get(c) for c in cols},
                                     "after": {c: b[x][c] for c in cols}})
        if any(d.values()):
            out[t] = d
    return out


def diff_text(d):
    if not d:
        return "nothing changed"
    lines = []
    for t, c in d.items():
        for r in c["added"]:
            lines.append("%s: + %s" % (t, json.dumps(r, ensure_ascii=False)))
        for r in c["removed"]:
            lines.append("%s: - %s" % (t, json.dumps(r, ensure_ascii=False)))
        for r in c["changed"]:
            lines.append("%s %s: %s" % (t, r["key"], ", ".join(
                "%s %s -> %s" % (col, json.dumps(r["before"][col], ensure_ascii=False),
                                 json.dumps(r["after"][col], ensure_ascii=False)) for col in r["after"])))
    return "\n".join(lines)


def serve(path, port, host="127.0.0.1"):
    """The tools over HTTP for the chat page (another origin: moecat's port), one request at a time."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def send(self, code, obj):
            body = json.dumps(obj, ensure_ascii=False).encode()
            self.send_response(code)
            self.cors()
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def cors(self):
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")
            self.send_header("Access-Control-Allow-Private-Network", "true")
            self.send_header("Access-Control-Max-Age", "600")

        def do_OPTIONS(self):  # CORS preflight
            self.send_response(204)
            self.cors()
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            if self.path == "/dump":
                self.send(200, dump(connect(path)))
            elif self.path in ("/", "/health"):
                self.send(200, {"ok": True, "tools": sorted(TOOLS), "call": "POST /call {name, arguments}"})
            else:
                self.send(404, {"error": "not found"})

        def do_POST(self):
            if self.path != "/call":
                return self.send(404, {"error": "not found"})
            try:
                n = int(self.headers.get("Content-Length") or 0)
                if n > 1 << 20:
                    return self.send(413, {"error": "body too large"})
                req = json.loads(self.rfile.read(n) or b"{}")
                name, args = req["name"], req.get("arguments", {})
                if isinstance(args, str):  # the arguments string of an OpenAI tool call
                    args = json.loads(args or "{}")
            except (ValueError, KeyError, TypeError):
                return self.send(400, {"error": 'expected {"name": ..., "arguments": {...}}'})
            db = connect(path)
            try:
                result = call(db, name, args)
            finally:
                db.close()
            print(json.dumps({"name": name, "arguments": args, "result": result}, ensure_ascii=False), flush=True)
            self.send(200, result)

        def log_message(self, fmt, *a):  # quiet: the calls are printed as JSON lines instead
            pass

    srv = http.server.HTTPServer((host, port), Handler)
    print("shop: serving %s on http://%s:%d (POST /call)" % (path, host, srv.server_address[1]), file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


def main():
    cmds = {"init": 3, "call": 5, "dump": 3, "diff": 4, "serve": 3}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) < cmds[sys.argv[1]]:
        raise SystemExit(__doc__)
    cmd, db = sys.argv[1], sys.argv[2]
    if cmd == "init":
        seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
        init(db, seed)
    elif cmd == "call":
        print(json.dumps(call(connect(db), sys.argv[3], json.loads(sys.argv[4])), ensure_ascii=False))
    elif cmd == "dump":
        print(json.dumps(dump(connect(db)), ensure_ascii=False, indent=1))
    elif cmd == "diff":
        d = diff(dump(connect(db)), dump(connect(sys.argv[3])))
        print(json.dumps(d, ensure_ascii=False, indent=1) if "--json" in sys.argv else diff_text(d))
    else:
        port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 8765
        serve(db, port)


if __name__ == "__main__":
    main()
