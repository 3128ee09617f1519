#!/usr/bin/env bash
# Builds llama.cpp's `llama-bench` from the exact llama.cpp revision that node-llama-cpp ships
# (tests/ref/node_modules/node-llama-cpp/llama/gitRelease.bundle), so the speed baseline is the same
# code the correctness reference (tests/ref/llama_ref.mjs) runs. No network is needed.
#
# Usage: bench/build_llama_bench.sh [CACHE_DIR]     (default: $REPO/.cache/llama.cpp, gitignored)
# Env:   JOBS (default 1; the dev machine has 2 shared cores), NICE (default 19)
# Prints the path of the llama-bench binary as the LAST line of stdout. Idempotent: a second run
# with the binary already built only re-runs the (no-op) incremental build.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${1:-$REPO/.cache/llama.cpp}"
JOBS="${JOBS:-1}"
NICE="${NICE:-19}"
BUNDLE="$REPO/tests/ref/node_modules/node-llama-cpp/llama/gitRelease.bundle"
SRC="$CACHE/src"
BUILD="$CACHE/build"

if [[ ! -f "$BUNDLE" ]]; then
  echo "build_llama_bench: missing $BUNDLE; run 'npm ci' in tests/ref first" >&2
  exit 1
fi
WANT="$(git bundle list-heads "$BUNDLE" | awk '$2=="HEAD"{print $1}')"
if [[ -z "$WANT" ]]; then
  echo "build_llama_bench: cannot read HEAD from $BUNDLE" >&2
  exit 1
fi

mkdir -p "$CACHE"
# Re-clone if the source is missing or at another revision (node-llama-cpp upgraded).
if [[ ! -d "$SRC/.git" ]] || [[ "$(git -C "$SRC" rev-parse HEAD 2>/dev/null)" != "$WANT" ]]; then
  echo "build_llama_bench: cloning $BUNDLE ($WANT) into $SRC" >&2
  rm -rf "$SRC" "$BUILD"
  git clone -q "$BUNDLE" "$SRC"
  git -C "$SRC" -c advice.detachedHead=false checkout -q "$WANT"
fi

if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  # Minimal: only what llama-bench links (ggml, llama, llama-common); no tests/examples/server/
  # networking. GGML_NATIVE=ON so ggml uses the host ISA (AVX-512/VNNI/BF16) like a user's build;
  # GGML_BACKEND_DL=OFF so the CPU backend is linked in, not dlopen'ed.
  nice -n "$NICE" cmake -S "$SRC" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON \
    -DGGML_BACKEND_DL=OFF \
    -DGGML_OPENMP=ON \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_COMMON=ON >&2
fi
# llama-batched-bench too: bench/serve_bench.sh compares batched decoding at N sequences.
nice -n "$NICE" cmake --build "$BUILD" --target llama-bench llama-batched-bench -j "$JOBS" >&2

BIN="$BUILD/bin/llama-bench"
if [[ ! -x "$BIN" ]]; then
  echo "build_llama_bench: build finished but $BIN is missing" >&2
  exit 1
fi
echo "$BIN"
