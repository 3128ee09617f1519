#!/usr/bin/env bash
# llama.cpp's k-quants (Q4_K, Q5_K, Q6_K: what Q4_K_M / Q5_K_M GGUFs hold): a small random
# Llama with rows of 256 / 512 values, converted by `moecat convert --type q4_k|q5_k|q6_k`, read
# by moecat and by llama.cpp. On the same file the two must agree within llama.cpp's own
# f32 -> k-quant loss (2x; see lib/agree_common.sh), so moecat decodes the blocks as llama.cpp does.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib/agree_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/agree_common.sh"
e2e_setup agree_kquants
E2E_QTYPES="q4_k q5_k q6_k" e2e_agree llama_k llama 71 64 --dims kquant
for qt in q4_k q5_k q6_k; do
  # Every matrix really is in the k-quant type (no q8_0 fallback on these shapes).
  n="$("$MOECAT_BIN" info "$WORK/llama_k/$qt.gguf" 2>&1 | grep -ci "$qt" || true)"
  [[ "$n" -gt 0 ]] || e2e_die "$qt.gguf holds no $qt tensors"
done
echo "agree_kquants: all checks passed"
