// The OpenAI wire format: request bodies parsed and validated into plain structs, and the
// response / streaming-chunk / error JSON built from results. Pure functions (no I/O, no model)
// so every hostile body can be tested directly; the HTTP layer (serve/server.cpp) only glues.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace moecat::api {

// Bounds a client cannot exceed (the server fills in model-dependent ones).
struct RequestLimits {
  int32_t n_vocab = 0;             // logit_bias ids must be < n_vocab
  int64_t n_ctx = 4096;            // max_tokens is clamped/checked against this
  int max_n = 1;                   // choices per request ("n")
  int max_stop = 16;               // stop strings
  int max_stop_bytes = 512;        // each
  int max_top_logprobs = 20;
  int max_tools = 128;
  int max_messages = 4096;
  int max_logit_bias = 1024;
  int max_json_depth = 128;        // deeper bodies are rejected before parsing (no stack overflow)
};

enum class ToolChoiceMode { kAuto, kNone, kRequired, kNamed };
enum class ResponseFormat { kText, kJsonObject, kJsonSchema };

struct ChatRequest {
  std::string model;
  bool chat = true;                 // false: /v1/completions
  nlohmann::ordered_json messages;  // chat: validated array of {role, content, tool_calls, ...}
  std::string prompt;               // completions: the prompt text
  nlohmann::ordered_json tools;     // array (possibly empty) of {type:"function", function:{name, description, parameters}}
  ToolChoiceMode tool_choice = ToolChoiceMode::kAuto;
  std::string tool_choice_name;     // kNamed
  bool parallel_tool_calls = true;  // false: at most one tool call per reply (the tool grammar ends it)
  ResponseFormat response_format = ResponseFormat::kText;
  nlohmann::json json_schema;       // kJsonSchema: the "schema" member (null for kJsonObject)
  std::string json_schema_name;
  int64_t max_tokens = -1;          // -1: until the context is full / EOG
  int64_t min_tokens = 0;           // vLLM's: no end-of-generation token before this many
  bool ignore_eos = false;          // vLLM's and llama-server's: end-of-generation tokens never sampled
  float temperature = 1.0f;         // OpenAI default 1
  float top_p = 1.0f;
  int top_k = 0;                    // 0: off (set by the Messages API; chat bodies do not carry it)
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool logprobs = false;
  int top_logprobs = 0;
  float presence_penalty = 0.0f;    // [-2, 2]
  float frequency_penalty = 0.0f;   // [-2, 2]
  std::map<int32_t, float> logit_bias;  // [-100, 100]
  int n = 1;
  bool stream = false;
  bool include_usage = false;       // stream_options.include_usage
  std::string user;
  nlohmann::ordered_json chat_template_kwargs;  // extra template variables (object), e.g. enable_thinking
};

// An error for the client: HTTP status + OpenAI error object fields.
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;   // offending field, may be empty
  std::string code;    // may be empty
};

// Parses and validates a /v1/chat/completions (chat=true) or /v1/completions body. Wrong
// types, out-of-range values, unknown roles, malformed tools/messages -> ApiError 400 naming
// the field. Unknown top-level fields are ignored (OpenAI clients send extras).
std::variant<ChatRequest, ApiError> parse_request(std::string_view body, bool chat, const RequestLimits& lim);

// Deepest [ / { nesting of a JSON text, counted on the raw bytes (strings skipped); stops
// counting once over `limit`. Checked before parsing so no deep value is ever built.
int json_nesting_depth(std::string_view body, int limit);

// {"error": {"message", "type", "param", "code"}} (param/code null when empty).
std::string error_json(const ApiError& e);

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};

struct TokenLogprob {
  std::string token;                       // the token's text (bytes)
  float logprob = 0;
  std::vector<std::pair<std::string, float>> top;  // top alternatives
};

struct ToolCall {
  std::string id, name, arguments;  // arguments: JSON text
};

// A finished (non-streamed) choice.
struct Choice {
  std::string content;
  std::string reasoning;
  std::vector<ToolCall> tool_calls;
  std::string finish_reason;  // "stop", "length", "tool_calls"
  std::vector<TokenLogprob> logprobs;  // when requested
};

// chat.completion / text_completion objects.
nlohmann::ordered_json completion_json(const ChatRequest& r, const std::string& id, int64_t created,
                                       const std::vector<Choice>& choices, const Usage& u);

// One streamed chunk (chat.completion.chunk / text_completion). delta_* as produced so far for
// this step; finish_reason empty until the last chunk. Returns the JSON (the caller frames it
// as "data: ...\n\n").
struct StreamDelta {
  int index = 0;       // which choice (n > 1)
  bool first = false;  // chat: include "role":"assistant"
  std::string content, reasoning;
  struct ToolDelta { int index; std::string id, name, arguments; };
  std::vector<ToolDelta> tool_calls;
  std::string finish_reason;
  std::vector<TokenLogprob> logprobs;
  // completions only: byte offset of this delta's text within the completion so far, used for
  // "text_offset" when logprobs were requested.
  int64_t text_offset = 0;
};
nlohmann::ordered_json chunk_json(const ChatRequest& r, const std::string& id, int64_t created,
                                  const StreamDelta& d);
// The final usage-only chunk (stream_options.include_usage): "choices": [] and "usage".
nlohmann::ordered_json usage_chunk_json(const ChatRequest& r, const std::string& id, int64_t created,
                                        const Usage& u);

// GET /v1/models body for one model id.
nlohmann::ordered_json models_json(const std::string& model_id, int64_t created);

struct PropsInfo {
  std::string model_id, chat_format, chat_template, default_system_prompt, default_tools /* JSON text */;
  int64_t n_ctx = 0;
  int parallel = 0;
};
nlohmann::ordered_json props_json(const PropsInfo& p);

// Every string the builders above put into JSON is already valid UTF-8 (sanitize_utf8), so a
// plain dump() does not throw; dump_json additionally uses error_handler_t::replace so even a
// hand-edited object cannot make the HTTP layer throw. Use it for everything sent on the wire.
std::string dump_json(const nlohmann::ordered_json& j);
// Replaces each byte that is not part of a well-formed UTF-8 sequence (overlongs, surrogates,
// > U+10FFFF, truncated sequences) by U+FFFD.
std::string sanitize_utf8(std::string_view s);

}  // namespace moecat::api
