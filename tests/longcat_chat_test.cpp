// LongCat's chat formats: the tag format's key/value tool calls (Flash-Lite, Thinking-2601)
// with arguments typed from the tool schema, the JSON form, <longcat_think> reasoning, prompt
// handling (reasoning opened by the generation prompt, family detection) and the
// "longcat-flash" GGUF pre-tokenizer. Expected values are written by hand from the format as
// the Thinking-2601 model card and its rendered trajectory show it.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "serve/chat/chat_format.h"
#include "serve/chat/parsers.h"
#include "serve/chat_prompt.h"
#include "tokenizer/pretokenizer.h"

using moecat::ChatDelta;
using moecat::ChatFamily;
using moecat::ChatParseOptions;
using json = nlohmann::ordered_json;

namespace {

struct Msg {
  std::string content, reasoning;
  std::vector<std::pair<std::string, std::string>> calls;  // name, arguments
};

Msg run(const std::vector<std::string>& pieces, const ChatParseOptions& opt) {
  auto p = moecat::make_chat_output_parser(ChatFamily::kLongCat, opt);
  Msg m;
  auto add = [&](const ChatDelta& d) {
    m.content += d.content;
    m.reasoning += d.reasoning;
    for (const auto& tc : d.tool_calls) {
      if (tc.index == (int)m.calls.size()) {
        EXPECT_FALSE(tc.id.empty());
        m.calls.push_back({tc.name, tc.arguments});
      } else {
        EXPECT_EQ(tc.index, (int)m.calls.size() - 1);
        m.calls.back().second += tc.arguments;
      }
    }
  };
  for (const auto& s : pieces) add(p->feed(s));
  add(p->finish());
  return m;
}

void expect_eq(const Msg& a, const Msg& b, const std::string& what) {
  EXPECT_EQ(a.content, b.content) << what;
  EXPECT_EQ(a.reasoning, b.reasoning) << what;
  EXPECT_EQ(a.calls, b.calls) << what;
}

// Whole, byte by byte and 50 random splits must all give `want`.
void check(const std::string& out, const Msg& want, const ChatParseOptions& opt) {
  expect_eq(run({out}, opt), want, "whole: " + out);
  std::vector<std::string> bytes;
  for (char c : out) bytes.emplace_back(1, c);
  expect_eq(run(bytes, opt), want, "bytewise: " + out);
  std::mt19937 rng(77);
  for (int t = 0; t < 50; ++t) {
    std::vector<std::string> v;
    for (size_t i = 0; i < out.size();) {
      size_t n = std::uniform_int_distribution<size_t>(0, 9)(rng);
      v.push_back(out.substr(i, n));
      i += n;
    }
    expect_eq(run(v, opt), want, "split: " + out);
  }
}

json tools() {
  return json::parse(R"([
    {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {
      "query": {"type": "array", "items": {"type": "string"}},
      "topic": {"type": "string"},
      "limit": {"type": "integer"},
      "score": {"type": "number"},
      "safe": {"type": "boolean"},
      "filters": {"type": "object"},
      "note": {"type": ["string", "null"]},
      "maybe": {"type": ["integer", "null"]}}}}},
    {"type": "function", "function": {"name": "noargs", "parameters": {"type": "object", "properties": {}}}}
  ])");
}

ChatParseOptions with_tools() {
  ChatParseOptions o;
  o.tools = tools();
  return o;
}

}  // namespace

TEST(LongCatTagFormat, TrajectoryCallTypedFromSchema) {
  // As in the Thinking-2601 trajectory: reasoning (opened by the prompt), then a call.
  ChatParseOptions o = with_tools();
  o.starts_in_reasoning = true;
  const std::string out =
      "\nFirst I search.\n</longcat_think>\n<longcat_tool_call>search\n<longcat_arg_key>query</longcat_arg_key>\n"
      "<longcat_arg_value>[\"China only tropical province\"]</longcat_arg_value>\n</longcat_tool_call>\n</longcat_s>";
  check(out, {"", "First I search.", {{"search", R"({"query":["China only tropical province"]})"}}}, o);
}

TEST(LongCatTagFormat, EveryTypeAndStringStaysString) {
  const std::string out =
      "Let me look.<longcat_tool_call>search\n"
      "<longcat_arg_key>topic</longcat_arg_key>\n<longcat_arg_value>42</longcat_arg_value>\n"
      "<longcat_arg_key>limit</longcat_arg_key>\n<longcat_arg_value> 10 </longcat_arg_value>\n"
      "<longcat_arg_key>score</longcat_arg_key>\n<longcat_arg_value>0.5</longcat_arg_value>\n"
      "<longcat_arg_key>safe</longcat_arg_key>\n<longcat_arg_value>True</longcat_arg_value>\n"
      "<longcat_arg_key>filters</longcat_arg_key>\n<longcat_arg_value>{\"z\": 1, \"a\": [true, null]}</longcat_arg_value>\n"
      "<longcat_arg_key>note</longcat_arg_key>\n<longcat_arg_value>{\"not\": \"parsed\"}</longcat_arg_value>\n"
      "<longcat_arg_key>maybe</longcat_arg_key>\n<longcat_arg_value>null</longcat_arg_value>\n"
      "<longcat_arg_key>extra</longcat_arg_key>\n<longcat_arg_value>7</longcat_arg_value>\n"
      "</longcat_tool_call></longcat_s>";
  check(out,
        {"Let me look.",
         "",
         {{"search",
           R"({"topic":"42","limit":10,"score":0.5,"safe":true,"filters":{"z":1,"a":[true,null]},)"
           R"("note":"{\"not\": \"parsed\"}","maybe":null,"extra":"7"})"}}},
        with_tools());
}

TEST(LongCatTagFormat, UnparsableTypedValueStaysStringAndTextIsVerbatim) {
  const std::string out =
      "<longcat_tool_call>search<longcat_arg_key>limit</longcat_arg_key><longcat_arg_value>ten</longcat_arg_value>"
      "<longcat_arg_key>topic</longcat_arg_key><longcat_arg_value>  a \"b\"\n\\c  ü</longcat_arg_value>"
      "</longcat_tool_call>";
  check(out, {"", "", {{"search", R"({"limit":"ten","topic":"  a \"b\"\n\\c  ü"})"}}}, with_tools());
}

TEST(LongCatTagFormat, NoSchemaMeansStrings) {
  const std::string out =
      "<longcat_tool_call>unknown_tool\n<longcat_arg_key>n</longcat_arg_key>\n<longcat_arg_value>5</longcat_arg_value>\n"
      "</longcat_tool_call>";
  check(out, {"", "", {{"unknown_tool", R"({"n":"5"})"}}}, ChatParseOptions{});
  check(out, {"", "", {{"unknown_tool", R"({"n":"5"})"}}}, with_tools());
}

TEST(LongCatTagFormat, ParallelCallsNoArgsAndJsonForm) {
  const std::string out =
      "<longcat_tool_call>noargs\n</longcat_tool_call>\n"
      "<longcat_tool_call>search\n<longcat_arg_key>limit</longcat_arg_key>\n<longcat_arg_value>3</longcat_arg_value>\n"
      "</longcat_tool_call>\n"
      "<longcat_tool_call>\n{\"name\": \"search\", \"arguments\": {\"limit\": 4}}\n</longcat_tool_call></longcat_s>";
  check(out, {"", "", {{"noargs", "{}"}, {"search", R"({"limit":3})"}, {"search", R"({"limit": 4})"}}}, with_tools());
}

TEST(LongCatTagFormat, MalformedCallsStayContent) {
  const ChatParseOptions o = with_tools();
  for (const std::string bad : {
           "<longcat_tool_call>two words\n</longcat_tool_call>",
           "<longcat_tool_call>\n</longcat_tool_call>",
           "<longcat_tool_call>search\n<longcat_arg_key>limit</longcat_arg_key>\n</longcat_tool_call>",
           "<longcat_tool_call>search<longcat_arg_value>1</longcat_arg_value></longcat_tool_call>",
           "<longcat_tool_call>search<longcat_arg_key>a</longcat_arg_key>junk<longcat_arg_value>1"
           "</longcat_arg_value></longcat_tool_call>",
           "<longcat_tool_call>search<longcat_arg_key>a</longcat_arg_key><longcat_arg_value>1</longcat_tool_call>",
           "<longcat_tool_call>search<longcat_arg_key></longcat_arg_key><longcat_arg_value>1</longcat_arg_value>"
           "</longcat_tool_call>",
           "<longcat_tool_call>{\"name\": \"search\", \"arguments\": [1]}</longcat_tool_call>",
       })
    check(bad, {bad, "", {}}, o);
  // Unterminated call at the end of the reply: content, verbatim.
  const std::string cut = "ok<longcat_tool_call>search\n<longcat_arg_key>q</longcat_arg_key>\n<longcat_arg_va";
  check(cut, {cut, "", {}}, o);
}

TEST(LongCatTagFormat, KeyValueCallsStreamPairByPair) {
  // Each pair goes out when it closes: the call (id + name) with the first, nothing before it.
  auto p = moecat::make_chat_output_parser(ChatFamily::kLongCat, with_tools());
  ChatDelta d = p->feed("Sure.<longcat_tool_call>search\n<longcat_arg_key>limit</longcat_arg_key>\n<longcat_arg_value>1");
  EXPECT_EQ(d.content, "Sure.");
  EXPECT_TRUE(d.tool_calls.empty());
  d = p->feed("0</longcat_arg_value>\n<longcat_arg_key>topic</longcat_arg_key><longcat_arg_value>gar");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].name, "search");
  EXPECT_FALSE(d.tool_calls[0].id.empty());
  EXPECT_EQ(d.tool_calls[0].arguments, R"({"limit":10)");
  d = p->feed("den hose</longcat_arg_value>\n");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_TRUE(d.tool_calls[0].name.empty());
  EXPECT_EQ(d.tool_calls[0].arguments, R"(,"topic":"garden hose")");
  d = p->feed("</longcat_tool_call></longcat_s>");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].arguments, "}");
  d = p->finish();
  EXPECT_TRUE(d.tool_calls.empty() && d.content.empty());
}

TEST(LongCatTagFormat, KeyValueCallBrokenAfterItsFirstPairKeepsThePairs) {
  // Once a pair went out the call is a call: a break in the syntax (or a repeated key) ends its
  // arguments, in every split; a call cut off by the end of the reply closes there.
  const ChatParseOptions o = with_tools();
  const std::string pair = "<longcat_tool_call>search<longcat_arg_key>limit</longcat_arg_key><longcat_arg_value>3"
                           "</longcat_arg_value>";
  check(pair + "junk<longcat_arg_key>topic</longcat_arg_key><longcat_arg_value>x</longcat_arg_value>"
               "</longcat_tool_call>after",
        {"after", "", {{"search", R"({"limit":3})"}}}, o);
  check(pair + "<longcat_arg_key>limit</longcat_arg_key><longcat_arg_value>4</longcat_arg_value></longcat_tool_call>",
        {"", "", {{"search", R"({"limit":3})"}}}, o);
  check(pair + "<longcat_arg_key>topic</longcat_arg_key><longcat_arg_va", {"", "", {{"search", R"({"limit":3})"}}}, o);
}

TEST(LongCatTagFormat, ToolsOffLeavesSyntaxAsContent) {
  ChatParseOptions o = with_tools();
  o.parse_tools = false;
  const std::string out =
      "<longcat_tool_call>noargs\n</longcat_tool_call>";
  check(out, {out, "", {}}, o);
}

TEST(LongCatTagFormat, ParseCallDirectly) {
  const json t = tools();
  auto c = moecat::chat::parse_longcat_call(
      "search<longcat_arg_key>safe</longcat_arg_key><longcat_arg_value>false</longcat_arg_value>", t);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "search");
  EXPECT_EQ(c->arguments, R"({"safe":false})");
  // Deep nesting in a typed value is refused by the bounded parser and stays a string.
  std::string deep(5000, '[');
  c = moecat::chat::parse_longcat_call(
      "search<longcat_arg_key>filters</longcat_arg_key><longcat_arg_value>" + deep + "</longcat_arg_value>", t);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->arguments, "{\"filters\":\"" + deep + "\"}");
}

TEST(LongCatThinking, ReasoningInBothFormats) {
  ChatParseOptions o;
  // Flash-Thinking round format: the model opens the block itself.
  check("<longcat_think>\nhmm\n</longcat_think>\nThe answer.</longcat_s>", {"The answer.", "hmm", {}}, o);
  // Thinking-2601 tag format: the prompt ends with "<longcat_think>\n".
  o.starts_in_reasoning = true;
  check("The user wants a check.\n</longcat_think>\nVerified: 2 and 4.</longcat_s>",
        {"Verified: 2 and 4.", "The user wants a check.", {}}, o);
  o.parse_reasoning = false;
  o.starts_in_reasoning = false;
  check("<longcat_think>x</longcat_think>y", {"<longcat_think>x</longcat_think>y", "", {}}, o);
}

TEST(LongCatPrompt, GenerationPromptOpensReasoning) {
  EXPECT_TRUE(moecat::prompt_opens_reasoning("<longcat_user>Check again? /think_on <longcat_assistant><longcat_think>\n"));
  EXPECT_TRUE(moecat::prompt_opens_reasoning("x<longcat_think>"));
  EXPECT_FALSE(moecat::prompt_opens_reasoning("<longcat_user>hi<longcat_assistant>"));
  EXPECT_FALSE(moecat::prompt_opens_reasoning("[Round 0] USER:hi ASSISTANT:"));
  EXPECT_TRUE(moecat::prompt_opens_reasoning("<|im_start|>assistant\n<think>\n"));
}

TEST(LongCatPrompt, TagFormatDetectedAsLongCat) {
  // The markers of the tag format (Thinking-2601 trajectory / Flash-Lite), with any arch.
  const char* tmpl =
      "{{ '<longcat_tool_declare>' }}{% for m in messages %}{{ '<longcat_user>' + m.content }}{% endfor %}"
      "{{ '<longcat_assistant>' }}";
  EXPECT_EQ(moecat::detect_chat_family("", tmpl), ChatFamily::kLongCat);
  EXPECT_EQ(moecat::detect_chat_family("llama", "<longcat_tool_call>{{ name }}<longcat_arg_key>"), ChatFamily::kLongCat);
  EXPECT_EQ(moecat::detect_chat_family("longcat-flash", ""), ChatFamily::kLongCat);
}

TEST(LongCatPreTokenizer, NamedAndSplits) {
  auto r = moecat::NamedPreRegexes("longcat-flash");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(moecat::PreNameForRegexes(r), "longcat-flash");
  EXPECT_EQ(moecat::NamedPreRegexes("longcat"), r);
  std::vector<moecat::SplitStep> steps;
  for (auto& x : r) steps.push_back({x});
  auto pt = moecat::PreTokenizer::Create(std::move(steps));
  ASSERT_TRUE(pt.ok());
  std::vector<std::string> pieces;
  // Hand-derived: step 1 (Qwen2 pattern) gives "Hello", " world", "123" as single digits, the
  // CJK run with its leading space; step 2 isolates the full-width punctuation; step 3 keeps
  // CJK runs together (and cuts them from a leading space).
  (*pt)->Split("Hello world123 你好，世界。I'm", pieces);
  std::vector<std::string> want = {"Hello", " world", "1", "2", "3", " ", "你好", "，", "世界", "。", "I", "'m"};
  EXPECT_EQ(pieces, want);
}
