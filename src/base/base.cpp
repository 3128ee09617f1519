#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/check.h"
#include "base/status.h"

namespace moecat {

static std::string vformat(const char* fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(nullptr, 0, fmt, ap2);
  va_end(ap2);
  std::string s(n > 0 ? n : 0, '\0');
  if (n > 0) vsnprintf(s.data(), n + 1, fmt, ap);
  return s;
}

std::string strfmt(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = vformat(fmt, ap);
  va_end(ap);
  return s;
}

Status Errorf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = vformat(fmt, ap);
  va_end(ap);
  return Status::Error(std::move(s));
}

void check_failed(const char* file, int line, const char* cond, const char* msg) {
  fprintf(stderr, "moecat: internal error at %s:%d: CHECK(%s) failed%s%s\n", file, line, cond,
          msg ? ": " : "", msg ? msg : "");
  fflush(stderr);
  abort();
}

}  // namespace moecat
