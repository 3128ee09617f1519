// Filters (`x | f` and `x | f(args)`), ported from @huggingface/jinja's applyFilter: the bare
// and the called form dispatch differently there, and so they do here.
#include <algorithm>
#include <cmath>

#include "serve/jinja/interp.h"

namespace moecat::jinja {

namespace {

// JS parseInt(s, 10) / parseFloat(s); NaN when no number prefix.
double JsParseInt(const std::string& s) {
  std::string t = JsTrim(s, true, false);
  size_t i = 0;
  bool neg = false;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) neg = t[i++] == '-';
  double r = 0;
  size_t b = i;
  while (i < t.size() && std::isdigit((unsigned char)t[i])) r = r * 10 + (t[i++] - '0');
  if (i == b) return NAN;
  return neg ? -r : r;
}
double JsParseFloat(const std::string& s) {
  std::string t = JsTrim(s, true, false);
  size_t i = 0;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
  if (t.compare(i, 8, "Infinity") == 0) return t[0] == '-' ? -INFINITY : INFINITY;
  size_t digits = 0;
  while (i < t.size() && std::isdigit((unsigned char)t[i])) ++i, ++digits;
  if (i < t.size() && t[i] == '.') { ++i; while (i < t.size() && std::isdigit((unsigned char)t[i])) ++i, ++digits; }
  if (!digits) return NAN;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    size_t j = i + 1;
    if (j < t.size() && (t[j] == '+' || t[j] == '-')) ++j;
    size_t e = j;
    while (j < t.size() && std::isdigit((unsigned char)t[j])) ++j;
    if (j > e) i = j;
  }
  return std::strtod(t.substr(0, i).c_str(), nullptr);
}

// Array.prototype.join on raw values: null/undefined -> "".
std::string JoinRaw(const Array& a, const std::string& sep, Interp& in) {
  std::string out;
  for (size_t i = 0; i < a.size(); ++i) {
    if (i) out += sep;
    if (a[i].k != K::Null && a[i].k != K::Undefined) out += JsRaw(a[i]);
    in.CheckSize(out.size());
  }
  return out;
}

Value GetAttrPath(const Value& item, const std::string& path) {
  Value v = item;
  size_t b = 0;
  while (true) {
    size_t e = path.find('.', b);
    std::string part = path.substr(b, e == std::string::npos ? std::string::npos : e - b);
    if (v.is_container()) {
      const Value* x = v.o->get(part);
      v = x ? *x : Value::Undef();
    } else if (v.is_array()) {
      char* end = nullptr;
      long idx = std::strtol(part.c_str(), &end, 10);
      if (end == part.c_str() || idx < 0 || (size_t)idx >= v.a->size()) return Value::Undef();
      v = (*v.a)[idx];
    } else {
      return Value::Undef();
    }
    if (e == std::string::npos) return v;
    b = e + 1;
  }
}

Value SortArray(const Array& in, bool reverse, bool cs, const Value& attr) {
  auto key = [&](const Value& x) {
    if (attr.k == K::Null) return x;
    return GetAttrPath(x, attr.k == K::Int ? JsNumber(attr.n) : *attr.s);
  };
  std::vector<std::pair<Value, Value>> items;
  for (auto& x : in) items.emplace_back(key(x), x);
  // Any correct sort compares every adjacent pair of its output, so an incomparable pair is an error
  // exactly when some pair is incomparable; check up front so the comparator never throws.
  for (size_t i = 1; i < items.size(); ++i) CompareValues(items[0].first, items[i].first, cs);
  std::stable_sort(items.begin(), items.end(), [&](auto& x, auto& y) {
    int r = CompareValues(x.first, y.first, cs);
    return reverse ? r > 0 : r < 0;
  });
  Array out;
  for (auto& p : items) out.push_back(p.second);
  return Value::Arr(std::move(out));
}

std::string Indent(const std::string& s, const std::string& ind, bool first, bool blank) {
  std::string out;
  size_t b = 0, i = 0;
  while (true) {
    size_t e = s.find('\n', b);
    std::string line = s.substr(b, e == std::string::npos ? std::string::npos : e - b);
    if (i) out += '\n';
    if (!((!first && i == 0) || (!blank && line.empty()))) out += ind;
    out += line;
    ++i;
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return out;
}

}  // namespace

Value Interp::ApplyFilter(const Value& op, const Node* fn, const EnvP& env) {
  if (IsHole(op) && !(fn->kind == NK::Ident && fn->str == "safe")) Fail("Cannot read properties of undefined");
  if (fn->kind == NK::Ident) {
    const std::string& f = fn->str;
    if (f == "safe") return op;
    if (f == "tojson") return Value::Str(ToJson(op, JsonOpts{}));
    if (op.is_array()) {
      const Array& a = *op.a;
      if (f == "list") return op;
      if (f == "first") return a.empty() ? Hole() : a.front();
      if (f == "last") return a.empty() ? Hole() : a.back();
      if (f == "length") return Value::Int((double)a.size());
      if (f == "reverse") return Value::Arr(Array(a.rbegin(), a.rend()));
      if (f == "sort") return SortArray(a, false, false, Value::Null());
      if (f == "join") return Value::Str(JoinRaw(a, "", *this));
      if (f == "string") return Value::Str(ToJson(op, JsonOpts{}, false));
      if (f == "unique") {
        Array out;
        for (auto& x : a) {
          bool seen = false;
          for (auto& y : out) if (StrictEq(x, y)) { seen = true; break; }
          Step();
          if (!seen) out.push_back(x);
        }
        return Value::Arr(std::move(out));
      }
      Fail("Unknown ArrayValue filter: " + f);
    }
    if (op.k == K::Str) {
      const std::string& s = *op.s;
      if (f == "length" || f == "upper" || f == "lower" || f == "title" || f == "capitalize") {
        Value m = StringMember(op, f);
        if (m.k == K::Int) return m;
        std::vector<Value> none;
        return Call(m, none, env);
      }
      if (f == "trim") return Value::Str(JsTrim(s, true, true));
      if (f == "indent") return Value::Str(Indent(s, "    ", false, false));
      if (f == "join" || f == "string") return op;
      if (f == "int") { double v = JsParseInt(s); return Value::Int(std::isnan(v) ? 0 : v); }
      if (f == "float") { double v = JsParseFloat(s); return Value::Float(std::isnan(v) ? 0 : v); }
      Fail("Unknown StringValue filter: " + f);
    }
    if (op.is_num()) {
      if (f == "abs") return op.k == K::Int ? Value::Int(std::fabs(op.n)) : Value::Float(std::fabs(op.n));
      if (f == "int") return Value::Int(std::floor(op.n));
      if (f == "float") return Value::Float(op.n);
      if (f == "string") return Value::Str(Display(op));
      Fail("Unknown NumericValue filter: " + f);
    }
    if (op.is_object()) {
      if (f == "length") return Value::Int((double)op.o->size());
      Value m = ObjectMember(op, f);
      if (m.k == K::Func) { std::vector<Value> none; return Call(m, none, env); }
      if (m.k != K::Undefined) return m;
      Fail("Unknown ObjectValue filter: " + f);
    }
    if (op.k == K::Bool) {
      if (f == "bool") return op;
      if (f == "int") return Value::Int(op.b ? 1 : 0);
      if (f == "float") return Value::Float(op.b ? 1 : 0);
      if (f == "string") return Value::Str(op.b ? "true" : "false");
      Fail("Unknown BooleanValue filter: " + f);
    }
    Fail("Cannot apply filter \"" + f + "\" to type: " + TypeName(op));
  }
  if (fn->kind != NK::Call) Fail("Unknown filter");
  if (fn->x->kind != NK::Ident) Fail("Unknown filter");
  const std::string& f = fn->x->str;
  std::vector<Value> args;
  std::shared_ptr<Object> kw;
  auto eval_args = [&] { args.clear(); EvalArgs(fn->b, env, &args, &kw); };
  auto kwget = [&](const char* k) -> const Value* { return kw ? kw->get(k) : nullptr; };
  if (f == "tojson") {
    eval_args();
    JsonOpts o;
    const Value* ind = kwget("indent");
    if (ind && ind->k != K::Int && ind->k != K::Null) Fail("If set, indent must be a number");
    if (ind && ind->k == K::Int) {
      if (ind->n > 1000) Fail("tojson indent too large");
      o.indent = ind->n > 0 ? (int)ind->n : 0;
    }
    const Value* ea = kwget("ensure_ascii");
    if (ea && ea->k != K::Bool) Fail("If set, ensure_ascii must be a boolean");
    o.ensure_ascii = ea && ea->b;
    const Value* sk = kwget("sort_keys");
    if (sk && sk->k != K::Bool) Fail("If set, sort_keys must be a boolean");
    o.sort_keys = sk && sk->b;
    const Value* sep = kwget("separators");
    if (sep && sep->is_array()) {
      if (sep->a->size() != 2 || (*sep->a)[0].k != K::Str || (*sep->a)[1].k != K::Str)
        Fail("separators must be a tuple of two strings");
      o.has_separators = true;
      o.item_sep = *(*sep->a)[0].s;
      o.key_sep = *(*sep->a)[1].s;
    } else if (sep && sep->k != K::Null) {
      Fail("If set, separators must be a tuple of two strings");
    }
    std::string out = ToJson(op, o);
    CheckSize(out.size());
    return Value::Str(std::move(out));
  }
  if (f == "join") {
    if (op.k != K::Str && !op.is_array()) Fail("Cannot apply filter \"join\" to type: " + std::string(TypeName(op)));
    eval_args();
    Value sep = !args.empty() ? args[0] : kwget("separator") ? *kwget("separator") : Value::Str("");
    if (sep.k != K::Str) Fail("separator must be a string");
    if (op.k == K::Str) {
      std::string out;
      auto cps = CodePoints(*op.s);
      for (size_t i = 0; i < cps.size(); ++i) { if (i) out += *sep.s; out += cps[i]; CheckSize(out.size()); }
      return Value::Str(std::move(out));
    }
    return Value::Str(JoinRaw(*op.a, *sep.s, *this));
  }
  if (f == "int" || f == "float") {
    eval_args();
    bool is_int = f == "int";
    Value def = !args.empty() ? args[0] : kwget("default") ? *kwget("default") : is_int ? Value::Int(0) : Value::Float(0);
    if (op.k == K::Str) {
      double v = is_int ? JsParseInt(*op.s) : JsParseFloat(*op.s);
      return std::isnan(v) ? def : is_int ? Value::Int(v) : Value::Float(v);
    }
    if (op.is_num()) return op;
    if (op.k == K::Bool) return is_int ? Value::Int(op.b ? 1 : 0) : Value::Float(op.b ? 1 : 0);
    Fail("Cannot apply filter \"" + f + "\" to type: " + TypeName(op));
  }
  if (f == "default") {
    eval_args();
    Value def = !args.empty() ? args[0] : Value::Str("");
    Value boolean = args.size() > 1 ? args[1] : kwget("boolean") ? *kwget("boolean") : Value::Bool(false);
    if (boolean.k != K::Bool) Fail("`default` filter flag must be a boolean");
    if (op.k == K::Undefined || (boolean.b && !Truthy(op))) return def;
    return op;
  }
  if (op.is_array()) {
    const Array& a = *op.a;
    if (f == "sort") {
      eval_args();
      auto pick = [&](size_t i, const char* k, Value d) { return i < args.size() ? args[i] : kwget(k) ? *kwget(k) : d; };
      Value rev = pick(0, "reverse", Value::Bool(false));
      if (rev.k != K::Bool) Fail("reverse must be a boolean");
      Value cs = pick(1, "case_sensitive", Value::Bool(false));
      if (cs.k != K::Bool) Fail("case_sensitive must be a boolean");
      Value attr = pick(2, "attribute", Value::Null());
      if (attr.k != K::Str && attr.k != K::Int && attr.k != K::Null) Fail("attribute must be a string, integer, or null");
      return SortArray(a, rev.b, cs.b, attr);
    }
    if (f == "selectattr" || f == "rejectattr") {
      bool select = f == "selectattr";
      for (auto& x : a) if (!x.is_container()) Fail("`" + f + "` can only be applied to array of objects");
      for (auto& x : fn->b) if (x->kind != NK::StrLit) Fail("arguments of `" + f + "` must be strings");
      std::vector<Value> sargs;
      for (auto& x : fn->b) sargs.push_back(Eval(x.get(), env));
      if (sargs.empty()) Fail("`" + f + "` requires an attribute name");
      if (sargs.size() > 1 && !HasTest(*sargs[1].s)) Fail("Unknown test: " + *sargs[1].s);
      Array out;
      for (auto& item : a) {
        Step();
        const Value* v = item.o->get(*sargs[0].s);
        bool r = false;
        if (v) r = sargs.size() > 1 ? RunTest(*sargs[1].s, *v, sargs.size() > 2 ? &sargs[2] : nullptr) : Truthy(*v);
        if (select ? r : !r) out.push_back(item);
      }
      return Value::Arr(std::move(out));
    }
    if (f == "map") {
      eval_args();
      const Value* attr = kwget("attribute");
      if (!attr) Fail("`map` expressions without `attribute` set are not currently supported.");
      if (attr->k != K::Str) Fail("attribute must be a string");
      const Value* def = kwget("default");
      Array out;
      for (auto& item : a) {
        if (!item.is_container()) Fail("items in map must be an object");
        Value v = GetAttrPath(item, *attr->s);
        out.push_back(v.k == K::Undefined ? (def ? *def : Value::Undef()) : v);
      }
      return Value::Arr(std::move(out));
    }
    Fail("Unknown ArrayValue filter: " + f);
  }
  if (op.k == K::Str) {
    if (f == "indent") {
      eval_args();
      auto pick = [&](size_t i, const char* k, Value d) { return i < args.size() ? args[i] : kwget(k) ? *kwget(k) : d; };
      Value width = pick(0, "width", Value::Int(4));
      if (width.k != K::Int) Fail("width must be a number");
      if (width.n > 1000) Fail("indent width too large");
      Value first = pick(1, "first", Value::Bool(false));
      Value blank = pick(2, "blank", Value::Bool(false));
      std::string out = Indent(*op.s, std::string(width.n > 0 ? (size_t)width.n : 0, ' '), Truthy(first), Truthy(blank));
      CheckSize(out.size());
      return Value::Str(std::move(out));
    }
    if (f == "replace") {
      eval_args();
      if (kw) args.push_back(Value::Obj(kw, K::KwArgs));
      Value m = StringMember(op, "replace");
      Value r = Call(m, args, env);
      CheckSize(r.s->size());
      return r;
    }
    Fail("Unknown StringValue filter: " + f);
  }
  if (op.is_object()) {
    Value m = ObjectMember(op, f);
    if (m.k == K::Func) {
      eval_args();
      if (kw && kw->size() > 0) args.push_back(Value::Obj(kw, K::KwArgs));
      return Call(m, args, env);
    }
    Fail("Unknown ObjectValue filter: " + f);
  }
  Fail("Cannot apply filter \"" + f + "\" to type: " + TypeName(op));
}

}  // namespace moecat::jinja
