// Helpers shared by the unit tests: hand-built little-endian byte strings, a per-binary temp
// folder, and whole-file reads.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#ifndef MOECAT_SOURCE_DIR
#define MOECAT_SOURCE_DIR "."
#endif

namespace moecat::testing_util {

// The source tree (tests/ref, tools): $MOECAT_SOURCE_DIR, else the path the build compiled in.
inline std::string SourceDir() {
  const char* env = std::getenv("MOECAT_SOURCE_DIR");
  return env && *env ? env : MOECAT_SOURCE_DIR;
}

// MOECAT_REQUIRE_REF=1 (CI): a missing reference (node, npm packages) fails instead of skipping.
inline bool RequireRef() {
  const char* env = std::getenv("MOECAT_REQUIRE_REF");
  return env && std::string(env) == "1";
}

// Runs a shell command; returns its stdout, sets *rc to pclose's status.
inline std::string RunCommand(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) { *rc = -1; return out; }
  char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  *rc = pclose(p);
  return out;
}

// In a gtest body: skip when an oracle could not run (its non-empty `error`), or fail under
// MOECAT_REQUIRE_REF=1.
#define MOECAT_SKIP_OR_FAIL_IF_NO_ORACLE(o)                                                 \
  do {                                                                                      \
    if (!(o).error.empty()) {                                                               \
      if (::moecat::testing_util::RequireRef()) FAIL() << (o).error;                        \
      GTEST_SKIP() << (o).error << " (set MOECAT_REQUIRE_REF=1 to fail)";                  \
    }                                                                                       \
  } while (0)

// Little-endian byte builder for hand-made GGUF / safetensors files.
struct Bytes {
  std::string b;
  template <class T> Bytes& put(T v) { b.append(reinterpret_cast<const char*>(&v), sizeof v); return *this; }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& str(const std::string& s) { u64(s.size()); b += s; return *this; }
  Bytes& pad(size_t a) { while (b.size() % a) b += '\0'; return *this; }
};

// One temp folder per test binary, removed at exit.
inline std::string TempDir() {
  struct Dir {
    std::string path;
    ~Dir() { std::error_code ec; std::filesystem::remove_all(path, ec); }
  };
  static Dir dir{[] {
    char t[] = "/tmp/moecat_test_XXXXXX";
    return std::string(mkdtemp(t));
  }()};
  return dir.path;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A file of the llama.cpp source that node-llama-cpp ships as a git bundle (e.g.
// "models/templates/openai-gpt-oss-120b.jinja", llama.cpp's copies of real chat templates).
// "" when tests/ref/node_modules or git is missing. The bundle is fetched once per process.
inline std::string LlamaCppSourceFile(const std::string& path, const std::string& source_dir) {
  static const std::string repo = [&] {
    const std::string dir = TempDir() + "/llama.cpp.git";
    const std::string bundle = source_dir + "/tests/ref/node_modules/node-llama-cpp/llama/gitRelease.bundle";
    const std::string cmd = "git init -q '" + dir + "' && git -C '" + dir + "' fetch -q '" + bundle +
                            "' HEAD 2>/dev/null";
    return std::filesystem::exists(bundle) && std::system(cmd.c_str()) == 0 ? dir : std::string();
  }();
  if (repo.empty() || path.find('\'') != std::string::npos) return "";
  FILE* f = popen(("git -C '" + repo + "' show 'FETCH_HEAD:" + path + "' 2>/dev/null").c_str(), "r");
  if (!f) return "";
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return pclose(f) == 0 ? out : "";
}

}  // namespace moecat::testing_util
