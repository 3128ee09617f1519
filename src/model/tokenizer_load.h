// The tokenizer that goes with a model: GGUF `tokenizer.ggml.*` keys, or the folder's
// tokenizer.json + tokenizer_config.json. Also writes a tokenizer back as GGUF keys (convert).
#pragma once
#include <memory>

#include "base/status.h"
#include "io/gguf.h"
#include "io/model_source.h"
#include "tokenizer/tokenizer.h"

namespace moecat {

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const ModelSource& src);
Result<TokenizerData> tokenizer_data_from_gguf(const GgufFile& f);
void write_tokenizer_meta(const TokenizerData& d, GgufWriter& w);

}  // namespace moecat
