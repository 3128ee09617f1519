#include "serve/tool_grammar.h"

#include <vector>

namespace moecat {

std::shared_ptr<const ConstraintIndex> build_vocab_constraint_index(const Tokenizer& t, int64_t n_model) {
  ConstraintVocab v;
  const int32_t n = t.vocab_size();
  v.bytes.resize(n_model);
  v.special.assign(n_model, 1);
  const auto& types = t.data().token_types;
  for (int32_t i = 0; i < n && i < n_model; ++i) {
    const int32_t ty = i < (int32_t)types.size() ? types[i] : kTokNormal;
    if (ty == kTokNormal || ty == kTokByte) {
      v.bytes[i] = t.token_bytes(i);
      v.special[i] = v.bytes[i].empty() ? 1 : 0;
    }
  }
  v.eog = t.data().eog_ids;
  return build_constraint_index(std::move(v));
}

std::shared_ptr<const TriggerTable> build_tool_trigger_table(const std::string& trigger, const Tokenizer& tok,
                                                             int64_t n_vocab) {
  return build_trigger_table(trigger, n_vocab, [&tok](int32_t id) {
    return id < tok.vocab_size() ? tok.token_bytes(id) : std::string();
  });
}

Result<std::unique_ptr<JsonConstraint>> make_tool_call_grammar(const ForcedCall& fc, const Tokenizer& tok,
                                                               int64_t n_vocab,
                                                               std::shared_ptr<const ConstraintIndex> index,
                                                               std::shared_ptr<const TriggerTable> table) {
  // What a call is made of, checked and encoded once per request; each call the model opens
  // gets a fresh constraint from them.
  struct Parts {
    std::shared_ptr<const ConstraintIndex> index;
    std::vector<std::vector<int32_t>> lead;
    std::vector<nlohmann::json> schema;
    bool key_value = false;
    std::string json_lead, json_tail;
    const Tokenizer* tok = nullptr;
    int64_t n_vocab = 0;
  };
  auto parts = std::make_shared<Parts>();
  parts->index = std::move(index);
  parts->key_value = fc.key_value;
  parts->tok = &tok;
  parts->n_vocab = n_vocab;
  for (const ForcedCall::Choice& ch : fc.choices) {
    if (Status s = check_json_schema(ch.schema); !s.ok())
      return Errorf("tool %s: unsupported JSON schema: %s", ch.name.c_str(), s.message().c_str());
    parts->lead.push_back(tok.encode(fc.prefix + ch.text, false, true));
    parts->schema.push_back(ch.schema);
  }
  if (parts->lead.empty()) return Errorf("no tools");
  // One choice with no text of its own (the JSON-body families): the framed JSON alone.
  const bool single = parts->lead.size() == 1 && parts->lead[0].empty();
  for (const auto& l : parts->lead)
    if (l.empty() && !single) return Errorf("tool choices without a name in the call syntax");
  parts->json_lead = fc.json_lead;
  parts->json_tail = fc.json_tail;
  auto start = [parts, single]() -> std::unique_ptr<JsonConstraint> {
    std::vector<std::unique_ptr<JsonConstraint>> then;
    for (const nlohmann::json& schema : parts->schema) {
      const Tokenizer* t = parts->tok;
      auto c = parts->key_value ? make_key_value_call_constraint(
                                      parts->index, schema, [t](const std::string& x) { return t->encode(x, false, true); })
                                : JsonConstraint::Create(parts->index, schema, parts->json_lead, parts->json_tail);
      if (!c.ok()) return nullptr;
      then.push_back(std::move(*c));
    }
    if (single) return std::move(then[0]);
    return make_choice_constraint(parts->n_vocab, parts->lead, std::move(then));
  };
  if (!start()) return Errorf("the tools' call constraint could not be made");
  if (fc.anchored) {  // one call, the whole reply
    auto c = make_anchored_call_constraint(table, start(), constraint_eog_ids(*parts->index));
    if (!c) return Errorf("the tools' call constraint could not be made");
    return c;
  }
  // parallel_tool_calls false (lazy_call sets single_call): the end of generation after the call.
  auto c = make_lazy_call_constraint(table, start, tok.encode(fc.suffix, false, true),
                                     fc.single_call ? constraint_eog_ids(*parts->index) : std::vector<int32_t>());
  if (!c) return Errorf("the tools' call constraint could not be made");
  return c;
}

}  // namespace moecat
