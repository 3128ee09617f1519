// validate_json: a direct, recursive checker of a parsed value against the schema subset. It is
// deliberately independent of the compiler/recogniser (schema.cpp, json_pda.cpp) so tests can
// cross-check one against the other. Semantics shared with the recogniser (documented in
// json_constraint.h / grammar_internal.h): oneOf = anyOf; siblings of $ref are ignored;
// "properties" without "additionalProperties" closes the object; unsupported keywords
// (pattern, format, multipleOf, allOf, ...) are ignored.
#include <cmath>
#include <string>

#include "serve/grammar/grammar_internal.h"
#include "serve/grammar/json_constraint.h"

namespace moecat::grammar {
namespace {

using json = nlohmann::json;
constexpr int kMaxValidateDepth = 1024;
constexpr int kMaxRefHops = 64;

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// -1 / 0 / 1 comparing two JSON numbers; exact when both are integers.
int cmp_num(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    bool an = a.is_number_unsigned() ? false : a.get<int64_t>() < 0;
    bool bn = b.is_number_unsigned() ? false : b.get<int64_t>() < 0;
    if (an != bn) return an ? -1 : 1;
    if (an) { int64_t x = a.get<int64_t>(), y = b.get<int64_t>(); return x < y ? -1 : x > y; }
    uint64_t x = a.get<uint64_t>(), y = b.get<uint64_t>();
    return x < y ? -1 : x > y;
  }
  long double x = a.is_number_float() ? (long double)a.get<double>()
                  : a.is_number_unsigned() ? (long double)a.get<uint64_t>() : (long double)a.get<int64_t>();
  long double y = b.is_number_float() ? (long double)b.get<double>()
                  : b.is_number_unsigned() ? (long double)b.get<uint64_t>() : (long double)b.get<int64_t>();
  return x < y ? -1 : x > y;
}

bool type_matches(const std::string& t, const json& v) {
  if (t == "null") return v.is_null();
  if (t == "boolean") return v.is_boolean();
  if (t == "string") return v.is_string();
  if (t == "array") return v.is_array();
  if (t == "object") return v.is_object();
  if (t == "number") return v.is_number();
  if (t == "integer") {
    if (v.is_number_integer()) return true;
    if (!v.is_number_float()) return false;
    double d = v.get<double>();
    return std::isfinite(d) && std::floor(d) == d;
  }
  return false;
}

struct Validator {
  const json& root;

  Status count(const json& s, const char* kw, uint64_t* out) {
    const json& v = s[kw];
    if (v.is_number_unsigned()) { *out = v.get<uint64_t>(); return Status::Ok(); }
    if (v.is_number_integer() && v.get<int64_t>() >= 0) { *out = uint64_t(v.get<int64_t>()); return Status::Ok(); }
    if (v.is_number_float() && v.get<double>() >= 0 && std::floor(v.get<double>()) == v.get<double>()) {
      *out = v.get<double>() > 1e18 ? uint64_t(1e18) : uint64_t(v.get<double>());
      return Status::Ok();
    }
    return Errorf("'%s' must be a non-negative integer", kw);
  }

  Status check(const json& s, const json& v, const std::string& path, int depth, int hops) {
    if (depth > kMaxValidateDepth) return Errorf("%s: nesting deeper than %d", path.c_str(), kMaxValidateDepth);
    if (s.is_boolean()) {
      if (s.get<bool>()) return Status::Ok();
      return Errorf("%s: no value is allowed here (schema false)", path.c_str());
    }
    if (!s.is_object()) return Errorf("%s: schema is not an object or boolean", path.c_str());
    if (s.contains("$ref")) {
      if (hops > kMaxRefHops) return Errorf("%s: $ref chain too long (cycle?)", path.c_str());
      const json& r = s["$ref"];
      if (!r.is_string() || r.get<std::string>().empty() || r.get<std::string>()[0] != '#')
        return Errorf("%s: unsupported $ref", path.c_str());
      const json* t;
      try { t = &root.at(json::json_pointer(r.get<std::string>().substr(1))); }
      catch (const std::exception&) { return Errorf("%s: $ref '%s' does not resolve", path.c_str(), r.get<std::string>().c_str()); }
      return check(*t, v, path, depth + 1, hops + 1);
    }
    for (const char* kw : {"anyOf", "oneOf"}) {
      if (!s.contains(kw)) continue;
      const json& alts = s[kw];
      if (!alts.is_array()) return Errorf("%s: '%s' must be an array", path.c_str(), kw);
      bool any = false;
      for (const json& a : alts) {
        if (hops > kMaxRefHops) return Errorf("%s: anyOf/$ref chain too long (cycle?)", path.c_str());
        if (check(a, v, path, depth + 1, hops + 1).ok()) { any = true; break; }
      }
      if (!any) return Errorf("%s: matches none of the %s alternatives", path.c_str(), kw);
    }
    if (s.contains("const") && !(s["const"] == v)) return Errorf("%s: not the const value", path.c_str());
    if (s.contains("enum")) {
      const json& e = s["enum"];
      if (!e.is_array()) return Errorf("%s: 'enum' must be an array", path.c_str());
      bool in = false;
      for (const json& x : e) if (x == v) { in = true; break; }
      if (!in) return Errorf("%s: not one of the enum values", path.c_str());
    }
    if (s.contains("type")) {
      const json& t = s["type"];
      bool ok = false;
      if (t.is_string()) ok = type_matches(t.get<std::string>(), v);
      else if (t.is_array()) {
        for (const json& x : t) {
          if (!x.is_string()) return Errorf("%s: bad 'type'", path.c_str());
          ok = ok || type_matches(x.get<std::string>(), v);
        }
      } else return Errorf("%s: bad 'type'", path.c_str());
      if (!ok) return Errorf("%s: wrong type (%s)", path.c_str(), v.type_name());
    }
    if (v.is_string()) {
      size_t n = code_points(v.get_ref<const std::string&>());
      uint64_t lim;
      if (s.contains("minLength")) { MOECAT_RETURN_IF_ERROR(count(s, "minLength", &lim)); if (n < lim) return Errorf("%s: shorter than minLength", path.c_str()); }
      if (s.contains("maxLength")) { MOECAT_RETURN_IF_ERROR(count(s, "maxLength", &lim)); if (n > lim) return Errorf("%s: longer than maxLength", path.c_str()); }
    }
    if (v.is_number()) {
      for (const char* kw : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
        if (!s.contains(kw)) continue;
        const json& b = s[kw];
        if (b.is_boolean()) continue;  // draft-4 flag: ignored
        if (!b.is_number()) return Errorf("%s: '%s' must be a number", path.c_str(), kw);
        int c = cmp_num(v, b);
        std::string k = kw;
        bool bad = k == "minimum" ? c < 0 : k == "maximum" ? c > 0 : k == "exclusiveMinimum" ? c <= 0 : c >= 0;
        if (bad) return Errorf("%s: violates %s", path.c_str(), kw);
      }
    }
    if (v.is_array()) {
      uint64_t lim;
      if (s.contains("minItems")) { MOECAT_RETURN_IF_ERROR(count(s, "minItems", &lim)); if (v.size() < lim) return Errorf("%s: fewer than minItems", path.c_str()); }
      if (s.contains("maxItems")) { MOECAT_RETURN_IF_ERROR(count(s, "maxItems", &lim)); if (v.size() > lim) return Errorf("%s: more than maxItems", path.c_str()); }
      const json* tuple = nullptr;
      const json* rest = nullptr;
      if (s.contains("prefixItems")) {
        tuple = &s["prefixItems"];
        if (s.contains("items")) rest = &s["items"];
      } else if (s.contains("items")) {
        if (s["items"].is_array()) { tuple = &s["items"]; if (s.contains("additionalItems")) rest = &s["additionalItems"]; }
        else rest = &s["items"];
      }
      if (tuple && !tuple->is_array()) return Errorf("%s: 'prefixItems' must be an array", path.c_str());
      for (size_t i = 0; i < v.size(); ++i) {
        const json* is = tuple && i < tuple->size() ? &(*tuple)[i] : rest;
        if (is) MOECAT_RETURN_IF_ERROR(check(*is, v[i], path + "[" + std::to_string(i) + "]", depth + 1, 0));
      }
    }
    if (v.is_object()) {
      const json* props = s.contains("properties") ? &s["properties"] : nullptr;
      if (props && !props->is_object()) return Errorf("%s: 'properties' must be an object", path.c_str());
      if (s.contains("required")) {
        const json& r = s["required"];
        if (!r.is_array()) return Errorf("%s: 'required' must be an array", path.c_str());
        for (const json& k : r) {
          if (!k.is_string()) return Errorf("%s: 'required' entries must be strings", path.c_str());
          if (!v.contains(k.get<std::string>())) return Errorf("%s: missing required key '%s'", path.c_str(), k.get<std::string>().c_str());
        }
      }
      const json* addl = nullptr;
      bool closed = props != nullptr;  // documented default
      if (s.contains("additionalProperties")) {
        const json& a = s["additionalProperties"];
        closed = a.is_boolean() && !a.get<bool>();
        if (!a.is_boolean()) addl = &a;
      }
      for (auto it = v.begin(); it != v.end(); ++it) {
        std::string p = path + "." + it.key();
        if (props && props->contains(it.key())) {
          MOECAT_RETURN_IF_ERROR(check((*props)[it.key()], it.value(), p, depth + 1, 0));
        } else if (closed) {
          return Errorf("%s: key '%s' is not allowed", path.c_str(), it.key().c_str());
        } else if (addl) {
          MOECAT_RETURN_IF_ERROR(check(*addl, it.value(), p, depth + 1, 0));
        }
      }
    }
    return Status::Ok();
  }
};

}  // namespace

Status validate_in(const json& root, const json& schema, const json& value) {
  try {
    return Validator{root}.check(schema, value, "$", 0, 0);
  } catch (const std::exception& e) {
    return Errorf("validate: %s", e.what());
  }
}

}  // namespace moecat::grammar

namespace moecat {
Status validate_json(const nlohmann::json& schema, const nlohmann::json& value) {
  if (schema.is_null()) {  // json_object mode
    if (!value.is_object()) return Errorf("$: expected an object");
    return Status::Ok();
  }
  return grammar::validate_in(schema, schema, value);
}
}  // namespace moecat
