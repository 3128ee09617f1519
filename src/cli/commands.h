// moecat's subcommands. Each registers its options on the CLI11 app and returns the exit code
// when run. User errors print "moecat: error: ..." and return 1; they never abort.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "base/status.h"
#include "model/model.h"
#include "runtime/engine.h"

namespace moecat::cli {

using Runner = std::function<int()>;

Runner add_run(CLI::App& app);
Runner add_logprobs(CLI::App& app);
Runner add_tokenize(CLI::App& app);
Runner add_info(CLI::App& app);
Runner add_convert(CLI::App& app);
Runner add_bench(CLI::App& app);
Runner add_serve(CLI::App& app);

// `moecat run` without -p: chat in the model's own format (cmd_chat.cpp).
struct ChatOptions {
  std::string message;          // one-shot message ("" = stdin, interactive when it is a terminal)
  std::string system;           // with system_given; else the model's default system prompt
  bool system_given = false;
  std::string tools_file;       // JSON array of OpenAI tools; "" = the model's default tools
  bool no_tools = false;
  bool tool_grammar = true;     // calls the model opens are kept valid (serve's tool grammar)
  int64_t n = 256;              // max tokens per reply
  SamplingParams sp;
  Engine::Draft draft = Engine::Draft::kNone;
  int n_draft = 1;
};
int run_chat(Engine& e, const ChatOptions& o);

// Prints "moecat: error: <message>" to stderr and returns 1.
int fail(const Status& s);
// The model to use when -m is not given: $MOECAT_MODEL, else the default model built next to
// the binary (default-model.gguf).
std::string default_model_path();
// --cache-type f16|f32: the KV cache element type, into *t (which holds the command's default).
void add_cache_type_option(CLI::App& app, KvType* t);
// --no-repack: keep quantized matrices in the file layout (kernels::set_repack(false)).
void add_repack_option(CLI::App& app);
// Parses "1,2,3" (spaces allowed) into ids.
Result<std::vector<int32_t>> parse_ids(const std::string& s);

}  // namespace moecat::cli
