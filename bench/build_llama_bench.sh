#!/usr/bin/env bash
# Builds llama.cpp's `llama-bench` (and `llama-batched-bench`, for bench/serve_bench.sh) from the
# exact llama.cpp revision that node-llama-cpp ships, so the speed baseline is the same code the
# correctness reference (tests/ref/llama_ref.mjs) runs. A thin wrapper of build_llama_tools.sh.
#
# Usage: bench/build_llama_bench.sh [CACHE_DIR]     (default: $REPO/.cache/llama.cpp, gitignored)
# Env:   JOBS (default 1; the dev machine has 2 shared cores), NICE (default 19)
# Prints the path of the llama-bench binary as the LAST line of stdout. Idempotent.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$(TARGETS="llama-bench llama-batched-bench" \
  "$REPO/bench/build_llama_tools.sh" "${1:-$REPO/.cache/llama.cpp}" | tail -n 1)"
echo "$BIN_DIR/llama-bench"
