#!/usr/bin/env python3
"""The demo shop of moecat's support example: customers, products and orders in SQLite, and the
five tools the support model calls, executed against it.

    shop.py init DB [--seed S]        create (or re-create) the shop with deterministic data
    shop.py call DB NAME JSON_ARGS    run one tool call, print its JSON result
    shop.py dump DB                   print the orders table as JSON (for tests)

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


def dump(db):
    return {"orders": [dict(r) for r in db.execute("SELECT * FROM orders ORDER BY id")],
            "returns": [dict(r) for r in db.execute("SELECT * FROM returns ORDER BY id")],
            "tickets": [dict(r) for r in db.execute("SELECT * FROM tickets ORDER BY id")]}


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("init", "call", "dump"):
        raise SystemExit(__doc__)
    if sys.argv[1] == "init":
        seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 1
        init(sys.argv[2], seed)
    elif sys.argv[1] == "call":
        print(json.dumps(call(connect(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])), ensure_ascii=False))
    else:
        print(json.dumps(dump(connect(sys.argv[2])), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
