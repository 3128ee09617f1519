#include <cstdlib>
#include <unistd.h>

#include "cli/commands.h"
#include "kernels/ops.h"

namespace moecat::cli {

int fail(const Status& s) {
  fprintf(stderr, "moecat: error: %s\n", s.message().c_str());
  return 1;
}

std::string default_model_path() {
  if (const char* env = getenv("MOECAT_MODEL"); env && *env) return env;
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "default-model.gguf";
  std::string exe(buf, n);
  return exe.substr(0, exe.rfind('/') + 1) + "default-model.gguf";
}

void add_cache_type_option(CLI::App& app, KvType* t) {
  app.add_option_function<std::string>(
         "--cache-type",
         [t](const std::string& v) { *t = v == "f16" ? KvType::kF16 : KvType::kF32; },
         std::string("KV cache element type: f16 (half the memory) or f32 (default: ") + kv_type_name(*t) + ")")
      ->check(CLI::IsMember({"f16", "f32"}));
}

void add_repack_option(CLI::App& app) {
  app.add_flag_callback(
      "--no-repack", [] { kernels::set_repack(false); },
      "keep quantized weights in the file's layout instead of rewriting Q8_0, Q2_K..Q6_K, IQ4_XS / MXFP4 matrices "
      "once at load into the kernels' lane order (repacking reads the whole file at load and holds the "
      "rewritten matrices in anonymous memory instead of the file's pages: same total, not twice; "
      "also: MOECAT_REPACK=0)");
}

Result<std::vector<int32_t>> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ',' || s[i] == ' ' || s[i] == '\n' || s[i] == '[' || s[i] == ']')) ++i;
    if (i >= s.size()) break;
    size_t j = i;
    if (s[j] == '-') ++j;
    while (j < s.size() && isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i || (j == i + 1 && s[i] == '-')) return Errorf("bad token id list near '%s'", s.substr(i, 16).c_str());
    long long v = std::strtoll(s.substr(i, j - i).c_str(), nullptr, 10);
    if (v < INT32_MIN || v > INT32_MAX || j - i > 11) return Errorf("token id '%s' out of range", s.substr(i, j - i).c_str());
    ids.push_back(static_cast<int32_t>(v));
    i = j;
  }
  return ids;
}

}  // namespace moecat::cli
