// safetensors reader/writer tests. References are headers and byte layouts written by hand
// in this file from the format description, not produced by the code under test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "testing.h"
#include "io/safetensors.h"

namespace moecat {
namespace {

using namespace testing_util;


std::string File(const std::string& json, const std::string& data) {
  uint64_t n = json.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + json + data;
}

TEST(Safetensors, ParsesHandBuiltFile) {
  // Header entries deliberately not in data order: tensors() must follow the data order.
  const std::string json =
      R"({"b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]},)"
      R"("__metadata__":{"format":"pt","note":"x"},)"
      R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("c":{"dtype":"U8","shape":[3],"data_offsets":[20,23]},)"
      R"("d":{"dtype":"I8","shape":[1],"data_offsets":[23,24]},)"
      R"("e":{"dtype":"I32","shape":[1,1],"data_offsets":[24,28]},)"
      R"("f":{"dtype":"F16","shape":[],"data_offsets":[28,30]},)"
      R"("g":{"dtype":"F32","shape":[0,5],"data_offsets":[30,30]}}   )";
  std::string data;
  for (int i = 0; i < 30; ++i) data += char(i);
  const std::string bytes = File(json, data);
  auto r = SafetensorsFile::FromMemory(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                       "mem");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const SafetensorsFile& f = **r;
  EXPECT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  ASSERT_EQ(f.tensors().size(), 7u);
  std::vector<std::string> order;
  for (const auto& t : f.tensors()) order.push_back(t.name);
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g"}));
  const char* base = bytes.data() + 8 + json.size();
  struct E { const char* name; DType dt; Shape s; size_t off, nbytes; };
  const E want[] = {{"a", DType::F32, {2, 2}, 0, 16}, {"b", DType::BF16, {2}, 16, 4},
                    {"c", DType::I8, {3}, 20, 3},     {"d", DType::I8, {1}, 23, 1},
                    {"e", DType::I32, {1, 1}, 24, 4}, {"f", DType::F16, {}, 28, 2},
                    {"g", DType::F32, {0, 5}, 30, 0}};
  for (const E& e : want) {
    const TensorView* t = f.tensor(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    EXPECT_EQ(t->dtype, e.dt) << e.name;
    EXPECT_EQ(t->shape, e.s) << e.name << " " << t->shape.str();
    EXPECT_EQ(t->nbytes, e.nbytes) << e.name;
    EXPECT_EQ(t->data, base + e.off) << e.name;  // zero-copy
  }
  EXPECT_EQ(f.tensor("__metadata__"), nullptr);
  EXPECT_EQ(f.tensor("zz"), nullptr);
}

TEST(Safetensors, WriterBytesMatchFormat) {
  const float a[4] = {1, 2, 3, 4};
  const uint16_t b[3] = {0x3f80, 0x4000, 0xc000};
  const std::string path = TempDir() + "/w.safetensors";
  Status s = WriteSafetensors(path, {{"a", DType::F32, {2, 2}, a, 16}, {"b", DType::BF16, {3}, b, 6}});
  ASSERT_TRUE(s.ok()) << s.message();
  std::string json =
      R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}})";
  while (json.size() % 8) json += ' ';
  const std::string want = File(json, std::string(reinterpret_cast<const char*>(a), 16) +
                                          std::string(reinterpret_cast<const char*>(b), 6));
  EXPECT_EQ(ReadAll(path), want);

  auto r = SafetensorsFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->path(), path);
  const TensorView* t = (*r)->tensor("b");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(std::memcmp(t->data, b, 6), 0);
  EXPECT_EQ(t->shape, (Shape{3}));
}

TEST(Safetensors, WriterRoundTripI8I32) {
  const int8_t q[6] = {-1, 2, -3, 4, -5, 6};
  const int32_t s[2] = {-7, 1 << 30};
  const std::string path = TempDir() + "/q.safetensors";
  ASSERT_TRUE(WriteSafetensors(path, {{"q", DType::I8, {2, 3}, q, 6}, {"s", DType::I32, {2}, s, 8}}).ok());
  auto r = SafetensorsFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->tensor("q")->dtype, DType::I8);
  EXPECT_EQ(std::memcmp((*r)->tensor("q")->data, q, 6), 0);
  EXPECT_EQ((*r)->tensor("s")->dtype, DType::I32);
  EXPECT_EQ(std::memcmp((*r)->tensor("s")->data, s, 8), 0);
  EXPECT_NE(ReadAll(path).find(R"("dtype":"I8")"), std::string::npos);
}

TEST(Safetensors, WriterErrors) {
  const float a[2] = {1, 2};
  Status s = WriteSafetensors(TempDir() + "/e1.safetensors", {{"a", DType::F32, {3}, a, 8}});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("needs 12"), std::string::npos) << s.message();
  s = WriteSafetensors(TempDir() + "/e2.safetensors", {{"a", DType::Q8_0, {32}, a, 34}});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("q8_0"), std::string::npos) << s.message();
  s = WriteSafetensors(TempDir() + "/e3.safetensors",
                       {{"a", DType::F32, {1}, a, 4}, {"a", DType::F32, {1}, a, 4}});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("duplicate"), std::string::npos) << s.message();
  s = WriteSafetensors("/nonexistent_dir_moecat/x.safetensors", {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot create"), std::string::npos) << s.message();
}

TEST(Safetensors, EmptyFileAndMissingFile) {
  const std::string path = TempDir() + "/empty.safetensors";
  { std::ofstream o(path); }
  auto r = SafetensorsFile::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  auto m = SafetensorsFile::Open(TempDir() + "/nope.safetensors");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace moecat
