// Value helpers: JS-compatible number formatting, printing, JSON serialisation and equality.
#include "serve/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace moecat::jinja {

namespace {
constexpr int kMaxValueDepth = 512;  // nesting of arrays/objects we print or convert (stack bound)
}

void Fail(std::string msg) { throw JinjaError{std::move(msg)}; }

Value Value::Arr(Array x, K kind) {
  Value v;
  v.k = kind;
  v.a = std::make_shared<Array>(std::move(x));
  return v;
}

const char* TypeName(const Value& v) {
  switch (v.k) {
    case K::Undefined: return "UndefinedValue";
    case K::Null: return "NullValue";
    case K::Bool: return "BooleanValue";
    case K::Int: return "IntegerValue";
    case K::Float: return "FloatValue";
    case K::Str: return "StringValue";
    case K::Array: return "ArrayValue";
    case K::Tuple: return "TupleValue";
    case K::Object: return "ObjectValue";
    case K::KwArgs: return "KeywordArgumentsValue";
    case K::Namespace: return "NamespaceValue";
    case K::Func: return "FunctionValue";
  }
  return "?";
}

bool Truthy(const Value& v) {
  switch (v.k) {
    case K::Undefined: case K::Null: return false;
    case K::Bool: return v.b;
    case K::Int: case K::Float: return v.n != 0 && !std::isnan(v.n);
    case K::Str: return !v.s->empty();
    case K::Array: case K::Tuple: return !v.a->empty();
    case K::Object: case K::KwArgs: return v.o->size() > 0;
    case K::Namespace: case K::Func: return true;  // JS: !!Map / !!function
  }
  return false;
}

std::string JsNumber(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x == 0) return "0";
  std::string out;
  if (x < 0) { out = "-"; x = -x; }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string sci(buf, r.ptr);  // d[.ddd]e±XX, shortest round-trip digits
  size_t e = sci.find('e');
  std::string digits;
  for (size_t i = 0; i < e; ++i) if (sci[i] != '.') digits += sci[i];
  int exp10 = std::atoi(sci.c_str() + e + 1);
  int k = (int)digits.size(), n = exp10 + 1;  // value = 0.digits * 10^n
  if (k <= n && n <= 21) {
    out += digits + std::string(n - k, '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, n) + "." + digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out += "0." + std::string(-n, '0') + digits;
  } else {
    int ee = n - 1;
    out += digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += ee >= 0 ? "e+" : "e-";
    out += std::to_string(ee >= 0 ? ee : -ee);
  }
  return out;
}

std::string Display(const Value& v) {
  switch (v.k) {
    case K::Undefined: return "undefined";
    case K::Null: return "null";
    case K::Bool: return v.b ? "true" : "false";
    case K::Int: return JsNumber(v.n);
    case K::Float:
      if (v.n == 0 && std::signbit(v.n)) return "-0.0";
      if (std::isfinite(v.n) && v.n == std::floor(v.n) && std::fabs(v.n) < 1e21) return JsNumber(v.n) + ".0";
      return JsNumber(v.n);
    case K::Str: return *v.s;
    case K::Func: return "function";
    default: return ToJson(v, JsonOpts{}, false);
  }
}

std::string JsRaw(const Value& v) {
  switch (v.k) {
    case K::Int: case K::Float: return JsNumber(v.n);
    case K::Array: case K::Tuple: {
      std::string out;
      for (size_t i = 0; i < v.a->size(); ++i) {
        if (i) out += ',';
        out += Display((*v.a)[i]);
      }
      return out;
    }
    case K::Object: case K::KwArgs: case K::Namespace: return "[object Map]";
    default: return Display(v);
  }
}

namespace {

double JsToNumber(std::string_view s) {
  std::string t = JsTrim(s, true, true);
  if (t.empty()) return 0;
  if (t == "Infinity" || t == "+Infinity") return INFINITY;
  if (t == "-Infinity") return -INFINITY;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X' || t[1] == 'o' || t[1] == 'O' || t[1] == 'b' || t[1] == 'B')) {
    int base = (t[1] == 'x' || t[1] == 'X') ? 16 : (t[1] == 'o' || t[1] == 'O') ? 8 : 2;
    double r = 0;
    for (size_t i = 2; i < t.size(); ++i) {
      int d = std::isdigit((unsigned char)t[i]) ? t[i] - '0' : std::isalpha((unsigned char)t[i]) ? (std::tolower(t[i]) - 'a' + 10) : 99;
      if (d >= base) return NAN;
      r = r * base + d;
    }
    return r;
  }
  // Decimal literal: [+-] digits [. digits] [e [+-] digits], whole string.
  size_t i = 0;
  if (t[i] == '+' || t[i] == '-') ++i;
  size_t digits = 0;
  while (i < t.size() && std::isdigit((unsigned char)t[i])) ++i, ++digits;
  if (i < t.size() && t[i] == '.') { ++i; while (i < t.size() && std::isdigit((unsigned char)t[i])) ++i, ++digits; }
  if (!digits) return NAN;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    size_t ed = 0;
    while (i < t.size() && std::isdigit((unsigned char)t[i])) ++i, ++ed;
    if (!ed) return NAN;
  }
  if (i != t.size()) return NAN;
  return std::strtod(t.c_str(), nullptr);
}

bool IsObj(const Value& v) { return v.is_array() || v.k == K::Object || v.k == K::KwArgs || v.k == K::Namespace || v.k == K::Func; }
const void* Ident(const Value& v) {
  if (v.is_array()) return v.a.get();
  if (v.k == K::Func) return v.f.get();
  return v.o.get();
}

}  // namespace

bool LooseEq(const Value& a, const Value& b) {
  bool an = a.k == K::Null || a.k == K::Undefined, bn = b.k == K::Null || b.k == K::Undefined;
  if (an || bn) return an && bn;
  if (IsObj(a) && IsObj(b)) return Ident(a) == Ident(b);
  if (a.is_num() && b.is_num()) return a.n == b.n;
  if (a.k == K::Str && b.k == K::Str) return *a.s == *b.s;
  if (a.k == K::Bool && b.k == K::Bool) return a.b == b.b;
  if (a.k == K::Bool) return LooseEq(Value::Int(a.b ? 1 : 0), b);
  if (b.k == K::Bool) return LooseEq(a, Value::Int(b.b ? 1 : 0));
  if (a.is_num() && b.k == K::Str) return a.n == JsToNumber(*b.s);
  if (a.k == K::Str && b.is_num()) return JsToNumber(*a.s) == b.n;
  if (IsObj(a)) return LooseEq(Value::Str(JsRaw(a)), b);
  if (IsObj(b)) return LooseEq(a, Value::Str(JsRaw(b)));
  return false;
}

bool StrictEq(const Value& a, const Value& b) {
  if (a.is_num() && b.is_num()) return a.n == b.n;
  if (a.k == K::Str && b.k == K::Str) return *a.s == *b.s;
  if (a.k == K::Bool && b.k == K::Bool) return a.b == b.b;
  if (a.k == K::Null && b.k == K::Null) return true;
  if (a.k == K::Undefined && b.k == K::Undefined) return true;
  if (IsObj(a) && IsObj(b)) return Ident(a) == Ident(b);
  return false;
}

namespace {

// Decodes one UTF-8 sequence at i; invalid bytes decode as themselves (1 byte).
uint32_t Decode(std::string_view s, size_t i, size_t* len) {
  unsigned char c = s[i];
  int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) { *len = 1; return c; }
  uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
  for (int k = 1; k < n; ++k) {
    unsigned char d = s[i + k];
    if ((d & 0xc0) != 0x80) { *len = 1; return c; }
    cp = (cp << 6) | (d & 0x3f);
  }
  *len = n;
  return cp;
}

void Hex4(std::string& out, unsigned x) {
  char b[8];
  snprintf(b, sizeof b, "\\u%04x", x & 0xffff);
  out += b;
}

std::string JsonString(const std::string& s, bool ascii) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || (ascii && c == 0x7f)) Hex4(out, c);
          else out += (char)c;
      }
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp = Decode(s, i, &len);
    if (ascii) {
      if (cp >= 0x10000) {
        cp -= 0x10000;
        Hex4(out, 0xd800 + (cp >> 10));
        Hex4(out, 0xdc00 + (cp & 0x3ff));
      } else {
        Hex4(out, cp);
      }
    } else {
      out.append(s, i, len);
    }
    i += len;
  }
  return out + "\"";
}

void ToJsonRec(const Value& v, const JsonOpts& o, int depth, bool u2n, std::string& out) {
  if (depth > kMaxValueDepth) Fail("tojson: value nested too deeply");
  switch (v.k) {
    case K::Null: out += "null"; return;
    case K::Undefined: out += u2n ? "null" : "undefined"; return;
    case K::Int: case K::Float: out += std::isfinite(v.n) ? JsNumber(v.n) : "null"; return;
    case K::Bool: out += v.b ? "true" : "false"; return;
    case K::Str: out += JsonString(*v.s, o.ensure_ascii); return;
    case K::Array: case K::Object: case K::Namespace: break;
    default: Fail(std::string("Cannot convert to JSON: ") + TypeName(v));
  }
  std::string item_sep = o.has_separators ? o.item_sep : o.indent ? "," : ", ";
  std::string key_sep = o.has_separators ? o.key_sep : ": ";
  std::string ind(o.indent > 0 ? o.indent : 0, ' ');
  std::string base = "\n";
  for (int i = 0; i < depth; ++i) base += ind;
  std::string child = base + ind;
  if (v.k == K::Array) {
    const Array& a = *v.a;
    out += '[';
    for (size_t i = 0; i < a.size(); ++i) {
      if (i) out += item_sep;
      if (o.indent) out += child;
      ToJsonRec(a[i], o, depth + 1, u2n, out);
    }
    if (o.indent && !a.empty()) out += base;
    out += ']';
    return;
  }
  std::vector<const std::pair<std::string, Value>*> items;
  for (auto& kv : v.o->items) items.push_back(&kv);
  if (o.sort_keys) {
    // Approximates localeCompare: case-insensitive first, lowercase before uppercase on ties.
    std::stable_sort(items.begin(), items.end(), [](auto* x, auto* y) {
      std::string a = AsciiLower(x->first), b = AsciiLower(y->first);
      if (a != b) return a < b;
      return x->first > y->first;
    });
  }
  out += '{';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += item_sep;
    if (o.indent) out += child;
    out += JsonString(items[i]->first, o.ensure_ascii);
    out += key_sep;
    ToJsonRec(items[i]->second, o, depth + 1, u2n, out);
  }
  if (o.indent && !items.empty()) out += base;
  out += '}';
}

}  // namespace

std::string ToJson(const Value& v, const JsonOpts& opts, bool undefined_to_null) {
  std::string out;
  ToJsonRec(v, opts, 0, undefined_to_null, out);
  return out;
}

Value FromJson(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxValueDepth) Fail("context value nested too deeply");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::Null();
    case nlohmann::ordered_json::value_t::boolean: return Value::Bool(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::Int((double)j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: return Value::Int((double)j.get<uint64_t>());
    case nlohmann::ordered_json::value_t::number_float: {
      double d = j.get<double>();
      // JS has one number type: an integral float arrives as an integer (Number.isInteger).
      return std::isfinite(d) && d == std::floor(d) ? Value::Int(d) : Value::Float(d);
    }
    case nlohmann::ordered_json::value_t::string: return Value::Str(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Array a;
      a.reserve(j.size());
      for (auto& e : j) a.push_back(FromJson(e, depth + 1));
      return Value::Arr(std::move(a));
    }
    case nlohmann::ordered_json::value_t::object: {
      auto o = std::make_shared<Object>();
      for (auto it = j.begin(); it != j.end(); ++it) o->set(it.key(), FromJson(it.value(), depth + 1));
      return Value::Obj(std::move(o));
    }
    default: return Value::Undef();  // binary / discarded
  }
}

size_t Utf16Length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    uint32_t cp = Decode(s, i, &len);
    n += cp >= 0x10000 ? 2 : 1;
    i += len;
  }
  return n;
}

std::vector<std::string> CodePoints(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    Decode(s, i, &len);
    out.emplace_back(s.substr(i, len));
    i += len;
  }
  return out;
}

size_t JsSpaceLen(std::string_view s, size_t i) {
  if (i >= s.size()) return 0;
  unsigned char c = s[i];
  if (c == ' ' || (c >= 9 && c <= 13)) return 1;
  if (c < 0x80) return 0;
  size_t len;
  uint32_t cp = Decode(s, i, &len);
  bool sp = cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
            cp == 0x202f || cp == 0x205f || cp == 0x3000 || cp == 0xfeff;
  return sp ? len : 0;
}

std::string JsTrim(std::string_view s, bool left, bool right) {
  size_t b = 0;
  if (left) while (size_t l = JsSpaceLen(s, b)) b += l;
  size_t e = b;
  if (right) {
    for (size_t i = b; i < s.size();) {
      size_t l = JsSpaceLen(s, i);
      if (l) { i += l; continue; }
      size_t len;
      Decode(s, i, &len);
      i += len;
      e = i;
    }
  } else {
    e = s.size();
  }
  return std::string(s.substr(b, e - b));
}

namespace {

// Simple one-to-one case mapping for Latin-1, Latin Extended-A, Greek and Cyrillic (what
// String.prototype.toUpperCase/toLowerCase do there; other scripts are left unchanged).
uint32_t MapCase(uint32_t c, bool upper) {
  if (upper) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
    if (c == 0xFF) return 0x178;
    if (c == 0xB5) return 0x39C;
    if (c >= 0x100 && c <= 0x17F) {
      bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
      if (c == 0x131) return 'I';
      if (c == 0x138 || c == 0x149 || c == 0x17F) return c == 0x17F ? 'S' : c;
      if (odd_upper ? (c % 2 == 0) : (c % 2 == 1)) return c - 1;
      return c;
    }
    if (c >= 0x3B1 && c <= 0x3C9) return c == 0x3C2 ? 0x3A3 : c - 32;
    if (c >= 0x430 && c <= 0x44F) return c - 32;
    if (c >= 0x450 && c <= 0x45F) return c - 80;
    return c;
  }
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c == 0x178) return 0xFF;
  if (c >= 0x100 && c <= 0x17F) {
    bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (c == 0x130 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
    if (odd_upper ? (c % 2 == 1) : (c % 2 == 0)) return c + 1;
    return c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

std::string MapString(const std::string& s, bool upper) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char b = s[i];
    if (b < 0x80) {
      out += (char)MapCase(b, upper);
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp = Decode(s, i, &len);
    if (upper && cp == 0xDF) { out += "SS"; i += len; continue; }
    uint32_t m = len == 1 ? cp : MapCase(cp, upper);
    if (m == cp) {
      out.append(s, i, len);
    } else if (m < 0x80) {
      out += (char)m;
    } else if (m < 0x800) {
      out += (char)(0xC0 | (m >> 6));
      out += (char)(0x80 | (m & 0x3F));
    } else {
      out += (char)(0xE0 | (m >> 12));
      out += (char)(0x80 | ((m >> 6) & 0x3F));
      out += (char)(0x80 | (m & 0x3F));
    }
    i += len;
  }
  return out;
}

}  // namespace

std::string AsciiLower(std::string s) {
  for (char& c : s) if (c >= 'A' && c <= 'Z') c += 32;
  return s;
}
std::string AsciiUpper(std::string s) {
  for (char& c : s) if (c >= 'a' && c <= 'z') c -= 32;
  return s;
}
std::string JsUpper(const std::string& s) { return MapString(s, true); }
std::string JsLower(const std::string& s) { return MapString(s, false); }

}  // namespace moecat::jinja
