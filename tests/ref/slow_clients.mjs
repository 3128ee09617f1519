// Slow and idle clients against `moecat serve` (tests/e2e/slow_clients.sh). No dependencies.
//   node slow_clients.mjs starve URL N
//     N connections that send a request head a byte at a time and never finish it (slowloris),
//     then GET /health and a chat completion on new connections: each must be answered in time.
//   node slow_clients.mjs flood URL N_SLOW N_IDLE N_BODY MIN_OPEN [HEADER_S IDLE_S]
//     N_SLOW slowloris connections (reopened when the server closes them), N_IDLE keep-alive
//     connections left idle after one request, N_BODY connections sending a body a byte at a
//     time; while they are open: /health within 1 s (five times) and a chat completion within
//     5 s. MIN_OPEN: how many slow connections must be open at once (the server holds them all
//     when its per-client cap allows). HEADER_S / IDLE_S: the server's header and idle timeouts;
//     given, the server must close the slow and idle connections within them (plus slack).
//   PROBE_FROM=ADDR: the /health and chat probes come from another local address (127.0.0.2, say):
//     a customer behind its own address while the attacker's connections hit their per-client cap.
import net from "node:net";
import http from "node:http";

const [mode, base, ...rest] = process.argv.slice(2);
const url = new URL(base);
const HEALTH_MS = 1000, CHAT_MS = 5000;
let failed = false;
const check = (ok, what) => {
  if (!ok) {
    console.error("FAIL: " + what);
    failed = true;
  }
};
const log = (s) => console.log("slow_clients: " + s);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let stopping = false;
const sockets = new Set();
const stats = { slowOpen: 0, slowLifetimes: [], idleLifetimes: [], bodyLifetimes: [] };

// A connection that writes HEAD (then BODY) a byte every PERIOD ms; on close, records its
// lifetime and (REOPEN) comes back after 100 ms, as an attacker would.
function trickle(head, lifetimes, reopen, period = 250) {
  const s = net.connect(Number(url.port), url.hostname);
  sockets.add(s);
  let t0 = 0, i = 0, timer = null;
  s.on("connect", () => {
    t0 = Date.now();
    stats.slowOpen++;
    timer = setInterval(() => {
      if (!s.destroyed && s.writable) s.write(head[i++ % head.length]);
    }, period);
  });
  s.on("data", () => {});
  s.on("error", () => {});
  s.on("close", () => {
    clearInterval(timer);
    sockets.delete(s);
    if (t0) {
      stats.slowOpen--;
      lifetimes.push(Date.now() - t0);
    }
    if (reopen && !stopping) setTimeout(() => trickle(head, lifetimes, reopen, period), 100);
  });
}

// Never ends: header lines forever (each well under the head limit in the time allowed).
const SLOW_HEAD = "GET /health HTTP/1.1\r\nHost: x\r\n" + "X-Slow: a\r\n".repeat(10000);
const SLOW_BODY = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n";

// One request on a keep-alive connection, then silence; resolves when the response arrived.
function idleConn() {
  return new Promise((resolve) => {
    const s = net.connect(Number(url.port), url.hostname);
    sockets.add(s);
    let t = 0;
    s.on("connect", () => s.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
    s.on("data", () => {
      if (!t) {
        t = Date.now();
        resolve();
      }
    });
    s.on("error", () => resolve());
    s.on("close", () => {
      sockets.delete(s);
      if (t) stats.idleLifetimes.push(Date.now() - t);
      resolve();
    });
  });
}

// A request on a new connection (no pooling: the caps must not hit an idle pooled socket).
function timed(method, path, body) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const req = http.request(
      { host: url.hostname, port: url.port, method, path, agent: false,
        ...(process.env.PROBE_FROM ? { localAddress: process.env.PROBE_FROM } : {}),
        headers: body ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } : {} },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode, text, ms: Date.now() - t0 }));
        res.on("error", (e) => resolve({ status: 0, text: String(e), ms: Date.now() - t0 }));
      });
    req.setTimeout(10000, () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: 0, text: String(e), ms: Date.now() - t0 }));
    if (body) req.write(body);
    req.end();
  });
}

async function probe(label) {
  const ms = [];
  for (let k = 0; k < 5; k++) {
    const r = await timed("GET", "/health");
    check(r.status === 200 && r.ms < HEALTH_MS, `${label}: /health ${r.status} in ${r.ms} ms (limit ${HEALTH_MS})`);
    ms.push(r.ms);
    await sleep(100);
  }
  const body = JSON.stringify({ messages: [{ role: "user", content: "hello" }], max_tokens: 4, temperature: 0 });
  const c = await timed("POST", "/v1/chat/completions", body);
  let ok = false;
  try { ok = Array.isArray(JSON.parse(c.text).choices); } catch {}
  check(c.status === 200 && ok && c.ms < CHAT_MS, `${label}: chat ${c.status} in ${c.ms} ms (limit ${CHAT_MS}): ${c.text.slice(0, 200)}`);
  log(`${label}: /health ${ms.join(", ")} ms; chat ${c.ms} ms`);
}

const pct = (a, p) => (a.length ? [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))] : NaN);

async function starve() {
  const n = Number(rest[0]);
  for (let i = 0; i < n; i++) trickle(SLOW_HEAD, stats.slowLifetimes, false);
  await sleep(1500);
  log(`${stats.slowOpen} slow connections open`);
  await probe(`${n} slow + 1`);
}

async function flood() {
  const [nSlow, nIdle, nBody, minOpen] = rest.slice(0, 4).map(Number);
  const headerS = rest[4] ? Number(rest[4]) : 0, idleS = rest[5] ? Number(rest[5]) : 0;
  for (let i = 0; i < nSlow; i++) {
    trickle(SLOW_HEAD, stats.slowLifetimes, true);
    if (i % 100 === 99) await sleep(20);  // within the kernel's accept backlog
  }
  await Promise.all(Array.from({ length: nIdle }, idleConn));
  for (let i = 0; i < nBody; i++) trickle(SLOW_BODY, stats.bodyLifetimes, true);
  await sleep(1500);
  const open = stats.slowOpen;
  log(`${open} slow connections open (${nSlow} slow heads, ${nIdle} idle keep-alive, ${nBody} slow bodies started)`);
  check(open >= minOpen, `at least ${minOpen} slow connections open at once (got ${open})`);
  await probe(`${nSlow} slow heads + ${nIdle} idle + ${nBody} slow bodies`);
  if (headerS) {
    await sleep((Math.max(headerS, idleS) + 2) * 1000);  // every first-generation connection has timed out
    const slow = stats.slowLifetimes, idle = stats.idleLifetimes;
    log(`slow-head lifetimes: n ${slow.length}, median ${pct(slow, 0.5)} ms, max ${Math.max(...slow)} ms; ` +
        `idle: n ${idle.length}, median ${pct(idle, 0.5)} ms, max ${Math.max(...idle)} ms`);
    check(slow.length >= nSlow, `the server closed the slow-head connections (${slow.length} closed)`);
    check(Math.max(...slow) <= headerS * 1000 + 1500, `slow heads closed within the header timeout (max ${Math.max(...slow)} ms)`);
    check(idle.length === nIdle, `the server closed every idle connection (${idle.length} of ${nIdle})`);
    check(Math.max(...idle) <= idleS * 1000 + 1500, `idle connections closed within the idle timeout (max ${Math.max(...idle)} ms)`);
  }
}

const modes = { starve, flood };
await modes[mode]();
stopping = true;
for (const s of sockets) s.destroy();
if (failed) process.exit(1);
log(`${mode} ok`);
