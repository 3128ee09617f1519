// The compute kernels the model layer calls. Each has a scalar reference (namespace ref, in
// ref.cpp) and AVX2 / AVX-512 variants (*_avx2.cpp, *_avx512.cpp); the entry points below
// dispatch to the variant chosen once at start-up from CPUID (dispatch.cpp). All arrays are
// row-major float32 unless stated; shapes in comments are outermost-first.
#pragma once
#include <cstdint>

#include "kernels/threadpool.h"
#include "tensor/tensor.h"

namespace moecat::kernels {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
Isa detected_isa();          // best ISA this CPU supports (CPUID + OS XSAVE state)
Isa active_isa();            // detected, lowered by env MOECAT_ISA=scalar|avx2|avx512 or set_isa
void set_isa(Isa isa);       // tests: force a variant (must be <= detected)
const char* isa_name(Isa isa);

// y[n][out] = x[n][in] · w[out][in]^T.  w.dtype: F32, F16, BF16, Q8_0, MXFP4, k-quants, F8_E4M3
// (with its block scales).
// Q8_0 / MXFP4 weights: each row of x is quantized to q8_0 once (like llama.cpp), dotted in
// int8 (MXFP4 codes through the int8 table kMxfp4Values), accumulated in f32.
// F16/BF16 weights are widened to f32 on the fly. Threads split `out`.
void matmul(const TensorView& w, const float* x, int64_t n, float* y, ThreadPool* pool);

// Several products in one parallel region (matmul_many.cpp): job k computes
// y[i*ldy + r] = x[rows[i]] . w[r] for i < m (rows null: x rows 0..m-1). Jobs with the same x
// share one activation quantization; results equal one matmul per job bit for bit.
// A gated pair (gate and up of an FFN): `up` has w's shape and input, its products go to y_up,
// and the work unit that computed rows [r0, r1) of both calls glu(glu_ctx, y, y_up, m, ldy,
// r0, r1) to combine them into y (e.g. y = silu(y) * y_up) while they are in cache: no pass of
// its own over the outputs, no second parallel region. The same bits as the two products
// followed by the activation over the whole output.
using GluFn = void (*)(const void* ctx, float* y, float* y_up, int64_t m, int64_t ldy, int64_t r0, int64_t r1);
struct MatJob {
  const TensorView* w = nullptr;
  const float* x = nullptr;
  int64_t x_rows = 0;             // x is [x_rows][w.cols()]
  const int32_t* rows = nullptr;  // [m] row indices into x, or null
  int64_t m = 0;
  float* y = nullptr;
  int64_t ldy = 0;
  const TensorView* up = nullptr;  // gated pair: the second matrix, or null
  float* y_up = nullptr;           // [m][ldy]
  GluFn glu = nullptr;
  const void* glu_ctx = nullptr;
};
void matmul_many(const MatJob* jobs, int n_jobs, ThreadPool* pool);
// Values per activation scale in matmul's products with w on the active ISA: 32 (q8_0-style
// activations: the q8_0, Span and pair forms), 256 (one scale per unit, as llama.cpp's Q8_K:
// AVX2's Q2_K / Q3_K / Q6_K), 0 (float activations). The tests' rounding bounds follow it.
int activation_block(const TensorView& w);

// y = x / sqrt(mean(x^2) + eps) * weight   (weight may be null => 1)
void rmsnorm(const float* x, const float* weight, float eps, int64_t n, float* y);
// In-place numerically-stable softmax.
void softmax(float* x, int64_t n);
// y = silu(gate) * up
void swiglu(const float* gate, const float* up, int64_t n, float* y);
// Rotates the first rot_dim dims of each of n_heads heads of x [n_heads][head_dim] in place.
// cos/sin: [rot_dim/2] for this token's position. neox: pairs (i, i + rot_dim/2); otherwise
// adjacent pairs (2i, 2i+1) as ggml's "normal" rope.
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rot_dim, const float* cos,
          const float* sin, bool neox);
float dot(const float* a, const float* b, int64_t n);
void axpy(float a, const float* x, float* y, int64_t n);  // y += a * x
// y = exp(x), vectorized: <= 2 ulp from the exact value for results >= FLT_MIN (smaller ones
// flush gradually to 0), +inf above ~88.72, NaN propagates. The same expf is used by softmax,
// swiglu and attention.
void exp_row(const float* x, float* y, int64_t n);

// MXFP4 (ggml type 39, OCP microscaling FP4): 32 e2m1 values sharing one e8m0 exponent.
// qs[j] low nibble = element j, high nibble = element j + 16. Element value =
// kMxfp4Values[code] * e8m0_to_f32_half(e) (the table holds e2m1 values doubled, hence "half").
constexpr int kMxfp4Block = 32;
struct BlockMxfp4 {
  uint8_t e;   // e8m0 exponent: 2^(e - 127)
  uint8_t qs[kMxfp4Block / 2];
};
static_assert(sizeof(BlockMxfp4) == 17, "mxfp4 block must be 17 bytes");
extern const int8_t kMxfp4Values[16];  // 0,1,2,3,4,6,8,12, then the same negated
float e8m0_to_f32_half(uint8_t e);     // 2^(e - 128), exact (subnormal for e < 2)
// llama.cpp's quantize_row_mxfp4_ref bit for bit: e = floor(log2(amax)) - 2 + 127, each value
// to the nearest table entry (ties: lowest code).
void quantize_row_mxfp4(const float* src, void* dst, int64_t n);

// FP8 e4m3 (OCP 8-bit float as in DeepSeek-V3 / LongCat-Flash FP8 checkpoints): 1 sign bit,
// 4 exponent bits (bias 7), 3 mantissa bits; exponent 0 = subnormals (m * 2^-9), no infinities,
// 0x7F / 0xFF are NaN; largest finite 448. Exact in f32.
float fp8_e4m3_to_f32(uint8_t b);
// FP8 weights in place (DType::F8_E4M3 with TensorView::fp8_scales): the matmul reads one e4m3
// byte per weight and the f32 scale of its block from the side table; rows a multiple of 32
// values, block columns too (model/weights.cpp decodes other shapes to f32 at load).
constexpr int kF8Block = 32;
// FP8 matmul activations: rounded to bf16 once per matrix (vdpbf16ps; the weights stay exact)
// where the CPU has AVX-512 BF16 and VBMI, the default there; or f32, exact (the only mode
// elsewhere; tests/e2e/fp8_checkpoint.sh's 1e-4 bounds). Environment MOECAT_FP8_ACT=f32|bf16
// (read once) or set_fp8_bf16. fp8_bf16_active: the mode in effect for matrices whose rows and
// block columns are multiples of 64 (others always take the f32 kernels).
void set_fp8_bf16(bool on);
bool fp8_bf16_active();
// Row r of any matrix view as f32: dequantize_row, or for FP8 views the codes times their block
// scales (exact products rounded once).
void dequantize_view_row(const TensorView& w, int64_t r, float* dst);

// Element conversions (one row of n elements; n a multiple of the block size).
void dequantize_row(DType t, const void* src, float* dst, int64_t n);  // F32/F16/BF16/Q8_0/MXFP4/k-quants
void quantize_row_q8_0(const float* src, void* dst, int64_t n);        // llama.cpp rounding
// Vectorized quantize_row_q8_0 of the active ISA; bit-identical output (tests check).
void quantize_row_q8_0_fast(const float* src, void* dst, int64_t n);
void convert_row(const float* src, DType t, void* dst, int64_t n);     // F32/F16/BF16/Q8_0/MXFP4/k-quants

// Weight repacking at load (kernels/quant/repack.h; dispatch.cpp). repack_type(t, cols): the
// layout a matrix of file type t with rows of `cols` values is rewritten into for the active
// ISA's kernels (Q8_0, Q2_K..Q6_K, IQ4_XS on AVX-512 VNNI; rows of whole 256-value units, or for
// Q8_0 any row, its last unit partial), or t when there is none or repacking is off:
// set_repack(false), or the environment MOECAT_REPACK=0 (read once). repack_rows converts `rows`
// rows of `cols` values between a file type and its repacked layout, either way (lossless; the
// bytes of every row stay where they are).
void set_repack(bool on);
bool repack_enabled();
DType repack_type(DType t, int64_t cols);
void repack_rows(DType from, DType to, const void* src, void* dst, int64_t rows, int64_t cols);

struct AttentionParams {
  int64_t n_head = 0, n_head_kv = 0;        // GQA: head h uses kv head h / (n_head / n_head_kv)
  int64_t head_dim_k = 0, head_dim_v = 0;
  float scale = 1.0f;                       // applied to q·k
  int64_t k_pos_stride = 0, v_pos_stride = 0;  // elements between positions in the caches
  bool kv_f16 = false;                      // caches hold IEEE halves (uint16_t), else floats
  int64_t window = 0;                       // sliding window: attend to (pos - window, pos]; 0 = all
  const float* sinks = nullptr;             // [n_head] extra softmax logit per head, or null
  int64_t ring = 0;                         // >0: position q lives in cache slot q % ring (a
                                            // sliding-window cache; needs window <= ring)
  const int32_t* blocks = nullptr;          // paged: position q lives in slot
  int64_t block_rows = 0;                   // blocks[q / block_rows] * block_rows + q % block_rows
};
// The cache slot (row) of position pos under p's layout (contiguous, ring or paged).
inline int64_t attention_slot(const AttentionParams& p, int64_t pos) {
  if (p.blocks) return int64_t(p.blocks[pos / p.block_rows]) * p.block_rows + pos % p.block_rows;
  return p.ring > 0 ? pos % p.ring : pos;
}
// q [n_tok][n_head][head_dim_k]; q_pos[t] = absolute position of query t.
// k_cache: position p, kv head j at k_cache + p*k_pos_stride + j*head_dim_k (same for v).
// Causal: query t sees cache positions <= q_pos[t]. out [n_tok][n_head][head_dim_v].
// The caches are float, or uint16_t halves when p.kv_f16.
void attention(const float* q, const int32_t* q_pos, int64_t n_tok, const void* k_cache,
               const void* v_cache, const AttentionParams& p, float* out, ThreadPool* pool);

// Scalar references, same contracts; the tests compare every variant against these.
namespace ref {
void matmul(const TensorView& w, const float* x, int64_t n, float* y);
void rmsnorm(const float* x, const float* weight, float eps, int64_t n, float* y);
void softmax(float* x, int64_t n);
void swiglu(const float* gate, const float* up, int64_t n, float* y);
void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rot_dim, const float* cos,
          const float* sin, bool neox);
float dot(const float* a, const float* b, int64_t n);
// The FP8 bf16-activation path's reference: x rounded to the nearest-even bf16, exact weights,
// double-precision dot.
void matmul_fp8_bf16(const TensorView& w, const float* x, int64_t n, float* y);
void attention(const float* q, const int32_t* q_pos, int64_t n_tok, const float* k_cache,
               const float* v_cache, const AttentionParams& p, float* out);
}  // namespace ref

}  // namespace moecat::kernels
