// The OpenAI Responses API wire format: request translation into the chat request (input
// items, instructions, function tools, tool_choice, function_call / function_call_output
// round trips, text.format, max_output_tokens), validation errors naming the Responses field,
// hostile bodies, and the output items / typed events ResponseBuilder makes from chat deltas.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "serve/api/responses.h"

namespace moecat::api {
namespace {

using ojson = nlohmann::ordered_json;

RequestLimits Limits() {
  RequestLimits lim;
  lim.n_vocab = 32000;
  lim.n_ctx = 4096;
  return lim;
}

ResponsesRequest Ok(const std::string& body) {
  auto r = parse_responses_request(body, Limits());
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << "unexpected error for " << body.substr(0, 300) << ": " << e->message;
    return ResponsesRequest{};
  }
  return std::get<ResponsesRequest>(std::move(r));
}

ApiError Err(const std::string& body) {
  auto r = parse_responses_request(body, Limits());
  if (!std::holds_alternative<ApiError>(r)) {
    ADD_FAILURE() << "expected an error for " << body.substr(0, 300);
    return ApiError{};
  }
  return std::get<ApiError>(r);
}

TEST(ResponsesRequest, StringInputAndInstructions) {
  ResponsesRequest r = Ok(R"({"model":"m","input":"Hi there","instructions":"Be brief.","max_output_tokens":32,
                              "temperature":0.5,"top_p":0.9,"seed":7})");
  EXPECT_EQ(r.chat.messages, ojson::parse(R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi there"}])"));
  EXPECT_EQ(r.input_messages, ojson::parse(R"([{"role":"user","content":"Hi there"}])"));
  EXPECT_EQ(r.chat.max_tokens, 32);
  EXPECT_EQ(r.max_output_tokens, 32);
  EXPECT_FLOAT_EQ(r.chat.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.chat.top_p, 0.9f);
  ASSERT_TRUE(r.chat.seed.has_value());
  EXPECT_EQ(*r.chat.seed, 7u);
  EXPECT_TRUE(r.store);
  EXPECT_FALSE(r.chat.stream);
  EXPECT_EQ(r.instructions, "Be brief.");
}

TEST(ResponsesRequest, MessageItemsWithParts) {
  ResponsesRequest r = Ok(R"({"input":[
    {"role":"developer","content":"Rules."},
    {"type":"message","role":"user","content":[{"type":"input_text","text":"Hello "},{"type":"input_text","text":"world"}]},
    {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hi!","annotations":[]}]},
    {"role":"user","content":"Again"}],"stream":true})");
  EXPECT_EQ(r.chat.messages, ojson::parse(R"([{"role":"system","content":"Rules."},{"role":"user","content":"Hello world"},
    {"role":"assistant","content":"Hi!"},{"role":"user","content":"Again"}])"));
  EXPECT_TRUE(r.chat.stream);
}

TEST(ResponsesRequest, ToolsAndRoundTrip) {
  ResponsesRequest r = Ok(R"({"input":[
    {"role":"user","content":"Weather in Paris?"},
    {"type":"reasoning","id":"rs_1","summary":[],"content":[{"type":"reasoning_text","text":"Look it up."}]},
    {"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"},
    {"type":"function_call","call_id":"call_2","name":"get_weather","arguments":{"city":"Lyon"}},
    {"type":"function_call_output","call_id":"call_1","output":"18C"},
    {"type":"function_call_output","call_id":"call_2","output":[{"type":"input_text","text":"20C"}]}],
    "tools":[{"type":"function","name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}],
    "tool_choice":{"type":"function","name":"get_weather"}})");
  const ojson want = ojson::parse(R"([
    {"role":"user","content":"Weather in Paris?"},
    {"role":"assistant","content":null,"reasoning_content":"Look it up.","tool_calls":[
      {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
      {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Lyon\"}"}}]},
    {"role":"tool","tool_call_id":"call_1","content":"18C"},
    {"role":"tool","tool_call_id":"call_2","content":"20C"}])");
  EXPECT_EQ(r.chat.messages, want);
  ASSERT_EQ(r.chat.tools.size(), 1u);
  EXPECT_EQ(r.chat.tools[0]["function"]["name"], "get_weather");
  EXPECT_EQ(r.chat.tools[0]["function"]["strict"], true);
  EXPECT_EQ(r.chat.tools[0]["function"]["parameters"]["type"], "object");
  EXPECT_EQ(r.chat.tool_choice, ToolChoiceMode::kNamed);
  EXPECT_EQ(r.chat.tool_choice_name, "get_weather");
  EXPECT_EQ(r.tools[0]["name"], "get_weather");  // echoed in the Responses shape
  EXPECT_EQ(Ok(R"({"input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":"required"})").chat.tool_choice,
            ToolChoiceMode::kRequired);
  EXPECT_EQ(Ok(R"({"input":"x","tool_choice":"none"})").chat.tool_choice, ToolChoiceMode::kNone);
}

TEST(ResponsesRequest, TextFormat) {
  ResponsesRequest r = Ok(R"({"input":"x","text":{"format":{"type":"json_schema","name":"ticket","strict":true,
    "schema":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}}}})");
  EXPECT_EQ(r.chat.response_format, ResponseFormat::kJsonSchema);
  EXPECT_EQ(r.chat.json_schema_name, "ticket");
  EXPECT_EQ(r.chat.json_schema["required"][0], "a");
  EXPECT_EQ(r.text_format["name"], "ticket");
  EXPECT_EQ(Ok(R"({"input":"x","text":{"format":{"type":"json_object"}}})").chat.response_format, ResponseFormat::kJsonObject);
  EXPECT_EQ(Ok(R"({"input":"x","text":{"format":{"type":"text"},"verbosity":"low"}})").chat.response_format, ResponseFormat::kText);
}

TEST(ResponsesRequest, StoreAndPrevious) {
  ResponsesRequest r = Ok(R"({"input":"next","store":false,"previous_response_id":"resp_abc","instructions":"S"})");
  EXPECT_FALSE(r.store);
  EXPECT_EQ(r.previous_response_id, "resp_abc");
  const ojson hist = ojson::parse(R"([{"role":"user","content":"first"},{"role":"assistant","content":"ok"}])");
  EXPECT_EQ(responses_chat_messages(r, hist), ojson::parse(R"([{"role":"system","content":"S"},{"role":"user","content":"first"},
    {"role":"assistant","content":"ok"},{"role":"user","content":"next"}])"));
}

TEST(ResponsesRequest, ErrorsNameTheField) {
  struct Case { const char* body; const char* param; const char* needle; };
  const Case cases[] = {
      {R"({"model":"m"})", "input", "input is required"},
      {R"({"input":5})", "input", "string or an array"},
      {R"({"input":[]})", "input", "must not be empty"},
      {R"({"input":[7]})", "input", "input[0] must be an object"},
      {R"({"input":[{"role":"robot","content":"x"}]})", "input", "unknown role 'robot'"},
      {R"({"input":[{"role":"user"}]})", "input", "input[0].content is required"},
      {R"({"input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}]})", "input", "not supported"},
      {R"({"input":[{"role":"user","content":[{"type":"weird","text":"x"}]}]})", "input", "unknown content part type"},
      {R"({"input":[{"role":"user","content":[{"type":"input_text"}]}]})", "input", "input[0].content[0].text must be a string"},
      {R"({"input":[{"type":"function_call","name":"f","arguments":"{}"}]})", "input", "input[0].call_id"},
      {R"({"input":[{"type":"function_call","call_id":"c","arguments":"{}"}]})", "input", "input[0].name"},
      {R"({"input":[{"type":"function_call","call_id":"c","name":"f","arguments":5}]})", "input", "arguments"},
      {R"({"input":[{"type":"function_call_output","call_id":"c"}]})", "input", "output is required"},
      {R"({"input":[{"type":"function_call_output","output":"x"}]})", "input", "call_id"},
      {R"({"input":[{"type":"item_reference","id":"x"}]})", "input", "item_reference"},
      {R"({"input":[{"type":"computer_call"}]})", "input", "not supported"},
      {R"({"input":[{"type":"reasoning","summary":5}]})", "input", "summary must be an array"},
      {R"({"input":"x","instructions":5})", "instructions", "string"},
      {R"({"input":"x","tools":{}})", "tools", "array"},
      {R"({"input":"x","tools":[{"type":"web_search"}]})", "tools", "function tools only"},
      {R"({"input":"x","tools":[{"type":"function"}]})", "tools", "tools[0].name"},
      {R"({"input":"x","tools":[{"type":"function","name":"bad name!"}]})", "tools", "must match"},
      {R"({"input":"x","tools":[{"type":"function","name":"f","parameters":3}]})", "tools", "parameters"},
      {R"({"input":"x","tool_choice":"sometimes"})", "tool_choice", "tool_choice"},
      {R"({"input":"x","tool_choice":{"type":"file_search"}})", "tool_choice", "not supported"},
      {R"({"input":"x","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"g"}})", "tool_choice", "not in tools"},
      {R"({"input":"x","tool_choice":"required"})", "tool_choice", "non-empty tools"},
      {R"({"input":"x","text":"json"})", "text", "object"},
      {R"({"input":"x","text":{"format":{"type":"xml"}}})", "text.format", "json_schema"},
      {R"({"input":"x","text":{"format":{"type":"json_schema","schema":{}}}})", "text.format", "name"},
      {R"({"input":"x","text":{"format":{"type":"json_schema","name":"n"}}})", "text.format", "schema must be an object"},
      {R"({"input":"x","max_output_tokens":0})", "max_output_tokens", "max_output_tokens must be an integer"},
      {R"({"input":"x","max_output_tokens":"5"})", "max_output_tokens", "integer"},
      {R"({"input":"x","temperature":3})", "temperature", "temperature"},
      {R"({"input":"x","top_p":0})", "top_p", "top_p"},
      {R"({"input":"x","stream":"yes"})", "stream", "boolean"},
      {R"({"input":"x","store":1})", "store", "boolean"},
      {R"({"input":"x","previous_response_id":""})", "previous_response_id", "non-empty"},
      {R"({"input":"x","previous_response_id":5})", "previous_response_id", "non-empty"},
      {R"({"input":"x","metadata":[1]})", "metadata", "object"},
      {R"({"input":"x","metadata":{"a":1}})", "metadata", "strings"},
      {R"({"input":"x","reasoning":"high"})", "reasoning", "object"},
      {R"({"input":"x","background":true})", "background", "not supported"},
      {R"({"input":"x","conversation":"conv_1"})", "conversation", "previous_response_id"},
      {R"({"input":"x","truncation":"sometimes"})", "truncation", "auto"},
      {R"({"input":"x","model":5})", "model", "model"},
  };
  for (const Case& c : cases) {
    ApiError e = Err(c.body);
    EXPECT_EQ(e.http_status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << " -> " << e.message;
    EXPECT_NE(e.message.find(c.needle), std::string::npos) << c.body << " -> " << e.message;
  }
}

TEST(ResponsesRequest, HostileBodies) {
  EXPECT_EQ(Err("").http_status, 400);
  EXPECT_EQ(Err("not json").http_status, 400);
  EXPECT_EQ(Err("[1,2]").http_status, 400);
  EXPECT_EQ(Err(R"({"input":"x")").http_status, 400);
  EXPECT_EQ(Err(std::string(100000, '[')).http_status, 400);
  std::string deep = R"({"input":[{"role":"user","content":"x"}],"metadata":)";
  for (int i = 0; i < 500; ++i) deep += "{\"a\":";
  EXPECT_EQ(Err(deep).http_status, 400);
  // Invalid UTF-8 is rejected as invalid JSON; the error is still serialisable.
  ApiError e = Err("{\"input\":[{\"role\":\"\xff\xfe\",\"content\":\"x\"}]}");
  EXPECT_EQ(e.http_status, 400);
  EXPECT_NO_THROW((void)error_json(e));
  // Random mutations of a valid body: never a crash, always a request or a 4xx.
  const std::string base = R"({"input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"ok"}],"instructions":"s","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":"auto","text":{"format":{"type":"json_schema","name":"n","schema":{"type":"object"}}},"max_output_tokens":16,"store":true})";
  std::mt19937 rng(11);
  const char alphabet[] = "{}[]\":,0a-\\ ";
  for (int i = 0; i < 3000; ++i) {
    std::string s = base;
    for (int k = 0; k < 3; ++k) {
      const size_t p = rng() % s.size();
      switch (rng() % 3) {
        case 0: s.erase(p, 1 + rng() % 4); break;
        case 1: s.insert(p, 1, alphabet[rng() % (sizeof alphabet - 1)]); break;
        default: s[p] = alphabet[rng() % (sizeof alphabet - 1)];
      }
    }
    auto r = parse_responses_request(s, Limits());
    if (auto* err = std::get_if<ApiError>(&r)) {
      EXPECT_GE(err->http_status, 400);
    }
  }
}

TEST(ResponseBuilder, StreamedEventsAndFinalObject) {
  ResponsesRequest req = Ok(R"({"input":"x","instructions":"I","max_output_tokens":64,"metadata":{"k":"v"}})");
  ResponseBuilder b(req, "resp_1", 100, "model-x");
  std::vector<ojson> ev = b.start();
  auto push = [&](const StreamDelta& d) {
    for (auto& e : b.add(d)) ev.push_back(std::move(e));
  };
  StreamDelta d1;
  d1.reasoning = "think";
  push(d1);
  StreamDelta d2;
  d2.content = "\n\n";  // whitespace alone opens no message yet
  push(d2);
  StreamDelta d3;
  d3.content = "Hello";
  push(d3);
  StreamDelta d4;
  d4.content = " world";
  d4.tool_calls.push_back({0, "call_9", "lookup", "{\"a\":"});
  push(d4);
  StreamDelta d5;
  d5.tool_calls.push_back({0, "", "", "1}"});
  push(d5);
  Usage u{12, 9, 4};
  for (auto& e : b.finish("tool_calls", u, 2)) ev.push_back(std::move(e));

  std::vector<std::string> types;
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i]["sequence_number"], (int64_t)i);
    types.push_back(ev[i]["type"]);
  }
  const std::vector<std::string> want = {
      "response.created", "response.in_progress",
      "response.output_item.added", "response.content_part.added", "response.reasoning_text.delta",
      "response.reasoning_text.done", "response.content_part.done", "response.output_item.done",
      "response.output_item.added", "response.content_part.added", "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done", "response.content_part.done", "response.output_item.done",
      "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
      "response.function_call_arguments.done", "response.output_item.done", "response.completed"};
  EXPECT_EQ(types, want);
  EXPECT_EQ(ev[0]["response"]["status"], "in_progress");
  EXPECT_EQ(ev[10]["delta"], "\n\nHello");
  EXPECT_EQ(ev[10]["output_index"], 1);
  EXPECT_EQ(ev[18]["arguments"], "{\"a\":1}");
  EXPECT_EQ(ev[18]["name"], "lookup");

  const ojson& r = b.response();
  EXPECT_EQ(r, ev.back()["response"]);
  EXPECT_EQ(r["id"], "resp_1");
  EXPECT_EQ(r["object"], "response");
  EXPECT_EQ(r["status"], "completed");
  EXPECT_EQ(r["instructions"], "I");
  EXPECT_EQ(r["max_output_tokens"], 64);
  EXPECT_EQ(r["model"], "model-x");
  EXPECT_EQ(r["metadata"]["k"], "v");
  const ojson& out = r["output"];
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]["type"], "reasoning");
  EXPECT_EQ(out[0]["content"][0], ojson::parse(R"({"type":"reasoning_text","text":"think"})"));
  EXPECT_EQ(out[1]["type"], "message");
  EXPECT_EQ(out[1]["role"], "assistant");
  EXPECT_EQ(out[1]["status"], "completed");
  EXPECT_EQ(out[1]["content"][0]["type"], "output_text");
  EXPECT_EQ(out[1]["content"][0]["text"], "\n\nHello world");
  EXPECT_EQ(out[2]["type"], "function_call");
  EXPECT_EQ(out[2]["call_id"], "call_9");
  EXPECT_EQ(out[2]["name"], "lookup");
  EXPECT_EQ(out[2]["arguments"], "{\"a\":1}");
  EXPECT_EQ(r["usage"], ojson::parse(R"({"input_tokens":12,"input_tokens_details":{"cached_tokens":4},"output_tokens":9,
    "output_tokens_details":{"reasoning_tokens":2},"total_tokens":21})"));
  EXPECT_EQ(b.output_messages(), ojson::parse(R"([{"role":"assistant","content":"\n\nHello world","reasoning_content":"think",
    "tool_calls":[{"id":"call_9","type":"function","function":{"name":"lookup","arguments":"{\"a\":1}"}}]}])"));
  EXPECT_EQ(sse_event(ev[0]).rfind("event: response.created\ndata: {", 0), 0u);
}

TEST(ResponseBuilder, IncompleteEmptyAndFailed) {
  ResponsesRequest req = Ok(R"({"input":"x"})");
  {
    ResponseBuilder b(req, "resp_2", 1, "m");
    b.start();
    StreamDelta d;
    d.content = "  ";
    b.add(d);
    auto ev = b.finish("length", Usage{3, 5, 0}, 0);
    EXPECT_EQ(ev.back()["type"], "response.incomplete");
    EXPECT_EQ(b.response()["status"], "incomplete");
    EXPECT_EQ(b.response()["incomplete_details"]["reason"], "max_output_tokens");
    ASSERT_EQ(b.response()["output"].size(), 1u);  // a message even when only whitespace came
    EXPECT_EQ(b.response()["output"][0]["content"][0]["text"], "  ");
    EXPECT_EQ(b.output_messages()[0]["content"], "  ");
  }
  {
    ResponseBuilder b(req, "resp_3", 1, "m");
    b.start();
    auto ev = b.fail("boom \xff");
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0]["type"], "response.failed");
    EXPECT_EQ(ev[0]["response"]["status"], "failed");
    EXPECT_EQ(ev[1]["type"], "error");
    EXPECT_EQ(ev[1]["error"]["type"], "server_error");
    EXPECT_NO_THROW((void)ev[1].dump());
  }
}

}  // namespace
}  // namespace moecat::api
