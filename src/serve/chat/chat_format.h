// Chat formats per model family: which family a model's template belongs to, LongCat-Flash's
// built-in prompt format (its checkpoints may ship no template), and the streaming parser that
// turns generated text into OpenAI message parts (content, reasoning_content, tool_calls).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace moecat {

enum class ChatFamily {
  kGeneric,     // plain text out; no tool-call syntax known
  kQwen3,       // <think>...</think>, <tool_call>{"name":..,"arguments":{..}}</tool_call>
  kDeepSeekV3,  // <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{..}\n```<｜tool▁call▁end｜>...
  kLlama3,      // {"name": .., "parameters": {..}} (optionally after <|python_tag|>)
  kGptOss,      // harmony: <|channel|>analysis|commentary|final<|message|>...<|end|>/<|call|>/<|return|>
  kLongCat,     // <longcat_think>..</longcat_think>; calls <longcat_tool_call>{..}</longcat_tool_call> (Flash-Chat)
                // or <longcat_tool_call>NAME<longcat_arg_key>K</longcat_arg_key><longcat_arg_value>V
                // </longcat_arg_value>..</longcat_tool_call> (Flash-Lite, Thinking-2601); replies end
                // with </longcat_s>
  kMistral,     // [THINK]..[/THINK], [TOOL_CALLS][{"name":..,"arguments":..,"id":..}] (v3) or
                // [TOOL_CALLS]NAME[ARGS]{..} (later models); calls run to the end of the reply
};

const char* chat_family_name(ChatFamily f);

// From the GGUF/HF architecture name and the chat template text (either may be empty): the
// template's markers decide (e.g. "<tool_call>", "<｜tool▁calls▁begin｜>", "<|channel|>",
// "<|python_tag|>"/"<|eom_id|>"); with no template, LongCat architectures map to kLongCat.
ChatFamily detect_chat_family(std::string_view arch, std::string_view chat_template);

// LongCat-Flash's prompt format, for models that ship no chat template:
//   [SYSTEM:{system}] [Round 0] USER:{user} ASSISTANT:{reply}</longcat_s>[Round 1] USER:...
// with a "## Tools" block (the tool definitions as JSON) in the system part when tools are
// given, assistant tool calls as <longcat_tool_call>{"name":..,"arguments":..}</longcat_tool_call>
// and tool results as user-side <longcat_tool_response> turns. messages/tools: OpenAI shapes.
std::string render_longcat_chat(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                bool add_generation_prompt);

struct ToolCallDelta {
  int index = 0;               // position of the call in this message (parallel calls: 0, 1, ...)
  std::string id;              // set on a call's first delta ("call_<random-ish>"), else empty
  std::string name;            // set on a call's first delta, else empty
  std::string arguments;       // a piece of the JSON-encoded arguments string
};

struct ChatDelta {
  std::string content;
  std::string reasoning;  // reasoning_content
  std::vector<ToolCallDelta> tool_calls;
  bool empty() const { return content.empty() && reasoning.empty() && tool_calls.empty(); }
};

// Streaming parser over the generated text (special tokens rendered as their text). feed()
// may hold back text that could be the start of a marker; finish() flushes. Never fails:
// malformed output (bad JSON in a call, unterminated tags) degrades to plain content.
class ChatOutputParser {
 public:
  virtual ~ChatOutputParser() = default;
  virtual ChatDelta feed(std::string_view text) = 0;
  virtual ChatDelta finish() = 0;
};

struct ChatParseOptions {
  bool parse_tools = true;       // false: tool syntax is left as content (request had no tools)
  bool parse_reasoning = true;   // false: reasoning markers are left as content
  // The prompt already ended inside a reasoning block (e.g. Qwen3/DeepSeek templates that
  // open "<think>\n" in the generation prompt): generated text starts as reasoning.
  bool starts_in_reasoning = false;
  // The request's tools (OpenAI shape; null/empty when none): families whose calls write
  // arguments as text (LongCat's <longcat_arg_value>) type each value from the tool's JSON
  // schema - a "string" property stays a string, other types are read as JSON.
  nlohmann::ordered_json tools;
};

std::unique_ptr<ChatOutputParser> make_chat_output_parser(ChatFamily f, const ChatParseOptions& opt);

// A fresh OpenAI-style tool call id ("call_" + 24 alphanumerics; 9 alphanumerics for Mistral,
// whose templates check the length), as the parsers give calls; for calls the server builds
// itself (forced tool calls).
std::string new_tool_call_id(ChatFamily f = ChatFamily::kGeneric);

}  // namespace moecat
