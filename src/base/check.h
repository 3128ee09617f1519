// MOECAT_CHECK: programmer invariants. A failure is a bug in moecat, never a user error,
// so it aborts with file:line (user-caused problems go through Status, see status.h).
#pragma once
#include <cstdio>
#include <cstdlib>

namespace moecat {
[[noreturn]] void check_failed(const char* file, int line, const char* cond, const char* msg);
}

#define MOECAT_CHECK(cond)                                                   \
  do {                                                                       \
    if (__builtin_expect(!(cond), 0))                                        \
      ::moecat::check_failed(__FILE__, __LINE__, #cond, nullptr);            \
  } while (0)

#define MOECAT_CHECK_MSG(cond, msg)                                          \
  do {                                                                       \
    if (__builtin_expect(!(cond), 0))                                        \
      ::moecat::check_failed(__FILE__, __LINE__, #cond, (msg));              \
  } while (0)
