// `moecat serve`: an OpenAI-compatible HTTP server (serve/http: epoll, our own) over the continuous-batching
// scheduler. Endpoints: POST /v1/chat/completions, POST /v1/completions (both streaming over
// SSE or not), GET /v1/models, GET /health, GET /metrics (Prometheus).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "runtime/engine.h"

namespace moecat {

struct ServerOptions {
  std::string model_path;
  std::string model_id;            // name in /v1/models and responses (default: file name)
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0: pick a free port (printed)
  int parallel = 4;                // sequences generated at once
  int64_t n_ctx = 4096;            // positions per sequence
  int64_t n_batch = 512;           // tokens per batch step
  int64_t max_queue = 64;          // waiting requests before 429
  int64_t kv_tokens = 0;           // KV pool size in positions, all requests together (0: (parallel + 1) * n_ctx)
  int threads = 0;                 // compute threads (0: all cores)
  std::string api_key;             // non-empty: every endpoint but /health and the page needs it
  bool web_ui = true;              // the chat page at / (web/chat.html)
  size_t max_body_bytes = 8 << 20; // larger bodies: 413
  int max_n = 4;                   // choices per request ("n")
  KvType kv_type = KvType::kF16;   // KV cache element type (f16: half the memory of f32)
  std::string prefix_cache_file;   // non-empty: prefix cache loaded at start, saved at shutdown
  std::string draft = "none";      // speculative decoding in the batch: none | ngram | mtp
  bool tool_grammar = true;        // tool_choice auto: calls the model opens are kept valid (lazy grammar)
  int n_draft = 0;                 // draft tokens per sequence and step (0: 1 for mtp, 3 for ngram)
  // Slow and idle clients (serve/http/http.h): total deadlines, not per read.
  int header_timeout_ms = 10000;   // a request head must arrive within this of its first byte
  int body_timeout_ms = 30000;     // its body within this of the head
  int idle_timeout_ms = 5000;      // an idle keep-alive connection is closed after this
  int max_conns_per_client = 4096;  // open connections per client address (its oldest idle one makes room)
};

// Loads the model and serves until stop() (or a signal in the CLI). Prints
// "moecat: listening on http://HOST:PORT" to stderr once accepting.
class Server {
 public:
  static Result<std::unique_ptr<Server>> Create(const ServerOptions& opt);
  ~Server();
  Status run();  // blocks
  void stop();
  int port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace moecat
