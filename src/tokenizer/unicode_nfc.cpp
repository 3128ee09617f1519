// NFC normalization; see unicode_nfc.h. Follows UAX #15: full canonical decomposition, stable sort
// of non-starter runs by combining class, then composition of unblocked pairs with primary composites.
#include "tokenizer/unicode_nfc.h"

#include <algorithm>
#include <vector>

#include "tokenizer/utf8.h"

namespace moecat {
namespace {

using namespace nfc_data;

// Hangul syllable constants (Unicode ch. 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;
// Invalid input bytes are carried as kRawByte + byte: never decomposed, ccc 0, never composed.
constexpr uint32_t kRawByte = 0x200000;

int Ccc(uint32_t cp) {
  if (cp < 0x300 || cp >= kRawByte) return 0;
  size_t lo = 0, hi = kCccCount;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (kCcc[mid][1] < cp) lo = mid + 1; else hi = mid;
  }
  return (lo < kCccCount && kCcc[lo][0] <= cp) ? static_cast<int>(kCcc[lo][2]) : 0;
}

const uint32_t* FindDecomp(uint32_t cp) {
  if (cp < 0xC0 || cp >= kRawByte) return nullptr;
  size_t lo = 0, hi = kDecompCount;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (kDecomp[mid][0] < cp) lo = mid + 1; else hi = mid;
  }
  return (lo < kDecompCount && kDecomp[lo][0] == cp) ? kDecomp[lo] : nullptr;
}

void Decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const uint32_t* d = FindDecomp(cp);
  if (!d) { out.push_back(cp); return; }
  Decompose(d[1], out);  // depth is bounded by the table (at most a few levels)
  if (d[2]) Decompose(d[2], out);
}

// Returns the primary composite of (a, b) or 0.
uint32_t Compose(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  size_t lo = 0, hi = kCompCount;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (kComp[mid][0] < a || (kComp[mid][0] == a && kComp[mid][1] < b)) lo = mid + 1; else hi = mid;
  }
  return (lo < kCompCount && kComp[lo][0] == a && kComp[lo][1] == b) ? kComp[lo][2] : 0;
}

}  // namespace

std::string NfcNormalize(std::string_view text) {
  // Fast path: ASCII is always NFC (and the first byte >= 0x80 decides otherwise).
  size_t first = 0;
  while (first < text.size() && static_cast<unsigned char>(text[first]) < 0x80) ++first;
  if (first == text.size()) return std::string(text);
  if (first > 0) --first;  // the ASCII char before may be a starter that composes with what follows

  std::vector<uint32_t> cps;  // [n] decomposed code points of text[first..]
  cps.reserve(text.size() - first);
  for (size_t i = first; i < text.size();) {
    uint32_t cp;
    int len = Utf8Decode(text, i, &cp);
    if (len <= 0) { cps.push_back(kRawByte + static_cast<unsigned char>(text[i])); i += 1; continue; }
    Decompose(cp, cps);
    i += len;
  }
  // Canonical ordering: stable sort each run of non-starters by ccc.
  for (size_t i = 0; i < cps.size();) {
    if (Ccc(cps[i]) == 0) { ++i; continue; }
    size_t j = i;
    while (j < cps.size() && Ccc(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j,
                     [](uint32_t x, uint32_t y) { return Ccc(x) < Ccc(y); });
    i = j;
  }
  // Composition. prev_ccc == -1 means nothing sits between the starter and the current char.
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  long starter = -1;
  int prev_ccc = -1;
  for (uint32_t c : cps) {
    int ccc = Ccc(c);
    if (starter >= 0 && c < kRawByte && (prev_ccc == -1 || prev_ccc < ccc)) {
      uint32_t comp = out[starter] < kRawByte ? Compose(out[starter], c) : 0;
      if (comp) { out[starter] = comp; continue; }
    }
    if (ccc == 0) { starter = static_cast<long>(out.size()); prev_ccc = -1; } else { prev_ccc = ccc; }
    out.push_back(c);
  }
  std::string res(text.substr(0, first));
  for (uint32_t c : out) {
    if (c >= kRawByte) res.push_back(static_cast<char>(c - kRawByte)); else Utf8Append(c, res);
  }
  return res;
}

}  // namespace moecat
