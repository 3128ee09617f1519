// Drives `moecat serve`'s POST /v1/messages with the official `@anthropic-ai/sdk` npm client
// (client.messages.create / .stream / .countTokens) and raw fetch for malformed bodies. Every
// check throws on failure; the process exits 1 then.
//   node messages_client.mjs main BASE_URL        (a server without --api-key)
//   node messages_client.mjs auth BASE_URL KEY     (a server with --api-key KEY)
// Checks: greedy text equal to the chat endpoint's for the same conversation (with a system
// prompt, multi-turn blocks), stop_sequences (stop_reason stop_sequence, the text cut before it),
// max_tokens (stop_reason max_tokens), forced tool calls (tool_choice tool / any) whose input
// validates against input_schema, a tool_result round trip equal to the chat endpoint's, the SSE
// events in order (text and input_json deltas concatenate to the final message, finalMessage()),
// usage, count_tokens, 400s in Anthropic's error shape (BadRequestError), and with a key: x-api-key
// and Bearer accepted, a wrong key raising AuthenticationError.
import Anthropic, { AuthenticationError, BadRequestError } from "@anthropic-ai/sdk";
import OpenAI from "openai";

const [mode, base, key] = process.argv.slice(2);
const client = new Anthropic({ baseURL: base, apiKey: key || "none", maxRetries: 0, timeout: 600000 });
const openai = new OpenAI({ baseURL: base + "/v1", apiKey: key || "none", maxRetries: 0, timeout: 600000 });

function check(cond, msg) {
  if (!cond) throw new Error("FAILED: " + msg);
}
const log = (...a) => console.log(...a);
const J = JSON.stringify;

function validate(schema, v, path = "$") {
  const t = schema.type;
  const typeOk = {
    object: () => v !== null && typeof v === "object" && !Array.isArray(v),
    array: () => Array.isArray(v),
    string: () => typeof v === "string",
    integer: () => Number.isInteger(v),
    number: () => typeof v === "number",
    boolean: () => typeof v === "boolean",
  };
  if (t) check(typeOk[t](), `${path}: expected ${t}, got ${J(v)}`);
  if (schema.enum) check(schema.enum.some((e) => J(e) === J(v)), `${path}: not in enum`);
  if (t === "string" && schema.maxLength !== undefined) check([...v].length <= schema.maxLength, `${path}: too long`); // JSON Schema counts code points
  if (t === "object") {
    for (const k of schema.required || []) check(k in v, `${path}: missing ${k}`);
    for (const [k, val] of Object.entries(v)) {
      if (schema.properties && schema.properties[k]) validate(schema.properties[k], val, path + "." + k);
      else check(schema.additionalProperties !== false, `${path}: unexpected key ${k}`);
    }
  }
}

const weatherSchema = {
  type: "object",
  properties: { city: { type: "string", maxLength: 24 }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
  required: ["city", "unit"],
  additionalProperties: false,
};
const weatherTool = { name: "get_weather", description: "Current weather for a city", input_schema: weatherSchema };
const ticketTool = {
  name: "open_ticket", description: "Open a support ticket",
  input_schema: { type: "object", properties: { priority: { type: "integer" } }, required: ["priority"], additionalProperties: false },
};
const asChatTools = (tools) => tools.map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: t.input_schema } }));
const SYSTEM = "You are the support assistant of Example Telecom. Answer briefly.";

let model;
const textOf = (m) => m.content.filter((b) => b.type === "text").map((b) => b.text).join("");

function checkMessage(m) {
  check(m.type === "message" && m.role === "assistant" && /^msg_/.test(m.id), "message header " + J(m).slice(0, 200));
  check(m.model === model, "model " + m.model);
  check(["end_turn", "max_tokens", "stop_sequence", "tool_use"].includes(m.stop_reason), "stop_reason " + m.stop_reason);
  check(m.stop_reason === "stop_sequence" ? typeof m.stop_sequence === "string" : m.stop_sequence === null, "stop_sequence " + J(m.stop_sequence));
  for (const b of m.content) check(["text", "thinking", "tool_use"].includes(b.type), "block type " + b.type);
  const u = m.usage;
  check(u && Number.isInteger(u.input_tokens) && u.output_tokens > 0 && Number.isInteger(u.cache_read_input_tokens), "usage " + J(u));
}

// The chat endpoint's greedy answer for the same conversation (content, finish_reason, usage).
async function chatOf(messages, extra = {}) {
  const c = await openai.chat.completions.create({ model, messages, temperature: 0, ...extra });
  return { text: c.choices[0].message.content || "", reasoning: c.choices[0].message.reasoning_content || "", c };
}

async function text() {
  const q = "My internet is down. What should I do?";
  const m = await client.messages.create({ model, max_tokens: 16, temperature: 0, messages: [{ role: "user", content: q }] });
  checkMessage(m);
  check(m.usage.output_tokens <= 16, "output_tokens <= max_tokens");
  check((m.stop_reason === "max_tokens") === (m.usage.output_tokens === 16), "stop_reason max_tokens iff the limit was reached " + J(m.usage));
  const chat = await chatOf([{ role: "user", content: q }], { max_tokens: 16 });
  check(textOf(m) === chat.text, `messages text equals chat text: ${J(textOf(m))} vs ${J(chat.text)}`);
  const thinking = m.content.filter((b) => b.type === "thinking").map((b) => b.thinking).join("");
  check(thinking === chat.reasoning, "thinking blocks = reasoning_content");
  check(m.usage.input_tokens + m.usage.cache_read_input_tokens === chat.c.usage.prompt_tokens, "input tokens = chat prompt tokens");

  // A system prompt (string and text blocks) and earlier turns as content blocks.
  const ms = await client.messages.create({ model, max_tokens: 12, temperature: 0, system: SYSTEM, messages: [{ role: "user", content: "Is there an outage?" }] });
  const msb = await client.messages.create({ model, max_tokens: 12, temperature: 0, system: [{ type: "text", text: SYSTEM }],
    messages: [{ role: "user", content: [{ type: "text", text: "Is there an outage?" }] }] });
  const chatS = await chatOf([{ role: "system", content: SYSTEM }, { role: "user", content: "Is there an outage?" }], { max_tokens: 12 });
  check(textOf(ms) === chatS.text && textOf(msb) === chatS.text, `system prompt = system message: ${J(textOf(ms))} vs ${J(chatS.text)}`);
  const mm = await client.messages.create({ model, max_tokens: 8, temperature: 0, system: SYSTEM, messages: [
    { role: "user", content: "hi" }, { role: "assistant", content: [{ type: "text", text: "Hello! How can I help?" }] },
    { role: "user", content: "my bill" }] });
  const chatM = await chatOf([{ role: "system", content: SYSTEM }, { role: "user", content: "hi" },
    { role: "assistant", content: "Hello! How can I help?" }, { role: "user", content: "my bill" }], { max_tokens: 8 });
  check(textOf(mm) === chatM.text, "multi-turn blocks = chat messages");

  // max_tokens: a shorter limit cuts the same greedy answer.
  if (m.stop_reason === "max_tokens") {
    const m2 = await client.messages.create({ model, max_tokens: 2, temperature: 0, messages: [{ role: "user", content: q }] });
    check(m2.stop_reason === "max_tokens" && m2.usage.output_tokens === 2, "max_tokens 2 -> stop_reason max_tokens " + J(m2));
    check(textOf(m).startsWith(textOf(m2)), "a shorter limit is a prefix");
  }
  // Generous max_tokens (Anthropic clients send 4096+) is bounded by the context, not refused.
  // (Streamed and left after message_start: the server cancels the rest.)
  let started = false;
  for await (const ev of client.messages.stream({ model, max_tokens: 1000000, messages: [{ role: "user", content: "hi" }] })) {
    started = ev.type === "message_start";
    break;
  }
  check(started, "max_tokens beyond the context is accepted");

  // count_tokens: the prompt as rendered.
  const ct = await client.messages.countTokens({ model, system: SYSTEM, messages: [{ role: "user", content: "Is there an outage?" }] });
  check(ct.input_tokens === chatS.c.usage.prompt_tokens, `count_tokens ${ct.input_tokens} = chat prompt tokens ${chatS.c.usage.prompt_tokens}`);
  log("messages text ok");
}

async function stops() {
  // stop_sequences: pick a piece of the greedy answer; the answer then ends right before it.
  const q = "Tell me about your data plans.";
  const full = await client.messages.create({ model, max_tokens: 32, temperature: 0, messages: [{ role: "user", content: q }] });
  const cps = Array.from(textOf(full));
  let stop = null;
  for (let i = 3; i + 2 <= cps.length && !stop; ++i) {
    const s = cps.slice(i, i + 2).join("");
    if (s.trim().length === 2) stop = s;
  }
  if (!stop) {
    log("messages stop_sequences skipped: the greedy answer has no visible text " + J(textOf(full)));
    return;
  }
  const want = textOf(full).slice(0, textOf(full).indexOf(stop));
  const m = await client.messages.create({ model, max_tokens: 32, temperature: 0, stop_sequences: ["\u0001never", stop], messages: [{ role: "user", content: q }] });
  checkMessage(m);
  check(m.stop_reason === "stop_sequence" && m.stop_sequence === stop, `stop_reason stop_sequence for ${J(stop)}: ${m.stop_reason} ${J(m.stop_sequence)}`);
  check(textOf(m) === want, `text cut before the stop sequence: ${J(textOf(m))} vs ${J(want)}`);
  const chat = await chatOf([{ role: "user", content: q }], { max_tokens: 32, stop: [stop] });
  check(chat.text === want, "same as the chat endpoint's stop");
  // Streamed: the same stop, in message_delta.
  const st = client.messages.stream({ model, max_tokens: 32, temperature: 0, stop_sequences: [stop], messages: [{ role: "user", content: q }] });
  const fin = await st.finalMessage();
  check(fin.stop_reason === "stop_sequence" && fin.stop_sequence === stop && textOf(fin) === want, "streamed stop_sequence " + J(fin));
  log("messages stop_sequences ok");
}

async function tools() {
  for (const tool_choice of [{ type: "tool", name: "get_weather" }, { type: "any" }]) {
    const q = "What's the weather in Paris?";
    const m = await client.messages.create({ model, max_tokens: 64, temperature: 0.7, system: SYSTEM, tools: [weatherTool, ticketTool], tool_choice,
      messages: [{ role: "user", content: q }] });
    checkMessage(m);
    check(m.stop_reason === "tool_use", "stop_reason tool_use " + J(m));
    const uses = m.content.filter((b) => b.type === "tool_use");
    check(uses.length === 1, "one tool_use " + J(m.content));
    const u = uses[0];
    check(/^toolu_[A-Za-z0-9]+$/.test(u.id), "tool_use id " + u.id);
    const tool = [weatherTool, ticketTool].find((t) => t.name === u.name);
    check(tool && (tool_choice.type === "any" || u.name === "get_weather"), "tool name " + u.name);
    validate(tool.input_schema, u.input);

    // The tool result continues the conversation, equal to the chat endpoint's round trip.
    const result = J({ temp: 18, sky: "clear" });
    const rt = await client.messages.create({ model, max_tokens: 12, temperature: 0, system: SYSTEM, tools: [weatherTool, ticketTool], messages: [
      { role: "user", content: q }, { role: "assistant", content: m.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: u.id, content: result }] }] });
    checkMessage(rt);
    const chat = await chatOf([{ role: "system", content: SYSTEM }, { role: "user", content: q },
      { role: "assistant", content: textOf(m) || null, tool_calls: [{ id: u.id, type: "function", function: { name: u.name, arguments: J(u.input) } }] },
      { role: "tool", tool_call_id: u.id, content: result }], { max_tokens: 12, tools: asChatTools([weatherTool, ticketTool]) });
    check(textOf(rt) === chat.text, `round trip = chat round trip: ${J(textOf(rt))} vs ${J(chat.text)}`);
    // tool_result content as text blocks is the same conversation.
    const rb = await client.messages.create({ model, max_tokens: 12, temperature: 0, system: SYSTEM, tools: [weatherTool, ticketTool], messages: [
      { role: "user", content: q }, { role: "assistant", content: m.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: u.id, content: [{ type: "text", text: result }] }] }] });
    check(textOf(rb) === chat.text, "tool_result text blocks = string content");
  }
  // tool_choice none: plain text, no tool_use.
  const n = await client.messages.create({ model, max_tokens: 8, temperature: 0, tools: [weatherTool], tool_choice: { type: "none" },
    messages: [{ role: "user", content: "hello" }] });
  check(n.content.every((b) => b.type !== "tool_use") && n.stop_reason !== "tool_use", "tool_choice none");
  log("messages tools + round trip ok");
}

// Checks the order of one stream's events; returns them with the final message.
async function streamed(params) {
  const stream = client.messages.stream(params);
  const events = [];
  let emptyStart = false;
  for await (const ev of stream) {
    // (the client accumulates into message_start's object: look at it as it arrives)
    if (events.length === 0) emptyStart = ev.type === "message_start" && ev.message.content.length === 0 && ev.message.stop_reason === null;
    events.push(ev);
  }
  const final = await stream.finalMessage();
  check(events[0].type === "message_start" && emptyStart, "message_start first, empty");
  check(events[0].message.usage.input_tokens > 0, "message_start carries input_tokens");
  check(events.at(-1).type === "message_stop" && events.at(-2).type === "message_delta", "message_delta, message_stop last");
  let open = -1, next = 0;
  for (const e of events.slice(1, -2)) {
    if (e.type === "content_block_start") {
      check(open === -1 && e.index === next, `block ${e.index} starts in order`);
      open = e.index;
      ++next;
    } else if (e.type === "content_block_stop") {
      check(e.index === open, "block stop matches");
      open = -1;
    } else {
      check(e.type === "content_block_delta" && e.index === open, `${e.type} for the open block`);
    }
  }
  check(open === -1 && final.content.length === next, "every block closed");
  const md = events.at(-2);
  check(md.delta.stop_reason === final.stop_reason && md.usage.output_tokens === final.usage.output_tokens, "message_delta = final");
  checkMessage(final);
  return { events, final };
}

async function streaming() {
  const params = { model, max_tokens: 24, temperature: 0, system: SYSTEM, messages: [{ role: "user", content: "Tell me about your plans." }] };
  const { events, final } = await streamed(params);
  const deltas = events.filter((e) => e.type === "content_block_delta" && e.delta.type === "text_delta").map((e) => e.delta.text).join("");
  check(deltas === textOf(final), "text deltas concatenate to the final text");
  const once = await client.messages.create(params);
  check(textOf(once) === deltas && once.stop_reason === final.stop_reason, `stream = non-stream: ${J(deltas)} vs ${J(textOf(once))}`);
  check(J(once.content.map((b) => b.type)) === J(final.content.map((b) => b.type)), "same blocks streamed and not");
  check(once.usage.output_tokens === final.usage.output_tokens, "same usage");
  // The text helper too.
  const t = await client.messages.stream(params).finalText();
  check(t === textOf(once) || t === once.content.filter((b) => b.type === "text").at(-1)?.text, "finalText()");

  // A forced call streamed: input_json_delta pieces concatenate to the final input.
  const fc = await streamed({ model, max_tokens: 64, temperature: 0.7, tools: [weatherTool], tool_choice: { type: "any" },
    messages: [{ role: "user", content: "Weather in Oslo?" }] });
  const use = fc.final.content.find((b) => b.type === "tool_use");
  check(use && use.name === "get_weather" && fc.final.stop_reason === "tool_use", "streamed tool_use " + J(fc.final));
  const start = fc.events.find((e) => e.type === "content_block_start" && e.content_block.type === "tool_use");
  check(start.content_block.id === use.id && J(start.content_block.input) === "{}", "tool_use block starts with empty input");
  const pj = fc.events.filter((e) => e.type === "content_block_delta" && e.delta.type === "input_json_delta").map((e) => e.delta.partial_json).join("");
  check(J(JSON.parse(pj)) === J(use.input), `input_json_delta pieces = input: ${pj} vs ${J(use.input)}`);
  validate(weatherSchema, use.input);
  log("messages streaming ok");
}

async function malformed() {
  // 400s in Anthropic's error shape, naming the problem; the server stays up.
  const cases = [
    [{ model, messages: [{ role: "user", content: "x" }] }, "max_tokens"],
    [{ model, max_tokens: 5 }, "messages"],
    [{ model, max_tokens: 5, messages: [{ role: "robot", content: "x" }] }, "messages.0.role"],
    [{ model, max_tokens: 5, messages: [{ role: "user", content: [{ type: "image", source: { type: "url", url: "http://x" } }] }] }, "messages.0.content.0.type"],
    [{ model, max_tokens: 5, messages: [{ role: "user", content: [{ type: "tool_result" }] }] }, "tool_use_id"],
    [{ model, max_tokens: 5, messages: [{ role: "user", content: "x" }], tools: [{ name: "f" }] }, "tools.0.input_schema"],
    [{ model, max_tokens: 5, messages: [{ role: "user", content: "x" }], tool_choice: { type: "any" } }, "tool_choice"],
    [{ model, max_tokens: 5, messages: [{ role: "user", content: "x" }], temperature: 7 }, "temperature"],
    [{ model, max_tokens: 5, messages: [{ role: "user", content: "x" }], stop_sequences: "END" }, "stop_sequences"],
  ];
  for (const [body, needle] of cases) {
    const res = await fetch(base + "/v1/messages", { method: "POST", headers: { "Content-Type": "application/json", "x-api-key": "none" }, body: J(body) });
    const j = await res.json();
    check(res.status === 400 && j.type === "error" && j.error.type === "invalid_request_error" && j.error.message.includes(needle),
      `${J(body)} -> ${res.status} ${J(j)}`);
  }
  for (const raw of ["", "{", "[]", "{\"messages\":" + "[".repeat(5000), "{\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}"]) {
    const res = await fetch(base + "/v1/messages", { method: "POST", headers: { "Content-Type": "application/json" }, body: raw });
    const j = await res.json();
    check(res.status === 400 && j.type === "error" && j.error.type === "invalid_request_error", "raw body -> 400 " + J(j));
  }
  // An over-long prompt: 400 (from the shared core) in Anthropic's shape.
  const long = await fetch(base + "/v1/messages", { method: "POST", headers: { "Content-Type": "application/json" },
    body: J({ model, max_tokens: 5, messages: [{ role: "user", content: "word ".repeat(20000) }] }) });
  const lj = await long.json();
  check(long.status === 400 && lj.type === "error" && /context/.test(lj.error.message), "context overflow " + J(lj));
  let err;
  try {
    await client.messages.create({ model, max_tokens: 5, messages: [{ role: "user", content: "x" }], tools: [{ name: "f" }] });
  } catch (e) { err = e; }
  check(err instanceof BadRequestError && err.status === 400 && err.error?.error?.type === "invalid_request_error" &&
    /tools\.0\.input_schema/.test(err.message), "the client raises BadRequestError: " + (err && err.message));
  err = undefined;
  try {
    await client.messages.countTokens({ model, messages: [] });
  } catch (e) { err = e; }
  check(err instanceof BadRequestError, "count_tokens validates too");
  const nf = await fetch(base + "/v1/messages/batches", { method: "POST", body: "{}" });
  const nj = await nf.json();
  check(nf.status === 404 && nj.type === "error" && nj.error.type === "not_found_error", "unknown path -> 404 in Anthropic's shape " + J(nj));
  const huge = await fetch(base + "/v1/messages", { method: "POST", headers: { "Content-Type": "application/json" }, body: "x".repeat(9 << 20) });
  const hj = await huge.json();
  check(huge.status === 413 && hj.type === "error" && hj.error.type === "request_too_large", "9 MB body -> 413 in Anthropic's shape " + J(hj));
  check((await fetch(base + "/health")).ok, "server alive");
  log("messages malformed ok");
}

async function auth() {
  // x-api-key (the SDK's apiKey) and Authorization: Bearer (authToken) are accepted.
  const params = { model, max_tokens: 2, messages: [{ role: "user", content: "hi" }] };
  checkMessage(await client.messages.create(params));
  checkMessage(await new Anthropic({ baseURL: base, apiKey: null, authToken: key, maxRetries: 0 }).messages.create(params));
  for (const bad of [new Anthropic({ baseURL: base, apiKey: key + "x", maxRetries: 0 }), new Anthropic({ baseURL: base, authToken: "nope", apiKey: null, maxRetries: 0 })]) {
    let err;
    try { await bad.messages.create(params); } catch (e) { err = e; }
    check(err instanceof AuthenticationError && err.status === 401 && err.error?.type === "error" && err.error?.error?.type === "authentication_error",
      "a wrong key raises AuthenticationError: " + (err && err.message));
  }
  const res = await fetch(base + "/v1/messages", { method: "POST", headers: { "Content-Type": "application/json" }, body: J(params) });
  const j = await res.json();
  check(res.status === 401 && j.type === "error" && j.error.type === "authentication_error", "no key -> 401 " + J(j));
  log("messages auth ok");
}

async function main() {
  model = (await fetch(base + "/v1/models", { headers: key ? { Authorization: "Bearer " + key } : {} }).then((r) => r.json())).data[0].id;
  if (mode === "auth") {
    await auth();
  } else {
    await text();
    await stops();
    await tools();
    await streaming();
    await malformed();
  }
  log(`messages ${mode}: all checks passed`);
}

main().catch((e) => { console.error(e.stack || e.message); process.exit(1); });
