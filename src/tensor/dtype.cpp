#include "tensor/dtype.h"

namespace moecat {

std::optional<DTypeInfo> dtype_info(uint32_t t) {
  switch (t) {
    case 0: return DTypeInfo{"f32", 1, 4};
    case 1: return DTypeInfo{"f16", 1, 2};
    case 2: return DTypeInfo{"q4_0", 32, 18};
    case 8: return DTypeInfo{"q8_0", 32, 34};
    case 24: return DTypeInfo{"i8", 1, 1};
    case 25: return DTypeInfo{"i16", 1, 2};
    case 26: return DTypeInfo{"i32", 1, 4};
    case 28: return DTypeInfo{"f64", 1, 8};
    case 30: return DTypeInfo{"bf16", 1, 2};
    case 39: return DTypeInfo{"mxfp4", 32, 17};
    default: return std::nullopt;
  }
}

const char* dtype_name(DType t) {
  auto i = dtype_info(static_cast<uint32_t>(t));
  return i ? i->name : "?";
}

std::optional<DType> dtype_from_name(const std::string& s) {
  if (s == "f32") return DType::F32;
  if (s == "f16") return DType::F16;
  if (s == "bf16") return DType::BF16;
  if (s == "q8_0") return DType::Q8_0;
  return std::nullopt;
}

}  // namespace moecat
