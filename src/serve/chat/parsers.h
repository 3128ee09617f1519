// Per-family parser factories behind make_chat_output_parser (internal).
#pragma once
#include <memory>

#include "serve/chat/chat_format.h"

namespace moecat::chat {

std::unique_ptr<ChatOutputParser> make_generic_parser(const ChatParseOptions& opt);
std::unique_ptr<ChatOutputParser> make_qwen3_parser(const ChatParseOptions& opt);
std::unique_ptr<ChatOutputParser> make_deepseek_parser(const ChatParseOptions& opt);
std::unique_ptr<ChatOutputParser> make_longcat_parser(const ChatParseOptions& opt);
std::unique_ptr<ChatOutputParser> make_llama3_parser(const ChatParseOptions& opt);
std::unique_ptr<ChatOutputParser> make_harmony_parser(const ChatParseOptions& opt);
std::unique_ptr<ChatOutputParser> make_mistral_parser(const ChatParseOptions& opt);

}  // namespace moecat::chat
