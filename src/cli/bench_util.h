// Helpers of `moecat bench`: streaming read bandwidth, and the bytes a generated token reads
// (weights counted from the loaded tensors and the real routing, plus the KV cache at a depth),
// which together give the memory roofline of decoding.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/threadpool.h"
#include "model/model.h"

namespace moecat::cli {

// Streaming read bandwidth in GB/s (1e9 bytes/s): a buffer of `bytes` (much larger than the L3)
// filled once, then summed as 64-bit words (AVX2 with 4 accumulators where the CPU has it), one
// contiguous slice per pool thread; the best of `passes` passes. The buffer is freed on return.
double measure_read_bandwidth(ThreadPool* pool, size_t bytes, int passes);

// The weight bytes one decoded token reads, from the tensors the model loaded:
//   always:   every tensor not below (attention, dense MLPs, shared experts, routers, norms,
//             biases, the output matrix)
//   one row:  token_embd (all of it when the output matrix is tied to it), each n-gram table
//   experts:  per MoE layer, one expert's slice of every *_exps tensor, times the experts the
//             token was routed to (counted, not assumed: ForwardStats' FFN slots per token-layer)
//   never:    the MTP head (mtp.*), which plain decoding does not run
struct TokenWeightBytes {
  double fixed = 0;        // bytes every token reads (all but the routed experts)
  double expert_sum = 0;   // one expert's bytes, summed over the MoE layers
  int64_t moe_layers = 0;  // layers with *_exps tensors
  int64_t n_params = 0;    // elements of every loaded tensor (llama-bench's model_n_params)
  std::string main_type;   // the dtype holding most bytes ("q8_0"), for the model_type column
  // Bytes per token when the token ran `experts_per_layer` routed FFN experts per MoE layer.
  double bytes(double experts_per_layer) const { return fixed + experts_per_layer * expert_sum; }
};
TokenWeightBytes token_weight_bytes(const Model& m);

// KV cache bytes read per generated token, averaged over n_gen tokens at positions
// [depth, depth + n_gen): every layer reads all earlier positions (a windowed layer only its
// window) of its K and V rows.
double kv_bytes_per_token(const KvShape& s, int64_t depth, int64_t n_gen);

// "AMD EPYC 9R45" (from /proc/cpuinfo's model name), or "unknown".
std::string cpu_model_name();

}  // namespace moecat::cli
