#!/usr/bin/env bash
# moecat vs llama.cpp and tests/ref/hf_forward.py on a small random Qwen3-MoE (Qwen3MoeForCausalLM,
# 8 experts top-2, q/k norms, head_dim 32 != hidden/heads, 3 safetensors shards). See lib/agree_common.sh for the bounds.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup agree_qwen3moe
e2e_agree qwen3moe qwen3moe 32 96 --shards 3
echo "agree_qwen3moe: all checks passed"
