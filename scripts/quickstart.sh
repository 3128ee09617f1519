#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root) and runs moecat's main job:
# streaming a continuation from the built-in default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
./build/moecat info build/default-model.gguf
./build/moecat run -p "${1:-Hello! How can I help you today?}" -n "${2:-48}" --temp 0.8 --seed 1
