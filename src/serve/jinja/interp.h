// Interpreter internals shared by eval.cpp, builtins.cpp and jinja.cpp.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "serve/jinja/ast.h"
#include "serve/jinja/jinja.h"
#include "serve/jinja/value.h"

namespace moecat::jinja {

struct Program {
  NodeP root;
};

// A variable scope; for-loops and macro calls chain a child to their parent like the reference.
struct Env {
  std::shared_ptr<Env> parent;
  std::unordered_map<std::string, Value> vars;
  explicit Env(std::shared_ptr<Env> p = nullptr) : parent(std::move(p)) {}
  const Value* Lookup(const std::string& name) const {
    for (const Env* e = this; e; e = e->parent.get()) {
      auto it = e->vars.find(name);
      if (it != e->vars.end()) return &it->second;
    }
    return nullptr;
  }
  void Set(const std::string& name, Value v) { vars[name] = std::move(v); }
};
using EnvP = std::shared_ptr<Env>;

struct BreakSignal {};
struct ContinueSignal {};

constexpr size_t kMaxArrayLen = size_t(1) << 20;  // elements in one array built by a template

struct Interp {
  Limits lim;
  int64_t steps = 0;
  int depth = 0;
  int max_depth = 256;
  std::vector<std::shared_ptr<Object>> namespaces;  // cleared after render: breaks ns cycles

  void Step(int64_t n = 1) {
    steps += n;
    if (steps > lim.max_steps) Fail(strfmt("template exceeded max_steps (%lld)", (long long)lim.max_steps));
  }
  void CheckSize(size_t bytes) const {
    if ((int64_t)bytes > lim.max_output_bytes)
      Fail(strfmt("template output exceeds max_output_bytes (%lld)", (long long)lim.max_output_bytes));
  }
  void CheckArray(size_t n) {
    if (n > kMaxArrayLen) Fail(strfmt("array of %zu elements is too large", n));
    Step((int64_t)n / 16);
  }

  Value Eval(const Node* n, const EnvP& env);
  std::string Block(const std::vector<NodeP>& stmts, const EnvP& env);
  void EvalArgs(const std::vector<NodeP>& args, const EnvP& env, std::vector<Value>* pos, std::shared_ptr<Object>* kw);
  Value Call(const Value& fn, std::vector<Value>& args, const EnvP& env);
  Value ApplyFilter(const Value& operand, const Node* filter, const EnvP& env);  // builtins.cpp

 private:
  Value EvalBinary(const Node* n, const EnvP& env);
  Value EvalMember(const Node* n, const EnvP& env);
  Value EvalSlice(const Value& obj, const Node* n, const EnvP& env);
  Value EvalFor(const Node* n, const EnvP& env);
  void EvalSet(const Node* n, const EnvP& env);
  Value MakeMacro(const Node* n, bool call_block, const EnvP& captured);
  void BindMacroArgs(const std::string& name, const std::vector<NodeP>& params, bool use_kwargs, bool use_varargs,
                     std::vector<Value> args, const EnvP& scope);
};

// Builtins (builtins.cpp).
Value StringMember(const Value& s, const std::string& name);  // methods / length of a string
Value ObjectMember(const Value& o, const std::string& name);  // get/items/keys/values/dictsort
bool RunTest(const std::string& name, const Value& a, const Value* b);
bool HasTest(const std::string& name);
int CompareValues(const Value& a, const Value& b, bool case_sensitive);
void InstallGlobals(Env& env, Interp& in);
std::string StrftimeNow(const std::string& fmt);
void SetStrftimeOverrideForTesting(std::string fixed);  // empty: use the clock

}  // namespace moecat::jinja
