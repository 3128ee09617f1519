// GGUF reader/writer tests. References are bytes laid out by hand in this file from the GGUF
// spec (not by the writer under test), plus write -> read round trips.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "testing.h"
#include "io/gguf.h"

namespace moecat {
namespace {

using namespace testing_util;



Result<std::unique_ptr<GgufFile>> Parse(const std::string& bytes) {
  return GgufFile::FromMemory(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem");
}

// A file laid out by hand: 2 kv (u32 alignment=32... default, a string), 2 tensors.
TEST(Gguf, ParsesHandBuiltFile) {
  Bytes f;
  f.b = "GGUF";
  f.u32(3).u64(2).u64(3);
  f.str("general.architecture").u32(8).str("llama");
  f.str("llama.block_count").u32(4).u32(7);
  f.str("tokenizer.ggml.scores").u32(9).u32(6).u64(2).put(1.5f).put(-2.0f);
  // tensor a: ne = {4, 3} (innermost 4) f32 at offset 0 -> shape [3, 4], 48 bytes
  f.str("a").u32(2).u64(4).u64(3).u32(0).u64(0);
  // tensor b: ne = {64} q8_0 at offset 64 -> 2 blocks = 68 bytes
  f.str("b").u32(1).u64(64).u32(8).u64(64);
  f.pad(32);
  const size_t data_start = f.b.size();
  for (int i = 0; i < 48; ++i) f.b += char(i);
  f.b.append(16, '\0');
  for (int i = 0; i < 68; ++i) f.b += char(100 + i);

  auto r = Parse(f.b);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& g = **r;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.alignment(), 32u);
  EXPECT_EQ(g.data_offset(), data_start);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  EXPECT_EQ(g.get_int("llama.block_count"), 7);
  EXPECT_EQ(g.get_float("llama.block_count"), 7.0);
  EXPECT_FALSE(g.get_string("llama.block_count").has_value());
  EXPECT_FALSE(g.get_int("missing").has_value());
  const GgufValue* sc = g.find("tokenizer.ggml.scores");
  ASSERT_NE(sc, nullptr);
  EXPECT_EQ(sc->array_size(), 2u);
  EXPECT_EQ(sc->arr_float, (std::vector<double>{1.5, -2.0}));

  ASSERT_EQ(g.tensors().size(), 2u);
  const TensorView* a = g.tensor("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (Shape{3, 4}));
  EXPECT_EQ(a->dtype, DType::F32);
  EXPECT_EQ(a->nbytes, 48u);
  // zero-copy: points into the caller's buffer
  EXPECT_EQ(a->data, f.b.data() + data_start);
  const TensorView* b = g.tensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->shape, (Shape{64}));
  EXPECT_EQ(b->dtype, DType::Q8_0);
  EXPECT_EQ(b->nbytes, 68u);
  EXPECT_EQ(static_cast<const uint8_t*>(b->data)[0], 100);
  EXPECT_EQ(g.tensors()[0].name, "a");  // file order
  EXPECT_EQ(g.tensor("c"), nullptr);
}

TEST(Gguf, AcceptsVersion2) {
  Bytes f;
  f.b = "GGUF";
  f.u32(2).u64(0).u64(1).str("k").u32(5).put(int32_t(-3));
  auto r = Parse(f.b);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->version(), 2u);
  EXPECT_EQ((*r)->get_int("k"), -3);
}

// The writer's bytes equal the spec layout built by hand.
TEST(Gguf, WriterBytesMatchSpecLayout) {
  GgufWriter w;
  w.set_str("general.name", "x");
  w.set_u32("n", 5);
  std::vector<float> vals = {1, 2, 3, 4, 5, 6};
  w.add_tensor("t", DType::F32, Shape{2, 3}, [&](uint8_t* d) { std::memcpy(d, vals.data(), 24); });
  const std::string path = TempDir() + "/spec.gguf";
  ASSERT_TRUE(w.write(path).ok());

  Bytes e;
  e.b = "GGUF";
  e.u32(3).u64(1).u64(2);
  e.str("general.name").u32(8).str("x");
  e.str("n").u32(4).u32(5);
  e.str("t").u32(2).u64(3).u64(2).u32(0).u64(0);
  e.pad(32);
  e.b.append(reinterpret_cast<const char*>(vals.data()), 24);
  e.pad(32);
  EXPECT_EQ(ReadAll(path), e.b);
}

TEST(Gguf, RoundTripAllTypes) {
  GgufWriter w;
  w.set_u32("general.alignment", 64);
  w.set_u32("u32", 4000000000u);
  w.set_i32("i32", -123456);
  w.set_u64("u64", 1ull << 40);
  w.set_f32("f32", 0.25f);
  w.set_bool("bool_t", true);
  w.set_bool("bool_f", false);
  w.set_str("str", std::string("h\xc3\xa9llo\0x", 8));
  w.set_arr_str("arr_str", {"a", "", "ccc"});
  w.set_arr_i32("arr_i32", {1, -2, 2147483647});
  w.set_arr_f32("arr_f32", {0.5f, -1.25f});
  // Types only reachable via set_value (e.g. when copying another file's metadata).
  auto scalar = [](GgufType t, int64_t i, double f = 0) {
    GgufValue v; v.type = t; v.i = i; v.f = f; return v;
  };
  w.set_value("u8", scalar(GgufType::UINT8, 250));
  w.set_value("i8", scalar(GgufType::INT8, -100));
  w.set_value("u16", scalar(GgufType::UINT16, 65000));
  w.set_value("i16", scalar(GgufType::INT16, -32000));
  w.set_value("i64", scalar(GgufType::INT64, -(1ll << 50)));
  w.set_value("f64", scalar(GgufType::FLOAT64, 0, 1.0 / 3.0));
  GgufValue au8; au8.type = GgufType::ARRAY; au8.array_type = GgufType::UINT8; au8.arr_int = {0, 255};
  w.set_value("arr_u8", au8);
  GgufValue ab; ab.type = GgufType::ARRAY; ab.array_type = GgufType::BOOL; ab.arr_int = {1, 0, 1};
  w.set_value("arr_bool", ab);
  w.set_u32("u32", 7);  // re-set keeps the key's original position

  // [2, 3, 5] f32, [4, 96] q8_0 (3 blocks per row), [7] f16, [1, 1, 1, 3] bf16
  std::vector<std::vector<uint8_t>> data;
  struct T { std::string name; DType dt; Shape s; size_t nbytes; };
  std::vector<T> ts = {{"w.f32", DType::F32, {2, 3, 5}, 2 * 3 * 5 * 4},
                       {"w.q8", DType::Q8_0, {4, 96}, 4 * 3 * 34},
                       {"w.f16", DType::F16, {7}, 14},
                       {"w.bf16", DType::BF16, {1, 1, 1, 3}, 6}};
  for (size_t k = 0; k < ts.size(); ++k) {
    std::vector<uint8_t> d(ts[k].nbytes);
    for (size_t i = 0; i < d.size(); ++i) d[i] = uint8_t(i * 7 + k * 31 + 1);
    data.push_back(d);
    w.add_tensor(ts[k].name, ts[k].dt, ts[k].s,
                 [&data, k](uint8_t* dst) { std::memcpy(dst, data[k].data(), data[k].size()); });
  }
  size_t last_done = 0, last_total = 0, calls = 0;
  const std::string path = TempDir() + "/rt.gguf";
  Status st = w.write(path, [&](size_t d, size_t t) { last_done = d; last_total = t; ++calls; });
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(calls, 4u);
  EXPECT_EQ(last_done, 120u + 408u + 14u + 6u);
  EXPECT_EQ(last_total, last_done);

  auto r = GgufFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& g = **r;
  EXPECT_EQ(g.alignment(), 64u);
  EXPECT_EQ(g.data_offset() % 64, 0u);
  EXPECT_EQ(g.kv().size(), 19u);
  EXPECT_EQ(g.get_int("u32"), 7);
  EXPECT_EQ(g.find("u32")->type, GgufType::UINT32);
  EXPECT_EQ(g.get_int("i32"), -123456);
  EXPECT_EQ(g.get_int("u64"), 1ll << 40);
  EXPECT_EQ(g.find("u64")->type, GgufType::UINT64);
  EXPECT_EQ(g.get_float("f32"), 0.25);
  EXPECT_EQ(g.get_bool("bool_t"), true);
  EXPECT_EQ(g.get_bool("bool_f"), false);
  EXPECT_EQ(g.get_string("str"), std::string("h\xc3\xa9llo\0x", 8));
  EXPECT_EQ(g.get_int("u8"), 250);
  EXPECT_EQ(g.get_int("i8"), -100);
  EXPECT_EQ(g.get_int("u16"), 65000);
  EXPECT_EQ(g.get_int("i16"), -32000);
  EXPECT_EQ(g.get_int("i64"), -(1ll << 50));
  EXPECT_EQ(g.get_float("f64"), 1.0 / 3.0);
  EXPECT_FALSE(g.get_int("f64").has_value());
  EXPECT_EQ(g.find("arr_str")->array_type, GgufType::STRING);
  EXPECT_EQ(g.find("arr_str")->arr_str, (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(g.find("arr_i32")->arr_int, (std::vector<int64_t>{1, -2, 2147483647}));
  EXPECT_EQ(g.find("arr_f32")->arr_float, (std::vector<double>{0.5, -1.25}));
  EXPECT_EQ(g.find("arr_u8")->arr_int, (std::vector<int64_t>{0, 255}));
  EXPECT_EQ(g.find("arr_bool")->arr_int, (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(g.find("arr_bool")->array_size(), 3u);

  ASSERT_EQ(g.tensors().size(), ts.size());
  const std::string raw = ReadAll(path);
  for (size_t k = 0; k < ts.size(); ++k) {
    const TensorView& t = g.tensors()[k];
    EXPECT_EQ(t.name, ts[k].name);
    EXPECT_EQ(t.dtype, ts[k].dt);
    EXPECT_EQ(t.shape, ts[k].s) << t.shape.str();
    EXPECT_EQ(t.nbytes, ts[k].nbytes);
    EXPECT_EQ(std::memcmp(t.data, data[k].data(), t.nbytes), 0) << t.name;
    // alignment honoured in the file itself
    const size_t file_off = static_cast<const uint8_t*>(t.data) - static_cast<const uint8_t*>(g.tensors()[0].data) + g.data_offset();
    EXPECT_EQ(file_off % 64, 0u) << t.name;
    EXPECT_EQ(std::memcmp(raw.data() + file_off, data[k].data(), t.nbytes), 0) << t.name;
  }
  EXPECT_EQ(g.tensor("w.q8")->row_bytes(), 3 * 34);

  // ne[] is innermost first in the file: find the info of "w.f32" and read its dims by hand.
  size_t p = raw.find(std::string("\x05\0\0\0\0\0\0\0w.f32", 13));
  ASSERT_NE(p, std::string::npos);
  uint32_t nd; uint64_t ne[3];
  std::memcpy(&nd, raw.data() + p + 13, 4);
  std::memcpy(ne, raw.data() + p + 17, 24);
  EXPECT_EQ(nd, 3u);
  EXPECT_EQ(ne[0], 5u);
  EXPECT_EQ(ne[1], 3u);
  EXPECT_EQ(ne[2], 2u);
}

TEST(Gguf, RewriteCopiesMetadata) {
  GgufWriter w;
  w.set_arr_str("tok", {"x", "y"});
  w.set_f32("eps", 1e-5f);
  const std::string p1 = TempDir() + "/a.gguf", p2 = TempDir() + "/b.gguf";
  ASSERT_TRUE(w.write(p1).ok());
  auto r = GgufFile::Open(p1);
  ASSERT_TRUE(r.ok());
  GgufWriter w2;
  // kv() is sorted by key; kv_keys() keeps the file order ("tok" before "eps").
  EXPECT_EQ((*r)->kv_keys(), (std::vector<std::string>{"tok", "eps"}));
  for (const auto& k : (*r)->kv_keys()) w2.set_value(k, *(*r)->find(k));
  ASSERT_TRUE(w2.write(p2).ok());
  EXPECT_EQ(ReadAll(p1), ReadAll(p2));
}

TEST(Gguf, WriterErrors) {
  {
    GgufWriter w;
    w.add_tensor("t", DType::F32, Shape{2}, nullptr);
    w.add_tensor("t", DType::F32, Shape{2}, nullptr);
    Status s = w.write(TempDir() + "/dup.gguf");
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("duplicate"), std::string::npos) << s.message();
  }
  {
    GgufWriter w;
    w.set_u32("general.alignment", 24);
    Status s = w.write(TempDir() + "/al.gguf");
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("alignment"), std::string::npos) << s.message();
  }
  {
    GgufWriter w;
    w.add_tensor("q", DType::Q8_0, Shape{2, 33}, nullptr);
    Status s = w.write(TempDir() + "/blk.gguf");
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("block"), std::string::npos) << s.message();
  }
  {
    GgufWriter w;
    Status s = w.write("/nonexistent_dir_moecat/x.gguf");
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("cannot create"), std::string::npos) << s.message();
  }
}

TEST(Gguf, OpenMissingFile) {
  auto r = GgufFile::Open(TempDir() + "/does_not_exist.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace moecat
