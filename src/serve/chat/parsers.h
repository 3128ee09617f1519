// Per-family parser factories behind make_chat_output_parser (internal).
#pragma once
#include <memory>
#include <optional>
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

}  // namespace moecat::chat
