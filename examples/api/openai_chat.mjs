// A support chat through moecat's OpenAI-compatible API with the official `openai` client:
// the model asks for a tool, this script answers it (a stand-in for your shop's backend; the
// SQLite demo shop in examples/support does it for real), and the model replies with the result.
//   npm install --prefix examples/api && node examples/api/openai_chat.mjs ["customer message"]
// MOECAT_URL (default http://127.0.0.1:8080) points at `moecat serve`.
import OpenAI from "openai";

const base = process.env.MOECAT_URL ?? "http://127.0.0.1:8080";
const client = new OpenAI({ baseURL: base + "/v1", apiKey: process.env.MOECAT_API_KEY ?? "none" });
// The system prompt and tools the model was trained with (GET /props; any others work the same).
const props = await fetch(base + "/props").then((r) => r.json());
const [model] = (await client.models.list()).data;

const backend = {
  lookup_order: ({ order_id }) => ({ order_id, status: "shipped", carrier: "DHL", eta: "Thursday", items: ["Garden hose"] }),
  start_return: ({ order_id }) => ({ order_id, return_id: "R-1001", label: "sent by e-mail" }),
  update_address: ({ order_id, address }) => ({ order_id, address, updated: true }),
  search_products: ({ query }) => ({ results: [{ name: query, price: "19.99 EUR", in_stock: true }] }),
  escalate_to_human: () => ({ ticket_id: "T-1001", queue: "general" }),
};

const messages = [
  { role: "system", content: props.default_system_prompt },
  { role: "user", content: process.argv[2] ?? "Hi, where is my order A12345?" },
];
console.log("customer:", messages[1].content);
for (let step = 0; step < 4; ++step) {
  const r = await client.chat.completions.create({ model: model.id, messages, tools: props.default_tools, temperature: 0, max_tokens: 160 });
  const m = r.choices[0].message;
  messages.push(m);
  if (!m.tool_calls?.length) {
    console.log("assistant:", m.content);
    break;
  }
  for (const c of m.tool_calls) {
    const args = JSON.parse(c.function.arguments);
    const result = (backend[c.function.name] ?? (() => ({ error: "unknown tool" })))(args);
    console.log(`tool call: ${c.function.name}(${c.function.arguments}) -> ${JSON.stringify(result)}`);
    messages.push({ role: "tool", tool_call_id: c.id, content: JSON.stringify(result) });
  }
}
