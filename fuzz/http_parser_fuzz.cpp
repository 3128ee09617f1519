// libFuzzer target for the HTTP request-head parser of `moecat serve` (src/serve/http). The
// input is what a client sends: parsed whole, then fed in two pieces the way the server sees
// a head arrive (the second call resuming its scan), which must agree with the whole parse.
// Invariants: never read past N (ASan), a complete head ends within the input and within the
// head limit, an error carries a 4xx/5xx status and a reason, Content-Length is never negative.
// Build: clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc src/base/*.cpp \
//          src/serve/http/parser.cpp fuzz/http_parser_fuzz.cpp -o /tmp/http/fuzz
// Run:   /tmp/http/fuzz -max_total_time=60 [corpus dir]
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "serve/http/http.h"

using namespace moecat::http;

namespace {
[[noreturn]] void die(const char* what) {
  fprintf(stderr, "http_parser_fuzz: %s\n", what);
  abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  HeadLimits lim;
  lim.max_head_bytes = 1024;
  lim.max_headers = 16;
  const char* p = reinterpret_cast<const char*>(data);
  Request whole;
  const ParsedHead a = parse_request_head(p, size, lim, whole);
  if (a.state == ParsedHead::State::kComplete) {
    if (a.head_bytes == 0 || a.head_bytes > size || a.head_bytes > lim.max_head_bytes) die("head end out of range");
    if (a.content_length < 0) die("negative Content-Length");
    if (whole.path.empty() || whole.method.empty()) die("complete head without a method or path");
  }
  if (a.state == ParsedHead::State::kError && (a.error_status < 400 || a.error_status > 599 || a.error.empty()))
    die("error without a status or reason");
  // The same bytes in two pieces: the first call sees a prefix, the second resumes after it.
  const size_t cut = size / 2;
  Request part;
  const ParsedHead b1 = parse_request_head(p, cut, lim, part);
  if (b1.state == ParsedHead::State::kIncomplete) {
    const ParsedHead b2 = parse_request_head(p, size, lim, part, cut);
    if (b2.state != a.state || b2.head_bytes != a.head_bytes || b2.error_status != a.error_status)
      die("resumed parse disagrees with the whole parse");
  }
  return 0;
}
