#!/usr/bin/env bash
# Soak test of `moecat serve` (issue #11, point 8): SOAK_SECONDS (default 60) of mixed loopback
# traffic from SOAK_USERS (default 6) virtual users, tests/ref/soak_client.mjs: chat, streaming,
# tool round trips, json_schema, the Responses API (create / stream / previous_response_id), the
# Messages API (create / stream / tool_result), cancelled streams and requests, hostile requests
# (oversize -> 413, malformed JSON and invalid fields -> 400, over-long prompts -> 400), a long
# shared system prompt (prefix cache) and long prompts with long answers under a small KV pool
# (preemption). The server is the shipped support model (models/moecat-support.gguf) with
# --parallel 4, -c 512 and a pool of 1,024 positions (2 contexts for 4 running sequences).
#
# Fails when: any valid request fails or a hostile one gets the wrong status (see the client's
# header for what "fails" means), /metrics counts a 5xx, the server is not idle afterwards (a
# running request or a KV block left behind), no preemption happened (the KV-pressure part did
# not run), the server died or did not exit 0 on SIGTERM, or its RSS kept growing:
#   RSS is sampled every second (/proc/PID/status VmRSS) while the client runs; the first third
#   of the run is warm-up (allocator arenas, the prefix cache filling the pool, the Responses
#   store filling to its 256 entries, thread stacks), and the largest RSS of the last third may
#   exceed the largest of the first third by at most SOAK_RSS_SLACK_KB (default 8 MiB, ~25 % of
#   the warm server's ~35 MB). A 60 s run serves ~3,000 requests, so a leak of ~4 KB per request
#   (a leaked request body or prompt) fails it; longer runs catch smaller ones (bench/soak.sh).
#   Measured with the shipped model: RSS climbs from ~18 MB to ~37 MB in the first 20 s and
#   levels off at ~41 MB after ~200 s (glibc arenas of the connection threads reaching their
#   high-water marks); a 60 s run grows ~2-4 MB after its first third, a 300 s run +0.5 MB.
#   Runs shorter than 45 s print RSS but do not judge it.
#   MOECAT_E2E_RSS_CHECK=0 (sanitizer builds, whose allocators hold freed memory) skips it.
#
# Environment: SOAK_SECONDS, SOAK_USERS, SOAK_PARALLEL (4), SOAK_KV_TOKENS (1024), SOAK_CTX (512),
# SOAK_THREADS (server threads, default 1: the client needs the other core), SOAK_SEED (1),
# SOAK_RSS_SLACK_KB (8192), MOECAT_SUPPORT_MODEL (default models/moecat-support.gguf), and the
# usual MOECAT_BIN / MOECAT_SOURCE_DIR / MOECAT_BUILD_DIR (set by ctest; bench/soak.sh sets them).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup soak
[[ -d "$SRC/tests/ref/node_modules/openai" && -d "$SRC/tests/ref/node_modules/@anthropic-ai/sdk" ]] ||
  e2e_die "the openai / @anthropic-ai/sdk npm packages are missing: run 'npm ci' in $SRC/tests/ref"
MODEL="${MOECAT_SUPPORT_MODEL:-$SRC/models/moecat-support.gguf}"
[[ -f "$MODEL" ]] || e2e_die "the shipped model $MODEL is missing"
SECS="${SOAK_SECONDS:-60}"
USERS="${SOAK_USERS:-6}"
PAR="${SOAK_PARALLEL:-4}"
KV="${SOAK_KV_TOKENS:-1024}"
CTX="${SOAK_CTX:-512}"
STHREADS="${SOAK_THREADS:-1}"
SEED="${SOAK_SEED:-1}"
SLACK_KB="${SOAK_RSS_SLACK_KB:-8192}"
MAX_BODY=262144
# The answer's end token, suppressed (logit_bias -100) in the KV-pressure and cancel requests so
# that they generate their full max_tokens.
EOS=$("$MOECAT_BIN" info "$MODEL" | sed -n 's/.*eos \([0-9]*\).*/\1/p' | head -1)
[[ -n "$EOS" ]] || e2e_die "no eos id in 'moecat info $MODEL'"

PID=""
SAMPLER=""
cleanup() {
  if [[ -n "$SAMPLER" ]]; then kill "$SAMPLER" 2>/dev/null || true; fi
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; fi
}
e2e_on_exit cleanup

: >"$WORK/server.log"
"$MOECAT_BIN" serve -m "$MODEL" --port 0 -t "$STHREADS" --parallel "$PAR" -c "$CTX" --kv-tokens "$KV" \
  --max-body "$MAX_BODY" 2>"$WORK/server.log" &
PID=$!
URL=""
for _ in $(seq 1 300); do
  URL=$(sed -n 's/^moecat: listening on \(http:[^ ]*\).*/\1/p' "$WORK/server.log" | head -1)
  if [[ -n "$URL" ]] && curl -sf "$URL/health" >/dev/null 2>&1; then break; fi
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log" >&2; e2e_die "the server exited at start"; }
  URL=""
  sleep 0.1
done
[[ -n "$URL" ]] || { cat "$WORK/server.log" >&2; e2e_die "the server did not come up"; }
cat "$WORK/server.log"

# RSS sampler: "seconds_since_start rss_kB" once a second while the client runs.
(
  t0=$(date +%s.%N)
  while kill -0 "$PID" 2>/dev/null; do
    r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status" 2>/dev/null || true)
    [[ -n "$r" ]] && echo "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') $r"
    sleep 1
  done
) >"$WORK/rss.txt" &
SAMPLER=$!

echo "+ node soak_client.mjs --url $URL --users $USERS --seconds $SECS (server: --parallel $PAR -c $CTX --kv-tokens $KV -t $STHREADS)"
set +e
"$NODE" "$SRC/tests/ref/soak_client.mjs" --url "$URL" --users "$USERS" --seconds "$SECS" --seed "$SEED" \
  --max-body "$MAX_BODY" --eos-id "$EOS" --json "$WORK/soak.json" 2>&1 | tee "$WORK/client.log"
CLIENT_RC=${PIPESTATUS[0]}
set -e
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
SAMPLER=""

FAILS=()
# (the client's own verdicts come back through soak.json below; this catches a crash)
[[ "$CLIENT_RC" == 0 || -s "$WORK/soak.json" ]] || FAILS+=("the soak client failed (exit $CLIENT_RC) without a summary")
if kill -0 "$PID" 2>/dev/null && curl -sf -m 10 "$URL/health" >/dev/null; then ALIVE=yes; else
  ALIVE=no
  FAILS+=("the server is not alive after the run")
fi

# RSS and preemption verdicts, and the summary table.
SUMMARY=$("$PY" - "$WORK/rss.txt" "$WORK/soak.json" "$SLACK_KB" "${MOECAT_E2E_RSS_CHECK:-1}" <<'EOF'
import json, os, sys
rss_file, soak_file, slack, rss_check = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
samples = [tuple(map(float, l.split())) for l in open(rss_file) if len(l.split()) == 2]
problems = []
soak = json.load(open(soak_file)) if os.path.exists(soak_file) else None
print("soak summary")
if soak:
    m = soak["metrics"]
    print("  requests %d in %.0f s (%.1f/s), failed %d; preemptions %d, cancelled %d, 4xx %d, 5xx %d" % (
        soak["requests"], soak["seconds"], soak["requests"] / max(soak["seconds"], 1e-9), soak["failed"],
        m["preemptions"], m["cancelled"], m["http_4xx"], m["http_5xx"]))
    print("  %-17s %5s %5s %8s %8s %8s %8s  %s" % ("kind", "ok", "fail", "p50 ms", "p99 ms", "ttft50", "ttft99", "notes"))
    fmt = lambda v: "-" if v is None else "%.0f" % v
    for r in soak["rows"]:
        notes = " ".join("%s=%s" % kv for kv in r["extra"].items() if kv[0] not in ("cached", "prompt", "completion"))
        print("  %-17s %5d %5d %8s %8s %8s %8s  %s" % (r["kind"], r["ok"], r["fail"], fmt(r["p50"]), fmt(r["p99"]), fmt(r["ttft50"]), fmt(r["ttft99"]), notes))
    print("  idle GET /health on a kept-alive connection: median %.1f ms" % soak.get("health_ms_median", float("nan")))
    problems += soak["problems"]
    if not m["preemptions"] > 0:
        problems.append("no preemption happened: the KV-pressure part did not run (pool too large?)")
else:
    problems.append("the client wrote no summary")
if len(samples) < 6:
    problems.append("only %d RSS samples" % len(samples))
else:
    n = len(samples)
    first = [r for _, r in samples[: n // 3]]
    last = [r for _, r in samples[n - n // 3:]]
    growth = max(last) - max(first)
    per_k = ""
    if soak and soak["requests"]:
        per_k = ", %.1f kB per 1,000 requests" % (1000.0 * max(0.0, samples[-1][1] - max(first)) / soak["requests"])
    print("  RSS (kB): start %d, first-third max %d, last-third max %d, end %d, max %d; growth after warm-up %+d kB (limit %d)%s" % (
        samples[0][1], max(first), max(last), samples[-1][1], max(r for _, r in samples), growth, slack, per_k))
    # the trajectory: the largest sample of each tenth of the run
    tenths = [max(r for _, r in samples[i * n // 10:(i + 1) * n // 10] or [samples[-1]]) for i in range(10)]
    print("  RSS per tenth of the run (max, MiB): " + " ".join("%.1f" % (r / 1024) for r in tenths))
    if rss_check and samples[-1][0] < 45:
        print("  (RSS not judged: runs under 45 s are mostly allocator warm-up)")
    elif rss_check and growth > slack:
        problems.append("RSS kept growing after warm-up: last third's max %d kB is %d kB above the first third's %d kB (limit %d)" % (
            max(last), growth, max(first), slack))
for p in problems:
    print("PROBLEM: " + p)
EOF
) || e2e_die "the summary script failed"
echo "$SUMMARY"
while IFS= read -r line; do FAILS+=("${line#PROBLEM: }"); done < <(grep '^PROBLEM: ' <<<"$SUMMARY" || true)

# Stop it the way an operator does: SIGTERM, drain, exit 0.
if [[ "$ALIVE" == yes ]]; then
  kill -TERM "$PID"
  RC=0
  wait "$PID" || RC=$?
  [[ "$RC" == 0 ]] || FAILS+=("the server exited with status $RC on SIGTERM")
fi
PID=""
if grep -E "AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:|UndefinedBehaviorSanitizer" "$WORK/server.log"; then
  FAILS+=("sanitizer reports in the server log")
fi
if ((${#FAILS[@]})); then
  tail -n 20 "$WORK/server.log" >&2
  for f in "${FAILS[@]}"; do echo "SOAK FAIL: $f" >&2; done
  e2e_die "soak: ${#FAILS[@]} problem(s); files in $WORK"
fi
echo "soak: all checks passed ($SECS s; files in $WORK)"
