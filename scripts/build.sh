#!/usr/bin/env bash
# Configures and builds moecat (Release) into ./build, including the generated default model.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
