// Family names, family detection and the parser factory.
#include "serve/chat/chat_format.h"

#include "serve/chat/marker_scan.h"
#include "serve/chat/parsers.h"

namespace moecat {

const char* chat_family_name(ChatFamily f) {
  switch (f) {
    case ChatFamily::kGeneric: return "generic";
    case ChatFamily::kQwen3: return "qwen3";
    case ChatFamily::kDeepSeekV3: return "deepseek-v3";
    case ChatFamily::kLlama3: return "llama3";
    case ChatFamily::kGptOss: return "gpt-oss";
    case ChatFamily::kLongCat: return "longcat";
    case ChatFamily::kMistral: return "mistral";
  }
  return "generic";
}

ChatFamily detect_chat_family(std::string_view arch, std::string_view tmpl) {
  auto has = [&](std::string_view m) { return tmpl.find(m) != std::string_view::npos; };
  if (!tmpl.empty()) {
    // Most specific first: harmony and DeepSeek templates may also mention <think>.
    if (has("<|channel|>") && has("<|message|>")) return ChatFamily::kGptOss;
    if (has("<｜tool▁calls▁begin｜>") || has("<｜Assistant｜>")) return ChatFamily::kDeepSeekV3;
    if (has("<longcat_tool_call>") || has("</longcat_s>") || has("longcat_")) return ChatFamily::kLongCat;
    if (has("<tool_call>")) return ChatFamily::kQwen3;
    if (has("<|python_tag|>") || has("<|eom_id|>") || has("<|start_header_id|>")) return ChatFamily::kLlama3;
    if (has("<|im_start|>") && has("<think>")) return ChatFamily::kQwen3;
    if (has("[TOOL_CALLS]") || has("[INST]")) return ChatFamily::kMistral;
    // A template with no tool or reasoning markers (e.g. plain ChatML) says nothing about the
    // model's output syntax: the architecture decides, as without a template.
  }
  // No template (or an unmarked one): the architecture alone. "llama" covers Llama 2/3, Mistral and Mixtral GGUFs,
  // whose output syntaxes differ, so it stays generic.
  if (arch == "qwen3" || arch == "qwen3moe") return ChatFamily::kQwen3;
  if (arch == "deepseek2" || arch == "deepseek3" || arch == "deepseek_v3") return ChatFamily::kDeepSeekV3;
  if (arch == "gpt-oss" || arch == "gpt_oss") return ChatFamily::kGptOss;
  if (arch.substr(0, 7) == "longcat") return ChatFamily::kLongCat;
  return ChatFamily::kGeneric;
}

std::string new_tool_call_id(ChatFamily f) {
  return f == ChatFamily::kMistral ? chat::make_mistral_call_id() : chat::make_call_id();
}

std::unique_ptr<ChatOutputParser> make_chat_output_parser(ChatFamily f, const ChatParseOptions& opt) {
  switch (f) {
    case ChatFamily::kQwen3: return chat::make_qwen3_parser(opt);
    case ChatFamily::kDeepSeekV3: return chat::make_deepseek_parser(opt);
    case ChatFamily::kLlama3: return chat::make_llama3_parser(opt);
    case ChatFamily::kGptOss: return chat::make_harmony_parser(opt);
    case ChatFamily::kLongCat: return chat::make_longcat_parser(opt);
    case ChatFamily::kMistral: return chat::make_mistral_parser(opt);
    case ChatFamily::kGeneric: break;
  }
  return chat::make_generic_parser(opt);
}

}  // namespace moecat
