// ChatPrompt: turns an OpenAI chat request into the model's prompt text with the model's own
// chat template (Jinja), LongCat's built-in format when a LongCat model ships none, or ChatML
// as the last resort; and says how to steer a forced tool call in the model's own syntax.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "serve/api/openai.h"
#include "serve/chat/chat_format.h"
#include "serve/jinja/jinja.h"
#include "tokenizer/tokenizer.h"

namespace moecat {

// A forced tool call (tool_choice "required" or a named function): text appended to the
// prompt, the JSON the constraint enforces, and what closes the call.
struct ForcedCall {
  std::string prefix, suffix;
  // lazy_call only: the call-open tag (prefix: what follows it, before each choice's text).
  std::string trigger;
  bool anchored = false;     // lazy_call: the reply is a call when it starts with `trigger` (Llama 3)
  bool single_call = false;  // lazy_call: the request allows one call only (parallel_tool_calls false)
  // The literal text around the constrained JSON, matched with it byte by byte
  // (json_constraint.h): forced calls in the JSON-body families, lazy calls.
  std::string json_lead, json_tail;
  bool named = false;        // true: the JSON is the arguments object of `name`
  std::string name;          // named only
  nlohmann::json schema;     // what the generated JSON must match
  std::string args_key = "arguments";  // required: {"name": .., args_key: {..}}
  // required, in families that write the name outside the JSON (DeepSeek, gpt-oss): the
  // generation starts with one of these texts (the name in the family's call syntax), chosen
  // token by token, then the arguments object matching that tool's schema.
  struct Choice {
    std::string name, text;
    nlohmann::json schema;
  };
  std::vector<Choice> choices;
  // LongCat's tag format: the arguments are <longcat_arg_key>/<longcat_arg_value> pairs, not
  // JSON (make_key_value_call_constraint over `schema` when named, over each choice's otherwise).
  bool key_value = false;
};

class ChatPrompt {
 public:
  // template_text: the model's chat_template ("" when it has none); arch: ModelConfig::arch.
  static Result<std::unique_ptr<ChatPrompt>> Create(const std::string& template_text, const std::string& arch,
                                                    const Tokenizer& tok);
  ChatFamily family() const { return family_; }
  const char* source() const;  // "jinja", "longcat-builtin" or "chatml-fallback"

  // The prompt text for a chat request (generation prompt included). Tools are offered unless
  // tool_choice is "none".
  Result<std::string> render(const api::ChatRequest& r) const;

  // Texts that end a reply in this family even when the tokenizer does not treat them as an
  // end-of-generation token (used as implicit stop strings for chat requests).
  std::vector<std::string> end_strings() const;

  // How to force the call the request asks for (tool_choice required / named).
  ForcedCall forced_call(const api::ChatRequest& r) const;

  // tool_choice "auto": how to keep the calls the model chooses to write valid (the family's
  // call-open tag as `trigger`, the text after it in `prefix`, one choice per tool, the close in
  // `suffix`); trigger "" for generic models (no call syntax known). gpt-oss: the recipient
  // "to=functions." in a header; Llama 3 (anchored): a reply that starts with "{" is the call.
  ForcedCall lazy_call(const api::ChatRequest& r) const;

 private:
  ChatFamily family_ = ChatFamily::kGeneric;
  bool mistral_args_ = false;  // Mistral template writes NAME[ARGS]{..} (else the v3 JSON list)
  bool longcat_kv_ = false;    // LongCat template writes calls as NAME + arg key/value pairs
  std::optional<jinja::Template> tmpl_;
  std::string bos_, eos_;
  std::string arch_;
};

// The token ids of a rendered chat prompt: special tokens parsed, BOS prepended when the model
// asks for it and the template did not write it already.
std::vector<int32_t> encode_chat_prompt(const Tokenizer& tok, const std::string& text);

// The template opened a reasoning block in the generation prompt (Qwen3, DeepSeek-R1 style
// "<think>", LongCat-Flash-Thinking "<longcat_think>"): the generated text starts as reasoning.
bool prompt_opens_reasoning(std::string_view text);

}  // namespace moecat
