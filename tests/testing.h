// Helpers shared by the unit tests: hand-built little-endian byte strings, a per-binary temp
// folder, and whole-file reads.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace moecat::testing_util {

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

}  // namespace moecat::testing_util
