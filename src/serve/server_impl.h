// Server internals shared by server.cpp (HTTP setup, routes) and completion.cpp (one request).
#pragma once
#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "serve/api/openai.h"
#include "serve/chat_prompt.h"
#include "serve/expert_parallel_serve.h"
#include "serve/grammar/json_constraint.h"
#include "serve/http/http.h"
#include "serve/metrics.h"
#include "serve/scheduler.h"
#include "serve/server.h"
#include "serve/tool_grammar.h"

namespace moecat {

struct Generation;
struct GenRun;

// Conversations kept for previous_response_id: chat messages (input + output) per response id,
// least recently used evicted beyond max_entries or max_bytes.
class ResponseStore {
 public:
  ResponseStore(size_t max_entries, size_t max_bytes) : max_entries_(max_entries), max_bytes_(max_bytes) {}
  void put(const std::string& id, nlohmann::ordered_json messages);
  bool get(const std::string& id, nlohmann::ordered_json& messages);

 private:
  struct Entry {
    std::string id;
    nlohmann::ordered_json messages;
    size_t bytes;
  };
  std::mutex mu_;
  std::list<Entry> lru_;  // most recent first
  std::map<std::string, std::list<Entry>::iterator> by_id_;
  size_t max_entries_, max_bytes_, bytes_ = 0;
};

struct Server::Impl {
  ServerOptions opt;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Scheduler> sched;
  std::unique_ptr<ChatPrompt> chat;
  std::unique_ptr<http::HttpServer> httpd;
  // Under mpirun with N > 1 (serve/expert_parallel_serve.h): rank 0 broadcasts its steps; the
  // other ranks only follow (no scheduler, no HTTP).
  std::unique_ptr<StepBroadcaster> steps;
  bool follower = false;
  int64_t follower_blocks = 0;
  std::atomic<bool> lost{false};  // an expert rank was lost: /health answers 503
  std::atomic<bool> signalled{false};  // under mpirun: stop() was called (mpirun passes signals on)
  int bound_port = 0;
  int64_t created = 0;

  std::once_flag index_once;
  std::shared_ptr<const ConstraintIndex> index;  // built on first structured-output request
  std::shared_ptr<const ConstraintIndex> constraint_index();
  Result<std::unique_ptr<JsonConstraint>> choice_constraint(const ForcedCall& fc);
  // tool_choice "auto": the calls the model writes kept valid (chat_prompt.h lazy_call); an
  // error where a tool's schema cannot be enforced (the calls then stay free).
  Result<std::unique_ptr<JsonConstraint>> lazy_call_constraint(const ForcedCall& fc);
  std::mutex trigger_mu;
  std::shared_ptr<const TriggerTable> trigger_table;  // one trigger per model: built once

  std::atomic<int64_t> http_ok{0}, http_4xx{0}, http_5xx{0};
  std::atomic<uint64_t> next_id{1};

  api::RequestLimits limits() const;
  // POST /v1/chat/completions (chat) and /v1/completions.
  void handle_generation(const http::Request& req, http::Response& res, bool chat);
  // POST /v1/responses (serve/responses.cpp).
  void handle_responses(const http::Request& req, http::Response& res);
  // POST /v1/messages and /v1/messages/count_tokens (serve/messages.cpp).
  void handle_messages(const http::Request& req, http::Response& res);
  void handle_count_tokens(const http::Request& req, http::Response& res);
  void send_error(http::Response& res, const api::ApiError& e);

  // Shared by both: renders the prompt and queues one sequence per choice; nullptr after an
  // error answer was sent.
  std::shared_ptr<Generation> start_generation(std::shared_ptr<api::ChatRequest> r, http::Response& res);
  // A non-streamed answer: waits for every run (on_delta sees each consumed delta), then sends
  // body_of()'s status and JSON (see completion.cpp on failures after the status line).
  void send_when_done(std::shared_ptr<Generation> gen, http::Response& res,
                      std::function<void(GenRun&, const api::StreamDelta&)> on_delta,
                      std::function<std::pair<int, std::string>()> body_of);

  ResponseStore responses{256, 64u << 20};
};

}  // namespace moecat
