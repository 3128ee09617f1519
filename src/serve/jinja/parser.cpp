// Parser: recursive descent with @huggingface/jinja's grammar and precedence. Recursion and
// subtree height are bounded so hostile templates fail with an error instead of a stack overflow.
#include <algorithm>
#include <cmath>
#include <set>

#include "serve/jinja/ast.h"
#include "serve/jinja/value.h"

namespace moecat::jinja {

namespace {

constexpr int kMaxParseDepth = 200;   // nested (, [, {, blocks, unary chains
constexpr int kMaxNodeHeight = 1000;  // e.g. a+a+a+... chains

struct Parser {
  const std::vector<Token>& t;
  size_t cur = 0;
  int depth = 0;

  struct Guard {
    Parser* p;
    explicit Guard(Parser* pp) : p(pp) {
      if (++p->depth > kMaxParseDepth) p->Err("template nested too deeply");
    }
    ~Guard() { --p->depth; }
  };

  int Line() const { return t.empty() ? 0 : t[std::min(cur, t.size() - 1)].line; }
  [[noreturn]] void Err(const std::string& m) const { throw JinjaError{"syntax error: " + m, Line()}; }

  const Token& Tok(size_t i) const {
    if (i >= t.size()) Err("unexpected end of template");
    return t[i];
  }
  bool Is(T a) const { return cur < t.size() && t[cur].type == a; }
  bool Is2(T a, T b) const { return cur + 1 < t.size() && t[cur].type == a && t[cur + 1].type == b; }
  bool IsIdent(const char* name, size_t off = 0) const {
    return cur + off < t.size() && t[cur + off].type == T::Ident && t[cur + off].value == name;
  }
  bool IsStmt(std::initializer_list<const char*> names) const {
    if (cur + 1 >= t.size() || t[cur].type != T::OStmt || t[cur + 1].type != T::Ident) return false;
    for (auto n : names) if (t[cur + 1].value == n) return true;
    return false;
  }
  const Token& Expect(T type, const char* what) {
    const Token& k = Tok(cur);
    if (k.type != type) Err(std::string(what) + ", got '" + k.value + "'");
    ++cur;
    return k;
  }
  void ExpectIdent(const char* name) {
    if (!IsIdent(name)) Err(std::string("expected ") + name);
    ++cur;
  }

  NodeP Mk(NK k) {
    auto n = std::make_unique<Node>();
    n->kind = k;
    n->line = Line();
    return n;
  }
  // Computes the height of a freshly built node from its children and enforces the bound.
  NodeP Fin(NodeP n) {
    int h = 0;
    for (Node* c : {n->x.get(), n->y.get(), n->z.get()}) if (c) h = std::max(h, c->h);
    for (auto* v : {&n->a, &n->b}) for (auto& c : *v) h = std::max(h, c->h);
    for (auto& [k, v] : n->kv) h = std::max({h, k->h, v->h});
    n->h = h + 1;
    if (n->h > kMaxNodeHeight) Err("expression nested too deeply");
    return n;
  }

  NodeP Any() {
    Guard g(this);
    const Token& k = Tok(cur);
    switch (k.type) {
      case T::Comment: { auto n = Mk(NK::Comment); ++cur; return n; }
      case T::Text: { auto n = Mk(NK::Text); n->str = k.value; ++cur; return n; }
      case T::OStmt: return Statement();
      case T::OExpr: {
        ++cur;
        auto e = Expression();
        Expect(T::CExpr, "expected '}}'");
        return e;
      }
      default: Err("unexpected token '" + k.value + "'");
    }
  }

  void BodyUntil(std::vector<NodeP>& body, std::initializer_list<const char*> names) {
    while (!IsStmt(names)) body.push_back(Any());
  }

  NodeP Statement() {
    Expect(T::OStmt, "expected '{%'");
    const Token& k = Tok(cur);
    if (k.type != T::Ident) Err("unknown statement");
    std::string name = k.value;
    NodeP r;
    if (name == "set") {
      ++cur;
      r = Mk(NK::Set);
      r->x = Sequence(false);
      if (Is(T::Equals)) {
        ++cur;
        r->y = Sequence(false);
      } else {
        Expect(T::CStmt, "expected '%}'");
        BodyUntil(r->a, {"endset"});
        Expect(T::OStmt, "expected '{%'");
        ExpectIdent("endset");
      }
      Expect(T::CStmt, "expected '%}'");
    } else if (name == "if") {
      ++cur;
      r = If();
      Expect(T::OStmt, "expected '{%'");
      ExpectIdent("endif");
      Expect(T::CStmt, "expected '%}'");
    } else if (name == "macro") {
      ++cur;
      r = Mk(NK::Macro);
      auto id = Primary();
      if (id->kind != NK::Ident) Err("expected identifier following macro statement");
      r->str = id->str;
      Args(r->b, true);
      Expect(T::CStmt, "expected '%}'");
      BodyUntil(r->a, {"endmacro"});
      Expect(T::OStmt, "expected '{%'");
      ExpectIdent("endmacro");
      Expect(T::CStmt, "expected '%}'");
    } else if (name == "for") {
      ++cur;
      r = For();
      Expect(T::OStmt, "expected '{%'");
      ExpectIdent("endfor");
      Expect(T::CStmt, "expected '%}'");
    } else if (name == "call") {
      ++cur;
      r = Mk(NK::CallStmt);
      if (Is(T::OParen)) { r->flag = true; Args(r->b, true); }
      auto callee = Primary();
      if (callee->kind != NK::Ident) Err("expected identifier following call statement");
      auto call = Mk(NK::Call);
      call->x = std::move(callee);
      Args(call->b, false);
      r->x = Fin(std::move(call));
      Expect(T::CStmt, "expected '%}'");
      BodyUntil(r->a, {"endcall"});
      Expect(T::OStmt, "expected '{%'");
      ExpectIdent("endcall");
      Expect(T::CStmt, "expected '%}'");
    } else if (name == "break" || name == "continue") {
      ++cur;
      Expect(T::CStmt, "expected '%}'");
      r = Mk(name == "break" ? NK::Break : NK::Continue);
    } else if (name == "filter") {
      ++cur;
      r = Mk(NK::FilterStmt);
      auto f = Primary();
      if (f->kind == NK::Ident && Is(T::OParen)) f = CallExpr(std::move(f));
      r->x = std::move(f);
      Expect(T::CStmt, "expected '%}'");
      BodyUntil(r->a, {"endfilter"});
      Expect(T::OStmt, "expected '{%'");
      ExpectIdent("endfilter");
      Expect(T::CStmt, "expected '%}'");
    } else {
      Err("unknown statement type: " + name);
    }
    return Fin(std::move(r));
  }

  NodeP If() {
    Guard g(this);
    auto r = Mk(NK::If);
    r->x = Expression();
    Expect(T::CStmt, "expected '%}'");
    BodyUntil(r->a, {"elif", "else", "endif"});
    if (IsStmt({"elif"})) {
      cur += 2;
      r->b.push_back(If());
    } else if (IsStmt({"else"})) {
      cur += 2;
      Expect(T::CStmt, "expected '%}'");
      BodyUntil(r->b, {"endif"});
    }
    return Fin(std::move(r));
  }

  NodeP For() {
    auto r = Mk(NK::For);
    r->x = Sequence(true);
    if (r->x->kind != NK::Ident && r->x->kind != NK::TupleLit) Err("expected identifier/tuple for the loop variable");
    if (!IsIdent("in")) Err("expected `in` keyword following loop variable");
    ++cur;
    r->y = Expression();
    Expect(T::CStmt, "expected '%}'");
    BodyUntil(r->a, {"endfor", "else"});
    if (IsStmt({"else"})) {
      cur += 2;
      Expect(T::CStmt, "expected '%}'");
      BodyUntil(r->b, {"endfor"});
    }
    return r;
  }

  NodeP Sequence(bool primary) {
    std::vector<NodeP> xs;
    xs.push_back(primary ? Primary() : Expression());
    bool tuple = Is(T::Comma);
    while (tuple) {
      ++cur;
      xs.push_back(primary ? Primary() : Expression());
      if (!Is(T::Comma)) break;
    }
    if (!tuple) return std::move(xs[0]);
    auto n = Mk(NK::TupleLit);
    n->b = std::move(xs);
    return Fin(std::move(n));
  }

  NodeP Expression() {
    Guard g(this);
    auto a = Or();
    if (IsIdent("if")) {
      ++cur;
      auto test = Or();
      if (IsIdent("else")) {
        ++cur;
        auto n = Mk(NK::Ternary);
        n->x = std::move(test);
        n->y = std::move(a);
        n->z = Expression();
        return Fin(std::move(n));
      }
      auto n = Mk(NK::Select);
      n->x = std::move(a);
      n->y = std::move(test);
      return Fin(std::move(n));
    }
    return a;
  }

  NodeP Bin(std::string op, NodeP l, NodeP r) {
    auto n = Mk(NK::Binary);
    n->str = std::move(op);
    n->x = std::move(l);
    n->y = std::move(r);
    return Fin(std::move(n));
  }

  NodeP Or() {
    auto l = And();
    while (IsIdent("or")) { ++cur; l = Bin("or", std::move(l), And()); }
    return l;
  }
  NodeP And() {
    auto l = Not();
    while (IsIdent("and")) { ++cur; l = Bin("and", std::move(l), Not()); }
    return l;
  }
  NodeP Not() {
    if (IsIdent("not")) {
      Guard g(this);
      ++cur;
      auto n = Mk(NK::Unary);
      n->str = "not";
      n->x = Not();
      return Fin(std::move(n));
    }
    return Comparison();
  }
  NodeP Comparison() {
    auto l = Additive();
    while (true) {
      std::string op;
      if (IsIdent("not") && IsIdent("in", 1)) { op = "not in"; cur += 2; }
      else if (IsIdent("in")) { op = "in"; ++cur; }
      else if (Is(T::Cmp)) { op = t[cur++].value; }
      else break;
      l = Bin(op, std::move(l), Additive());
    }
    return l;
  }
  NodeP Additive() {
    auto l = Multiplicative();
    while (Is(T::Add)) { std::string op = t[cur++].value; l = Bin(op, std::move(l), Multiplicative()); }
    return l;
  }
  NodeP Multiplicative() {
    auto l = Power();
    while (Is(T::Mul)) { std::string op = t[cur++].value; l = Bin(op, std::move(l), Power()); }
    return l;
  }
  NodeP Power() {
    auto l = TestExpr();
    while (Is(T::Pow)) { ++cur; l = Bin("**", std::move(l), TestExpr()); }
    return l;
  }
  NodeP TestExpr() {
    auto operand = FilterExpr();
    while (IsIdent("is")) {
      ++cur;
      bool neg = IsIdent("not");
      if (neg) ++cur;
      auto f = Primary();
      if (f->kind != NK::Ident) Err("expected identifier for the test");
      auto n = Mk(NK::Test);
      n->x = std::move(operand);
      n->str = f->str;
      n->flag = neg;
      operand = Fin(std::move(n));
    }
    return operand;
  }
  NodeP FilterExpr() {
    auto operand = UnarySign();
    while (Is(T::Pipe)) {
      ++cur;
      auto f = Primary();
      if (f->kind != NK::Ident) Err("expected identifier for the filter");
      if (Is(T::OParen)) f = CallExpr(std::move(f));
      auto n = Mk(NK::Filter);
      n->x = std::move(operand);
      n->y = std::move(f);
      operand = Fin(std::move(n));
    }
    return operand;
  }
  NodeP UnarySign() {
    if (cur < t.size() && (t[cur].type == T::Unary || t[cur].type == T::Add) && (t[cur].value == "-" || t[cur].value == "+")) {
      Guard g(this);
      auto n = Mk(NK::Unary);
      n->str = t[cur++].value;
      n->x = UnarySign();
      return Fin(std::move(n));
    }
    auto m = Member(Primary());
    if (Is(T::OParen)) return CallExpr(std::move(m));
    return m;
  }
  NodeP CallExpr(NodeP callee) {
    Guard g(this);
    auto n = Mk(NK::Call);
    n->x = std::move(callee);
    Args(n->b, false);
    auto e = Member(Fin(std::move(n)));
    if (Is(T::OParen)) e = CallExpr(std::move(e));
    return e;
  }
  void Args(std::vector<NodeP>& out, bool params) {
    Guard g(this);
    Expect(T::OParen, "expected '('");
    std::set<std::string> names;
    bool saw_kw = false, saw_spread = false;
    while (!Is(T::CParen)) {
      bool kwspread = Is(T::Pow);
      bool spread = Is(T::Mul) && t[cur].value == "*";
      if (params && (kwspread || spread)) Err("argument unpacking is not allowed in parameter declarations");
      if (kwspread) {
        ++cur;
        auto n = Mk(NK::KwSpread);
        n->x = Expression();
        out.push_back(Fin(std::move(n)));
        if (Is(T::Comma)) ++cur;
        if (!Is(T::CParen)) Err("`**` must be applied to the final argument");
        break;
      }
      NodeP arg;
      if (spread) {
        if (saw_spread) Err("only one `*` argument unpacking is allowed");
        saw_spread = true;
        ++cur;
        arg = Mk(NK::Spread);
        arg->x = Expression();
        arg = Fin(std::move(arg));
      } else {
        arg = Expression();
        if (Is(T::Equals)) {
          ++cur;
          if (arg->kind != NK::Ident) Err("expected identifier for keyword argument");
          auto kw = Mk(NK::KwArg);
          kw->str = arg->str;
          kw->x = Expression();
          arg = Fin(std::move(kw));
        }
        if (params) {
          if (arg->kind != NK::Ident && arg->kind != NK::KwArg) Err("expected identifier for parameter declaration");
          if (!names.insert(arg->str).second) Err("duplicate parameter name: " + arg->str);
        }
        if (arg->kind == NK::KwArg) saw_kw = true;
        else if (saw_kw) Err(params ? "non-default argument follows default argument" : "positional argument follows keyword argument");
        else if (saw_spread) Err("positional arguments must not follow `*` argument unpacking");
      }
      out.push_back(std::move(arg));
      if (Is(T::Comma)) ++cur;
    }
    Expect(T::CParen, "expected ')'");
  }
  NodeP SliceOrIndex() {
    std::vector<NodeP> parts;
    bool is_slice = false;
    while (!Is(T::CSq)) {
      if (Is(T::Colon)) {
        parts.push_back(nullptr);
        ++cur;
        is_slice = true;
      } else {
        parts.push_back(Expression());
        if (Is(T::Colon)) { ++cur; is_slice = true; }
      }
      if (cur >= t.size()) Err("unexpected end of template");
    }
    if (parts.empty()) Err("expected at least one argument for member/slice expression");
    if (!is_slice) return std::move(parts[0]);
    if (parts.size() > 3) Err("expected 0-3 arguments for slice expression");
    auto n = Mk(NK::Slice);
    parts.resize(3);
    n->x = std::move(parts[0]);
    n->y = std::move(parts[1]);
    n->z = std::move(parts[2]);
    return Fin(std::move(n));
  }
  NodeP Member(NodeP obj) {
    while (Is(T::Dot) || Is(T::OSq)) {
      bool computed = Is(T::OSq);
      ++cur;
      auto n = Mk(NK::Member);
      n->flag = computed;
      if (computed) {
        Guard g(this);
        n->y = SliceOrIndex();
        Expect(T::CSq, "expected ']'");
      } else {
        n->y = Primary();
        if (n->y->kind != NK::Ident && n->y->kind != NK::IntLit) Err("expected identifier or integer following dot operator");
      }
      n->x = std::move(obj);
      obj = Fin(std::move(n));
    }
    return obj;
  }
  NodeP Primary() {
    Guard g(this);
    const Token& k = Tok(cur++);
    switch (k.type) {
      case T::Num: {
        auto n = Mk(k.value.find('.') != std::string::npos ? NK::FloatLit : NK::IntLit);
        n->num = std::strtod(k.value.c_str(), nullptr);
        return n;
      }
      case T::Str: {
        auto n = Mk(NK::StrLit);
        n->str = k.value;
        while (Is(T::Str)) n->str += t[cur++].value;
        return n;
      }
      case T::Ident: {
        auto n = Mk(NK::Ident);
        n->str = k.value;
        return n;
      }
      case T::OParen: {
        auto e = Sequence(false);
        Expect(T::CParen, "expected ')'");
        return e;
      }
      case T::OSq: {
        auto n = Mk(NK::ArrayLit);
        while (!Is(T::CSq)) {
          n->b.push_back(Expression());
          if (Is(T::Comma)) ++cur;
          if (cur >= t.size()) Err("unexpected end of template");
        }
        ++cur;
        return Fin(std::move(n));
      }
      case T::OCurly: {
        auto n = Mk(NK::ObjectLit);
        while (!Is(T::CCurly)) {
          auto key = Expression();
          Expect(T::Colon, "expected ':' in object literal");
          auto val = Expression();
          n->kv.emplace_back(std::move(key), std::move(val));
          if (Is(T::Comma)) ++cur;
          if (cur >= t.size()) Err("unexpected end of template");
        }
        ++cur;
        return Fin(std::move(n));
      }
      default: Err("unexpected token '" + k.value + "'");
    }
  }
};

}  // namespace

NodeP ParseProgram(const std::vector<Token>& tokens) {
  Parser p{tokens};
  auto prog = std::make_unique<Node>();
  prog->kind = NK::Program;
  while (p.cur < tokens.size()) prog->a.push_back(p.Any());
  return prog;
}

}  // namespace moecat::jinja
