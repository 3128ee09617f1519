// Structured output: constrains sampling so the generated text is JSON that matches a JSON
// Schema (or any JSON object for response_format json_object). Works over tokens: at each
// step it says which vocabulary entries keep the text a valid prefix, then advances by the
// chosen token. Used for response_format json_object / json_schema and forced tool calls.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace moecat {

// The vocabulary as bytes, built once per model and shared by every request.
struct ConstraintVocab {
  std::vector<std::string> bytes;   // [n_vocab] the token's bytes ("" for special/control tokens)
  std::vector<uint8_t> special;     // [n_vocab] 1: never allowed inside JSON
  std::vector<int32_t> eog;         // end-of-generation ids: allowed once the value is complete
};

// Builds the shared, pre-indexed form (e.g. a byte trie over the vocabulary).
struct ConstraintIndex;
std::shared_ptr<const ConstraintIndex> build_constraint_index(ConstraintVocab vocab);

// The supported JSON Schema subset: type (incl. arrays of types), properties, required,
// additionalProperties (false or a schema; default when "properties" is given: no others),
// items, prefixItems, minItems/maxItems, enum, const, anyOf/oneOf, $ref into $defs /
// definitions, minLength/maxLength, minimum/maximum for integers; and moecat's own
// "x-moecat-key-order": [keys] (those keys first, in that order; the tool-call bodies use it to
// put "name" before the arguments). Unsupported keywords that
// would change validity (pattern, format, ...) are ignored (documented) - never a crash.
// A schema that is not an object/boolean, or uses $ref cycles without progress, is an error.
Status check_json_schema(const nlohmann::json& schema);

// Validates a complete JSON value against a schema (same subset). Ok or the first violation.
Status validate_json(const nlohmann::json& schema, const nlohmann::json& value);

class JsonConstraint {
 public:
  // schema: a JSON Schema, or null for "any JSON object" (json_object mode). lead / tail:
  // literal text before and after the value (a tool call's own syntax around its JSON), matched
  // byte by byte like the value, so a token may span either boundary; complete() once the tail
  // is written.
  static Result<std::unique_ptr<JsonConstraint>> Create(std::shared_ptr<const ConstraintIndex> index,
                                                       const nlohmann::json& schema, const std::string& lead = "",
                                                       const std::string& tail = "");
  virtual ~JsonConstraint() = default;

  // mask[i] = 1 when token i may come next ([n_vocab], resized by the call). End-of-generation
  // ids are allowed only when the JSON value is complete (and then only they are allowed).
  // remaining: tokens left in the budget (max_tokens - generated). When the budget gets tight
  // the constraint only allows tokens on a shortest path to a complete value, so the answer
  // still parses when it runs out (every single byte is a token in byte-level BPE vocabs).
  virtual void allowed(std::vector<uint8_t>& mask, int64_t remaining) = 0;

  // Advances by the sampled token (must have been allowed; otherwise returns false and the
  // state is unchanged).
  virtual bool accept(int32_t token) = 0;

  // True once a complete value has been generated (only EOG may follow).
  virtual bool complete() const = 0;

  // False when allowed() would allow every token: the caller may skip the mask (a lazy
  // constraint before its trigger).
  virtual bool masks() const { return true; }
  // True while the text is not under the constraint (a lazy constraint before its trigger):
  // the rules for free text apply there (min_tokens holds the end of generation back).
  virtual bool free_text() const { return false; }
};

// A generation that starts with one of the token sequences lead[k] (chosen token by token; no
// sequence may be a prefix of another), then continues as then[k] constrains it. n_vocab: the
// mask's size. nullptr when lead and then differ in length or are empty.
std::unique_ptr<JsonConstraint> make_choice_constraint(int64_t n_vocab, std::vector<std::vector<int32_t>> lead,
                                                       std::vector<std::unique_ptr<JsonConstraint>> then);

// Tokens a raw text may use: not special or end-of-generation, whole UTF-8 characters, without
// the byte `forbidden`. [n_vocab] 0/1.
std::vector<uint8_t> text_token_mask(const ConstraintIndex& index, char forbidden);
// The end-of-generation ids the index was built with.
std::vector<int32_t> constraint_eog_ids(const ConstraintIndex& index);

// A forced tool call in LongCat's key/value syntax (serve/grammar/key_value_call.cpp): starts
// after the name line, writes <longcat_arg_key>/<longcat_arg_value> pairs for the properties of
// `parameters` (each at most once, every required one; string-typed values as text without
// '<', others as JSON matching their schema) and ends with </longcat_tool_call>. encode: the
// model's tokenizer (special tokens parsed). An error for a schema it cannot enforce.
Result<std::unique_ptr<JsonConstraint>> make_key_value_call_constraint(
    std::shared_ptr<const ConstraintIndex> index, const nlohmann::json& parameters,
    const std::function<std::vector<int32_t>(const std::string&)>& encode);

// Tool calls under tool_choice "auto" (what llama.cpp calls a lazy grammar, serve/grammar/
// lazy_call.cpp): the text is free until it ends with `trigger` (the family's call-open tag,
// whether one special token or spelled in text tokens), then the call as a fresh `start()`
// constrains it (a tool's name in the call syntax, then arguments valid under its schema), then
// the `suffix` tokens (the call's close), then free text again (another call may follow). A text
// token that would run past the end of the trigger (the trigger's last bytes and more in one
// token) is held back while free, so a call always starts at a token boundary.
struct TriggerTable;  // per trigger and vocabulary: the tokens that would cross it
std::shared_ptr<const TriggerTable> build_trigger_table(const std::string& trigger, int64_t n_vocab,
                                                        const std::function<std::string(int32_t)>& token_text);
// A reply that is a call when its first text opens one (Llama 3's bare JSON): table's trigger is
// the call's first byte ("{"); a reply whose first token (after whitespace-only ones) starts with
// it is the call, under `call`, and then only `end` (the end of generation) may follow; any other
// reply is free text.
std::unique_ptr<JsonConstraint> make_anchored_call_constraint(std::shared_ptr<const TriggerTable> table,
                                                              std::unique_ptr<JsonConstraint> call,
                                                              std::vector<int32_t> end);
// end_after_call non-empty: one call only (parallel_tool_calls false); after its close only
// these tokens (the end of generation) may follow.
std::unique_ptr<JsonConstraint> make_lazy_call_constraint(std::shared_ptr<const TriggerTable> trigger,
                                                          std::function<std::unique_ptr<JsonConstraint>()> start,
                                                          std::vector<int32_t> suffix,
                                                          std::vector<int32_t> end_after_call = {});

}  // namespace moecat
