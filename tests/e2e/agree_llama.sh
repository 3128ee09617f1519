#!/usr/bin/env bash
# moecat vs llama.cpp and vs the float64 transformers-semantics reference (tests/ref/hf_forward.py)
# on small random Llama models (LlamaForCausalLM): one with llama3 rope scaling (rope_freqs
# tensor; the reference computes the llama3 frequencies itself from config.json, so a mistake in
# moecat's llama3 factors, shared by its HF loader and its GGUF writer, is caught there) and one
# with plain RoPE in 2 safetensors shards. See lib/agree_common.sh for what is compared and the
# bounds.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup agree_llama
e2e_agree llama3rope llama 11 80 --rope-scaling llama3
e2e_agree plainrope llama 12 72 --shards 2
echo "agree_llama: all checks passed"
