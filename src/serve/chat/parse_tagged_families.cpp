// The tag-delimited families' markers and call bodies.
//   Qwen3:    <think>..</think>, <tool_call>\n{"name":..,"arguments":{..}}\n</tool_call>
//   DeepSeek: <think>..</think> (R1 / V3.1 thinking), and the call block
//             <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>BODY<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
//             where BODY is V3's  function<｜tool▁sep｜>NAME\n```json\n{..}\n```
//             or V3.1's           NAME<｜tool▁sep｜>{..}
//   LongCat:  <longcat_think>..</longcat_think>, <longcat_tool_call>{..}</longcat_tool_call>,
//             turns end with </longcat_s>.
#include "serve/chat/parsers.h"
#include "serve/chat/tagged_parser.h"

namespace moecat::chat {

namespace {

constexpr std::string_view kDsSep = "<｜tool▁sep｜>";

// V3: "function<｜tool▁sep｜>NAME\n```json\n{..}\n```"; V3.1: "NAME<｜tool▁sep｜>{..}".
std::optional<ParsedCall> parse_deepseek_call(std::string_view body) {
  size_t sep = body.find(kDsSep);
  if (sep == std::string_view::npos) return std::nullopt;
  std::string_view left = trim(body.substr(0, sep));
  std::string_view right = body.substr(sep + kDsSep.size());
  std::string_view rt = trim(right);
  std::string name;
  std::string_view args_text;
  if (left == "function" && !rt.empty() && rt.front() != '{' && rt.front() != '"') {
    size_t nl = right.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    name = std::string(trim(right.substr(0, nl)));
    std::string_view rest = trim(right.substr(nl + 1));
    // Strip the ```json fence.
    if (rest.substr(0, 3) == "```") {
      size_t eol = rest.find('\n');
      if (eol == std::string_view::npos) return std::nullopt;
      rest = rest.substr(eol + 1);
      size_t close = rest.rfind("```");
      if (close == std::string_view::npos) return std::nullopt;
      rest = rest.substr(0, close);
    }
    args_text = trim(rest);
  } else {
    name = std::string(left);
    args_text = rt;
  }
  if (name.empty()) return std::nullopt;
  auto j = parse_json_bounded(args_text);
  if (!j) return std::nullopt;
  auto args = arguments_string(*j);
  if (!args) return std::nullopt;
  return ParsedCall{std::move(name), std::move(*args)};
}

}  // namespace

std::unique_ptr<ChatOutputParser> make_qwen3_parser(const ChatParseOptions& opt) {
  TaggedFormat f;
  f.think_open = "<think>";
  f.think_close = "</think>";
  f.call_open = "<tool_call>";
  f.call_close = "</tool_call>";
  f.parse_call = parse_name_args_object;
  f.drop = {"<|im_end|>", "<|endoftext|>"};
  return std::make_unique<TaggedParser>(std::move(f), opt);
}

std::unique_ptr<ChatOutputParser> make_deepseek_parser(const ChatParseOptions& opt) {
  TaggedFormat f;
  f.think_open = "<think>";
  f.think_close = "</think>";
  f.block_open = "<｜tool▁calls▁begin｜>";
  f.block_close = "<｜tool▁calls▁end｜>";
  f.call_open = "<｜tool▁call▁begin｜>";
  f.call_close = "<｜tool▁call▁end｜>";
  f.parse_call = parse_deepseek_call;
  f.drop = {"<｜end▁of▁sentence｜>"};
  return std::make_unique<TaggedParser>(std::move(f), opt);
}

std::unique_ptr<ChatOutputParser> make_longcat_parser(const ChatParseOptions& opt) {
  TaggedFormat f;
  f.think_open = "<longcat_think>";
  f.think_close = "</longcat_think>";
  f.call_open = "<longcat_tool_call>";
  f.call_close = "</longcat_tool_call>";
  f.parse_call = parse_name_args_object;
  f.drop = {"</longcat_s>"};
  return std::make_unique<TaggedParser>(std::move(f), opt);
}

}  // namespace moecat::chat
