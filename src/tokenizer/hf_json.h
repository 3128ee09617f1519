// Streaming (SAX) parse of tokenizer.json: model.vocab and model.merges, which hold hundreds of
// thousands of entries, go straight into flat vectors; everything else becomes a small DOM.
// Building a full DOM (std::map per object) for them costs seconds on gpt-oss's 27 MB file.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace moecat {

struct HfJsonParts {
  nlohmann::json rest;                                // the document without model.vocab / model.merges
  bool has_vocab = false, has_merges = false;         // model.vocab object / model.merges array seen
  std::vector<std::pair<std::string, int64_t>> vocab;  // in file order
  std::vector<std::string> merges;                    // "a b", rank order (pairs are joined)
};

Status ParseHfJson(const std::string& text, HfJsonParts* out);

}  // namespace moecat
