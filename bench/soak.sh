#!/usr/bin/env bash
# The soak test of `moecat serve` (tests/e2e/soak.sh) for longer than ctest's 60 s: mixed
# traffic (chat, streams, tools, json_schema, Responses, Messages, cancellations, hostile bodies,
# shared prompts, KV pressure) from the official SDKs against the shipped support model, with
# p50/p99 latency per kind, the /metrics counters and the server's RSS over the run
# (docs/PERF.md "soak").
# Usage: bench/soak.sh [SECONDS]   (default 300; SOAK_USERS, SOAK_PARALLEL, SOAK_KV_TOKENS, ...
#        as in tests/e2e/soak.sh). MOECAT_BIN (default build/moecat); files go to
#        MOECAT_BUILD_DIR/e2e/soak (default: a fresh directory under /tmp).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${1:-}" in -h | --help) sed -n 2,9p "$0"; exit 0 ;; esac
export SOAK_SECONDS="${1:-${SOAK_SECONDS:-300}}"
export MOECAT_BIN="${MOECAT_BIN:-$REPO/build/moecat}"
export MOECAT_SOURCE_DIR="$REPO"
export MOECAT_BUILD_DIR="${MOECAT_BUILD_DIR:-$(mktemp -d /tmp/moecat-soak.XXXXXX)}"
echo "soak: ${SOAK_SECONDS} s, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%FT%TZ)"
exec bash "$REPO/tests/e2e/soak.sh"
