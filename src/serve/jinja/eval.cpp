// Tree-walking evaluator: a port of @huggingface/jinja's Interpreter (statement/expression
// semantics, scoping, loop quirks), with step/depth/size accounting on every node.
#include <cmath>

#include "serve/jinja/interp.h"

namespace moecat::jinja {

namespace {

struct DepthGuard {
  Interp* in;
  explicit DepthGuard(Interp* i) : in(i) {
    if (++in->depth > in->max_depth) Fail(strfmt("template nesting exceeds max_depth (%d)", in->max_depth));
  }
  ~DepthGuard() { --in->depth; }
};

// Does the macro body read `kwargs` / `varargs` (the reference scans for such loads)?
void ScanSpecial(const Node* n, bool* kw, bool* va) {
  if (!n) return;
  if (n->kind == NK::Ident) {
    if (n->str == "kwargs") *kw = true;
    if (n->str == "varargs") *va = true;
  }
  if (n->kind == NK::Filter && n->y && n->y->kind == NK::Ident) { ScanSpecial(n->x.get(), kw, va); return; }
  ScanSpecial(n->x.get(), kw, va);
  ScanSpecial(n->y.get(), kw, va);
  ScanSpecial(n->z.get(), kw, va);
  for (auto& c : n->a) ScanSpecial(c.get(), kw, va);
  for (auto& c : n->b) ScanSpecial(c.get(), kw, va);
  for (auto& [k, v] : n->kv) { ScanSpecial(k.get(), kw, va); ScanSpecial(v.get(), kw, va); }
}

bool IsNumLike(const Value& v) { return v.is_num() || v.k == K::Bool; }
double NumOf(const Value& v) { return v.k == K::Bool ? (v.b ? 1 : 0) : v.n; }

// String.prototype.at() on UTF-16 code units.
Value StrAt(const std::string& s, double idx) {
  bool ascii = true;
  for (unsigned char c : s) if (c >= 0x80) { ascii = false; break; }
  if (ascii) {
    double i = idx < 0 ? idx + (double)s.size() : idx;
    if (i < 0 || i >= (double)s.size()) return Value::Undef();
    return Value::Str(std::string(1, s[(size_t)i]));
  }
  std::vector<std::string> units;  // each UTF-16 unit rendered as UTF-8 (lone surrogates as WTF-8)
  for (auto& cp : CodePoints(s)) {
    if (cp.size() == 4) {
      uint32_t c = ((cp[0] & 7) << 18) | ((cp[1] & 0x3f) << 12) | ((cp[2] & 0x3f) << 6) | (cp[3] & 0x3f);
      c -= 0x10000;
      for (uint32_t u : {0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff)}) {
        std::string e;
        e += (char)(0xE0 | (u >> 12));
        e += (char)(0x80 | ((u >> 6) & 0x3F));
        e += (char)(0x80 | (u & 0x3F));
        units.push_back(e);
      }
    } else {
      units.push_back(cp);
    }
  }
  double i = idx < 0 ? idx + (double)units.size() : idx;
  if (i < 0 || i >= (double)units.size()) return Value::Undef();
  return Value::Str(units[(size_t)i]);
}

template <class T>
std::vector<T> PySlice(const std::vector<T>& arr, const Value& vs, const Value& ve, const Value& vstep) {
  int64_t len = (int64_t)arr.size();
  int64_t step = vstep.k == K::Undefined ? 1 : (int64_t)vstep.n;
  int dir = step > 0 ? 1 : step < 0 ? -1 : 0;
  int64_t start, stop;
  if (dir >= 0) {
    start = vs.k == K::Undefined ? 0 : (int64_t)vs.n;
    start = start < 0 ? std::max<int64_t>(len + start, 0) : std::min(start, len);
    stop = ve.k == K::Undefined ? len : (int64_t)ve.n;
    stop = stop < 0 ? std::max<int64_t>(len + stop, 0) : std::min(stop, len);
  } else {
    start = vs.k == K::Undefined ? len - 1 : (int64_t)vs.n;
    start = start < 0 ? std::max<int64_t>(len + start, -1) : std::min(start, len - 1);
    stop = ve.k == K::Undefined ? -1 : (int64_t)ve.n;
    stop = stop < -1 ? std::max<int64_t>(len + stop, -1) : std::min(stop, len - 1);
  }
  std::vector<T> out;
  if (dir == 0) return out;
  for (int64_t i = start; dir * i < dir * stop; i += step) out.push_back(arr[(size_t)i]);
  return out;
}

}  // namespace

std::string Interp::Block(const std::vector<NodeP>& stmts, const EnvP& env) {
  std::string out;
  for (auto& s : stmts) {
    try {
      Value v = Eval(s.get(), env);
      if (IsHole(v)) Fail("Cannot read properties of undefined (reading 'type')");
      if (v.k != K::Null && v.k != K::Undefined) {
        if (v.k == K::Str) out += *v.s;
        else out += Display(v);
        CheckSize(out.size());
      }
    } catch (JinjaError& e) {
      if (e.line == 0) e.line = s->line;
      throw;
    }
  }
  return out;
}

void Interp::EvalArgs(const std::vector<NodeP>& args, const EnvP& env, std::vector<Value>* pos,
                      std::shared_ptr<Object>* kw) {
  *kw = std::make_shared<Object>();
  for (auto& a : args) {
    if (a->kind == NK::Spread) {
      Value v = Eval(a->x.get(), env);
      if (!v.is_array()) Fail(std::string("Cannot unpack non-iterable type: ") + TypeName(v));
      for (auto& e : *v.a) pos->push_back(e);
    } else if (a->kind != NK::KwArg && a->kind != NK::KwSpread) {
      pos->push_back(Eval(a.get(), env));
    }
  }
  for (auto& a : args) {
    if (a->kind == NK::KwArg) {
      if ((*kw)->get(a->str)) Fail("Got multiple values for keyword argument '" + a->str + "'");
      (*kw)->set(a->str, Eval(a->x.get(), env));
    } else if (a->kind == NK::KwSpread) {
      Value v = Eval(a->x.get(), env);
      if (!v.is_object()) Fail(std::string("Argument after ** must be a mapping, not ") + TypeName(v));
      for (auto& [k, x] : v.o->items) {
        if ((*kw)->get(k)) Fail("Got multiple values for keyword argument '" + k + "'");
        (*kw)->set(k, x);
      }
    }
  }
}

Value Interp::Call(const Value& fn, std::vector<Value>& args, const EnvP& env) {
  if (fn.k != K::Func) Fail(std::string("Cannot call something that is not a function: got ") + TypeName(fn));
  DepthGuard g(this);
  return (*fn.f)(*this, args, env);
}

Value Interp::Eval(const Node* n, const EnvP& env) {
  if (!n) return Value::Undef();
  Step();
  DepthGuard g(this);
  switch (n->kind) {
    case NK::Program: return Value::Str(Block(n->a, env));
    case NK::Text: case NK::StrLit: return Value::Str(n->str);
    case NK::Comment: return Value::Null();
    case NK::Set: EvalSet(n, env); return Value::Null();
    case NK::If: return Value::Str(Block(Truthy(Eval(n->x.get(), env)) ? n->a : n->b, env));
    case NK::For: return EvalFor(n, env);
    case NK::Macro: env->Set(n->str, MakeMacro(n, false, nullptr)); return Value::Null();
    case NK::CallStmt: {
      Value caller = MakeMacro(n, true, env);
      std::vector<Value> args;
      std::shared_ptr<Object> kw;
      EvalArgs(n->x->b, env, &args, &kw);
      args.push_back(Value::Obj(kw, K::KwArgs));
      Value fn = Eval(n->x->x.get(), env);
      if (fn.k != K::Func) Fail(std::string("Cannot call something that is not a function: got ") + TypeName(fn));
      auto inner = std::make_shared<Env>(env);
      inner->Set("caller", caller);
      return Call(fn, args, inner);
    }
    case NK::Break: throw BreakSignal{};
    case NK::Continue: throw ContinueSignal{};
    case NK::IntLit: return Value::Int(n->num);
    case NK::FloatLit: return Value::Float(n->num);
    case NK::ArrayLit: case NK::TupleLit: {
      Array a;
      for (auto& c : n->b) a.push_back(Eval(c.get(), env));
      return Value::Arr(std::move(a), n->kind == NK::TupleLit ? K::Tuple : K::Array);
    }
    case NK::ObjectLit: {
      auto o = std::make_shared<Object>();
      for (auto& [k, v] : n->kv) {
        Value key = Eval(k.get(), env);
        if (key.k != K::Str) Fail(std::string("Object keys must be strings: got ") + TypeName(key));
        o->set(*key.s, Eval(v.get(), env));
      }
      return Value::Obj(std::move(o));
    }
    case NK::Ident: {
      const Value* v = env->Lookup(n->str);
      return v && !IsHole(*v) ? *v : Value::Undef();
    }
    case NK::Call: {
      std::vector<Value> args;
      std::shared_ptr<Object> kw;
      EvalArgs(n->b, env, &args, &kw);
      if (kw->size() > 0) args.push_back(Value::Obj(kw, K::KwArgs));
      Value fn = Eval(n->x.get(), env);
      return Call(fn, args, env);
    }
    case NK::Member: return EvalMember(n, env);
    case NK::Unary: {
      Value v = Eval(n->x.get(), env);
      if (IsHole(v)) Fail("Cannot read properties of undefined");
      if (n->str == "not") return Value::Bool(!Truthy(v));
      if (!IsNumLike(v)) Fail("Unknown operator \"" + n->str + "\" for " + TypeName(v));
      double r = (n->str == "-" ? -1 : 1) * NumOf(v);
      return v.k == K::Float ? Value::Float(r) : Value::Int(r);
    }
    case NK::Binary: return EvalBinary(n, env);
    case NK::Filter: return ApplyFilter(Eval(n->x.get(), env), n->y.get(), env);
    case NK::FilterStmt: return ApplyFilter(Value::Str(Block(n->a, env)), n->x.get(), env);
    case NK::Test: {
      Value v = Eval(n->x.get(), env);
      if (IsHole(v)) Fail("Cannot read properties of undefined");
      if (!HasTest(n->str)) Fail("Unknown test: " + n->str);
      bool r = RunTest(n->str, v, nullptr);
      return Value::Bool(n->flag ? !r : r);
    }
    case NK::Select: {
      if (!Truthy(Eval(n->y.get(), env))) return Value::Undef();
      return Eval(n->x.get(), env);
    }
    case NK::Ternary: return Truthy(Eval(n->x.get(), env)) ? Eval(n->y.get(), env) : Eval(n->z.get(), env);
    default: Fail("Unknown node type");
  }
}

Value Interp::EvalBinary(const Node* n, const EnvP& env) {
  const std::string& op = n->str;
  Value l = Eval(n->x.get(), env);
  if (IsHole(l)) Fail("Cannot read properties of undefined");
  if (op == "and") return Truthy(l) ? Eval(n->y.get(), env) : l;
  if (op == "or") return Truthy(l) ? l : Eval(n->y.get(), env);
  Value r = Eval(n->y.get(), env);
  if (IsHole(r)) Fail("Cannot read properties of undefined");
  if (op == "==") return Value::Bool(LooseEq(l, r));
  if (op == "!=") return Value::Bool(!LooseEq(l, r));
  if (l.k == K::Undefined || r.k == K::Undefined) {
    if (r.k == K::Undefined && (op == "in" || op == "not in")) return Value::Bool(op == "not in");
    Fail("Cannot perform operation " + op + " on undefined values");
  }
  if (l.k == K::Null || r.k == K::Null) Fail("Cannot perform operation on null values");
  if (op == "~") {
    std::string s = JsRaw(l);
    s += JsRaw(r);
    CheckSize(s.size());
    return Value::Str(std::move(s));
  }
  if (op == "**" && IsNumLike(l) && IsNumLike(r)) {
    double a = NumOf(l), b = NumOf(r);
    if (a == 0 && b < 0) Fail("0.0 cannot be raised to a negative power");
    double res = std::pow(a, b);
    if (!std::isfinite(res)) Fail("Exponentiation result is not a finite real number");
    bool fl = l.k == K::Float || r.k == K::Float || b < 0;
    return fl ? Value::Float(res) : Value::Int(res);
  }
  if (l.is_num() && r.is_num()) {
    double a = l.n, b = r.n;
    bool fl = l.k == K::Float || r.k == K::Float;
    if (op == "+" || op == "-" || op == "*") {
      double res = op == "+" ? a + b : op == "-" ? a - b : a * b;
      return fl ? Value::Float(res) : Value::Int(res);
    }
    if (op == "/") return Value::Float(a / b);
    if (op == "//") { double res = std::floor(a / b); return fl ? Value::Float(res) : Value::Int(res); }
    if (op == "%") { double res = std::fmod(a, b); return fl ? Value::Float(res) : Value::Int(res); }
    if (op == "<") return Value::Bool(a < b);
    if (op == ">") return Value::Bool(a > b);
    if (op == ">=") return Value::Bool(a >= b);
    if (op == "<=") return Value::Bool(a <= b);
  } else if (l.is_array() && r.is_array()) {
    if (op == "+") {
      Array a = *l.a;
      CheckArray(a.size() + r.a->size());
      a.insert(a.end(), r.a->begin(), r.a->end());
      return Value::Arr(std::move(a));
    }
  } else if (r.is_array()) {
    if (op == "in" || op == "not in") {
      bool found = false;
      for (auto& x : *r.a) if (StrictEq(x, l)) { found = true; break; }
      return Value::Bool(op == "in" ? found : !found);
    }
  }
  if ((l.k == K::Str || r.k == K::Str) && op == "+") {
    std::string s = JsRaw(l);
    s += JsRaw(r);
    CheckSize(s.size());
    return Value::Str(std::move(s));
  }
  if (l.k == K::Str && r.k == K::Str && (op == "in" || op == "not in")) {
    bool found = r.s->find(*l.s) != std::string::npos;
    return Value::Bool(op == "in" ? found : !found);
  }
  if (l.k == K::Str && r.is_object() && (op == "in" || op == "not in")) {
    bool found = r.o->get(*l.s) != nullptr;
    return Value::Bool(op == "in" ? found : !found);
  }
  Fail("Unknown operator \"" + op + "\" between " + TypeName(l) + " and " + TypeName(r));
}

Value Interp::EvalSlice(const Value& obj, const Node* n, const EnvP& env) {
  if (!obj.is_array() && obj.k != K::Str) Fail("Slice object must be an array or string");
  Value s = Eval(n->x.get(), env), e = Eval(n->y.get(), env), st = Eval(n->z.get(), env);
  for (const Value* v : {&s, &e, &st})
    if (v->k != K::Int && v->k != K::Undefined) Fail("Slice indices must be integers or undefined");
  if (obj.is_array()) return Value::Arr(PySlice(*obj.a, s, e, st));
  std::string out;
  for (auto& cp : PySlice(CodePoints(*obj.s), s, e, st)) out += cp;
  return Value::Str(std::move(out));
}

Value Interp::EvalMember(const Node* n, const EnvP& env) {
  Value obj = Eval(n->x.get(), env);
  if (IsHole(obj)) Fail("Cannot read properties of undefined");
  Value prop;
  if (n->flag) {
    if (n->y->kind == NK::Slice) return EvalSlice(obj, n->y.get(), env);
    prop = Eval(n->y.get(), env);
  } else if (n->y->kind == NK::IntLit) {
    prop = Value::Int(n->y->num);
  } else {
    prop = Value::Str(n->y->str);
  }
  if (obj.is_container()) {
    if (prop.k != K::Str) Fail(std::string("Cannot access property with non-string: got ") + TypeName(prop));
    if (const Value* v = obj.o->get(*prop.s)) return *v;
    return obj.is_object() ? ObjectMember(obj, *prop.s) : Value::Undef();
  }
  if (obj.is_array() || obj.k == K::Str) {
    if (prop.k == K::Int) {
      if (obj.k == K::Str) return StrAt(*obj.s, prop.n);
      double i = prop.n < 0 ? prop.n + (double)obj.a->size() : prop.n;
      if (i < 0 || i >= (double)obj.a->size()) return Value::Undef();
      return (*obj.a)[(size_t)i];
    }
    if (prop.k == K::Str) {
      if (obj.k == K::Str) return StringMember(obj, *prop.s);
      if (*prop.s == "length") return Value::Int((double)obj.a->size());
      return Value::Undef();
    }
    Fail(std::string("Cannot access property with non-string/non-number: got ") + TypeName(prop));
  }
  if (prop.k != K::Str) Fail(std::string("Cannot access property with non-string: got ") + TypeName(prop));
  return Value::Undef();
}

void Interp::EvalSet(const Node* n, const EnvP& env) {
  Value rhs = n->y ? Eval(n->y.get(), env) : Value::Str(Block(n->a, env));
  const Node* lhs = n->x.get();
  if (lhs->kind == NK::Ident) {
    env->Set(lhs->str, std::move(rhs));
  } else if (lhs->kind == NK::TupleLit) {
    if (!rhs.is_array()) Fail(std::string("Cannot unpack non-iterable type in set: ") + TypeName(rhs));
    if (rhs.a->size() != lhs->b.size())
      Fail(std::string("Too ") + (lhs->b.size() > rhs.a->size() ? "few" : "many") + " items to unpack in set");
    for (size_t i = 0; i < lhs->b.size(); ++i) {
      if (lhs->b[i]->kind != NK::Ident) Fail("Cannot unpack to non-identifier in set");
      env->Set(lhs->b[i]->str, (*rhs.a)[i]);
    }
  } else if (lhs->kind == NK::Member) {
    Value obj = Eval(lhs->x.get(), env);
    if (obj.k != K::Namespace) Fail("cannot assign attribute on non-namespace object");
    if (lhs->y->kind != NK::Ident) Fail("Cannot assign to member with non-identifier property");
    obj.o->set(lhs->y->str, std::move(rhs));
  } else {
    Fail("Invalid LHS inside assignment expression");
  }
}

Value Interp::EvalFor(const Node* n, const EnvP& env) {
  auto scope = std::make_shared<Env>(env);
  const Node* test = nullptr;
  Value iterable;
  if (n->y->kind == NK::Select) {
    iterable = Eval(n->y->x.get(), scope);
    test = n->y->y.get();
  } else {
    iterable = Eval(n->y.get(), scope);
  }
  if (!iterable.is_array() && !iterable.is_object())
    Fail(std::string("Expected iterable or object type in for loop: got ") + TypeName(iterable));
  Array src;
  if (iterable.is_object()) {
    for (auto& [k, v] : iterable.o->items) src.push_back(Value::Str(k));
  } else {
    src = *iterable.a;
  }
  const Node* lv = n->x.get();
  auto bind = [&](const EnvP& sc, const Value& cur) {
    if (lv->kind == NK::Ident) { sc->Set(lv->str, cur); return; }
    for (size_t j = 0; j < lv->b.size(); ++j) {
      if (lv->b[j]->kind != NK::Ident) Fail("Cannot unpack non-identifier type");
      sc->Set(lv->b[j]->str, (*cur.a)[j]);
    }
  };
  Array items;
  for (auto& cur : src) {
    Step();
    if (lv->kind == NK::TupleLit) {
      if (cur.k != K::Array) Fail(std::string("Cannot unpack non-iterable type: ") + TypeName(cur));
      if (lv->b.size() != cur.a->size())
        Fail(std::string("Too ") + (lv->b.size() > cur.a->size() ? "few" : "many") + " items to unpack");
    }
    if (test) {
      auto ls = std::make_shared<Env>(scope);
      bind(ls, cur);
      if (!Truthy(Eval(test, ls))) continue;
    }
    items.push_back(cur);
  }
  std::string result;
  bool no_iteration = true;
  const double len = (double)items.size();
  for (size_t i = 0; i < items.size(); ++i) {
    Step();
    auto loop = std::make_shared<Object>();
    loop->set("index", Value::Int((double)i + 1));
    loop->set("index0", Value::Int((double)i));
    loop->set("revindex", Value::Int(len - (double)i));
    loop->set("revindex0", Value::Int(len - (double)i - 1));
    loop->set("first", Value::Bool(i == 0));
    loop->set("last", Value::Bool(i + 1 == items.size()));
    loop->set("length", Value::Int(len));
    loop->set("previtem", i > 0 ? items[i - 1] : Value::Undef());
    loop->set("nextitem", i + 1 < items.size() ? items[i + 1] : Value::Undef());
    scope->Set("loop", Value::Obj(std::move(loop)));
    bind(scope, items[i]);
    try {
      result += Block(n->a, scope);
      CheckSize(result.size());
    } catch (ContinueSignal&) {
      continue;
    } catch (BreakSignal&) {
      break;
    }
    no_iteration = false;
  }
  if (no_iteration) result += Block(n->b, scope);
  return Value::Str(std::move(result));
}

void Interp::BindMacroArgs(const std::string& name, const std::vector<NodeP>& params, bool use_kwargs,
                           bool use_varargs, std::vector<Value> args, const EnvP& scope) {
  std::shared_ptr<Object> kw = std::make_shared<Object>();
  if (!args.empty() && args.back().k == K::KwArgs) {
    *kw = *args.back().o;
    args.pop_back();
  }
  std::vector<std::pair<std::string, const Node*>> pending;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string& pname = params[i]->str;
    const Node* def = params[i]->kind == NK::KwArg ? params[i]->x.get() : nullptr;
    Value v;
    bool have = i < args.size();
    if (have) v = args[i];
    if (have && IsHole(v)) have = false;  // JS: an `undefined` argument counts as missing
    if (!have) {
      if (auto it = kw->index.find(pname); it != kw->index.end()) {
        v = kw->items[it->second].second;
        have = true;
        auto rest = std::make_shared<Object>();
        for (auto& [k, x] : kw->items) if (k != pname) rest->set(k, x);
        kw = rest;
      }
    }
    if (!have && def) pending.emplace_back(pname, def);
    scope->Set(pname, have ? v : Value::Undef());
  }
  if (use_kwargs) scope->Set("kwargs", Value::Obj(kw));
  else if (kw->size() > 0) Fail("macro " + name + " takes no keyword argument '" + kw->items[0].first + "'");
  if (use_varargs) {
    Array rest;
    for (size_t i = params.size(); i < args.size(); ++i) rest.push_back(args[i]);
    scope->Set("varargs", Value::Arr(std::move(rest)));
  } else if (args.size() > params.size()) {
    Fail(strfmt("macro %s takes not more than %zu argument(s)", name.c_str(), params.size()));
  }
  for (auto& [pname, def] : pending) scope->Set(pname, Eval(def, scope));
}

Value Interp::MakeMacro(const Node* n, bool call_block, const EnvP& captured) {
  bool kw = false, va = false;
  for (auto& c : n->a) ScanSpecial(c.get(), &kw, &va);
  for (auto& p : n->b) if (p->str == "kwargs") kw = false; else if (p->str == "varargs") va = false;
  std::string name = call_block ? "None" : "'" + n->str + "'";
  return Value::Func([n, kw, va, name, captured](Interp& in, std::vector<Value>& args, const EnvP& caller_env) {
    auto scope = std::make_shared<Env>(captured ? captured : caller_env);
    in.BindMacroArgs(name, n->b, kw, va, args, scope);
    return Value::Str(in.Block(n->a, scope));
  });
}

}  // namespace moecat::jinja
