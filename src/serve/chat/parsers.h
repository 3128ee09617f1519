// Per-family parser factories behind make_chat_output_parser (internal).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "serve/chat/chat_format.h"
#include "serve/chat/marker_scan.h"

namespace moecat::chat {

std::unique_ptr<ChatOutputParser> make_generic_parser(const ChatParseOptions& opt);
std::unique_ptr<ChatOutputParser> make_qwen3_parser(const ChatParseOptions& opt);
std::unique_ptr<ChatOutputParser> make_deepseek_parser(const ChatParseOptions& opt);
std::unique_ptr<ChatOutputParser> make_longcat_parser(const ChatParseOptions& opt);
std::unique_ptr<ChatOutputParser> make_llama3_parser(const ChatParseOptions& opt);
std::unique_ptr<ChatOutputParser> make_harmony_parser(const ChatParseOptions& opt);
std::unique_ptr<ChatOutputParser> make_mistral_parser(const ChatParseOptions& opt);

// One LongCat call body (what stands between <longcat_tool_call> and </longcat_tool_call>):
// the JSON form or NAME + <longcat_arg_key>/<longcat_arg_value> pairs typed from `tools`.
std::optional<ParsedCall> parse_longcat_call(std::string_view body, const nlohmann::ordered_json& tools);

// Whether a key/value value is read as JSON: its property schema names a type and none is
// "string" (no type, or a string type: the text is kept verbatim). The parser and the forced-call
// constraint (serve/grammar/key_value_call.cpp) share this rule. J: json or ordered_json.
template <class J>
bool longcat_value_is_json(const J& schema) {
  if (!schema.is_object()) return false;
  auto t = schema.find("type");
  if (t == schema.end()) return false;
  if (t->is_string()) return t->template get<std::string>() != "string";
  if (!t->is_array()) return false;
  bool any = false;
  for (const auto& x : *t) {
    if (!x.is_string()) continue;
    if (x.template get<std::string>() == "string") return false;
    any = true;
  }
  return any;
}

}  // namespace moecat::chat
