// The tool-call grammar for tool_choice "auto" (serve/grammar/lazy_call.cpp) put together from
// ChatPrompt::lazy_call's description: shared by `moecat serve` and `moecat run`.
#pragma once
#include <memory>
#include <string>

#include "base/status.h"
#include "serve/chat_prompt.h"
#include "serve/grammar/json_constraint.h"
#include "tokenizer/tokenizer.h"

namespace moecat {

// The vocabulary the constraints walk: normal and byte tokens by their bytes, every other
// token (control, user-defined) special. n_vocab: the model's (may exceed the tokenizer's).
std::shared_ptr<const ConstraintIndex> build_vocab_constraint_index(const Tokenizer& tok, int64_t n_vocab);

// The trigger's table over every token's text (special tokens included): ~1 ms per 10k tokens
// of vocabulary; one per model and trigger, so callers keep it.
std::shared_ptr<const TriggerTable> build_tool_trigger_table(const std::string& trigger, const Tokenizer& tok,
                                                             int64_t n_vocab);

// A fresh lazy call constraint for one generation. An error where a tool's schema cannot be
// enforced (the calls are then left free by the caller, with a warning).
Result<std::unique_ptr<JsonConstraint>> make_tool_call_grammar(const ForcedCall& fc, const Tokenizer& tok,
                                                               int64_t n_vocab,
                                                               std::shared_ptr<const ConstraintIndex> index,
                                                               std::shared_ptr<const TriggerTable> table);

}  // namespace moecat
