// Weight repacking at load: the 256-value k-quant / IQ4_XS blocks and groups of eight Q8_0 or
// MXFP4 blocks rewritten once into the lane order of the AVX-512 Span kernels (span_avx512.cpp), so
// their unpack is masks and shifts (Q8_0: plain loads) with no permutes. The unit is 256 values
// of a row; every unit keeps its size and position (a row's bytes, a tensor's bytes, slicing by
// expert and row addressing are unchanged); only the bits of the code fields move. The scales
// and headers of the 256-value types stay where the format has them; the eight block headers of
// Q8_0 (f16 scales) and MXFP4 (e8m0 exponents) move together to the head of the unit. Their rows
// may end in a partial unit (gpt-oss's 2880 = 11 units + 64 values): its nv values keep their
// nv/32 blocks' bytes, as the nv/32 headers and then the plane cut to the nv/32 lanes of each
// (half-)chunk that hold them (repack_tail).
//
// Lane order: chunk k (0..3) byte p (0..63) holds natural value 16(p/4) + 4k + p%4 (span.h).
// Q8_0 (B8), Q4_K, Q5_K (+ H32), IQ4_XS, MXFP4 and the 32-value types Q4_0, IQ4_NL, Q4_1, Q5_0,
// Q5_1 (N32, + H32 for Q5) are stored in the pair form's 32-value lanes instead:
// their products run the pair kernels (span_pair_avx512.cpp), whose two-unit chunks are then
// two plain 32-byte loads.
// With c[k][p] the raw code of that value, a block's code fields become planes:
//   N  (128 bytes) byte 64h + p = c[2h][p] & 15 | (c[2h+1][p] & 15) << 4   (low four bits)
//   H2 ( 64 bytes) byte p = sum_k ((c[k][p] >> 4) & 3) << 2k                 (Q6_K bits 4-5)
//   P2 ( 64 bytes) byte p = sum_k (c[k][p] & 3) << 2k                         (2-bit codes)
//   H1 ( 32 bytes) bit p of little-endian u64 k = bit b of c[k][p]           (Q5_K b=4, Q3_K b=2)
// and three planes in the 32-value lanes of the pair form instead (span.h ActPair), with
// d[K][p] = c of value 32(p/4) + 4K + p%4 (half-chunk K < 8, byte p < 32):
//   B8  (256 bytes) byte 32K + p = d[K][p]                                    (Q8_0: int8 + 128)
//   N32 (128 bytes) byte 32K + p = d[K][p] & 15 | (d[K+4][p] & 15) << 4, K < 4
//                   (Q4_K, Q5_K, IQ4_XS, MXFP4, the 32-value types)
//   H32 ( 32 bytes) bit p of little-endian u32 K = bit 4 of d[K][p]         (Q5_K, Q5_0, Q5_1)
// and the layouts are (byte offsets; everything else copied as is):
//   Q4_K  header 0-15, N32 16-143        Q5_K   header 0-15, H32 16-47, N32 48-175
//   Q6_K  N 0-127, H2 128-191, scales    Q2_K   scales 0-15, P2 16-79, d/dmin 80-83
//   Q3_K  H1 0-31, P2 32-95, scales      IQ4_XS header 0-7, N32 8-135 (c = the 4-bit index)
//   Q8_0  (8 blocks, 272 bytes) the eight f16 scales 0-15, B8 16-271
//   MXFP4 (8 blocks, 136 bytes) the eight e8m0 exponents 0-7, N32 8-135 (c = the 4-bit e2m1 index)
//   Q4_0, IQ4_NL (8 blocks, 144 bytes) the eight f16 d 0-15, N32 16-143 (IQ4_NL: c = the index)
//   Q4_1  (8 blocks, 160 bytes) the eight (f16 d, f16 m) 0-31, N32 32-159
//   Q5_0  (8 blocks, 176 bytes) the eight f16 d 0-15, H32 16-47, N32 48-175
//   Q5_1  (8 blocks, 192 bytes) the eight (f16 d, f16 m) 0-31, H32 32-63, N32 64-191
//   (these five only for rows of whole units: no partial last unit)
// Each repacked layout is a DType of its own (DType::Q4_K_R etc., never in a file), with the
// scalar reference decoders of the registry going through unrepack, so a repacked tensor is
// read correctly everywhere (embedding rows, reference matmul, export).
#pragma once
#include <cstdint>

#include "tensor/dtype.h"

namespace moecat::kernels::quant {

// The repacked type of a file type, or t itself when t has no repacked layout.
DType repacked_of(DType t);
// The file type of a repacked type, or t itself.
DType natural_of(DType t);
// Bytes of one unit (256 values) of a type with a repacked layout (either side); 0 for others.
int64_t repack_unit_bytes(DType t);
// n units (256 values each) from natural layout to repacked (to = repacked_of(from)) or back
// (from a repacked type to natural_of(from)). src and dst must not overlap.
void repack_units(DType from, DType to, const uint8_t* src, uint8_t* dst, int64_t n_units);
// Values per block of the types whose rows may end in a partial unit (Q8_0, MXFP4, either side:
// 32), or 0 where rows must be whole units.
int repack_tail_block(DType t);
// The last nv values of a row (0 < nv < 256, a multiple of repack_tail_block), either way; with
// b = nv/32 and L = nv/4 (lanes p < L of the full unit's chunks hold exactly values 0 .. nv-1):
//   Q8_0_R tail:  the b f16 scales (2b bytes), then byte 2b + (L/2) K + p = c of value
//                 32(p/4) + 4K + p%4 (p < 4b: the B8 plane cut to the tail's blocks)
//   MXFP4_R tail: the b exponents (b bytes), then the N32 plane cut to the tail's blocks: byte
//                 b + (L/2) K + p, K < 4, p < 4b
void repack_tail(DType from, DType to, const uint8_t* src, uint8_t* dst, int nv);

}  // namespace moecat::kernels::quant
