#!/usr/bin/env bash
# Configures and builds moecat (Release) into ./build, including the default model: only the
# binary and the model, not the tests (scripts/test.sh builds those).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOECAT_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)" --target moecat default_model
