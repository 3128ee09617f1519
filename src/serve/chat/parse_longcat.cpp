// LongCat's output syntax, one parser for its three chat formats:
//   Flash-Chat (round format):  <longcat_tool_call>{"name": N, "arguments": {..}}</longcat_tool_call>
//   Flash-Lite / Thinking-2601 (tag format, tools declared in <longcat_tool_declare>):
//     <longcat_tool_call>NAME
//     <longcat_arg_key>K1</longcat_arg_key>
//     <longcat_arg_value>V1</longcat_arg_value>
//     ...
//     </longcat_tool_call>
//   reasoning (Thinking): <longcat_think>..</longcat_think> (the tag-format generation prompt
//   already opens it: "<longcat_assistant><longcat_think>\n"); every reply ends with </longcat_s>.
// Sources: the Thinking-2601 model card and its examples/search_tool_trajectory.txt (a rendered
// conversation with the tool declaration, key/value calls and tool responses), the Flash-Chat
// model card; see docs/longcat-flash.md.
//
// Key/value arguments are typed from the tool's JSON schema (ChatParseOptions::tools): a
// property whose "type" is (or includes) "string", or that has no schema, keeps its text
// verbatim; any other type (number, integer, boolean, object, array, null) is read as JSON
// (Python's True/False/None too) and stays a string if it does not parse. A body in neither
// form is malformed and stays content. Both forms stream: JSON bodies their arguments as they are
// generated (TaggedFormat::Stream::kObject), key/value bodies one `"key":value` piece per
// completed pair (KeyValueStream).
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "serve/chat/parsers.h"
#include "serve/chat/tagged_parser.h"

namespace moecat::chat {

namespace {

using ojson = nlohmann::ordered_json;

constexpr std::string_view kKeyOpen = "<longcat_arg_key>", kKeyClose = "</longcat_arg_key>";
constexpr std::string_view kValOpen = "<longcat_arg_value>", kValClose = "</longcat_arg_value>";

// The schema of `key` in tool `name`'s parameters (nullptr when unknown).
const ojson* property_schema(const ojson& tools, const std::string& name, const std::string& key) {
  if (!tools.is_array()) return nullptr;
  for (const ojson& t : tools) {
    if (!t.is_object()) continue;
    const ojson& fn = t.contains("function") && t["function"].is_object() ? t["function"] : t;
    auto n = fn.find("name");
    if (n == fn.end() || !n->is_string() || n->get<std::string>() != name) continue;
    auto params = fn.find("parameters");
    if (params == fn.end() || !params->is_object()) return nullptr;
    auto props = params->find("properties");
    if (props == params->end() || !props->is_object()) return nullptr;
    auto p = props->find(key);
    return p != props->end() && p->is_object() ? &*p : nullptr;
  }
  return nullptr;
}

ojson typed_value(std::string_view text, const ojson* schema) {
  if (!schema || !longcat_value_is_json(*schema)) return ojson(std::string(text));
  std::string_view v = trim(text);
  if (v == "True") return ojson(true);
  if (v == "False") return ojson(false);
  if (v == "None") return ojson(nullptr);
  if (parse_json_bounded(v)) {  // depth-checked; parsed again to keep the model's key order
    ojson j = ojson::parse(v.begin(), v.end(), nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) return j;
  }
  return ojson(std::string(text));
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 256) return false;
  for (char c : n)
    if (is_space(c) || c == '<' || c == '>' || c == '{' || c == '}' || c == '"' || c == '[' || c == ']')
      return false;
  return true;
}

// The name of a key/value call: the text before its first '<' (kMore while none has come).
enum class Scan { kPair, kMore, kEnd, kBad };

Scan call_name(std::string_view body, bool whole, std::string& name, size_t& i) {
  size_t lt = body.find('<');
  if (lt == std::string_view::npos && !whole) return Scan::kMore;
  name = std::string(trim(body.substr(0, lt)));
  if (!valid_name(name)) return Scan::kBad;
  i = lt == std::string_view::npos ? body.size() : lt;
  return Scan::kPair;
}

// The next key/value pair at i (whitespace before it skipped): kPair (key, value set, i moved
// past it), kEnd (only whitespace is left; whole: the body is complete), kMore (the pair is not
// complete yet), kBad (not the syntax). One function for the whole-body parse and the stream,
// so both read a body the same way.
Scan next_pair(std::string_view body, bool whole, size_t& i, std::string& key, std::string_view& value) {
  size_t j = i;
  while (j < body.size() && is_space(body[j])) ++j;
  if (j == body.size()) return whole ? Scan::kEnd : Scan::kMore;
  const std::string_view rest = body.substr(j);
  if (rest.size() < kKeyOpen.size()) return kKeyOpen.substr(0, rest.size()) == rest && !whole ? Scan::kMore : Scan::kBad;
  if (rest.substr(0, kKeyOpen.size()) != kKeyOpen) return Scan::kBad;
  j += kKeyOpen.size();
  size_t ke = body.find(kKeyClose, j);
  if (ke == std::string_view::npos) return whole ? Scan::kBad : Scan::kMore;
  key = std::string(trim(body.substr(j, ke - j)));
  if (key.empty() || key.find('<') != std::string::npos) return Scan::kBad;
  j = ke + kKeyClose.size();
  while (j < body.size() && is_space(body[j])) ++j;
  const std::string_view vrest = body.substr(j);
  if (vrest.size() < kValOpen.size())
    return kValOpen.substr(0, vrest.size()) == vrest && !whole ? Scan::kMore : Scan::kBad;
  if (vrest.substr(0, kValOpen.size()) != kValOpen) return Scan::kBad;
  j += kValOpen.size();
  size_t ve = body.find(kValClose, j);
  const std::string_view v = body.substr(j, ve == std::string_view::npos ? std::string_view::npos : ve - j);
  if (v.find(kKeyOpen) != std::string_view::npos || v.find(kValOpen) != std::string_view::npos) return Scan::kBad;
  if (ve == std::string_view::npos) return whole ? Scan::kBad : Scan::kMore;
  value = v;
  i = ve + kValClose.size();
  return Scan::kPair;
}

// NAME then zero or more key/value pairs, separated by whitespace only.
std::optional<ParsedCall> parse_key_value_call(std::string_view body, const ojson& tools) {
  std::string name, key;
  std::string_view value;
  size_t i = 0;
  if (call_name(body, true, name, i) != Scan::kPair) return std::nullopt;
  ojson args = ojson::object();
  for (;;) {
    Scan r = next_pair(body, true, i, key, value);
    if (r == Scan::kEnd) break;
    if (r != Scan::kPair) return std::nullopt;
    args[key] = typed_value(value, property_schema(tools, name, key));
  }
  ParsedCall c;
  c.name = std::move(name);
  c.arguments = args.dump(-1, ' ', false, ojson::error_handler_t::replace);
  return c;
}

// A key/value call as it is generated: committed (id + name) when its first pair is complete,
// then each pair's `"key":value` piece as the pair closes (values typed as in the whole parse;
// a value's type can only be decided once it is complete), the closing brace when the call
// closes. A body that stops following the syntax after the commit (or repeats a key) ends its
// arguments there: the call stays a call, as a JSON call cut short does.
class KeyValueStream : public BodyStream {
 public:
  explicit KeyValueStream(std::shared_ptr<const ojson> tools) : tools_(std::move(tools)) {}
  void feed(std::string_view body, int index, std::vector<ToolCallDelta>& out) override {
    if (dead_) return;
    if (name_.empty()) {
      Scan r = call_name(body, false, name_, pos_);
      if (r == Scan::kMore) return;
      if (r == Scan::kBad) {
        dead_ = true;
        return;
      }
    }
    std::string key;
    std::string_view value;
    for (;;) {
      Scan r = next_pair(body, false, pos_, key, value);
      if (r == Scan::kMore || r == Scan::kEnd) return;
      if (r == Scan::kBad || !keys_.insert(key).second) {  // a repeated key ends them too
        dead_ = true;
        return;
      }
      ojson piece = ojson::object();
      piece[key] = typed_value(value, property_schema(*tools_, name_, key));
      std::string text = piece.dump(-1, ' ', false, ojson::error_handler_t::replace);  // {"key":value}
      text.pop_back();
      if (committed_) text[0] = ',';
      if (!committed_) {
        committed_ = true;
        out.push_back(ToolCallDelta{index, make_call_id(), name_, ""});
      }
      if (out.empty() || out.back().index != index) out.push_back(ToolCallDelta{index, "", "", ""});
      out.back().arguments += text;
    }
  }
  bool committed() const override { return committed_; }
  void close(int index, std::vector<ToolCallDelta>& out) override {
    if (out.empty() || out.back().index != index) out.push_back(ToolCallDelta{index, "", "", ""});
    out.back().arguments += "}";
  }

 private:
  std::shared_ptr<const ojson> tools_;
  std::set<std::string> keys_;  // so the arguments stay a JSON object with unique keys
  std::string name_;
  size_t pos_ = 0;
  bool committed_ = false, dead_ = false;
};

}  // namespace

std::optional<ParsedCall> parse_longcat_call(std::string_view body, const nlohmann::ordered_json& tools) {
  std::string_view t = trim(body);
  if (!t.empty() && t.front() == '{') return parse_name_args_object(t);
  return parse_key_value_call(body, tools);
}

std::unique_ptr<ChatOutputParser> make_longcat_parser(const ChatParseOptions& opt) {
  TaggedFormat f;
  f.think_open = "<longcat_think>";
  f.think_close = "</longcat_think>";
  f.call_open = "<longcat_tool_call>";
  f.call_close = "</longcat_tool_call>";
  auto tools = std::make_shared<const ojson>(opt.tools);
  f.parse_calls = one_call([tools](std::string_view body) { return parse_longcat_call(body, *tools); });
  f.stream = TaggedFormat::Stream::kObject;
  f.other_stream = [tools]() -> std::unique_ptr<BodyStream> { return std::make_unique<KeyValueStream>(tools); };
  f.drop = {"</longcat_s>"};
  return std::make_unique<TaggedParser>(std::move(f), opt);
}

}  // namespace moecat::chat
