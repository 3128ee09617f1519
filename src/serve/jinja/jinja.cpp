// Template::Parse / Render: the API boundary, where internal JinjaError exceptions become Status.
#include "serve/jinja/jinja.h"

#include <algorithm>

#include "serve/jinja/interp.h"

namespace moecat::jinja {

namespace {
Status ToStatus(const JinjaError& e, const char* phase) {
  if (e.line < 0) return Status::Error(e.msg);  // raise_exception(): the template's own message
  if (e.line > 0) return Errorf("jinja %s error (line %d): %s", phase, e.line, e.msg.c_str());
  return Errorf("jinja %s error: %s", phase, e.msg.c_str());
}
}  // namespace

Result<Template> Template::Parse(std::string_view source) {
  try {
    auto tokens = Tokenize(source);
    auto prog = std::make_shared<Program>();
    prog->root = ParseProgram(tokens);
    Template t;
    t.program_ = std::move(prog);
    return t;
  } catch (const JinjaError& e) {
    return ToStatus(e, "parse");
  } catch (const std::bad_alloc&) {
    return Errorf("jinja parse error: out of memory");
  }
}

Result<std::string> Template::Render(const nlohmann::ordered_json& ctx, const Limits& limits) const {
  if (!program_) return Errorf("jinja: template was not parsed");
  Interp in;
  in.lim = limits;
  // The evaluator recurses once per nesting level; cap it so a generous limit cannot overflow the stack.
  in.max_depth = std::clamp(limits.max_depth, 1, 1000);
  Status st;
  std::string out;
  try {
    auto env = std::make_shared<Env>();
    InstallGlobals(*env, in);
    if (!ctx.is_null()) {
      if (!ctx.is_object()) return Errorf("jinja render error: context must be a JSON object");
      for (auto it = ctx.begin(); it != ctx.end(); ++it) {
        if (env->vars.count(it.key())) return Errorf("jinja render error: Variable already declared: %s", it.key().c_str());
        env->Set(it.key(), FromJson(it.value()));
      }
    }
    out = in.Block(program_->root->a, env);
  } catch (const JinjaError& e) {
    st = ToStatus(e, "render");
  } catch (const BreakSignal&) {
    st = Errorf("jinja render error: 'break' outside of a loop");
  } catch (const ContinueSignal&) {
    st = Errorf("jinja render error: 'continue' outside of a loop");
  } catch (const std::bad_alloc&) {
    st = Errorf("jinja render error: out of memory");
  } catch (const std::length_error&) {
    st = Errorf("jinja render error: value too large");
  }
  // Namespaces are the only mutable values, hence the only way to build reference cycles.
  for (auto& ns : in.namespaces) { ns->items.clear(); ns->index.clear(); }
  if (!st.ok()) return st;
  return out;
}

}  // namespace moecat::jinja
