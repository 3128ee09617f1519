// Compiles the supported JSON Schema subset into a graph of nodes (grammar_internal.h), then
// computes each node's shortest value (least fixed point, so recursive schemas work) and drops
// everything that admits no finite value, so the recogniser never walks into a dead end.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "serve/grammar/grammar_internal.h"
#include "serve/grammar/json_constraint.h"

namespace moecat::grammar {
namespace {

using json = nlohmann::json;
constexpr int kMaxSchemaDepth = 256;
constexpr uint64_t kMaxMinItems = 1u << 16;
constexpr uint64_t kMaxMinLength = 1u << 20;
constexpr int64_t kMaxMinlen = 1 << 22;

int64_t sat_add(int64_t a, int64_t b) { return (a >= kInf || b >= kInf || a + b >= kInf) ? kInf : a + b; }

bool writable_key(const std::string& k) {
  for (size_t i = 0, n; i < k.size(); i += n) {
    const uint8_t c = k[i];
    if (c < 0x20 || c == '"' || c == '\\' || (n = utf8_char_len(k, i)) == 0) return false;
  }
  return true;
}

// Keywords that constrain values: not allowed next to anyOf/oneOf (we would have to intersect).
const char* kValidityKeywords[] = {"type", "enum", "const", "properties", "required",
                                   "additionalProperties", "items", "prefixItems", "additionalItems",
                                   "minItems", "maxItems", "minLength", "maxLength", "minimum",
                                   "maximum", "exclusiveMinimum", "exclusiveMaximum"};

struct Compiler {
  const json* root;
  Grammar g;
  std::map<const json*, int32_t> memo;
  std::set<const json*> eps;  // schemas being resolved without consuming input ($ref/anyOf)

  int32_t new_node() { g.nodes.emplace_back(); return int32_t(g.nodes.size() - 1); }

  int32_t new_lit() { g.lits.emplace_back(); return int32_t(g.lits.size() - 1); }
  void add_lit(int32_t root_lit, const std::string& s) {
    int32_t n = root_lit;
    for (uint8_t b : s) {
      int32_t c = g.lit_child(n, b);
      if (c < 0) {
        c = new_lit();
        auto& kids = g.lits[n].kids;
        kids.insert(std::lower_bound(kids.begin(), kids.end(), std::make_pair(b, int32_t(-1))), {b, c});
      }
      n = c;
    }
    g.lits[n].term = true;
  }

  Result<const json*> resolve(const std::string& ref) {
    if (ref.empty() || ref[0] != '#') return Errorf("$ref '%s': only local references (#/...) are supported", ref.c_str());
    try {
      const json& t = root->at(json::json_pointer(ref.substr(1)));
      return &t;
    } catch (const std::exception&) {
      return Errorf("$ref '%s' does not resolve", ref.c_str());
    }
  }

  Result<int64_t> bound(const json& v, const char* kw, bool lower, bool exclusive) {
    if (!v.is_number()) return Errorf("'%s' must be a number", kw);
    // Integer bounds clamp into int64 (a narrower range is still sound).
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u >= uint64_t(INT64_MAX)) return lower ? (exclusive ? INT64_MAX : INT64_MAX) : INT64_MAX;
      int64_t x = int64_t(u);
      return exclusive ? (lower ? x + 1 : x - 1) : x;
    }
    if (v.is_number_integer()) {
      int64_t x = v.get<int64_t>();
      if (exclusive) {
        if (lower) return x == INT64_MAX ? INT64_MAX : x + 1;
        return x == INT64_MIN ? INT64_MIN : x - 1;
      }
      return x;
    }
    double d = v.get<double>();
    if (std::isnan(d)) return Errorf("'%s' is NaN", kw);
    double r = lower ? (exclusive ? std::floor(d) + 1 : std::ceil(d)) : (exclusive ? std::ceil(d) - 1 : std::floor(d));
    if (r >= 9.2e18) return INT64_MAX;
    if (r <= -9.2e18) return INT64_MIN;
    return int64_t(r);
  }

  Result<uint64_t> count_kw(const json& s, const char* kw, uint64_t dflt) {
    auto it = s.find(kw);
    if (it == s.end()) return dflt;
    if (it->is_number_unsigned()) return it->get<uint64_t>();
    if (it->is_number_integer() && it->get<int64_t>() >= 0) return uint64_t(it->get<int64_t>());
    if (it->is_number_float() && it->get<double>() >= 0 && std::floor(it->get<double>()) == it->get<double>())
      return it->get<double>() > 1e18 ? uint64_t(1e18) : uint64_t(it->get<double>());
    return Errorf("'%s' must be a non-negative integer", kw);
  }

  Result<int32_t> compile(const json& s, int depth) {
    if (depth > kMaxSchemaDepth) return Errorf("schema nests deeper than %d levels", kMaxSchemaDepth);
    if (s.is_boolean()) return s.get<bool>() ? kAnyNode : kFalseNode;
    if (!s.is_object()) return Errorf("a schema must be an object or a boolean, got %s", s.type_name());
    if (eps.count(&s)) return Errorf("$ref/anyOf cycle that never consumes input");
    auto m = memo.find(&s);
    if (m != memo.end()) return m->second;

    if (auto it = s.find("$ref"); it != s.end()) {
      if (!it->is_string()) return Errorf("$ref must be a string");
      MOECAT_ASSIGN_OR_RETURN(const json* t, resolve(it->get<std::string>()));
      eps.insert(&s);
      auto r = compile(*t, depth + 1);
      eps.erase(&s);
      if (r.ok()) memo[&s] = r.value();
      return r;
    }
    bool any_of = s.contains("anyOf"), one_of = s.contains("oneOf");
    if (any_of || one_of) {
      if (any_of && one_of) return Errorf("anyOf together with oneOf is not supported");
      for (const char* kw : kValidityKeywords)
        if (s.contains(kw)) return Errorf("'%s' next to anyOf/oneOf is not supported", kw);
      const json& alts = s[any_of ? "anyOf" : "oneOf"];
      if (!alts.is_array() || alts.empty()) return Errorf("anyOf/oneOf must be a non-empty array");
      int32_t id = new_node();
      memo[&s] = id;
      g.nodes[id].is_union = true;
      eps.insert(&s);
      for (const json& a : alts) {
        auto r = compile(a, depth + 1);
        if (!r.ok()) { eps.erase(&s); return r.status(); }
        g.nodes[id].raw_alts.push_back(r.value());
      }
      eps.erase(&s);
      return id;
    }

    int32_t id = new_node();
    memo[&s] = id;
    std::set<const json*> saved_eps;
    saved_eps.swap(eps);  // structure below consumes input: cycles through it are fine
    Status st = leaf(s, id, depth);
    eps.swap(saved_eps);
    if (!st.ok()) return st;
    return id;
  }

  Status leaf(const json& s, int32_t id, int depth) {
    uint32_t types = 0;
    if (auto it = s.find("type"); it != s.end()) {
      std::vector<json> names = it->is_array() ? it->get<std::vector<json>>() : std::vector<json>{*it};
      for (const json& n : names) {
        if (!n.is_string()) return Errorf("'type' must be a string or an array of strings");
        std::string t = n.get<std::string>();
        if (t == "null") types |= T_NULL;
        else if (t == "boolean") types |= T_BOOL;
        else if (t == "integer") types |= T_INT;
        else if (t == "number") types |= T_NUM | T_INT;
        else if (t == "string") types |= T_STR;
        else if (t == "array") types |= T_ARR;
        else if (t == "object") types |= T_OBJ;
        else return Errorf("unknown type '%s'", t.c_str());
      }
    } else {
      // No "type": generate the type the keywords talk about (a subset of what validates).
      for (const char* k : {"properties", "required", "additionalProperties"}) if (s.contains(k)) types |= T_OBJ;
      for (const char* k : {"items", "prefixItems", "additionalItems", "minItems", "maxItems"}) if (s.contains(k)) types |= T_ARR;
      for (const char* k : {"minLength", "maxLength"}) if (s.contains(k)) types |= T_STR;
      for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) if (s.contains(k)) types |= T_NUM | T_INT;
      if (!types) types = T_ALL;
    }
    g.nodes[id].types = types;

    if (s.contains("enum") || s.contains("const")) {
      std::vector<json> vals;
      if (auto it = s.find("enum"); it != s.end() && !it->is_array()) return Errorf("'enum' must be an array");
      if (auto it = s.find("const"); it != s.end()) {
        bool in = !s.contains("enum");
        if (!in) for (const json& e : s["enum"]) in = in || e == *it;
        if (in) vals.push_back(*it);
      } else {
        for (const json& v : s["enum"]) vals.push_back(v);
      }
      json rest = s;
      rest.erase("enum");
      rest.erase("const");
      int32_t lr = new_lit();
      for (const json& v : vals) {
        // Keep only values the rest of the schema admits (enum next to type etc.).
        if (!validate_in(*root, rest, v).ok()) continue;
        std::string d;
        try { d = v.dump(); } catch (const std::exception&) { continue; }
        add_lit(lr, d);
      }
      g.nodes[id].lit = lr;
      return Status::Ok();
    }

    Node tmp;  // filled locally: compile() below may reallocate g.nodes
    MOECAT_ASSIGN_OR_RETURN(uint64_t minl, count_kw(s, "minLength", 0));
    MOECAT_ASSIGN_OR_RETURN(uint64_t maxl, count_kw(s, "maxLength", UINT32_MAX));
    if (minl > kMaxMinLength) return Errorf("minLength %llu is too large", (unsigned long long)minl);
    tmp.min_len = uint32_t(minl);
    tmp.max_len = uint32_t(std::min<uint64_t>(maxl, UINT32_MAX));

    for (const char* kw : {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}) {
      auto it = s.find(kw);
      if (it == s.end()) continue;
      if (it->is_boolean()) continue;  // draft-4 style flag: ignored (validate_json too)
      bool lower = std::string(kw).find("inimum") != std::string::npos;
      bool excl = kw[0] == 'e';
      MOECAT_ASSIGN_OR_RETURN(int64_t b, bound(*it, kw, lower, excl));
      tmp.bounded = true;
      if (lower) tmp.lo = std::max(tmp.lo, b);
      else tmp.hi = std::min(tmp.hi, b);
    }

    // arrays
    MOECAT_ASSIGN_OR_RETURN(uint64_t mini, count_kw(s, "minItems", 0));
    MOECAT_ASSIGN_OR_RETURN(uint64_t maxi, count_kw(s, "maxItems", UINT32_MAX));
    if (mini > kMaxMinItems) return Errorf("minItems %llu is too large", (unsigned long long)mini);
    tmp.min_items = uint32_t(mini);
    tmp.max_items = uint32_t(std::min<uint64_t>(maxi, UINT32_MAX));
    const json* tuple = nullptr;
    const json* rest_items = nullptr;
    if (auto it = s.find("prefixItems"); it != s.end()) {
      tuple = &*it;
      if (auto jt = s.find("items"); jt != s.end()) rest_items = &*jt;
    } else if (auto jt = s.find("items"); jt != s.end()) {
      if (jt->is_array()) {
        tuple = &*jt;
        if (auto kt = s.find("additionalItems"); kt != s.end()) rest_items = &*kt;
      } else {
        rest_items = &*jt;
      }
    }
    if (tuple) {
      if (!tuple->is_array()) return Errorf("'prefixItems' must be an array");
      for (const json& e : *tuple) {
        MOECAT_ASSIGN_OR_RETURN(int32_t c, compile(e, depth + 1));
        tmp.prefix.push_back(c);
      }
    }
    if (rest_items) {
      MOECAT_ASSIGN_OR_RETURN(int32_t c, compile(*rest_items, depth + 1));
      tmp.items = c;
    }

    // objects
    const json* props = nullptr;
    if (auto it = s.find("properties"); it != s.end()) {
      if (!it->is_object()) return Errorf("'properties' must be an object");
      props = &*it;
      for (auto p = it->begin(); p != it->end(); ++p) {
        MOECAT_ASSIGN_OR_RETURN(int32_t c, compile(p.value(), depth + 1));
        Prop pr;
        pr.name = p.key();
        pr.node = c;
        pr.writable = writable_key(pr.name);
        tmp.props.push_back(pr);
      }
    }
    // moecat's own keyword (tool-call bodies: "name" before the arguments, so the call can
    // stream from its name): these keys first, in this order, and the object's keys in order.
    if (auto it = s.find("x-moecat-key-order"); it != s.end() && it->is_array()) {
      std::vector<Prop> first;
      for (const json& k : *it) {
        if (!k.is_string()) return Errorf("'x-moecat-key-order' entries must be strings");
        auto p = std::find_if(tmp.props.begin(), tmp.props.end(), [&](const Prop& x) { return x.name == k; });
        if (p == tmp.props.end()) continue;
        first.push_back(*p);
        tmp.props.erase(p);
      }
      tmp.props.insert(tmp.props.begin(), first.begin(), first.end());
      tmp.keep_order = true;
    }
    if (auto it = s.find("additionalProperties"); it != s.end()) {
      if (it->is_boolean()) tmp.addl = it->get<bool>() ? kAnyNode : -1;
      else { MOECAT_ASSIGN_OR_RETURN(int32_t c, compile(*it, depth + 1)); tmp.addl = c; }
    } else {
      tmp.addl = props ? -1 : kAnyNode;  // documented default: "properties" closes the object
    }
    if (auto it = s.find("required"); it != s.end()) {
      if (!it->is_array()) return Errorf("'required' must be an array");
      for (const json& r : *it) {
        if (!r.is_string()) return Errorf("'required' entries must be strings");
        std::string k = r.get<std::string>();
        auto p = std::find_if(tmp.props.begin(), tmp.props.end(), [&](const Prop& x) { return x.name == k; });
        if (p == tmp.props.end()) {
          if (tmp.addl < 0) { tmp.req_missing = true; continue; }
          Prop pr;
          pr.name = k;
          pr.node = tmp.addl;
          pr.writable = writable_key(k);
          tmp.props.push_back(pr);
          p = tmp.props.end() - 1;
        }
        p->required = true;
      }
    }
    tmp.types = types;
    g.nodes[id] = std::move(tmp);
    return Status::Ok();
  }

  Status flatten() {
    std::vector<uint8_t> state(g.nodes.size(), 0);
    std::function<Status(int32_t, std::vector<int32_t>&)> walk = [&](int32_t n, std::vector<int32_t>& out) -> Status {
      if (!g.nodes[n].is_union) { out.push_back(n); return Status::Ok(); }
      if (state[n] == 1) return Errorf("$ref/anyOf cycle that never consumes input");
      state[n] = 1;
      for (int32_t a : g.nodes[n].raw_alts) MOECAT_RETURN_IF_ERROR(walk(a, out));
      state[n] = 0;
      return Status::Ok();
    };
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (!g.nodes[i].is_union) continue;
      std::vector<int32_t> leaves;
      MOECAT_RETURN_IF_ERROR(walk(int32_t(i), leaves));
      std::sort(leaves.begin(), leaves.end());
      leaves.erase(std::unique(leaves.begin(), leaves.end()), leaves.end());
      if (leaves.size() > 4096) return Errorf("anyOf expands to too many alternatives");
      g.nodes[i].alts = std::move(leaves);
    }
    return Status::Ok();
  }

  static int64_t int_minlen(const Node& n) {
    if (n.lo > n.hi) return kInf;
    if (n.lo <= 0 && n.hi >= 0) return 1;
    return int64_t(std::to_string(n.lo > 0 ? n.lo : n.hi).size());
  }

  // Shortest value of a leaf per type, given the current minlen estimates.
  int64_t type_cost(const Node& n, uint32_t t) const {
    auto ml = [&](int32_t x) { return g.nodes[x].minlen; };
    switch (t) {
      case T_NULL: case T_BOOL: return 4;
      case T_INT: case T_NUM: return n.bounded ? int_minlen(n) : 1;
      case T_STR: return n.min_len <= n.max_len ? 2 + int64_t(n.min_len) : kInf;
      case T_ARR: {
        if (n.min_items > n.max_items) return kInf;
        int64_t c = 2 + (n.min_items ? n.min_items - 1 : 0);
        for (uint32_t i = 0; i < n.min_items && i < n.prefix.size(); ++i) c = sat_add(c, ml(n.prefix[i]));
        if (n.min_items > n.prefix.size()) {
          int64_t each = ml(n.items);
          if (each >= kInf) return kInf;
          c = sat_add(c, each * int64_t(n.min_items - n.prefix.size()));
        }
        return c;
      }
      case T_OBJ: {
        if (n.req_missing) return kInf;
        int64_t c = 2, r = 0;
        for (const Prop& p : n.props) {
          if (!p.required) continue;
          if (!p.writable) return kInf;
          c = sat_add(c, sat_add(int64_t(p.name.size()) + 3, ml(p.node)));
          ++r;
        }
        return sat_add(c, r ? r - 1 : 0);
      }
    }
    return kInf;
  }

  int64_t node_cost(const Node& n) const {
    if (n.is_union) {
      int64_t c = kInf;
      for (int32_t a : n.alts) c = std::min(c, g.nodes[a].minlen);
      return c;
    }
    if (n.lit >= 0) return g.lits[n.lit].minrest;
    int64_t c = kInf;
    for (uint32_t t = 1; t <= T_OBJ; t <<= 1)
      if (n.types & t) c = std::min(c, type_cost(n, t));
    return c;
  }

  void lit_minrest() {
    for (size_t i = g.lits.size(); i-- > 0;) {  // children always have larger indices
      LitNode& l = g.lits[i];
      l.minrest = l.term ? 0 : kInf;
      l.best = -1;
      if (l.term) continue;
      for (auto [b, c] : l.kids)
        if (sat_add(g.lits[c].minrest, 1) < l.minrest) { l.minrest = sat_add(g.lits[c].minrest, 1); l.best = c; }
    }
  }

  // Nesting depth of the shortest value (follows min_string's choices).
  int32_t depth_of(const Node& n) const {
    if (n.is_union) {
      int32_t best = -1;
      for (int32_t a : n.alts) if (best < 0 || g.nodes[a].minlen < g.nodes[best].minlen) best = a;
      return best < 0 ? 0 : g.nodes[best].mindepth;
    }
    if (n.lit >= 0) return 1;
    uint32_t bt = 0;
    int64_t bc = kInf;
    for (uint32_t t = 1; t <= T_OBJ; t <<= 1)
      if ((n.types & t) && type_cost(n, t) < bc) { bc = type_cost(n, t); bt = t; }
    int32_t d = 0;
    if (bt == T_ARR) for (uint32_t i = 0; i < n.min_items; ++i) d = std::max(d, g.nodes[n.item(i)].mindepth);
    if (bt == T_OBJ) for (const Prop& p : n.props) if (p.required) d = std::max(d, g.nodes[p.node].mindepth);
    return (bt == T_ARR || bt == T_OBJ) ? d + 1 : 0;
  }

  Status finish() {
    MOECAT_RETURN_IF_ERROR(flatten());
    lit_minrest();
    // Least fixed point of the shortest-value lengths.
    for (size_t it = 0; it <= g.nodes.size() + 1; ++it) {
      bool changed = false;
      for (Node& n : g.nodes) {
        int64_t c = node_cost(n);
        if (c < n.minlen) { n.minlen = c; changed = true; }
      }
      if (!changed) break;
    }
    for (size_t it = 0; it <= g.nodes.size() + 1; ++it) {
      bool changed = false;
      for (Node& n : g.nodes) {
        int32_t d = std::min(depth_of(n), kMaxDepth + 1);
        if (d != n.mindepth) { n.mindepth = d; changed = true; }
      }
      if (!changed) break;
    }
    const Node& r = g.nodes[g.root];
    if (r.minlen >= kInf) return Errorf("the schema admits no finite JSON value");
    if (r.minlen > kMaxMinlen) return Errorf("the schema's shortest value is too long (%lld bytes)", (long long)r.minlen);
    if (r.mindepth > kMaxDepth) return Errorf("the schema's shortest value nests deeper than %d", kMaxDepth);

    for (Node& n : g.nodes) {
      if (n.is_union) {
        std::vector<int32_t> keep;
        for (int32_t a : n.alts) if (g.nodes[a].minlen < kInf) keep.push_back(a);
        n.alts = keep;
        continue;
      }
      if (n.lit >= 0) continue;
      for (uint32_t t = 1; t <= T_OBJ; t <<= 1)
        if ((n.types & t) && type_cost(n, t) >= kInf) n.types &= ~t;
      if (n.types & T_NUM) n.types |= T_INT;
      // arrays: stop before the first item that admits nothing.
      for (uint32_t i = 0; i < n.max_items && i <= n.prefix.size(); ++i)
        if (g.nodes[n.item(i)].minlen >= kInf) { n.max_items = i; break; }
      if (n.types & T_ARR) {
        n.tail.assign(n.min_items + 1, 0);
        for (uint32_t c = n.min_items; c-- > 0;) n.tail[c] = n.tail[c + 1] + 1 + g.nodes[n.item(c)].minlen;
      }
      if (n.addl >= 0 && g.nodes[n.addl].minlen >= kInf) n.addl = -1;
      // objects: keep the keys that can be written and have a value.
      std::vector<Prop> eff;
      for (Prop& p : n.props)
        if (p.writable && g.nodes[p.node].minlen < kInf) {
          p.cost = int64_t(p.name.size()) + 3 + g.nodes[p.node].minlen;
          eff.push_back(p);
        }
      n.props = std::move(eff);
      if (!(n.types & T_OBJ)) continue;
      n.ordered = n.keep_order || n.props.size() > 64;
      n.next_req.assign(n.props.size() + 1, int32_t(n.props.size()));
      for (size_t i = n.props.size(); i-- > 0;) n.next_req[i] = n.props[i].required ? int32_t(i) : n.next_req[i + 1];
      n.req_n = 0;
      n.req_cost = 0;
      n.all_mask = 0;
      for (size_t i = 0; i < n.props.size(); ++i) {
        if (n.props[i].required) { ++n.req_n; n.req_cost += n.props[i].cost; }
        if (!n.ordered) n.all_mask |= uint64_t(1) << i;
      }
      if (n.props.empty()) continue;
      g.keys.emplace_back();
      n.keyroot = int32_t(g.keys.size() - 1);
      for (size_t i = 0; i < n.props.size(); ++i) {
        int32_t k = n.keyroot;
        auto mark = [&](int32_t kn) {
          if (!n.ordered) g.keys[kn].mask |= uint64_t(1) << i;
          g.keys[kn].keys.push_back(int32_t(i));
        };
        mark(k);
        for (uint8_t b : n.props[i].name) {
          int32_t c = g.key_child(k, b);
          if (c < 0) {
            g.keys.emplace_back();
            c = int32_t(g.keys.size() - 1);
            g.keys[c].depth = g.keys[k].depth + 1;
            auto& kids = g.keys[k].kids;
            kids.insert(std::lower_bound(kids.begin(), kids.end(), std::make_pair(b, int32_t(-1))), {b, c});
          }
          k = c;
          mark(k);
        }
        g.keys[k].key = int32_t(i);  // later duplicates cannot occur: property names are unique
      }
    }
    return Status::Ok();
  }
};

}  // namespace

int32_t Grammar::lit_child(int32_t n, uint8_t b) const {
  const auto& k = lits[n].kids;
  auto it = std::lower_bound(k.begin(), k.end(), std::make_pair(b, int32_t(-1)));
  return (it != k.end() && it->first == b) ? it->second : -1;
}

int32_t Grammar::key_child(int32_t n, uint8_t b) const {
  const auto& k = keys[n].kids;
  auto it = std::lower_bound(k.begin(), k.end(), std::make_pair(b, int32_t(-1)));
  return (it != k.end() && it->first == b) ? it->second : -1;
}

void Grammar::min_string(int32_t id, std::string& out, int depth) const {
  const Node& n = nodes[id];
  if (depth > kMaxDepth + 2) return;  // cannot happen for reachable states (mindepth checks)
  if (n.is_union) {
    int32_t best = -1;
    for (int32_t a : n.alts) if (best < 0 || nodes[a].minlen < nodes[best].minlen) best = a;
    if (best >= 0) min_string(best, out, depth);
    return;
  }
  if (n.lit >= 0) {
    int32_t l = n.lit;
    std::string path;
    while (l >= 0 && !lits[l].term) {
      int32_t c = lits[l].best;
      for (auto [b, k] : lits[l].kids) if (k == c) path += char(b);
      l = c;
    }
    out += path;
    return;
  }
  // The type choice must match Compiler::depth_of/type_cost: cheapest type, lowest bit first.
  uint32_t bt = 0;
  int64_t bc = kInf;
  for (uint32_t t = 1; t <= T_OBJ; t <<= 1) {
    if (!(n.types & t)) continue;
    int64_t c;
    switch (t) {
      case T_NULL: case T_BOOL: c = 4; break;
      case T_INT: case T_NUM:
        c = !n.bounded ? 1 : (n.lo <= 0 && n.hi >= 0) ? 1 : int64_t(std::to_string(n.lo > 0 ? n.lo : n.hi).size());
        break;
      case T_STR: c = 2 + n.min_len; break;
      case T_ARR: c = n.min_items ? n.tail[0] + 1 : 2; break;
      default: {
        c = 2;
        int r = 0;
        for (const Prop& p : n.props) if (p.required) { c += p.cost; ++r; }
        c += r ? r - 1 : 0;
      }
    }
    if (c < bc) { bc = c; bt = t; }
  }
  switch (bt) {
    case T_NULL: out += "null"; break;
    case T_BOOL: out += "true"; break;
    case T_INT: case T_NUM:
      out += (!n.bounded || (n.lo <= 0 && n.hi >= 0)) ? "0" : std::to_string(n.lo > 0 ? n.lo : n.hi);
      break;
    case T_STR: out += '"'; out.append(n.min_len, 'a'); out += '"'; break;
    case T_ARR:
      out += '[';
      for (uint32_t i = 0; i < n.min_items; ++i) {
        if (i) out += ',';
        min_string(n.item(i), out, depth + 1);
      }
      out += ']';
      break;
    case T_OBJ: {
      out += '{';
      bool first = true;
      for (const Prop& p : n.props) {
        if (!p.required) continue;
        if (!first) out += ',';
        first = false;
        out += '"' + p.name + "\":";
        min_string(p.node, out, depth + 1);
      }
      out += '}';
      break;
    }
  }
}

Result<std::shared_ptr<const Grammar>> compile_schema(const nlohmann::json* schema) {
  auto c = std::make_unique<Compiler>();
  nlohmann::json obj_mode = {{"type", "object"}};
  c->root = schema ? schema : &obj_mode;
  Node any;
  any.types = T_ALL;
  any.items = kAnyNode;
  any.addl = kAnyNode;
  c->g.nodes.push_back(any);    // kAnyNode
  c->g.nodes.push_back(Node()); // kFalseNode: types 0
  c->g.bool_lit = c->new_lit();
  c->add_lit(c->g.bool_lit, "true");
  c->add_lit(c->g.bool_lit, "false");
  c->g.null_lit = c->new_lit();
  c->add_lit(c->g.null_lit, "null");
  try {
    MOECAT_ASSIGN_OR_RETURN(int32_t r, c->compile(*c->root, 0));
    c->g.root = r;
    MOECAT_RETURN_IF_ERROR(c->finish());
  } catch (const std::exception& e) {
    return Errorf("schema: %s", e.what());
  }
  return std::shared_ptr<const Grammar>(std::make_shared<Grammar>(std::move(c->g)));
}

}  // namespace moecat::grammar

namespace moecat {
Status check_json_schema(const nlohmann::json& schema) {
  auto r = grammar::compile_schema(&schema);
  return r.status();
}
}  // namespace moecat
