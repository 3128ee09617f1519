// Status / Result: the error channel for anything a user can cause (bad file, bad request).
// Programmer invariants use MOECAT_CHECK (check.h) instead.
#pragma once
#include <cstdarg>
#include <string>
#include <utility>
#include <variant>

namespace moecat {

std::string strfmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string msg) { Status s; s.err_ = true; s.msg_ = std::move(msg); return s; }
  bool ok() const { return !err_; }
  explicit operator bool() const { return ok(); }
  const std::string& message() const { return msg_; }
  // Prefix context ("loading model.gguf: ...") while the error travels up.
  Status& prefix(const std::string& ctx) { if (err_) msg_ = ctx + ": " + msg_; return *this; }

 private:
  bool err_ = false;
  std::string msg_;
};

// Status::Error with printf formatting.
Status Errorf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

template <class T>
class Result {
 public:
  Result(T v) : v_(std::move(v)) {}
  Result(Status s) : v_(std::move(s)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  Status status() const { return ok() ? Status::Ok() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace moecat

// Propagate an error Status/Result from an expression returning Status.
#define MOECAT_RETURN_IF_ERROR(expr)            \
  do {                                          \
    ::moecat::Status _st = (expr);              \
    if (!_st.ok()) return _st;                  \
  } while (0)

#define MOECAT_CONCAT_(a, b) a##b
#define MOECAT_CONCAT(a, b) MOECAT_CONCAT_(a, b)
// MOECAT_ASSIGN_OR_RETURN(auto x, MakeX()); declares x or returns the error.
#define MOECAT_ASSIGN_OR_RETURN(decl, expr)                              \
  auto MOECAT_CONCAT(_res_, __LINE__) = (expr);                          \
  if (!MOECAT_CONCAT(_res_, __LINE__).ok())                              \
    return MOECAT_CONCAT(_res_, __LINE__).status();                      \
  decl = std::move(MOECAT_CONCAT(_res_, __LINE__)).value()
