// Drives a running `moecat serve` with the official `openai` npm client (and raw fetch for
// what the client will not send). Every check throws on failure; the process exits 1 then.
//   node serve_client.mjs MODE BASE_URL [args]
// MODE: main (chat, streaming, tools, json_schema, logprobs, stop, concurrency, prefix cache,
// metrics, cancellation), auth KEY, queue, bad REQUESTS.json, load N CONCURRENCY PID.
import OpenAI from "openai";
import fs from "node:fs";

const [mode, base, ...rest] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + "/v1", apiKey: rest[0] && mode === "auth" ? rest[0] : "none", maxRetries: 0, timeout: 600000 });
const model = (await fetch(base + "/v1/models", { headers: mode === "auth" ? { Authorization: "Bearer " + rest[0] } : {} }).then((r) => r.json())).data[0].id;

function check(cond, msg) {
  if (!cond) throw new Error("FAILED: " + msg);
}
const log = (...a) => console.log(...a);
const SYSTEM = "You are the support assistant of Example Telecom. Answer briefly and politely. ";

// A small independent validator for the schemas used below (types, required, enum, items).
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
  if (t) check(typeOk[t](), `${path}: expected ${t}, got ${JSON.stringify(v)}`);
  if (schema.enum) check(schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v)), `${path}: not in enum`);
  if (t === "object") {
    for (const k of schema.required || []) check(k in v, `${path}: missing ${k}`);
    for (const [k, val] of Object.entries(v)) {
      if (schema.properties && schema.properties[k]) validate(schema.properties[k], val, path + "." + k);
      else check(schema.additionalProperties !== false, `${path}: unexpected key ${k}`);
    }
  }
  if (t === "array") {
    if (schema.minItems !== undefined) check(v.length >= schema.minItems, `${path}: too few items`);
    if (schema.maxItems !== undefined) check(v.length <= schema.maxItems, `${path}: too many items`);
    v.forEach((x, i) => schema.items && validate(schema.items, x, `${path}[${i}]`));
  }
}

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather for a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string", maxLength: 24 }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
      required: ["city", "unit"],
      additionalProperties: false,
    },
  },
};
const ticketTool = {
  type: "function",
  function: {
    name: "open_ticket",
    description: "Open a support ticket",
    parameters: {
      type: "object",
      properties: { priority: { type: "integer" }, tags: { type: "array", items: { type: "string", maxLength: 12 }, maxItems: 3 } },
      required: ["priority", "tags"],
      additionalProperties: false,
    },
  },
};

async function chatText(messages, extra = {}) {
  const r = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 24, ...extra });
  return r;
}

async function streamText(params) {
  const s = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let content = "", reasoning = "", finish = null, usage = null, chunks = 0, role = null;
  const calls = [];
  for await (const c of s) {
    chunks++;
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      if (ch.delta.role) role = ch.delta.role;
      content += ch.delta.content || "";
      reasoning += ch.delta.reasoning_content || "";
      for (const tc of ch.delta.tool_calls || []) {
        calls[tc.index] ??= { id: "", name: "", arguments: "", pieces: 0 };
        if (tc.id) calls[tc.index].id = tc.id;
        if (tc.function?.name) calls[tc.index].name += tc.function.name;
        if (tc.function?.arguments) {
          calls[tc.index].arguments += tc.function.arguments;
          calls[tc.index].pieces++;
        }
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  return { content, reasoning, finish, usage, chunks, calls, role };
}

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

const msgs = (q) => [{ role: "system", content: SYSTEM }, { role: "user", content: q }];

async function main() {
  // /props: what the web page starts a chat from (this test model carries no defaults).
  const props = await fetch(base + "/props").then((r) => r.json());
  check(props.model === model && typeof props.chat_template === "string" && props.n_ctx > 0, "/props " + JSON.stringify(props).slice(0, 200));
  check(Array.isArray(props.default_tools) && typeof props.default_system_prompt === "string", "/props defaults");
  const { a, ca } = await basicChat();
  await mainRest(a, ca);
}

// The checks every chat family must pass (run on Qwen3 by main, on gpt-oss harmony by family).
async function family() {
  await basicChat();
  await forcedTools();
  await roundTrip();
  await structured();
}

async function basicChat() {
  // 1. plain chat, then the same request streamed: identical text at temperature 0.
  const a = await chatText(msgs("My internet is down. What should I do?"));
  const ca = a.choices[0].message;
  check(a.object === "chat.completion" && ca.role === "assistant", "chat.completion shape");
  check(["length", "stop"].includes(a.choices[0].finish_reason), "finish_reason " + a.choices[0].finish_reason);
  check(a.usage.completion_tokens > 0 && a.usage.completion_tokens <= 24, "usage.completion_tokens " + a.usage.completion_tokens);
  check(a.usage.total_tokens === a.usage.prompt_tokens + a.usage.completion_tokens, "usage total");
  const s = await streamText({ model, messages: msgs("My internet is down. What should I do?"), temperature: 0, max_tokens: 24 });
  check(s.role === "assistant", "first chunk carries the role");
  check(s.content === (ca.content ?? "") && s.reasoning === (ca.reasoning_content ?? ""), `stream == non-stream: ${JSON.stringify(s.content)} vs ${JSON.stringify(ca.content)}`);
  check(s.usage && s.usage.completion_tokens === a.usage.completion_tokens, "stream usage chunk");
  check(s.usage.prompt_tokens_details?.cached_tokens > 0, "the repeated system prompt came from the prefix cache");
  log("chat + stream ok:", JSON.stringify((ca.reasoning_content ?? "") + (ca.content ?? "")).slice(0, 80));
  return { a, ca };
}

async function mainRest(a, ca) {

  // 2. logprobs
  const lp = await chatText(msgs("Hello"), { logprobs: true, top_logprobs: 3, max_tokens: 5 });
  const toks = lp.choices[0].logprobs.content;
  check(toks.length === lp.usage.completion_tokens, "one logprob entry per token");
  for (const t of toks) {
    check(t.logprob <= 0 && t.top_logprobs.length === 3, "logprob entry");
    check(t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob && t.top_logprobs[0].logprob >= t.logprob - 1e-6, "top sorted, greedy pick is top-1");
  }
  log("logprobs ok");

  // 3. stop string: cut the solo output at its 3rd..6th character.
  const full = (ca.reasoning_content ?? "") + (ca.content ?? "");
  if (ca.content && ca.content.length > 8) {
    const stop = ca.content.slice(3, 6);
    const st = await chatText(msgs("My internet is down. What should I do?"), { stop: [stop] });
    check(st.choices[0].finish_reason === "stop", "stop finish_reason");
    check(!st.choices[0].message.content.includes(stop) && ca.content.startsWith(st.choices[0].message.content), "stop truncates");
    log("stop ok");
  } else log("stop skipped: output too short", JSON.stringify(full));

  await forcedTools();
  await roundTrip();
  await structured();
  await restOfMain();
}

async function forcedTools() {
  // 4. forced tool calls: named and required, streamed and not.
  for (const stream of [false, true]) {
    const p = { model, messages: msgs("What's the weather in Paris?"), tools: [weatherTool, ticketTool], temperature: 0.7, seed: 3, max_tokens: 64 };
    const named = { ...p, tool_choice: { type: "function", function: { name: "get_weather" } } };
    const req = { ...p, tool_choice: "required" };
    for (const q of [named, req]) {
      let calls, finish;
      if (stream) ({ calls, finish } = await streamText(q));
      else {
        const r = await client.chat.completions.create(q);
        calls = (r.choices[0].message.tool_calls || []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
        finish = r.choices[0].finish_reason;
      }
      check(calls.length === 1 && finish === "tool_calls", `one tool call (${stream ? "stream" : "json"}): ${JSON.stringify(calls)} ${finish}`);
      const tool = [weatherTool, ticketTool].find((t) => t.function.name === calls[0].name);
      check(tool && (q.tool_choice === "required" || calls[0].name === "get_weather"), "tool name " + calls[0].name);
      // "call_" + 24 alphanumerics, or 9 alphanumerics where the family's template demands it (Mistral).
      check(/^call_[A-Za-z0-9]{24}$|^[A-Za-z0-9]{9}$/.test(calls[0].id), "call id " + calls[0].id);
      validate(tool.function.parameters, JSON.parse(calls[0].arguments));
    }
  }
  // Greedy: the streamed call's arguments arrive in pieces as they are generated (not in one
  // delta at the end) and concatenate to exactly the non-streamed call's arguments.
  for (const tool_choice of [{ type: "function", function: { name: "get_weather" } }, "required"]) {
    const q = { model, messages: msgs("What's the weather in Paris?"), tools: [weatherTool, ticketTool], tool_choice, temperature: 0, max_tokens: 64 };
    const r = await client.chat.completions.create(q);
    const one = r.choices[0].message.tool_calls?.[0];
    const { calls } = await streamText(q);
    check(one && calls.length === 1 && calls[0].name === one.function.name, `greedy forced call: ${JSON.stringify(calls)} vs ${JSON.stringify(one)}`);
    check(calls[0].arguments === one.function.arguments, `streamed arguments == non-streamed: ${JSON.stringify(calls[0].arguments)} vs ${JSON.stringify(one.function.arguments)}`);
    check(calls[0].pieces >= 3, `arguments streamed in pieces (${calls[0].pieces}): ${calls[0].arguments}`);
  }
  log("forced tool calls ok (arguments streamed in pieces)");
}

async function roundTrip() {
  // 5. a tool-call round trip through the template (assistant tool_calls + tool result).
  const rt = await chatText([
    { role: "system", content: SYSTEM },
    { role: "user", content: "Weather in Oslo?" },
    // 9 alphanumerics: the id shape every template accepts (Mistral's insist on it).
    { role: "assistant", content: null, tool_calls: [{ id: "call00001", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Oslo\",\"unit\":\"celsius\"}" } }] },
    { role: "tool", tool_call_id: "call00001", content: "{\"temp\": 3}" },
  ], { tools: [weatherTool] });
  check(rt.choices[0].message.role === "assistant", "round trip answered");
  log("tool round trip ok");
}

async function structured() {
  // 6. structured output
  const schema = {
    type: "object",
    properties: { intent: { type: "string", enum: ["billing", "outage", "other"] }, urgency: { type: "integer" }, summary: { type: "string", maxLength: 40 } },
    required: ["intent", "urgency", "summary"],
    additionalProperties: false,
  };
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.create({ model, messages: msgs("Classify: my bill is wrong"), temperature: 1, seed, max_tokens: 80,
      response_format: { type: "json_schema", json_schema: { name: "ticket", schema, strict: true } } });
    validate(schema, JSON.parse(r.choices[0].message.content));
    const o = await client.chat.completions.create({ model, messages: msgs("Reply in JSON"), temperature: 1, seed, max_tokens: 40, response_format: { type: "json_object" } });
    const v = JSON.parse(o.choices[0].message.content);
    check(v !== null && typeof v === "object" && !Array.isArray(v), "json_object gives an object");
  }
  const sj = await streamText({ model, messages: msgs("Classify: no signal"), temperature: 1, seed: 9, max_tokens: 80,
    response_format: { type: "json_schema", json_schema: { name: "ticket", schema } } });
  validate(schema, JSON.parse(sj.content));
  log("structured output ok");
}

async function restOfMain() {
  // 7. completions endpoint
  const c1 = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
  check(c1.object === "text_completion" && typeof c1.choices[0].text === "string", "text_completion");
  const cs = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 8, temperature: 0, stream: true,
    stream_options: { include_usage: true } });
  let ctext = "", cusage = null;
  for await (const c of cs) {
    if (c.usage) cusage = c.usage;
    for (const ch of c.choices) ctext += ch.text || "";
  }
  check(ctext === c1.choices[0].text && cusage?.completion_tokens === c1.usage.completion_tokens, "streamed completion == one-shot");
  log("completions ok");

  // 7b. n = 2: two choices with their own seeds; streamed choices equal the one-shot ones.
  const nreq = { model, messages: msgs("Any outages today?"), temperature: 0.9, seed: 42, max_tokens: 12, n: 2 };
  const two = await client.chat.completions.create(nreq);
  check(two.choices.length === 2 && two.choices[0].index === 0 && two.choices[1].index === 1, "n=2 gives two choices");
  const st2 = await client.chat.completions.create({ ...nreq, stream: true });
  const byIdx = ["", ""];
  for await (const c of st2) for (const ch of c.choices) byIdx[ch.index] += (ch.delta.reasoning_content || "") + (ch.delta.content || "");
  for (let i = 0; i < 2; i++)
    check(byIdx[i] === (two.choices[i].message.reasoning_content ?? "") + (two.choices[i].message.content ?? ""), `n=2 choice ${i}: stream == one-shot`);
  check(two.usage.completion_tokens === 24, "usage counts both choices");
  let nerr = 0;
  try { await client.chat.completions.create({ ...nreq, n: 99 }); } catch (e) { nerr = e.status; }
  check(nerr === 400, "n beyond the bound -> 400");
  log("n=2 ok");

  // 8. 16 concurrent streams == each alone (temperature 0 and seeded sampling).
  const qs = Array.from({ length: 16 }, (_, i) => ({
    model, messages: msgs(`Ticket ${i}: ` + ["router blinks red", "refund please", "slow wifi", "change my plan"][i % 4]),
    temperature: i % 2 ? 0.9 : 0, seed: 100 + i, max_tokens: 20 + (i % 5) * 6,
  }));
  const solo = [];
  for (const q of qs) solo.push(await streamText(q));
  const t0 = Date.now();
  const together = await Promise.all(qs.map((q) => streamText(q)));
  for (let i = 0; i < qs.length; i++) {
    check(together[i].finish !== null, `stream ${i} finished`);
    check(together[i].content === solo[i].content && together[i].reasoning === solo[i].reasoning, `stream ${i} differs from its solo run`);
  }
  log(`16 concurrent streams ok (${Date.now() - t0} ms), identical to solo runs`);

  // 8b. a burst of chats sharing a new long system prompt: it is prefilled once; the others
  // wait for it and take it from the prefix cache.
  const longSys = `Burst ${Date.now()}. ` + Array.from({ length: 110 }, (_, i) => `Rule ${i}: be kind.`).join(" ");
  const burst = await Promise.all(Array.from({ length: 4 }, (_, i) => client.chat.completions.create({
    model, messages: [{ role: "system", content: longSys }, { role: "user", content: "hi " + i }], max_tokens: 2, temperature: 0 })));
  // "from the cache": all but the last partial block and the user turn (< 64 tokens).
  const hits = burst.filter((r) => r.usage.prompt_tokens_details.cached_tokens > r.usage.prompt_tokens - 64).length;
  check(burst[0].usage.prompt_tokens > 500 && hits >= 3, `burst: ${hits} of 4 reused the shared prompt (${burst[0].usage.prompt_tokens} tokens)`);
  log(`burst ok: ${hits} of 4 took the ${burst[0].usage.prompt_tokens}-token shared prompt from the cache`);

  // 9. cancellation: abort a long stream after its first tokens; the sequence must leave.
  const before = await metrics();
  const ctl = new AbortController();
  const long = await client.chat.completions.create({ model, messages: msgs("Tell me a long story"), max_tokens: 900, temperature: 1, stream: true }, { signal: ctl.signal });
  let n = 0;
  try {
    for await (const _ of long) if (++n === 3) ctl.abort();
  } catch (e) { /* AbortError */ }
  let m;
  for (let i = 0; i < 100; i++) {
    m = await metrics();
    if (m["moecat_requests_cancelled_total"] > before["moecat_requests_cancelled_total"] && m["moecat_running_requests"] === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  check(m["moecat_requests_cancelled_total"] > before["moecat_requests_cancelled_total"], "disconnect cancelled the request");
  check(m["moecat_running_requests"] === 0 && m['moecat_kv_cache_blocks{state="in_use"}'] === 0, "its KV blocks were freed");
  check(m["moecat_generation_tokens_total"] - before["moecat_generation_tokens_total"] < 200, "generation stopped soon after the disconnect");
  log("cancel on disconnect ok");

  // 10. metrics
  for (const k of ["moecat_prompt_tokens_total", "moecat_generation_tokens_total", "moecat_time_to_first_token_seconds_count",
    "moecat_inter_token_latency_seconds_count", "moecat_prefix_cache_hit_ratio", "moecat_ffn_experts_per_token", "moecat_queue_length"])
    check(k in m, "metric " + k);
  check(m["moecat_prefix_cache_hit_ratio"] > 0, "prefix cache hits");
  check(Math.abs(m["moecat_ffn_experts_per_token"] - Number(rest[0])) < 1e-9, `FFN experts per token ${m["moecat_ffn_experts_per_token"]} != top-k ${rest[0]}`);
  log("metrics ok");
}

async function auth() {
  const key = rest[0];
  const bad = new OpenAI({ baseURL: base + "/v1", apiKey: "wrong", maxRetries: 0 });
  let status = 0;
  try { await bad.models.list(); } catch (e) { status = e.status; }
  check(status === 401, "wrong key -> 401, got " + status);
  check((await fetch(base + "/v1/models")).status === 401, "no key -> 401");
  check((await fetch(base + "/metrics")).status === 401, "metrics need the key");
  check((await fetch(base + "/props")).status === 401, "/props needs the key");
  check((await fetch(base + "/health")).status === 200, "health needs no key");
  const r = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 3 });
  check(r.choices.length === 1, "right key works");
  log("auth ok");
}

async function queue() {
  // --parallel 1 --max-queue 1: of 6 simultaneous long requests, some must get 429.
  const res = await Promise.all(Array.from({ length: 6 }, () =>
    fetch(base + "/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 40 }) })
      .then(async (r) => ({ status: r.status, body: await r.text() }))));
  const codes = res.map((r) => r.status);
  check(codes.includes(429) && codes.includes(200), "queue bound: " + codes);
  for (const r of res.filter((x) => x.status === 429)) check(JSON.parse(r.body).error.type === "rate_limit_error", "429 body");
  check((await fetch(base + "/health")).status === 200, "healthy after 429s");
  log("queue ok:", codes.join(","));
}

async function preempt() {
  // --parallel 8 -c 256 --kv-tokens 256: a KV pool of one context for 8 running requests. 12
  // long requests at once (half streamed, greedy and seeded) must all come back 200 with the
  // text each gets alone; the scheduler preempts and resumes instead of failing them.
  const req = (i) => ({ model, messages: [{ role: "system", content: SYSTEM + "Request " + i + "." },
    { role: "user", content: "Tell me everything about plan " + i + " in detail, please." }],
    max_tokens: 96, ...(i % 2 ? { temperature: 0.9, seed: 40 + i } : { temperature: 0 }) });
  const solo = [];
  for (let i = 0; i < 12; ++i) solo.push((await client.chat.completions.create(req(i))).choices[0].message.content);
  const before = await metricValue("moecat_preemptions_total");
  const got = await Promise.all(Array.from({ length: 12 }, async (_, i) => {
    if (i % 3 === 0) return (await streamText(req(i))).content;
    return (await client.chat.completions.create(req(i))).choices[0].message.content;
  }));
  for (let i = 0; i < 12; ++i) check(got[i] === solo[i], `request ${i} under preemption differs from its solo run:\n${got[i]}\n${solo[i]}`);
  const preempted = (await metricValue("moecat_preemptions_total")) - before;
  check(preempted > 0, "the pool was meant to force preemptions");
  log("preempt ok: 12 requests, all equal to their solo runs,", preempted, "preemptions");
}

async function metricValue(name) {
  const text = await fetch(base + "/metrics").then((r) => r.text());
  const m = text.match(new RegExp("^" + name + " ([0-9.eE+-]+)$", "m"));
  check(m, "metric " + name);
  return Number(m[1]);
}

async function bad() {
  // The corpus (shared with tests/openai_api_test.cpp) assumes n_vocab 32000 and n_ctx 4096;
  // cases that parse (status 200) are not sent, the out-of-vocabulary logit_bias case is
  // replaced by one past this model's vocabulary (rest[1]), and "n above max" (max 1 there,
  // --max-n 4 here) is covered by main's n = 99 check.
  const cases = JSON.parse(fs.readFileSync(rest[0], "utf8")).cases.filter(
    (c) => c.status !== 200 && !/out of vocab/.test(c.name) && c.name !== "n above max");
  cases.push({ name: "logit_bias id = n_vocab", chat: true, status: 400,
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], logit_bias: { [rest[1]]: 1 } }) });
  let n = 0;
  for (const c of cases) {
    const path = c.chat === false ? "/v1/completions" : "/v1/chat/completions";
    const body = c.latin1 ? Buffer.from(c.body, "latin1") : c.body;
    const r = await fetch(base + path, { method: "POST", headers: { "Content-Type": "application/json" }, body });
    const text = await r.text();
    check(r.status >= 400 && r.status < 500, `${c.name}: status ${r.status} ${text.slice(0, 200)}`);
    if (c.status) check(r.status === c.status, `${c.name}: want ${c.status}, got ${r.status}`);
    const j = JSON.parse(text);
    check(typeof j.error?.message === "string" && j.error.message.length > 0, `${c.name}: error message`);
    n++;
  }
  // Transport-level abuse: oversized body, wrong method, unknown path, garbage content type.
  const big = "x".repeat(9 << 20);
  check((await fetch(base + "/v1/chat/completions", { method: "POST", body: big })).status === 413, "9 MB body -> 413");
  check((await fetch(base + "/v1/nothing")).status === 404, "unknown path -> 404");
  check((await fetch(base + "/v1/chat/completions")).status >= 400, "GET on a POST endpoint");
  check((await fetch(base + "/health")).status === 200, "still serving");
  log(`bad requests ok (${n} corpus cases)`);
}

async function load() {
  // rest[3] = 0 skips the RSS check: under ASan the allocator's quarantine keeps freed memory
  // (up to 256 MB) resident, so RSS is no leak signal there; LeakSanitizer at exit is.
  const [N, C, pid, rssCheck = 1] = rest.map(Number);
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
  let next = 0, errors = 0, tokens = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      try {
        const r = await client.chat.completions.create({ model, messages: [{ role: "system", content: SYSTEM }, { role: "user", content: "Question " + i }], max_tokens: 6, temperature: 1, seed: i });
        tokens += r.usage.completion_tokens;
      } catch (e) { errors++; console.error(e.message); }
    }
  };
  // Warm-up round, then measure RSS across two equal rounds: it must not keep growing.
  await Promise.all(Array.from({ length: C }, worker));
  const r1 = rss();
  next = 0;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: C }, worker));
  const r2 = rss();
  next = 0;
  await Promise.all(Array.from({ length: C }, worker));
  const r3 = rss();
  log(`load: 3 x ${N} requests at concurrency ${C}: errors ${errors}, round ${(Date.now() - t0)} ms, RSS ${r1} -> ${r2} -> ${r3} kB`);
  check(errors === 0, "no errors under load");
  check(Date.now() - t0 < 300000, "the load rounds finished in bounded time");
  if (rssCheck) check(r3 - r2 < 16384 && r3 < r1 * 1.25 + 16384, "memory flat across rounds");
}

const modes = { main, family, auth, queue, preempt, bad, load };
modes[mode]().catch((e) => { console.error(e.stack || e.message); process.exit(1); });
