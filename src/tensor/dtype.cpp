#include "tensor/dtype.h"

namespace moecat {

// Every ggml type with its block layout, so that a GGUF holding types moecat cannot compute
// with yet (k-quants, i-quants) still opens, and the weight accessor can say which tensor has
// which unsupported type instead of rejecting the file as malformed.
std::optional<DTypeInfo> dtype_info(uint32_t t) {
  switch (t) {
    case 0: return DTypeInfo{"f32", 1, 4};
    case 1: return DTypeInfo{"f16", 1, 2};
    case 2: return DTypeInfo{"q4_0", 32, 18};
    case 3: return DTypeInfo{"q4_1", 32, 20};
    case 6: return DTypeInfo{"q5_0", 32, 22};
    case 7: return DTypeInfo{"q5_1", 32, 24};
    case 8: return DTypeInfo{"q8_0", 32, 34};
    case 9: return DTypeInfo{"q8_1", 32, 36};
    case 10: return DTypeInfo{"q2_K", 256, 84};
    case 11: return DTypeInfo{"q3_K", 256, 110};
    case 12: return DTypeInfo{"q4_K", 256, 144};
    case 13: return DTypeInfo{"q5_K", 256, 176};
    case 14: return DTypeInfo{"q6_K", 256, 210};
    case 15: return DTypeInfo{"q8_K", 256, 292};
    case 16: return DTypeInfo{"iq2_xxs", 256, 66};
    case 17: return DTypeInfo{"iq2_xs", 256, 74};
    case 18: return DTypeInfo{"iq3_xxs", 256, 98};
    case 19: return DTypeInfo{"iq1_s", 256, 50};
    case 20: return DTypeInfo{"iq4_nl", 32, 18};
    case 21: return DTypeInfo{"iq3_s", 256, 110};
    case 22: return DTypeInfo{"iq2_s", 256, 82};
    case 23: return DTypeInfo{"iq4_xs", 256, 136};
    case 24: return DTypeInfo{"i8", 1, 1};
    case 25: return DTypeInfo{"i16", 1, 2};
    case 26: return DTypeInfo{"i32", 1, 4};
    case 27: return DTypeInfo{"i64", 1, 8};
    case 28: return DTypeInfo{"f64", 1, 8};
    case 29: return DTypeInfo{"iq1_m", 256, 56};
    case 30: return DTypeInfo{"bf16", 1, 2};
    case 34: return DTypeInfo{"tq1_0", 256, 54};
    case 35: return DTypeInfo{"tq2_0", 256, 66};
    case 39: return DTypeInfo{"mxfp4", 32, 17};
    default: return std::nullopt;
  }
}

DTypeInfo dtype_layout(DType t) {
  if (t == DType::F8_E4M3) return DTypeInfo{"f8_e4m3", 1, 1};
  auto i = dtype_info(dtype_layout_id(t));
  return i ? *i : DTypeInfo{"?", 1, 0};
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F8_E4M3: return "f8_e4m3";
    case DType::Q4_0_R: return "q4_0_r";
    case DType::Q4_1_R: return "q4_1_r";
    case DType::Q5_0_R: return "q5_0_r";
    case DType::Q5_1_R: return "q5_1_r";
    case DType::Q8_0_R: return "q8_0_r";
    case DType::Q2_K_R: return "q2_K_r";
    case DType::Q3_K_R: return "q3_K_r";
    case DType::Q4_K_R: return "q4_K_r";
    case DType::Q5_K_R: return "q5_K_r";
    case DType::Q6_K_R: return "q6_K_r";
    case DType::IQ4_NL_R: return "iq4_nl_r";
    case DType::IQ4_XS_R: return "iq4_xs_r";
    case DType::MXFP4_R: return "mxfp4_r";
    default: break;
  }
  auto i = dtype_info(static_cast<uint32_t>(t));
  return i ? i->name : "?";
}

std::optional<DType> dtype_from_name(const std::string& s) {
  std::string l = s;
  for (char& ch : l) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  static constexpr DType kNamed[] = {
      DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::MXFP4, DType::Q4_0,
      DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K, DType::Q3_K,  DType::Q4_K,
      DType::Q5_K, DType::Q6_K, DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS,
      DType::IQ3_S, DType::IQ1_S, DType::IQ1_M, DType::IQ4_NL, DType::IQ4_XS};
  for (DType t : kNamed) {
    std::string n = dtype_name(t);
    for (char& ch : n) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    if (n == l) return t;
  }
  return std::nullopt;
}

}  // namespace moecat
