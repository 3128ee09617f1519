// The Anthropic Messages API (POST /v1/messages, /v1/messages/count_tokens) on top of the
// chat-completions core: a request is validated in its own shape (errors name Messages fields:
// messages.1.content.0.tool_use_id, tools.0.input_schema, stop_sequences, ...) and translated
// into an api::ChatRequest; the generated deltas are turned back into content blocks (text,
// thinking, tool_use) and Anthropic's SSE events by MessageBuilder. Errors use Anthropic's
// shape {"type":"error","error":{"type","message"}}. Pure functions, no I/O.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "serve/api/openai.h"

namespace moecat::api {

struct MessagesRequest {
  ChatRequest chat;                         // messages = [system] + translated messages
  std::vector<std::string> stop_sequences;  // as sent (also in chat.stop)
  int64_t max_tokens = 0;                   // as sent (chat.max_tokens is clamped to the context)
};

// Parses and validates a /v1/messages body (count_only: a /v1/messages/count_tokens body, where
// max_tokens is not required). Unsupported features (images, documents, server tools, MCP
// servers, a final assistant message as prefill) are a 400 naming the field.
std::variant<MessagesRequest, ApiError> parse_messages_request(std::string_view body, const RequestLimits& lim,
                                                               bool count_only = false);

// {"type":"error","error":{"type","message"}}; the error type follows the HTTP status
// (400 invalid_request_error, 401 authentication_error, 404 not_found_error, 413
// request_too_large, 429 rate_limit_error, 5xx api_error / overloaded_error).
std::string messages_error_json(int http_status, const std::string& message);
// The same for an error body already written in the OpenAI shape ({"error":{"message"}}).
std::string messages_error_from_openai(int http_status, const std::string& openai_body);
// Whether a path is served by the Messages API (its errors take Anthropic's shape).
bool is_messages_path(const std::string& path);

// stop_reason for a finished generation: "tool_use", "stop_sequence" (matched is one of the
// request's stop_sequences), "max_tokens" or "end_turn".
std::string messages_stop_reason(const MessagesRequest& r, const std::string& chat_finish_reason,
                                 const std::string& matched_stop);

// Builds the message object and its stream of events from chat deltas. Used for the
// non-streamed answer too (events ignored), so both carry the same content blocks.
class MessageBuilder {
 public:
  using ojson = nlohmann::ordered_json;
  MessageBuilder(std::string id, std::string model);

  std::vector<ojson> start(int64_t input_tokens);  // message_start
  std::vector<ojson> add(const StreamDelta& d);    // content_block_start / _delta / _stop
  // Closes the open block; message_delta (stop_reason, stop_sequence, usage) and message_stop.
  std::vector<ojson> finish(const std::string& stop_reason, const std::string& stop_sequence, const Usage& u);
  // An `error` event (the SDKs raise on it).
  static std::vector<ojson> fail(const std::string& message);
  static ojson ping() { return ojson{{"type", "ping"}}; }

  const ojson& message() const { return msg_; }

 private:
  enum class Kind { kNone, kThinking, kText, kToolUse };
  void close(std::vector<ojson>& ev);
  void open(Kind k, std::vector<ojson>& ev, const StreamDelta::ToolDelta* call = nullptr);

  ojson msg_;
  Kind cur_ = Kind::kNone;
  int cur_index_ = -1;
  std::vector<int> call_block_;  // chat tool-call index -> content index
  std::vector<std::string> call_args_;
  std::string pending_ws_;       // leading whitespace of a text block not opened yet
};

}  // namespace moecat::api
