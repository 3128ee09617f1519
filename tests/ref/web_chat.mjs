// Drives moecat's chat page (web/chat.html, served at /) in a real browser: Debian's chromium
// through playwright-core.
//   node web_chat.mjs URL SCREENSHOT.png [--tools TOOLS.json] [--shop SHOP_URL SHOP_LOG] [--props-only]
// Opens the page, checks the model name arrived from /v1/models and that the system prompt and
// tools were pre-filled from the server's GET /props (empty when it has none or no /props);
// --tools fills the tools field with the shop's tools when /props offered none. Then sends a
// message and waits for a streamed assistant answer (text grows over several updates while the
// request runs), asks with tool_choice "required" and waits for a tool-call card naming one of
// the shop's tools, types a tool result into it and sends it back (the conversation continues
// with the result), then checks the stop button ends a running reply. With --shop: switches the
// tool results to the demo shop (examples/support/shop.py serve at SHOP_URL, its calls logged
// to SHOP_LOG), forces a tool call, and checks that the shop answered it (the result shown in the
// page is the one in the shop's log) and that the conversation went on after it. Saves a
// screenshot (and SCREENSHOT_shop.png of the shop part). --props-only stops after the pre-fill
// check (with a screenshot). Exit 1 on any failure.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";

const argv = process.argv.slice(2);
const [url, shot] = argv;
const opt = (name, n = 1) => { const i = argv.indexOf(name); return i < 0 ? null : argv.slice(i + 1, i + 1 + n); };
const fail = (m) => { console.error("web_chat: " + m); process.exit(1); };
const TOOL_NAMES = "(lookup_order|start_return|update_address|search_products|escalate_to_human)";
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
                                        args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.on("pageerror", (e) => fail("page error: " + e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("model").textContent !== "model: …", null, { timeout: 10000 });

  // 0. The defaults from GET /props (the contract: default_system_prompt, default_tools).
  await page.waitForFunction(() => document.body.dataset.props, null, { timeout: 10000 });
  let want = { default_system_prompt: "", default_tools: [] };
  const pr = await fetch(new URL("/props", url));
  if (pr.ok) want = await pr.json();
  else if (pr.status !== 404) fail("GET /props answered " + pr.status);
  const state = await page.evaluate(() => document.body.dataset.props);
  if (state !== (pr.ok ? "loaded" : "none")) fail("the page's /props state is " + state + ", the server answered " + pr.status);
  const sysShown = await page.inputValue("#system");
  if (sysShown !== (want.default_system_prompt || "")) fail("system prompt not pre-filled from /props: " + JSON.stringify(sysShown));
  const toolsShown = JSON.parse(await page.inputValue("#tools"));
  if (!isDeepStrictEqual(toolsShown, want.default_tools || [])) fail("tools not pre-filled from /props: " + JSON.stringify(toolsShown).slice(0, 200));
  const prefill = "pre-filled from /props (" + (pr.ok ? "system prompt " + sysShown.length + " chars, " +
                  toolsShown.length + " tools" : "none") + ")";
  if (opt("--props-only")) {
    await page.screenshot({ path: shot, fullPage: true });
    console.log("web_chat: " + prefill);
    process.exit(0);
  }
  if (!toolsShown.length && opt("--tools")) {
    await page.fill("#tools", readFileSync(opt("--tools")[0], "utf8"));
  }

  // 1. A streamed answer: count the DOM updates of the assistant bubble while the reply runs
  // (one per streamed delta; a reply sent in one piece would make one or two). The random model
  // may end its reply after a token or two (where depends on the CPU's kernels), so this request
  // carries ignore_eos (vLLM's and llama-server's extension) through a fetch wrapper: 128 tokens,
  // and goes out with the page's tool choice "none".
  await page.evaluate(() => {
    const orig = window.fetch;
    window.fetch = (url, init) => {
      if (window.__extra && String(url).endsWith("/v1/chat/completions") && init && init.body)
        init = { ...init, body: JSON.stringify({ ...JSON.parse(init.body), ...window.__extra }) };
      return orig(url, init);
    };
    window.__extra = { ignore_eos: true };
    window.__updates = 0;
    new MutationObserver((recs) => { window.__updates += recs.length; })
      .observe(document.getElementById("log"), { subtree: true, childList: true, characterData: true });
  });
  // tool_choice none: a call the random model opens would hold its text back until it ends.
  await page.selectOption("#toolchoice", "none");
  await page.fill("#maxtok", "128");
  await page.fill("#input", "Hello, where is my order A12345?");
  await page.click("#send");
  await page.waitForFunction(() => document.querySelector(".msg.assistant") && document.getElementById("stop").disabled,
                             null, { timeout: 60000 });
  const updates = await page.evaluate(() => { window.__extra = null; return window.__updates; });
  const answer = await page.textContent(".msg.assistant");
  if (!answer || !answer.trim()) fail("no assistant answer");
  if (updates < 8) fail("the answer did not arrive in pieces (streaming): " + updates + " DOM updates");

  // 2. A tool call (forced), its result typed in and sent back.
  await page.selectOption("#toolchoice", "required");
  await page.fill("#input", "Please check order A12345");
  await page.click("#send");
  await page.waitForSelector(".toolcall textarea.toolresult", { timeout: 60000 });
  const call = await page.textContent(".toolcall");
  if (!new RegExp("tool call: " + TOOL_NAMES + " \\{").test(call))
    fail("unexpected tool call card: " + call);
  await page.selectOption("#toolchoice", "auto");
  await page.fill(".toolcall textarea.toolresult", '{"order_id": "A12345", "status": "shipped", "eta": "Friday"}');
  await page.click(".toolcall button");
  await page.waitForSelector(".msg.tool", { timeout: 10000 });
  await page.waitForFunction(() => document.querySelectorAll(".msg.assistant").length >= 3 &&
                                   document.getElementById("stop").disabled, null, { timeout: 60000 });

  // 3. Stop: a long reply is stopped at its first streamed piece (from inside the page, so
  // even a fast model cannot finish first); the reply ends early, the page is usable again.
  await page.fill("#maxtok", "1500");
  await page.fill("#input", "Tell me everything about your shop.");
  const n0 = await page.evaluate(() => document.querySelectorAll(".msg.assistant").length);
  await page.evaluate((n) => new Promise((done) => {
    const obs = new MutationObserver(() => {
      const boxes = document.querySelectorAll(".msg.assistant");
      if (boxes.length > n && boxes[boxes.length - 1].textContent) {
        obs.disconnect();
        document.getElementById("stop").click();
        done();
      }
    });
    obs.observe(document.getElementById("log"), { subtree: true, childList: true, characterData: true });
    document.getElementById("form").requestSubmit();
  }), n0);
  await page.waitForFunction(() => document.getElementById("stop").disabled, null, { timeout: 10000 });
  const stopped = await page.textContent("#log");
  if (!stopped.includes("(stopped)")) fail("stop did not end the reply");

  await page.screenshot({ path: shot, fullPage: true });

  // 4. Demo-shop mode: the forced tool call goes to the shop, its answer is shown and sent back,
  // and the model answers again without anything typed in.
  let shopNote = "";
  if (opt("--shop", 2)) {
    const [shopUrl, shopLog] = opt("--shop", 2);
    await page.click("#reset");
    await page.selectOption("#toolmode", "shop");
    await page.fill("#shopurl", shopUrl);
    await page.selectOption("#toolchoice", "required");
    await page.fill("#maxtok", "64");
    await page.fill("#input", "Please check order A12345");
    await page.click("#send");
    await page.waitForSelector(".msg.tool.shop", { timeout: 60000 });
    // Done when no request runs and the last bubble is the model's answer after a shop result.
    await page.waitForFunction(() => {
      const last = document.getElementById("log").lastElementChild;
      return document.getElementById("stop").disabled && document.getElementById("send").disabled === false &&
             last && (last.matches(".msg.assistant") || last.matches(".msg.error"));
    }, null, { timeout: 120000 });
    const errors = await page.$$eval(".msg.error", (els) => els.map((e) => e.textContent));
    if (errors.length) fail("shop mode: " + errors.join("; "));
    const cards = await page.$$eval(".toolcall", (els) => els.map((e) => e.textContent));
    if (!cards.length || !new RegExp("^tool call: " + TOOL_NAMES + " \\{").test(cards[0])) fail("shop mode: tool call card " + cards[0]);
    if (await page.$(".toolcall textarea")) fail("shop mode: a tool result was asked for instead of sent to the shop");
    const shown = await page.$$eval(".msg.tool.shop", (els) => els.map((e) => e.textContent));
    const logged = readFileSync(shopLog, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
    if (logged.length !== shown.length) fail("shop mode: the shop answered " + logged.length + " calls, the page shows " + shown.length);
    shown.forEach((text, i) => {
      const [name, result] = text.split(" → ");
      if (name !== logged[i].name || !isDeepStrictEqual(JSON.parse(result), logged[i].result))
        fail("shop mode: the page shows " + text + ", the shop answered " + JSON.stringify(logged[i]));
    });
    const kinds = await page.$$eval("#log > .msg", (els) => els.map((e) => e.className));
    const after = kinds.slice(kinds.indexOf("msg tool shop")).filter((k) => k === "msg assistant").length;
    if (!after) fail("shop mode: no answer after the shop's result");
    shopNote = ", shop answered " + logged.map((l) => l.name).join(", ") + ": " + JSON.stringify(logged[0].result).slice(0, 80);
    await page.screenshot({ path: shot.replace(/(\.png)?$/, "_shop.png"), fullPage: true });
  }

  console.log("web_chat: " + prefill + ", streamed answer (" + updates + " updates), tool call: " + call.slice(0, 80) + shopNote);
} finally {
  await browser.close();
}
