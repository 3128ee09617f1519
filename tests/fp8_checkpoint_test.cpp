// FP8 checkpoints (DeepSeek-V3 / R1, LongCat-Flash-FP8 layout): safetensors F8_E4M3 matrices with
// `NAME_scale_inv` block scales, written by tools/fp8_test_model.py from the random test models.
// The loaded weights must equal e4m3(code) * scale of the code's block (recomputed here from the
// file bytes by the OCP definition, partial blocks at the matrix edges included); ignored layers
// stay bf16; malformed scales or configs fail at load with a message naming the tensor or key.
// End to end (log-probs against the float64 reference of the dequantized model, convert):
// tests/e2e/fp8_checkpoint.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "kernels/ops.h"
#include "model/registry.h"

namespace fs = std::filesystem;

namespace moecat {
namespace {

double e4m3(int b) {  // OCP FP8 e4m3, by definition
  const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
  const double v = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
  return s ? -v : v;
}

class Fp8Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::path(MOECAT_BINARY_DIR) / "fp8_checkpoint_test.work" / std::to_string(getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    py_ = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    ASSERT_EQ(run(py_ + " " MOECAT_SOURCE_DIR "/tools/make_test_model.py deepseek_v3 " + (root_ / "ds").string() +
                  " --seed 46 > /dev/null 2>&1"),
              0)
        << "cannot generate the test model (python3-numpy missing?)";
    ASSERT_EQ(run(py_ + " " MOECAT_SOURCE_DIR "/tools/longcat_test_model.py " + (root_ / "lc").string() +
                  " --seed 16 > /dev/null 2>&1"),
              0);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static int run(const std::string& cmd) { return system(cmd.c_str()); }

  // fp8_test_model.py BASE -> NAME with `opts`; returns the folder (and the broken tensor's
  // name, printed by the tool, in *broken).
  static std::string fp8(const std::string& name, const std::string& opts, std::string* broken = nullptr,
                         const std::string& base = "ds") {
    const fs::path dir = root_ / name, out = root_ / (name + ".out");
    EXPECT_EQ(run(py_ + " " MOECAT_SOURCE_DIR "/tools/fp8_test_model.py " + (root_ / base).string() + " " +
                  dir.string() + " " + opts + " > " + out.string() + " 2>/dev/null"),
              0);
    if (broken) {
      FILE* f = fopen(out.c_str(), "r");
      char buf[512] = {0};
      if (f && fgets(buf, sizeof buf, f)) *broken = std::string(buf, strcspn(buf, "\n"));
      if (f) fclose(f);
    }
    return dir.string();
  }

  static std::string load_error(const std::string& path) {
    auto m = load_model(path);
    EXPECT_FALSE(m.ok()) << path << " loaded although it is malformed";
    return m.ok() ? "" : m.status().message();
  }

  // Every weight of `path` that came from an F8_E4M3 tensor equals code * block scale exactly
  // (F8_E4M3 in place, pointing into the file, where rows are whole 32-value blocks; F32
  // otherwise). Returns how many.
  static int check_values(const std::string& path, int64_t br, int64_t bc, int* n_bf16) {
    auto m = load_model(path);
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.status().message());
    if (!m.ok()) return 0;
    const Weights& w = (*m)->weights();
    const ModelSource& src = w.source();
    int checked = 0;
    *n_bf16 = 0;
    for (const LoadedWeight& lw : w.loaded()) {
      for (size_t e = 0; e < lw.parts.size(); ++e) {
        const std::string sname = w.source_name(lw.name, lw.parts.size() > 1 ? int64_t(e) : -1);
        const TensorView* raw = sname.empty() ? nullptr : src.find(sname);
        if (!raw) continue;
        const TensorView& v = lw.parts[e];
        if (raw->dtype == DType::BF16 && raw->shape.ndim == 2 && sname.find("_proj.") != std::string::npos) ++*n_bf16;
        if (raw->dtype != DType::F8_E4M3) continue;
        const TensorView* sc = src.find(sname + "_scale_inv");
        EXPECT_TRUE(sc && sc->dtype == DType::F32) << sname;
        if (!sc) continue;
        const int64_t rows = raw->shape[0], cols = raw->shape[1], ncb = (cols + bc - 1) / bc;
        EXPECT_EQ(sc->shape, (Shape{(rows + br - 1) / br, ncb})) << sname;
        EXPECT_TRUE(cols % 32 == 0 ? v.dtype == DType::F8_E4M3 : v.dtype == DType::F32) << sname << " " << dtype_name(v.dtype);
        if (v.dtype == DType::F8_E4M3) {
          EXPECT_EQ(v.data, raw->data) << sname << ": not in place";
        }
        const auto* q = static_cast<const uint8_t*>(raw->data);
        const auto* s = static_cast<const float*>(sc->data);
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
          kernels::dequantize_view_row(v, r, row.data());
          for (int64_t c = 0; c < cols; ++c) {
            const double want = e4m3(q[r * cols + c]) * double(s[(r / br) * ncb + c / bc]);
            // Decodes to float(code * scale): exact product rounded once.
            if (row[c] != float(want)) {
              ADD_FAILURE() << sname << " [" << r << ", " << c << "]: " << row[c] << " != " << want;
              return checked;
            }
          }
        }
        ++checked;
      }
    }
    return checked;
  }

  static inline fs::path root_;
  static inline std::string py_;
};

TEST_F(Fp8Test, DeepSeekBlocks128LoadExactly) {
  // The test model's matrices are all smaller than or not multiples of 128: every one has
  // partial blocks (q_b_proj [96, 48]: rows of 48, decoded to f32).
  int bf16 = 0;
  const int n = check_values(fp8("ds128", ""), 128, 128, &bf16);
  EXPECT_GE(n, 60);  // 69 FP8 matrices, kv_b split at load
  EXPECT_EQ(bf16, 0);
}

TEST_F(Fp8Test, DeepSeekSmallBlocksAndIgnoredLayers) {
  // 16 x 32 blocks: many blocks per matrix, partial row blocks (kv_a [40, 128]: 16+16+8) and
  // partial column blocks (q_b rows of 48 = 32 + 16). o_proj ignored: stays bf16.
  int bf16 = 0;
  const int n = check_values(fp8("ds16x32", "--block 16 32 --ignore o_proj"), 16, 32, &bf16);
  EXPECT_GE(n, 55);
  EXPECT_EQ(bf16, 3);  // one o_proj per layer
}

TEST_F(Fp8Test, ModulesToNotConvertLikeIgnoredLayers) {
  // transformers' key for the same list: the listed o_proj stays bf16 and loads.
  int bf16 = 0;
  const int n = check_values(fp8("ds_mtnc", "--block 16 32 --ignore o_proj --ignore-key modules_to_not_convert"), 16,
                             32, &bf16);
  EXPECT_GE(n, 55);
  EXPECT_EQ(bf16, 3);
}

TEST_F(Fp8Test, IgnoredLayerStoredAsFp8IsRefused) {
  // A module the config lists as unquantized but the file stores as FP8 (without or with its
  // scales): refused, naming the tensor, the list and the entry.
  for (const char* kind : {"ignored-noscale", "ignored-fp8"}) {
    std::string broken;
    const std::string dir = fp8(std::string("bad_") + kind, std::string("--block 16 32 --ignore o_proj --break ") + kind,
                                &broken);
    ASSERT_FALSE(broken.empty()) << kind;
    const std::string e = load_error(dir);
    EXPECT_NE(e.find(broken), std::string::npos) << kind << ": " << e;
    EXPECT_NE(e.find("quantization_config.ignored_layers"), std::string::npos) << kind << ": " << e;
    EXPECT_NE(e.find("unquantized"), std::string::npos) << kind << ": " << e;
    EXPECT_NE(e.find(std::string(kind) == "ignored-fp8" ? "with block scales" : "no block scales"), std::string::npos)
        << kind << ": " << e;
  }
}

TEST_F(Fp8Test, LongcatFlashLoadsExactly) {
  int bf16 = 0;
  const int n = check_values(fp8("lc128", "--block 16 32", nullptr, "lc"), 16, 32, &bf16);
  EXPECT_GE(n, 10);
}

TEST_F(Fp8Test, MalformedScalesNameTheTensor) {
  struct Case { const char* kind; const char* needle; bool scale_name; } cases[] = {
      {"missing-scale", "is missing", true}, {"scale-shape", "have shape", true},
      {"scale-nan", "nan", true},           {"scale-inf", "inf", true},
      {"scale-neg", "must be finite and >= 0", true}, {"weight-nan", "is NaN", false}};
  for (const Case& c : cases) {
    std::string broken;
    const std::string dir = fp8(std::string("bad_") + c.kind, std::string("--break ") + c.kind, &broken);
    ASSERT_FALSE(broken.empty()) << c.kind;
    const std::string e = load_error(dir);
    EXPECT_NE(e.find(c.needle), std::string::npos) << c.kind << ": " << e;
    EXPECT_NE(e.find(c.scale_name ? broken + "_scale_inv" : broken), std::string::npos) << c.kind << ": " << e;
  }
}

TEST_F(Fp8Test, UnsupportedQuantizationConfigIsRefused) {
  struct Case { const char* kind; const char* needle; } cases[] = {
      {"fmt", "e5m2"}, {"block", "weight_block_size"}, {"method", "fbgemm_fp8"}};
  for (const Case& c : cases) {
    const std::string e = load_error(fp8(std::string("cfg_") + c.kind, std::string("--break ") + c.kind));
    EXPECT_NE(e.find(c.needle), std::string::npos) << c.kind << ": " << e;
    EXPECT_NE(e.find("quantization_config"), std::string::npos) << c.kind << ": " << e;
  }
  // Block columns that are not whole 32-value blocks.
  const std::string e = load_error(fp8("cfg_cols", "--block 128 100"));
  EXPECT_NE(e.find("[128, 100]"), std::string::npos) << e;
}

}  // namespace
}  // namespace moecat
