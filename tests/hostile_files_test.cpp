// Hostile GGUF and safetensors files, built byte by byte here: each must fail to open with a
// message naming the problem, and never crash or read out of bounds (run under ASan too).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "testing.h"
#include "io/gguf.h"
#include "io/safetensors.h"

namespace moecat {
namespace {

using namespace testing_util;


// Parses from an exactly-sized heap copy so that ASan flags any read past the end.
Status OpenGguf(const std::string& bytes) {
  std::vector<uint8_t> buf(bytes.begin(), bytes.end());
  auto r = GgufFile::FromMemory(buf.data(), buf.size(), "hostile.gguf");
  return r.status();
}
Status OpenSt(const std::string& bytes) {
  std::vector<uint8_t> buf(bytes.begin(), bytes.end());
  auto r = SafetensorsFile::FromMemory(buf.data(), buf.size(), "hostile.safetensors");
  return r.status();
}

#define EXPECT_FAILS_WITH(status_expr, word)                                      \
  do {                                                                            \
    Status _s = (status_expr);                                                    \
    ASSERT_FALSE(_s.ok()) << "expected failure containing '" << (word) << "'";    \
    EXPECT_NE(_s.message().find(word), std::string::npos) << _s.message();        \
    if (getenv("SHOW_MESSAGES")) printf("  %s\n", _s.message().c_str());          \
  } while (0)

// ---------------------------------------------------------------- GGUF ----
struct TI {
  std::string name = "w";
  uint32_t n_dims = 2;
  std::vector<uint64_t> ne = {4, 2};  // innermost first
  uint32_t type = 0;                   // f32
  uint64_t offset = 0;
};

// Header + given kv bytes + tensor infos + padding + `data` bytes of data.
std::string Gguf(const std::vector<TI>& tis, size_t data, const std::string& kv = "",
                 uint64_t n_kv = 0, uint32_t align = 32) {
  Bytes f;
  f.b = "GGUF";
  f.u32(3).u64(tis.size()).u64(n_kv);
  f.b += kv;
  for (const auto& t : tis) {
    f.str(t.name).u32(t.n_dims);
    for (uint64_t e : t.ne) f.u64(e);
    f.u32(t.type).u64(t.offset);
  }
  f.pad(align);
  f.b.append(data, '\x11');
  return f.b;
}

TEST(HostileGguf, BaselineIsValid) {
  Status s = OpenGguf(Gguf({TI{}}, 32));
  EXPECT_TRUE(s.ok()) << s.message();
  s = OpenGguf(Gguf({TI{}, TI{"v", 1, {3}, 0, 32}}, 44));
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(HostileGguf, BadMagic) { EXPECT_FAILS_WITH(OpenGguf("GGUG\3\0\0\0"), "magic"); }
TEST(HostileGguf, Empty) { EXPECT_FAILS_WITH(OpenGguf(""), "truncated"); }

TEST(HostileGguf, UnsupportedVersion) {
  Bytes f; f.b = "GGUF"; f.u32(1).u64(0).u64(0);
  EXPECT_FAILS_WITH(OpenGguf(f.b), "version 1");
  Bytes g; g.b = "GGUF"; g.u32(4).u64(0).u64(0);
  EXPECT_FAILS_WITH(OpenGguf(g.b), "version 4");
}

TEST(HostileGguf, TruncatedCounts) {
  Bytes f; f.b = "GGUF"; f.u32(3).u64(0); f.b += "\0\0\0";
  EXPECT_FAILS_WITH(OpenGguf(f.b), "truncated");
}

TEST(HostileGguf, AbsurdTensorCount) {
  Bytes f; f.b = "GGUF"; f.u32(3).u64(uint64_t(1) << 60).u64(0); f.b.append(100, '\0');
  EXPECT_FAILS_WITH(OpenGguf(f.b), "absurd tensor count");
}

TEST(HostileGguf, AbsurdKvCount) {
  Bytes f; f.b = "GGUF"; f.u32(3).u64(0).u64(uint64_t(1) << 60); f.b.append(100, '\0');
  EXPECT_FAILS_WITH(OpenGguf(f.b), "absurd metadata count");
  Bytes g; g.b = "GGUF"; g.u32(3).u64(0).u64(UINT64_MAX); g.b.append(100, '\0');
  EXPECT_FAILS_WITH(OpenGguf(g.b), "absurd");
}

TEST(HostileGguf, KeyLengthPastEnd) {
  Bytes kv; kv.u64(1000).b += "abc";
  EXPECT_FAILS_WITH(OpenGguf(Gguf({}, 0, kv.b, 1)), "past the end");
}

TEST(HostileGguf, KeyLengthAbsurd) {
  Bytes kv; kv.u64(UINT64_MAX - 3).b += "abcdefghijklmn";
  EXPECT_FAILS_WITH(OpenGguf(Gguf({}, 0, kv.b, 1)), "past the end");
  Bytes big; big.str(std::string(70000, 'k')).u32(4).u32(1);  // fits in the file, but absurd
  EXPECT_FAILS_WITH(OpenGguf(Gguf({}, 0, big.b, 1)), "absurd");
}

TEST(HostileGguf, StringValuePastEnd) {
  Bytes kv; kv.str("k").u32(8).u64(uint64_t(1) << 40).b += "xyz";
  EXPECT_FAILS_WITH(OpenGguf(Gguf({}, 0, kv.b, 1)), "past the end");
}

TEST(HostileGguf, ArrayLengthPastEnd) {
  Bytes kv; kv.str("k").u32(9).u32(5).u64(1000).u32(1).u32(2);
  Status s = OpenGguf(Gguf({}, 0, kv.b, 1));
  EXPECT_FAILS_WITH(s, "past the end");
  EXPECT_NE(s.message().find("'k'"), std::string::npos) << s.message();
}

TEST(HostileGguf, ArrayLengthAbsurd) {
  Bytes kv; kv.str("k").u32(9).u32(8).u64(uint64_t(1) << 62);
  EXPECT_FAILS_WITH(OpenGguf(Gguf({}, 0, kv.b, 1)), "past the end");
  Bytes kv2; kv2.str("k").u32(9).u32(0).u64(UINT64_MAX);
  EXPECT_FAILS_WITH(OpenGguf(Gguf({}, 0, kv2.b, 1)), "past the end");
}

TEST(HostileGguf, StringInArrayPastEnd) {
  Bytes kv; kv.str("k").u32(9).u32(8).u64(2).str("ok").u64(99999);
  EXPECT_FAILS_WITH(OpenGguf(Gguf({}, 0, kv.b, 1)), "array element 1");
}

TEST(HostileGguf, UnknownValueType) {
  Bytes kv; kv.str("k").u32(13).u32(0);
  Status s = OpenGguf(Gguf({}, 0, kv.b, 1));
  EXPECT_FAILS_WITH(s, "unknown type 13");
  EXPECT_NE(s.message().find("'k'"), std::string::npos) << s.message();
}

TEST(HostileGguf, UnknownArrayElementType) {
  Bytes kv; kv.str("k").u32(9).u32(77).u64(1).u32(0);
  EXPECT_FAILS_WITH(OpenGguf(Gguf({}, 0, kv.b, 1)), "unknown type 77");
}

TEST(HostileGguf, NestedArray) {
  Bytes kv; kv.str("k").u32(9).u32(9).u64(1).u32(4).u64(1).u32(1);
  EXPECT_FAILS_WITH(OpenGguf(Gguf({}, 0, kv.b, 1)), "nested arrays");
}

TEST(HostileGguf, U64TooLarge) {
  Bytes kv; kv.str("k").u32(10).u64(uint64_t(1) << 63);
  EXPECT_FAILS_WITH(OpenGguf(Gguf({}, 0, kv.b, 1)), "does not fit in int64");
}

TEST(HostileGguf, DuplicateKey) {
  Bytes kv; kv.str("k").u32(4).u32(1).str("k").u32(4).u32(2);
  Status s = OpenGguf(Gguf({}, 0, kv.b, 2));
  EXPECT_FAILS_WITH(s, "duplicate key");
  EXPECT_NE(s.message().find("'k'"), std::string::npos) << s.message();
}

TEST(HostileGguf, BadAlignment) {
  for (uint32_t a : {0u, 3u, 48u}) {
    Bytes kv; kv.str("general.alignment").u32(4).u32(a);
    EXPECT_FAILS_WITH(OpenGguf(Gguf({TI{}}, 32, kv.b, 1)), "alignment");
  }
  Bytes kv; kv.str("general.alignment").u32(10).u64(32);  // wrong type
  EXPECT_FAILS_WITH(OpenGguf(Gguf({TI{}}, 32, kv.b, 1)), "alignment");
}

TEST(HostileGguf, UnknownTensorType) {
  TI t; t.type = 1234;
  Status s = OpenGguf(Gguf({t}, 64));
  EXPECT_FAILS_WITH(s, "unknown type");
  EXPECT_NE(s.message().find("1234"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'w'"), std::string::npos) << s.message();
}

TEST(HostileGguf, ZeroDims) {
  TI t; t.n_dims = 0; t.ne = {};
  EXPECT_FAILS_WITH(OpenGguf(Gguf({t}, 64)), "n_dims 0");
}

TEST(HostileGguf, TooManyDims) {
  TI t; t.n_dims = 5; t.ne = {1, 1, 1, 1, 1};
  EXPECT_FAILS_WITH(OpenGguf(Gguf({t}, 64)), "n_dims 5");
  TI u; u.n_dims = 0xffffffffu; u.ne = {};
  EXPECT_FAILS_WITH(OpenGguf(Gguf({u}, 64)), "out of range");
}

TEST(HostileGguf, ZeroDimension) {
  TI t; t.ne = {4, 0};
  EXPECT_FAILS_WITH(OpenGguf(Gguf({t}, 64)), "is zero");
}

TEST(HostileGguf, NegativeDimension) {
  TI t; t.ne = {4, uint64_t(-2)};
  EXPECT_FAILS_WITH(OpenGguf(Gguf({t}, 64)), "negative");
}

TEST(HostileGguf, ElementCountOverflow) {
  TI t; t.n_dims = 3; t.ne = {uint64_t(1) << 32, uint64_t(1) << 20, uint64_t(1) << 20};
  EXPECT_FAILS_WITH(OpenGguf(Gguf({t}, 64)), "overflow");
}

TEST(HostileGguf, ByteSizeOverflow) {
  TI t; t.n_dims = 1; t.ne = {uint64_t(1) << 62};  // fits int64 as a count, x4 bytes does not
  EXPECT_FAILS_WITH(OpenGguf(Gguf({t}, 64)), "overflow");
}

TEST(HostileGguf, RowNotMultipleOfBlock) {
  TI t; t.type = 8; t.ne = {33, 2};  // q8_0 has 32-element blocks
  EXPECT_FAILS_WITH(OpenGguf(Gguf({t}, 256)), "multiple of the block size");
}

TEST(HostileGguf, OffsetNotAligned) {
  TI t; t.offset = 4;
  EXPECT_FAILS_WITH(OpenGguf(Gguf({t}, 64)), "alignment");
}

TEST(HostileGguf, DataPastEnd) {
  EXPECT_FAILS_WITH(OpenGguf(Gguf({TI{}}, 31)), "past the end");
  TI t; t.offset = uint64_t(1) << 63;  // offset + size wraps around
  EXPECT_FAILS_WITH(OpenGguf(Gguf({t}, 64)), "past the end");
  TI u; u.offset = UINT64_MAX - 31;
  EXPECT_FAILS_WITH(OpenGguf(Gguf({u}, 64)), "past the end");
}

TEST(HostileGguf, OverlappingData) {
  TI a; TI b; b.name = "v"; b.ne = {16, 1}; b.offset = 0;  // a [0,32), b [0,64)
  Status s = OpenGguf(Gguf({a, b}, 128));
  EXPECT_FAILS_WITH(s, "overlaps");
  TI c; c.name = "c"; c.ne = {16}; c.n_dims = 1; c.offset = 0;
  TI d; d.name = "d"; d.ne = {8}; d.n_dims = 1; d.offset = 32;  // c [0,64), d [32,64)
  EXPECT_FAILS_WITH(OpenGguf(Gguf({d, c}, 128)), "overlaps");
}

TEST(HostileGguf, DuplicateTensorName) {
  TI a; TI b; b.offset = 32;
  EXPECT_FAILS_WITH(OpenGguf(Gguf({a, b}, 64)), "duplicate tensor name");
}

TEST(HostileGguf, TensorNamePastEnd) {
  Bytes f; f.b = "GGUF"; f.u32(3).u64(1).u64(0).u64(500); f.b.append(40, 'n');
  EXPECT_FAILS_WITH(OpenGguf(f.b), "past the end");
}

// Every proper prefix of a valid file is rejected, with no out-of-bounds read.
TEST(HostileGguf, TruncatedAtEveryLength) {
  Bytes kv;
  kv.str("general.architecture").u32(8).str("llama");
  kv.str("tokens").u32(9).u32(8).u64(3).str("a").str("bb").str("");
  kv.str("ids").u32(9).u32(5).u64(2).u32(1).u32(2);
  kv.str("eps").u32(6).put(1e-5f);
  kv.str("flag").u32(7).put(uint8_t(1));
  TI a; TI q; q.name = "q"; q.type = 8; q.ne = {32, 1}; q.offset = 32;  // 34 bytes
  const std::string full = Gguf({a, q}, 32 + 34, kv.b, 5);
  ASSERT_TRUE(OpenGguf(full).ok()) << OpenGguf(full).message();
  for (size_t len = 0; len < full.size(); ++len) {
    Status s = OpenGguf(full.substr(0, len));
    EXPECT_FALSE(s.ok()) << "prefix of length " << len << " was accepted";
    if (!s.ok()) {
      EXPECT_TRUE(s.message().find("truncated") != std::string::npos ||
                  s.message().find("past the end") != std::string::npos ||
                  s.message().find("absurd") != std::string::npos)
          << len << ": " << s.message();
    }
  }
}

// ---------------------------------------------------------- safetensors ----
std::string St(const std::string& json, size_t data_bytes, uint64_t n_override = 0) {
  Bytes f;
  f.u64(n_override ? n_override : json.size());
  f.b += json;
  f.b.append(data_bytes, '\x22');
  return f.b;
}
const char* kOneF32 = R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";

TEST(HostileSafetensors, BaselineIsValid) {
  Status s = OpenSt(St(kOneF32, 24));
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(HostileSafetensors, TooShortForHeaderLength) {
  EXPECT_FAILS_WITH(OpenSt(std::string("\x05\0\0", 3)), "truncated");
}

TEST(HostileSafetensors, HeaderLengthPastEnd) {
  EXPECT_FAILS_WITH(OpenSt(St("{}", 0, 3)), "past the end");
  EXPECT_FAILS_WITH(OpenSt(St("{}", 0, UINT64_MAX)), "absurd");
}

TEST(HostileSafetensors, HeaderLengthAbsurd) {
  EXPECT_FAILS_WITH(OpenSt(St("{}", 0, 200ull << 20)), "too large");
}

TEST(HostileSafetensors, JsonParseError) {
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w": {"dtype": )", 0)), "not valid JSON");
}

TEST(HostileSafetensors, NotAnObject) {
  EXPECT_FAILS_WITH(OpenSt(St("[1, 2]", 0)), "must be a JSON object");
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w": 5})", 0)), "entry must be an object");
}

TEST(HostileSafetensors, DeepNesting) {
  EXPECT_FAILS_WITH(OpenSt(St(std::string(100000, '[') + std::string(100000, ']'), 0)),
                    "nested too deeply");
}

TEST(HostileSafetensors, MissingFields) {
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4)), "dtype");
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4)), "shape");
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4)),
                    "data_offsets");
}

TEST(HostileSafetensors, UnknownDtype) {
  Status s = OpenSt(St(R"({"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}})", 4));
  EXPECT_FAILS_WITH(s, "unknown dtype 'Q9' in tensor 'w'");
}

TEST(HostileSafetensors, UnsupportedDtype) {
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8)),
                    "unsupported dtype F64 in tensor 'w'");
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}})", 1)),
                    "unsupported dtype BOOL");
}

TEST(HostileSafetensors, NegativeShape) {
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,4]}})", 4)),
                    "negative");
}

TEST(HostileSafetensors, NonIntegerShape) {
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4)),
                    "non-integer");
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8)),
                    "integer");
}

TEST(HostileSafetensors, ShapeOverflow) {
  EXPECT_FAILS_WITH(
      OpenSt(St(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4)),
      "overflow");
  EXPECT_FAILS_WITH(
      OpenSt(St(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}})", 4)),
      "overflow");
  EXPECT_FAILS_WITH(
      OpenSt(St(R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}})", 4)),
      "overflow");
}

TEST(HostileSafetensors, TooManyDims) {
  EXPECT_FAILS_WITH(
      OpenSt(St(R"({"w":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})", 4)),
      "at most 4");
}

TEST(HostileSafetensors, OffsetsPastDataSection) {
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})", 23)),
                    "past the end");
  EXPECT_FAILS_WITH(
      OpenSt(St(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775800,9223372036854775804]}})", 4)),
      "past the end");
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4)),
                    "negative");
}

TEST(HostileSafetensors, EndBeforeBegin) {
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8)),
                    "end < begin");
}

TEST(HostileSafetensors, SizeMismatch) {
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24)),
                    "size mismatch");
  EXPECT_FAILS_WITH(OpenSt(St(R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,24]}})", 24)),
                    "size mismatch");
}

TEST(HostileSafetensors, OverlappingRanges) {
  EXPECT_FAILS_WITH(OpenSt(St(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12)),
                    "overlaps");
}

// The safetensors library's reader requires the tensors to tile the data section exactly.
TEST(HostileSafetensors, HolesAndUncoveredBytes) {
  // A hole between two tensors.
  EXPECT_FAILS_WITH(OpenSt(St(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", 20)),
                    "hole of 4 bytes");
  // A hole before the first tensor.
  EXPECT_FAILS_WITH(OpenSt(St(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12)), "hole of 4 bytes");
  // Bytes after the last tensor.
  EXPECT_FAILS_WITH(OpenSt(St(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 9)),
                    "1 bytes at the end belong to no tensor");
  // No tensor, but data.
  EXPECT_FAILS_WITH(OpenSt(St(R"({"__metadata__":{"format":"pt"}})", 4)), "belong to no tensor");
  // A zero-size tensor must sit on the boundary too.
  EXPECT_FAILS_WITH(OpenSt(St(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("z":{"dtype":"F32","shape":[0],"data_offsets":[12,12]}})", 8)),
                    "past the end");
  // Exact tilings pass, in any header order and with zero-size tensors on the boundaries.
  EXPECT_TRUE(OpenSt(St(R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                        R"("z":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},)"
                        R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("e":{"dtype":"F32","shape":[0],"data_offsets":[16,16]}})", 16)).ok());
  EXPECT_TRUE(OpenSt(St(R"({"__metadata__":{"format":"pt"}})", 0)).ok());
}

TEST(HostileSafetensors, DuplicateNames) {
  EXPECT_FAILS_WITH(OpenSt(St(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                              R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
                    "duplicate tensor name 'a'");
  EXPECT_FAILS_WITH(OpenSt(St(R"({"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", 4)),
                    "duplicate key 'dtype'");
}

TEST(HostileSafetensors, BadMetadata) {
  EXPECT_FAILS_WITH(OpenSt(St(R"({"__metadata__":{"format":1}})", 0)), "must be a string");
  EXPECT_FAILS_WITH(OpenSt(St(R"({"__metadata__":[1]})", 0)), "must be an object");
}

TEST(HostileSafetensors, TruncatedAtEveryLength) {
  const std::string json =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"I32","shape":[3],"data_offsets":[8,20]}})";
  const std::string full = St(json, 20);
  ASSERT_TRUE(OpenSt(full).ok()) << OpenSt(full).message();
  for (size_t len = 0; len < full.size(); ++len) {
    Status s = OpenSt(full.substr(0, len));
    EXPECT_FALSE(s.ok()) << "prefix of length " << len << " was accepted";
    if (!s.ok()) {
      EXPECT_TRUE(s.message().find("truncated") != std::string::npos ||
                  s.message().find("past the end") != std::string::npos)
          << len << ": " << s.message();
    }
  }
}

}  // namespace
}  // namespace moecat
