// Load generator for bench/serve_bench.sh (plain fetch + SSE parsing; no npm dependency).
//   node serve_load.mjs streams BASE_URL "1,2,4,8,16" MAX_TOKENS   -> aggregate generation tok/s
//   node serve_load.mjs ttft BASE_URL SYSTEM_WORDS                  -> cold vs cached TTFT
//   BODY_FILE=... node serve_load.mjs support BASE_URL "1,4,16" MAX_TOKENS -> support chats (drafting figures)
const [mode, base, a1, a2] = process.argv.slice(2);

async function stream(body) {
  const t0 = performance.now();
  const r = await fetch(base + "/v1/chat/completions", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
  let ttft = null, usage = null, buf = "", tFirst = null;
  const dec = new TextDecoder();
  for await (const chunk of r.body) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) usage = j.usage;
      if (ttft === null && j.choices?.some((c) => c.delta && (c.delta.content || c.delta.reasoning_content || c.delta.tool_calls)))
        { tFirst = performance.now(); ttft = tFirst - t0; }
    }
  }
  return { ttft, usage, ms: performance.now() - t0, tFirst, tEnd: performance.now() };
}

function words(n, seed) {
  const w = ["account", "router", "billing", "refund", "signal", "plan", "upgrade", "outage", "modem", "invoice",
    "customer", "support", "policy", "contract", "device", "network", "password", "email", "address", "payment"];
  let x = seed, out = [];
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; out.push(w[x % w.length]); }
  return out.join(" ");
}

if (mode === "streams") {
  const maxTokens = Number(a2);
  // aggregate: all generated tokens / wall time of the round (HTTP, template, the prompts' last
  // uncached tokens included);
  // decode: tokens after each stream's first / (last end - earliest first token), which is what
  // llama-batched-bench's S_TG measures in-process.
  console.log("streams  gen_tokens  wall_s  aggregate_tok_s  per_stream_tok_s  decode_tok_s");
  for (const n of a1.split(",").map(Number)) {
    const body = (i) => ({ model: "m", messages: [{ role: "user", content: "Ticket " + i + ": " + words(20, i) }],
      max_tokens: maxTokens, temperature: 0 });
    // Warm-up: the round's own prompts, 2 tokens each, so their prefixes are in the cache and
    // the round measures generation (like llama-batched-bench's S_TG, which excludes the prompt),
    // not the prefill of late arrivals inside the decode window.
    await Promise.all(Array.from({ length: n }, (_, i) => stream({ ...body(i), max_tokens: 2 })));
    const t0 = performance.now();
    const res = await Promise.all(Array.from({ length: n }, (_, i) => stream(body(i))));
    const s = (performance.now() - t0) / 1000;
    const toks = res.reduce((a, r) => a + r.usage.completion_tokens, 0);
    const dec = res.reduce((a, r) => a + r.usage.completion_tokens - 1, 0);
    const win = (Math.max(...res.map((r) => r.tEnd)) - Math.min(...res.map((r) => r.tFirst))) / 1000;
    console.log(`${String(n).padStart(7)}  ${String(toks).padStart(10)}  ${s.toFixed(2).padStart(6)}  ${(toks / s).toFixed(2).padStart(15)}  ${(toks / s / n).toFixed(2).padStart(16)}  ${(dec / win).toFixed(2).padStart(12)}`);
  }
} else if (mode === "support") {
  // Support traffic on the shipped model (bench/serve_draft_bench.sh): each stream is a different
  // customer, alternately asking a new question (-> tool call) and getting the answer after a
  // tool result (-> a reply that quotes it). a1: stream counts, a2: max tokens; BODY_FILE: the
  // request (examples/api/tool_result.json) whose ids and results are varied per stream.
  const fs = await import("node:fs");
  const base = JSON.parse(fs.readFileSync(process.env.BODY_FILE, "utf8"));
  const maxTokens = Number(a2);
  const streets = ["Hauptstraße 5, 10115 Berlin", "12 Baker Street, London NW1 6XE", "Lindenweg 23, 80331 München",
    "44 Elm Avenue, Leeds LS2 9JT", "Am Markt 7, 04109 Leipzig"];
  const body = (i) => {
    const b = JSON.parse(JSON.stringify(base));
    const id = "A" + (10000 + 7919 * i) % 99999;
    if (i % 2 === 0) {
      b.messages = b.messages.slice(0, 2);
      b.messages[1].content = i % 4 === 0 ? `Hi, where is my order ${id}?`
        : `Please send order ${id} to ${streets[i % streets.length]} instead.`;
    } else {
      b.messages[1].content = `Hi, where is my order ${id}?`;
      b.messages[2].tool_calls[0].function.arguments = JSON.stringify({ order_id: id });
      b.messages[3].content = JSON.stringify({ order_id: id, status: "shipped", carrier: "DHL",
        tracking: "JD01460000" + (33000 + i), eta: "Thursday", items: ["Garden hose", "Watering can"] });
    }
    return { ...b, max_tokens: maxTokens, temperature: 0 };
  };
  // Each stream runs REPS conversations one after another (env, default 3). per_stream: a
  // stream's tokens / its whole time (prompts included); decode_per_stream: generated tokens after
  // each request's first / the time between them, from the server's own inter-token latency
  // (/metrics, read before and after the round): generation only, whatever the SSE grouping, the
  // figure to hold against the per-stream roofline.
  const reps = Number(process.env.REPS || 3);
  const itl = async () => {
    const m = await (await fetch(process.argv[3] + "/metrics")).text();  // (base is the body here)
    const v = (k) => Number((m.match(new RegExp("^" + k + " (\\S+)", "m")) || [0, 0])[1]);
    return [v("moecat_inter_token_latency_seconds_sum"), v("moecat_inter_token_latency_seconds_count"),
            v("moecat_draft_tokens_total"), v("moecat_draft_accepted_total")];
  };
  console.log("streams  gen_tokens  wall_s  aggregate_tok_s  per_stream_tok_s  decode_per_stream_tok_s  drafts_accepted");
  for (const n of a1.split(",").map(Number)) {
    // Warm-up: every request of the round once with 1 token, so the prompts are in the prefix
    // cache (the shared system prompt and tools, and each conversation's own turns) and the round
    // measures generation, not the prefill of new turns inside other streams' decode steps (set
    // COLD=1 to keep that prefill in the round, as fresh traffic has it).
    if (process.env.COLD === "1") await stream(body(999));
    else
      await Promise.all(Array.from({ length: n }, async (_, i) => {
        for (let k = 0; k < reps; ++k) await stream({ ...body(i + 16 * k), max_tokens: 1 });
      }));
    const [s0, c0, d0, a0] = await itl();
    const t0 = performance.now();
    const res = await Promise.all(Array.from({ length: n }, async (_, i) => {
      let toks = 0, ms = 0;
      for (let k = 0; k < reps; ++k) {
        const r = await stream(body(i + 16 * k));
        toks += r.usage.completion_tokens;
        ms += r.ms;
      }
      return { toks, ms };
    }));
    const s = (performance.now() - t0) / 1000;
    const [s1, c1, d1, a1_] = await itl();
    const toks = res.reduce((a, r) => a + r.toks, 0);
    const per = res.reduce((a, r) => a + r.toks / (r.ms / 1000), 0) / n;
    const dec = (c1 - c0) / (s1 - s0);
    console.log(`${String(n).padStart(7)}  ${String(toks).padStart(10)}  ${s.toFixed(2).padStart(6)}  ${(toks / s).toFixed(2).padStart(15)}  ${per.toFixed(2).padStart(16)}  ${dec.toFixed(2).padStart(23)}  ${d1 > d0 ? (a1_ - a0) + "/" + (d1 - d0) : "-"}`);
  }
} else if (mode === "burst") {
  // a1 chats arrive at once with the same new ~2,000-token system prompt (a2 words): the
  // scheduler should prefill it once and serve the rest from the prefix cache.
  const n = Number(a1);
  const sys = "You are a support agent. Policies: " + words(Number(a2), 99 + n);
  const t0 = performance.now();
  const res = await Promise.all(Array.from({ length: n }, (_, i) => stream({ model: "m",
    messages: [{ role: "system", content: sys }, { role: "user", content: "Ticket " + i + ": " + words(8, i) }],
    max_tokens: 8, temperature: 0 })));
  const wall = performance.now() - t0;
  const tt = res.map((r) => r.ttft).sort((a, b) => a - b);
  const cached = res.reduce((a, r) => a + (r.usage.prompt_tokens_details?.cached_tokens ?? 0), 0);
  const prompt = res.reduce((a, r) => a + r.usage.prompt_tokens, 0);
  console.log(`burst of ${n} chats sharing a ${res[0].usage.prompt_tokens}-token prompt: wall ${wall.toFixed(0)} ms, ` +
    `TTFT median ${tt[n >> 1].toFixed(0)} ms, max ${tt[n - 1].toFixed(0)} ms, prompt tokens from cache ${cached}/${prompt}`);
} else if (mode === "ttft") {
  const sys = "You are a support agent. Policies: " + words(Number(a1), 7);
  const cold = await stream({ model: "m", messages: [{ role: "system", content: sys }, { role: "user", content: "My modem is broken" }], max_tokens: 2, temperature: 0 });
  const warm = await stream({ model: "m", messages: [{ role: "system", content: sys }, { role: "user", content: "I want a refund" }], max_tokens: 2, temperature: 0 });
  console.log(`system prompt: ${cold.usage.prompt_tokens} prompt tokens`);
  console.log(`cold TTFT   ${cold.ttft.toFixed(1)} ms (cached tokens ${cold.usage.prompt_tokens_details?.cached_tokens ?? 0})`);
  console.log(`cached TTFT ${warm.ttft.toFixed(1)} ms (cached tokens ${warm.usage.prompt_tokens_details?.cached_tokens ?? 0})`);
  console.log(`ratio cached/cold: ${(warm.ttft / cold.ttft * 100).toFixed(1)} %`);
}
