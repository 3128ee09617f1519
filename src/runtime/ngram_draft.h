// N-gram drafting (prompt-lookup decoding) for speculative decoding: shared by `moecat run
// --draft ngram` (runtime/speculative.cpp) and the server's batched drafting (serve/scheduler).
#pragma once
#include <cstdint>
#include <vector>

namespace moecat {

// k tokens that followed the most recent earlier occurrence of the longest suffix of h (3, then
// 2 tokens; a lone token is too weak a match), read past the end of h into the draft itself (a
// repeating stretch drafts its period repeated); empty when neither suffix occurred before.
std::vector<int32_t> ngram_draft(const std::vector<int32_t>& h, int64_t k);

}  // namespace moecat
