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
// form is malformed and stays content. Key/value calls are given out when they close; JSON
// bodies stream their arguments as they are generated (TaggedFormat::Stream::kObject).
#include <optional>
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

// Whether the value's text is read as JSON: the schema names a type and none is "string".
bool typed_as_json(const ojson* schema) {
  if (!schema) return false;
  auto t = schema->find("type");
  if (t == schema->end()) return false;
  if (t->is_string()) return t->get<std::string>() != "string";
  if (t->is_array()) {
    bool any = false;
    for (const ojson& x : *t) {
      if (!x.is_string()) continue;
      if (x.get<std::string>() == "string") return false;
      any = true;
    }
    return any;
  }
  return false;
}

ojson typed_value(std::string_view text, const ojson* schema) {
  if (!typed_as_json(schema)) return ojson(std::string(text));
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

// NAME then zero or more key/value pairs, separated by whitespace only.
std::optional<ParsedCall> parse_key_value_call(std::string_view body, const ojson& tools) {
  size_t lt = body.find('<');
  std::string name(trim(body.substr(0, lt)));
  if (!valid_name(name)) return std::nullopt;
  ojson args = ojson::object();
  size_t i = lt == std::string_view::npos ? body.size() : lt;
  while (true) {
    while (i < body.size() && is_space(body[i])) ++i;
    if (i == body.size()) break;
    if (body.compare(i, kKeyOpen.size(), kKeyOpen) != 0) return std::nullopt;
    i += kKeyOpen.size();
    size_t ke = body.find(kKeyClose, i);
    if (ke == std::string_view::npos) return std::nullopt;
    std::string key(trim(body.substr(i, ke - i)));
    if (key.empty() || key.find('<') != std::string::npos) return std::nullopt;
    i = ke + kKeyClose.size();
    while (i < body.size() && is_space(body[i])) ++i;
    if (body.compare(i, kValOpen.size(), kValOpen) != 0) return std::nullopt;
    i += kValOpen.size();
    size_t ve = body.find(kValClose, i);
    if (ve == std::string_view::npos) return std::nullopt;
    std::string_view value = body.substr(i, ve - i);
    if (value.find(kKeyOpen) != std::string_view::npos || value.find(kValOpen) != std::string_view::npos)
      return std::nullopt;
    args[key] = typed_value(value, property_schema(tools, name, key));
    i = ve + kValClose.size();
  }
  ParsedCall c;
  c.name = std::move(name);
  c.arguments = args.dump(-1, ' ', false, ojson::error_handler_t::replace);
  return c;
}

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
  f.parse_calls = one_call([tools = opt.tools](std::string_view body) { return parse_longcat_call(body, tools); });
  f.stream = TaggedFormat::Stream::kObject;
  f.drop = {"</longcat_s>"};
  return std::make_unique<TaggedParser>(std::move(f), opt);
}

}  // namespace moecat::chat
