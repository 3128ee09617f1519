// Renders a chat template with @huggingface/jinja for each case of a JSON file:
//   node render_template.mjs TEMPLATE.json CASES.json  ->  JSON array of rendered strings
// TEMPLATE.json: {"template": "..."}; CASES.json: [{"messages": [...], "tools": [...]|null,
// "add_generation_prompt": bool}, ...]. (tests/e2e/support_model.sh compares the support
// model's template against tools/support_format.py's renderer with it.)
import { readFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const tmpl = new Template(JSON.parse(readFileSync(process.argv[2], "utf8")).template);
const cases = JSON.parse(readFileSync(process.argv[3], "utf8"));
const out = cases.map((c) =>
  tmpl.render({ messages: c.messages, tools: c.tools, add_generation_prompt: !!c.add_generation_prompt }));
process.stdout.write(JSON.stringify(out));
