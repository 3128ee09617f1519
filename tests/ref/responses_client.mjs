// Drives `moecat serve`'s POST /v1/responses with the official `openai` npm client
// (client.responses.create / client.responses.stream) and raw fetch for malformed bodies.
// Every check throws on failure; the process exits 1 then.
//   node responses_client.mjs BASE_URL
// Checks: text answers equal the chat endpoint's for the same conversation (greedy), with
// instructions; forced function calls whose arguments validate, a round trip with
// function_call_output; json_schema / json_object output that parses and validates;
// previous_response_id continuing a stored conversation (and a clear 400 without one); the
// typed SSE events in order (sequence numbers, item lifecycle), deltas that concatenate to the
// final text / arguments; usage; 400s naming the field for malformed bodies.
import OpenAI from "openai";

const [base] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + "/v1", apiKey: "none", maxRetries: 0, timeout: 600000 });
const model = (await fetch(base + "/v1/models").then((r) => r.json())).data[0].id;

function check(cond, msg) {
  if (!cond) throw new Error("FAILED: " + msg);
}
const log = (...a) => console.log(...a);

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
  if (t) check(typeOk[t](), `${path}: expected ${t}, got ${JSON.stringify(v)}`);
  if (schema.enum) check(schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v)), `${path}: not in enum`);
  if (t === "string" && schema.maxLength !== undefined) check([...v].length <= schema.maxLength, `${path}: too long`); // JSON Schema counts code points
  if (t === "object") {
    for (const k of schema.required || []) check(k in v, `${path}: missing ${k}`);
    for (const [k, val] of Object.entries(v)) {
      if (schema.properties && schema.properties[k]) validate(schema.properties[k], val, path + "." + k);
      else check(schema.additionalProperties !== false, `${path}: unexpected key ${k}`);
    }
  }
  if (t === "array") v.forEach((x, i) => schema.items && validate(schema.items, x, `${path}[${i}]`));
}

const weatherParams = {
  type: "object",
  properties: { city: { type: "string", maxLength: 24 }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
  required: ["city", "unit"],
  additionalProperties: false,
};
const weatherTool = { type: "function", name: "get_weather", description: "Current weather for a city", parameters: weatherParams, strict: true };
const ticketTool = {
  type: "function", name: "open_ticket", description: "Open a support ticket", strict: true,
  parameters: { type: "object", properties: { priority: { type: "integer" } }, required: ["priority"], additionalProperties: false },
};
const SYSTEM = "You are the support assistant of Example Telecom. Answer briefly.";

function checkUsage(r, maxOut) {
  const u = r.usage;
  check(u && u.input_tokens > 0 && u.output_tokens > 0 && u.total_tokens === u.input_tokens + u.output_tokens, "usage " + JSON.stringify(u));
  check(u.input_tokens_details && Number.isInteger(u.input_tokens_details.cached_tokens), "cached_tokens");
  check(u.output_tokens_details && Number.isInteger(u.output_tokens_details.reasoning_tokens), "reasoning_tokens");
  if (maxOut) check(u.output_tokens <= maxOut, "output_tokens <= max_output_tokens");
}

function checkResponse(r) {
  check(r.object === "response" && /^resp_/.test(r.id) && typeof r.created_at === "number", "response header " + JSON.stringify(r).slice(0, 200));
  check(r.status === "completed" || r.status === "incomplete", "status " + r.status);
  check(r.model === model, "model");
  check(Array.isArray(r.output) && r.output.length > 0, "output items");
  for (const it of r.output) {
    check(["message", "reasoning", "function_call"].includes(it.type), "item type " + it.type);
    if (it.type === "message") {
      check(it.role === "assistant" && it.status === "completed" && /^msg_/.test(it.id), "message item " + JSON.stringify(it));
      check(it.content.length === 1 && it.content[0].type === "output_text" && Array.isArray(it.content[0].annotations), "output_text part");
    }
  }
}

async function chatOf(messages, extra = {}) {
  const c = await client.chat.completions.create({ model, messages, temperature: 0, ...extra });
  return c.choices[0].message.content || "";
}

async function text() {
  // 1. a string input, then the same with instructions: equal to the chat endpoint's answer.
  const r = await client.responses.create({ model, input: "My internet is down. What should I do?", temperature: 0, max_output_tokens: 16 });
  checkResponse(r);
  checkUsage(r, 16);
  check(r.status === "incomplete" ? r.incomplete_details.reason === "max_output_tokens" : r.incomplete_details === null, "incomplete_details");
  const chat = await chatOf([{ role: "user", content: "My internet is down. What should I do?" }], { max_tokens: 16 });
  check(r.output_text === chat, `responses text equals chat text: ${JSON.stringify(r.output_text)} vs ${JSON.stringify(chat)}`);

  const ri = await client.responses.create({ model, instructions: SYSTEM, input: [{ role: "user", content: [{ type: "input_text", text: "Is there an outage?" }] }],
    temperature: 0, max_output_tokens: 12 });
  checkResponse(ri);
  check(ri.instructions === SYSTEM, "instructions echoed");
  const chatI = await chatOf([{ role: "system", content: SYSTEM }, { role: "user", content: "Is there an outage?" }], { max_tokens: 12 });
  check(ri.output_text === chatI, "instructions = system message");
  // developer role and an earlier assistant turn as input items
  const rm = await client.responses.create({ model, input: [
    { role: "developer", content: SYSTEM }, { role: "user", content: "hi" },
    { type: "message", role: "assistant", content: [{ type: "output_text", text: "Hello! How can I help?", annotations: [] }] },
    { role: "user", content: "my bill" }], temperature: 0, max_output_tokens: 8 });
  const chatM = await chatOf([{ role: "system", content: SYSTEM }, { role: "user", content: "hi" },
    { role: "assistant", content: "Hello! How can I help?" }, { role: "user", content: "my bill" }], { max_tokens: 8 });
  check(rm.output_text === chatM, "multi-turn items = chat messages");
  log("responses text ok");
}

async function tools() {
  // 2. forced calls (named and required); the round trip with function_call_output.
  for (const tool_choice of [{ type: "function", name: "get_weather" }, "required"]) {
    const r = await client.responses.create({ model, instructions: SYSTEM, input: "What's the weather in Paris?", tools: [weatherTool, ticketTool],
      tool_choice, temperature: 0.7, seed: 3, max_output_tokens: 64 });
    checkResponse(r);
    check(r.status === "completed", "a call completes the response");
    const calls = r.output.filter((o) => o.type === "function_call");
    check(calls.length === 1, "one function_call " + JSON.stringify(r.output));
    const c = calls[0];
    check(/^fc_/.test(c.id) && /^call_[A-Za-z0-9]{24}$/.test(c.call_id) && c.status === "completed", "call ids " + JSON.stringify(c));
    const tool = [weatherTool, ticketTool].find((t) => t.name === c.name);
    check(tool && (tool_choice === "required" || c.name === "get_weather"), "tool name " + c.name);
    validate(tool.parameters, JSON.parse(c.arguments));
    // strict tools: the client parses the arguments itself
    if (r.output_parsed !== undefined || c.parsed_arguments !== undefined) check(c.parsed_arguments !== null, "parsed_arguments");

    const input = [{ role: "user", content: "What's the weather in Paris?" }, ...r.output,
      { type: "function_call_output", call_id: c.call_id, output: JSON.stringify({ temp: 18, sky: "clear" }) }];
    const rt = await client.responses.create({ model, instructions: SYSTEM, input, tools: [weatherTool, ticketTool], temperature: 0, max_output_tokens: 12 });
    checkResponse(rt);
    // The same conversation through the chat endpoint gives the same answer.
    const chat = await chatOf([{ role: "system", content: SYSTEM }, { role: "user", content: "What's the weather in Paris?" },
      { role: "assistant", content: null, tool_calls: [{ id: c.call_id, type: "function", function: { name: c.name, arguments: c.arguments } }] },
      { role: "tool", tool_call_id: c.call_id, content: JSON.stringify({ temp: 18, sky: "clear" }) }],
      { max_tokens: 12, tools: [weatherTool, ticketTool].map(({ type, ...f }) => ({ type, function: f })) });
    check(rt.output_text === chat, `round trip = chat round trip: ${JSON.stringify(rt.output_text)} vs ${JSON.stringify(chat)}`);
  }
  log("responses function calls + round trip ok");
}

async function structured() {
  // 3. text.format json_schema / json_object.
  const schema = {
    type: "object",
    properties: { intent: { type: "string", enum: ["billing", "outage", "other"] }, urgency: { type: "integer" }, summary: { type: "string", maxLength: 40 } },
    required: ["intent", "urgency", "summary"],
    additionalProperties: false,
  };
  for (const seed of [1, 2]) {
    const r = await client.responses.create({ model, input: "Classify: my bill is wrong", temperature: 1, seed, max_output_tokens: 80,
      text: { format: { type: "json_schema", name: "ticket", schema, strict: true } } });
    checkResponse(r);
    check(r.text.format.type === "json_schema" && r.text.format.name === "ticket", "text.format echoed");
    validate(schema, JSON.parse(r.output_text));
    const o = await client.responses.create({ model, input: "Reply in JSON", temperature: 1, seed, max_output_tokens: 40, text: { format: { type: "json_object" } } });
    const v = JSON.parse(o.output_text);
    check(v !== null && typeof v === "object" && !Array.isArray(v), "json_object gives an object");
  }
  // The client's own parse helper (output_parsed from the schema).
  const p = await client.responses.parse({ model, input: "Classify: no signal", temperature: 1, seed: 5, max_output_tokens: 80,
    text: { format: { type: "json_schema", name: "ticket", schema, strict: true } } });
  validate(schema, p.output_parsed);
  log("responses json_schema ok");
}

async function previous() {
  // 4. previous_response_id continues the stored conversation.
  const r1 = await client.responses.create({ model, instructions: SYSTEM, input: "My name is Ada.", temperature: 0, max_output_tokens: 10 });
  const r2 = await client.responses.create({ model, instructions: SYSTEM, previous_response_id: r1.id, input: "What is my name?", temperature: 0, max_output_tokens: 10 });
  checkResponse(r2);
  check(r2.previous_response_id === r1.id, "previous_response_id echoed");
  check(r2.usage.input_tokens > r1.usage.input_tokens + 4, "the earlier turn is in the prompt");
  const chat = await chatOf([{ role: "system", content: SYSTEM }, { role: "user", content: "My name is Ada." },
    { role: "assistant", content: r1.output_text }, { role: "user", content: "What is my name?" }], { max_tokens: 10 });
  check(r2.output_text === chat, `continued conversation = chat with history: ${JSON.stringify(r2.output_text)} vs ${JSON.stringify(chat)}`);
  // a chain of three, through a function call
  const r3 = await client.responses.create({ model, previous_response_id: r2.id, input: "Weather in Rome?", tools: [weatherTool],
    tool_choice: { type: "function", name: "get_weather" }, max_output_tokens: 64, temperature: 0 });
  const call = r3.output.find((o) => o.type === "function_call");
  check(call, "chained call");
  const r4 = await client.responses.create({ model, previous_response_id: r3.id, tools: [weatherTool], temperature: 0, max_output_tokens: 8,
    input: [{ type: "function_call_output", call_id: call.call_id, output: "sunny" }] });
  checkResponse(r4);
  check(r4.usage.input_tokens > r3.usage.input_tokens, "tool result continues the chain");

  // unknown and unstored ids: a 400 naming previous_response_id
  const rs = await client.responses.create({ model, input: "hi", store: false, max_output_tokens: 2 });
  for (const id of ["resp_nope", rs.id]) {
    let err;
    try {
      await client.responses.create({ model, input: "again", previous_response_id: id, max_output_tokens: 2 });
    } catch (e) { err = e; }
    check(err && err.status === 400 && err.param === "previous_response_id", "unknown previous_response_id -> 400 " + (err && err.message));
  }
  log("responses previous_response_id ok");
}

// Checks the typed events of one stream and returns them with the final response.
async function streamed(params) {
  const stream = client.responses.stream(params);
  const events = [];
  for await (const ev of stream) events.push(ev);
  const final = await stream.finalResponse();
  events.forEach((e, i) => check(e.sequence_number === i, `sequence_number ${e.sequence_number} at ${i}`));
  check(events[0].type === "response.created" && events[1].type === "response.in_progress", "created, in_progress first");
  const last = events[events.length - 1];
  check(last.type === "response.completed" || last.type === "response.incomplete", "completed last: " + last.type);
  // item lifecycle: added -> (part added -> deltas -> done -> part done) -> item done, one item at a time
  let open = -1;
  const added = new Set();
  for (const e of events.slice(2, -1)) {
    if (e.type === "response.output_item.added") {
      check(open === -1 && !added.has(e.output_index), "one open item at a time");
      open = e.output_index;
      added.add(open);
    } else if (e.type === "response.output_item.done") {
      check(e.output_index === open && e.item.status === "completed", "item done matches");
      open = -1;
    } else {
      check(e.output_index === open, `${e.type} for the open item`);
    }
  }
  check(open === -1, "every item closed");
  // The client's snapshot is replaced only by response.completed (not by response.incomplete):
  // the text is read from the final event's response object.
  const textOf = (r) => r.output.filter((o) => o.type === "message").flatMap((o) => o.content).map((c) => c.text).join("");
  check(final.id === last.response.id && textOf(final) === textOf(last.response), "the client's accumulated snapshot");
  if (last.type === "response.completed") check(final.status === "completed" && final.output.length === last.response.output.length, "finalResponse");
  return { events, final, last: last.response, text: textOf(last.response) };
}

async function streaming() {
  // 5. text stream: deltas concatenate to the final text, equal to the non-streamed answer.
  const params = { model, instructions: SYSTEM, input: "Tell me about your plans.", temperature: 0, max_output_tokens: 24 };
  const { events, final, last, text } = await streamed(params);
  const deltas = events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
  const done = events.filter((e) => e.type === "response.output_text.done").map((e) => e.text).join("");
  check(deltas === done && deltas === text, "deltas concatenate to the final text");
  const types = events.map((e) => e.type);
  for (const t of ["response.output_item.added", "response.content_part.added", "response.output_text.delta", "response.output_text.done",
    "response.content_part.done", "response.output_item.done"])
    check(types.includes(t), "event " + t);
  check(types.indexOf("response.content_part.added") < types.indexOf("response.output_text.delta"), "part before deltas");
  checkUsage(last, 24);
  const once = await client.responses.create(params);
  check(once.output_text === text, "stream = non-stream text");
  check(JSON.stringify(once.output.map((o) => o.type)) === JSON.stringify(last.output.map((o) => o.type)), "same items streamed and not");

  // a forced call streamed: argument deltas concatenate to .done and to the final item
  const fc = await streamed({ model, input: "Weather in Oslo?", tools: [weatherTool], tool_choice: "required", temperature: 0.7, seed: 4, max_output_tokens: 64 });
  const argDeltas = fc.events.filter((e) => e.type === "response.function_call_arguments.delta").map((e) => e.delta).join("");
  const argDone = fc.events.find((e) => e.type === "response.function_call_arguments.done");
  check(argDone && argDone.arguments === argDeltas && argDone.name === "get_weather", "function_call_arguments events");
  const item = fc.last.output.find((o) => o.type === "function_call");
  check(item && item.arguments === argDeltas, "final item arguments");
  validate(weatherParams, JSON.parse(argDeltas));

  // json_schema streamed
  const js = await streamed({ model, input: "Classify", temperature: 1, seed: 2, max_output_tokens: 60,
    text: { format: { type: "json_schema", name: "c", schema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] } } } });
  check(typeof JSON.parse(js.text).ok === "boolean", "streamed json_schema");

  // previous_response_id works from a streamed response too
  const cont = await client.responses.create({ model, previous_response_id: last.id, input: "And then?", temperature: 0, max_output_tokens: 4 });
  check(cont.usage.input_tokens > last.usage.input_tokens, "streamed response stored");
  log("responses streaming ok");
}

async function malformed() {
  // 6. malformed bodies: 400 with an OpenAI error object naming the field; the server stays up.
  const cases = [
    [{ model }, "input"],
    [{ model, input: [{ role: "robot", content: "x" }] }, "input"],
    [{ model, input: [{ type: "function_call_output", output: "x" }] }, "input"],
    [{ model, input: [{ role: "user", content: [{ type: "input_image", image_url: "http://x" }] }] }, "input"],
    [{ model, input: "x", tools: [{ type: "web_search" }] }, "tools"],
    [{ model, input: "x", text: { format: { type: "json_schema", name: "n" } } }, "text.format"],
    [{ model, input: "x", max_output_tokens: -1 }, "max_output_tokens"],
    [{ model, input: "x", background: true }, "background"],
    [{ model, input: "x", temperature: "hot" }, "temperature"],
  ];
  for (const [body, param] of cases) {
    const res = await fetch(base + "/v1/responses", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const j = await res.json();
    check(res.status === 400 && j.error && j.error.param === param && j.error.type === "invalid_request_error",
      `${JSON.stringify(body)} -> ${res.status} ${JSON.stringify(j)}`);
  }
  for (const raw of ["", "{", "[]", "{\"input\":" + "[".repeat(5000)]) {
    const res = await fetch(base + "/v1/responses", { method: "POST", headers: { "Content-Type": "application/json" }, body: raw });
    check(res.status === 400, "raw body -> 400");
  }
  let err;
  try { await client.responses.create({ model, input: [{ role: "user" }] }); } catch (e) { err = e; }
  check(err && err.status === 400 && err.param === "input", "client sees BadRequestError");
  check((await fetch(base + "/health")).ok, "server alive");
  log("responses malformed ok");
}

async function main() {
  await text();
  await tools();
  await structured();
  await previous();
  await streaming();
  await malformed();
  log("responses: all checks passed");
}

main().catch((e) => { console.error(e.stack || e.message); process.exit(1); });
