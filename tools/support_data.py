#!/usr/bin/env python3
"""Customer-support conversations of an online shop, for training moecat's default model.

    support_data.py OUT.jsonl [--split train|heldout] [--n N] [--seed S]

Each line is one conversation in OpenAI chat shape plus what an evaluation needs:
    {"lang": "en"|"de", "scenario": "...", "tools": [...], "messages": [...],
     "checks": [{"turn": i, "tool": NAME|null, "arguments": {...}|null, "lang": "en"|"de"}]}
`checks` names, for every assistant message i, the tool call it must make (or null: a plain
reply) and the language it must answer in.

Scenarios: order status, late and lost deliveries, returns and refunds, address changes, product
questions, small talk, angry customers, requests outside policy, turns that need a human; in
English and German (the answer is always in the customer's language). Tools (JSON arguments):
lookup_order{order_id}, start_return{order_id, reason}, update_address{order_id, address},
search_products{query}, escalate_to_human{reason}; their results come back as `tool` messages
and the next reply uses them.

Variety: every phrasing is drawn from lists of templates with synonyms, customers write order
ids in several formats (the tool gets the canonical id), names come in several forms, and a
share of customer messages carry typos. Deterministic from --seed. The held-out split uses
templates the training split never uses: every template list is cut into a training part and
a held-out part (every HELDOUT_EVERY-th template), so held-out figures measure generalisation
to new wording, not recall of the training text.

Needs only python3 (stdlib).
"""

import argparse
import json
import random
import sys

HELDOUT_EVERY = 4  # template i is held-out iff i % HELDOUT_EVERY == HELDOUT_EVERY - 1

SYSTEM_PROMPTS = {
    "en": [
        "You are the customer support assistant of Moecat Shop, an online shop for home and garden goods. "
        "Answer in the customer's language, be brief and friendly, and use the tools to look up orders, "
        "start returns, change addresses, search products or hand over to a human colleague.",
        "You help customers of Moecat Shop. Use the tools when you need order data or want to act on an order. "
        "Reply in the language the customer writes in.",
        "Moecat Shop support. Be polite and concise. Use tools for orders, returns, addresses and products; "
        "escalate to a human when the customer asks for one or the case is outside your reach.",
        "You are a support agent for an online shop. Always answer in the customer's language.",
    ],
}
SYSTEM_PROMPTS["de"] = SYSTEM_PROMPTS["en"]  # the system prompt is English; customers write either language

TOOLS = [
    {"type": "function", "function": {
        "name": "lookup_order", "description": "Look up an order by its id: status, carrier, delivery date, items.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}},
    {"type": "function", "function": {
        "name": "start_return", "description": "Start a return for an order; the customer gets a return label.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}, "reason": {"type": "string"}},
                       "required": ["order_id", "reason"]}}},
    {"type": "function", "function": {
        "name": "update_address", "description": "Change the delivery address of an order that has not shipped yet.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}, "address": {"type": "string"}},
                       "required": ["order_id", "address"]}}},
    {"type": "function", "function": {
        "name": "search_products", "description": "Search the product catalogue.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
    {"type": "function", "function": {
        "name": "escalate_to_human", "description": "Hand the conversation over to a human support agent.",
        "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]}}},
]

FIRST = {"en": ["Anna", "James", "Maria", "Tom", "Sarah", "David", "Emma", "Chris", "Laura", "Mike", "Olivia", "Ben"],
         "de": ["Lena", "Jonas", "Sophie", "Lukas", "Mia", "Felix", "Hannah", "Paul", "Julia", "Max", "Lea", "Tim"]}
LAST = {"en": ["Smith", "Brown", "Taylor", "Wilson", "Clark", "Lewis", "Walker", "Young", "King", "Green"],
        "de": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann", "Koch"]}
# Addresses are composed from parts (hundreds of streets, random house numbers and postcodes), so
# the model learns to copy the customer's address into update_address instead of recalling one.
STREET_PARTS = {
    "en": (["Oak", "Maple", "Birch", "Cedar", "Elm", "Willow", "Ash", "Rose", "Hill", "Lake", "River", "Station",
            "Mill", "Church", "Bridge", "Victoria", "Albert", "Queen", "Park", "Meadow", "Orchard", "Chestnut",
            "Hawthorn", "Beech", "Kingsley", "Ferndale", "Ashford", "Brook", "Highfield", "Westfield"],
           ["Street", "Road", "Lane", "Avenue", "Close", "Way", "Drive", "Grove", "Crescent", "Terrace", "Place",
            "Gardens"]),
    "de": (["Linden", "Birken", "Eichen", "Garten", "Schul", "Kirch", "Berg", "Wald", "Feld", "Rosen", "Mühlen",
            "Brunnen", "Sonnen", "Wiesen", "Tal", "Buchen", "Ahorn", "Tannen", "Bahnhof", "Haupt", "Kastanien",
            "Goethe", "Schiller", "Mozart", "Blumen", "Hafen", "Burg", "Kloster", "Markt", "Ulmen"],
           ["straße", "weg", "allee", "gasse", "ring", "platz", "damm", "pfad", "steig", "str."]),
}
CITIES = {"en": ["London", "Leeds", "Bristol", "Dublin", "Manchester", "York", "Cardiff", "Glasgow", "Oxford",
                 "Brighton", "Norwich", "Bath", "Cork", "Galway", "Exeter", "Derby"],
          "de": ["Berlin", "Hamburg", "München", "Köln", "Leipzig", "Wien", "Dresden", "Bremen", "Mainz", "Kassel",
                 "Freiburg", "Graz", "Linz", "Münster", "Bonn", "Erfurt", "Zürich", "Lübeck"]}
PRODUCTS = [  # (name en, name de, price, query words en, query words de)
    ("garden hose 20 m", "Gartenschlauch 20 m", 24.99, "garden hose", "Gartenschlauch"),
    ("LED desk lamp", "LED-Schreibtischlampe", 39.90, "desk lamp", "Schreibtischlampe"),
    ("cotton bed sheet", "Bettlaken aus Baumwolle", 29.50, "bed sheet", "Bettlaken"),
    ("stainless steel kettle", "Wasserkocher aus Edelstahl", 49.00, "kettle", "Wasserkocher"),
    ("office chair", "Bürostuhl", 159.00, "office chair", "Bürostuhl"),
    ("plant pot set", "Pflanztopf-Set", 19.99, "plant pots", "Pflanztöpfe"),
    ("wool blanket", "Wolldecke", 59.00, "blanket", "Wolldecke"),
    ("cordless drill", "Akku-Bohrschrauber", 89.00, "drill", "Bohrschrauber"),
    ("rain boots", "Gummistiefel", 34.95, "rain boots", "Gummistiefel"),
    ("coffee grinder", "Kaffeemühle", 44.90, "coffee grinder", "Kaffeemühle"),
    ("bath towel set", "Badetuch-Set", 27.00, "towels", "Handtücher"),
    ("bike lock", "Fahrradschloss", 22.50, "bike lock", "Fahrradschloss"),
]
CARRIERS = ["DHL", "UPS", "DPD", "Hermes", "GLS"]
DATES = {"en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "tomorrow", "next week"],
         "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "morgen", "nächste Woche"]}
RETURN_REASONS = {"en": ["it arrived damaged", "wrong size", "it does not work", "I changed my mind",
                         "wrong item delivered", "the colour is different from the picture"],
                  "de": ["es kam beschädigt an", "falsche Größe", "es funktioniert nicht", "ich habe es mir anders überlegt",
                         "falscher Artikel geliefert", "die Farbe ist anders als auf dem Bild"]}


def split_pick(rng, items, split):
    """One of `items`: from the training part or the held-out part (see HELDOUT_EVERY). Lists
    shorter than HELDOUT_EVERY are shared by both splits."""
    if len(items) < HELDOUT_EVERY:
        return rng.choice(items)
    held = [t for i, t in enumerate(items) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
    train = [t for i, t in enumerate(items) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
    return rng.choice(held if split == "heldout" else train)


def typos(rng, text, rate, keep=()):
    """Swaps, drops or doubles a few letters, never inside the strings in `keep` (order ids,
    addresses, product queries: what a tool call must copy exactly stays as the customer meant
    it)."""
    if rng.random() >= rate:
        return text
    for i, k in enumerate(keep):  # hidden behind one private-use (non-letter) character each
        text = text.replace(k, chr(0xE000 + i))
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(chars))
        if not chars[i].isalpha() or (i + 1 < len(chars) and not chars[i + 1].isalpha()):
            continue
        op = rng.randrange(3)
        if op == 0 and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op == 1:
            del chars[i]
        else:
            chars.insert(i, chars[i])
    text = "".join(chars)
    for i, k in enumerate(keep):
        text = text.replace(chr(0xE000 + i), k)
    return text


def order_id(rng):
    """(canonical id, how the customer writes it)."""
    kind = rng.randrange(3)
    if kind == 0:
        n = "%08d" % rng.randrange(10 ** 7, 10 ** 8)
        return n, rng.choice([n, "#" + n, "Nr. " + n if rng.random() < 0.3 else n])
    if kind == 1:
        n = "A%05d" % rng.randrange(10 ** 5)
        return n, rng.choice([n, n.lower(), "A-" + n[1:], "#" + n])
    n = "MC-%04d-%04d" % (rng.randrange(2023, 2027), rng.randrange(10 ** 4))
    return n, rng.choice([n, n.lower(), n.replace("-", " ")])


def person(rng, lang):
    return rng.choice(FIRST[lang]), rng.choice(LAST[lang])


def address(rng, lang):
    first, suffix = STREET_PARTS[lang]
    num = str(rng.randrange(1, 250)) + (rng.choice("abc") if rng.random() < 0.1 else "")
    city = rng.choice(CITIES[lang])
    if lang == "de":
        street = rng.choice(first) + rng.choice(suffix)
        if rng.random() < 0.15:
            street = rng.choice(["Am ", "An der ", "Im "]) + rng.choice(first) + rng.choice(["hof", "feld", "berg", "tor"])
        return "%s %s, %05d %s" % (street, num, rng.randrange(1000, 99999), city)
    street = rng.choice(first) + " " + rng.choice(suffix)
    letters = "ABCDEFGHJKLMNPRSTUWY"
    zipc = "%s%s%d %d%s%s" % (rng.choice(letters), rng.choice(letters), rng.randrange(1, 20), rng.randrange(10),
                              rng.choice(letters), rng.choice(letters))
    return "%s %s, %s %s" % (num, street, city, zipc)


SYLLABLES = ["ka", "lo", "ber", "vin", "tor", "mel", "sa", "dru", "fen", "gal", "hol", "ris", "pa", "ne", "quin",
             "wal", "zer", "mo", "tis", "ran", "ko", "bel", "stro", "ham", "li", "dor", "ve", "nu", "gre", "sel"]


def pseudo_word(rng):
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def copy_address(rng, lang):
    """An address whose street (and often city) is a made-up word: only copying it from the
    customer's message gets it right (training split only, --copy-practice)."""
    a = address(rng, lang)
    street = pseudo_word(rng)
    if lang == "de":
        head, tail = a.split(", ", 1)
        num = head.rsplit(" ", 1)[1]
        head = street + rng.choice(STREET_PARTS["de"][1]) + " " + num
    else:
        head, tail = a.split(", ", 1)
        num = head.split(" ", 1)[0]
        head = num + " " + street + " " + rng.choice(STREET_PARTS["en"][1])
    if rng.random() < 0.5:
        city, rest = (tail.split(" ", 1) + [""])[:2] if lang == "en" else (tail.split(" ", 1)[1], tail.split(" ", 1)[0])
        tail = (pseudo_word(rng) + " " + rest).strip() if lang == "en" else rest + " " + pseudo_word(rng)
    return head + ", " + tail


def call(name, args):
    return {"name": name, "arguments": args}


class Conv:
    def __init__(self, lang, scenario, system):
        self.lang, self.scenario = lang, scenario
        self.messages = [{"role": "system", "content": system}]
        self.checks = []
        self.n_calls = 0

    def user(self, text):
        self.messages.append({"role": "user", "content": text})

    def reply(self, text):
        self.checks.append({"turn": len(self.messages), "tool": None, "arguments": None, "lang": self.lang})
        self.messages.append({"role": "assistant", "content": text})

    def tool(self, name, args, result):
        self.checks.append({"turn": len(self.messages), "tool": name, "arguments": args, "lang": self.lang})
        cid = "call_%d" % self.n_calls
        self.n_calls += 1
        self.messages.append({"role": "assistant", "content": "", "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}]})
        self.messages.append({"role": "tool", "tool_call_id": cid, "content": json.dumps(result, ensure_ascii=False)})

    def out(self):
        return {"lang": self.lang, "scenario": self.scenario, "tools": TOOLS, "messages": self.messages,
                "checks": self.checks}


# Phrasings. Every list is split between training and held-out templates (split_pick).
T = {
    "greet": {"en": ["Hi", "Hello", "Hey", "Good morning", "Hi there", "Hello support", "Good evening", "Hey team"],
              "de": ["Hallo", "Guten Tag", "Hi", "Moin", "Guten Morgen", "Servus", "Hallo zusammen", "Grüß Gott"]},
    "status": {"en": ["where is my order {id}?", "can you tell me the status of order {id}", "has order {id} shipped yet?",
                      "I'd like to know when order {id} arrives", "any update on my order {id}?",
                      "what's happening with {id}", "please check order {id} for me", "when will {id} be delivered?",
                      "I ordered something last week, order {id}, where is it?",
                      "could you track order {id} please",
                      "status of {id}?",
                      "I'm still waiting for order {id}, can you look it up",
                      "is {id} on its way?",
                      "tracking info for order {id} please",
                      "wanted to check on my purchase {id}",
                      "what's the delivery date for {id}?"],
               "de": ["wo ist meine Bestellung {id}?", "können Sie mir den Status der Bestellung {id} sagen",
                      "ist die Bestellung {id} schon verschickt?", "wann kommt meine Bestellung {id} an?",
                      "gibt es Neuigkeiten zu meiner Bestellung {id}?", "was ist mit {id} los",
                      "bitte prüfen Sie die Bestellung {id}", "wann wird {id} geliefert?",
                      "ich habe letzte Woche bestellt, Bestellung {id}, wo ist sie?",
                      "könnten Sie die Bestellung {id} verfolgen",
                      "Status von {id}?",
                      "ich warte noch auf die Bestellung {id}, können Sie nachsehen",
                      "ist {id} unterwegs?",
                      "Sendungsverfolgung für die Bestellung {id} bitte",
                      "ich wollte nach meinem Einkauf {id} fragen",
                      "wann ist der Liefertermin für {id}?"]},
    "ask_id": {"en": ["Sure, I can help with that. What is your order number?", "Happy to check. Could you give me the order number?",
                      "Of course. Which order is it? Please send me the order id.", "I'll look into it. What's the order number?"],
               "de": ["Gerne helfe ich Ihnen. Wie lautet Ihre Bestellnummer?", "Das prüfe ich gern. Können Sie mir die Bestellnummer nennen?",
                      "Natürlich. Um welche Bestellung geht es? Bitte senden Sie mir die Bestellnummer.",
                      "Ich schaue nach. Wie ist die Bestellnummer?"]},
    "no_id": {"en": ["where is my package?", "my order hasn't arrived", "I want to know where my stuff is",
                     "can you check my delivery", "when does my parcel come?",
                      "I haven't received my order yet",
                      "my parcel is missing",
                      "where's my delivery?"],
              "de": ["wo ist mein Paket?", "meine Bestellung ist nicht angekommen", "ich möchte wissen wo meine Sachen sind",
                     "können Sie meine Lieferung prüfen", "wann kommt mein Paket?",
                      "ich habe meine Bestellung noch nicht bekommen",
                      "mein Paket fehlt",
                      "wo bleibt meine Lieferung?"]},
    "give_id": {"en": ["it's {id}", "{id}", "the number is {id}", "order {id}", "sure: {id}"],
                "de": ["die Nummer ist {id}", "{id}", "Bestellung {id}", "klar: {id}", "es ist {id}"]},
    "shipped": {"en": ["Your order {cid} was shipped with {carrier} and should arrive {eta}.",
                       "Good news: order {cid} is on its way with {carrier}. Expected delivery: {eta}.",
                       "Order {cid} has shipped ({carrier}); it should be with you {eta}.",
                       "I checked order {cid}: it's in transit with {carrier}, arriving {eta}."],
                "de": ["Ihre Bestellung {cid} wurde mit {carrier} verschickt und sollte {eta} ankommen.",
                       "Gute Nachricht: Die Bestellung {cid} ist mit {carrier} unterwegs. Voraussichtliche Lieferung: {eta}.",
                       "Die Bestellung {cid} ist verschickt ({carrier}) und sollte {eta} bei Ihnen sein.",
                       "Ich habe die Bestellung {cid} geprüft: Sie ist mit {carrier} unterwegs und kommt {eta}."]},
    "processing": {"en": ["Order {cid} is still being prepared in our warehouse; it will ship soon and should arrive {eta}.",
                          "Your order {cid} has not shipped yet, it is being packed. Expected delivery: {eta}."],
                   "de": ["Die Bestellung {cid} wird noch im Lager vorbereitet; sie wird bald verschickt und sollte {eta} ankommen.",
                          "Ihre Bestellung {cid} ist noch nicht verschickt, sie wird gerade verpackt. Voraussichtliche Lieferung: {eta}."]},
    "delivered": {"en": ["According to {carrier}, order {cid} was delivered on {eta}. If you can't find it, please check with your neighbours.",
                         "Order {cid} shows as delivered by {carrier} on {eta}."],
                  "de": ["Laut {carrier} wurde die Bestellung {cid} am {eta} zugestellt. Falls Sie sie nicht finden, fragen Sie bitte bei den Nachbarn nach.",
                         "Die Bestellung {cid} wurde laut {carrier} am {eta} zugestellt."]},
    "late_q": {"en": ["my order {id} is late, it should have arrived days ago", "order {id} still hasn't come, what's going on?",
                      "I've been waiting forever for {id}", "delivery of {id} is overdue", "{id} was due last week and is not here",
                      "order {id} is two weeks late now",
                      "still no sign of {id} and the delivery date has passed",
                      "why is {id} taking so long?",
                      "my delivery {id} never came",
                      "{id} was supposed to be here on Monday, nothing yet",
                      "the tracking for {id} hasn't moved in ten days",
                      "it's been ages, where is {id}"],
               "de": ["meine Bestellung {id} ist verspätet, sie hätte schon längst da sein sollen",
                      "die Bestellung {id} ist immer noch nicht da, was ist los?", "ich warte schon ewig auf {id}",
                      "die Lieferung von {id} ist überfällig", "{id} sollte letzte Woche kommen und ist nicht da",
                      "die Bestellung {id} ist jetzt zwei Wochen zu spät",
                      "von {id} ist immer noch nichts zu sehen und der Termin ist vorbei",
                      "warum dauert {id} so lange?",
                      "meine Lieferung {id} ist nie gekommen",
                      "{id} sollte am Montag da sein, bisher nichts",
                      "die Sendungsverfolgung von {id} bewegt sich seit zehn Tagen nicht",
                      "das dauert ewig, wo bleibt {id}"]},
    "delayed": {"en": ["I'm sorry for the wait. Order {cid} is delayed at {carrier}; the new delivery date is {eta}.",
                       "Apologies! {carrier} reports a delay for order {cid}. It should now arrive {eta}.",
                       "Sorry about that. Order {cid} is held up with {carrier} and is expected {eta}."],
                "de": ["Entschuldigen Sie die Wartezeit. Die Bestellung {cid} verzögert sich bei {carrier}; der neue Liefertermin ist {eta}.",
                       "Das tut mir leid! {carrier} meldet eine Verzögerung für die Bestellung {cid}. Sie sollte jetzt {eta} ankommen.",
                       "Entschuldigung. Die Bestellung {cid} hängt bei {carrier} fest und wird {eta} erwartet."]},
    "lost": {"en": ["I'm very sorry: {carrier} has reported order {cid} as lost. I'm passing this to a colleague who will arrange a replacement or refund.",
                    "Unfortunately order {cid} was lost by {carrier}. A human colleague will take over to sort out a replacement."],
             "de": ["Das tut mir sehr leid: {carrier} hat die Bestellung {cid} als verloren gemeldet. Ich gebe das an einen Kollegen weiter, der Ersatz oder Erstattung veranlasst.",
                    "Leider ist die Bestellung {cid} bei {carrier} verloren gegangen. Ein Kollege übernimmt und kümmert sich um Ersatz."]},
    "lost_reason": {"en": "order {cid} lost by carrier", "de": "Bestellung {cid} beim Versand verloren"},
    "return_q": {"en": ["I want to return order {id}, {reason}", "please start a return for {id}: {reason}",
                        "can I send back {id}? {reason}", "return request for order {id} because {reason}",
                        "I need to return {id}, {reason}", "how do I return order {id}? {reason}",
                      "I'd like to send order {id} back: {reason}",
                      "{id} has to go back, {reason}",
                      "refund please for order {id}, {reason}",
                      "I'm not happy with {id}, {reason}. Can I return it?",
                      "return {id} please - {reason}",
                      "I want my money back for order {id} since {reason}"],
                 "de": ["ich möchte die Bestellung {id} zurückschicken, {reason}", "bitte starten Sie eine Rücksendung für {id}: {reason}",
                        "kann ich {id} zurückgeben? {reason}", "Rücksendung für Bestellung {id}, weil {reason}",
                        "ich muss {id} retournieren, {reason}", "wie schicke ich die Bestellung {id} zurück? {reason}",
                      "ich möchte die Bestellung {id} zurücksenden: {reason}",
                      "{id} muss zurück, {reason}",
                      "bitte erstatten Sie die Bestellung {id}, {reason}",
                      "ich bin mit {id} nicht zufrieden, {reason}. Kann ich es zurückgeben?",
                      "Rückgabe von {id} bitte - {reason}",
                      "ich will mein Geld für die Bestellung {id} zurück, da {reason}"]},
    "returned": {"en": ["Done: return {rid} for order {cid} is started. The return label was sent to your email; the refund of {amount} EUR follows once we receive the item.",
                        "I've started return {rid} for order {cid}. You'll get a label by email, and {amount} EUR will be refunded after the parcel arrives.",
                        "Your return {rid} is set up. Please use the label in your inbox; we refund {amount} EUR when the item is back."],
                 "de": ["Erledigt: Die Rücksendung {rid} für die Bestellung {cid} ist angelegt. Das Etikett kam per E-Mail; die Erstattung von {amount} EUR folgt nach Eingang der Ware.",
                        "Ich habe die Rücksendung {rid} für die Bestellung {cid} gestartet. Sie erhalten ein Etikett per E-Mail, {amount} EUR werden nach Eingang erstattet.",
                        "Ihre Rücksendung {rid} ist angelegt. Bitte nutzen Sie das Etikett aus Ihrem Postfach; wir erstatten {amount} EUR, sobald die Ware zurück ist."]},
    "return_late": {"en": ["I'm sorry, order {cid} is outside the 30-day return window, so I can't start a return.",
                           "Unfortunately the return period for order {cid} has ended (30 days)."],
                    "de": ["Es tut mir leid, die Bestellung {cid} liegt außerhalb der 30-tägigen Rückgabefrist, daher kann ich keine Rücksendung starten.",
                           "Leider ist die Rückgabefrist für die Bestellung {cid} abgelaufen (30 Tage)."]},
    "addr_q": {"en": ["please change the delivery address of {id} to {addr}", "I moved, can you send order {id} to {addr}?",
                      "new address for order {id}: {addr}", "could you update the shipping address for {id}? it should go to {addr}",
                      "wrong address on {id}, please use {addr}",
                      "send order {id} to {addr} instead please",
                      "my address changed, order {id} should go to {addr}",
                      "ship {id} to this address: {addr}",
                      "can you redirect order {id}? new address: {addr}",
                      "please deliver {id} to {addr}",
                      "address update for {id} -> {addr}",
                      "I typed the wrong address for {id}, the right one is {addr}"],
               "de": ["bitte ändern Sie die Lieferadresse von {id} auf {addr}", "ich bin umgezogen, können Sie die Bestellung {id} an {addr} schicken?",
                      "neue Adresse für die Bestellung {id}: {addr}", "könnten Sie die Lieferadresse für {id} ändern? sie soll an {addr} gehen",
                      "falsche Adresse bei {id}, bitte {addr} verwenden",
                      "schicken Sie die Bestellung {id} bitte stattdessen an {addr}",
                      "meine Adresse hat sich geändert, die Bestellung {id} soll an {addr}",
                      "liefern Sie {id} an diese Adresse: {addr}",
                      "können Sie die Bestellung {id} umleiten? neue Adresse: {addr}",
                      "bitte {id} an {addr} liefern",
                      "Adressänderung für {id} -> {addr}",
                      "ich habe bei {id} die falsche Adresse angegeben, richtig ist {addr}"]},
    "addr_ok": {"en": ["The delivery address of order {cid} is now {addr}.", "Done! Order {cid} will go to {addr}.",
                       "I've updated order {cid}: new address {addr}."],
                "de": ["Die Lieferadresse der Bestellung {cid} ist jetzt {addr}.", "Erledigt! Die Bestellung {cid} geht an {addr}.",
                       "Ich habe die Bestellung {cid} geändert: neue Adresse {addr}."]},
    "addr_no": {"en": ["Sorry, order {cid} has already shipped, so the address can't be changed anymore. You can ask {carrier} to redirect it.",
                       "Order {cid} is already on its way, I can't change the address now. {carrier} may be able to redirect the parcel."],
                "de": ["Leider ist die Bestellung {cid} schon verschickt, die Adresse kann nicht mehr geändert werden. Sie können {carrier} um eine Umleitung bitten.",
                       "Die Bestellung {cid} ist bereits unterwegs, ich kann die Adresse nicht mehr ändern. {carrier} kann das Paket eventuell umleiten."]},
    "prod_q": {"en": ["do you sell a {q}?", "I'm looking for a {q}", "do you have {q} in stock?", "what {q} do you have?",
                      "can you recommend a {q}", "is there a {q} available",
                      "I need a {q}",
                      "got any {q}?",
                      "how much is a {q}?",
                      "looking to buy a {q}",
                      "show me your {q}",
                      "do you carry {q}?"],
               "de": ["verkaufen Sie {q}?", "ich suche {q}", "haben Sie {q} auf Lager?", "welche {q} haben Sie?",
                      "können Sie mir {q} empfehlen", "gibt es {q} bei Ihnen",
                      "ich brauche {q}",
                      "habt ihr {q}?",
                      "was kostet {q}?",
                      "ich möchte {q} kaufen",
                      "zeigen Sie mir {q}",
                      "führen Sie {q}?"]},
    "prod_found": {"en": ["Yes! We have the {name} for {price} EUR{stock}.", "I found the {name} at {price} EUR{stock}.",
                          "We carry the {name}, priced at {price} EUR{stock}."],
                   "de": ["Ja! Wir haben {name} für {price} EUR{stock}.", "Ich habe {name} für {price} EUR gefunden{stock}.",
                          "Wir führen {name} zum Preis von {price} EUR{stock}."]},
    "prod_none": {"en": ["Sorry, I couldn't find a {q} in our catalogue.", "We don't carry {q} at the moment, sorry."],
                  "de": ["Leider habe ich {q} nicht in unserem Sortiment gefunden.", "{q} führen wir derzeit leider nicht."]},
    "smalltalk": {"en": [("how are you?", "I'm doing well, thanks for asking! How can I help you today?"),
                         ("thanks a lot!", "You're welcome! Is there anything else I can do for you?"),
                         ("are you a robot?", "I'm the shop's virtual assistant. I can check orders, start returns, change addresses and find products."),
                         ("what can you do?", "I can look up orders, start returns, change delivery addresses, search products, or connect you with a colleague."),
                         ("have a nice day", "Thank you, you too! Feel free to come back any time."),
                         ("thank you, that's all", "Glad I could help. Have a great day!"),
                         ("nice weather today", "It is! If there's anything about your orders I can help with, just ask."),
                         ("good job", "Thank you! Let me know if you need anything else.")],
                  "de": [("wie geht es dir?", "Danke, mir geht es gut! Wie kann ich Ihnen heute helfen?"),
                         ("vielen Dank!", "Gern geschehen! Kann ich sonst noch etwas für Sie tun?"),
                         ("bist du ein Roboter?", "Ich bin der virtuelle Assistent des Shops. Ich kann Bestellungen prüfen, Rücksendungen starten, Adressen ändern und Produkte finden."),
                         ("was kannst du?", "Ich kann Bestellungen nachschlagen, Rücksendungen starten, Lieferadressen ändern, Produkte suchen oder Sie mit einem Kollegen verbinden."),
                         ("schönen Tag noch", "Danke, Ihnen auch! Melden Sie sich gern jederzeit wieder."),
                         ("danke, das war alles", "Schön, dass ich helfen konnte. Einen schönen Tag!"),
                         ("schönes Wetter heute", "Stimmt! Wenn ich bei Ihren Bestellungen helfen kann, fragen Sie einfach."),
                         ("gut gemacht", "Danke! Sagen Sie Bescheid, wenn Sie noch etwas brauchen.")]},
    "angry": {"en": ["this is ridiculous!!! where is my order {id}", "worst service ever. {id} still not here",
                     "I'm so angry, order {id} is a disaster", "are you kidding me? {id} should have been here a week ago",
                     "unacceptable! what happened to {id}?",
                      "I'm fed up! order {id} is STILL missing",
                      "you people are useless, where is {id}?",
                      "terrible!! {id} hasn't arrived"],
              "de": ["das ist lächerlich!!! wo ist meine Bestellung {id}", "schlechtester Service überhaupt. {id} ist immer noch nicht da",
                     "ich bin echt sauer, die Bestellung {id} ist eine Katastrophe", "soll das ein Witz sein? {id} hätte vor einer Woche hier sein sollen",
                     "inakzeptabel! was ist mit {id} passiert?",
                      "mir reicht's! die Bestellung {id} fehlt IMMER noch",
                      "ihr seid nutzlos, wo ist {id}?",
                      "furchtbar!! {id} ist nicht angekommen"]},
    "sorry": {"en": ["I completely understand your frustration, and I'm sorry. ", "I'm really sorry about this. ",
                     "You're right to be upset, I apologise. "],
              "de": ["Ich verstehe Ihren Ärger vollkommen, das tut mir leid. ", "Das tut mir wirklich leid. ",
                     "Ihr Ärger ist berechtigt, ich entschuldige mich. "]},
    # (request outside policy, refusal). Kinds: discounts and prices, tasks unrelated to the shop,
    # other people's data, impossible deliveries, old refunds, payment terms, rule-breaking.
    "policy": {"en": [("can I get a 50% discount?", "I'm sorry, I can't give discounts. Our prices are the same for everyone."),
                      ("can you write my homework essay?", "Sorry, I can only help with questions about Moecat Shop orders and products."),
                      ("I want a refund for an order from two years ago", "I'm sorry, refunds are only possible within 30 days of delivery."),
                      ("give me the home address of your CEO", "I'm sorry, I can't share personal information about anyone."),
                      ("can you ship to Mars?", "I'm afraid we only deliver within Europe."),
                      ("tell me another customer's order status", "Sorry, I can only discuss orders of the person I'm talking to."),
                      ("can I pay next year?", "I'm sorry, we don't offer payment deferrals of that length."),
                      ("what's the bitcoin price?", "Sorry, I can only help with questions about your orders and our products."),
                      ("give me a voucher code for free stuff", "I'm sorry, I can't hand out vouchers. Our offers are on the website."),
                      ("write me a poem about cats", "Sorry, I can only help with Moecat Shop orders, returns and products."),
                      ("what's the phone number of your employee Laura?", "I'm sorry, I can't share personal details of our staff."),
                      ("can you deliver to the moon by tomorrow?", "I'm afraid we only deliver within Europe, and not overnight."),
                      ("I want my money back for something I bought last year", "I'm sorry, refunds are only possible within 30 days of delivery."),
                      ("can I pay in 48 monthly instalments?", "I'm sorry, we don't offer instalment plans of that length."),
                      ("match the price of the cheaper shop next door", "I'm sorry, we don't match other shops' prices."),
                      ("who won the football match yesterday?", "Sorry, I can only help with questions about your orders and our products."),
                      ("sell me the desk lamp for half price", "I'm sorry, I can't change prices. They are the same for everyone."),
                      ("tell me what my neighbour ordered", "Sorry, I can only discuss orders of the person I'm talking to."),
                      ("can you ship a parcel to Australia?", "I'm afraid we only deliver within Europe."),
                      ("help me fix my computer", "Sorry, I can only help with Moecat Shop orders, returns and products."),
                      ("give me free shipping on everything forever", "I'm sorry, I can't change our shipping terms."),
                      ("can I return food I already ate?", "I'm sorry, used or eaten goods can't be returned."),
                      ("what is the email address of your boss?", "I'm sorry, I can't share personal information about anyone."),
                      ("can I pay with a cheque in 2030?", "I'm sorry, we don't offer payment deferrals of that length.")],
               "de": [("kann ich 50% Rabatt bekommen?", "Es tut mir leid, ich kann keine Rabatte gewähren. Unsere Preise gelten für alle gleich."),
                      ("kannst du meine Hausaufgaben schreiben?", "Leider kann ich nur bei Fragen zu Bestellungen und Produkten von Moecat Shop helfen."),
                      ("ich will Geld zurück für eine Bestellung von vor zwei Jahren", "Es tut mir leid, Erstattungen sind nur innerhalb von 30 Tagen nach Lieferung möglich."),
                      ("gib mir die Privatadresse eures Chefs", "Es tut mir leid, ich kann keine persönlichen Daten weitergeben."),
                      ("liefert ihr auch zum Mars?", "Wir liefern leider nur innerhalb Europas."),
                      ("sag mir den Bestellstatus eines anderen Kunden", "Ich kann leider nur über Ihre eigenen Bestellungen sprechen."),
                      ("kann ich nächstes Jahr bezahlen?", "Es tut mir leid, so lange Zahlungsaufschübe bieten wir nicht an."),
                      ("wie steht der Bitcoin-Kurs?", "Leider kann ich nur bei Fragen zu Ihren Bestellungen und unseren Produkten helfen."),
                      ("gib mir einen Gutscheincode für Gratisartikel", "Es tut mir leid, ich kann keine Gutscheine vergeben. Unsere Angebote finden Sie auf der Website."),
                      ("schreib mir ein Gedicht über Katzen", "Leider kann ich nur bei Bestellungen, Rücksendungen und Produkten von Moecat Shop helfen."),
                      ("wie ist die Telefonnummer Ihrer Mitarbeiterin Julia?", "Es tut mir leid, ich kann keine persönlichen Daten unserer Mitarbeiter weitergeben."),
                      ("könnt ihr bis morgen auf den Mond liefern?", "Wir liefern leider nur innerhalb Europas und nicht über Nacht."),
                      ("ich will mein Geld für etwas zurück, das ich letztes Jahr gekauft habe", "Es tut mir leid, Erstattungen sind nur innerhalb von 30 Tagen nach Lieferung möglich."),
                      ("kann ich in 48 Monatsraten zahlen?", "Es tut mir leid, so lange Ratenzahlungen bieten wir nicht an."),
                      ("unterbieten Sie den Preis vom Laden nebenan", "Es tut mir leid, wir passen unsere Preise nicht an andere Shops an."),
                      ("wer hat gestern das Fußballspiel gewonnen?", "Leider kann ich nur bei Fragen zu Ihren Bestellungen und unseren Produkten helfen."),
                      ("verkauf mir die Schreibtischlampe zum halben Preis", "Es tut mir leid, ich kann Preise nicht ändern. Sie gelten für alle gleich."),
                      ("sag mir, was mein Nachbar bestellt hat", "Ich kann leider nur über Ihre eigenen Bestellungen sprechen."),
                      ("könnt ihr ein Paket nach Australien schicken?", "Wir liefern leider nur innerhalb Europas."),
                      ("hilf mir, meinen Computer zu reparieren", "Leider kann ich nur bei Bestellungen, Rücksendungen und Produkten von Moecat Shop helfen."),
                      ("gib mir für immer kostenlosen Versand", "Es tut mir leid, ich kann unsere Versandbedingungen nicht ändern."),
                      ("kann ich Lebensmittel zurückgeben, die ich schon gegessen habe?", "Es tut mir leid, benutzte oder verzehrte Waren können nicht zurückgegeben werden."),
                      ("wie ist die E-Mail-Adresse Ihres Chefs?", "Es tut mir leid, ich kann keine persönlichen Daten weitergeben."),
                      ("kann ich im Jahr 2030 per Scheck bezahlen?", "Es tut mir leid, so lange Zahlungsaufschübe bieten wir nicht an.")]},
    # (message, escalation reason). Grouped by kind (asks for a person, billing, payment, legal,
    # safety, courier, account and data, business orders), several of each, so that a held-out
    # message always has training siblings of its kind.
    "human": {"en": [("I want to talk to a human", "customer asked for a human agent"),
                     ("let me speak to a real person please", "customer asked for a human agent"),
                     ("I'm going to take legal action about order {id}", "legal threat about order {cid}"),
                     ("I was charged twice for order {id}", "double charge on order {cid}"),
                     ("my parcel {id} arrived and the item inside was dangerous, it caught fire", "safety incident with order {cid}"),
                     ("connect me with your manager", "customer asked for a manager"),
                     ("I need to change the payment method of order {id}", "payment change for order {cid}"),
                     ("your courier damaged my door delivering {id}", "property damage during delivery of order {cid}"),
                     ("can I talk to someone from your team?", "customer asked for a human agent"),
                     ("the amount charged for order {id} is wrong", "wrong charge on order {cid}"),
                     ("I'll report you to consumer protection over order {id}", "complaint to authorities about order {cid}"),
                     ("the kettle from order {id} gave me an electric shock", "safety incident with order {cid}"),
                     ("I'd rather speak to a person, not a bot", "customer asked for a human agent"),
                     ("my refund for order {id} never arrived on my card", "missing refund for order {cid}"),
                     ("the delivery driver threw parcel {id} over the fence and was rude", "courier complaint about order {cid}"),
                     ("please delete my account and all my data", "data deletion request"),
                     ("get me a supervisor right now", "customer asked for a supervisor"),
                     ("there is a charge on my card for order {id} that I don't recognise", "unknown charge for order {cid}"),
                     ("someone placed order {id} from my account without my permission", "possible account misuse, order {cid}"),
                     ("the chair from order {id} broke and I got hurt", "injury caused by order {cid}"),
                     ("I need an invoice with my company name for order {id}", "invoice change for order {cid}"),
                     ("I want to order 300 office chairs for my company, who can make me an offer?", "business bulk order request"),
                     ("my lawyer will contact you about order {id}", "legal threat about order {cid}"),
                     ("I think my account was hacked", "possible account compromise"),
                     ("can I pay order {id} by bank transfer instead of card?", "payment change for order {cid}"),
                     ("the courier scratched my car when delivering {id}", "property damage during delivery of order {cid}"),
                     ("put me through to an agent please", "customer asked for a human agent"),
                     ("I paid for order {id} but your system says it is unpaid", "payment problem on order {cid}"),
                     ("please send me a copy of all the data you store about me", "data access request"),
                     ("the lamp from order {id} started smoking", "safety incident with order {cid}"),
                     ("is there a human I can talk to?", "customer asked for a human agent"),
                     ("we are a hotel and want to buy towels in bulk every month", "business bulk order request")],
              "de": [("ich möchte mit einem Menschen sprechen", "Kunde möchte einen menschlichen Mitarbeiter"),
                     ("bitte verbinden Sie mich mit einer echten Person", "Kunde möchte einen menschlichen Mitarbeiter"),
                     ("ich werde wegen der Bestellung {id} rechtliche Schritte einleiten", "rechtliche Drohung zu Bestellung {cid}"),
                     ("mir wurde die Bestellung {id} doppelt berechnet", "doppelte Abbuchung bei Bestellung {cid}"),
                     ("mein Paket {id} kam an und der Artikel darin hat Feuer gefangen", "Sicherheitsvorfall mit Bestellung {cid}"),
                     ("verbinden Sie mich mit Ihrem Vorgesetzten", "Kunde möchte einen Vorgesetzten"),
                     ("ich muss die Zahlungsart der Bestellung {id} ändern", "Änderung der Zahlungsart für Bestellung {cid}"),
                     ("Ihr Bote hat bei der Lieferung von {id} meine Tür beschädigt", "Sachschaden bei Lieferung von Bestellung {cid}"),
                     ("kann ich mit jemandem aus Ihrem Team sprechen?", "Kunde möchte einen menschlichen Mitarbeiter"),
                     ("der Betrag für die Bestellung {id} ist falsch abgebucht", "falsche Abbuchung bei Bestellung {cid}"),
                     ("ich melde Sie wegen der Bestellung {id} bei der Verbraucherzentrale", "Beschwerde bei Behörden zu Bestellung {cid}"),
                     ("der Wasserkocher aus der Bestellung {id} hat mir einen Stromschlag gegeben", "Sicherheitsvorfall mit Bestellung {cid}"),
                     ("ich will lieber mit einem Menschen reden, nicht mit einem Bot", "Kunde möchte einen menschlichen Mitarbeiter"),
                     ("meine Erstattung für die Bestellung {id} ist nie angekommen", "fehlende Erstattung für Bestellung {cid}"),
                     ("der Fahrer hat das Paket {id} über den Zaun geworfen und war unhöflich", "Beschwerde über Zusteller zu Bestellung {cid}"),
                     ("bitte löschen Sie mein Konto und alle meine Daten", "Antrag auf Datenlöschung"),
                     ("holen Sie sofort einen Vorgesetzten", "Kunde möchte einen Vorgesetzten"),
                     ("auf meiner Karte ist eine Abbuchung für die Bestellung {id}, die ich nicht kenne", "unbekannte Abbuchung für Bestellung {cid}"),
                     ("jemand hat die Bestellung {id} ohne meine Erlaubnis über mein Konto bestellt", "möglicher Kontomissbrauch, Bestellung {cid}"),
                     ("der Stuhl aus der Bestellung {id} ist zusammengebrochen und ich habe mich verletzt", "Verletzung durch Bestellung {cid}"),
                     ("ich brauche eine Rechnung mit meinem Firmennamen für die Bestellung {id}", "Rechnungsänderung für Bestellung {cid}"),
                     ("ich möchte 300 Bürostühle für meine Firma bestellen, wer macht mir ein Angebot?", "Anfrage für Großbestellung"),
                     ("mein Anwalt wird sich wegen der Bestellung {id} bei Ihnen melden", "rechtliche Drohung zu Bestellung {cid}"),
                     ("ich glaube, mein Konto wurde gehackt", "mögliche Kontoübernahme"),
                     ("kann ich die Bestellung {id} per Überweisung statt mit Karte bezahlen?", "Änderung der Zahlungsart für Bestellung {cid}"),
                     ("der Bote hat bei der Lieferung von {id} mein Auto zerkratzt", "Sachschaden bei Lieferung von Bestellung {cid}"),
                     ("bitte stellen Sie mich zu einem Mitarbeiter durch", "Kunde möchte einen menschlichen Mitarbeiter"),
                     ("ich habe die Bestellung {id} bezahlt, aber Ihr System sagt unbezahlt", "Zahlungsproblem bei Bestellung {cid}"),
                     ("bitte schicken Sie mir eine Kopie aller Daten, die Sie über mich speichern", "Auskunftsersuchen zu Daten"),
                     ("die Lampe aus der Bestellung {id} hat angefangen zu qualmen", "Sicherheitsvorfall mit Bestellung {cid}"),
                     ("gibt es einen Menschen, mit dem ich sprechen kann?", "Kunde möchte einen menschlichen Mitarbeiter"),
                     ("wir sind ein Hotel und möchten jeden Monat Handtücher in großen Mengen kaufen", "Anfrage für Großbestellung")]},
    "handed": {"en": ["I've passed your case to a human colleague (ticket {tid}). They will get back to you shortly.",
                      "A colleague will take over from here; your ticket number is {tid}.",
                      "I've handed this over to our team (ticket {tid}). Someone will contact you soon."],
               "de": ["Ich habe Ihr Anliegen an einen Kollegen weitergegeben (Ticket {tid}). Er meldet sich in Kürze.",
                      "Ein Kollege übernimmt ab hier; Ihre Ticketnummer ist {tid}.",
                      "Ich habe das an unser Team übergeben (Ticket {tid}). Jemand meldet sich bald bei Ihnen."]},
    "followup": {"en": ["thanks!", "ok great, thank you", "perfect", "thanks for your help", "alright"],
                 "de": ["danke!", "ok super, danke", "perfekt", "danke für die Hilfe", "alles klar"]},
    "bye": {"en": ["You're welcome! Anything else I can help with?", "Glad to help. Have a nice day!", "Any time!"],
            "de": ["Gern geschehen! Kann ich sonst noch helfen?", "Gern geholfen. Einen schönen Tag!", "Jederzeit gern!"]},
}


class Gen:
    def __init__(self, seed, split, copy_practice=0.0):
        self.rng = random.Random(seed)
        self.split = split
        self.copy_practice = copy_practice if split == "train" else 0.0

    def t(self, key, lang):
        return split_pick(self.rng, T[key][lang], self.split)

    def opener(self, lang, text, keep=()):
        r = self.rng
        if r.random() < 0.5:
            text = self.t("greet", lang) + r.choice([", ", "! ", ". ", " "]) + text
        if r.random() < 0.3:
            f, l = person(r, lang)
            text += r.choice([" - %s %s" % (f, l), "\n%s" % f, " (%s %s)" % (f, l), ""])
        if r.random() < 0.5:
            text = text[0].upper() + text[1:]
        return typos(r, text, 0.25, keep)

    def order(self, lang, status=None):
        r = self.rng
        status = status or r.choice(["shipped", "shipped", "processing", "delivered"])
        n_items = r.randint(1, 3)
        items = [r.choice(PRODUCTS)[0 if lang == "en" else 1] for _ in range(n_items)]
        return {"status": status, "carrier": r.choice(CARRIERS), "eta": r.choice(DATES[lang]), "items": items}

    def conv(self, lang, scenario):
        return Conv(lang, scenario, split_pick(self.rng, SYSTEM_PROMPTS[lang], self.split))

    def maybe_followup(self, c):
        if self.rng.random() < 0.35:
            c.user(typos(self.rng, self.t("followup", c.lang), 0.2))
            c.reply(self.t("bye", c.lang))

    def order_status(self, lang):
        c = self.conv(lang, "order_status")
        cid, written = order_id(self.rng)
        if self.rng.random() < 0.3:  # no id first: ask for it
            c.user(self.opener(lang, self.t("no_id", lang)))
            c.reply(self.t("ask_id", lang))
            c.user(typos(self.rng, self.t("give_id", lang).format(id=written), 0.1, (written,)))
        else:
            c.user(self.opener(lang, self.t("status", lang).format(id=written), (written,)))
        o = self.order(lang, "lost" if self.rng.random() < 0.1 else None)
        res = dict(order_id=cid, **o)
        c.tool("lookup_order", {"order_id": cid}, res)
        if o["status"] == "lost":  # what the result says decides: a lost parcel goes to a colleague
            self.hand_over_lost(c, cid, o)
        else:
            c.reply(self.t(o["status"], lang).format(cid=cid, carrier=o["carrier"], eta=o["eta"]))
        self.maybe_followup(c)
        return c

    def late(self, lang):
        lost = self.rng.random() < 0.35
        c = self.conv(lang, "lost_delivery" if lost else "late_delivery")
        cid, written = order_id(self.rng)
        c.user(self.opener(lang, self.t("late_q", lang).format(id=written), (written,)))
        o = self.order(lang, "lost" if lost else "delayed")
        c.tool("lookup_order", {"order_id": cid}, dict(order_id=cid, **o))
        if lost:
            self.hand_over_lost(c, cid, o)
        else:
            c.reply(self.t("delayed", lang).format(cid=cid, carrier=o["carrier"], eta=o["eta"]))
        self.maybe_followup(c)
        return c

    def hand_over_lost(self, c, cid, o):
        reason = T["lost_reason"][c.lang].format(cid=cid)
        tid = "T-%05d" % self.rng.randrange(10 ** 5)
        c.tool("escalate_to_human", {"reason": reason}, {"ticket_id": tid, "queue": "claims"})
        c.reply(self.t("lost", c.lang).format(cid=cid, carrier=o["carrier"]) + " " +
                self.t("handed", c.lang).format(tid=tid))

    def ret(self, lang):
        c = self.conv(lang, "return")
        cid, written = order_id(self.rng)
        reason = self.rng.choice(RETURN_REASONS[lang])
        c.user(self.opener(lang, self.t("return_q", lang).format(id=written, reason=reason), (written,)))
        if self.rng.random() < 0.2:
            c.tool("start_return", {"order_id": cid, "reason": reason},
                   {"ok": False, "error": "return window of 30 days has passed"})
            c.reply(self.t("return_late", lang).format(cid=cid))
        else:
            rid = "R-%06d" % self.rng.randrange(10 ** 6)
            amount = "%.2f" % self.rng.choice(PRODUCTS)[2]
            c.tool("start_return", {"order_id": cid, "reason": reason},
                   {"ok": True, "return_id": rid, "label": "sent by email", "refund_eur": float(amount)})
            c.reply(self.t("returned", lang).format(rid=rid, cid=cid, amount=amount))
        self.maybe_followup(c)
        return c

    def addr(self, lang):
        c = self.conv(lang, "address_change")
        cid, written = order_id(self.rng)
        a = address(self.rng, lang)
        if self.copy_practice and self.rng.random() < self.copy_practice:
            a = copy_address(self.rng, lang)
        c.user(self.opener(lang, self.t("addr_q", lang).format(id=written, addr=a), (written, a)))
        if self.rng.random() < 0.25:
            carrier = self.rng.choice(CARRIERS)
            c.tool("update_address", {"order_id": cid, "address": a},
                   {"ok": False, "error": "order already shipped", "carrier": carrier})
            c.reply(self.t("addr_no", lang).format(cid=cid, carrier=carrier))
        else:
            c.tool("update_address", {"order_id": cid, "address": a}, {"ok": True, "order_id": cid, "address": a})
            c.reply(self.t("addr_ok", lang).format(cid=cid, addr=a))
        self.maybe_followup(c)
        return c

    def product(self, lang):
        c = self.conv(lang, "product_question")
        p = self.rng.choice(PRODUCTS)
        missing = self.rng.random() < 0.2
        q = ({"en": ["trampoline", "surfboard", "piano", "car tyres", "wedding dress"],
              "de": ["Trampolin", "Surfbrett", "Klavier", "Autoreifen", "Brautkleid"]}[lang] if missing else None)
        q = self.rng.choice(q) if missing else (p[3] if lang == "en" else p[4])
        c.user(self.opener(lang, self.t("prod_q", lang).format(q=q), (q,)))
        if missing:
            c.tool("search_products", {"query": q}, {"results": []})
            c.reply(self.t("prod_none", lang).format(q=q))
        else:
            stock = self.rng.randrange(0, 40)
            name = p[0] if lang == "en" else p[1]
            c.tool("search_products", {"query": q}, {"results": [{"name": name, "price_eur": p[2], "in_stock": stock}]})
            if stock == 0:
                s = {"en": ", but it is out of stock right now", "de": ", aber er ist gerade nicht vorrätig"}[lang]
            else:
                s = {"en": " (%d in stock)" % stock, "de": " (%d auf Lager)" % stock}[lang]
            c.reply(self.t("prod_found", lang).format(name=name, price="%.2f" % p[2], stock=s))
        self.maybe_followup(c)
        return c

    def smalltalk(self, lang):
        c = self.conv(lang, "small_talk")
        q, a = self.t("smalltalk", lang)
        c.user(self.opener(lang, q))
        c.reply(a)
        return c

    def angry(self, lang):
        c = self.conv(lang, "angry_customer")
        cid, written = order_id(self.rng)
        c.user(typos(self.rng, self.t("angry", lang).format(id=written), 0.3, (written,)))
        o = self.order(lang, self.rng.choice(["delayed", "shipped"]))
        c.tool("lookup_order", {"order_id": cid}, dict(order_id=cid, **o))
        key = "delayed" if o["status"] == "delayed" else "shipped"
        c.reply(self.t("sorry", lang) + self.t(key, lang).format(cid=cid, carrier=o["carrier"], eta=o["eta"]))
        self.maybe_followup(c)
        return c

    def policy(self, lang):
        c = self.conv(lang, "outside_policy")
        q, a = self.t("policy", lang)
        c.user(self.opener(lang, q))
        c.reply(a)
        return c

    def human(self, lang):
        c = self.conv(lang, "needs_human")
        q, reason = self.t("human", lang)
        cid, written = order_id(self.rng)
        c.user(self.opener(lang, q.format(id=written), (written,)))
        tid = "T-%05d" % self.rng.randrange(10 ** 5)
        c.tool("escalate_to_human", {"reason": reason.format(cid=cid)}, {"ticket_id": tid, "queue": "general"})
        c.reply(self.t("handed", lang).format(tid=tid))
        return c

    SCENARIOS = [("order_status", 4), ("late", 3), ("ret", 3), ("addr", 3), ("product", 3), ("smalltalk", 1),
                 ("angry", 1), ("policy", 2), ("human", 2)]

    def one(self):
        names = [n for n, w in self.SCENARIOS for _ in range(w)]
        lang = "de" if self.rng.random() < 0.45 else "en"
        return getattr(self, self.rng.choice(names))(lang).out()


def generate(n, seed, split, copy_practice=0.0):
    # The two splits draw from different seeds as well as from disjoint templates.
    g = Gen(seed * 2 + (1 if split == "heldout" else 0), split, copy_practice)
    return [g.one() for _ in range(n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--split", choices=["train", "heldout"], default="train")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--copy-practice", type=float, default=0.0,
                    help="training split: share of address changes whose street and city are made-up "
                         "words (teaches copying; the held-out split never changes)")
    a = ap.parse_args()
    with (sys.stdout if a.out == "-" else open(a.out, "w", encoding="utf-8")) as f:
        for conv in generate(a.n, a.seed, a.split, a.copy_practice):
            f.write(json.dumps(conv, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
