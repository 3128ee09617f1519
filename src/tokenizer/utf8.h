// Small UTF-8 helpers shared by the tokenizer files.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace moecat {

// Decodes one strict UTF-8 sequence at s[i] (no overlongs, surrogates or > U+10FFFF).
// Returns its length (1..4) and sets *cp, or -1 if the bytes there are not valid UTF-8.
inline int Utf8Decode(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) { *cp = c; return 1; }
  int len;
  uint32_t v, min;
  if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
  else return -1;
  if (i + len > s.size()) return -1;
  for (int k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return -1;
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return -1;
  *cp = v;
  return len;
}

inline void Utf8Append(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// GPT-2 byte-level alphabet: printable Latin-1 bytes map to themselves, the other 68 bytes map
// to U+0100.. in byte order, so every byte becomes a visible, non-space character.
inline uint32_t ByteToUnicode(unsigned char b) {
  static const auto table = [] {
    struct T { uint32_t v[256]; } t{};
    uint32_t next = 256;
    for (int i = 0; i < 256; ++i) {
      bool printable = (i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
      t.v[i] = printable ? static_cast<uint32_t>(i) : next++;
    }
    return t;
  }();
  return table.v[b];
}

// Inverse of ByteToUnicode: the byte, or -1 if cp is not in the byte-level alphabet.
inline int UnicodeToByte(uint32_t cp) {
  static const auto table = [] {
    struct T { int16_t v[324]; } t;
    for (auto& x : t.v) x = -1;
    for (int i = 0; i < 256; ++i) t.v[ByteToUnicode(static_cast<unsigned char>(i))] = static_cast<int16_t>(i);
    return t;
  }();
  return cp < 324 ? table.v[cp] : -1;
}

}  // namespace moecat
