// OpenAI wire format: request validation (field by field, plus the hostile corpus in
// tests/data/bad_requests/), robustness under mutation / depth bombs / huge strings, and the
// exact shape of every response object against hand-written JSON.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "serve/api/openai.h"

namespace moecat::api {
namespace {

using ojson = nlohmann::ordered_json;

RequestLimits Limits() {
  RequestLimits lim;
  lim.n_vocab = 32000;  // the corpus assumes this
  return lim;
}

ChatRequest ParseOk(const std::string& body, bool chat = true, RequestLimits lim = Limits()) {
  auto r = parse_request(body, chat, lim);
  if (auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << "unexpected error for " << body.substr(0, 200) << ": " << e->message;
    return ChatRequest{};
  }
  return std::get<ChatRequest>(std::move(r));
}

ApiError ParseErr(const std::string& body, bool chat = true, RequestLimits lim = Limits()) {
  auto r = parse_request(body, chat, lim);
  if (!std::holds_alternative<ApiError>(r)) {
    ADD_FAILURE() << "expected an error for " << body.substr(0, 200);
    return ApiError{};
  }
  return std::get<ApiError>(r);
}

std::string Chat(const std::string& extra) {
  return R"({"messages":[{"role":"user","content":"hi"}])" + (extra.empty() ? "" : "," + extra) + "}";
}

// ---------------------------------------------------------------- requests: valid fields

TEST(OpenAiRequest, DefaultsForMinimalChat) {
  ChatRequest r = ParseOk(Chat(""));
  EXPECT_TRUE(r.chat);
  EXPECT_EQ(r.model, "");
  EXPECT_EQ(r.messages, ojson::parse(R"([{"role":"user","content":"hi"}])"));
  EXPECT_TRUE(r.tools.is_array());
  EXPECT_TRUE(r.tools.empty());
  EXPECT_EQ(r.tool_choice, ToolChoiceMode::kAuto);
  EXPECT_EQ(r.response_format, ResponseFormat::kText);
  EXPECT_EQ(r.max_tokens, -1);
  EXPECT_EQ(r.temperature, 1.0f);
  EXPECT_EQ(r.top_p, 1.0f);
  EXPECT_FALSE(r.seed.has_value());
  EXPECT_TRUE(r.stop.empty());
  EXPECT_FALSE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 0);
  EXPECT_EQ(r.presence_penalty, 0.0f);
  EXPECT_EQ(r.frequency_penalty, 0.0f);
  EXPECT_TRUE(r.logit_bias.empty());
  EXPECT_EQ(r.n, 1);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_EQ(r.user, "");
  EXPECT_EQ(r.chat_template_kwargs, ojson::object());
}

TEST(OpenAiRequest, AllScalarFields) {
  RequestLimits lim = Limits();
  lim.max_n = 4;
  ChatRequest r = ParseOk(Chat(R"("model":"qwen3","max_tokens":100,"temperature":0.25,"top_p":0.5,
      "seed":42,"stop":["</s>","\n\n"],"logprobs":true,"top_logprobs":5,"presence_penalty":-1.5,
      "frequency_penalty":2,"logit_bias":{"7":-100,"31999":2.5},"n":3,"stream":true,
      "stream_options":{"include_usage":true},"user":"u-1",
      "chat_template_kwargs":{"enable_thinking":false}, "some_future_field": [1])"), true, lim);
  EXPECT_EQ(r.model, "qwen3");
  EXPECT_EQ(r.max_tokens, 100);
  EXPECT_EQ(r.temperature, 0.25f);
  EXPECT_EQ(r.top_p, 0.5f);
  ASSERT_TRUE(r.seed.has_value());
  EXPECT_EQ(*r.seed, 42u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"</s>", "\n\n"}));
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 5);
  EXPECT_EQ(r.presence_penalty, -1.5f);
  EXPECT_EQ(r.frequency_penalty, 2.0f);
  EXPECT_EQ(r.logit_bias, (std::map<int32_t, float>{{7, -100.0f}, {31999, 2.5f}}));
  EXPECT_EQ(r.n, 3);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.user, "u-1");
  EXPECT_EQ(r.chat_template_kwargs, ojson::parse(R"({"enable_thinking":false})"));
}

TEST(OpenAiRequest, MaxTokens) {
  EXPECT_EQ(ParseOk(Chat(R"("max_tokens":10,"max_completion_tokens":20)")).max_tokens, 20);
  EXPECT_EQ(ParseOk(Chat(R"("max_completion_tokens":20,"max_tokens":10)")).max_tokens, 20);
  EXPECT_EQ(ParseOk(Chat(R"("max_tokens":4096)")).max_tokens, 4096);  // == n_ctx
  EXPECT_EQ(ParseOk(Chat(R"("max_tokens":1)")).max_tokens, 1);
  EXPECT_EQ(ParseOk(Chat(R"("max_tokens":256.0)")).max_tokens, 256);  // integral double
  EXPECT_EQ(ParseErr(Chat(R"("max_tokens":4097)")).param, "max_tokens");
  // Both are validated even though only one is used.
  EXPECT_EQ(ParseErr(Chat(R"("max_tokens":0,"max_completion_tokens":20)")).param, "max_tokens");
  RequestLimits lim = Limits();
  lim.n_ctx = 128;
  EXPECT_EQ(ParseErr(Chat(R"("max_tokens":129)"), true, lim).param, "max_tokens");
}

TEST(OpenAiRequest, MinTokensAndIgnoreEos) {
  ChatRequest d = ParseOk(Chat(""));
  EXPECT_EQ(d.min_tokens, 0);
  EXPECT_FALSE(d.ignore_eos);
  ChatRequest r = ParseOk(Chat(R"("min_tokens":8,"max_tokens":8,"ignore_eos":true)"));
  EXPECT_EQ(r.min_tokens, 8);
  EXPECT_TRUE(r.ignore_eos);
  EXPECT_EQ(ParseOk(Chat(R"("min_tokens":100)")).min_tokens, 100);  // no max_tokens: the context bounds
  EXPECT_EQ(ParseErr(Chat(R"("min_tokens":9,"max_tokens":8)")).param, "min_tokens");
  EXPECT_EQ(ParseErr(Chat(R"("min_tokens":-1)")).param, "min_tokens");
  EXPECT_EQ(ParseErr(Chat(R"("min_tokens":4097)")).param, "min_tokens");
  EXPECT_EQ(ParseErr(Chat(R"("ignore_eos":1)")).param, "ignore_eos");
  EXPECT_EQ(ParseErr(R"({"prompt":"x","min_tokens":"3"})", false).param, "min_tokens");
}

TEST(OpenAiRequest, NumericBoundaries) {
  EXPECT_EQ(ParseOk(Chat(R"("temperature":0)")).temperature, 0.0f);
  EXPECT_EQ(ParseOk(Chat(R"("temperature":2)")).temperature, 2.0f);
  EXPECT_EQ(ParseOk(Chat(R"("top_p":1)")).top_p, 1.0f);
  EXPECT_EQ(ParseOk(Chat(R"("top_p":1e-9)")).top_p, 1e-9f);
  EXPECT_EQ(ParseErr(Chat(R"("top_p":0.0)")).param, "top_p");
  EXPECT_EQ(ParseOk(Chat(R"("presence_penalty":-2)")).presence_penalty, -2.0f);
  EXPECT_EQ(ParseErr(Chat(R"("presence_penalty":-2.001)")).param, "presence_penalty");
  EXPECT_EQ(ParseErr(Chat(R"("temperature":true)")).param, "temperature");
}

TEST(OpenAiRequest, SeedTwosComplement) {
  EXPECT_EQ(*ParseOk(Chat(R"("seed":-1)")).seed, 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(*ParseOk(Chat(R"("seed":-2)")).seed, 0xFFFFFFFFFFFFFFFEull);
  EXPECT_EQ(*ParseOk(Chat(R"("seed":18446744073709551615)")).seed, 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(*ParseOk(Chat(R"("seed":-9223372036854775808)")).seed, 0x8000000000000000ull);
  EXPECT_EQ(*ParseOk(Chat(R"("seed":0)")).seed, 0u);
  EXPECT_EQ(*ParseOk(Chat(R"("seed":7.0)")).seed, 7u);
  EXPECT_EQ(ParseErr(Chat(R"("seed":0.5)")).param, "seed");
}

TEST(OpenAiRequest, StopAndLogitBias) {
  EXPECT_EQ(ParseOk(Chat(R"("stop":"END")")).stop, std::vector<std::string>{"END"});
  EXPECT_TRUE(ParseOk(Chat(R"("stop":[])")).stop.empty());
  RequestLimits lim = Limits();
  lim.max_stop = 2;
  lim.max_stop_bytes = 3;
  EXPECT_EQ(ParseOk(Chat(R"("stop":["abc","d"])"), true, lim).stop.size(), 2u);
  EXPECT_EQ(ParseErr(Chat(R"("stop":["abcd"])"), true, lim).param, "stop");
  EXPECT_EQ(ParseErr(Chat(R"("stop":["a","b","c"])"), true, lim).param, "stop");
  // Multi-byte: 2 chars but 4 bytes.
  EXPECT_EQ(ParseErr(Chat("\"stop\":\"\xC3\xA9\xC3\xA9\""), true, lim).param, "stop");

  lim = Limits();
  lim.n_vocab = 10;
  lim.max_logit_bias = 2;
  EXPECT_EQ(ParseOk(Chat(R"("logit_bias":{"9":1,"0":-1})"), true, lim).logit_bias,
            (std::map<int32_t, float>{{0, -1.0f}, {9, 1.0f}}));
  EXPECT_EQ(ParseErr(Chat(R"("logit_bias":{"10":1})"), true, lim).param, "logit_bias");
  EXPECT_EQ(ParseErr(Chat(R"("logit_bias":{"1":1,"2":1,"3":1})"), true, lim).param, "logit_bias");
  EXPECT_EQ(ParseErr(Chat(R"("logit_bias":{"1":-100.5})"), true, lim).param, "logit_bias");
  lim.n_vocab = 0;  // no vocabulary known: every id is out of range
  EXPECT_EQ(ParseErr(Chat(R"("logit_bias":{"0":1})"), true, lim).param, "logit_bias");
}

TEST(OpenAiRequest, LogprobsChatAndCompletions) {
  ChatRequest a = ParseOk(Chat(R"("logprobs":true)"));
  EXPECT_TRUE(a.logprobs);
  EXPECT_EQ(a.top_logprobs, 0);
  EXPECT_FALSE(ParseOk(Chat(R"("top_logprobs":0)")).logprobs);  // 0 alone is harmless
  EXPECT_EQ(ParseErr(Chat(R"("logprobs":false,"top_logprobs":2)")).param, "top_logprobs");

  ChatRequest c = ParseOk(R"({"prompt":"x","logprobs":3})", false);
  EXPECT_FALSE(c.chat);
  EXPECT_TRUE(c.logprobs);
  EXPECT_EQ(c.top_logprobs, 3);
  ChatRequest c0 = ParseOk(R"({"prompt":"x","logprobs":0})", false);
  EXPECT_TRUE(c0.logprobs);
  EXPECT_EQ(c0.top_logprobs, 0);
  EXPECT_FALSE(ParseOk(R"({"prompt":"x","logprobs":null})", false).logprobs);
}

TEST(OpenAiRequest, CompletionsPrompt) {
  EXPECT_EQ(ParseOk(R"({"prompt":"Once upon"})", false).prompt, "Once upon");
  EXPECT_EQ(ParseOk(R"({"prompt":["Once upon"]})", false).prompt, "Once upon");
  EXPECT_EQ(ParseOk(R"({"prompt":""})", false).prompt, "");
  ChatRequest r = ParseOk(R"({"prompt":"p","messages":"ignored","tools":"ignored"})", false);
  EXPECT_TRUE(r.messages.empty());
  EXPECT_EQ(ParseErr(R"({"prompt":[1,2]})", false).param, "prompt");
}

TEST(OpenAiRequest, MessagesNormalised) {
  ChatRequest r = ParseOk(R"({"messages":[
    {"role":"developer","content":"Be brief."},
    {"role":"system","content":[{"type":"text","text":"A"},{"type":"text","text":"B"}]},
    {"role":"user","content":[{"type":"text","text":"What is "},{"type":"text","text":"2+2?"}],"name":"bob"},
    {"role":"assistant","content":null,"tool_calls":[
      {"id":"call_1","type":"function","function":{"name":"calc","arguments":"{\"x\":1}"}},
      {"id":"call_2","function":{"name":"calc","arguments":{"y":2}}}]},
    {"role":"tool","tool_call_id":"call_1","content":"4"},
    {"role":"assistant","content":"4.","reasoning_content":"easy","tool_calls":[]},
    {"role":"user","content":[]}
  ]})");
  ojson expected = ojson::parse(R"([
    {"role":"system","content":"Be brief."},
    {"role":"system","content":"AB"},
    {"role":"user","content":"What is 2+2?","name":"bob"},
    {"role":"assistant","content":null,"tool_calls":[
      {"id":"call_1","type":"function","function":{"name":"calc","arguments":"{\"x\":1}"}},
      {"id":"call_2","function":{"name":"calc","arguments":"{\"y\":2}"},"type":"function"}]},
    {"role":"tool","tool_call_id":"call_1","content":"4"},
    {"role":"assistant","content":"4.","reasoning_content":"easy"},
    {"role":"user","content":""}
  ])");
  EXPECT_EQ(r.messages, expected) << r.messages.dump(1);
  // Assistant with tool_calls and no content key at all.
  ChatRequest r2 = ParseOk(R"({"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]}]})");
  EXPECT_TRUE(r2.messages[0]["content"].is_null());
}

TEST(OpenAiRequest, MaxMessages) {
  RequestLimits lim = Limits();
  lim.max_messages = 2;
  std::string m = R"({"role":"user","content":"x"})";
  EXPECT_EQ(ParseOk("{\"messages\":[" + m + "," + m + "]}", true, lim).messages.size(), 2u);
  EXPECT_EQ(ParseErr("{\"messages\":[" + m + "," + m + "," + m + "]}", true, lim).param, "messages");
}

TEST(OpenAiRequest, ToolsAndToolChoice) {
  const std::string tools = R"("tools":[
    {"type":"function","function":{"name":"get_weather","description":"Weather now",
     "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
    {"type":"function","function":{"name":"A-z_09"}}])";
  ChatRequest r = ParseOk(Chat(tools));
  ASSERT_EQ(r.tools.size(), 2u);
  EXPECT_EQ(r.tools[0]["function"]["name"], "get_weather");
  EXPECT_EQ(r.tools[0]["function"]["parameters"]["required"], ojson::parse(R"(["city"])"));
  EXPECT_EQ(r.tool_choice, ToolChoiceMode::kAuto);

  EXPECT_EQ(ParseOk(Chat(tools + R"(,"tool_choice":"none")")).tool_choice, ToolChoiceMode::kNone);
  EXPECT_EQ(ParseOk(Chat(tools + R"(,"tool_choice":"required")")).tool_choice, ToolChoiceMode::kRequired);
  ChatRequest n = ParseOk(Chat(tools + R"(,"tool_choice":{"type":"function","function":{"name":"A-z_09"}})"));
  EXPECT_EQ(n.tool_choice, ToolChoiceMode::kNamed);
  EXPECT_EQ(n.tool_choice_name, "A-z_09");
  EXPECT_TRUE(r.parallel_tool_calls);
  EXPECT_FALSE(ParseOk(Chat(tools + R"(,"parallel_tool_calls":false)")).parallel_tool_calls);
  EXPECT_EQ(ParseErr(Chat(tools + R"(,"parallel_tool_calls":"no")")).param, "parallel_tool_calls");
  // 64-character names are the maximum.
  EXPECT_EQ(ParseOk(Chat(R"("tools":[{"type":"function","function":{"name":")" + std::string(64, 'x') +
                         "\"}}]")).tools.size(), 1u);
  RequestLimits lim = Limits();
  lim.max_tools = 1;
  EXPECT_EQ(ParseErr(Chat(tools), true, lim).param, "tools");
}

TEST(OpenAiRequest, ResponseFormat) {
  EXPECT_EQ(ParseOk(Chat(R"("response_format":{"type":"text"})")).response_format, ResponseFormat::kText);
  ChatRequest o = ParseOk(Chat(R"("response_format":{"type":"json_object"})"));
  EXPECT_EQ(o.response_format, ResponseFormat::kJsonObject);
  EXPECT_TRUE(o.json_schema.is_null());
  ChatRequest s = ParseOk(Chat(R"("response_format":{"type":"json_schema","json_schema":{"name":"pt",
      "strict":true,"schema":{"type":"object","properties":{"x":{"type":"integer"}}}}})"));
  EXPECT_EQ(s.response_format, ResponseFormat::kJsonSchema);
  EXPECT_EQ(s.json_schema_name, "pt");
  EXPECT_EQ(s.json_schema, nlohmann::json::parse(R"({"type":"object","properties":{"x":{"type":"integer"}}})"));
}

TEST(OpenAiRequest, ErrorsNameTheField) {
  ApiError e = ParseErr(Chat(R"("temperature":"hot")"));
  EXPECT_EQ(e.http_status, 400);
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.param, "temperature");
  EXPECT_NE(e.message.find("temperature"), std::string::npos);
  ApiError m = ParseErr(R"({"messages":[{"role":"user","content":"x"},{"role":"robot","content":"x"}]})");
  EXPECT_NE(m.message.find("messages[1]"), std::string::npos) << m.message;
  EXPECT_NE(m.message.find("robot"), std::string::npos) << m.message;
  ApiError i = ParseErr(R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]})");
  EXPECT_NE(i.message.find("not supported"), std::string::npos) << i.message;
  EXPECT_NE(ParseErr("{").message.find("invalid JSON"), std::string::npos);
  EXPECT_NE(ParseErr("[]").message.find("must be a JSON object"), std::string::npos);
  // 1e400 overflows a double: nlohmann reports it (out_of_range, not parse_error) and it is
  // still a body-level "invalid JSON", not an escaped exception or a generic message.
  ApiError ovf = ParseErr(Chat(R"("temperature":1e400)"));
  EXPECT_NE(ovf.message.find("invalid JSON in request body: number overflow"), std::string::npos) << ovf.message;
  EXPECT_EQ(ovf.param, "");
  EXPECT_EQ(ParseErr(Chat(R"("logit_bias":{"3":101})")).message, "logit_bias['3'] must be in [-100, 100]");
  // A huge role name does not come back whole in the message.
  ApiError big = ParseErr(R"({"messages":[{"role":")" + std::string(100000, 'r') + R"(","content":"x"}]})");
  EXPECT_LT(big.message.size(), 300u);
}

// ---------------------------------------------------------------- requests: hostile corpus

TEST(OpenAiRequest, BadRequestCorpus) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(MOECAT_SOURCE_DIR) / "tests/data/bad_requests";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int n_cases = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    nlohmann::json file = nlohmann::json::parse(ss.str());
    for (const auto& c : file.at("cases")) {
      std::string name = entry.path().filename().string() + ": " + c.at("name").get<std::string>();
      std::string body = c.at("body").get<std::string>();
      if (c.value("latin1", false)) {  // each code point (< 256, so 1-2 UTF-8 bytes) is one raw byte
        std::string raw;
        for (size_t i = 0; i < body.size();) {
          unsigned char b = body[i];
          if (b < 0x80 || i + 1 == body.size()) { raw += char(b); ++i; }
          else { raw += char(((b & 0x1F) << 6) | (body[i + 1] & 0x3F)); i += 2; }
        }
        body = raw;
      }
      int status = c.at("status").get<int>();
      std::variant<ChatRequest, ApiError> r;
      ASSERT_NO_THROW(r = parse_request(body, c.at("chat").get<bool>(), Limits())) << name;
      ++n_cases;
      if (status == 200) {
        EXPECT_TRUE(std::holds_alternative<ChatRequest>(r))
            << name << ": " << (std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r).message : "");
        continue;
      }
      ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << name << " was accepted";
      const ApiError& e = std::get<ApiError>(r);
      EXPECT_EQ(e.http_status, status) << name;
      if (c.contains("param")) {
        EXPECT_EQ(e.param, c["param"].get<std::string>()) << name << ": " << e.message;
      }
      EXPECT_FALSE(e.message.empty()) << name;
      // The error body itself is valid JSON with the documented shape.
      nlohmann::json ej = nlohmann::json::parse(error_json(e));
      EXPECT_EQ(ej["error"]["message"], e.message) << name;
      EXPECT_EQ(ej["error"]["type"], "invalid_request_error") << name;
      EXPECT_TRUE(ej["error"]["code"].is_null()) << name;
      if (e.param.empty()) EXPECT_TRUE(ej["error"]["param"].is_null()) << name;
      else EXPECT_EQ(ej["error"]["param"], e.param) << name;
    }
  }
  EXPECT_GT(n_cases, 150);
}

// ---------------------------------------------------------------- requests: robustness

// Parse, and when it parses build and serialise every response kind from it: nothing may throw.
void Exercise(const std::string& body, bool chat) {
  std::variant<ChatRequest, ApiError> r = parse_request(body, chat, Limits());
  if (auto* e = std::get_if<ApiError>(&r)) {
    nlohmann::json ej = nlohmann::json::parse(error_json(*e));
    if (!ej.contains("error")) ADD_FAILURE() << "bad error body";
    return;
  }
  const ChatRequest& req = std::get<ChatRequest>(r);
  Choice c;
  c.content = req.chat ? req.messages.dump() : req.prompt;
  c.finish_reason = "stop";
  (void)dump_json(completion_json(req, "id", 1, {c}, Usage{}));
  StreamDelta d;
  d.first = true;
  d.content = c.content;
  (void)dump_json(chunk_json(req, "id", 1, d));
}

const char* const kValidChat = R"({"model":"m","messages":[{"role":"system","content":"s"},
  {"role":"user","content":[{"type":"text","text":"hi \u00e9"}]},
  {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
  {"role":"tool","tool_call_id":"c1","content":"ok"}],
  "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
  "tool_choice":{"type":"function","function":{"name":"f"}},
  "response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"}}},
  "max_tokens":12,"temperature":0.7,"top_p":0.9,"seed":-3,"stop":["x"],"logprobs":true,"top_logprobs":2,
  "logit_bias":{"5":1.5},"stream":true,"stream_options":{"include_usage":true},"user":"u"})";
const char* const kValidCompletion = R"({"model":"m","prompt":["Once"],"max_tokens":5,"logprobs":2,
  "stop":"\n","seed":18446744073709551615,"temperature":0})";

TEST(OpenAiRequest, TruncationAtEveryByteNeverThrows) {
  for (const char* b : {kValidChat, kValidCompletion}) {
    std::string s = b;
    ASSERT_TRUE(std::holds_alternative<ChatRequest>(parse_request(s, b == kValidChat, Limits())));
    for (size_t n = 0; n < s.size(); ++n)
      for (bool chat : {true, false}) ASSERT_NO_THROW(Exercise(s.substr(0, n), chat)) << n;
  }
}

TEST(OpenAiRequest, ByteFlipsNeverThrow) {
  const char repl[] = {'\0', '"', '[', ']', '{', '}', ',', ':', '0', '-', '\\', 'e', '\xff', '\xc3', ' '};
  for (const char* b : {kValidChat, kValidCompletion}) {
    std::string s = b;
    for (size_t i = 0; i < s.size(); ++i) {
      for (char c : repl) {
        std::string m = s;
        m[i] = c;
        for (bool chat : {true, false}) ASSERT_NO_THROW(Exercise(m, chat)) << i;
      }
      std::string del = s;
      del.erase(i, 1);
      ASSERT_NO_THROW(Exercise(del, true)) << i;
    }
  }
}

TEST(OpenAiRequest, DepthBombs) {
  for (const char* open : {"[", "{\"a\":"}) {
    const char* close = open[0] == '[' ? "]" : "}";
    std::string bomb;
    for (int i = 0; i < 100000; ++i) bomb += open;
    std::string inner = bomb;
    for (int i = 0; i < 100000; ++i) bomb += close;
    for (const std::string& body :
         {bomb, inner, R"({"messages":[{"role":"user","content":"x"}],"x":)" + bomb + "}",
          R"({"messages":[{"role":"user","content":)" + bomb + "}]}"}) {
      ApiError e = ParseErr(body);
      EXPECT_EQ(e.http_status, 400);
      EXPECT_NE(e.message.find("nesting"), std::string::npos) << e.message;
    }
  }
  // Exactly at the limit is fine: 1 (body) + 127 = 128 levels.
  RequestLimits lim = Limits();
  std::string deep = R"({"messages":[{"role":"user","content":"x"}],"x":)" + std::string(127, '[') +
                     std::string(127, ']') + "}";
  ParseOk(deep, true, lim);
  lim.max_json_depth = 127;
  EXPECT_NE(ParseErr(deep, true, lim).message.find("nesting"), std::string::npos);
}

TEST(OpenAiRequest, TenMegabyteString) {
  std::string big(10 << 20, 'a');
  ChatRequest r = ParseOk(R"({"messages":[{"role":"user","content":")" + big + R"("}],"user":")" + big + "\"}");
  EXPECT_EQ(r.messages[0]["content"].get<std::string>().size(), big.size());
  EXPECT_EQ(r.user.size(), big.size());
  EXPECT_EQ(ParseOk(R"({"prompt":")" + big + "\"}", false).prompt.size(), big.size());
}

// ---------------------------------------------------------------- responses

ChatRequest ChatReq(bool logprobs = false) {
  ChatRequest r;
  r.model = "qwen3-moe";
  r.logprobs = logprobs;
  return r;
}

ChatRequest CompletionReq(bool logprobs = false) {
  ChatRequest r = ChatReq(logprobs);
  r.chat = false;
  return r;
}

// Compares keys, order and values; also dumps with the default (throwing) handler to prove the
// builders only ever store valid UTF-8.
void ExpectJson(const ojson& got, const char* expected) {
  std::string plain;
  ASSERT_NO_THROW(plain = got.dump());
  EXPECT_EQ(got, ojson::parse(expected)) << "got:      " << plain << "\nexpected: " << ojson::parse(expected).dump();
  EXPECT_EQ(ojson::parse(dump_json(got)), got);
}

TEST(OpenAiResponse, ChatCompletion) {
  Choice c;
  c.content = "Hello!";
  c.reasoning = "greet";
  c.finish_reason = "stop";
  Usage u{10, 3, 4};
  ExpectJson(completion_json(ChatReq(), "chatcmpl-1", 1700000000, {c}, u), R"({
    "id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"qwen3-moe",
    "choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","reasoning_content":"greet"},
                "logprobs":null,"finish_reason":"stop"}],
    "usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":4}}})");
}

TEST(OpenAiResponse, ChatToolCallsAndEmptyContent) {
  Choice t;
  t.tool_calls = {{"call_a", "get_weather", R"({"city":"Paris"})"}, {"call_b", "f", "{}"}};
  t.finish_reason = "tool_calls";
  Choice e;  // empty content without tool calls stays "" (not null), no reasoning key
  e.finish_reason = "length";
  ExpectJson(completion_json(ChatReq(), "x", 5, {t, e}, Usage{1, 2, 0}), R"({
    "id":"x","object":"chat.completion","created":5,"model":"qwen3-moe",
    "choices":[
      {"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
         {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
         {"id":"call_b","type":"function","function":{"name":"f","arguments":"{}"}}]},
       "logprobs":null,"finish_reason":"tool_calls"},
      {"index":1,"message":{"role":"assistant","content":""},"logprobs":null,"finish_reason":"length"}],
    "usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0}}})");
}

TEST(OpenAiResponse, ChatLogprobsWithBrokenUtf8) {
  Choice c;
  c.content = "\xE4\xBD\xA0";  // 你, produced as two tokens that split the sequence
  c.finish_reason = "stop";
  c.logprobs = {{"\xE4\xBD", -0.5f, {{"\xE4\xBD", -0.5f}, {"a", -2.0f}}},
                {"\xA0", -0.25f, {{"\xA0", -0.25f}}},
                {"b", -std::numeric_limits<float>::infinity(), {}}};
  ExpectJson(completion_json(ChatReq(true), "x", 5, {c}, Usage{}), R"({
    "id":"x","object":"chat.completion","created":5,"model":"qwen3-moe",
    "choices":[{"index":0,"message":{"role":"assistant","content":"你"},
      "logprobs":{"content":[
        {"token":"\ufffd\ufffd","logprob":-0.5,"bytes":[228,189],
         "top_logprobs":[{"token":"\ufffd\ufffd","logprob":-0.5,"bytes":[228,189]},{"token":"a","logprob":-2.0,"bytes":[97]}]},
        {"token":"\ufffd","logprob":-0.25,"bytes":[160],"top_logprobs":[{"token":"\ufffd","logprob":-0.25,"bytes":[160]}]},
        {"token":"b","logprob":-9999.0,"bytes":[98],"top_logprobs":[]}]},
      "finish_reason":"stop"}],
    "usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0}}})");
}

TEST(OpenAiResponse, TextCompletion) {
  Choice c;
  c.content = "ab\xFF";
  c.finish_reason = "length";
  c.logprobs = {{"a", -1.0f, {{"a", -1.0f}, {"x", -3.0f}}}, {"b\xFF", -0.5f, {{"b\xFF", -0.5f}}}};
  ExpectJson(completion_json(CompletionReq(true), "cmpl-1", 9, {c}, Usage{4, 2, 0}), R"({
    "id":"cmpl-1","object":"text_completion","created":9,"model":"qwen3-moe",
    "choices":[{"index":0,"text":"ab\ufffd",
      "logprobs":{"tokens":["a","b\ufffd"],"token_logprobs":[-1.0,-0.5],
                  "top_logprobs":[{"a":-1.0,"x":-3.0},{"b\ufffd":-0.5}],"text_offset":[0,1]},
      "finish_reason":"length"}],
    "usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6,"prompt_tokens_details":{"cached_tokens":0}}})");
  Choice p;
  p.content = "z";
  p.finish_reason = "stop";
  ExpectJson(completion_json(CompletionReq(false), "c", 1, {p}, Usage{}), R"({
    "id":"c","object":"text_completion","created":1,"model":"qwen3-moe",
    "choices":[{"index":0,"text":"z","logprobs":null,"finish_reason":"stop"}],
    "usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0}}})");
}

TEST(OpenAiResponse, ChatChunks) {
  StreamDelta first;
  first.first = true;
  ExpectJson(chunk_json(ChatReq(), "c1", 7, first), R"({"id":"c1","object":"chat.completion.chunk","created":7,
    "model":"qwen3-moe","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]})");

  StreamDelta mid;
  mid.content = "Hel";
  mid.reasoning = "hmm";
  ExpectJson(chunk_json(ChatReq(), "c1", 7, mid), R"({"id":"c1","object":"chat.completion.chunk","created":7,
    "model":"qwen3-moe","choices":[{"index":0,"delta":{"content":"Hel","reasoning_content":"hmm"},"logprobs":null,"finish_reason":null}]})");

  StreamDelta tool;
  tool.tool_calls = {{0, "call_1", "get_weather", ""}, {1, "", "", "{\"ci"}};
  ExpectJson(chunk_json(ChatReq(), "c1", 7, tool), R"({"id":"c1","object":"chat.completion.chunk","created":7,
    "model":"qwen3-moe","choices":[{"index":0,"delta":{"tool_calls":[
      {"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}},
      {"index":1,"function":{"arguments":"{\"ci"}}]},"logprobs":null,"finish_reason":null}]})");

  StreamDelta first_tool;
  first_tool.first = true;
  first_tool.tool_calls = {{0, "call_1", "f", ""}};
  ExpectJson(chunk_json(ChatReq(), "c1", 7, first_tool), R"({"id":"c1","object":"chat.completion.chunk","created":7,
    "model":"qwen3-moe","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[
      {"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"logprobs":null,"finish_reason":null}]})");

  StreamDelta last;
  last.finish_reason = "stop";
  last.content = "\xF0\x9F\x98";  // truncated emoji
  last.logprobs = {{"\xF0\x9F\x98", -0.125f, {}}};
  ExpectJson(chunk_json(ChatReq(true), "c1", 7, last), R"({"id":"c1","object":"chat.completion.chunk","created":7,
    "model":"qwen3-moe","choices":[{"index":0,"delta":{"content":"\ufffd\ufffd\ufffd"},
    "logprobs":{"content":[{"token":"\ufffd\ufffd\ufffd","logprob":-0.125,"bytes":[240,159,152],"top_logprobs":[]}]},
    "finish_reason":"stop"}]})");
}

TEST(OpenAiResponse, CompletionChunksAndUsage) {
  StreamDelta d;
  d.content = "lo";
  ExpectJson(chunk_json(CompletionReq(), "k", 3, d), R"({"id":"k","object":"text_completion","created":3,
    "model":"qwen3-moe","choices":[{"index":0,"text":"lo","logprobs":null,"finish_reason":null}]})");
  d.finish_reason = "length";
  d.logprobs = {{"l", -1.0f, {{"l", -1.0f}}}, {"o", -2.0f, {}}};
  d.text_offset = 10;
  ExpectJson(chunk_json(CompletionReq(true), "k", 3, d), R"({"id":"k","object":"text_completion","created":3,
    "model":"qwen3-moe","choices":[{"index":0,"text":"lo","logprobs":{"tokens":["l","o"],"token_logprobs":[-1.0,-2.0],
    "top_logprobs":[{"l":-1.0},{}],"text_offset":[10,11]},"finish_reason":"length"}]})");

  ExpectJson(usage_chunk_json(ChatReq(), "c", 3, Usage{5, 6, 2}), R"({"id":"c","object":"chat.completion.chunk",
    "created":3,"model":"qwen3-moe","choices":[],
    "usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":2}}})");
  ExpectJson(usage_chunk_json(CompletionReq(), "k", 3, Usage{1, 1, 0}), R"({"id":"k","object":"text_completion",
    "created":3,"model":"qwen3-moe","choices":[],
    "usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2,"prompt_tokens_details":{"cached_tokens":0}}})");
}

TEST(OpenAiResponse, ModelsAndErrors) {
  ExpectJson(models_json("qwen3-30b-a3b", 42),
             R"({"object":"list","data":[{"id":"qwen3-30b-a3b","object":"model","created":42,"owned_by":"moecat"}]})");
  ApiError e;
  e.message = "temperature must be in [0, 2]";
  e.param = "temperature";
  EXPECT_EQ(error_json(e),
            R"({"error":{"message":"temperature must be in [0, 2]","type":"invalid_request_error","param":"temperature","code":null}})");
  ApiError s;
  s.http_status = 500;
  s.message = "bad \xFF bytes";
  s.type = "server_error";
  s.code = "internal";
  EXPECT_EQ(error_json(s),
            "{\"error\":{\"message\":\"bad \xEF\xBF\xBD bytes\",\"type\":\"server_error\",\"param\":null,\"code\":\"internal\"}}");
}

TEST(OpenAiResponse, SanitizeUtf8) {
  const std::string R = "\xEF\xBF\xBD";
  EXPECT_EQ(sanitize_utf8("plain"), "plain");
  EXPECT_EQ(sanitize_utf8("\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80"), "\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80");
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), R + R);              // overlong '/'
  EXPECT_EQ(sanitize_utf8("\xE0\x80\xAF"), R + R + R);      // overlong 3-byte
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), R + R + R);      // UTF-16 surrogate
  EXPECT_EQ(sanitize_utf8("\xF4\x90\x80\x80"), R + R + R + R);  // > U+10FFFF
  EXPECT_EQ(sanitize_utf8("a\xE4\xBD"), "a" + R + R);       // truncated at the end
  EXPECT_EQ(sanitize_utf8("\xE4" "a"), R + "a");            // resync on ASCII
  EXPECT_EQ(sanitize_utf8(std::string("\0x", 2)), std::string("\0x", 2));
  // dump_json with a raw invalid string inside still produces valid JSON.
  ojson j = {{"k", std::string("\xFF")}};
  EXPECT_EQ(ojson::parse(dump_json(j))["k"], "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace moecat::api
