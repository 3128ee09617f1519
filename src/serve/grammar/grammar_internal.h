// Internal pieces of the JSON constraint: the compiled schema (a graph of nodes), the byte-level
// pushdown recogniser over it, and helpers shared by schema.cpp, json_pda.cpp and constraint.cpp.
//
// Language accepted by the recogniser (documented restrictions, all stricter than RFC 8259 +
// the schema, so everything it accepts also passes validate_json):
//  - whitespace: no leading/trailing whitespace around the root value; at most kMaxWs (2)
//    whitespace bytes (space, \t, \n, \r) in each gap between tokens inside containers.
//  - object keys are written without escape sequences (raw UTF-8 only), so a key's bytes are
//    its value; property order is free for objects with <= 64 declared properties, declared
//    order for larger ones; each declared key at most once; "required" ones before '}'.
//  - enum/const values are written exactly as nlohmann's compact dump() of the value.
//  - anyOf/oneOf alternatives run in parallel (a set of threads); oneOf is treated as anyOf
//    (validate_json does the same). Siblings of anyOf/oneOf that constrain values are rejected
//    by check_json_schema; siblings of $ref are ignored (by both recogniser and validator).
//  - numbers: integer part <= 100 digits, exponent <= 2 digits (no overflow to inf). A schema
//    with minimum/maximum/exclusiveMinimum/exclusiveMaximum only generates integers in
//    [ceil(min), floor(max)] (clamped to int64), even for "number".
//  - containers nest at most kMaxDepth deep.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace moecat::grammar {

enum : uint32_t { T_NULL = 1, T_BOOL = 2, T_INT = 4, T_NUM = 8, T_STR = 16, T_ARR = 32, T_OBJ = 64,
                  T_ALL = 127 };
constexpr int64_t kInf = INT64_MAX / 8;
constexpr int kMaxWs = 2;
constexpr int kMaxDepth = 512;
constexpr uint32_t kMaxIntDigits = 100;
constexpr uint32_t kMaxExpDigits = 2;
constexpr int32_t kAnyNode = 0;    // any JSON value
constexpr int32_t kFalseNode = 1;  // no value

// Trie of the literal byte strings an enum/const (or true/false/null) may take.
struct LitNode {
  std::vector<std::pair<uint8_t, int32_t>> kids;  // sorted by byte
  bool term = false;
  int64_t minrest = kInf;  // bytes to the nearest terminal
  int32_t best = -1;       // child on that shortest path (-1: this node is terminal)
};

// Trie of an object's declared keys (raw bytes).
struct KeyNode {
  std::vector<std::pair<uint8_t, int32_t>> kids;
  int32_t key = -1;             // property index ending here
  uint32_t depth = 0;           // bytes from the root
  uint64_t mask = 0;            // free-order objects: bit k for each key k in the subtree
  std::vector<int32_t> keys;    // sorted key indices in the subtree
};

struct Prop {
  std::string name;
  int32_t node = 0;
  bool required = false;
  bool writable = true;  // expressible without escapes (valid UTF-8, no '"', '\\', controls)
  int64_t cost = kInf;   // len("\"name\":") + minlen(node)
};

struct Node {
  bool is_union = false;
  std::vector<int32_t> raw_alts;  // union: alternatives as compiled (may be unions)
  std::vector<int32_t> alts;      // union: flattened leaf alternatives
  uint32_t types = 0;
  int32_t lit = -1;  // >= 0: the value is one of the literals in this trie (enum/const)
  // string
  uint32_t min_len = 0, max_len = UINT32_MAX;
  // number
  bool bounded = false;
  int64_t lo = INT64_MIN, hi = INT64_MAX;
  // array
  std::vector<int32_t> prefix;
  int32_t items = kAnyNode;
  uint32_t min_items = 0, max_items = UINT32_MAX;
  std::vector<int64_t> tail;  // [min_items+1] tail[c] = sum_{i=c}^{min-1} (1 + minlen(item(i)))
  // object
  std::vector<Prop> props;  // effective (writable, satisfiable) declared properties
  int32_t addl = kAnyNode;  // -1: no other keys
  int32_t keyroot = -1;     // KeyNode root (-1: no declared keys)
  bool ordered = false;     // > 64 properties or keep_order: declared order
  bool keep_order = false;  // "x-moecat-key-order" given (moecat's keyword, tool-call bodies)
  uint64_t all_mask = 0;
  std::vector<int32_t> next_req;  // [props+1] first required index >= i (props.size(): none)
  int32_t req_n = 0;
  int64_t req_cost = 0;
  bool req_missing = false;  // a required key cannot be written
  // derived
  int64_t minlen = kInf;
  int32_t mindepth = 0;

  int32_t item(uint32_t i) const { return i < prefix.size() ? prefix[i] : items; }
};

struct Grammar {
  std::vector<Node> nodes;
  std::vector<LitNode> lits;
  std::vector<KeyNode> keys;
  int32_t root = 0;
  int32_t bool_lit = -1, null_lit = -1;
  // Literal bytes before and after the root value (a tool call's text around its JSON, so a
  // token may span the boundary, as the model's own tokens do: `"}}\n`, `": {"`).
  std::string lead, tail;

  int32_t lit_child(int32_t n, uint8_t b) const;
  int32_t key_child(int32_t n, uint8_t b) const;
  void min_string(int32_t node, std::string& out, int depth = 0) const;
};

// schema == nullptr: json_object mode (any object).
Result<std::shared_ptr<const Grammar>> compile_schema(const nlohmann::json* schema);

// validate.cpp: validation against a sub-schema, resolving $ref against root.
Status validate_in(const nlohmann::json& root, const nlohmann::json& schema,
                   const nlohmann::json& value);

// ---- recogniser state ----
enum : uint8_t { K_ROOT = 0, K_OBJ = 1, K_ARR = 2 };
enum : uint8_t { OBJ_START, OBJ_COLON, OBJ_IN, OBJ_NEXT, OBJ_COMMA, ARR_START, ARR_IN, ARR_NEXT };
// M_LEAD: matching Grammar::lead (cnt = its bytes matched). M_DONE: the root value is complete;
// cnt = bytes of Grammar::tail matched after it.
enum : uint8_t { M_VALUE, M_CONT, M_STRING, M_KEY, M_NUMBER, M_LIT, M_DONE, M_LEAD };

// The container being filled (inline in the thread; parents live in the frame arena).
struct Cont {
  int32_t node = -1;
  uint8_t kind = K_ROOT;
  uint8_t phase = 0;
  uint16_t pad0 = 0;
  uint32_t n = 0;       // members / items completed
  int32_t last = -1;    // ordered objects: last declared key index used
  int32_t vnode = -1;   // object: node of the value after the current key
  int32_t req_n = 0;    // required keys still missing
  uint64_t used = 0;    // free-order objects: declared keys used
  int64_t req_cost = 0; // sum of Prop::cost over missing required keys
};

// A saved parent container. suffix = bytes needed to close it and all its parents once the
// child being parsed is complete (so a thread's shortest completion is O(1) + its own part).
struct Frame {
  Cont c;
  int32_t parent;
  int32_t depth;
  int64_t suffix;
};

struct Thread {
  Cont c;
  int32_t saved = -1;  // arena index of the parent frame
  int32_t depth = 0;
  int32_t node = 0;    // leaf node of the value being lexed
  int32_t tn = -1;     // literal / key trie node
  uint32_t cnt = 0;    // string code points / integer digits
  uint32_t u = 0;      // \u accumulator
  uint64_t mag = 0;    // integer magnitude (saturating)
  uint8_t mode = M_VALUE, sub = 0, ws = 0, neg = 0, need = 0, lo = 0, hi = 0, aux = 0;
  bool operator==(const Thread& o) const;
};

// The recogniser proper: stateless rules over a grammar + a frame arena owned by the caller.
struct Pda {
  const Grammar* g;
  std::vector<Frame>* arena;

  // Appends the threads that follow t on byte b (none: b is not allowed).
  void step(Thread t, uint8_t b, std::vector<Thread>& out) const;
  // Threads for the start of a value of node (unions expand into one thread per leaf).
  void enter_value(const Thread& t, int32_t node, std::vector<Thread>& out) const;
  // Bytes of the shortest completion of t (appends it to *s when given).
  int64_t rest(const Thread& t, std::string* s) const;
  // Cost of finishing t's key now as an additional key (plain-token fast path bound).
  int64_t rest_as_additional_key(const Thread& t) const;
  bool complete(const Thread& t) const;
  bool extendable(const Thread& t) const;  // complete root number/literal that may continue
  int64_t after_child(const Cont& c, std::string* s) const;
};

// May declared key k come next in the object being filled?
inline bool key_allowed(const Cont& c, const Node& n, int32_t k) {
  if (!n.ordered) return !((c.used >> k) & 1);
  return k > c.last && k <= std::min<int32_t>(n.next_req[c.last + 1], int32_t(n.props.size()) - 1);
}
// Does the key-trie subtree at tn hold a key that may come next?
inline bool subtree_alive(const Grammar& g, const Cont& c, const Node& n, int32_t tn) {
  const KeyNode& kn = g.keys[tn];
  if (!n.ordered) return (kn.mask & ~c.used) != 0;
  auto it = std::lower_bound(kn.keys.begin(), kn.keys.end(), c.last + 1);
  return it != kn.keys.end() && key_allowed(c, n, *it);
}

// Bytes of the valid UTF-8 character at s[i] (1..4), or 0 when it is not one (a stray or
// overlong byte, a surrogate, beyond U+10FFFF, or cut by the end of s).
inline size_t utf8_char_len(const std::string& s, size_t i) {
  const uint8_t c = s[i];
  const int n = c < 0x80 ? 0 : (c >= 0xC2 && c <= 0xDF) ? 1 : (c >= 0xE0 && c <= 0xEF) ? 2 : (c >= 0xF0 && c <= 0xF4) ? 3 : -1;
  if (n < 0 || i + n >= s.size()) return 0;
  for (int j = 1; j <= n; ++j) {
    const uint8_t d = s[i + j];
    uint8_t lo = 0x80, hi = 0xBF;
    if (j == 1 && c == 0xE0) lo = 0xA0;
    if (j == 1 && c == 0xED) hi = 0x9F;
    if (j == 1 && c == 0xF0) lo = 0x90;
    if (j == 1 && c == 0xF4) hi = 0x8F;
    if (d < lo || d > hi) return 0;
  }
  return size_t(n) + 1;
}

}  // namespace moecat::grammar
