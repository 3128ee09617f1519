// libFuzzer target: parse arbitrary bytes as a Jinja template and render it against a small fixed
// chat context under tight limits. Any crash, sanitizer report or hang is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serve/jinja/jinja.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using moecat::jinja::Template;
  static const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi é"},
                 {"role": "assistant", "content": null,
                  "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]},
                 {"role": "tool", "content": "42"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "n": 3, "f": 1.5})");
  moecat::jinja::Limits lim;
  lim.max_output_bytes = 1 << 20;
  lim.max_steps = 1'000'000;
  lim.max_depth = 64;
  auto t = Template::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (t.ok()) (void)t->Render(ctx, lim);
  return 0;
}
