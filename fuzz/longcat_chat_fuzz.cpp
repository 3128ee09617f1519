// libFuzzer target: LongCat's output parser (tag-format key/value calls typed from a tool
// schema, JSON calls, <longcat_think> reasoning) over arbitrary output cut into pieces chosen by
// the input itself. Checks no crash/UB, that the split parse assembles the same message as the
// whole-string parse, and that every call is named and its arguments begin a JSON object.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <map>
#include <utility>

#include "serve/chat/chat_format.h"

namespace {

const nlohmann::ordered_json& tools() {
  static const nlohmann::ordered_json t = nlohmann::ordered_json::parse(R"([
    {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
      "s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number"}, "b": {"type": "boolean"},
      "o": {"type": "object"}, "a": {"type": "array"}, "u": {"type": ["integer", "null"]}}}}}])");
  return t;
}

// The message the deltas assemble to (how they are cut into pieces depends on the feeding).
struct Assembled {
  std::string content, reasoning;
  std::map<int, std::pair<std::string, std::string>> calls;  // index -> name, arguments
  void add(const moecat::ChatDelta& d) {
    content += d.content;
    reasoning += d.reasoning;
    for (const auto& tc : d.tool_calls) {
      calls[tc.index].first += tc.name;
      calls[tc.index].second += tc.arguments;
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  uint32_t seed = data[1] + 1;
  std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  moecat::ChatParseOptions opt;
  opt.parse_tools = !(flags & 1);
  opt.parse_reasoning = !(flags & 2);
  opt.starts_in_reasoning = flags & 4;
  if (!(flags & 8)) opt.tools = tools();
  Assembled whole, split;
  auto p = moecat::make_chat_output_parser(moecat::ChatFamily::kLongCat, opt);
  whole.add(p->feed(text));
  whole.add(p->finish());
  auto q = moecat::make_chat_output_parser(moecat::ChatFamily::kLongCat, opt);
  size_t i = 0;
  while (i < text.size()) {
    seed = seed * 1103515245u + 12345u;
    size_t n = std::min<size_t>((seed >> 16) % 9, text.size() - i);
    split.add(q->feed(text.substr(i, n)));
    i += n;
  }
  split.add(q->finish());
  if (whole.content != split.content || whole.reasoning != split.reasoning || whole.calls != split.calls)
    abort();
  // Every call is named and its arguments are an object: whole, or (a call the reply cut off)
  // as far as it came.
  for (const auto& [index, call] : whole.calls) {
    if (call.first.empty() || call.second.empty() || call.second[0] != '{') abort();
  }
  return 0;
}
