// The Anthropic Messages API wire format: request translation into the chat request (system,
// content blocks, tools / tool_use / tool_result round trips, tool_choice, stop_sequences,
// max_tokens, thinking, metadata), validation errors naming the Messages field, hostile bodies,
// the error shape, stop reasons, and the content blocks / SSE events MessageBuilder makes from
// chat deltas.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "serve/api/messages.h"
#include "serve/api/responses.h"  // sse_event

namespace moecat::api {
namespace {

using ojson = nlohmann::ordered_json;

RequestLimits Limits() {
  RequestLimits lim;
  lim.n_vocab = 32000;
  lim.n_ctx = 4096;
  return lim;
}

MessagesRequest Ok(const std::string& body, bool count_only = false) {
  auto r = parse_messages_request(body, Limits(), count_only);
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << "unexpected error for " << body.substr(0, 300) << ": " << e->message;
    return MessagesRequest{};
  }
  return std::get<MessagesRequest>(std::move(r));
}

ApiError Err(const std::string& body) {
  auto r = parse_messages_request(body, Limits());
  if (!std::holds_alternative<ApiError>(r)) {
    ADD_FAILURE() << "expected an error for " << body.substr(0, 300);
    return ApiError{};
  }
  return std::get<ApiError>(r);
}

TEST(MessagesRequest, StringContentAndSystem) {
  MessagesRequest r = Ok(R"({"model":"m","max_tokens":32,"system":"Be brief.","messages":[{"role":"user","content":"Hi there"}],
                             "temperature":0.5,"top_p":0.9,"top_k":40,"stop_sequences":["END","\n\n"],"metadata":{"user_id":"u1"}})");
  EXPECT_EQ(r.chat.messages, ojson::parse(R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi there"}])"));
  EXPECT_EQ(r.chat.max_tokens, 32);
  EXPECT_EQ(r.max_tokens, 32);
  EXPECT_FLOAT_EQ(r.chat.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.chat.top_p, 0.9f);
  EXPECT_EQ(r.chat.top_k, 40);
  EXPECT_EQ(r.chat.stop, (std::vector<std::string>{"END", "\n\n"}));
  EXPECT_EQ(r.stop_sequences, (std::vector<std::string>{"END", "\n\n"}));
  EXPECT_EQ(r.chat.user, "u1");
  EXPECT_FALSE(r.chat.stream);
  EXPECT_TRUE(r.chat.tools.empty());
}

TEST(MessagesRequest, BlocksAndSystemBlocks) {
  MessagesRequest r = Ok(R"({"max_tokens":8,"stream":true,
    "system":[{"type":"text","text":"Rules. "},{"type":"text","text":"More rules.","cache_control":{"type":"ephemeral"}}],
    "messages":[
      {"role":"user","content":[{"type":"text","text":"Hello "},{"type":"text","text":"world"}]},
      {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"x"},{"type":"redacted_thinking","data":"zz"},
                                     {"type":"text","text":"Hi!"}]},
      {"role":"user","content":"Again"}]})");
  EXPECT_EQ(r.chat.messages, ojson::parse(R"([{"role":"system","content":"Rules. More rules."},{"role":"user","content":"Hello world"},
    {"role":"assistant","content":"Hi!","reasoning_content":"hmm"},{"role":"user","content":"Again"}])"));
  EXPECT_TRUE(r.chat.stream);
}

TEST(MessagesRequest, ToolsAndRoundTrip) {
  MessagesRequest r = Ok(R"({"max_tokens":100000,"messages":[
    {"role":"user","content":"Weather in Paris and Lyon?"},
    {"role":"assistant","content":[{"type":"text","text":"Checking."},
      {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}},
      {"type":"tool_use","id":"toolu_2","name":"get_weather","input":{"city":"Lyon"}}]},
    {"role":"user","content":[
      {"type":"tool_result","tool_use_id":"toolu_1","content":"18C"},
      {"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"no data"}],"is_error":true},
      {"type":"text","text":"Thanks"}]}],
    "tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},
             {"type":"custom","name":"open_ticket","input_schema":{"type":"object"}}],
    "tool_choice":{"type":"tool","name":"get_weather","disable_parallel_tool_use":true}})");
  const ojson want = ojson::parse(R"([
    {"role":"user","content":"Weather in Paris and Lyon?"},
    {"role":"assistant","content":"Checking.","tool_calls":[
      {"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
      {"id":"toolu_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Lyon\"}"}}]},
    {"role":"tool","tool_call_id":"toolu_1","content":"18C"},
    {"role":"tool","tool_call_id":"toolu_2","content":"Error: no data"},
    {"role":"user","content":"Thanks"}])");
  EXPECT_EQ(r.chat.messages, want);
  EXPECT_EQ(r.chat.max_tokens, 4096);  // clamped to the context
  EXPECT_EQ(r.max_tokens, 100000);
  ASSERT_EQ(r.chat.tools.size(), 2u);
  EXPECT_EQ(r.chat.tools[0]["function"]["name"], "get_weather");
  EXPECT_EQ(r.chat.tools[0]["function"]["parameters"]["type"], "object");
  EXPECT_EQ(r.chat.tools[0]["function"]["description"], "Weather");
  EXPECT_EQ(r.chat.tool_choice, ToolChoiceMode::kNamed);
  EXPECT_EQ(r.chat.tool_choice_name, "get_weather");
  const std::string tools = R"("tools":[{"name":"f","input_schema":{"type":"object"}}])";
  auto choice = [&](const std::string& tc) {
    return Ok(R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],)" + tools + R"(,"tool_choice":)" + tc + "}").chat.tool_choice;
  };
  EXPECT_EQ(choice(R"({"type":"any"})"), ToolChoiceMode::kRequired);
  EXPECT_EQ(choice(R"({"type":"auto"})"), ToolChoiceMode::kAuto);
  EXPECT_EQ(choice(R"({"type":"none"})"), ToolChoiceMode::kNone);
  // An assistant turn of calls alone has null content; an empty tool_result content is "".
  MessagesRequest c = Ok(R"({"max_tokens":5,"messages":[{"role":"user","content":"x"},
    {"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"t"}]}]})");
  EXPECT_TRUE(c.chat.messages[1]["content"].is_null());
  EXPECT_EQ(c.chat.messages[2], ojson::parse(R"({"role":"tool","tool_call_id":"t","content":""})"));
  EXPECT_EQ(c.chat.messages.size(), 3u);  // no empty user message after the results
}

TEST(MessagesRequest, ThinkingAndCountTokens) {
  const std::string m = R"("messages":[{"role":"user","content":"x"}])";
  EXPECT_EQ(Ok(R"({"max_tokens":5,"thinking":{"type":"enabled","budget_tokens":1024},)" + m + "}").chat.chat_template_kwargs,
            ojson::parse(R"({"enable_thinking":true})"));
  EXPECT_EQ(Ok(R"({"max_tokens":5,"thinking":{"type":"disabled"},)" + m + "}").chat.chat_template_kwargs,
            ojson::parse(R"({"enable_thinking":false})"));
  // count_tokens bodies carry no max_tokens.
  EXPECT_EQ(Ok("{" + m + "}", true).chat.messages.size(), 1u);
  EXPECT_EQ(Err("{" + m + "}").param, "max_tokens");
}

TEST(MessagesRequest, ErrorsNameTheField) {
  struct Case { const char* body; const char* param; const char* needle; };
  const Case cases[] = {
      {R"({"messages":[{"role":"user","content":"x"}]})", "max_tokens", "max_tokens: field required"},
      {R"({"max_tokens":0,"messages":[{"role":"user","content":"x"}]})", "max_tokens", "integer >= 1"},
      {R"({"max_tokens":"5","messages":[{"role":"user","content":"x"}]})", "max_tokens", "integer"},
      {R"({"max_tokens":5})", "messages", "messages: field required"},
      {R"({"max_tokens":5,"messages":{}})", "messages", "must be an array"},
      {R"({"max_tokens":5,"messages":[]})", "messages", "at least one"},
      {R"({"max_tokens":5,"messages":[7]})", "messages", "messages.0: must be an object"},
      {R"({"max_tokens":5,"messages":[{"role":"system","content":"x"}]})", "messages", "messages.0.role: unknown role 'system'"},
      {R"({"max_tokens":5,"messages":[{"role":"user"}]})", "messages", "messages.0.content: field required"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":5}]})", "messages", "messages.0.content: must be a string"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{}}]}]})", "messages", "messages.0.content.0.type: content block type 'image' is not supported"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"weird"}]}]})", "messages", "unknown content block type 'weird'"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"text":"x"}]}]})", "messages", "messages.0.content.0.type: must be a string"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"text"}]}]})", "messages", "messages.0.content.0.text: must be a string"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]})", "messages", "tool_use_id"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","is_error":"yes"}]}]})", "messages", "is_error: must be a boolean"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image"}]}]}]})", "messages", "content.0.content.0.type"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]})", "messages", "belong in assistant messages"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":"{}"}]},{"role":"user","content":"y"}]})", "messages", "messages.1.content.0.input: must be an object"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]},{"role":"user","content":"y"}]})", "messages", "messages.1.content.0.id"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t"}]},{"role":"user","content":"y"}]})", "messages", "belong in user messages"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"Sure,"}]})", "messages", "prefill"},
      {R"({"max_tokens":5,"system":5,"messages":[{"role":"user","content":"x"}]})", "system", "system: must be a string"},
      {R"({"max_tokens":5,"system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]})", "system", "system.0.type"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":{}})", "tools", "tools: must be an array"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f"}]})", "tools", "tools.0.input_schema: field required"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"input_schema":{}}]})", "tools", "tools.0.name"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":3}]})", "tools", "input_schema: must be an object"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]})", "tools", "not supported"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"bad name!","input_schema":{}}]})", "tools", "tools.0.name 'bad name!' must match"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{}},{"name":"f","input_schema":{}}]})", "tools", "duplicate"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":"auto"})", "tool_choice", "must be an object"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"sometimes"}})", "tool_choice", "tool_choice.type"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"any"}})", "tool_choice", "needs a non-empty tools"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool"}})", "tool_choice", "tool_choice.name"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"tool","name":"g"}})", "tool_choice", "names tool 'g' which is not in tools"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"stop_sequences":"END"})", "stop_sequences", "array of strings"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"stop_sequences":[5]})", "stop_sequences", "stop_sequences.0"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"stop_sequences":[""]})", "stop_sequences", "stop sequence"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"temperature":1.5})", "temperature", "temperature"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"top_p":0})", "top_p", "top_p"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"top_k":-1})", "top_k", "top_k"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream", "boolean"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"metadata":[1]})", "metadata", "object"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"metadata":{"user_id":5}})", "metadata", "user_id"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"metadata":{"other":"x"}})", "metadata", "only user_id"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"maybe"}})", "thinking", "thinking.type"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"mcp_servers":[{"url":"x"}]})", "mcp_servers", "not supported"},
      {R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"model":5})", "model", "model"},
  };
  for (const Case& c : cases) {
    ApiError e = Err(c.body);
    EXPECT_EQ(e.http_status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << " -> " << e.message;
    EXPECT_NE(e.message.find(c.needle), std::string::npos) << c.body << " -> " << e.message;
  }
}

TEST(MessagesRequest, HostileBodies) {
  EXPECT_EQ(Err("").http_status, 400);
  EXPECT_EQ(Err("not json").http_status, 400);
  EXPECT_EQ(Err("[1,2]").http_status, 400);
  EXPECT_EQ(Err(R"({"max_tokens":5,"messages":[{"role":"user","content":"x"})").http_status, 400);  // truncated
  EXPECT_EQ(Err(std::string(100000, '[')).http_status, 400);
  std::string deep = R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"metadata":)";
  for (int i = 0; i < 500; ++i) deep += "{\"a\":";
  EXPECT_EQ(Err(deep).http_status, 400);
  std::string deep_blocks = R"({"max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":)";
  for (int i = 0; i < 300; ++i) deep_blocks += "[";
  EXPECT_EQ(Err(deep_blocks).http_status, 400);
  // Invalid UTF-8 is rejected as invalid JSON; the error is still serialisable.
  ApiError e = Err("{\"max_tokens\":5,\"messages\":[{\"role\":\"\xff\xfe\",\"content\":\"x\"}]}");
  EXPECT_EQ(e.http_status, 400);
  EXPECT_NO_THROW((void)messages_error_json(e.http_status, e.message));
  // Random mutations of a valid body: never a crash, always a request or a 4xx.
  const std::string base = R"({"model":"m","max_tokens":16,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":""},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"ok"}],"is_error":false}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"auto"},"stop_sequences":["x"],"metadata":{"user_id":"u"},"stream":true})";
  ASSERT_TRUE(std::holds_alternative<MessagesRequest>(parse_messages_request(base, Limits())));
  std::mt19937 rng(13);
  const char alphabet[] = "{}[]\":,0a-\\ \xff";
  for (int i = 0; i < 4000; ++i) {
    std::string s = base;
    for (int k = 0; k < 3; ++k) {
      const size_t p = rng() % s.size();
      switch (rng() % 3) {
        case 0: s.erase(p, 1 + rng() % 4); break;
        case 1: s.insert(p, 1, alphabet[rng() % (sizeof alphabet - 1)]); break;
        default: s[p] = alphabet[rng() % (sizeof alphabet - 1)];
      }
    }
    auto r = parse_messages_request(s, Limits());
    if (auto* err = std::get_if<ApiError>(&r)) {
      EXPECT_GE(err->http_status, 400);
      EXPECT_NO_THROW((void)messages_error_json(err->http_status, err->message));
    }
  }
}

TEST(MessagesErrors, AnthropicShape) {
  EXPECT_EQ(ojson::parse(messages_error_json(400, "messages: field required")),
            ojson::parse(R"({"type":"error","error":{"type":"invalid_request_error","message":"messages: field required"}})"));
  EXPECT_EQ(ojson::parse(messages_error_json(401, "k"))["error"]["type"], "authentication_error");
  EXPECT_EQ(ojson::parse(messages_error_json(404, "k"))["error"]["type"], "not_found_error");
  EXPECT_EQ(ojson::parse(messages_error_json(413, "k"))["error"]["type"], "request_too_large");
  EXPECT_EQ(ojson::parse(messages_error_json(429, "k"))["error"]["type"], "rate_limit_error");
  EXPECT_EQ(ojson::parse(messages_error_json(500, "k"))["error"]["type"], "api_error");
  EXPECT_EQ(ojson::parse(messages_error_json(503, "k"))["error"]["type"], "overloaded_error");
  const std::string from = messages_error_from_openai(400, error_json(ApiError{400, "the prompt has 9 tokens", "invalid_request_error", "messages", ""}));
  EXPECT_EQ(ojson::parse(from)["error"]["message"], "the prompt has 9 tokens");
  EXPECT_EQ(ojson::parse(messages_error_from_openai(500, "garbage"))["error"]["message"], "request failed");
  EXPECT_TRUE(is_messages_path("/v1/messages"));
  EXPECT_TRUE(is_messages_path("/v1/messages/count_tokens"));
  EXPECT_TRUE(is_messages_path("/messages"));
  EXPECT_FALSE(is_messages_path("/v1/chat/completions"));
}

TEST(MessagesStopReason, Mapping) {
  MessagesRequest r = Ok(R"({"max_tokens":5,"messages":[{"role":"user","content":"x"}],"stop_sequences":["END"]})");
  EXPECT_EQ(messages_stop_reason(r, "tool_calls", ""), "tool_use");
  EXPECT_EQ(messages_stop_reason(r, "stop", "END"), "stop_sequence");
  EXPECT_EQ(messages_stop_reason(r, "stop", "<|im_end|>"), "end_turn");  // the template's end string
  EXPECT_EQ(messages_stop_reason(r, "stop", ""), "end_turn");
  EXPECT_EQ(messages_stop_reason(r, "length", ""), "max_tokens");
}

TEST(MessageBuilder, StreamedEventsAndFinalMessage) {
  MessageBuilder b("msg_1", "model-x");
  std::vector<ojson> ev = b.start(12);
  auto push = [&](const StreamDelta& d) {
    for (auto& e : b.add(d)) ev.push_back(std::move(e));
  };
  StreamDelta d1;
  d1.reasoning = "think";
  push(d1);
  StreamDelta d2;
  d2.content = "\n\n";  // whitespace alone opens no text block yet
  push(d2);
  StreamDelta d3;
  d3.content = "Hello";
  push(d3);
  StreamDelta d4;
  d4.content = " world";
  d4.tool_calls.push_back({0, "call_abc", "lookup", "{\"a\":"});
  push(d4);
  StreamDelta d5;
  d5.tool_calls.push_back({0, "", "", "1}"});
  push(d5);
  for (auto& e : b.finish("tool_use", "", Usage{12, 9, 4})) ev.push_back(std::move(e));

  std::vector<std::string> types;
  for (const ojson& e : ev) types.push_back(e["type"]);
  const std::vector<std::string> want = {
      "message_start",
      "content_block_start", "content_block_delta", "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
      "message_delta", "message_stop"};
  EXPECT_EQ(types, want);
  EXPECT_EQ(ev[0]["message"], ojson::parse(R"({"id":"msg_1","type":"message","role":"assistant","model":"model-x","content":[],
    "stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}})"));
  EXPECT_EQ(ev[1], ojson::parse(R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}})"));
  EXPECT_EQ(ev[2], ojson::parse(R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think"}})"));
  EXPECT_EQ(ev[5], ojson::parse(R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"\n\nHello"}})"));
  EXPECT_EQ(ev[8], ojson::parse(R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_abc","name":"lookup","input":{}}})"));
  EXPECT_EQ(ev[9]["delta"], ojson::parse(R"({"type":"input_json_delta","partial_json":"{\"a\":"})"));
  EXPECT_EQ(ev[10]["delta"]["partial_json"], "1}");
  EXPECT_EQ(ev[12], ojson::parse(R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},
    "usage":{"input_tokens":8,"output_tokens":9,"cache_creation_input_tokens":0,"cache_read_input_tokens":4}})"));

  const ojson& m = b.message();
  EXPECT_EQ(m["content"], ojson::parse(R"([{"type":"thinking","thinking":"think","signature":""},{"type":"text","text":"\n\nHello world"},
    {"type":"tool_use","id":"toolu_abc","name":"lookup","input":{"a":1}}])"));
  EXPECT_EQ(m["stop_reason"], "tool_use");
  EXPECT_EQ(m["usage"], ev[12]["usage"]);
  EXPECT_EQ(sse_event(ev[0]).rfind("event: message_start\ndata: {", 0), 0u);
  EXPECT_EQ(sse_event(MessageBuilder::ping()), "event: ping\ndata: {\"type\":\"ping\"}\n\n");
}

TEST(MessageBuilder, StopSequenceWhitespaceEmptyAndFailed) {
  {
    MessageBuilder b("msg_2", "m");
    b.start(3);
    StreamDelta d;
    d.content = "  ";
    b.add(d);
    auto ev = b.finish("stop_sequence", "END", Usage{3, 5, 0});
    EXPECT_EQ(b.message()["content"], ojson::parse(R"([{"type":"text","text":"  "}])"));  // whitespace alone is still the answer
    EXPECT_EQ(b.message()["stop_reason"], "stop_sequence");
    EXPECT_EQ(b.message()["stop_sequence"], "END");
    EXPECT_EQ(ev[ev.size() - 2]["delta"]["stop_sequence"], "END");
  }
  {
    MessageBuilder b("msg_3", "m");
    b.start(3);
    b.finish("end_turn", "", Usage{3, 1, 0});
    EXPECT_TRUE(b.message()["content"].empty());
  }
  {
    // A call whose arguments were cut short keeps the input {} (the deltas still carry the text).
    MessageBuilder b("msg_4", "m");
    StreamDelta d;
    d.tool_calls.push_back({0, "x1", "f", "{\"a\": \xff"});
    auto ev = b.add(d);
    b.finish("max_tokens", "", Usage{});
    EXPECT_EQ(b.message()["content"][0]["input"], ojson::object());
    EXPECT_EQ(b.message()["content"][0]["id"], "toolu_x1");
    EXPECT_NO_THROW((void)dump_json(b.message()));
  }
  auto ev = MessageBuilder::fail("boom \xff");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]["type"], "error");
  EXPECT_EQ(ev[0]["error"]["type"], "api_error");
  EXPECT_NO_THROW((void)ev[0].dump());
  EXPECT_EQ(sse_event(ev[0]).rfind("event: error\n", 0), 0u);
}

}  // namespace
}  // namespace moecat::api
