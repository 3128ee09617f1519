// libFuzzer: input = schema text + '\0' + candidate JSON text. When the schema compiles, the
// candidate's bytes are fed as single-byte tokens while allowed(); whenever the recogniser says
// a value is complete, nlohmann must parse the prefix and validate_json must agree.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "serve/grammar/json_constraint.h"

using namespace moecat;

static std::shared_ptr<const ConstraintIndex> Index() {
  static auto ix = [] {
    ConstraintVocab v;
    for (int i = 0; i < 256; ++i) v.bytes.push_back(std::string(1, char(i)));
    for (const char* s : {"{\"", "\":", "\",\"", "true", "null", "12", "\\u00", "\xe4\xb8\xad"}) v.bytes.push_back(s);
    v.bytes.push_back("");  // EOG
    v.special.assign(v.bytes.size(), 0);
    v.special.back() = 1;
    v.eog = {int32_t(v.bytes.size() - 1)};
    return build_constraint_index(v);
  }();
  return ix;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t cut = in.find('\0');
  if (cut == std::string::npos) return 0;
  nlohmann::json schema = nlohmann::json::parse(in.substr(0, cut), nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return 0;
  // null selects json_object mode in Create (it is not a schema for check_json_schema).
  if (!schema.is_null() && !check_json_schema(schema).ok()) {
    if (JsonConstraint::Create(Index(), schema).ok()) __builtin_trap();  // must agree
    return 0;
  }
  auto c = JsonConstraint::Create(Index(), schema);
  if (!c.ok()) __builtin_trap();
  std::string cand = in.substr(cut + 1), text;
  std::vector<uint8_t> mask;
  int64_t remaining = 64;
  for (unsigned char b : cand) {
    (*c)->allowed(mask, remaining);
    if ((*c)->complete()) break;
    if (!mask[b]) break;  // (may still be grammatical: the budget narrows the mask)
    if (!(*c)->accept(b)) __builtin_trap();  // allowed but refused
    text += char(b);
    if (--remaining <= 0) break;
  }
  if ((*c)->complete()) {
    nlohmann::json v = nlohmann::json::parse(text, nullptr, false);
    if (v.is_discarded()) __builtin_trap();
    if (!validate_json(schema, v).ok()) __builtin_trap();
  }
  return 0;
}
