// Tool calls under tool_choice "auto" (serve/grammar/lazy_call.cpp): free text stays free, and
// every call a generation opens - by the special call-open token or with the tag spelled out in
// text tokens - is read back by the Qwen3 output parser (independent code) as a call to one of
// the tools with arguments that parse and validate under that tool's schema (validate_json).
// Random walks over a small vocabulary with tokens that would cross the tag's end (held back),
// plus hand-written sequences accepted and refused.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "serve/chat/chat_format.h"
#include "serve/grammar/json_constraint.h"

namespace moecat {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr int32_t kEog = 256, kOpen = 257;  // kOpen: "<tool_call>" as one special token
const char* kMulti[] = {"call>", "call>\n", "x<tool_call>{", "<tool", "hose", " the", "\"}}\n", "}}\n", "\": {\""};

struct Vocab {
  std::vector<std::string> text;  // what each id reads as
  std::shared_ptr<const ConstraintIndex> ix;
  Vocab() {
    ConstraintVocab v;
    for (int i = 0; i < 256; ++i) v.bytes.push_back(std::string(1, char(i)));
    v.bytes.push_back("");  // EOG
    v.bytes.push_back("");  // special: no bytes for the JSON recogniser
    text = v.bytes;
    text[kOpen] = "<tool_call>";
    for (const char* s : kMulti) {
      v.bytes.push_back(s);
      text.push_back(s);
    }
    v.special.assign(v.bytes.size(), 0);
    v.special[kEog] = v.special[kOpen] = 1;
    v.eog = {kEog};
    ix = build_constraint_index(v);
  }
  int32_t id(const std::string& s) const {
    for (size_t i = 258; i < text.size(); ++i)
      if (text[i] == s) return (int32_t)i;
    return -1;
  }
  std::vector<int32_t> encode(const std::string& s) const {  // bytes, the open tag as its token
    std::vector<int32_t> out;
    for (size_t i = 0; i < s.size();) {
      if (s.compare(i, 11, "<tool_call>") == 0) {
        out.push_back(kOpen);
        i += 11;
      } else {
        out.push_back((unsigned char)s[i++]);
      }
    }
    return out;
  }
};

const json& Tools() {
  static const json t = json::parse(R"([
    {"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object",
      "properties": {"order_id": {"type": "string", "maxLength": 12}}, "required": ["order_id"]}}},
    {"type": "function", "function": {"name": "start_return", "parameters": {"type": "object",
      "properties": {"order_id": {"type": "string", "maxLength": 12},
                     "reason": {"enum": ["damaged", "wrong size", "other"]},
                     "count": {"type": "integer", "minimum": 1, "maximum": 9}},
      "required": ["order_id", "reason"]}}}])");
  return t;
}

// Qwen3's call syntax. kBody, as ChatPrompt::lazy_call gives it: the whole body one JSON value
// (name a const per tool) between a "\n" lead and tail matched byte by byte, then the close tag.
// kLead: each tool's text up to its arguments as fixed tokens, then the arguments (the form
// DeepSeek's and Mistral's calls use), then "}\n</tool_call>".
enum Form { kBody, kLead };

std::unique_ptr<JsonConstraint> Make(const Vocab& v, std::shared_ptr<const TriggerTable> table, Form form = kBody) {
  if (form == kBody) {
    json bodies = json::array();
    for (const auto& t : Tools())
      bodies.push_back({{"type", "object"},
                        {"properties", {{"name", {{"const", t["function"]["name"]}}}, {"arguments", t["function"]["parameters"]}}},
                        {"required", {"name", "arguments"}},
                        {"x-moecat-key-order", {"name", "arguments"}}});
    const json any = {{"anyOf", bodies}};
    auto start = [&v, any]() -> std::unique_ptr<JsonConstraint> {
      auto c = JsonConstraint::Create(v.ix, any, "\n", "\n");
      return c.ok() ? std::move(*c) : nullptr;
    };
    return make_lazy_call_constraint(std::move(table), start, v.encode("</tool_call>"));
  }
  std::vector<std::vector<int32_t>> lead;
  std::vector<json> schema;
  for (const auto& t : Tools()) {
    const std::string name = t["function"]["name"];
    lead.push_back(v.encode("\n{\"name\": \"" + name + "\", \"arguments\": "));
    schema.push_back(t["function"]["parameters"]);
  }
  auto start = [&v, lead, schema]() -> std::unique_ptr<JsonConstraint> {
    std::vector<std::unique_ptr<JsonConstraint>> then;
    for (const json& s : schema) {
      auto c = JsonConstraint::Create(v.ix, s);
      if (!c.ok()) return nullptr;
      then.push_back(std::move(*c));
    }
    return make_choice_constraint((int64_t)v.text.size(), lead, std::move(then));
  };
  return make_lazy_call_constraint(std::move(table), start, v.encode("}\n</tool_call>"));
}

std::shared_ptr<const TriggerTable> Table(const Vocab& v, int32_t hide = -1) {
  return build_trigger_table("<tool_call>", (int64_t)v.text.size(),
                             [&v, hide](int32_t id) { return id == hide ? std::string() : v.text[id]; });
}

struct Call {
  std::string name, args;
};

// The calls the family's output parser (independent code) reads in text.
std::vector<Call> Parse(const std::string& text, ChatFamily family = ChatFamily::kQwen3) {
  ChatParseOptions opt;
  opt.tools = ojson::parse(Tools().dump());
  auto p = make_chat_output_parser(family, opt);
  std::vector<Call> calls;
  auto take = [&](const ChatDelta& d) {
    for (const ToolCallDelta& t : d.tool_calls) {
      if (t.index >= (int)calls.size()) calls.resize(t.index + 1);
      calls[t.index].name += t.name;
      calls[t.index].args += t.arguments;
    }
  };
  take(p->feed(text));
  take(p->finish());
  return calls;
}

// A call to one of the tools, with arguments that validate under its schema.
void CheckCall(const Call& call, const std::string& where) {
  const json* schema = nullptr;
  for (const auto& t : Tools())
    if (t["function"]["name"] == call.name) schema = &t["function"]["parameters"];
  ASSERT_TRUE(schema) << where << ": tool " << call.name;
  json a = json::parse(call.args, nullptr, false);
  ASSERT_TRUE(a.is_object()) << where << ": " << call.args;
  Status s = validate_json(*schema, a);
  EXPECT_TRUE(s.ok()) << where << ": " << call.args << ": " << s.message();
}

TEST(LazyCall, RandomWalksGiveValidCalls) {
  Vocab v;
  auto table = Table(v);
  const std::string spelled = "<tool_call>";
  std::vector<int32_t> palette;  // what the free text draws from
  for (char c : std::string("abc <_>tolx\n")) palette.push_back((unsigned char)c);
  for (const char* s : kMulti) palette.push_back(v.id(s));
  palette.push_back(kOpen);
  int total_calls = 0, spelled_calls = 0, spanning = 0;
  for (int seed = 0; seed < 160; ++seed) {
    std::mt19937 rng(seed);
    const Form form = seed % 2 ? kLead : kBody;
    const std::string where = "seed " + std::to_string(seed) + (form == kBody ? " body" : " lead");
    const int64_t budget = seed % 8 < 2 ? 60 + seed : 600;
    auto c = Make(v, table, form);
    ASSERT_TRUE(c);
    std::string text;
    std::vector<uint8_t> mask;
    int opened = 0;
    for (int64_t n = 0; n < budget; ++n) {
      const bool was_free = c->free_text();
      if (c->masks()) {
        c->allowed(mask, budget - n);
      } else {
        mask.assign(v.text.size(), 1);
      }
      std::vector<int32_t> ok;
      if (was_free) {
        // Free: EOG at times; the tag spelled on when its start is there; else the palette.
        if (n > 20 && rng() % 16 == 0) break;
        size_t p = 0;
        for (size_t k = std::min(text.size(), spelled.size() - 1); k >= 1 && !p; --k)
          if (text.compare(text.size() - k, k, spelled, 0, k) == 0) p = k;
        if (p && rng() % 4) {
          ok.push_back((unsigned char)spelled[p]);
          if (spelled.compare(p, std::string::npos, "call>") == 0) ok = {v.id("call>"), v.id("call>\n")};
        } else {
          ok = palette;
        }
        std::vector<int32_t> keep;
        for (int32_t t : ok)
          if (mask[t]) keep.push_back(t);
        ok = keep;
      } else {
        ASSERT_FALSE(mask[kEog] && !c->complete()) << where << ": end of generation inside a call";
        for (size_t i = 0; i < mask.size(); ++i)
          if (mask[i]) ok.push_back((int32_t)i);
      }
      ASSERT_FALSE(ok.empty()) << where << " after " << text;
      const int32_t t = ok[std::uniform_int_distribution<size_t>(0, ok.size() - 1)(rng)];
      ASSERT_TRUE(c->accept(t)) << where;
      text += v.text[t];
      if (!was_free && (t == v.id("\"}}\n") || t == v.id("}}\n") || t == v.id("\": {\""))) ++spanning;
      if (was_free && !c->free_text()) {
        ++opened;
        if (t != kOpen) ++spelled_calls;
      }
    }
    if (!c->free_text()) {  // cut by the budget inside a call: finish it as the budget logic would
      for (int guard = 0; !c->free_text() && guard < 400; ++guard) {
        c->allowed(mask, 1);
        int32_t t = -1;
        for (size_t i = 0; i < mask.size() && t < 0; ++i)
          if (mask[i]) t = (int32_t)i;
        ASSERT_GE(t, 0) << where;
        ASSERT_TRUE(c->accept(t)) << where;
        text += v.text[t];
      }
      ASSERT_TRUE(c->free_text()) << where;
    }
    const std::vector<Call> calls = Parse(text);
    ASSERT_EQ((int)calls.size(), opened) << where << ": " << text;
    for (const Call& call : calls) CheckCall(call, where);
    total_calls += opened;
  }
  std::printf("%d calls, %d opened with the tag spelled out, %d tokens across the JSON's edges\n", total_calls,
              spelled_calls, spanning);
  EXPECT_GT(total_calls, 80);   // the walks did open calls,
  EXPECT_GT(spelled_calls, 10);  // some with the tag spelled out in text tokens,
  EXPECT_GT(spanning, 5);        // and tokens like "}}\n" across the JSON's own edges
}

// gpt-oss's form (ChatPrompt::lazy_call): the trigger is the recipient "to=functions." in a
// harmony header, each tool's choice is its name + " <|constrain|>json<|message|>", the close is
// <|call|> (an end-of-generation token). Random walks after the header, read back by the harmony
// parser: one call per walk, to one of the tools, with valid arguments.
TEST(LazyCall, HarmonyHeaderCalls) {
  const char* kSpecial[] = {"<|channel|>", "<|constrain|>", "<|message|>", "<|call|>"};
  ConstraintVocab cv;
  std::vector<std::string> text;
  for (int i = 0; i < 256; ++i) cv.bytes.push_back(std::string(1, char(i)));
  text = cv.bytes;
  for (const char* sp : kSpecial) {
    cv.bytes.push_back("");
    text.push_back(sp);
  }
  for (const char* m : {"commentary", " json", "\"}", "{\"", ".get"}) {
    cv.bytes.push_back(m);
    text.push_back(m);
  }
  const int32_t kCall = 259;
  cv.special.assign(cv.bytes.size(), 0);
  for (int32_t i = 256; i < 260; ++i) cv.special[i] = 1;
  cv.eog = {kCall};
  auto ix = build_constraint_index(cv);
  auto encode = [&](const std::string& s) {
    std::vector<int32_t> out;
    for (size_t i = 0; i < s.size();) {
      int32_t sp = -1;
      for (int k = 0; k < 4 && sp < 0; ++k)
        if (s.compare(i, std::string(kSpecial[k]).size(), kSpecial[k]) == 0) sp = 256 + k;
      if (sp >= 0) {
        out.push_back(sp);
        i += std::string(kSpecial[sp - 256]).size();
      } else {
        out.push_back((unsigned char)s[i++]);
      }
    }
    return out;
  };
  auto table = build_trigger_table("to=functions.", (int64_t)text.size(), [&](int32_t id) { return text[id]; });
  std::vector<std::vector<int32_t>> lead;
  std::vector<json> schema;
  for (const auto& t : Tools()) {
    lead.push_back(encode(t["function"]["name"].get<std::string>() + " <|constrain|>json<|message|>"));
    schema.push_back(t["function"]["parameters"]);
  }
  auto start = [&]() -> std::unique_ptr<JsonConstraint> {
    std::vector<std::unique_ptr<JsonConstraint>> then;
    for (const json& sc : schema) then.push_back(std::move(*JsonConstraint::Create(ix, sc)));
    return make_choice_constraint((int64_t)text.size(), lead, std::move(then));
  };
  int calls = 0;
  for (int seed = 0; seed < 40; ++seed) {
    std::mt19937 rng(seed);
    auto c = make_lazy_call_constraint(table, start, {kCall});
    ASSERT_TRUE(c);
    std::string out;
    std::vector<uint8_t> mask;
    for (int32_t t : encode("<|channel|>commentary to=functions")) {
      ASSERT_TRUE(c->accept(t));
      out += text[t];
    }
    c->allowed(mask, 500);  // ".get" would run past the recipient's "." into the name: held back
    EXPECT_EQ(mask[text.size() - 1], 0);
    ASSERT_TRUE(c->accept('.'));
    out += ".";
    ASSERT_FALSE(c->free_text());
    for (int n = 0; n < 600 && !c->free_text(); ++n) {
      c->allowed(mask, 500 - n);
      std::vector<int32_t> ok;
      for (size_t i = 0; i < mask.size(); ++i)
        if (mask[i]) ok.push_back((int32_t)i);
      ASSERT_FALSE(ok.empty()) << out;
      const int32_t t = ok[rng() % ok.size()];
      ASSERT_TRUE(c->accept(t));
      out += text[t];
    }
    ASSERT_TRUE(c->free_text()) << out;
    ASSERT_EQ(out.substr(out.size() - 8), "<|call|>") << out;
    const std::vector<Call> got = Parse(out, ChatFamily::kGptOss);
    ASSERT_EQ(got.size(), 1u) << out;
    CheckCall(got[0], out);
    ++calls;
  }
  EXPECT_EQ(calls, 40);
}

// Llama 3's form (make_anchored_call_constraint): the reply is a call when its first text opens
// the JSON body {"name": .., "parameters": {..}}, else free text. Random walks from the start:
// the Llama 3 parser (independent code) reads either one valid call or plain content; the call
// ends the reply.
TEST(LazyCall, AnchoredLlama3Calls) {
  Vocab v;
  auto table = build_trigger_table("{", (int64_t)v.text.size(), [&v](int32_t id) { return v.text[id]; });
  json bodies = json::array();
  for (const auto& t : Tools())
    bodies.push_back({{"type", "object"},
                      {"properties", {{"name", {{"const", t["function"]["name"]}}}, {"parameters", t["function"]["parameters"]}}},
                      {"required", {"name", "parameters"}},
                      {"x-moecat-key-order", {"name", "parameters"}}});
  int calls = 0, texts = 0;
  for (int seed = 0; seed < 60; ++seed) {
    std::mt19937 rng(seed);
    auto call = JsonConstraint::Create(v.ix, json{{"anyOf", bodies}});
    ASSERT_TRUE(call.ok());
    auto c = make_anchored_call_constraint(table, std::move(*call), {kEog});
    ASSERT_TRUE(c);
    std::string out;
    std::vector<uint8_t> mask;
    for (int n = 0; n < 400; ++n) {
      c->allowed(mask, 400 - n);
      std::vector<int32_t> ok;
      for (size_t i = 0; i < mask.size(); ++i)
        if (mask[i] && (i < 128 || i >= 258)) ok.push_back((int32_t)i);  // ASCII text, the multi-byte tokens
      bool only_end = true;
      for (size_t i = 0; i < mask.size(); ++i) only_end = only_end && (!mask[i] || (int32_t)i == kEog);
      if (only_end) break;                                      // the call is closed: the reply ends
      if (c->free_text() && n > 10 && rng() % 8 == 0) break;    // a text reply ends at times
      if (n == 0 && seed % 2 == 0) ok = {'{'};  // half the walks open a call
      ASSERT_FALSE(ok.empty()) << out;
      const int32_t t = ok[rng() % ok.size()];
      ASSERT_TRUE(c->accept(t)) << out;
      out += v.text[t];
    }
    const std::vector<Call> got = Parse(out, ChatFamily::kLlama3);
    const size_t first = out.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && out[first] == '{') {
      ASSERT_EQ(got.size(), 1u) << out;
      CheckCall(got[0], out);
      ++calls;
    } else {
      EXPECT_TRUE(got.empty()) << out;
      ++texts;
    }
  }
  EXPECT_GE(calls, 25);
  EXPECT_GE(texts, 10);
}

TEST(LazyCall, HandWrittenSequences) {
  Vocab v;
  auto table = Table(v);
  auto feed = [&](JsonConstraint& c, const std::vector<int32_t>& ids) {
    for (int32_t t : ids)
      if (!c.accept(t)) return false;
    return true;
  };
  std::vector<uint8_t> mask;
  {  // free text, a call by the special token, its close forced, free text, the end
    auto c = Make(v, table);
    EXPECT_TRUE(c->free_text());
    ASSERT_TRUE(feed(*c, v.encode("Let me check.\n<tool_call>")));
    EXPECT_FALSE(c->free_text());
    c->allowed(mask, 100);
    EXPECT_EQ(mask['\n'], 1);
    EXPECT_EQ(mask['x'], 0);
    EXPECT_EQ(mask[kEog], 0);
    EXPECT_FALSE(feed(*c, v.encode("\n{\"name\": \"cancel_order\"")));
  }
  for (Form form : {kBody, kLead}) {
    auto c = Make(v, table, form);
    ASSERT_TRUE(feed(*c, v.encode("<tool_call>\n{\"name\": \"lookup_order\", \"arguments\": {\"order_id\": \"A1\"}")));
    EXPECT_FALSE(c->free_text());
    if (form == kBody) {
      ASSERT_TRUE(feed(*c, v.encode("}\n")));  // the JSON's own close, then its tail
    }
    for (int32_t t : v.encode(form == kBody ? "</tool_call>" : "}\n</tool_call>")) {  // the close, one token at a time
      c->allowed(mask, 100);
      for (size_t i = 0; i < mask.size(); ++i) ASSERT_EQ(mask[i] != 0, (int32_t)i == t) << i;
      ASSERT_TRUE(c->accept(t));
    }
    EXPECT_TRUE(c->free_text());
    EXPECT_TRUE(c->complete());
    c->allowed(mask, 100);
    EXPECT_EQ(mask[kEog], 1);
    ASSERT_TRUE(feed(*c, v.encode("\n<tool_call>")));  // a second call may follow
    EXPECT_FALSE(c->free_text());
  }
  for (Form form : {kBody, kLead}) {  // arguments that break the schema: a missing required key, a wrong enum value
    auto c = Make(v, table, form);
    ASSERT_TRUE(feed(*c, v.encode("<tool_call>\n{\"name\": \"start_return\", \"arguments\": {\"order_id\": \"A1\"")));
    EXPECT_FALSE(feed(*c, v.encode("}")));
    auto d = Make(v, table, form);
    EXPECT_FALSE(feed(*d, v.encode("<tool_call>\n{\"name\": \"start_return\", \"arguments\": {\"reason\": \"late\"")));
  }
  {  // parallel_tool_calls false: after the one call's close only the end of generation
    auto one = [&]() -> std::unique_ptr<JsonConstraint> {
      json bodies = json::array();
      for (const auto& t : Tools())
        bodies.push_back({{"type", "object"},
                          {"properties", {{"name", {{"const", t["function"]["name"]}}}, {"arguments", t["function"]["parameters"]}}},
                          {"required", {"name", "arguments"}}});
      return std::move(*JsonConstraint::Create(v.ix, json{{"anyOf", bodies}}, "\n", "\n"));
    };
    auto c = make_lazy_call_constraint(table, one, v.encode("</tool_call>"), {kEog});
    ASSERT_TRUE(feed(*c, v.encode("<tool_call>\n{\"name\": \"lookup_order\", \"arguments\": {\"order_id\": \"A1\"}}\n</tool_call>")));
    ASSERT_TRUE(c->masks());
    c->allowed(mask, 100);
    for (size_t i = 0; i < mask.size(); ++i) EXPECT_EQ(mask[i] != 0, (int32_t)i == kEog) << i;
    EXPECT_FALSE(c->accept(kOpen));
    EXPECT_FALSE(c->accept('\n'));
  }
  {  // the tag spelled in text tokens; one that would cross its end is held back
    auto c = Make(v, table);
    ASSERT_TRUE(feed(*c, v.encode("ok <tool_")));
    ASSERT_TRUE(c->masks());
    c->allowed(mask, 100);
    EXPECT_EQ(mask[v.id("call>\n")], 0);
    EXPECT_EQ(mask[v.id("call>")], 1);
    EXPECT_FALSE(c->accept(v.id("call>\n")));
    ASSERT_TRUE(c->accept(v.id("call>")));
    EXPECT_FALSE(c->free_text());
  }
  {  // a token holding the whole tag with more after it is held back while free
    auto c = Make(v, table);
    c->allowed(mask, 100);
    EXPECT_EQ(mask[v.id("x<tool_call>{")], 0);
    EXPECT_FALSE(c->accept(v.id("x<tool_call>{")));
    EXPECT_EQ(mask[v.id("<tool")], 1);
    EXPECT_EQ(mask[kEog], 1);
  }
  {  // without such a token, free text needs no mask at all until the tag's start appears
    auto c = Make(v, Table(v, v.id("x<tool_call>{")));
    EXPECT_FALSE(c->masks());
    ASSERT_TRUE(feed(*c, v.encode("see <tool_")));
    EXPECT_TRUE(c->masks());  // "call>\n" would cross the tag's end
    ASSERT_TRUE(feed(*c, v.encode("x")));
    EXPECT_FALSE(c->masks());
  }
}

}  // namespace
}  // namespace moecat
