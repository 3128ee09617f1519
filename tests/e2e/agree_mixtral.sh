#!/usr/bin/env bash
# moecat vs llama.cpp and tests/ref/hf_forward.py on a small random Mixtral-style MoE
# (MixtralForCausalLM, 4 experts top-2, no head_dim key in config.json, 2 safetensors shards). See lib/agree_common.sh for the bounds.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup agree_mixtral
e2e_agree mixtral mixtral 21 80 --shards 2
echo "agree_mixtral: all checks passed"
