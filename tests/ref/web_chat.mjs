// Drives moecat's chat page (web/chat.html, served at /) in a real browser: Debian's chromium
// through playwright-core.
//   node web_chat.mjs URL SCREENSHOT.png
// Opens the page, checks the model name arrived from /v1/models, sends a message and waits for a
// streamed assistant answer (text grows over several updates while the request runs), then asks
// with tool_choice "required" and waits for a tool-call card naming one of the shop's tools,
// types a tool result into it and sends it back (the conversation continues with the result),
// then checks the stop button ends a running reply. Saves a screenshot. Exit 1 on any failure.
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
const fail = (m) => { console.error("web_chat: " + m); process.exit(1); };
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
                                        args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.on("pageerror", (e) => fail("page error: " + e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("model").textContent !== "model: …", null, { timeout: 10000 });

  // 1. A streamed answer: count the DOM updates of the assistant bubble while the reply runs
  // (one per streamed delta; a reply sent in one piece would make one or two).
  await page.evaluate(() => {
    window.__updates = 0;
    new MutationObserver((recs) => { window.__updates += recs.length; })
      .observe(document.getElementById("log"), { subtree: true, childList: true, characterData: true });
  });
  await page.fill("#maxtok", "64");
  await page.fill("#input", "Hello, where is my order A12345?");
  await page.click("#send");
  await page.waitForFunction(() => document.querySelector(".msg.assistant") && document.getElementById("stop").disabled,
                             null, { timeout: 60000 });
  const updates = await page.evaluate(() => window.__updates);
  const answer = await page.textContent(".msg.assistant");
  if (!answer || !answer.trim()) fail("no assistant answer");
  if (updates < 8) fail("the answer did not arrive in pieces (streaming): " + updates + " DOM updates");

  // 2. A tool call (forced), its result typed in and sent back.
  await page.selectOption("#toolchoice", "required");
  await page.fill("#input", "Please check order A12345");
  await page.click("#send");
  await page.waitForSelector(".toolcall textarea.toolresult", { timeout: 60000 });
  const call = await page.textContent(".toolcall");
  if (!/tool call: (lookup_order|start_return|update_address|search_products|escalate_to_human) \{/.test(call))
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
  console.log("web_chat: streamed answer (" + updates + " updates), tool call: " + call.slice(0, 80));
} finally {
  await browser.close();
}
