// libFuzzer target: every family's streaming parser over arbitrary output cut into pieces
// chosen by the input itself. Checks no crash/UB, and that a whole-string parse and the split
// parse assemble the same message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <map>
#include <utility>

#include "serve/chat/chat_format.h"

namespace {

// The message the deltas assemble to (arguments stream in pieces that depend on the feeding,
// so the pieces themselves are not compared).
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
  bool operator==(const Assembled& o) const {
    return content == o.content && reasoning == o.reasoning && calls == o.calls;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // First byte: options; second: split seed; the rest is the model output.
  const uint8_t flags = data[0];
  uint32_t seed = data[1] + 1;
  std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  moecat::ChatParseOptions opt;
  opt.parse_tools = !(flags & 1);
  opt.parse_reasoning = !(flags & 2);
  opt.starts_in_reasoning = flags & 4;
  for (moecat::ChatFamily f : {moecat::ChatFamily::kGeneric, moecat::ChatFamily::kQwen3,
                               moecat::ChatFamily::kDeepSeekV3, moecat::ChatFamily::kLlama3,
                               moecat::ChatFamily::kGptOss, moecat::ChatFamily::kLongCat,
                               moecat::ChatFamily::kMistral}) {
    Assembled whole, split;
    auto p = moecat::make_chat_output_parser(f, opt);
    whole.add(p->feed(text));
    whole.add(p->finish());
    auto q = moecat::make_chat_output_parser(f, opt);
    size_t i = 0;
    while (i < text.size()) {
      seed = seed * 1103515245u + 12345u;
      size_t n = (seed >> 16) % 9;
      n = std::min(n, text.size() - i);
      split.add(q->feed(text.substr(i, n)));
      i += n;
    }
    split.add(q->finish());
    if (!(whole == split)) abort();
  }
  return 0;
}
