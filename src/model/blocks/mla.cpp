#include "model/blocks/mla.h"

#include <cmath>
#include <cstring>
#include <functional>

#include "kernels/ops.h"

namespace moecat {

namespace {

// HF kv_b_proj [n_head*(nope+v), kv_lora] -> attn_k_b [n_head, kv_lora, nope] (each head's
// W_kb transposed, so the absorbed query is a plain matmul) and attn_v_b [n_head, v, kv_lora].
// Element-wise in the source dtype (f32/f16/bf16 only: HF checkpoints; FP8 ones through f32).
Status split_kv_b(Weights& w, const ModelConfig& c, const std::string& p, const std::string& tag,
                  const TensorView& kvb_in, MlaWeights& m) {
  const int64_t H = c.n_head, R = c.kv_lora_rank, N = c.qk_nope_dim, V = c.v_head_dim;
  // FP8 checkpoints: split the exactly decoded f32 values (the transposed k_b rows cut across
  // the scale blocks). Costs 4 bytes per kv_b weight instead of 1.
  TensorView kvb = kvb_in;
  std::vector<float> decoded;
  if (kvb.dtype == DType::F8_E4M3) {
    decoded.resize(static_cast<size_t>(kvb.shape.numel()));
    for (int64_t r = 0; r < kvb.rows(); ++r) kernels::dequantize_view_row(kvb, r, &decoded[r * kvb.cols()]);
    kvb.fp8_scales = nullptr;
    kvb.dtype = DType::F32;
    kvb.data = decoded.data();
    kvb.nbytes = decoded.size() * sizeof(float);
  }
  if (kvb.dtype != DType::F32 && kvb.dtype != DType::F16 && kvb.dtype != DType::BF16)
    return Errorf("tensor '%s' has type %s; splitting it needs f32, f16 or bf16", kvb.name.c_str(),
                  dtype_name(kvb.dtype));
  const size_t es = kvb.dtype == DType::F32 ? 4 : 2;
  const uint8_t* src = static_cast<const uint8_t*>(kvb.data);
  std::vector<uint8_t> kb(H * R * N * es), vb(H * V * R * es);
  for (int64_t h = 0; h < H; ++h) {
    const uint8_t* head = src + h * (N + V) * R * es;  // rows [nope | v] of this head
    for (int64_t i = 0; i < N; ++i)
      for (int64_t r = 0; r < R; ++r)
        memcpy(&kb[((h * R + r) * N + i) * es], head + (i * R + r) * es, es);
    memcpy(&vb[h * V * R * es], head + N * R * es, V * R * es);
  }
  w.forget_last();
  TensorView k = w.add_derived(p + "attn_k_b" + tag + ".weight", kvb.dtype, {H, R, N}, std::move(kb));
  TensorView v = w.add_derived(p + "attn_v_b" + tag + ".weight", kvb.dtype, {H, V, R}, std::move(vb));
  for (int64_t h = 0; h < H; ++h) {
    m.k_b.push_back(k.slice0(h));
    m.v_b.push_back(v.slice0(h));
  }
  return Status::Ok();
}

std::vector<float> scaled(const TensorView& norm, float s) {
  const float* g = static_cast<const float*>(norm.data);
  std::vector<float> v(g, g + norm.shape.numel());
  for (float& x : v) x *= s;
  return v;
}

}  // namespace

Result<MlaWeights> load_mla(Weights& w, const ModelConfig& c, const std::string& p, const std::string& tag) {
  MlaWeights m;
  auto name = [&](const char* base) { return p + base + tag + ".weight"; };
  const int64_t H = c.n_head, D = c.n_embd, R = c.kv_lora_rank, QK = c.qk_nope_dim + c.qk_rope_dim;
  if (c.q_lora_rank > 0) {
    MOECAT_ASSIGN_OR_RETURN(m.wq_a, w.get(name("attn_q_a"), {c.q_lora_rank, D}, MOECAT_MATRIX_TYPES));
    MOECAT_ASSIGN_OR_RETURN(m.q_a_norm, w.get_f32(name("attn_q_a_norm"), {c.q_lora_rank}));
    MOECAT_ASSIGN_OR_RETURN(m.wq_b, w.get(name("attn_q_b"), {H * QK, c.q_lora_rank}, MOECAT_MATRIX_TYPES));
    m.q_norm_eff = scaled(m.q_a_norm, c.mla_q_scale);
  } else {
    MOECAT_ASSIGN_OR_RETURN(m.wq, w.get(name("attn_q"), {H * QK, D}, MOECAT_MATRIX_TYPES));
  }
  MOECAT_ASSIGN_OR_RETURN(m.wkv_a, w.get(name("attn_kv_a_mqa"), {R + c.qk_rope_dim, D}, MOECAT_MATRIX_TYPES));
  MOECAT_ASSIGN_OR_RETURN(m.kv_a_norm, w.get_f32(name("attn_kv_a_norm"), {R}));
  m.kv_norm_eff = scaled(m.kv_a_norm, c.mla_kv_scale);
  if (w.has(name("attn_kv_b"))) {  // HF folders and older GGUFs: one kv_b, split here
    MOECAT_ASSIGN_OR_RETURN(TensorView kvb, w.get(name("attn_kv_b"),
                                                  {H * (c.qk_nope_dim + c.v_head_dim), R}, MOECAT_MATRIX_TYPES));
    MOECAT_RETURN_IF_ERROR(split_kv_b(w, c, p, tag, kvb, m));
  } else {
    MOECAT_ASSIGN_OR_RETURN(TensorView kb, w.get(name("attn_k_b"), {H, R, c.qk_nope_dim}, MOECAT_MATRIX_TYPES));
    MOECAT_ASSIGN_OR_RETURN(TensorView vb, w.get(name("attn_v_b"), {H, c.v_head_dim, R}, MOECAT_MATRIX_TYPES));
    for (int64_t h = 0; h < H; ++h) {
      m.k_b.push_back(kb.slice0(h));
      m.v_b.push_back(vb.slice0(h));
    }
  }
  MOECAT_ASSIGN_OR_RETURN(m.wo, w.get(name("attn_output"), {D, H * c.v_head_dim}, MOECAT_MATRIX_TYPES));
  return m;
}

void mla_forward(const ModelConfig& c, const Rope& rope, const MlaWeights& w, const float* x,
                 const Batch& b, const std::vector<SeqSpan>& seqs, int64_t layer, float* out,
                 ThreadPool* pool) {
  const int64_t n = b.n, H = c.n_head, R = c.kv_lora_rank, NP = c.qk_nope_dim, RP = c.qk_rope_dim;
  const int64_t QK = NP + RP, V = c.v_head_dim, KW = R + RP;  // KW: cache row / absorbed q width
  std::vector<float> q(n * H * QK);  // [n][H][nope | rope]
  if (c.q_lora_rank > 0) {
    std::vector<float> qa(n * c.q_lora_rank);  // [n][q_lora]
    kernels::matmul(w.wq_a, x, n, qa.data(), pool);
    const float* g = w.q_norm_eff.data();
    for (int64_t t = 0; t < n; ++t)
      kernels::rmsnorm(qa.data() + t * c.q_lora_rank, g, c.mla_norm_eps, c.q_lora_rank, qa.data() + t * c.q_lora_rank);
    kernels::matmul(w.wq_b, qa.data(), n, q.data(), pool);
  } else {
    kernels::matmul(w.wq, x, n, q.data(), pool);
    if (c.mla_q_scale != 1.0f)
      for (float& v : q) v *= c.mla_q_scale;
  }
  std::vector<float> kva(n * KW);  // [n][latent | k_pe]
  kernels::matmul(w.wkv_a, x, n, kva.data(), pool);

  std::vector<float> cs(RP / 2), sn(RP / 2);
  std::vector<float> row(KW);  // cache row: [latent (R) | k_pe (RP)], stored in the cache's type
  const float* kvn = w.kv_norm_eff.data();
  for (const SeqSpan& sp : seqs)
  for (int64_t t = sp.begin; t < sp.begin + sp.n; ++t) {
    const LayerKv& kv = sp.kv->layers[layer];
    kernels::rmsnorm(kva.data() + t * KW, kvn, c.mla_norm_eps, R, row.data());
    memcpy(row.data() + R, kva.data() + t * KW + R, RP * sizeof(float));
    rope.angles(b.pos[t], cs.data(), sn.data());
    kernels::rope(row.data() + R, 1, RP, RP, cs.data(), sn.data(), rope.config().neox);
    kv.store_k(b.pos[t], 0, row.data(), KW);
    for (int64_t h = 0; h < H; ++h)
      kernels::rope(q.data() + (t * H + h) * QK + NP, 1, RP, RP, cs.data(), sn.data(), rope.config().neox);
  }

  // Absorbed queries [n][H][R | RP]: W_kb_h^T q_nope_h, then the roped part unchanged. Heads
  // are independent small products: one parallel region over heads, each single-threaded.
  std::vector<float> qabs(n * H * KW);
  auto heads = [&](const std::function<void(int64_t, int64_t)>& fn) {
    if (pool) pool->parallel_for(H, 1, fn); else fn(0, H);
  };
  heads([&](int64_t h0, int64_t h1) {
    std::vector<float> qn(n * NP), qr(n * R);
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t t = 0; t < n; ++t) memcpy(qn.data() + t * NP, q.data() + (t * H + h) * QK, NP * sizeof(float));
      kernels::matmul(w.k_b[h], qn.data(), n, qr.data(), nullptr);
      for (int64_t t = 0; t < n; ++t) {
        float* dst = qabs.data() + (t * H + h) * KW;
        memcpy(dst, qr.data() + t * R, R * sizeof(float));
        memcpy(dst + R, q.data() + (t * H + h) * QK + NP, RP * sizeof(float));
      }
    }
  });

  std::vector<float> lat(n * H * R);  // [n][H][R]
  for (const SeqSpan& sp : seqs) {
    const LayerKv& kv = sp.kv->layers[layer];
    kernels::AttentionParams ap;
    ap.n_head = H;
    ap.n_head_kv = 1;
    ap.head_dim_k = KW;
    ap.head_dim_v = R;
    // The scale belongs to the un-absorbed head size (nope + rope), as in the HF model.
    ap.scale = c.attn_scale > 0 ? c.attn_scale : 1.0f / std::sqrt(static_cast<float>(QK));
    ap.k_pos_stride = kv.k_width;
    ap.v_pos_stride = kv.k_width;  // values = the latent at the start of each key row
    ap.kv_f16 = kv.type == KvType::kF16;
    ap.ring = kv.ring;
    ap.blocks = kv.blocks;
    ap.block_rows = kv.block_rows;
    kernels::attention(qabs.data() + sp.begin * H * KW, b.pos + sp.begin, sp.n, kv.k, kv.k, ap,
                       lat.data() + sp.begin * H * R, pool);
  }

  // Per head: out_h = W_vb_h lat_h, gathered to [n][H*V] for the output projection.
  std::vector<float> o(n * H * V);
  heads([&](int64_t h0, int64_t h1) {
    std::vector<float> lh(n * R), oh(n * V);
    for (int64_t h = h0; h < h1; ++h) {
      for (int64_t t = 0; t < n; ++t) memcpy(lh.data() + t * R, lat.data() + (t * H + h) * R, R * sizeof(float));
      kernels::matmul(w.v_b[h], lh.data(), n, oh.data(), nullptr);
      for (int64_t t = 0; t < n; ++t) memcpy(o.data() + (t * H + h) * V, oh.data() + t * V, V * sizeof(float));
    }
  });
  kernels::matmul(w.wo, o.data(), n, out, pool);
}

}  // namespace moecat
