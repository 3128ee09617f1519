// moecat serve: the OpenAI-compatible server (src/serve/server.h).
#include <csignal>
#include <memory>

#include "cli/commands.h"
#include "serve/server.h"

namespace moecat::cli {

namespace {
Server* g_server = nullptr;
void on_signal(int) {
  if (g_server) g_server->stop();  // listen() returns; the destructor drains the scheduler
}
}  // namespace

Runner add_serve(CLI::App& app) {
  auto o = std::make_shared<ServerOptions>();
  app.add_option("-m,--model", o->model_path, "GGUF file or Hugging Face folder (default: the built-in model)");
  app.add_option("--host", o->host, "address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)");
  app.add_option("--port", o->port, "TCP port (0: any free port)")->check(CLI::Range(0, 65535));
  app.add_option("--np,--parallel", o->parallel, "requests generated at once (continuous batching)")
      ->check(CLI::Range(1, 256));
  app.add_option("-c,--ctx-size", o->n_ctx, "context per request (prompt + answer)")->check(CLI::Range(16, 1 << 22));
  app.add_option("-b,--batch-size", o->n_batch, "tokens per batch step (prompts are prefilled in chunks)")
      ->check(CLI::Range(1, 1 << 16));
  app.add_option("--max-queue", o->max_queue, "waiting requests before answering 429")->check(CLI::Range(0, 1 << 16));
  app.add_option("--kv-tokens", o->kv_tokens,
                 "KV cache size in positions, shared by all requests and the prefix cache "
                 "(default (parallel + 1) x ctx-size)")
      ->check(CLI::Range(int64_t(16), int64_t(1) << 32));
  app.add_option("-t,--threads", o->threads, "compute threads (default: all cores)");
  add_cache_type_option(app, &o->kv_type);
  app.add_option("--draft", o->draft,
                 "speculative decoding inside the batch: mtp (LongCat-Flash's MTP head), ngram (each sequence drafts "
                 "from its own prompt and answer) or none; the output is identical either way");
  app.add_option("--n-draft", o->n_draft, "draft tokens per sequence and step with --draft (default: 1 for mtp, 3 for ngram)")
      ->check(CLI::Range(1, 16));
  app.add_option("--prefix-cache-file", o->prefix_cache_file,
                 "keep the prefix cache (e.g. a long system prompt's KV) across restarts: loaded from PATH at "
                 "start, written there at shutdown; a file made for another model, cache type or build is "
                 "ignored with a warning");
  app.add_flag("--no-tool-grammar", [o](int64_t) { o->tool_grammar = false; },
               "with tool_choice auto, leave the tool calls the model opens unconstrained (default: once a "
               "call-open tag appears, its name and arguments are kept valid under the tools' schemas)");
  add_repack_option(app);
  app.add_option("--api-key", o->api_key,
                 "require 'Authorization: Bearer KEY' on every endpoint but /health and the chat page (the page "
                 "asks for the key and sends it)");
  app.add_flag("--no-webui", [o](int64_t) { o->web_ui = false; }, "do not serve the chat page at /");
  app.add_option("--alias", o->model_id, "model name reported by /v1/models (default: the file name)");
  app.add_option("--max-n", o->max_n, "most choices per request (\"n\")")->check(CLI::Range(1, 16));
  app.add_option("--max-body", o->max_body_bytes, "largest request body in bytes (413 beyond)")
      ->check(CLI::Range(1024, 1 << 30));
  // Slow and idle clients (serve/http/http.h): whole-head / whole-body deadlines, not per read.
  auto secs = [&app](const char* name, int* ms, const char* what) {
    app.add_option_function<double>(name, [ms](double s) { *ms = static_cast<int>(s * 1000); }, what)
        ->check(CLI::Range(0.1, 3600.0));
  };
  secs("--header-timeout", &o->header_timeout_ms,
       "seconds a client has to send a request's whole head, from its first byte (default 10)");
  secs("--body-timeout", &o->body_timeout_ms, "seconds a client has to send a request's whole body (default 30)");
  secs("--idle-timeout", &o->idle_timeout_ms, "seconds an idle keep-alive connection stays open (default 5)");
  app.add_option("--max-conns-per-client", o->max_conns_per_client,
                 "open connections per client address; beyond, its oldest one without a request running is "
                 "closed (default 4096)")
      ->check(CLI::Range(1, 1 << 20));
  return [o]() -> int {
    if (o->model_path.empty()) o->model_path = default_model_path();
    auto s = Server::Create(*o);
    if (!s.ok()) return fail(s.status());
    g_server = s->get();
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    Status st = (*s)->run();
    g_server = nullptr;
    if (!st.ok()) return fail(st);
    return 0;
  };
}

}  // namespace moecat::cli
