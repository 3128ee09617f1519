// ModelSource tests: HF folders (sharded with index, single file, unindexed), GGUF files, and
// the error messages of the checked accessor get().
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/model_source.h"

namespace moecat {
namespace {

namespace fs = std::filesystem;

// Temp folders, removed when the test binary exits.
struct TempDirs {
  std::vector<std::string> dirs;
  ~TempDirs() { for (const auto& d : dirs) { std::error_code ec; fs::remove_all(d, ec); } }
} g_temp_dirs;

std::string NewDir(const std::string& tag) {
  std::string t = "/tmp/moecat_ms_test_" + tag + "_XXXXXX";
  std::string d(mkdtemp(t.data()));
  g_temp_dirs.dirs.push_back(d);
  return d;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream o(path, std::ios::binary);
  o << text;
}

// Two-shard folder: shard 1 holds embed [4, 2] f32 and norm [2] bf16, shard 2 holds
// lm_head [4, 2] f16.
struct Folder {
  std::string dir;
  float embed[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  uint16_t norm[2] = {0x3f80, 0x4000};
  uint16_t head[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  explicit Folder(const std::string& tag, bool with_index = true) {
    dir = NewDir(tag);
    WriteText(dir + "/config.json", R"({"model_type":"llama","hidden_size":2})");
    WriteText(dir + "/tokenizer.json", "{}");
    EXPECT_TRUE(WriteSafetensors(dir + "/model-00001-of-00002.safetensors",
                                 {{"embed", DType::F32, {4, 2}, embed, 32},
                                  {"norm", DType::BF16, {2}, norm, 4}}).ok());
    EXPECT_TRUE(WriteSafetensors(dir + "/model-00002-of-00002.safetensors",
                                 {{"lm_head", DType::F16, {4, 2}, head, 16}}).ok());
    if (with_index)
      WriteText(dir + "/model.safetensors.index.json",
                R"({"metadata":{"total_size":52},"weight_map":{)"
                R"("embed":"model-00001-of-00002.safetensors",)"
                R"("norm":"model-00001-of-00002.safetensors",)"
                R"("lm_head":"model-00002-of-00002.safetensors"}})");
  }
};

std::string Msg(const Result<TensorView>& r) { return r.ok() ? "(ok)" : r.status().message(); }

TEST(ModelSource, ShardedFolderWithIndex) {
  Folder f("sharded");
  auto r = ModelSource::Open(f.dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ModelSource& m = **r;
  EXPECT_EQ(m.kind(), ModelSource::Kind::kHfFolder);
  EXPECT_EQ(m.hf_config()["model_type"], "llama");
  EXPECT_EQ(m.hf_tokenizer_json(), f.dir + "/tokenizer.json");
  EXPECT_EQ(m.hf_tokenizer_config(), "");
  EXPECT_EQ(m.gguf(), nullptr);
  EXPECT_EQ(m.tensor_names(), (std::vector<std::string>{"embed", "norm", "lm_head"}));
  EXPECT_EQ(m.total_bytes(), 32u + 4u + 16u);
  EXPECT_EQ(m.file_of("lm_head"), f.dir + "/model-00002-of-00002.safetensors");
  EXPECT_EQ(m.file_of("nope"), "");

  auto e = m.get("embed", {4, 2}, {DType::F32, DType::F16});
  ASSERT_TRUE(e.ok()) << Msg(e);
  EXPECT_EQ(e->dtype, DType::F32);
  EXPECT_EQ(std::memcmp(e->data, f.embed, 32), 0);
  auto h = m.get("lm_head", {4, 2}, {DType::F16});
  ASSERT_TRUE(h.ok()) << Msg(h);
  EXPECT_EQ(std::memcmp(h->data, f.head, 16), 0);
  EXPECT_NE(m.find("norm"), nullptr);
  EXPECT_EQ(m.find("missing"), nullptr);
}

TEST(ModelSource, GetErrorMessages) {
  Folder f("errors");
  auto r = ModelSource::Open(f.dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::string shard1 = f.dir + "/model-00001-of-00002.safetensors";
  EXPECT_EQ(Msg((*r)->get("missing", {4, 2}, {DType::F32})),
            "tensor 'missing' not found in " + f.dir);
  EXPECT_EQ(Msg((*r)->get("embed", {2, 4}, {DType::F32})),
            "tensor 'embed' in " + shard1 + " has shape [4, 2], expected [2, 4]");
  EXPECT_EQ(Msg((*r)->get("embed", {4, 2, 1}, {DType::F32})),
            "tensor 'embed' in " + shard1 + " has shape [4, 2], expected [4, 2, 1]");
  EXPECT_EQ(Msg((*r)->get("norm", {2}, {DType::F32, DType::F16})),
            "tensor 'norm' in " + shard1 + " has type bf16, expected one of f32, f16");
  EXPECT_EQ(Msg((*r)->get("norm", {2}, {DType::F32})),
            "tensor 'norm' in " + shard1 + " has type bf16, expected f32");
}

TEST(ModelSource, MissingShard) {
  Folder f("missing_shard");
  fs::remove(f.dir + "/model-00002-of-00002.safetensors");
  auto r = ModelSource::Open(f.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("shard 'model-00002-of-00002.safetensors'"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("missing"), std::string::npos) << r.status().message();
}

TEST(ModelSource, IndexNamesWrongShard) {
  Folder f("wrong_shard");
  WriteText(f.dir + "/model.safetensors.index.json",
            R"({"weight_map":{"embed":"model-00002-of-00002.safetensors",)"
            R"("lm_head":"model-00002-of-00002.safetensors","ghost":"model-00001-of-00002.safetensors"}})");
  auto r = ModelSource::Open(f.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tensor 'embed'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("not found in shard"), std::string::npos) << r.status().message();
}

TEST(ModelSource, IndexHostileEntries) {
  Folder f("hostile_index");
  WriteText(f.dir + "/model.safetensors.index.json",
            R"({"weight_map":{"embed":"../../etc/passwd"}})");
  auto r = ModelSource::Open(f.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("must be a file name"), std::string::npos) << r.status().message();
  WriteText(f.dir + "/model.safetensors.index.json", R"({"weight_map":[1]})");
  r = ModelSource::Open(f.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("weight_map"), std::string::npos) << r.status().message();
  WriteText(f.dir + "/model.safetensors.index.json", R"({"weight_map":)");
  r = ModelSource::Open(f.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not valid JSON"), std::string::npos) << r.status().message();
}

// Every shard of a sharded folder is held to the safetensors library's rule: the tensors tile
// the data section exactly (here the second shard gets 4 stray bytes after its tensor).
TEST(ModelSource, ShardWithUncoveredBytesIsRefused) {
  Folder f("holed_shard");
  const std::string shard = f.dir + "/model-00002-of-00002.safetensors";
  {
    std::ofstream o(shard, std::ios::binary | std::ios::app);
    o.write("\0\0\0\0", 4);
  }
  auto r = ModelSource::Open(f.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("belong to no tensor"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("model-00002-of-00002"), std::string::npos) << r.status().message();
}

TEST(ModelSource, FolderWithoutIndexUsesAllShards) {
  Folder f("no_index", /*with_index=*/false);
  auto r = ModelSource::Open(f.dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->tensor_names().size(), 3u);
  EXPECT_TRUE((*r)->get("lm_head", {4, 2}, {DType::F16}).ok());
}

TEST(ModelSource, DuplicateTensorAcrossShards) {
  Folder f("dup", /*with_index=*/false);
  const float x[2] = {0, 0};
  ASSERT_TRUE(WriteSafetensors(f.dir + "/extra.safetensors", {{"norm", DType::F32, {2}, x, 8}}).ok());
  auto r = ModelSource::Open(f.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("duplicate tensor 'norm'"), std::string::npos)
      << r.status().message();
}

TEST(ModelSource, SingleModelSafetensors) {
  const std::string dir = NewDir("single");
  WriteText(dir + "/config.json", "{}");
  WriteText(dir + "/tokenizer_config.json", "{}");
  const float w[3] = {1, 2, 3};
  ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", {{"w", DType::F32, {3}, w, 12}}).ok());
  auto r = ModelSource::Open(dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->hf_tokenizer_json(), "");
  EXPECT_EQ((*r)->hf_tokenizer_config(), dir + "/tokenizer_config.json");
  EXPECT_EQ((*r)->file_of("w"), dir + "/model.safetensors");
}

TEST(ModelSource, BadFolders) {
  const std::string dir = NewDir("bad");
  auto r = ModelSource::Open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no config.json"), std::string::npos) << r.status().message();
  WriteText(dir + "/config.json", "[1]");
  r = ModelSource::Open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("must be a JSON object"), std::string::npos);
  WriteText(dir + "/config.json", "{");
  r = ModelSource::Open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not valid JSON"), std::string::npos);
  WriteText(dir + "/config.json", "{}");
  r = ModelSource::Open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no *.safetensors"), std::string::npos);
  WriteText(dir + "/model.safetensors", "garbage");
  r = ModelSource::Open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("model.safetensors"), std::string::npos);
}

TEST(ModelSource, GgufFile) {
  const std::string dir = NewDir("gguf");
  GgufWriter w;
  w.set_str("general.architecture", "llama");
  w.add_tensor("token_embd.weight", DType::Q8_0, Shape{3, 64}, [](uint8_t* d) { d[0] = 42; });
  w.add_tensor("output_norm.weight", DType::F32, Shape{64}, nullptr);
  const std::string path = dir + "/m.gguf";
  ASSERT_TRUE(w.write(path).ok());
  auto r = ModelSource::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ModelSource& m = **r;
  EXPECT_EQ(m.kind(), ModelSource::Kind::kGguf);
  ASSERT_NE(m.gguf(), nullptr);
  EXPECT_EQ(m.gguf()->get_string("general.architecture"), "llama");
  EXPECT_EQ(m.tensor_names(), (std::vector<std::string>{"token_embd.weight", "output_norm.weight"}));
  EXPECT_EQ(m.total_bytes(), 3u * 2 * 34 + 256);
  EXPECT_EQ(m.file_of("output_norm.weight"), path);
  auto t = m.get("token_embd.weight", {3, 64}, {DType::Q8_0});
  ASSERT_TRUE(t.ok()) << Msg(t);
  EXPECT_EQ(static_cast<const uint8_t*>(t->data)[0], 42);
  EXPECT_EQ(Msg(m.get("token_embd.weight", {3, 64}, {DType::F32, DType::F16})),
            "tensor 'token_embd.weight' in " + path + " has type q8_0, expected one of f32, f16");
  EXPECT_EQ(Msg(m.get("x", {1}, {DType::F32})), "tensor 'x' not found in " + path);
}

TEST(ModelSource, NotGgufFile) {
  const std::string dir = NewDir("notgguf");
  WriteText(dir + "/x.bin", "GGML and more bytes");
  auto r = ModelSource::Open(dir + "/x.bin");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a GGUF file or model folder"), std::string::npos)
      << r.status().message();
  WriteText(dir + "/short.bin", "GG");
  r = ModelSource::Open(dir + "/short.bin");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a GGUF file or model folder"), std::string::npos);
  r = ModelSource::Open(dir + "/missing.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cannot open"), std::string::npos) << r.status().message();
  WriteText(dir + "/bad.gguf", std::string("GGUF\x03\0\0\0", 8));  // magic ok, then truncated
  r = ModelSource::Open(dir + "/bad.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace moecat
