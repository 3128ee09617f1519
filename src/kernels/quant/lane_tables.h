// Index tables for the SIMD unpacks that write a Span in lane order (span_avx512.cpp): chunk k,
// 32-bit lane g holds natural values 16g + 4k .. 16g + 4k + 3. Each table says which dword of
// the block's packed bytes lane g of chunk k reads, derived from the block layouts in
// kquants.cpp / iquants.cpp. Built at compile time (consteval): no code is emitted, so ISA files
// may include this (see kernel_table.h).
#pragma once
#include <cstdint>

namespace moecat::kernels::quant {

struct LaneTable {
  alignas(64) int32_t v[4][16];
};
struct LaneRow {
  alignas(64) int32_t v[16];
};

// Q4_K / Q5_K: value 32j + l of sub-block j is nibble j%2 of qs[32(j/2) + l]; lane g has j = g/2,
// l = 16(g%2) + 4k + b, so dword 8(g/4) + 4(g%2) + k, read from the first 64 qs bytes for g < 8
// and the next 64 for g >= 8 (permutex2var: +16 picks the high-nibble operand).
consteval LaneTable make_k45() {
  LaneTable t{};
  for (int k = 0; k < 4; ++k)
    for (int g = 0; g < 16; ++g) t.v[k][g] = ((g / 2) % 2 ? 16 : 0) + 8 * ((g / 4) % 2) + 4 * (g % 2) + k;
  return t;
}
// Q5_K: the fifth bit of value 32j + l is bit j of qh[l]: dword 4(g%2) + k, shifted by j = g/2.
consteval LaneTable make_q5h() {
  LaneTable t{};
  for (int k = 0; k < 4; ++k)
    for (int g = 0; g < 16; ++g) t.v[k][g] = 4 * (g % 2) + k;
  return t;
}
// Q6_K: value e = 128h + 32k4 + l (h = g/8, k4 = (g%8)/2, l = 16(g%2) + 4k + b) has its low
// nibble in ql[64h + 32(k4%2) + l] (high nibble when k4 >= 2) and its top 2 bits at bit 2*k4 of
// qh[32h + l].
consteval LaneTable make_q6l() {
  LaneTable t{};
  for (int k = 0; k < 4; ++k)
    for (int g = 0; g < 16; ++g) t.v[k][g] = 16 * (g / 8) + 8 * ((g / 2) % 2) + 4 * (g % 2) + k;
  return t;
}
consteval LaneTable make_q6h() {
  LaneTable t{};
  for (int k = 0; k < 4; ++k)
    for (int g = 0; g < 16; ++g) t.v[k][g] = 8 * (g / 8) + 4 * (g % 2) + k;
  return t;
}
// IQ4_XS: value 32ib + 16half + j is nibble `half` of qs[16ib + j]: dword 4(g/2) + k of the
// 128 qs bytes (high nibble for odd g).
consteval LaneTable make_iq4xs() {
  LaneTable t{};
  for (int k = 0; k < 4; ++k)
    for (int g = 0; g < 16; ++g) t.v[k][g] = 4 * (g / 2) + k;
  return t;
}
// Q8_0: blocks loaded in pairs (2c, 2c+1) as 64 bytes; lane g reads dword
// 16((g/4)%2) + 8((g/2)%2) + 4(g%2) + k of the pair pair (g/8) (two-source permute).
consteval LaneTable make_q8() {
  LaneTable t{};
  for (int k = 0; k < 4; ++k)
    for (int g = 0; g < 16; ++g) t.v[k][g] = 16 * ((g / 4) % 2) + 8 * ((g / 2) % 2) + 4 * (g % 2) + k;
  return t;
}
consteval LaneRow make_row(int kind) {
  LaneRow r{};
  for (int g = 0; g < 16; ++g) {
    switch (kind) {
      case 0: r.v[g] = g / 2; break;
      case 1: r.v[g] = g / 2; break;
      case 2: r.v[g] = 2 * ((g % 8) / 2); break;
      case 3: r.v[g] = 8 + g / 2; break;
      default: r.v[g] = g / 8; break;
    }
  }
  return r;
}

inline constexpr LaneTable kLaneK45Table = make_k45();
inline constexpr LaneTable kLaneQ5hTable = make_q5h();
inline constexpr LaneTable kLaneQ6lTable = make_q6l();
inline constexpr LaneTable kLaneQ6hTable = make_q6h();
inline constexpr LaneTable kLaneIq4xsTable = make_iq4xs();
inline constexpr LaneTable kLaneQ8Table = make_q8();
inline constexpr LaneRow kDup2Row = make_row(0);       // group g -> its 32-value block g/2
inline constexpr LaneRow kShiftQ5hRow = make_row(1);   // Q5_K: bit j = g/2 of qh
inline constexpr LaneRow kShiftQ6hRow = make_row(2);   // Q6_K: shift 2*k4
inline constexpr LaneRow kDup2HiRow = make_row(3);     // lanes 8-15 (mins) spread like kDup2
inline constexpr LaneRow kHalf01Row = make_row(4);     // lanes 0-7 <- 0, lanes 8-15 <- 1
constexpr uint16_t kQ6HighNibbleLanes = 0xF0F0;  // lanes whose k4 >= 2

// IQ4_NL / IQ4_XS code values (the format's non-linear 4-bit grid), + 128 as unsigned bytes.
alignas(16) inline constexpr uint8_t kIq4nlPlus128[16] = {1,   24,  45,  63,  79,  93,  106, 118,
                                                          129, 141, 153, 166, 181, 197, 217, 241};

// MXFP4 e2m1 codes as int8 (doubled, like kMxfp4Values), + 128.
alignas(16) inline constexpr uint8_t kMxfp4Plus128[16] = {128, 129, 130, 131, 132, 134, 136, 140,
                                                          128, 127, 126, 125, 124, 122, 120, 116};

}  // namespace moecat::kernels::quant
