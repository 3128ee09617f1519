// Built-in methods, tests and globals (string/object methods, `is` tests, namespace, range,
// raise_exception, strftime_now), following @huggingface/jinja's runtime.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <mutex>

#include "serve/jinja/interp.h"

namespace moecat::jinja {

namespace {

std::mutex g_strftime_mu;
std::string g_strftime_fixed;

bool IsWordByte(unsigned char c) { return std::isalnum(c) || c == '_'; }

std::string TitleCase(std::string s) {  // /\b\w/g -> upper (ASCII \w, like JS without /u)
  for (size_t i = 0; i < s.size(); ++i)
    if (IsWordByte(s[i]) && (i == 0 || !IsWordByte(s[i - 1])) && s[i] >= 'a' && s[i] <= 'z') s[i] -= 32;
  return s;
}

std::string ReplaceAll(const std::string& s, const std::string& from, const std::string& to, double count) {
  double remaining = count < 0 || std::isnan(count) ? INFINITY : count;
  std::string out;
  if (from.empty()) {  // (?=) with /u: matches at every code point boundary
    auto cps = CodePoints(s);
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (remaining > 0) { out += to; --remaining; }
      if (i < cps.size()) out += cps[i];
    }
    return out;
  }
  size_t pos = 0;
  while (true) {
    size_t f = s.find(from, pos);
    if (f == std::string::npos || remaining <= 0) break;
    out.append(s, pos, f - pos);
    out += to;
    --remaining;
    pos = f + from.size();
  }
  out.append(s, pos, std::string::npos);
  return out;
}

Value Bound(std::function<Value(std::vector<Value>&)> f) {
  return Value::Func([f = std::move(f)](Interp&, std::vector<Value>& args, const EnvP&) { return f(args); });
}

bool StartsEnds(const std::string& s, const Value& pat, bool ends, const char* name) {
  auto test = [&](const std::string& p) {
    if (p.size() > s.size()) return false;
    return ends ? s.compare(s.size() - p.size(), p.size(), p) == 0 : s.compare(0, p.size(), p) == 0;
  };
  if (pat.k == K::Str) return test(*pat.s);
  if (pat.is_array()) {
    for (auto& it : *pat.a) {
      if (it.k != K::Str) Fail(std::string(name) + "() tuple elements must be strings");
      if (test(*it.s)) return true;
    }
    return false;
  }
  Fail(std::string(name) + "() argument must be a string or tuple of strings");
}

}  // namespace

void SetStrftimeOverrideForTesting(std::string fixed) {
  std::lock_guard<std::mutex> l(g_strftime_mu);
  g_strftime_fixed = std::move(fixed);
}

std::string StrftimeNow(const std::string& fmt) {
  {
    std::lock_guard<std::mutex> l(g_strftime_mu);
    if (!g_strftime_fixed.empty()) return g_strftime_fixed;
  }
  static const char* kLong[] = {"January", "February", "March", "April", "May", "June", "July",
                                "August", "September", "October", "November", "December"};
  static const char* kShort[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%' || i + 1 >= fmt.size()) { out += fmt[i]; continue; }
    char c = fmt[i + 1];
    switch (c) {
      case 'Y': out += std::to_string(tm.tm_year + 1900); break;
      case 'm': out += strfmt("%02d", tm.tm_mon + 1); break;
      case 'd': out += strfmt("%02d", tm.tm_mday); break;
      case 'b': out += kShort[tm.tm_mon]; break;
      case 'B': out += kLong[tm.tm_mon]; break;
      case 'H': out += strfmt("%02d", tm.tm_hour); break;
      case 'M': out += strfmt("%02d", tm.tm_min); break;
      case '%': out += '%'; break;
      default: out += '%'; out += c; break;
    }
    ++i;
  }
  return out;
}

Value StringMember(const Value& sv, const std::string& name) {
  auto s = sv.s;  // keep the string alive inside the bound method
  if (name == "length") return Value::Int((double)Utf16Length(*s));
  if (name == "upper") return Bound([s](auto&) { return Value::Str(JsUpper(*s)); });
  if (name == "lower") return Bound([s](auto&) { return Value::Str(JsLower(*s)); });
  if (name == "strip") return Bound([s](auto&) { return Value::Str(JsTrim(*s, true, true)); });
  if (name == "lstrip") return Bound([s](auto&) { return Value::Str(JsTrim(*s, true, false)); });
  if (name == "rstrip") return Bound([s](auto&) { return Value::Str(JsTrim(*s, false, true)); });
  if (name == "title") return Bound([s](auto&) { return Value::Str(TitleCase(*s)); });
  if (name == "capitalize")
    return Bound([s](auto&) {
      std::string r = *s;
      if (!r.empty() && r[0] >= 'a' && r[0] <= 'z') r[0] -= 32;
      return Value::Str(r);
    });
  if (name == "startswith" || name == "endswith") {
    bool ends = name == "endswith";
    return Bound([s, ends](std::vector<Value>& a) {
      const char* nm = ends ? "endswith" : "startswith";
      if (a.empty()) Fail(std::string(nm) + "() requires at least one argument");
      return Value::Bool(StartsEnds(*s, a[0], ends, nm));
    });
  }
  if (name == "split")
    return Bound([s](std::vector<Value>& a) {
      Value sep = a.size() > 0 ? a[0] : Value::Null();
      if (sep.k != K::Str && sep.k != K::Null) Fail("sep argument must be a string or null");
      Value maxv = a.size() > 1 ? a[1] : Value::Int(-1);
      if (maxv.k != K::Int) Fail("maxsplit argument must be a number");
      double maxsplit = maxv.n;
      std::vector<std::string> parts;
      if (sep.k == K::Null) {
        std::string text = JsTrim(*s, true, false);
        size_t i = 0;
        while (i < text.size()) {
          while (size_t l = JsSpaceLen(text, i)) i += l;
          if (i >= text.size()) break;
          size_t b = i;
          while (i < text.size() && !JsSpaceLen(text, i)) ++i;
          if (maxsplit != -1 && (double)parts.size() >= maxsplit) { parts.push_back(text.substr(b)); break; }
          parts.push_back(text.substr(b, i - b));
        }
      } else {
        const std::string& sp = *sep.s;
        if (sp.empty()) Fail("empty separator");
        size_t pos = 0;
        while (true) {
          size_t f = s->find(sp, pos);
          if (f == std::string::npos) { parts.push_back(s->substr(pos)); break; }
          parts.push_back(s->substr(pos, f - pos));
          pos = f + sp.size();
        }
        if (maxsplit != -1 && (double)parts.size() > maxsplit) {
          size_t keep = maxsplit < 0 ? 0 : (size_t)maxsplit;
          std::string tail;
          for (size_t i = keep; i < parts.size(); ++i) { if (i > keep) tail += sp; tail += parts[i]; }
          parts.resize(keep);
          parts.push_back(tail);
        }
      }
      if (parts.size() > kMaxArrayLen) Fail("split produced too many parts");
      Array out;
      for (auto& p : parts) out.push_back(Value::Str(std::move(p)));
      return Value::Arr(std::move(out));
    });
  if (name == "replace")
    return Bound([s](std::vector<Value>& a) {
      if (a.size() < 2) Fail("replace() requires at least two arguments");
      if (a[0].k != K::Str || a[1].k != K::Str) Fail("replace() arguments must be strings");
      Value count = Value::Null();
      if (a.size() > 2) {
        if (a[2].k == K::KwArgs) { const Value* c = a[2].o->get("count"); count = c ? *c : Value::Null(); }
        else count = a[2];
      }
      if (count.k != K::Int && count.k != K::Null) Fail("replace() count argument must be a number or null");
      if (count.k == K::Int && count.n == 0) return Value::Str(*s);
      std::string r = ReplaceAll(*s, *a[0].s, *a[1].s, count.k == K::Null ? -1 : count.n);
      if (r.size() > (size_t(1) << 30)) Fail("replace() result too large");
      return Value::Str(std::move(r));
    });
  return Value::Undef();
}

int CompareValues(const Value& a, const Value& b, bool cs) {
  if (a.k == K::Null && b.k == K::Null) return 0;
  if (a.k == K::Null || b.k == K::Null) Fail(std::string("Cannot compare ") + TypeName(a) + " with " + TypeName(b));
  if (a.k == K::Undefined && b.k == K::Undefined) return 0;
  if (a.k == K::Undefined || b.k == K::Undefined) Fail(std::string("Cannot compare ") + TypeName(a) + " with " + TypeName(b));
  auto numlike = [](const Value& v) { return v.is_num() || v.k == K::Bool; };
  auto num = [](const Value& v) { return v.k == K::Bool ? (v.b ? 1.0 : 0.0) : v.n; };
  if (numlike(a) && numlike(b)) { double x = num(a), y = num(b); return x < y ? -1 : x > y ? 1 : 0; }
  if (a.k != b.k) Fail(std::string("Cannot compare different types: ") + TypeName(a) + " and " + TypeName(b));
  if (a.k == K::Str) {
    std::string x = cs ? *a.s : AsciiLower(*a.s), y = cs ? *b.s : AsciiLower(*b.s);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  Fail(std::string("Cannot compare type: ") + TypeName(a));
}

Value ObjectMember(const Value& ov, const std::string& name) {
  auto o = ov.o;
  if (name == "get")
    return Bound([o](std::vector<Value>& a) {
      if (a.empty() || a[0].k != K::Str) Fail(std::string("Object key must be a string: got ") + (a.empty() ? "UndefinedValue" : TypeName(a[0])));
      if (const Value* v = o->get(*a[0].s)) return *v;
      return a.size() > 1 ? a[1] : Value::Null();
    });
  if (name == "items")
    return Bound([o](auto&) {
      Array out;
      for (auto& [k, v] : o->items) out.push_back(Value::Arr({Value::Str(k), v}));
      return Value::Arr(std::move(out));
    });
  if (name == "keys")
    return Bound([o](auto&) {
      Array out;
      for (auto& [k, v] : o->items) out.push_back(Value::Str(k));
      return Value::Arr(std::move(out));
    });
  if (name == "values")
    return Bound([o](auto&) {
      Array out;
      for (auto& [k, v] : o->items) out.push_back(v);
      return Value::Arr(std::move(out));
    });
  if (name == "dictsort")
    return Bound([o](std::vector<Value>& args) {
      std::shared_ptr<Object> kw;
      std::vector<Value> pos;
      for (auto& a : args) { if (a.k == K::KwArgs) kw = a.o; else pos.push_back(a); }
      auto pick = [&](size_t i, const char* k, Value def) {
        if (i < pos.size()) return pos[i];
        if (kw) if (const Value* v = kw->get(k)) return *v;
        return def;
      };
      Value cs = pick(0, "case_sensitive", Value::Bool(false));
      if (cs.k != K::Bool) Fail("case_sensitive must be a boolean");
      Value by = pick(1, "by", Value::Str("key"));
      if (by.k != K::Str) Fail("by must be a string");
      if (*by.s != "key" && *by.s != "value") Fail("by must be either 'key' or 'value'");
      Value rev = pick(2, "reverse", Value::Bool(false));
      if (rev.k != K::Bool) Fail("reverse must be a boolean");
      size_t idx = *by.s == "key" ? 0 : 1;
      Array items;
      for (auto& [k, v] : o->items) items.push_back(Value::Arr({Value::Str(k), v}));
      if (items.size() > 1) {  // validate comparability up front (comparators must not throw)
        for (size_t i = 1; i < items.size(); ++i) CompareValues((*items[0].a)[idx], (*items[i].a)[idx], cs.b);
      }
      std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
        int r = CompareValues((*x.a)[idx], (*y.a)[idx], cs.b);
        return rev.b ? r > 0 : r < 0;
      });
      return Value::Arr(std::move(items));
    });
  return Value::Undef();
}

bool HasTest(const std::string& n) {
  static const char* kTests[] = {"boolean", "callable", "odd", "even", "false", "true", "none", "string", "number",
                                 "integer", "iterable", "mapping", "sequence", "lower", "upper", "defined",
                                 "undefined", "equalto", "eq"};
  for (auto t : kTests) if (n == t) return true;
  return false;
}

bool RunTest(const std::string& n, const Value& a, const Value* b) {
  if (n == "boolean") return a.k == K::Bool;
  if (n == "callable") return a.k == K::Func;
  if (n == "odd" || n == "even") {
    if (a.k != K::Int) Fail("cannot " + n + " on " + TypeName(a));
    double r = std::fmod(a.n, 2);
    return n == "odd" ? r != 0 : r == 0;
  }
  if (n == "false") return a.k == K::Bool && !a.b;
  if (n == "true") return a.k == K::Bool && a.b;
  if (n == "none") return a.k == K::Null;
  if (n == "string") return a.k == K::Str;
  if (n == "number") return a.is_num();
  if (n == "integer") return a.k == K::Int;
  if (n == "iterable") return a.k == K::Array || a.k == K::Str;
  if (n == "mapping") return a.is_object();
  if (n == "sequence") return a.is_array() || a.is_object() || a.k == K::Str;
  if (n == "lower") return a.k == K::Str && *a.s == JsLower(*a.s);
  if (n == "upper") return a.k == K::Str && *a.s == JsUpper(*a.s);
  if (n == "defined") return a.k != K::Undefined;
  if (n == "undefined") return a.k == K::Undefined;
  if (n == "equalto" || n == "eq") {
    if (!b) Fail("test '" + n + "' requires an argument");
    return StrictEq(a, *b);
  }
  Fail("Unknown test: " + n);
}

void InstallGlobals(Env& env, Interp& in) {
  (void)in;
  env.Set("namespace", Value::Func([](Interp& in, std::vector<Value>& args, const EnvP&) {
    std::vector<Value> pos = args;
    std::shared_ptr<Object> kw;
    if (!pos.empty() && pos.back().k == K::KwArgs) { kw = pos.back().o; pos.pop_back(); }
    if (pos.size() > 1) Fail(strfmt("namespace expected at most 1 argument, got %zu", pos.size()));
    auto ns = std::make_shared<Object>();
    if (pos.size() == 1) {
      const Value& src = pos[0];
      if (src.is_object()) {
        for (auto& [k, v] : src.o->items) ns->set(k, v);
      } else if (src.is_array()) {
        for (auto& pair : *src.a) {
          std::vector<Value> kv;
          if (pair.is_array()) kv = *pair.a;
          else if (pair.k == K::Str) for (auto& c : CodePoints(*pair.s)) kv.push_back(Value::Str(c));
          if (kv.size() != 2) Fail("namespace expected an object or an iterable of [key, value] pairs");
          if (kv[0].k != K::Str) Fail("namespace keys must be strings");
          ns->set(*kv[0].s, kv[1]);
        }
      } else {
        Fail(std::string("'") + TypeName(src) + "' object is not iterable");
      }
    }
    if (kw) for (auto& [k, v] : kw->items) ns->set(k, v);
    in.namespaces.push_back(ns);
    return Value::Obj(ns, K::Namespace);
  }));
  env.Set("false", Value::Bool(false));
  env.Set("true", Value::Bool(true));
  env.Set("none", Value::Null());
  env.Set("False", Value::Bool(false));
  env.Set("True", Value::Bool(true));
  env.Set("None", Value::Null());
  env.Set("raise_exception", Value::Func([](Interp&, std::vector<Value>& args, const EnvP&) -> Value {
    if (args.empty() || args[0].k == K::Undefined) throw JinjaError{"", -1};
    throw JinjaError{JsRaw(args[0]), -1};  // line -1: the template's own message, reported verbatim
  }));
  env.Set("range", Value::Func([](Interp& in, std::vector<Value>& args, const EnvP&) {
    std::vector<double> a;
    for (auto& v : args) {
      if (v.k == K::Undefined) break;
      if (!v.is_num() && v.k != K::Bool) Fail("range() arguments must be numbers");
      a.push_back(v.k == K::Bool ? (v.b ? 1 : 0) : v.n);
    }
    if (a.empty()) Fail("range expected at least 1 argument");
    double start = 0, stop = a[0], step = 1;
    if (a.size() >= 2) { start = a[0]; stop = a[1]; }
    if (a.size() >= 3) step = a[2];
    if (step == 0) Fail("range() step must not be zero");
    if (std::isnan(start) || std::isnan(stop) || std::isnan(step)) return Value::Arr({});
    double count = step > 0 ? std::ceil((stop - start) / step) : std::ceil((start - stop) / -step);
    if (count > (double)kMaxArrayLen) Fail(strfmt("range() of %.0f elements is too large", count));
    Array out;
    if (step > 0) { for (double i = start; i < stop; i += step) out.push_back(i == std::floor(i) ? Value::Int(i) : Value::Float(i)); }
    else { for (double i = start; i > stop; i += step) out.push_back(i == std::floor(i) ? Value::Int(i) : Value::Float(i)); }
    in.CheckArray(out.size());
    return Value::Arr(std::move(out));
  }));
  env.Set("strftime_now", Value::Func([](Interp&, std::vector<Value>& args, const EnvP&) {
    if (args.empty() || args[0].k != K::Str) Fail("strftime_now() expects a format string");
    return Value::Str(StrftimeNow(*args[0].s));
  }));
}

}  // namespace moecat::jinja
