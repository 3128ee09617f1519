// Block repacking into the lane order of the Span kernels (see repack.h for the layouts). The
// one place that knows both the natural code fields of these formats and their repacked planes.
#include "kernels/quant/repack.h"

#include <cstring>

#include "base/check.h"

namespace moecat::kernels::quant {

namespace {

constexpr int kN = 256;

// ---- raw codes of a natural block, in natural value order, and back --------------------------
// get: c[i] = the code bits of value i. put: writes c into the code fields (all their bits).

void get_q4k(const uint8_t* b, uint8_t* c) {
  const uint8_t* qs = b + 16;
  for (int j = 0; j < 4; ++j)
    for (int l = 0; l < 32; ++l) {
      c[64 * j + l] = qs[32 * j + l] & 15;
      c[64 * j + 32 + l] = qs[32 * j + l] >> 4;
    }
}
void put_q4k(uint8_t* b, const uint8_t* c) {
  uint8_t* qs = b + 16;
  for (int j = 0; j < 4; ++j)
    for (int l = 0; l < 32; ++l) qs[32 * j + l] = static_cast<uint8_t>((c[64 * j + l] & 15) | (c[64 * j + 32 + l] & 15) << 4);
}

// Q5_K: Q4_K's nibbles 32 bytes later, bit 4 of value 32j + l at bit j of qh[l].
void get_q5k(const uint8_t* b, uint8_t* c) {
  get_q4k(b + 32, c);
  for (int i = 0; i < kN; ++i) c[i] = static_cast<uint8_t>(c[i] | ((b[16 + i % 32] >> (i / 32)) & 1) << 4);
}
void put_q5k(uint8_t* b, const uint8_t* c) {
  put_q4k(b + 32, c);
  std::memset(b + 16, 0, 32);
  for (int i = 0; i < kN; ++i) b[16 + i % 32] = static_cast<uint8_t>(b[16 + i % 32] | ((c[i] >> 4) & 1) << (i / 32));
}

// Q6_K: per half n (128 values), ql[64n + l] low/high nibble and qh[32n + l] bit pairs.
void get_q6k(const uint8_t* b, uint8_t* c) {
  for (int n = 0; n < 2; ++n)
    for (int l = 0; l < 32; ++l) {
      const uint8_t a = b[64 * n + l], e = b[64 * n + 32 + l], h = b[128 + 32 * n + l];
      c[128 * n + l] = static_cast<uint8_t>((a & 15) | (h & 3) << 4);
      c[128 * n + 32 + l] = static_cast<uint8_t>((e & 15) | ((h >> 2) & 3) << 4);
      c[128 * n + 64 + l] = static_cast<uint8_t>((a >> 4) | ((h >> 4) & 3) << 4);
      c[128 * n + 96 + l] = static_cast<uint8_t>((e >> 4) | ((h >> 6) & 3) << 4);
    }
}
void put_q6k(uint8_t* b, const uint8_t* c) {
  for (int n = 0; n < 2; ++n)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* v = c + 128 * n + l;  // v[0], v[32], v[64], v[96]
      b[64 * n + l] = static_cast<uint8_t>((v[0] & 15) | (v[64] & 15) << 4);
      b[64 * n + 32 + l] = static_cast<uint8_t>((v[32] & 15) | (v[96] & 15) << 4);
      b[128 + 32 * n + l] = static_cast<uint8_t>((v[0] >> 4 & 3) | (v[32] >> 4 & 3) << 2 | (v[64] >> 4 & 3) << 4 |
                                                 (v[96] >> 4 & 3) << 6);
    }
}

// Q2_K (qs at 16) and Q3_K's low two bits (qs at 32): value 128n + 32j + l at bits 2j of
// qs[32n + l].
void get_2bit(const uint8_t* qs, uint8_t* c) {
  for (int i = 0; i < kN; ++i) c[i] = (qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
}
void put_2bit(uint8_t* qs, const uint8_t* c) {
  std::memset(qs, 0, 64);
  for (int i = 0; i < kN; ++i)
    qs[32 * (i / 128) + i % 32] = static_cast<uint8_t>(qs[32 * (i / 128) + i % 32] | (c[i] & 3) << (2 * ((i % 128) / 32)));
}
void get_q2k(const uint8_t* b, uint8_t* c) { get_2bit(b + 16, c); }
void put_q2k(uint8_t* b, const uint8_t* c) { put_2bit(b + 16, c); }

// Q3_K: the third bit of value 32j + l at bit j of hmask[l] (bytes 0-31).
void get_q3k(const uint8_t* b, uint8_t* c) {
  get_2bit(b + 32, c);
  for (int i = 0; i < kN; ++i) c[i] = static_cast<uint8_t>(c[i] | ((b[i % 32] >> (i / 32)) & 1) << 2);
}
void put_q3k(uint8_t* b, const uint8_t* c) {
  put_2bit(b + 32, c);
  std::memset(b, 0, 32);
  for (int i = 0; i < kN; ++i) b[i % 32] = static_cast<uint8_t>(b[i % 32] | ((c[i] >> 2) & 1) << (i / 32));
}

// IQ4_XS: block ib of 32 values, qs[16ib + j] low nibble = value 32ib + j, high = 32ib + 16 + j.
void get_iq4xs(const uint8_t* b, uint8_t* c) {
  for (int ib = 0; ib < 8; ++ib)
    for (int j = 0; j < 16; ++j) {
      c[32 * ib + j] = b[8 + 16 * ib + j] & 15;
      c[32 * ib + 16 + j] = b[8 + 16 * ib + j] >> 4;
    }
}
void put_iq4xs(uint8_t* b, const uint8_t* c) {
  for (int ib = 0; ib < 8; ++ib)
    for (int j = 0; j < 16; ++j)
      b[8 + 16 * ib + j] = static_cast<uint8_t>((c[32 * ib + j] & 15) | (c[32 * ib + 16 + j] & 15) << 4);
}

// Q8_0, eight 34-byte blocks (256 values, one repack unit): c = the int8 value + 128, as the
// Span stores signed formats. The eight f16 scales move to the unit's head (move_headers).
void get_q8(const uint8_t* b, uint8_t* c) {
  for (int i = 0; i < kN; ++i) c[i] = static_cast<uint8_t>(b[34 * (i / 32) + 2 + i % 32] ^ 0x80);
}
void put_q8(uint8_t* b, const uint8_t* c) {
  for (int i = 0; i < kN; ++i) b[34 * (i / 32) + 2 + i % 32] = static_cast<uint8_t>(c[i] ^ 0x80);
}

// MXFP4, eight 17-byte blocks: c = the 4-bit e2m1 index (byte 1 + j: value j low nibble, value
// j + 16 high). The eight e8m0 exponents move to the unit's head (move_headers).
void get_mxfp4(const uint8_t* b, uint8_t* c) {
  for (int i = 0; i < kN; ++i) {
    const int j = i % 32;
    c[i] = static_cast<uint8_t>((b[17 * (i / 32) + 1 + j % 16] >> (4 * (j / 16))) & 15);
  }
}
void put_mxfp4(uint8_t* b, const uint8_t* c) {
  for (int blk = 0; blk < 8; ++blk)
    for (int j = 0; j < 16; ++j)
      b[17 * blk + 1 + j] = static_cast<uint8_t>((c[32 * blk + j] & 15) | (c[32 * blk + 16 + j] & 15) << 4);
}

// The 32-value types (Q4_0, IQ4_NL, Q4_1, Q5_0, Q5_1), eight blocks of kB bytes: block b's 16
// code bytes at kQs (value 32b + j low nibble, 32b + 16 + j high), Q5's fifth bits in the
// little-endian u32 at kQh (bit j: value 32b + j). The headers (d, and m) move to the unit's
// head (move_headers); the fifth bits become the H32 plane.
template <int kB, int kQs, int kQh>
void get_nib32(const uint8_t* b, uint8_t* c) {
  for (int blk = 0; blk < 8; ++blk) {
    const uint8_t* x = b + kB * blk;
    uint32_t qh = 0;
    if (kQh >= 0) std::memcpy(&qh, x + kQh, 4);
    for (int j = 0; j < 32; ++j)
      c[32 * blk + j] = static_cast<uint8_t>(((x[kQs + j % 16] >> (4 * (j / 16))) & 15) | ((qh >> j) & 1) << 4);
  }
}
template <int kB, int kQs, int kQh>
void put_nib32(uint8_t* b, const uint8_t* c) {
  for (int blk = 0; blk < 8; ++blk) {
    uint8_t* x = b + kB * blk;
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j)
      x[kQs + j] = static_cast<uint8_t>((c[32 * blk + j] & 15) | (c[32 * blk + 16 + j] & 15) << 4);
    for (int j = 0; j < 32; ++j) qh |= uint32_t((c[32 * blk + j] >> 4) & 1) << j;
    if (kQh >= 0) std::memcpy(x + kQh, &qh, 4);
  }
}

// ---- lane planes --------------------------------------------------------------------------
inline int natural(int k, int p) { return 16 * (p / 4) + 4 * k + p % 4; }

void put_n(uint8_t* dst, const uint8_t* c) {
  for (int h = 0; h < 2; ++h)
    for (int p = 0; p < 64; ++p)
      dst[64 * h + p] = static_cast<uint8_t>((c[natural(2 * h, p)] & 15) | (c[natural(2 * h + 1, p)] & 15) << 4);
}
void get_n(const uint8_t* src, uint8_t* c) {
  for (int h = 0; h < 2; ++h)
    for (int p = 0; p < 64; ++p) {
      c[natural(2 * h, p)] = static_cast<uint8_t>((c[natural(2 * h, p)] & ~15) | (src[64 * h + p] & 15));
      c[natural(2 * h + 1, p)] = static_cast<uint8_t>((c[natural(2 * h + 1, p)] & ~15) | src[64 * h + p] >> 4);
    }
}
// All eight bits of every code in 32-value lanes (the pair form's order, span.h): byte 32K + p
// of half-chunk K (0..7) holds value 32(p/4) + 4K + p%4: the B8 plane. The first nv values only
// (a partial unit of nv/32 blocks): half-chunks of nv/8 bytes.
inline int natural32(int K, int p) { return 32 * (p / 4) + 4 * K + p % 4; }
void put_b8(uint8_t* dst, const uint8_t* c, int nv = kN) {
  for (int K = 0; K < 8; ++K)
    for (int p = 0; p < nv / 8; ++p) dst[(nv / 8) * K + p] = c[natural32(K, p)];
}
void get_b8(const uint8_t* src, uint8_t* c, int nv = kN) {
  for (int K = 0; K < 8; ++K)
    for (int p = 0; p < nv / 8; ++p) c[natural32(K, p)] = src[(nv / 8) * K + p];
}
// Four bits of every code in 32-value lanes (Q4_K, MXFP4): byte 32K + p (K < 4) holds
// half-chunk K's byte p in its low nibble and half-chunk K + 4's in its high one: the N32
// plane. The first nv values only (a partial unit): byte-chunks of nv/8 bytes.
void put_n32(uint8_t* dst, const uint8_t* c, int nv = kN) {
  for (int K = 0; K < 4; ++K)
    for (int p = 0; p < nv / 8; ++p)
      dst[(nv / 8) * K + p] = static_cast<uint8_t>((c[natural32(K, p)] & 15) | (c[natural32(K + 4, p)] & 15) << 4);
}
void get_n32(const uint8_t* src, uint8_t* c, int nv = kN) {
  for (int K = 0; K < 4; ++K)
    for (int p = 0; p < nv / 8; ++p) {
      const uint8_t b = src[(nv / 8) * K + p];
      c[natural32(K, p)] = static_cast<uint8_t>((c[natural32(K, p)] & ~15) | (b & 15));
      c[natural32(K + 4, p)] = static_cast<uint8_t>((c[natural32(K + 4, p)] & ~15) | b >> 4);
    }
}
// Bit 4 of every code in 32-value lanes (Q5_K): bit p of little-endian u32 K = bit 4 of
// half-chunk K's byte p: the H32 plane.
void put_h32(uint8_t* dst, const uint8_t* c) {
  std::memset(dst, 0, 32);
  for (int K = 0; K < 8; ++K)
    for (int p = 0; p < 32; ++p)
      dst[4 * K + p / 8] = static_cast<uint8_t>(dst[4 * K + p / 8] | ((c[natural32(K, p)] >> 4) & 1) << (p % 8));
}
void get_h32(const uint8_t* src, uint8_t* c) {
  for (int K = 0; K < 8; ++K)
    for (int p = 0; p < 32; ++p)
      c[natural32(K, p)] = static_cast<uint8_t>(c[natural32(K, p)] | ((src[4 * K + p / 8] >> (p % 8)) & 1) << 4);
}
// Two bits (c >> shift) & 3 of each chunk in one byte: the H2 (shift 4) and P2 (shift 0) planes.
void put_pairs(uint8_t* dst, const uint8_t* c, int shift) {
  for (int p = 0; p < 64; ++p) {
    int v = 0;
    for (int k = 0; k < 4; ++k) v |= ((c[natural(k, p)] >> shift) & 3) << (2 * k);
    dst[p] = static_cast<uint8_t>(v);
  }
}
void get_pairs(const uint8_t* src, uint8_t* c, int shift) {
  for (int p = 0; p < 64; ++p)
    for (int k = 0; k < 4; ++k)
      c[natural(k, p)] = static_cast<uint8_t>(c[natural(k, p)] | ((src[p] >> (2 * k)) & 3) << shift);
}
void put_bits(uint8_t* dst, const uint8_t* c, int bit) {
  std::memset(dst, 0, 32);
  for (int k = 0; k < 4; ++k)
    for (int p = 0; p < 64; ++p)
      dst[8 * k + p / 8] = static_cast<uint8_t>(dst[8 * k + p / 8] | ((c[natural(k, p)] >> bit) & 1) << (p % 8));
}
void get_bits(const uint8_t* src, uint8_t* c, int bit) {
  for (int k = 0; k < 4; ++k)
    for (int p = 0; p < 64; ++p)
      c[natural(k, p)] = static_cast<uint8_t>(c[natural(k, p)] | ((src[8 * k + p / 8] >> (p % 8)) & 1) << bit);
}

struct Planes {
  int n = -1, h2 = -1, p2 = -1, h1 = -1, h1_bit = 0, b8 = -1, n32 = -1, h32 = -1;  // byte offsets (-1: none)
};

// One repack unit is 256 values: one block of the 256-value types, eight of Q8_0.
struct Layout {
  DType natural, repacked;
  int unit_bytes;
  void (*get)(const uint8_t*, uint8_t*);
  void (*put)(uint8_t*, const uint8_t*);
  Planes planes;
  int tail_block = 0;    // 32-value blocks (Q8_0, MXFP4): rows may end in a partial unit
  int header_bytes = 0;  // per-block header of the 32-value types, gathered at the unit's head; 0: headers stay
};

// The header of each of nb 32-value blocks between the head of the unit (header_bytes each)
// and the head of its block: natural to repacked (pack) or back.
void move_headers(const Layout& l, const uint8_t* src, uint8_t* dst, bool pack, int nb) {
  const int hb = l.header_bytes, bb = l.unit_bytes / 8;
  for (int b = 0; b < nb; ++b)
    if (pack) {
      std::memcpy(dst + hb * b, src + bb * b, static_cast<size_t>(hb));
    } else {
      std::memcpy(dst + bb * b, src + hb * b, static_cast<size_t>(hb));
    }
}

const Layout kLayouts[] = {
    {DType::Q4_K, DType::Q4_K_R, 144, get_q4k, put_q4k, {-1, -1, -1, -1, 0, -1, 16}},
    {DType::Q5_K, DType::Q5_K_R, 176, get_q5k, put_q5k, {-1, -1, -1, -1, 0, -1, 48, 16}},
    {DType::Q6_K, DType::Q6_K_R, 210, get_q6k, put_q6k, {0, 128, -1, -1, 0}},
    {DType::Q2_K, DType::Q2_K_R, 84, get_q2k, put_q2k, {-1, -1, 16, -1, 0}},
    {DType::Q3_K, DType::Q3_K_R, 110, get_q3k, put_q3k, {-1, -1, 32, 0, 2}},
    {DType::IQ4_XS, DType::IQ4_XS_R, 136, get_iq4xs, put_iq4xs, {-1, -1, -1, -1, 0, -1, 8}},
    {DType::Q8_0, DType::Q8_0_R, 272, get_q8, put_q8, {-1, -1, -1, -1, 0, 16}, 32, 2},
    {DType::MXFP4, DType::MXFP4_R, 136, get_mxfp4, put_mxfp4, {-1, -1, -1, -1, 0, -1, 8}, 32, 1},
    // The 32-value types keep rows of whole units only (tail_block 0): llama.cpp's models have
    // them in rows of multiples of 256 or not at all (rows of 32..224 values stay in the file
    // layout).
    {DType::Q4_0, DType::Q4_0_R, 144, get_nib32<18, 2, -1>, put_nib32<18, 2, -1>, {-1, -1, -1, -1, 0, -1, 16}, 0, 2},
    {DType::IQ4_NL, DType::IQ4_NL_R, 144, get_nib32<18, 2, -1>, put_nib32<18, 2, -1>, {-1, -1, -1, -1, 0, -1, 16}, 0, 2},
    {DType::Q4_1, DType::Q4_1_R, 160, get_nib32<20, 4, -1>, put_nib32<20, 4, -1>, {-1, -1, -1, -1, 0, -1, 32}, 0, 4},
    {DType::Q5_0, DType::Q5_0_R, 176, get_nib32<22, 6, 2>, put_nib32<22, 6, 2>, {-1, -1, -1, -1, 0, -1, 48, 16}, 0, 2},
    {DType::Q5_1, DType::Q5_1_R, 192, get_nib32<24, 8, 4>, put_nib32<24, 8, 4>, {-1, -1, -1, -1, 0, -1, 64, 32}, 0, 4},
};

const Layout* layout_of(DType t) {
  for (const Layout& l : kLayouts)
    if (l.natural == t || l.repacked == t) return &l;
  return nullptr;
}

void to_planes(const Layout& l, const uint8_t* c, uint8_t* b) {
  if (l.planes.n >= 0) put_n(b + l.planes.n, c);
  if (l.planes.h2 >= 0) put_pairs(b + l.planes.h2, c, 4);
  if (l.planes.p2 >= 0) put_pairs(b + l.planes.p2, c, 0);
  if (l.planes.h1 >= 0) put_bits(b + l.planes.h1, c, l.planes.h1_bit);
  if (l.planes.b8 >= 0) put_b8(b + l.planes.b8, c);
  if (l.planes.n32 >= 0) put_n32(b + l.planes.n32, c);
  if (l.planes.h32 >= 0) put_h32(b + l.planes.h32, c);
}
void from_planes(const Layout& l, const uint8_t* b, uint8_t* c) {
  std::memset(c, 0, kN);
  if (l.planes.n >= 0) get_n(b + l.planes.n, c);
  if (l.planes.h2 >= 0) get_pairs(b + l.planes.h2, c, 4);
  if (l.planes.p2 >= 0) get_pairs(b + l.planes.p2, c, 0);
  if (l.planes.h1 >= 0) get_bits(b + l.planes.h1, c, l.planes.h1_bit);
  if (l.planes.b8 >= 0) get_b8(b + l.planes.b8, c);
  if (l.planes.n32 >= 0) get_n32(b + l.planes.n32, c);
  if (l.planes.h32 >= 0) get_h32(b + l.planes.h32, c);
}

}  // namespace

DType repacked_of(DType t) {
  const Layout* l = layout_of(t);
  return l && l->natural == t ? l->repacked : t;
}

DType natural_of(DType t) {
  const Layout* l = layout_of(t);
  return l ? l->natural : t;
}

int64_t repack_unit_bytes(DType t) {
  const Layout* l = layout_of(t);
  return l ? l->unit_bytes : 0;
}

void repack_units(DType from, DType to, const uint8_t* src, uint8_t* dst, int64_t n_units) {
  const Layout* l = layout_of(from);
  MOECAT_CHECK(l != nullptr && layout_of(to) == l && from != to);
  const bool pack = from == l->natural;
  uint8_t c[kN];
  for (int64_t i = 0; i < n_units; ++i) {
    const uint8_t* s = src + i * l->unit_bytes;
    uint8_t* d = dst + i * l->unit_bytes;
    std::memcpy(d, s, static_cast<size_t>(l->unit_bytes));  // headers and scales as they are
    if (l->header_bytes) move_headers(*l, s, d, pack, 8);
    if (pack) {
      l->get(s, c);
      to_planes(*l, c, d);
    } else {
      from_planes(*l, s, c);
      l->put(d, c);
    }
  }
}

int repack_tail_block(DType t) {
  const Layout* l = layout_of(t);
  return l ? l->tail_block : 0;
}

void repack_tail(DType from, DType to, const uint8_t* src, uint8_t* dst, int nv) {
  const Layout* l = layout_of(from);
  MOECAT_CHECK(l != nullptr && layout_of(to) == l && from != to);
  MOECAT_CHECK(l->tail_block > 0 && nv > 0 && nv < kN && nv % l->tail_block == 0);
  // The layouts with tails: blocks of 32 with a header each, one plane (B8 or N32).
  const int nb = nv / l->tail_block, hb = l->header_bytes, bb = l->unit_bytes / 8;
  const int plane = nb * hb;  // the plane starts after the nb headers
  // Through a whole unit: the tail's blocks, zero blocks after them.
  uint8_t unit[kN + 16] = {}, c[kN] = {};
  if (from == l->natural) {
    std::memcpy(unit, src, static_cast<size_t>(nb * bb));
    l->get(unit, c);
    move_headers(*l, src, dst, true, nb);
    if (l->planes.b8 >= 0) put_b8(dst + plane, c, nv);
    if (l->planes.n32 >= 0) put_n32(dst + plane, c, nv);
  } else {
    if (l->planes.b8 >= 0) get_b8(src + plane, c, nv);
    if (l->planes.n32 >= 0) get_n32(src + plane, c, nv);
    l->put(unit, c);
    move_headers(*l, src, unit, false, nb);
    std::memcpy(dst, unit, static_cast<size_t>(nb * bb));
  }
}

}  // namespace moecat::kernels::quant
