// The tag-delimited families' markers and call bodies.
//   Qwen3:    <think>..</think>, <tool_call>\n{"name":..,"arguments":{..}}\n</tool_call>
//   DeepSeek: <think>..</think> (R1 / V3.1 thinking), and the call block
//             <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>BODY<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
//             where BODY is V3's  function<｜tool▁sep｜>NAME\n```json\n{..}\n```
//             or V3.1's           NAME<｜tool▁sep｜>{..}
//   LongCat:  see parse_longcat.cpp.
//   Mistral:  [THINK]..[/THINK]; [TOOL_CALLS] then either a JSON list
//             [{"name":..,"arguments":{..},"id":"9 alnum"}, ..] (v3 / Nemo) or NAME[ARGS]{..}
//             (with [CALL_ID]ID before [ARGS] in Small 3.2); a call runs to the next
//             [TOOL_CALLS] or the end of the reply; replies end with </s>.
#include <cctype>

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

// Where a DeepSeek call's arguments begin: after "function<｜tool▁sep｜>NAME\n```json\n" (V3;
// the fence is optional) or "NAME<｜tool▁sep｜>" (V3.1).
CallHead deepseek_head(std::string_view body) {
  constexpr size_t kMaxHead = 512;
  size_t sep = body.find(kDsSep);
  if (sep == std::string_view::npos) return {body.size() > kMaxHead ? CallHead::kNo : CallHead::kMore};
  std::string_view left = trim(body.substr(0, sep));
  const size_t r0 = sep + kDsSep.size();
  std::string_view right = body.substr(r0);
  size_t first = 0;
  while (first < right.size() && is_space(right[first])) ++first;
  if (first == right.size()) return {right.size() > kMaxHead ? CallHead::kNo : CallHead::kMore};
  CallHead h;
  if (left == "function" && right[first] != '{' && right[first] != '"') {
    size_t nl = right.find('\n');
    if (nl == std::string_view::npos) return {right.size() > kMaxHead ? CallHead::kNo : CallHead::kMore};
    h.name = std::string(trim(right.substr(0, nl)));
    size_t p = nl + 1;
    while (p < right.size() && is_space(right[p])) ++p;
    std::string_view rest = right.substr(p);
    if (rest.size() < 3 && std::string_view("```").substr(0, rest.size()) == rest) return {CallHead::kMore};
    if (rest.substr(0, 3) == "```") {
      size_t eol = rest.find('\n');
      if (eol == std::string_view::npos) return {rest.size() > kMaxHead ? CallHead::kNo : CallHead::kMore};
      p += eol + 1;
    }
    h.args_at = r0 + p;
  } else {
    h.name = std::string(left);
    h.args_at = r0;
  }
  h.st = h.name.empty() ? CallHead::kNo : CallHead::kYes;
  return h;
}

// The id Mistral's templates accept (9 alphanumerics), else a fresh one.
std::string mistral_id(const nlohmann::json& j) {
  if (j.is_string()) {
    std::string s = j.get<std::string>();
    bool ok = s.size() == 9;
    for (char c : s) ok = ok && std::isalnum(static_cast<unsigned char>(c));
    if (ok) return s;
  }
  return make_mistral_call_id();
}

std::vector<ParsedCall> parse_mistral_calls(std::string_view body) {
  std::string_view b = trim(body);
  std::vector<ParsedCall> calls;
  if (!b.empty() && b.front() == '[') {  // v3: a JSON list of {"name", "arguments", "id"}
    auto j = parse_json_bounded(b);
    if (!j || !j->is_array() || j->empty()) return {};
    for (const auto& e : *j) {
      auto c = parse_name_args_object(dump_compact(e));
      if (!c) return {};  // one bad entry: the whole list is text
      c->id = mistral_id(e.contains("id") ? e["id"] : nlohmann::json());
      calls.push_back(std::move(*c));
    }
    return calls;
  }
  // NAME[ARGS]{..}, optionally NAME[CALL_ID]ID[ARGS]{..}.
  constexpr std::string_view kArgs = "[ARGS]", kId = "[CALL_ID]";
  size_t a = b.find(kArgs);
  if (a == std::string_view::npos) return {};
  std::string_view head = b.substr(0, a), id;
  if (size_t c = head.find(kId); c != std::string_view::npos) {
    id = trim(head.substr(c + kId.size()));
    head = head.substr(0, c);
  }
  std::string_view name = trim(head);
  if (name.empty() || name.find_first_of("{}[]\" \n") != std::string_view::npos) return {};
  auto j = parse_json_bounded(trim(b.substr(a + kArgs.size())));
  if (!j) return {};
  auto args = arguments_string(*j);
  if (!args) return {};
  calls.push_back(ParsedCall{std::string(name), std::move(*args), mistral_id(std::string(id))});
  return calls;
}

// NAME[ARGS] / NAME[CALL_ID]ID[ARGS] streams; the JSON-list form is parsed whole (each
// entry's id follows its arguments).
CallHead mistral_head(std::string_view body) {
  constexpr std::string_view kArgs = "[ARGS]", kId = "[CALL_ID]";
  std::string_view b = body;
  while (!b.empty() && is_space(b.front())) b.remove_prefix(1);
  if (b.empty()) return {CallHead::kMore};
  if (b.front() == '[') return {CallHead::kNo};
  size_t a = body.find(kArgs);
  if (a == std::string_view::npos) return {body.size() > 512 ? CallHead::kNo : CallHead::kMore};
  std::string_view head = body.substr(0, a), id;
  if (size_t c = head.find(kId); c != std::string_view::npos) {
    id = trim(head.substr(c + kId.size()));
    head = head.substr(0, c);
  }
  std::string_view name = trim(head);
  if (name.empty() || name.find_first_of("{}[]\" \n") != std::string_view::npos) return {CallHead::kNo};
  CallHead h{CallHead::kYes, std::string(name), mistral_id(std::string(id)), a + kArgs.size()};
  return h;
}

}  // namespace

std::unique_ptr<ChatOutputParser> make_mistral_parser(const ChatParseOptions& opt) {
  TaggedFormat f;
  f.think_open = "[THINK]";
  f.think_close = "[/THINK]";
  f.call_open = "[TOOL_CALLS]";
  f.parse_calls = parse_mistral_calls;
  f.stream = TaggedFormat::Stream::kHead;
  f.head = mistral_head;
  f.drop = {"</s>"};
  return std::make_unique<TaggedParser>(std::move(f), opt);
}

std::unique_ptr<ChatOutputParser> make_qwen3_parser(const ChatParseOptions& opt) {
  TaggedFormat f;
  f.think_open = "<think>";
  f.think_close = "</think>";
  f.call_open = "<tool_call>";
  f.call_close = "</tool_call>";
  f.parse_calls = one_call(parse_name_args_object);
  f.stream = TaggedFormat::Stream::kObject;
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
  f.parse_calls = one_call(parse_deepseek_call);
  f.stream = TaggedFormat::Stream::kHead;
  f.head = deepseek_head;
  f.drop = {"<｜end▁of▁sentence｜>"};
  return std::make_unique<TaggedParser>(std::move(f), opt);
}

// make_longcat_parser: parse_longcat.cpp.

}  // namespace moecat::chat
