#include "serve/metrics.h"

#include <cstdio>

namespace moecat {

namespace {
void metric(std::string& out, const char* name, const char* type, const char* help, double v,
            const char* labels = "") {
  char buf[512];
  std::snprintf(buf, sizeof buf, "# HELP %s %s\n# TYPE %s %s\n%s%s %.17g\n", name, help, name, type, name, labels, v);
  out += buf;
}
void sample(std::string& out, const char* name, const char* labels, double v) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s%s %.17g\n", name, labels, v);
  out += buf;
}
}  // namespace

std::string prometheus_text(const SchedulerMetrics& m, const HttpCounters& h) {
  std::string o;
  o += "# HELP moecat_http_requests_total HTTP requests answered, by status class.\n"
       "# TYPE moecat_http_requests_total counter\n";
  sample(o, "moecat_http_requests_total", "{code=\"2xx\"}", double(h.ok));
  sample(o, "moecat_http_requests_total", "{code=\"4xx\"}", double(h.client_errors));
  sample(o, "moecat_http_requests_total", "{code=\"5xx\"}", double(h.server_errors));
  metric(o, "moecat_requests_started_total", "counter", "Generation requests admitted to the batch.", double(m.requests_started));
  metric(o, "moecat_requests_finished_total", "counter", "Generation requests finished (any reason).", double(m.requests_finished));
  metric(o, "moecat_requests_cancelled_total", "counter", "Requests cancelled (client gone or stop string).", double(m.requests_cancelled));
  metric(o, "moecat_requests_rejected_total", "counter", "Requests refused because the queue was full (429).", double(m.requests_rejected));
  metric(o, "moecat_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", double(m.prompt_tokens));
  metric(o, "moecat_prompt_tokens_cached_total", "counter", "Prompt tokens served from the prefix cache.", double(m.prompt_tokens_cached));
  metric(o, "moecat_generation_tokens_total", "counter", "Tokens generated.", double(m.generated_tokens));
  o += "# HELP moecat_time_to_first_token_seconds Time from request to its first generated token.\n"
       "# TYPE moecat_time_to_first_token_seconds histogram\n";
  for (size_t i = 0; i < m.ttft_buckets_le.size(); ++i) {
    char lab[64];
    std::snprintf(lab, sizeof lab, "{le=\"%g\"}", m.ttft_buckets_le[i]);
    sample(o, "moecat_time_to_first_token_seconds_bucket", lab, double(m.ttft_bucket_counts[i]));
  }
  sample(o, "moecat_time_to_first_token_seconds_bucket", "{le=\"+Inf\"}", double(m.ttft_count));
  sample(o, "moecat_time_to_first_token_seconds_sum", "", m.ttft_seconds_sum);
  sample(o, "moecat_time_to_first_token_seconds_count", "", double(m.ttft_count));
  o += "# HELP moecat_inter_token_latency_seconds Time between consecutive tokens of a request.\n"
       "# TYPE moecat_inter_token_latency_seconds summary\n";
  sample(o, "moecat_inter_token_latency_seconds_sum", "", m.itl_seconds_sum);
  sample(o, "moecat_inter_token_latency_seconds_count", "", double(m.itl_count));
  metric(o, "moecat_queue_length", "gauge", "Requests waiting for a batch slot.", double(m.queue_length));
  metric(o, "moecat_running_requests", "gauge", "Requests in the running batch.", double(m.running));
  o += "# HELP moecat_kv_cache_blocks KV cache blocks by state.\n# TYPE moecat_kv_cache_blocks gauge\n";
  const int64_t free_blocks = m.kv.blocks_total - m.kv.blocks_in_use - m.kv.blocks_cached;
  sample(o, "moecat_kv_cache_blocks", "{state=\"in_use\"}", double(m.kv.blocks_in_use));
  sample(o, "moecat_kv_cache_blocks", "{state=\"cached\"}", double(m.kv.blocks_cached));
  sample(o, "moecat_kv_cache_blocks", "{state=\"free\"}", double(free_blocks));
  metric(o, "moecat_kv_cache_usage_ratio", "gauge", "Fraction of KV blocks held by running requests.",
         m.kv.blocks_total ? double(m.kv.blocks_in_use) / double(m.kv.blocks_total) : 0.0);
  metric(o, "moecat_prefix_cache_hit_ratio", "gauge", "Prompt tokens found in the prefix cache / prompt tokens looked up.",
         m.kv.lookup_tokens ? double(m.kv.hit_tokens) / double(m.kv.lookup_tokens) : 0.0);
  metric(o, "moecat_prefix_cache_hit_tokens_total", "counter", "Prompt tokens found in the prefix cache.", double(m.kv.hit_tokens));
  metric(o, "moecat_prefix_cache_lookup_tokens_total", "counter", "Prompt tokens looked up in the prefix cache.", double(m.kv.lookup_tokens));
  metric(o, "moecat_moe_token_layers_total", "counter", "Tokens routed through MoE layers (token x layer).", double(m.forward.moe_token_layers));
  metric(o, "moecat_preemptions_total", "counter", "Running sequences sent back to the queue to free KV blocks (resumed later).", double(m.preemptions));
  metric(o, "moecat_draft_tokens_total", "counter", "Draft tokens proposed by speculative decoding (--draft).", double(m.draft_tokens));
  metric(o, "moecat_draft_accepted_total", "counter", "Draft tokens the model confirmed.", double(m.draft_accepted));
  metric(o, "moecat_draft_acceptance_rate", "gauge", "Confirmed share of draft tokens, since start.",
         m.draft_tokens ? double(m.draft_accepted) / double(m.draft_tokens) : 0.0);
  metric(o, "moecat_tokens_per_verify_step", "gauge", "Tokens emitted per sequence step that carried drafts, since start.",
         m.verify_spans ? double(m.verify_emitted) / double(m.verify_spans) : 0.0);
  metric(o, "moecat_ffn_expert_slots_total", "counter", "Routed expert slots that ran an FFN (zero experts excluded).", double(m.forward.ffn_expert_slots));
  metric(o, "moecat_zero_expert_slots_total", "counter", "Routed slots that went to zero-computation experts.", double(m.forward.zero_expert_slots));
  metric(o, "moecat_ffn_experts_per_token", "gauge", "FFN experts computed per token per MoE layer, since start.",
         m.forward.moe_token_layers ? double(m.forward.ffn_expert_slots) / double(m.forward.moe_token_layers) : 0.0);
  metric(o, "moecat_batch_steps_total", "counter", "Forward passes of the running batch.", double(m.steps));
  metric(o, "moecat_batch_tokens_total", "counter", "Tokens evaluated over all batch steps.", double(m.step_tokens));
  return o;
}

}  // namespace moecat
