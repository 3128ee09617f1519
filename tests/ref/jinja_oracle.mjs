// Oracle for tests/jinja_test.cpp: renders jobs with @huggingface/jinja (the reference the C++
// engine must match byte-for-byte).
// Usage: node tests/ref/jinja_oracle.mjs jobs.json
//   jobs.json: [{template, context, fixed_date?}]  ->  stdout: [{ok: true, text} | {ok: false, error}]
// fixed_date: if set, strftime_now(fmt) returns exactly this string (the C++ side uses the same
// test hook), so templates that print the current date are deterministic.
import { readFileSync } from "node:fs";
import { Template, Environment } from "@huggingface/jinja";

let fixedDate = null;
const origSet = Environment.prototype.set;
Environment.prototype.set = function (name, value) {
  if (name === "strftime_now" && fixedDate !== null) {
    const fixed = fixedDate;
    return origSet.call(this, name, () => fixed);
  }
  return origSet.call(this, name, value);
};

const jobs = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = [];
for (const job of jobs) {
  fixedDate = job.fixed_date ?? null;
  try {
    const t = new Template(job.template);
    out.push({ ok: true, text: t.render(job.context ?? {}) });
  } catch (e) {
    out.push({ ok: false, error: String(e && e.message !== undefined ? e.message : e) });
  }
}
process.stdout.write(JSON.stringify(out));
