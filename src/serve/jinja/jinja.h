// A Jinja2 template engine for chat templates: renders a model's own `chat_template` (from
// tokenizer_config.json or GGUF tokenizer.chat_template) byte-for-byte like @huggingface/jinja
// (the engine transformers.js and llama.cpp's reference tests use), which is what the real
// Qwen3, DeepSeek-V3, Llama-3 and gpt-oss templates were written against.
//
// Templates come from model files, i.e. from users: parsing and rendering never crash, and
// rendering is bounded (output size, loop iterations, recursion depth); every failure is a
// Status naming the problem (and the template line where known).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace moecat::jinja {

struct Limits {
  int64_t max_output_bytes = 64 << 20;  // rendered text
  int64_t max_steps = 50'000'000;       // evaluated nodes + loop iterations
  int max_depth = 256;                  // nesting of calls/macros/expressions
};

struct Program;  // parsed template (AST), defined in the implementation

class Template {
 public:
  // Parses once; the parsed template is immutable and may be rendered from many threads.
  static Result<Template> Parse(std::string_view source);

  // ctx: the top-level variables, e.g. {"messages": [...], "tools": [...],
  // "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", ...extra kwargs}.
  // Object key order is preserved (tojson / items() follow insertion order like JS objects).
  // Built-ins available to templates: raise_exception(msg) (-> error Status with msg),
  // strftime_now(fmt), range, namespace, and the usual filters/tests/methods (no dict(), like
  // the reference).
  Result<std::string> Render(const nlohmann::ordered_json& ctx, const Limits& limits = {}) const;

 private:
  std::shared_ptr<const Program> program_;
};

}  // namespace moecat::jinja
