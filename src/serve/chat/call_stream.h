// Streaming a tool call's arguments as they are generated: a byte-at-a-time JSON syntax check
// (JsonScan) and CallStream, which turns one call's text into ToolCallDeltas - the first one
// (id + name) once the name is known and the arguments object has begun validly, then the raw
// bytes of the arguments object as they arrive, up to its closing brace. The arguments are
// the model's own text (not re-serialised), so the streamed pieces concatenate to exactly the
// arguments a one-shot answer gives.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "serve/chat/chat_format.h"

namespace moecat::chat {

// RFC 8259 syntax, one byte at a time, with the positions of values (for finding a key's value).
class JsonScan {
 public:
  enum Ev : int { kNone = 0, kStart = 1, kEndAt = 2, kEndBefore = 4, kBad = 8 };
  // Feeds one byte; returns Ev bits about values at event_depth(): kStart (a value starts with
  // this byte), kEndAt (a value ends with this byte), kEndBefore (a number ended just before).
  int push(char c);
  bool done() const { return st_ == S::kDone; }  // the root value is complete
  bool bad() const { return st_ == S::kBad; }
  int event_depth() const { return ev_depth_; }    // containers around the value of the last event
  const std::string& key() const { return key_; }  // the last key read in the root object

  static constexpr int kMaxDepth = 256;

 private:
  enum class S { kValue, kValueOrClose, kKey, kKeyOrClose, kColon, kCommaOrClose, kString, kNumber, kLiteral,
                 kDone, kBad };
  enum class N { kMinus, kZero, kInt, kDot, kFrac, kE, kESign, kExp };
  int start_value(char c);
  int close(char c);
  S after_value() const { return stack_.empty() ? S::kDone : S::kCommaOrClose; }
  bool number_accepts(char c);

  S st_ = S::kValue;
  N num_ = N::kMinus;
  std::string stack_;  // '{' / '['
  std::string key_;
  const char* lit_ = nullptr;
  bool in_key_ = false, esc_ = false;
  int hex_ = 0;
  int ev_depth_ = 0;
};

bool is_json_space(char c);

class CallStream {
 public:
  enum class Mode {
    kObject,  // {"name": .., "arguments"|"parameters"|args_key: {..}} (any key order)
    kArgs,    // the arguments object itself; the name is known
  };
  // name: the call's name (kArgs); id: the call's id ("" = a fresh one when it is committed).
  CallStream(Mode mode, std::string name = "", std::string id = "", std::string args_key = "");

  // More of the call's text; appends the deltas that became due (index: the call's index).
  void feed(std::string_view s, int index, std::vector<ToolCallDelta>& out);
  // Once committed the call is a call: its first delta went out.
  bool committed() const { return committed_; }
  // The arguments object is complete.
  bool args_done() const { return args_state_ == Args::kDone; }
  const std::string& arguments() const { return args_; }
  // kObject: bytes fed up to the end of the root object (npos while it is open).
  size_t object_end() const { return object_end_; }

 private:
  enum class Args { kNone, kIn, kDone, kOther };
  void push_object(char c);
  void push_args(char c);
  void maybe_commit(int index, std::vector<ToolCallDelta>& out);

  Mode mode_;
  std::string name_, id_, args_key_;
  JsonScan scan_;        // over the whole text (kObject) or the arguments (kArgs)
  std::string name_raw_;  // kObject: the name's JSON string as read so far
  bool in_name_ = false, name_seen_ = false;
  Args args_state_ = Args::kNone;
  std::string args_;     // the arguments object's text so far
  bool value_begun_ = false;  // the arguments object's first value has begun
  size_t emitted_ = 0;   // bytes of args_ already given out
  bool committed_ = false, dead_ = false;
  size_t fed_ = 0, object_end_ = std::string::npos;
};

}  // namespace moecat::chat
