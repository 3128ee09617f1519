#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#  1. Release build + every test (unit tests, kernels vs scalar references, tokenizers vs
#     @lenml/tokenizers, models vs llama.cpp through node-llama-cpp);
#  2. ASan + UBSan build of the parsers, tokenizer, model and CLI tests, and the server's e2e test;
#  3. libFuzzer targets (GGUF, safetensors, tokenizer, chat templates, tool-call parsers, JSON
#     schema grammar, OpenAI requests), each for a bounded time.
# Environment: FUZZ_SECONDS (default 30 per target), SKIP_DEPS=1 to skip the install step,
# MOECAT_TSAN=1 to also run the server e2e test under ThreadSanitizer, MOECAT_LLAMA_CACHE (where
# the llama.cpp tools are built, default ~/.cache/moecat).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ "${SKIP_DEPS:-0}" = 1 ] || bash scripts/install-deps.sh
export MOECAT_REQUIRE_REF=1 MOECAT_NO_PROGRESS=1
JOBS=$(nproc)

echo "== 1/3 release build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOECAT_TESTS=ON >/dev/null
cmake --build build -j "$JOBS"
# llama.cpp's llama-quantize + llama-imatrix (the revision node-llama-cpp ships) for
# tests/e2e/agree_quants.sh; built once per machine into ~/.cache/moecat/llama.cpp-<rev>
# (MOECAT_LLAMA_CACHE moves it), reused by later runs. The test reads MOECAT_LLAMA_BIN.
if MOECAT_LLAMA_BIN="$(TARGETS="llama-quantize llama-imatrix" JOBS="$JOBS" NICE=10 bash bench/build_llama_tools.sh | tail -n 1)"; then
  export MOECAT_LLAMA_BIN
elif [ "$MOECAT_REQUIRE_REF" = 1 ]; then
  echo "building llama-quantize / llama-imatrix failed (bench/build_llama_tools.sh)" >&2
  exit 1
else
  echo "warning: llama-quantize / llama-imatrix unavailable; e2e_agree_quants will skip" >&2
fi
(cd build && ctest --output-on-failure -j "$JOBS" --timeout 1200)

echo "== 2/3 ASan + UBSan"
# Shared libraries and line tables only (-g1: ASan reports still name file:line) keep this
# build near 1 GB on disk instead of 5 GB (CI disks can be small).
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOECAT_SANITIZE=ON -DMOECAT_SHARED=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
cmake --build build-asan -j "$JOBS"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$JOBS" --timeout 1200 -E '^e2e_')
# The server itself under ASan + UBSan, driven by the real openai client (the same e2e script).
# Leaks are LeakSanitizer's job here (checked at the servers' SIGTERM exit); ASan's quarantine
# makes RSS grow without a leak, so the flat-RSS check runs only in the release ctest run.
MOECAT_E2E_RSS_CHECK=0 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  MOECAT_BIN="$ROOT/build-asan/moecat" MOECAT_SOURCE_DIR="$ROOT" MOECAT_BUILD_DIR="$ROOT/build-asan" \
  bash tests/e2e/serve_openai.sh

if [ "${MOECAT_TSAN:-0}" = 1 ]; then
  # Optional (not in CI by default, +5 min): the server under ThreadSanitizer, same e2e script.
  echo "== ThreadSanitizer: moecat serve"
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOECAT_TESTS=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
  cmake --build build-tsan -j "$JOBS" --target moecat
  TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp" \
    MOECAT_BIN="$ROOT/build-tsan/moecat" MOECAT_SOURCE_DIR="$ROOT" MOECAT_BUILD_DIR="$ROOT/build-tsan" \
    bash tests/e2e/serve_openai.sh
fi

echo "== 3/3 fuzzing (${FUZZ_SECONDS:-30} s per target)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DMOECAT_FUZZ=ON -DMOECAT_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$JOBS" --target fuzz_all
for f in build-fuzz/*_fuzz; do
  name=$(basename "$f")
  corpus=build-fuzz/corpus/$name; mkdir -p "$corpus"
  [ -d "fuzz/seeds/$name" ] && cp -n fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null || true
  echo "-- $name"
  "$f" -max_total_time="${FUZZ_SECONDS:-30}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$corpus" 2>&1 | tail -n 3
done
echo "all tests passed"
