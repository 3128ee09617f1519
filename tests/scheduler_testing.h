// Shared by the scheduler tests (scheduler_test.cpp, prefix_cache_file_test.cpp): a random test
// model on disk and a request stream read to its end.
#pragma once
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "serve/scheduler.h"
#include "testing.h"

namespace moecat::testing_util {

// tools/make_test_model.py KIND (tools/longcat_test_model.py for "longcat_flash", MTP head
// included) with this seed, in a temp folder named after both; "" when python3 + numpy fail.
inline std::string MakeSchedulerModel(const std::string& kind, int seed) {
  const std::string dir = TempDir() + "/" + kind + "_s" + std::to_string(seed);
  const std::string tail = " --seed " + std::to_string(seed) + " >/dev/null 2>&1";
  const std::string cmd = kind == "longcat_flash"
                              ? "/usr/bin/python3 " MOECAT_SOURCE_DIR "/tools/longcat_test_model.py " + dir + tail
                              : "/usr/bin/python3 " MOECAT_SOURCE_DIR "/tools/make_test_model.py " + kind + " " + dir + tail;
  return std::system(cmd.c_str()) == 0 ? dir : "";
}

struct StreamOut {
  std::vector<int32_t> tokens;
  FinishReason reason = FinishReason::kNone;
  std::string error;
  int64_t n_prompt = 0, n_cached = -1, n_gen = 0;
};

// Reads the stream to its end (at most a minute).
inline StreamOut Collect(const std::shared_ptr<RequestStream>& st) {
  StreamOut o;
  RequestStream::Item it;
  for (int i = 0; i < 600; ++i) {
    if (!st->take(it, std::chrono::milliseconds(100))) continue;
    for (const TokenEvent& e : it.tokens) o.tokens.push_back(e.token);
    if (it.done) {
      o.reason = it.reason;
      o.error = it.error;
      o.n_prompt = it.n_prompt;
      o.n_cached = it.n_cached;
      o.n_gen = it.n_gen;
      return o;
    }
  }
  o.error = "timed out";
  return o;
}

}  // namespace moecat::testing_util
