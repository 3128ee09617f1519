// Server internals shared by server.cpp (HTTP setup, routes) and completion.cpp (one request).
#pragma once
#include <httplib.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "serve/api/openai.h"
#include "serve/chat_prompt.h"
#include "serve/grammar/json_constraint.h"
#include "serve/metrics.h"
#include "serve/scheduler.h"
#include "serve/server.h"

namespace moecat {

struct Server::Impl {
  ServerOptions opt;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Scheduler> sched;
  std::unique_ptr<ChatPrompt> chat;
  httplib::Server http;
  int bound_port = 0;
  int64_t created = 0;

  std::once_flag index_once;
  std::shared_ptr<const ConstraintIndex> index;  // built on first structured-output request
  std::shared_ptr<const ConstraintIndex> constraint_index();

  std::atomic<int64_t> http_ok{0}, http_4xx{0}, http_5xx{0};
  std::atomic<uint64_t> next_id{1};

  api::RequestLimits limits() const;
  // POST /v1/chat/completions (chat) and /v1/completions.
  void handle_generation(const httplib::Request& req, httplib::Response& res, bool chat);
  void send_error(httplib::Response& res, const api::ApiError& e);
};

}  // namespace moecat
