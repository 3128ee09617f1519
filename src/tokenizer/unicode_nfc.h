// Unicode NFC normalization (canonical decomposition, canonical ordering, canonical composition),
// needed because Qwen2/Qwen3 tokenizer.json declares an NFC normalizer. Tables are generated from
// Python's unicodedata (unicode_nfc_data.cpp); Hangul syllables are handled algorithmically.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace moecat {

// NFC of UTF-8 text. Invalid UTF-8 bytes are passed through unchanged and block composition.
std::string NfcNormalize(std::string_view text);

namespace nfc_data {
extern const uint32_t kCcc[][3];     // {first, last, ccc}, sorted, ccc != 0
extern const size_t kCccCount;
extern const uint32_t kDecomp[][3];  // {cp, d1, d2 or 0}, sorted by cp
extern const size_t kDecompCount;
extern const uint32_t kComp[][3];    // {first, second, composite}, sorted by (first, second)
extern const size_t kCompCount;
}  // namespace nfc_data

}  // namespace moecat
