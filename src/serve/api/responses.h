// The OpenAI Responses API (POST /v1/responses) on top of the chat-completions core: a request
// is validated in its own shape (errors name Responses fields: input, text.format,
// max_output_tokens, ...) and translated into an api::ChatRequest; the generated deltas are
// turned back into Responses output items and typed SSE events by ResponseBuilder. Pure
// functions, no I/O, so every hostile body and every event sequence can be tested directly.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "serve/api/openai.h"

namespace moecat::api {

struct ResponsesRequest {
  ChatRequest chat;                      // messages = [instructions as system] + input
  nlohmann::ordered_json input_messages;  // chat-shaped messages from `input` alone (no instructions)
  nlohmann::ordered_json instructions;    // string or null (echoed)
  std::string previous_response_id;
  bool store = true;                      // OpenAI's default
  bool parallel_tool_calls = true;
  int64_t max_output_tokens = -1;
  nlohmann::ordered_json tools;           // as sent (Responses shape), echoed
  nlohmann::ordered_json tool_choice;     // as sent ("auto" by default), echoed
  nlohmann::ordered_json text_format;     // as sent ({"type":"text"} by default), echoed
  nlohmann::ordered_json metadata;        // object (echoed)
  nlohmann::ordered_json reasoning;       // {"effort", "summary"} as sent, echoed
};

// Parses and validates a /v1/responses body. Unsupported features (hosted tools, images,
// background, conversation, item_reference) are a 400 naming the field, never ignored silently.
std::variant<ResponsesRequest, ApiError> parse_responses_request(std::string_view body, const RequestLimits& lim);

// The chat messages for generation: instructions, then a stored conversation (previous_response_id),
// then this request's input.
nlohmann::ordered_json responses_chat_messages(const ResponsesRequest& r, const nlohmann::ordered_json& history);

// Builds the response object and its stream of typed events from chat deltas. Used for the
// non-streamed answer too (events ignored), so both carry the same output items.
class ResponseBuilder {
 public:
  using ojson = nlohmann::ordered_json;
  ResponseBuilder(const ResponsesRequest& r, std::string id, int64_t created_at, std::string model);

  std::vector<ojson> start();                    // response.created, response.in_progress
  std::vector<ojson> add(const StreamDelta& d);  // reasoning / output_text / function_call events
  // Closes the open items and ends with response.completed (or response.incomplete when the
  // output-token limit cut it: finish_reason "length").
  std::vector<ojson> finish(const std::string& finish_reason, const Usage& u, int64_t reasoning_tokens);
  // response.failed and an error event (the openai clients raise on the latter).
  std::vector<ojson> fail(const std::string& message);

  const ojson& response() const { return resp_; }
  // The output as chat messages (one assistant message with content, reasoning_content and
  // tool_calls): what previous_response_id continues from.
  ojson output_messages() const;

 private:
  enum class Kind { kNone, kReasoning, kMessage, kCall };
  void close(std::vector<ojson>& ev);
  void open(Kind k, std::vector<ojson>& ev, const StreamDelta::ToolDelta* call = nullptr);
  ojson event(const char* type);
  std::string item_id(const char* prefix);

  ojson resp_;
  std::string id_;
  int64_t seq_ = 0, next_item_ = 0;
  Kind cur_ = Kind::kNone;
  int cur_index_ = -1;               // output index of the open item
  std::vector<int> call_item_;       // chat tool-call index -> output index
  std::string pending_ws_;           // leading whitespace of a message not opened yet
  std::string reasoning_, content_;
  std::vector<ToolCall> calls_;
};

// "event: TYPE\ndata: JSON\n\n"
std::string sse_event(const nlohmann::ordered_json& ev);

}  // namespace moecat::api
