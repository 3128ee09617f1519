// Soak client for `moecat serve`: N virtual users send a weighted mix of requests for a fixed
// time through the official SDKs (`openai`, `@anthropic-ai/sdk`) and raw fetch, and every answer
// is checked. Run by tests/e2e/soak.sh (and bench/soak.sh for longer runs).
//
//   node soak_client.mjs --url URL [--users 6] [--seconds 60] [--seed 1] [--max-body BYTES]
//                        [--eos-id ID] [--json OUT.json]
//
// Kinds of traffic (weights in KINDS below):
//   chat            non-streamed chat completion (the model's support persona, shop questions)
//   chat_stream     streamed chat completion with include_usage (TTFT = first content delta)
//   tools           chat with the shop's five tools; when the model calls one, a tool result is
//                   sent back and the conversation continues (up to 3 rounds); a third of them
//                   force a call (tool_choice "required"), some are streamed
//   json_schema     response_format json_schema; the answer must parse and validate
//   responses       POST /v1/responses via client.responses.create (some with function tools and
//                   a function_call_output round trip, some continuing via previous_response_id)
//   responses_stream  client.responses.stream: typed events, finalResponse()
//   messages        POST /v1/messages via @anthropic-ai/sdk messages.create (some with tools and a
//                   tool_result round trip)
//   messages_stream client.messages.stream(...).finalMessage()
//   cancel_stream   a long stream aborted by the client after a few chunks
//   cancel_early    a non-streamed request aborted after 5..405 ms (or answered before: then
//                   the answer is checked like any other)
//   hostile         oversize body (> --max-body: 413), malformed JSON (400), invalid fields (400),
//                   a prompt longer than the context (400), on the three POST APIs; the status
//                   and the error body's shape must be right
//   shared_prefix   a long shared system prompt (shop policy, ~300 tokens): prefix-cache hits
//   kv_pressure     a long unique prompt and a long answer (EOS suppressed with logit_bias when
//                   --eos-id is given): with a small --kv-tokens pool the scheduler must preempt
//
// A valid request fails when the HTTP status is not 200, the SDK throws, a finish/stop reason is
// missing, the answer is empty, a tool call's arguments do not parse (or, for forced calls, do
// not validate), a json_schema answer does not validate, or it takes longer than 180 s.
// At the end: per-kind counts and p50/p99 latency (total, and time to first token for streams),
// the /metrics deltas (preemptions, cancellations, 4xx/5xx, prefix-cache hits); the server must
// then be idle (no running or queued request, no KV block in use) and answer GET /health on a
// kept-alive connection in under 20 ms (median of 20). Exit status 1 on any failure, any 5xx in
// /metrics, or either of those.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import fs from "node:fs";

// ---- options ------------------------------------------------------------------------------
const args = process.argv.slice(2);
const opt = { url: "", users: 6, seconds: 60, seed: 1, maxBody: 8 << 20, eosId: -1, json: "" };
for (let i = 0; i < args.length; i += 2) {
  const k = args[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  if (!(k in opt)) throw new Error("unknown option " + args[i]);
  opt[k] = typeof opt[k] === "number" ? Number(args[i + 1]) : args[i + 1];
}
if (!opt.url) throw new Error("--url is required");
const base = opt.url.replace(/\/$/, "");
const REQ_TIMEOUT = 180000;
const openai = new OpenAI({ baseURL: base + "/v1", apiKey: "none", maxRetries: 0, timeout: REQ_TIMEOUT });
const anthropic = new Anthropic({ baseURL: base, apiKey: "none", maxRetries: 0, timeout: REQ_TIMEOUT });
const J = JSON.stringify;

class Fail extends Error {}
function check(cond, msg) {
  if (!cond) throw new Fail(msg);
}

// ---- deterministic randomness (mulberry32 per user) -----------------------------------------
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- the model's world: shop support ------------------------------------------------------
const props = await fetch(base + "/props").then((r) => r.json());
const model = (await fetch(base + "/v1/models").then((r) => r.json())).data[0].id;
const SYSTEM = props.default_system_prompt ||
  "You are the customer support assistant of Moecat Shop, an online shop for home and garden goods. Answer in the customer's language, be brief and friendly.";
const TOOLS = props.default_tools && props.default_tools.length ? props.default_tools : JSON.parse(fs.readFileSync(new URL("../../examples/api/chat.json", import.meta.url))).tools;
const TOOL_NAMES = TOOLS.map((t) => t.function.name);
const N_CTX = props.n_ctx;
check(Number.isInteger(N_CTX) && N_CTX > 0, "/props n_ctx " + J(props).slice(0, 200));

const ORDERS = ["A12345", "A20417", "B77001", "A-30512", "#a55120", "MC 2026 0042", "10442871"];
const QUESTIONS = [
  (o) => `Hi, where is my order ${o}?`,
  (o) => `Hallo, wo ist meine Bestellung ${o}?`,
  (o) => `I want to return order ${o}, the garden hose leaks.`,
  (o) => `Ich möchte die Bestellung ${o} zurückschicken, der Stuhl ist kaputt.`,
  (o) => `Please change the delivery address of ${o} to Lindenweg 7, 10115 Berlin.`,
  () => "Do you sell solar garden lights?",
  () => "Habt ihr Blumentöpfe aus Terrakotta?",
  (o) => `My parcel ${o} is two weeks late and nobody answers. I want to talk to a person!`,
  () => "Can I pay by invoice?",
  () => "How long does delivery to Austria take?",
];
const TOOL_RESULTS = {
  lookup_order: (a) => ({ order_id: a.order_id ?? "A12345", status: "shipped", carrier: "DHL", eta: "Thursday", items: ["Garden hose"] }),
  start_return: (a) => ({ order_id: a.order_id ?? "A12345", return_id: "R-8812", label_sent: true }),
  update_address: (a) => ({ order_id: a.order_id ?? "A12345", updated: true, address: a.address ?? "" }),
  search_products: () => ({ results: [{ name: "Solar garden light, set of 4", price: "24.90 EUR" }, { name: "Terracotta pot 30 cm", price: "12.50 EUR" }] }),
  escalate_to_human: () => ({ ticket: "T-5521", wait: "about 2 hours" }),
};
const toolResult = (name, a) => J((TOOL_RESULTS[name] || (() => ({ ok: true })))(a || {}));

// ~200 tokens of shop policy shared by every shared_prefix request (prefix cache).
const POLICY = "Shop policy, read before every answer. " + Array.from({ length: 10 }, (_, i) =>
  `Rule ${i + 1}: ` + ["orders ship within two working days", "returns are free within 30 days",
    "address changes are possible until the parcel ships", "damaged goods are replaced at once",
    "delivery to Austria and Switzerland takes four days", "never promise a refund before the return arrives"][i % 6] + ".").join(" ");
const SENTENCES = ["The parcel was supposed to arrive last Monday.", "I ordered a garden chair and two flower pots.",
  "The tracking page has not changed for a week.", "My neighbour received hers already.", "I paid with PayPal.",
  "The box was open when it came and one pot was broken.", "I need it before the weekend because of a party.",
  "Your hotline kept me waiting for half an hour.", "The chair wobbles and one leg is shorter.", "I would like a new one or my money back."];

// ---- schema validation (types, required, enum, maxLength in code points, additionalProperties)
function validate(schema, v, path = "$") {
  const t = schema.type;
  const typeOk = {
    object: () => v !== null && typeof v === "object" && !Array.isArray(v),
    array: () => Array.isArray(v),
    string: () => typeof v === "string",
    integer: () => Number.isInteger(v),
    number: () => typeof v === "number",
    boolean: () => typeof v === "boolean",
    null: () => v === null,
  };
  if (t) check(typeOk[t](), `${path}: expected ${t}, got ${J(v)}`);
  if (schema.enum) check(schema.enum.some((e) => J(e) === J(v)), `${path}: ${J(v)} not in enum`);
  if (t === "string" && schema.maxLength !== undefined) check([...v].length <= schema.maxLength, `${path}: longer than ${schema.maxLength}`);
  if (t === "object") {
    for (const k of schema.required || []) check(k in v, `${path}: missing ${k}`);
    for (const [k, val] of Object.entries(v)) {
      if (schema.properties && schema.properties[k]) validate(schema.properties[k], val, path + "." + k);
      else check(schema.additionalProperties !== false, `${path}: unexpected key ${k}`);
    }
  }
  if (t === "array") v.forEach((x, i) => schema.items && validate(schema.items, x, `${path}[${i}]`));
}
const TICKET_SCHEMA = {
  type: "object",
  properties: {
    intent: { type: "string", enum: ["order_status", "return", "address_change", "product_question", "complaint", "other"] },
    language: { type: "string", enum: ["en", "de"] },
    order_id: { type: "string", maxLength: 16 },
    urgent: { type: "boolean" },
    summary: { type: "string", maxLength: 60 },
  },
  required: ["intent", "language", "order_id", "urgent", "summary"],
  additionalProperties: false,
};

// ---- metrics --------------------------------------------------------------------------------
async function metrics() {
  const t = await fetch(base + "/metrics").then((r) => r.text());
  const m = {};
  for (const line of t.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    m[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return m;
}
const M5XX = 'moecat_http_requests_total{code="5xx"}', M4XX = 'moecat_http_requests_total{code="4xx"}';

// ---- helpers per API --------------------------------------------------------------------------
const now = () => performance.now();
const calls = (msg) => (msg.tool_calls || []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));

// A tool call: the name must be one of the tools, and its arguments must parse and validate
// under the tool's schema: forced calls (tool_choice "required") are generated under the tool's
// JSON constraint, and so are the calls the model opens on its own (tool_choice "auto": the
// server's tool grammar engages at the call-open tag). Before that grammar the small shipped
// model sometimes wrote e.g. {"query": "arguments": ...}. strict = false (a server started with
// --no-tool-grammar): such calls are counted (badArgs), not failed, and the round trip goes on
// with {} as the parsed arguments.
const STRICT_AUTO_CALLS = process.env.SOAK_FREE_TOOL_CALLS !== "1";
function checkCall(c, forced, x) {
  check(TOOL_NAMES.includes(c.name), "unknown tool " + J(c.name));
  const strict = forced || STRICT_AUTO_CALLS;
  let a;
  try { a = JSON.parse(c.arguments); } catch {
    check(!strict, `tool ${c.name}: ${forced ? "forced" : "auto"} call's arguments do not parse: ${J(c.arguments)}`);
    x.badArgs = (x.badArgs || 0) + 1;
    return {};
  }
  check(a !== null && typeof a === "object" && !Array.isArray(a), `tool ${c.name}: arguments not an object ${J(c.arguments)}`);
  if (strict) validate(TOOLS.find((t) => t.function.name === c.name).function.parameters, a, c.name);
  return a;
}

// Streams a chat completion; returns the accumulated message, finish reason, usage, TTFT.
async function chatStream(params, t0, signalOpts = {}, onChunk = null) {
  const s = await openai.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } }, signalOpts);
  let content = "", finish = null, usage = null, ttft = null, chunks = 0;
  const cs = [];
  for await (const c of s) {
    ++chunks;
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      const d = ch.delta || {};
      if (ttft === null && (d.content || d.reasoning_content || (d.tool_calls && d.tool_calls.length))) ttft = now() - t0;
      content += d.content || "";
      for (const tc of d.tool_calls || []) {
        cs[tc.index] ??= { id: "", name: "", arguments: "" };
        if (tc.id) cs[tc.index].id = tc.id;
        if (tc.function?.name) cs[tc.index].name += tc.function.name;
        if (tc.function?.arguments) cs[tc.index].arguments += tc.function.arguments;
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    if (onChunk) onChunk(chunks);
  }
  return { content, finish, usage, ttft, calls: cs.filter(Boolean) };
}

// An answer: a finish reason, consistent usage, and text or a tool call. The one exception is
// the model ending its turn at once (finish "stop" with 0 completion tokens: the shipped model
// does that now and then at temperature > 0, e.g. for "thanks, bye"): that is what it sampled,
// the server reports it faithfully, and it is counted (empty=N in the table), not failed.
function checkChatAnswer(kind, r, x = null) {
  check(["stop", "length", "tool_calls"].includes(r.finish), `${kind}: finish_reason ${J(r.finish)}`);
  check(r.usage && r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, `${kind}: usage ${J(r.usage)}`);
  if (r.content.length === 0 && r.calls.length === 0) {
    check(r.finish === "stop" && r.usage.completion_tokens === 0, `${kind}: empty answer (finish ${r.finish}, ${r.usage.completion_tokens} tokens)`);
    if (x) x.empty = (x.empty || 0) + 1;
    return;
  }
  check(r.usage.completion_tokens > 0, `${kind}: an answer with 0 completion tokens ${J(r.usage)}`);
}

async function chatOnce(params) {
  const r = await openai.chat.completions.create(params);
  check(r.object === "chat.completion" && r.choices && r.choices.length === 1, "chat.completion shape " + J(r).slice(0, 200));
  const ch = r.choices[0];
  return { content: ch.message.content || "", finish: ch.finish_reason, usage: r.usage, calls: calls(ch.message), raw: r };
}

// ---- request kinds ------------------------------------------------------------------------
// Each returns { ttft?, note? } or throws. `R` is the user's random source.
const pick = (R, a) => a[Math.floor(R() * a.length)];
const question = (R) => pick(R, QUESTIONS)(pick(R, ORDERS));
const sampling = (R) => (R() < 0.4 ? { temperature: 0 } : { temperature: 0.3 + R() * 0.7, seed: Math.floor(R() * 1e6) });

const kinds = {
  async chat(R, t0, x) {
    const r = await chatOnce({ model, messages: [{ role: "system", content: SYSTEM }, { role: "user", content: question(R) }], max_tokens: 64, ...sampling(R) });
    checkChatAnswer("chat", r, x);
    return {};
  },

  async chat_stream(R, t0, x) {
    const r = await chatStream({ model, messages: [{ role: "system", content: SYSTEM }, { role: "user", content: question(R) }], max_tokens: 64, ...sampling(R) }, t0);
    checkChatAnswer("chat_stream", r, x);
    check(r.ttft !== null, "chat_stream: no content delta");
    return { ttft: r.ttft };
  },

  async tools(R, t0, x) {
    const forced = R() < 0.33;
    const stream = R() < 0.4;
    const messages = [{ role: "system", content: SYSTEM }, { role: "user", content: question(R) }];
    let ttft, nCalls = 0;
    for (let round = 0; round < 3; ++round) {
      const p = { model, messages, tools: TOOLS, max_tokens: 96, ...sampling(R), ...(forced && round === 0 ? { tool_choice: "required" } : {}) };
      const r = stream ? await chatStream(p, t0) : await chatOnce(p);
      if (round === 0 && stream) ttft = r.ttft;
      checkChatAnswer("tools", r, x);
      if (forced && round === 0) check(r.calls.length >= 1 && r.finish === "tool_calls", `tools: forced call missing: ${J(r.calls)} ${r.finish}`);
      if (r.calls.length === 0) break;
      check(r.finish === "tool_calls", `tools: calls with finish_reason ${r.finish}`);
      messages.push({ role: "assistant", content: r.content || null, tool_calls: r.calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })) });
      for (const c of r.calls) {
        check(/^[A-Za-z0-9_-]+$/.test(c.id), "tools: call id " + J(c.id));
        const a = checkCall(c, forced && round === 0, x);
        messages.push({ role: "tool", tool_call_id: c.id, content: toolResult(c.name, a) });
        ++nCalls;
      }
    }
    return { ttft, toolCalls: nCalls };
  },

  async json_schema(R, t0, x) {
    const stream = R() < 0.3;
    const p = { model, messages: [{ role: "system", content: SYSTEM }, { role: "user", content: "Classify this customer message as JSON: " + question(R) }],
      max_tokens: 200, temperature: 0.2 + R() * 0.8, seed: Math.floor(R() * 1e6),
      response_format: { type: "json_schema", json_schema: { name: "ticket", schema: TICKET_SCHEMA, strict: true } } };
    const r = stream ? await chatStream(p, t0) : await chatOnce(p);
    checkChatAnswer("json_schema", r, x);
    check(r.finish === "stop", `json_schema: finish_reason ${r.finish} (the schema's strings are bounded: the JSON must close within max_tokens) ${J(r.content)}`);
    let v;
    try { v = JSON.parse(r.content); } catch { throw new Fail("json_schema: answer does not parse: " + J(r.content)); }
    validate(TICKET_SCHEMA, v);
    return stream ? { ttft: r.ttft } : {};
  },

  async responses(R, t0, x) {
    const asTools = TOOLS.map((t) => ({ type: "function", name: t.function.name, description: t.function.description, parameters: t.function.parameters }));
    const withTools = R() < 0.4;
    const r = await openai.responses.create({ model, instructions: SYSTEM, input: question(R), max_output_tokens: 64, ...sampling(R), ...(withTools ? { tools: asTools } : {}) });
    checkResponse(r, x);
    const fc = r.output.filter((o) => o.type === "function_call");
    if (fc.length) {
      check(withTools, "responses: function_call without tools");
      const input = [...r.output];
      for (const c of fc) {
        const a = checkCall({ name: c.name, arguments: c.arguments }, false, x);
        check(/^call_/.test(c.call_id), "responses: call_id " + c.call_id);
        input.push({ type: "function_call_output", call_id: c.call_id, output: toolResult(c.name, a) });
      }
      const r2 = await openai.responses.create({ model, instructions: SYSTEM, previous_response_id: r.id, input: input.slice(r.output.length), tools: asTools, max_output_tokens: 64, temperature: 0 });
      checkResponse(r2, x);
    } else if (R() < 0.3) {
      // A follow-up turn continuing the stored conversation.
      const r2 = await openai.responses.create({ model, instructions: SYSTEM, previous_response_id: r.id, input: "Thanks! And how long does delivery take?", max_output_tokens: 48, temperature: 0, ...(withTools ? { tools: asTools } : {}) });
      checkResponse(r2, x);
      check(r2.usage.input_tokens > r.usage.input_tokens, `responses: previous_response_id did not carry the history: input tokens ${r.usage.input_tokens} -> ${r2.usage.input_tokens}; ${J(r.output).slice(0, 300)}`);
    }
    return x;
  },

  async responses_stream(R, t0, x) {
    const stream = openai.responses.stream({ model, instructions: SYSTEM, input: question(R), max_output_tokens: 64, ...sampling(R) });
    let ttft = null, n = 0, last = null, deltas = "";
    for await (const ev of stream) {
      check(ev.sequence_number === n++, `responses_stream: sequence_number ${ev.sequence_number}`);
      if (ttft === null && /\.delta$/.test(ev.type)) ttft = now() - t0;
      if (ev.type === "response.output_text.delta") deltas += ev.delta;
      last = ev;
    }
    check(last && (last.type === "response.completed" || last.type === "response.incomplete"), "responses_stream: last event " + (last && last.type));
    checkResponse(last.response, x);
    const text = last.response.output.filter((o) => o.type === "message").flatMap((o) => o.content).map((c) => c.text).join("");
    check(text === deltas, "responses_stream: deltas != final text");
    check(ttft !== null, "responses_stream: no delta event");
    return { ttft };
  },

  async messages(R, t0, x) {
    const withTools = R() < 0.4;
    const aTools = TOOLS.map((t) => ({ name: t.function.name, description: t.function.description, input_schema: t.function.parameters }));
    const messages = [{ role: "user", content: question(R) }];
    const p = { model, system: SYSTEM, max_tokens: 64, ...sampling(R), ...(withTools ? { tools: aTools } : {}) };
    delete p.seed; // not an Anthropic parameter
    const m = await anthropic.messages.create({ ...p, messages });
    checkMessage(m, x);
    const uses = m.content.filter((b) => b.type === "tool_use");
    if (uses.length) {
      check(withTools && m.stop_reason === "tool_use", "messages: tool_use " + J(m).slice(0, 300));
      for (const u of uses) check(TOOL_NAMES.includes(u.name) && u.input && typeof u.input === "object", "messages: tool_use block " + J(u));
      messages.push({ role: "assistant", content: m.content });
      messages.push({ role: "user", content: uses.map((u) => ({ type: "tool_result", tool_use_id: u.id, content: toolResult(u.name, u.input) })) });
      checkMessage(await anthropic.messages.create({ ...p, messages }), x);
    }
    return {};
  },

  async messages_stream(R, t0, x) {
    const p = { model, system: SYSTEM, max_tokens: 64, messages: [{ role: "user", content: question(R) }], ...sampling(R) };
    delete p.seed;
    const s = anthropic.messages.stream(p);
    let ttft = null, deltas = "";
    for await (const ev of s) {
      if (ev.type === "content_block_delta") {
        if (ttft === null) ttft = now() - t0;
        if (ev.delta.type === "text_delta") deltas += ev.delta.text;
      }
    }
    const fin = await s.finalMessage();
    checkMessage(fin, x);
    check(deltas === fin.content.filter((b) => b.type === "text").map((b) => b.text).join(""), "messages_stream: deltas != final text");
    check(ttft !== null, "messages_stream: no content_block_delta");
    return { ttft };
  },

  // Node's fetch (undici) can leave a request's promise pending forever when it is aborted while
  // the body is being read (nodejs/node#56917, nodejs/undici#4232; seen here about once in 600
  // aborted requests, with the server idle and the connection closed, and never with node:http).
  // So an aborted request whose client call has not settled 5 s after the abort is counted as
  // hungAfterAbort (a client-side bug), not as a server failure.
  async cancel_stream(R, t0, x) {
    const ctl = new AbortController();
    const after = 2 + Math.floor(R() * 4);
    let got = 0;
    try {
      const r = await abortGrace(chatStream({ model, messages: [{ role: "system", content: SYSTEM }, { role: "user", content: "Tell me everything about your garden furniture, in detail." }],
        max_tokens: 400, temperature: 1, seed: Math.floor(R() * 1e6), ...(opt.eosId >= 0 ? { logit_bias: { [opt.eosId]: -100 } } : {}) },
      t0, { signal: ctl.signal }, (n) => { got = n; if (n >= after) ctl.abort(); }), ctl.signal);
      if (r === HUNG) return { aborted: true, hungAfterAbort: 1 };
      // The SDK's stream ends quietly when aborted.
      if (ctl.signal.aborted) return { aborted: true };
      // Finished before the abort: a complete answer, checked as such.
      checkChatAnswer("cancel_stream", r, x);
      return { note: "finished before abort" };
    } catch (e) {
      if (e instanceof Fail) throw e;
      check(ctl.signal.aborted, "cancel_stream: " + (e.status ? `HTTP ${e.status} ` : "") + e.message);
      check(got >= after, "cancel_stream: aborted before the chunks arrived?");
      return { aborted: true };
    }
  },

  async cancel_early(R, t0, x) {
    const ctl = new AbortController();
    const ms = 5 + Math.floor(R() * 400);
    const timer = setTimeout(() => ctl.abort(), ms);
    try {
      const r = await abortGrace(openai.chat.completions.create({ model, messages: [{ role: "system", content: SYSTEM }, { role: "user", content: question(R) }],
        max_tokens: 200, temperature: 0.8, seed: Math.floor(R() * 1e6), ...(opt.eosId >= 0 ? { logit_bias: { [opt.eosId]: -100 } } : {}) }, { signal: ctl.signal }), ctl.signal);
      clearTimeout(timer);
      if (r === HUNG) return { aborted: true, hungAfterAbort: 1 };
      checkChatAnswer("cancel_early", { content: r.choices[0].message.content || "", finish: r.choices[0].finish_reason, usage: r.usage, calls: calls(r.choices[0].message) }, x);
      return { note: "finished before abort" };
    } catch (e) {
      clearTimeout(timer);
      if (e instanceof Fail) throw e;
      check(ctl.signal.aborted, "cancel_early: " + (e.status ? `HTTP ${e.status} ` : "") + e.message);
      return { aborted: true };
    }
  },

  async hostile(R, t0, x) {
    const c = pick(R, HOSTILE)(R);
    let res;
    try {
      res = await fetch(base + c.path, { method: "POST", headers: { "Content-Type": "application/json", ...(c.anthropic ? { "x-api-key": "none" } : {}) },
        body: c.body, signal: AbortSignal.timeout(REQ_TIMEOUT) });
    } catch (e) {
      throw new Fail(`hostile ${c.name}: no HTTP answer (${e.cause?.code || e.message}); want ${c.status}`);
    }
    const text = await res.text();
    check(res.status === c.status, `hostile ${c.name} (${c.path}): want ${c.status}, got ${res.status} ${text.slice(0, 200)}`);
    let j;
    try { j = JSON.parse(text); } catch { throw new Fail(`hostile ${c.name}: error body is not JSON: ${text.slice(0, 200)}`); }
    if (c.anthropic) check(j.type === "error" && typeof j.error?.type === "string" && typeof j.error?.message === "string", `hostile ${c.name}: Anthropic error shape ${text.slice(0, 200)}`);
    else check(typeof j.error?.message === "string" && j.error.message.length > 0, `hostile ${c.name}: error shape ${text.slice(0, 200)}`);
    if (c.needle) check(c.needle.test(text), `hostile ${c.name}: error does not name ${c.needle}: ${text.slice(0, 200)}`);
    return { sub: c.name };
  },

  async shared_prefix(R, t0, x) {
    const p = { model, messages: [{ role: "system", content: SYSTEM + "\n" + POLICY }, { role: "user", content: question(R) }], max_tokens: 48, ...sampling(R) };
    const r = R() < 0.5 ? await chatStream(p, t0) : await chatOnce(p);
    checkChatAnswer("shared_prefix", r, x);
    const cached = r.usage.prompt_tokens_details?.cached_tokens ?? 0;
    return { ttft: r.ttft ?? undefined, cached, prompt: r.usage.prompt_tokens };
  },

  async kv_pressure(R, t0, x) {
    // A unique long prompt (no prefix-cache help) and a long answer: its blocks grow while
    // others run; a small pool must preempt instead of failing.
    let body = `Complaint ${Math.floor(R() * 1e9)}, order ${pick(R, ORDERS)}. `;
    while (body.length < 900) body += pick(R, SENTENCES) + " ";
    const p = { model, messages: [{ role: "user", content: body + "What will you do about it?" }],
      max_tokens: 128, ...sampling(R), ...(opt.eosId >= 0 ? { logit_bias: { [opt.eosId]: -100 } } : {}) };
    const r = R() < 0.5 ? await chatStream(p, t0) : await chatOnce(p);
    checkChatAnswer("kv_pressure", r, x);
    return { ttft: r.ttft ?? undefined, prompt: r.usage.prompt_tokens, completion: r.usage.completion_tokens };
  },
};

// (empty answers: as in checkChatAnswer)
const HUNG = Symbol("hung after abort");
function abortGrace(p, signal) {
  return new Promise((resolve, reject) => {
    let t = null;
    const onAbort = () => { t = setTimeout(() => resolve(HUNG), 5000); };
    if (signal.aborted) onAbort(); else signal.addEventListener("abort", onAbort, { once: true });
    p.then((v) => { clearTimeout(t); signal.removeEventListener("abort", onAbort); resolve(v); },
      (e) => { clearTimeout(t); signal.removeEventListener("abort", onAbort); reject(e); });
  });
}

function checkResponse(r, x = null) {
  check(r.object === "response" && /^resp_/.test(r.id), "response shape " + J(r).slice(0, 200));
  check(r.status === "completed" || (r.status === "incomplete" && r.incomplete_details?.reason === "max_output_tokens"), `response status ${r.status} ${J(r.incomplete_details)}`);
  check(Array.isArray(r.output) && r.output.length > 0, "response without output items");
  check(r.usage && r.usage.total_tokens === r.usage.input_tokens + r.usage.output_tokens, "response usage " + J(r.usage));
  const text = r.output.filter((o) => o.type === "message").flatMap((o) => o.content).map((c) => c.text).join("");
  if (text.length === 0 && !r.output.some((o) => o.type === "function_call")) {
    check(r.status === "completed" && r.usage.output_tokens === 0, "response: empty answer " + J(r.output).slice(0, 200) + " " + J(r.usage));
    if (x) x.empty = (x.empty || 0) + 1;
    return;
  }
  check(r.usage.output_tokens > 0, "response usage " + J(r.usage));
}

function checkMessage(m, x = null) {
  check(m.type === "message" && m.role === "assistant" && /^msg_/.test(m.id), "message shape " + J(m).slice(0, 200));
  check(["end_turn", "max_tokens", "stop_sequence", "tool_use"].includes(m.stop_reason), "stop_reason " + J(m.stop_reason));
  check(m.usage && Number.isInteger(m.usage.input_tokens) && Number.isInteger(m.usage.output_tokens), "message usage " + J(m.usage));
  if (!m.content.some((b) => (b.type === "text" && b.text.length > 0) || b.type === "tool_use")) {
    check(m.stop_reason === "end_turn" && m.usage.output_tokens === 0, "message: empty answer " + J(m.content) + " " + J(m.usage));
    if (x) x.empty = (x.empty || 0) + 1;
    return;
  }
  check(m.usage.output_tokens > 0, "message usage " + J(m.usage));
}

// Hostile requests: [name, path, body, expected status, anthropic error shape?, needle].
const CHAT = "/v1/chat/completions", RESP = "/v1/responses", MSGS = "/v1/messages";
const endpoints = [CHAT, RESP, MSGS];
const okBody = (path, content) => path === CHAT ? { model, messages: [{ role: "user", content }], max_tokens: 8 }
  : path === RESP ? { model, input: content, max_output_tokens: 8 } : { model, max_tokens: 8, messages: [{ role: "user", content }] };
const HOSTILE = [
  (R) => { // over --max-body: 413 (a valid JSON body, padded)
    const path = pick(R, endpoints);
    const pad = "x".repeat(opt.maxBody + 1 + Math.floor(R() * opt.maxBody));
    return { name: "oversize", path, body: J(okBody(path, pad)), status: 413, anthropic: path === MSGS };
  },
  (R) => { // malformed JSON
    const path = pick(R, endpoints);
    const raw = pick(R, ["", "{", "[]", "{\"model\": ", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}", "nul", "{\"a\":" + "[".repeat(3000), "\u00ff\u00fe{}", "{\"messages\":[],}"]);
    return { name: "malformed", path, body: raw, status: 400, anthropic: path === MSGS };
  },
  (R) => { // invalid fields
    const cases = [
      ["chat temperature", CHAT, { model, messages: [{ role: "user", content: "hi" }], temperature: "hot" }, /temperature/],
      ["chat role", CHAT, { model, messages: [{ role: "robot", content: "hi" }] }, /role/],
      ["chat no messages", CHAT, { model }, /messages/],
      ["chat max_tokens", CHAT, { model, messages: [{ role: "user", content: "hi" }], max_tokens: -1 }, /max_tokens/],
      ["chat n", CHAT, { model, messages: [{ role: "user", content: "hi" }], n: 99 }, /\bn\b/],
      ["chat response_format", CHAT, { model, messages: [{ role: "user", content: "hi" }], response_format: { type: "json_schema" } }, /response_format|json_schema/],
      ["chat tools", CHAT, { model, messages: [{ role: "user", content: "hi" }], tools: [{ type: "function" }] }, /tools/],
      ["responses temperature", RESP, { model, input: "x", temperature: "hot" }, /temperature/],
      ["responses no input", RESP, { model }, /input/],
      ["responses previous_response_id", RESP, { model, input: "x", previous_response_id: "resp_does_not_exist" }, /previous_response_id/],
      ["messages no max_tokens", MSGS, { model, messages: [{ role: "user", content: "x" }] }, /max_tokens/],
      ["messages temperature", MSGS, { model, max_tokens: 5, messages: [{ role: "user", content: "x" }], temperature: 7 }, /temperature/],
    ];
    const [name, path, body, needle] = pick(R, cases);
    return { name: "invalid:" + name, path, body: J(body), status: 400, anthropic: path === MSGS, needle };
  },
  (R) => { // a prompt that cannot fit the context even alone: 400 naming the limit
    const path = pick(R, endpoints);
    return { name: "context", path, body: J(okBody(path, "word ".repeat(N_CTX * 2))), status: 400, anthropic: path === MSGS, needle: /context/ };
  },
];

// Weights of the mix.
const KINDS = { chat: 10, chat_stream: 10, tools: 12, json_schema: 7, responses: 7, responses_stream: 6, messages: 7, messages_stream: 6,
  cancel_stream: 5, cancel_early: 4, hostile: 8, shared_prefix: 8, kv_pressure: 10 };
const kindList = Object.keys(KINDS);
const totalW = kindList.reduce((s, k) => s + KINDS[k], 0);
function pickKind(R) {
  let x = R() * totalW;
  for (const k of kindList) if ((x -= KINDS[k]) < 0) return k;
  return kindList[kindList.length - 1];
}

// ---- the run ------------------------------------------------------------------------------
const stats = Object.fromEntries(kindList.map((k) => [k, { ok: 0, fail: 0, total: [], ttft: [], extra: {} }]));
const failures = [];
const m0 = await metrics();
check(M5XX in m0 && "moecat_preemptions_total" in m0, "/metrics lacks the 5xx / preemption counters");
const tStart = now();
const deadline = tStart + opt.seconds * 1000;
let inFlight = 0;

async function user(u) {
  const R = rng(opt.seed * 1000003 + u * 7919);
  while (now() < deadline) {
    const kind = pickKind(R);
    const t0 = now();
    ++inFlight;
    try {
      const x = {};
      Object.assign(x, await Promise.race([kinds[kind](R, t0, x),
        new Promise((_, rej) => setTimeout(() => rej(new Fail(`${kind}: no answer within ${REQ_TIMEOUT / 1000} s`)), REQ_TIMEOUT + 5000).unref())]) || {});
      const s = stats[kind];
      s.ok++;
      if (!x.hungAfterAbort) s.total.push(now() - t0); // (its 5 s grace is no server latency)
      if (x.ttft !== undefined && x.ttft !== null) s.ttft.push(x.ttft);
      for (const k of ["aborted", "hungAfterAbort", "toolCalls", "badArgs", "empty", "cached", "prompt", "completion"]) if (x[k] !== undefined) s.extra[k] = (s.extra[k] || 0) + Number(x[k]);
      if (x.cached > 0) s.extra.hits = (s.extra.hits || 0) + 1;
      if (x.note) s.extra.finishedBeforeAbort = (s.extra.finishedBeforeAbort || 0) + 1;
      if (x.sub) s.extra[x.sub.split(":")[0]] = (s.extra[x.sub.split(":")[0]] || 0) + 1;
    } catch (e) {
      stats[kind].fail++;
      const msg = e instanceof Fail ? e.message : `${kind}: ${e.constructor?.name || "Error"} ${e.status ? "HTTP " + e.status + " " : ""}${e.message}`;
      failures.push({ t: ((now() - tStart) / 1000).toFixed(1), user: u, kind, msg: msg.slice(0, 600) });
      console.error(`FAIL [user ${u}, t=${((now() - tStart) / 1000).toFixed(1)} s] ${msg.slice(0, 600)}`);
    } finally {
      --inFlight;
    }
  }
}

const progress = setInterval(() => {
  const done = kindList.reduce((s, k) => s + stats[k].ok + stats[k].fail, 0);
  console.log(`[${((now() - tStart) / 1000).toFixed(0)} s] ${done} requests, ${failures.length} failures, ${inFlight} in flight`);
}, 15000);
await Promise.all(Array.from({ length: opt.users }, (_, u) => user(u)));
clearInterval(progress);
const elapsed = (now() - tStart) / 1000;

// The server must come back to idle: nothing running or queued, no KV block held.
let m1;
for (let i = 0; i < 100; ++i) {
  m1 = await metrics();
  if (m1.moecat_running_requests === 0 && m1.moecat_queue_length === 0 && m1['moecat_kv_cache_blocks{state="in_use"}'] === 0) break;
  await new Promise((r) => setTimeout(r, 100));
}
const idle = m1.moecat_running_requests === 0 && m1.moecat_queue_length === 0 && m1['moecat_kv_cache_blocks{state="in_use"}'] === 0;
const d = (k) => (m1[k] ?? NaN) - (m0[k] ?? NaN);

// Small answers on a kept-alive connection (what every SDK uses) must not wait for the client's
// delayed ACK: a server that writes the header and the body in two segments without TCP_NODELAY
// holds the body back by Nagle's algorithm until the client ACKs the header (~40 ms on Linux).
// On the idle server GET /health takes well under 1 ms; the median of 20 must be below 20 ms.
const healthMs = [];
for (let i = 0; i < 20; ++i) {
  const t = now();
  const r = await fetch(base + "/health");
  await r.text();
  healthMs.push(now() - t);
}
const health50 = [...healthMs].sort((a, b) => a - b)[10];

// ---- report -------------------------------------------------------------------------------
const pct = (a, p) => {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const f = (v) => (v === null ? "-" : v >= 10000 ? (v / 1000).toFixed(1) + "s" : Math.round(v) + "ms");
const rows = [];
let allLat = [];
for (const k of kindList) {
  const s = stats[k];
  allLat = allLat.concat(s.total);
  rows.push({ kind: k, ok: s.ok, fail: s.fail, p50: pct(s.total, 50), p99: pct(s.total, 99), ttft50: pct(s.ttft, 50), ttft99: pct(s.ttft, 99), extra: s.extra });
}
const okN = rows.reduce((s, r) => s + r.ok, 0), failN = rows.reduce((s, r) => s + r.fail, 0);
console.log(`\nsoak: ${opt.users} users, ${elapsed.toFixed(0)} s, ${okN + failN} requests (${((okN + failN) / elapsed).toFixed(2)}/s), ${failN} failed`);
console.log("kind               ok  fail     p50     p99  ttft50  ttft99  notes");
for (const r of rows) {
  const notes = Object.entries(r.extra).map(([k, v]) => `${k}=${v}`).join(" ");
  console.log(`${r.kind.padEnd(17)}${String(r.ok).padStart(4)}${String(r.fail).padStart(6)}${f(r.p50).padStart(8)}${f(r.p99).padStart(8)}${f(r.ttft50).padStart(8)}${f(r.ttft99).padStart(8)}  ${notes}`);
}
console.log(`${"all".padEnd(17)}${String(okN).padStart(4)}${String(failN).padStart(6)}${f(pct(allLat, 50)).padStart(8)}${f(pct(allLat, 99)).padStart(8)}`);
const mx = {
  preemptions: d("moecat_preemptions_total"), cancelled: d("moecat_requests_cancelled_total"), http_2xx: d('moecat_http_requests_total{code="2xx"}'),
  http_4xx: d(M4XX), http_5xx: d(M5XX), rejected_429: d("moecat_requests_rejected_total"), prompt_tokens: d("moecat_prompt_tokens_total"),
  prompt_tokens_cached: d("moecat_prompt_tokens_cached_total"), generated_tokens: d("moecat_generation_tokens_total"),
};
console.log("metrics (deltas over the run): " + Object.entries(mx).map(([k, v]) => `${k}=${v}`).join(" "));
console.log(`idle GET /health over a kept-alive connection: median ${health50.toFixed(1)} ms (20 requests)`);
console.log(`server idle after the run: ${idle} (running ${m1.moecat_running_requests}, queued ${m1.moecat_queue_length}, KV blocks in use ${m1['moecat_kv_cache_blocks{state="in_use"}']})`);

const problems = [];
if (failN) problems.push(`${failN} failed requests`);
if (!(mx.http_5xx === 0)) problems.push(`${mx.http_5xx} HTTP 5xx answers counted by /metrics`);
if (!idle) problems.push("the server did not return to idle (running/queued requests or KV blocks left)");
if (okN === 0) problems.push("no request succeeded");
if (!(health50 < 20)) problems.push(`idle GET /health over a kept-alive connection takes ${health50.toFixed(1)} ms (median of 20; limit 20 ms): the response body waits for the client's delayed ACK (Nagle; TCP_NODELAY not set on the server's sockets?)`);
if (opt.json) fs.writeFileSync(opt.json, J({ users: opt.users, seconds: elapsed, requests: okN + failN, failed: failN, rows, metrics: mx, idle, health_ms_median: health50, failures, problems }, null, 1));
if (problems.length) {
  console.error("SOAK FAILED: " + problems.join("; "));
  for (const x of failures.slice(0, 20)) console.error(`  t=${x.t}s user ${x.user} ${x.msg}`);
  process.exit(1);
}
console.log("soak client: all checks passed");
