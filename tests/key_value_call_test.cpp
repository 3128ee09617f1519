// The forced key/value tool call (LongCat's tag format, serve/grammar/key_value_call.cpp): what
// it lets a generation write is read back by the LongCat output parser (independent code) as a
// call whose arguments carry every required property, no key twice, and values valid under
// their schemas (validate_json); on a byte vocabulary (tags spelled out) and on one where the
// tags are single special tokens, as in LongCat's own vocabulary; random walks with loose and
// tight token budgets; hand-written sequences accepted and refused.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "serve/chat/parsers.h"
#include "serve/grammar/json_constraint.h"

namespace moecat {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

const char* kTags[] = {"<longcat_arg_key>", "</longcat_arg_key>", "<longcat_arg_value>", "</longcat_arg_value>",
                       "</longcat_tool_call>"};

// ids 0..255 bytes, 256 EOG, then (with_tags) one special token per tag, and a few multi-byte
// tokens (one with '<' inside, one a cut UTF-8 character).
struct Vocab {
  bool tags = false;
  std::vector<std::string> text;  // what each id reads as
  std::shared_ptr<const ConstraintIndex> ix;

  explicit Vocab(bool with_tags) : tags(with_tags) {
    ConstraintVocab v;
    for (int i = 0; i < 256; ++i) v.bytes.push_back(std::string(1, char(i)));
    v.bytes.push_back("");  // 256: EOG
    text = v.bytes;
    if (tags)
      for (const char* t : kTags) {
        v.bytes.push_back("");  // special: no bytes of its own for the JSON recogniser
        text.push_back(t);
      }
    for (const char* s : {"hose", "12", "a<b", "\xc3", "\xc3\xa9t\xc3\xa9"}) {
      v.bytes.push_back(s);
      text.push_back(s);
    }
    v.special.assign(v.bytes.size(), 0);
    v.special[256] = 1;
    if (tags)
      for (size_t i = 257; i < 257 + 5; ++i) v.special[i] = 1;
    v.eog = {256};
    ix = build_constraint_index(v);
  }

  std::vector<int32_t> encode(const std::string& s) const {
    std::vector<int32_t> out;
    for (size_t i = 0; i < s.size();) {
      bool tag = false;
      if (tags)
        for (int k = 0; k < 5; ++k)
          if (s.compare(i, std::string(kTags[k]).size(), kTags[k]) == 0) {
            out.push_back(257 + k);
            i += std::string(kTags[k]).size();
            tag = true;
            break;
          }
      if (!tag) out.push_back((unsigned char)s[i++]);
    }
    return out;
  }
};

json Params() {
  return json::parse(R"({"type": "object", "properties": {
      "order_id": {"type": "string"},
      "count": {"type": "integer", "minimum": 1, "maximum": 99},
      "express": {"type": "boolean"},
      "tags": {"type": "array", "items": {"type": "string", "maxLength": 4}, "maxItems": 2},
      "note": {"type": ["string", "null"]}},
    "required": ["order_id", "count"]})");
}

std::unique_ptr<JsonConstraint> Make(const Vocab& v, const json& params) {
  auto c = make_key_value_call_constraint(v.ix, params, [&v](const std::string& s) { return v.encode(s); });
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? std::move(*c) : nullptr;
}

// The call's text after the name line, token by token, as the parser will read it.
std::optional<moecat::chat::ParsedCall> Parse(const Vocab& v, const std::vector<int32_t>& ids) {
  std::string body = "lookup_order\n";
  for (int32_t t : ids) body += v.text[t];
  const std::string close = "</longcat_tool_call>";
  EXPECT_GE(body.size(), close.size());
  EXPECT_EQ(body.substr(body.size() - close.size()), close) << body;
  body.resize(body.size() - close.size());
  ojson tools = ojson::parse(R"([{"type": "function", "function": {"name": "lookup_order", "parameters": )" +
                             Params().dump() + "}}]");
  return moecat::chat::parse_longcat_call(body, tools);
}

void CheckArgs(const std::string& arguments, const std::string& where) {
  json a = json::parse(arguments, nullptr, false);
  ASSERT_TRUE(a.is_object()) << where << ": " << arguments;
  EXPECT_TRUE(a.contains("order_id") && a.contains("count")) << where << ": " << arguments;
  for (const auto& [k, val] : a.items()) {
    ASSERT_TRUE(Params()["properties"].contains(k)) << where << ": " << k;
    Status s = validate_json(Params()["properties"][k], val);
    EXPECT_TRUE(s.ok()) << where << ": " << k << " = " << val.dump() << ": " << s.message();
    if (val.is_string()) {
      EXPECT_EQ(val.get<std::string>().find('<'), std::string::npos) << where;
    }
  }
}

TEST(KeyValueCall, RandomWalksParseAndValidate) {
  for (bool tags : {false, true}) {
    Vocab v(tags);
    for (int seed = 0; seed < 60; ++seed) {
      std::mt19937 rng(seed);
      // Some budgets tight (a little over the shortest call: the two required pairs), some loose.
      const int64_t budget = seed % 3 == 0 ? (tags ? 45 : 230) + seed : (tags ? 500 : 1500);
      auto c = Make(v, Params());
      ASSERT_TRUE(c);
      std::vector<int32_t> ids;
      std::vector<uint8_t> mask;
      const std::string where = std::string(tags ? "tags" : "bytes") + " seed " + std::to_string(seed);
      while (!c->complete() && (int64_t)ids.size() < budget + 400) {
        c->allowed(mask, budget - (int64_t)ids.size());
        std::vector<int32_t> ok;
        for (size_t i = 0; i < mask.size(); ++i)
          if (mask[i]) ok.push_back((int32_t)i);
        ASSERT_FALSE(ok.empty()) << where;
        // Closing tokens get a fair chance so values do not always run to the budget.
        int32_t t = ok[std::uniform_int_distribution<size_t>(0, ok.size() - 1)(rng)];
        if (rng() % 8 == 0)
          for (int32_t x : ok)
            if (tags ? (x >= 257 && x < 262) : x == '<') t = x;
        ASSERT_TRUE(c->accept(t)) << where;
        ids.push_back(t);
      }
      ASSERT_TRUE(c->complete()) << where << " after " << ids.size() << " tokens";
      EXPECT_LE((int64_t)ids.size(), budget + 8) << where;  // the budget is kept (within a margin)
      // Complete: only the end of generation may follow.
      c->allowed(mask, 10);
      for (size_t i = 0; i < mask.size(); ++i) EXPECT_EQ(mask[i] != 0, i == 256) << where << " id " << i;
      auto call = Parse(v, ids);
      ASSERT_TRUE(call) << where;
      CheckArgs(call->arguments, where);
    }
  }
}

TEST(KeyValueCall, HandWrittenSequences) {
  Vocab v(false);
  auto feed = [&](JsonConstraint& c, const std::string& s) {
    for (int32_t t : v.encode(s))
      if (!c.accept(t)) return false;
    return true;
  };
  const std::string count = "<longcat_arg_key>count</longcat_arg_key>\n<longcat_arg_value>12</longcat_arg_value>\n";
  const std::string id = "<longcat_arg_key>order_id</longcat_arg_key>\n<longcat_arg_value>A 12345</longcat_arg_value>\n";
  {
    auto c = Make(v, Params());
    ASSERT_TRUE(feed(*c, count + id + "</longcat_tool_call>"));
    EXPECT_TRUE(c->complete());
  }
  {  // the end before every required key is there
    auto c = Make(v, Params());
    ASSERT_TRUE(feed(*c, count));
    EXPECT_FALSE(feed(*c, "</longcat_tool_call>"));
  }
  {  // a key twice
    auto c = Make(v, Params());
    ASSERT_TRUE(feed(*c, count));
    EXPECT_FALSE(feed(*c, count));
  }
  {  // a key the tool does not have; a typed value that does not match its schema
    auto c = Make(v, Params());
    EXPECT_FALSE(feed(*c, "<longcat_arg_key>colour</longcat_arg_key>"));
    auto d = Make(v, Params());
    EXPECT_FALSE(feed(*d, "<longcat_arg_key>count</longcat_arg_key>\n<longcat_arg_value>abc"));
    auto e = Make(v, Params());
    EXPECT_FALSE(feed(*e, "<longcat_arg_key>count</longcat_arg_key>\n<longcat_arg_value>100<"));
  }
  {  // a string value ends at '<' (the closing tag must follow)
    auto c = Make(v, Params());
    EXPECT_FALSE(feed(*c, "<longcat_arg_key>order_id</longcat_arg_key>\n<longcat_arg_value>a<b"));
  }
  {  // no properties: only the end
    auto c = Make(v, json::parse(R"({"type": "object", "properties": {}})"));
    std::vector<uint8_t> mask;
    c->allowed(mask, 100);
    EXPECT_EQ(mask['<'], 1);
    ASSERT_TRUE(feed(*c, "</longcat_tool_call>"));
    EXPECT_TRUE(c->complete());
  }
}

TEST(KeyValueCall, BadSchemasAreErrors) {
  Vocab v(true);
  auto enc = [&v](const std::string& s) { return v.encode(s); };
  EXPECT_FALSE(make_key_value_call_constraint(
                   v.ix, json::parse(R"({"type": "object", "properties": {"a<b": {"type": "string"}}})"), enc)
                   .ok());
  EXPECT_FALSE(make_key_value_call_constraint(
                   v.ix, json::parse(R"({"type": "object", "properties": {"a": {}}, "required": ["b"]})"), enc)
                   .ok());
  EXPECT_FALSE(make_key_value_call_constraint(nullptr, Params(), enc).ok());
}

}  // namespace
}  // namespace moecat
