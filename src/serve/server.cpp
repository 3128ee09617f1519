#include "serve/server.h"

#include <csignal>
#include <cstdio>
#include <thread>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "runtime/mpi_expert_parallel.h"
#include "serve/api/messages.h"
#include "serve/server_impl.h"
#include "serve/web_page.h"

namespace moecat {

namespace {
// Constant-time comparison, so the key cannot be guessed byte by byte from response times.
bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}
}  // namespace

std::shared_ptr<const ConstraintIndex> Server::Impl::constraint_index() {
  std::call_once(index_once, [&] { index = build_vocab_constraint_index(*engine->tokenizer(), engine->model().config().n_vocab); });
  return index;
}

api::RequestLimits Server::Impl::limits() const {
  api::RequestLimits l;
  l.n_vocab = static_cast<int32_t>(engine->model().config().n_vocab);
  l.n_ctx = opt.n_ctx;
  l.max_n = opt.max_n;
  return l;
}

void Server::Impl::send_error(http::Response& res, const api::ApiError& e) {
  res.status = e.http_status;
  res.set_content(api::error_json(e), "application/json");
}

namespace {
// The server whose requests mpi_abort's hook ends with 503 (one per process).
Server::Impl* g_ep_server = nullptr;

void on_lost_rank(const std::string& why) {
  Server::Impl* ip = g_ep_server;
  if (!ip || !ip->sched) return;
  ip->lost = true;
  ip->sched->fail_all("expert rank lost, the server is stopping: " + why);
  // The HTTP workers write their 503s meanwhile; then mpi_abort ends the job.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
}
}  // namespace

Result<std::unique_ptr<Server>> Server::Create(const ServerOptions& opt) {
  std::unique_ptr<Server> s(new Server());
  s->impl_ = std::make_unique<Impl>();
  Impl& I = *s->impl_;
  I.opt = opt;
  if (opt.parallel < 1 || opt.parallel > 256) return Errorf("--parallel must be in 1..256 (got %d)", opt.parallel);
  if (opt.max_queue < 0) return Errorf("--max-queue must be >= 0");
  ExpertComm* comm = expert_comm();
  const bool ep = comm && comm->size() > 1;
  // Followers never see the prefix cache file's KV rows: they would attend to other data.
  if (ep && !opt.prefix_cache_file.empty())
    return Errorf("--prefix-cache-file is not available under mpirun (the other ranks' KV pools cannot load it)");
  EngineOptions eo;
  eo.threads = opt.threads;
  eo.n_ctx = opt.n_ctx;
  eo.kv_type = opt.kv_type;
  MOECAT_ASSIGN_OR_RETURN(I.engine, Engine::Load(opt.model_path, eo));
  if (!I.engine->tokenizer()) return Errorf("%s has no tokenizer; the server needs one", opt.model_path.c_str());
  I.opt.n_ctx = I.engine->options().n_ctx;  // clamped to the model's training context
  if (I.opt.model_id.empty()) I.opt.model_id = std::filesystem::path(opt.model_path).filename().string();
  if (I.opt.model_id.empty()) I.opt.model_id = opt.model_path;
  MOECAT_ASSIGN_OR_RETURN(I.chat, ChatPrompt::Create(I.engine->tokenizer()->data().chat_template,
                                                    I.engine->model().config().arch, *I.engine->tokenizer()));
  SchedulerOptions so;
  so.parallel = opt.parallel;
  so.n_ctx = I.opt.n_ctx;
  so.n_batch = opt.n_batch;
  so.max_queue = opt.max_queue;
  so.prefix_cache_file = opt.prefix_cache_file;
  if (opt.draft == "ngram" || opt.draft == "mtp") {
    if (opt.n_draft < 0 || opt.n_draft > 16) return Errorf("--n-draft must be in 1..16 (got %d)", opt.n_draft);
    so.draft_mtp = opt.draft == "mtp";
    // The MTP head's first draft is its best (on the shipped model ~94 % accepted, its chained
    // second far less); n-gram drafts are free to propose, so a few at once pay off.
    so.n_draft = opt.n_draft > 0 ? opt.n_draft : so.draft_mtp ? 1 : 3;
    if (so.draft_mtp) {
      const KvShape k = I.engine->kv_shape(), m = I.engine->mtp_kv_shape();
      if (!I.engine->model().has_mtp()) return Errorf("--draft mtp: %s has no MTP head (--draft ngram works for every model)", opt.model_path.c_str());
      if (m.n_layer != 1 || m.k_width != k.k_width || m.v_width != k.v_width)
        return Errorf("--draft mtp: this model's MTP cache differs from its layers' (use --draft ngram)");
    }
  } else if (opt.draft != "none" && !opt.draft.empty()) {
    return Errorf("--draft must be none, ngram or mtp (got '%s')", opt.draft.c_str());
  }
  if (opt.kv_tokens > 0) {
    if (opt.kv_tokens < I.opt.n_ctx) return Errorf("--kv-tokens must hold at least one full context (%lld)", (long long)I.opt.n_ctx);
    so.kv_blocks = (opt.kv_tokens + so.block_rows - 1) / so.block_rows;
  }
  if (ep && comm->rank() != 0) {
    // Same pool size as rank 0's scheduler (its block ids index this pool too).
    I.follower = true;
    I.follower_blocks = so.kv_blocks > 0 ? so.kv_blocks : (so.parallel + 1) * ((so.n_ctx + so.block_rows - 1) / so.block_rows);
    return s;
  }
  if (ep) {
    I.steps = std::make_unique<StepBroadcaster>(comm);
    so.before_forward = [b = I.steps.get()](const Batch& x) { b->send(x); };
  }
  I.sched = std::make_unique<Scheduler>(*I.engine, so);
  if (ep) {
    g_ep_server = &I;
    mpi_set_abort_hook(on_lost_rank);
  }
  I.created = static_cast<int64_t>(std::time(nullptr));

  http::HttpOptions ho;
  ho.host = opt.host;
  ho.port = opt.port;
  ho.max_body_bytes = opt.max_body_bytes;
  ho.header_timeout_ms = opt.header_timeout_ms;
  ho.body_timeout_ms = opt.body_timeout_ms;
  ho.idle_timeout_ms = opt.idle_timeout_ms;
  ho.max_conns_per_client = opt.max_conns_per_client;
  // Handlers block on the scheduler for their whole generation: one worker per running stream
  // and queued request, plus a few; /health, /metrics and the other GETs never need one.
  ho.workers = static_cast<int>(opt.parallel + opt.max_queue + 8);
  I.httpd = std::make_unique<http::HttpServer>(ho);
  http::HttpServer& h = *I.httpd;

  Impl* ip = &I;
  h.pre_routing = [ip](const http::Request& req, http::Response& res) {
    // The page itself holds no data (it asks for the key and sends it with each request).
    const bool page = ip->opt.web_ui && (req.path == "/" || req.path == "/index.html");
    if (ip->opt.api_key.empty() || req.path == "/health" || page) return false;
    // Authorization: Bearer <key> (OpenAI clients) or x-api-key: <key> (Anthropic clients).
    const bool bearer = same_secret(req.get_header_value("Authorization"), "Bearer " + ip->opt.api_key);
    if (!bearer && !same_secret(req.get_header_value("x-api-key"), ip->opt.api_key)) {
      api::ApiError e{401, "invalid or missing API key (Authorization: Bearer <key> or x-api-key: <key>)",
                      "authentication_error", "", "invalid_api_key"};
      if (api::is_messages_path(req.path)) {
        res.status = 401;
        res.set_content(api::messages_error_json(401, e.message), "application/json");
      } else {
        ip->send_error(res, e);
      }
      return true;
    }
    return false;
  };
  h.logger = [ip](const http::Request&, const http::Response& res) {
    if (res.status >= 500) ++ip->http_5xx;
    else if (res.status >= 400) ++ip->http_4xx;
    else ++ip->http_ok;
  };
  h.error_handler = [](const http::Request& req, http::Response& res) {
    api::ApiError e;
    e.http_status = res.status;
    if (res.status == 404) e.message = "no such endpoint: " + req.method + " " + req.path;
    else if (res.status == 413) e.message = "request body too large";
    else if (res.status == 405) e.message = "method not allowed";
    else if (!res.error_message.empty()) e.message = res.error_message;
    else e.message = res.status >= 500 ? "server error" : "bad request";
    e.type = res.status >= 500 ? "server_error" : "invalid_request_error";
    if (api::is_messages_path(req.path)) res.set_content(api::messages_error_json(e.http_status, e.message), "application/json");
    else res.set_content(api::error_json(e), "application/json");
  };
  h.exception_handler = [ip](const http::Request& req, http::Response& res, const std::string& ex) {
    const std::string what = ex.empty() ? "internal error" : "internal error: " + ex;
    if (api::is_messages_path(req.path)) {
      res.status = 500;
      res.set_content(api::messages_error_json(500, what), "application/json");
      return;
    }
    ip->send_error(res, api::ApiError{500, what, "server_error", "", ""});
  };

  // GET routes are cheap and never block: they run on the I/O thread (inline = true), so they
  // answer at once however busy the workers are.
  if (opt.web_ui)
    for (const char* path : {"/", "/index.html"})
      h.route("GET", path, [](const http::Request&, http::Response& res) {
        const std::string_view page = embedded::chat_page();
        res.set_content(page.data(), page.size(), "text/html; charset=utf-8");
      }, true);
  h.route("GET", "/health", [ip](const http::Request&, http::Response& res) {
    if (ip->lost) {
      res.status = 503;
      res.set_content("{\"status\":\"error\",\"message\":\"expert rank lost\"}", "application/json");
      return;
    }
    res.set_content("{\"status\":\"ok\"}", "application/json");
  }, true);
  h.route("GET", "/v1/models", [ip](const http::Request&, http::Response& res) {
    res.set_content(api::models_json(ip->opt.model_id, ip->created).dump(), "application/json");
  }, true);
  h.route("GET", "/props", [ip](const http::Request&, http::Response& res) {
    const TokenizerData& d = ip->engine->tokenizer()->data();
    api::PropsInfo p{ip->opt.model_id, chat_family_name(ip->chat->family()), d.chat_template,
                     d.default_system_prompt, d.default_tools, ip->opt.n_ctx, ip->opt.parallel};
    res.set_content(api::props_json(p).dump(), "application/json");
  }, true);
  h.route("GET", "/metrics", [ip](const http::Request&, http::Response& res) {
    HttpCounters c{ip->http_ok.load(), ip->http_4xx.load(), ip->http_5xx.load()};
    res.set_content(prometheus_text(ip->sched->metrics(), c), "text/plain; version=0.0.4");
  }, true);
  // Clients that omit the /v1 prefix are served too (llama.cpp's server accepts both).
  for (const char* prefix : {"/v1", ""})
    for (const bool chat : {true, false})
      h.route("POST", std::string(prefix) + (chat ? "/chat/completions" : "/completions"),
              [ip, chat](const http::Request& req, http::Response& res) { ip->handle_generation(req, res, chat); });
  for (const char* path : {"/v1/responses", "/responses"})
    h.route("POST", path, [ip](const http::Request& req, http::Response& res) { ip->handle_responses(req, res); });
  for (const char* prefix : {"/v1", ""}) {
    h.route("POST", std::string(prefix) + "/messages",
            [ip](const http::Request& req, http::Response& res) { ip->handle_messages(req, res); });
    h.route("POST", std::string(prefix) + "/messages/count_tokens",
            [ip](const http::Request& req, http::Response& res) { ip->handle_count_tokens(req, res); });
  }

  MOECAT_RETURN_IF_ERROR(h.bind());
  I.bound_port = h.port();
  return s;
}

Server::~Server() {
  if (impl_) {
    if (impl_->httpd) impl_->httpd->stop();
    if (impl_->sched) impl_->sched->stop();
    // The engine thread is gone: the followers may leave their loop now.
    if (impl_->steps) impl_->steps->stop();
    if (g_ep_server == impl_.get()) {
      mpi_set_abort_hook(nullptr);
      g_ep_server = nullptr;
    }
  }
}

int Server::port() const { return impl_->bound_port; }

Status Server::run() {
  if (impl_->follower)
    return run_step_follower(*impl_->engine, expert_comm(), impl_->follower_blocks, impl_->opt.n_ctx,
                             SchedulerOptions{}.block_rows);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server
  std::fprintf(stderr, "moecat: serving %s (%s chat format, %s) on http://%s:%d\n", impl_->opt.model_id.c_str(),
               chat_family_name(impl_->chat->family()), impl_->chat->source(), impl_->opt.host.c_str(),
               impl_->bound_port);
  const SchedulerMetrics m = impl_->sched->metrics();
  std::fprintf(stderr, "moecat: %d parallel sequences, context %lld, KV pool %lld blocks x %lld positions = %.1f MiB (%s)\n",
               impl_->opt.parallel, (long long)impl_->opt.n_ctx, (long long)m.kv.blocks_total,
               (long long)impl_->sched->options().block_rows, impl_->sched->kv_bytes() / 1048576.0,
               kv_type_name(impl_->opt.kv_type));
  std::fprintf(stderr, "moecat: listening on http://%s:%d\n", impl_->opt.host.c_str(), impl_->bound_port);
  // Under mpirun a signal usually means the job is ending (mpirun signals the surviving ranks
  // when one dies) while the engine thread may be stuck in a combine: answer 503 to what runs
  // and arrives first, then stop listening. stop() only sets a flag (it runs in a handler).
  std::atomic<bool> over{false};
  std::thread watch;
  if (impl_->steps)
    watch = std::thread([ip = impl_.get(), &over] {
      while (!over && !ip->signalled) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (over) return;
      ip->lost = true;
      ip->sched->fail_all("expert rank lost or the job interrupted: mpirun is ending the job");
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      ip->httpd->stop();
    });
  Status st = impl_->httpd->run();
  over = true;
  if (watch.joinable()) watch.join();
  return st;
}

void Server::stop() {  // async-signal-safe (the CLI calls it from a handler)
  if (impl_->steps) {
    impl_->signalled = true;  // run()'s watcher answers 503 first
    return;
  }
  if (impl_->httpd) impl_->httpd->stop();  // a follower rank has none: mpirun ends it
}  // async-signal-safe (the CLI calls it from a handler)

}  // namespace moecat
