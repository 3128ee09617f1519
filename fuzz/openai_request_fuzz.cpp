// libFuzzer target for the OpenAI wire format: the input is a request body, parsed as both a
// chat-completions and a completions request. Errors must serialise to valid error JSON; a
// request that parses is turned into every response kind, with the input bytes themselves
// (arbitrary, usually invalid UTF-8) as content / token text / tool arguments, and each
// response must dump with the default (throwing) UTF-8 handler and parse back.
// Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc src/base/*.cpp \
//          src/serve/api/*.cpp fuzz/openai_request_fuzz.cpp -o /tmp/api/fuzz
// Run:   /tmp/api/fuzz -max_total_time=60 [-dict=...] [corpus dir]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "serve/api/openai.h"

namespace {

using namespace moecat::api;
using ojson = nlohmann::ordered_json;

[[noreturn]] void die(const char* what) {
  fprintf(stderr, "openai_request_fuzz: %s\n", what);
  abort();
}

// Serialise with the strict handler (throws on invalid UTF-8) and parse back: the builders
// promise valid UTF-8 everywhere.
void roundtrip(const ojson& j) {
  std::string s;
  try {
    s = j.dump();
  } catch (const nlohmann::json::exception&) {
    die("response holds invalid UTF-8");
  }
  ojson back = ojson::parse(s, nullptr, false);
  if (back.is_discarded() || back != j) die("response does not round-trip");
  if (dump_json(j) != s) die("dump_json differs from dump");
}

void one(std::string_view body, bool chat) {
  RequestLimits lim;
  lim.n_vocab = 1000;
  lim.max_n = 4;
  std::variant<ChatRequest, ApiError> r = parse_request(body, chat, lim);
  if (auto* e = std::get_if<ApiError>(&r)) {
    if (e->http_status < 400 || e->http_status > 599 || e->message.empty()) die("bad ApiError");
    ojson ej = ojson::parse(error_json(*e), nullptr, false);
    if (ej.is_discarded() || !ej["error"]["message"].is_string()) die("error_json is not valid");
    return;
  }
  const ChatRequest& req = std::get<ChatRequest>(r);
  // Invariants the rest of the server relies on.
  if (req.chat != chat) die("chat flag");
  if (req.max_tokens != -1 && (req.max_tokens < 1 || req.max_tokens > lim.n_ctx)) die("max_tokens range");
  if (req.n < 1 || req.n > lim.max_n) die("n range");
  if (req.top_logprobs < 0 || req.top_logprobs > lim.max_top_logprobs) die("top_logprobs range");
  if (!(req.temperature >= 0 && req.temperature <= 2)) die("temperature range");
  if (!(req.top_p > 0 && req.top_p <= 1)) die("top_p range");
  for (const auto& [id, b] : req.logit_bias)
    if (id < 0 || id >= lim.n_vocab || !(b >= -100 && b <= 100)) die("logit_bias range");
  if (static_cast<int>(req.stop.size()) > lim.max_stop) die("stop count");
  if (chat) {
    if (!req.messages.is_array() || req.messages.empty()) die("messages");
    for (const auto& m : req.messages)
      if (!m["content"].is_string() && !m["content"].is_null()) die("content not normalised");
  }
  if (req.tool_choice == ToolChoiceMode::kNamed && req.tools.empty()) die("named tool without tools");

  // Responses carrying the raw input bytes.
  std::string raw(body.substr(0, 256));
  Choice c;
  c.content = raw;
  c.reasoning = raw;
  c.finish_reason = raw.empty() ? "stop" : raw;
  c.tool_calls.push_back({raw, raw, raw});
  for (size_t i = 0; i < raw.size(); i += 3) {
    std::string tok = raw.substr(i, 3);
    c.logprobs.push_back({tok, -static_cast<float>(i), {{tok, -1.0f}, {raw.substr(i, 1), -2.0f}}});
  }
  Usage u{static_cast<int64_t>(body.size()), 7, 3};
  roundtrip(completion_json(req, raw, 1, {c, Choice{}}, u));
  StreamDelta d;
  d.first = true;
  d.content = raw;
  d.reasoning = raw;
  d.tool_calls.push_back({0, raw, raw, raw});
  d.finish_reason = raw;
  d.logprobs = c.logprobs;
  d.text_offset = 5;
  roundtrip(chunk_json(req, raw, 2, d));
  roundtrip(chunk_json(req, raw, 2, StreamDelta{}));
  roundtrip(usage_chunk_json(req, raw, 3, u));
  roundtrip(models_json(raw, 4));
  roundtrip(ojson{{"messages", req.messages}, {"tools", req.tools}, {"kwargs", req.chat_template_kwargs}});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  one(body, true);
  one(body, false);
  return 0;
}
