#include "serve/chat/call_stream.h"

#include <cctype>
#include <cstring>

#include "serve/chat/marker_scan.h"

namespace moecat::chat {

bool is_json_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool JsonScan::number_accepts(char c) {
  switch (num_) {
    case N::kMinus:
      if (c == '0') num_ = N::kZero;
      else if (is_digit(c)) num_ = N::kInt;
      else return false;
      return true;
    case N::kZero:
    case N::kInt:
      if (num_ == N::kInt && is_digit(c)) return true;
      if (c == '.') num_ = N::kDot;
      else if (c == 'e' || c == 'E') num_ = N::kE;
      else return false;
      return true;
    case N::kDot:
      if (!is_digit(c)) return false;
      num_ = N::kFrac;
      return true;
    case N::kFrac:
      if (is_digit(c)) return true;
      if (c != 'e' && c != 'E') return false;
      num_ = N::kE;
      return true;
    case N::kE:
      if (c == '+' || c == '-') num_ = N::kESign;
      else if (is_digit(c)) num_ = N::kExp;
      else return false;
      return true;
    case N::kESign:
    case N::kExp:
      if (!is_digit(c)) return false;
      num_ = N::kExp;
      return true;
  }
  return false;
}

int JsonScan::start_value(char c) {
  ev_depth_ = static_cast<int>(stack_.size());
  switch (c) {
    case '{':
    case '[':
      if (static_cast<int>(stack_.size()) >= kMaxDepth) break;
      stack_ += c;
      st_ = c == '{' ? S::kKeyOrClose : S::kValueOrClose;
      return kStart;
    case '"':
      in_key_ = false;
      st_ = S::kString;
      return kStart;
    case 't': lit_ = "rue"; st_ = S::kLiteral; return kStart;
    case 'f': lit_ = "alse"; st_ = S::kLiteral; return kStart;
    case 'n': lit_ = "ull"; st_ = S::kLiteral; return kStart;
    default:
      if (c == '-' || is_digit(c)) {
        num_ = N::kMinus;
        if (c != '-') number_accepts(c);
        st_ = S::kNumber;
        return kStart;
      }
  }
  st_ = S::kBad;
  return kBad;
}

int JsonScan::close(char c) {
  if (stack_.empty() || (stack_.back() == '{' ? '}' : ']') != c) {
    st_ = S::kBad;
    return kBad;
  }
  stack_.pop_back();
  ev_depth_ = static_cast<int>(stack_.size());
  st_ = after_value();
  return kEndAt;
}

int JsonScan::push(char c) {
  ev_depth_ = static_cast<int>(stack_.size());
  switch (st_) {
    case S::kBad: return kBad;
    case S::kDone:
      if (is_json_space(c)) return kNone;
      st_ = S::kBad;
      return kBad;
    case S::kString:
      if (in_key_ && stack_.size() == 1) key_ += c;
      if (hex_ > 0) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) break;
        --hex_;
        return kNone;
      }
      if (esc_) {
        esc_ = false;
        if (c == 'u') hex_ = 4;
        else if (!std::strchr("\"\\/bfnrt", c) || c == 0) break;
        return kNone;
      }
      if (c == '\\') {
        esc_ = true;
        return kNone;
      }
      if (c == '"') {
        if (in_key_) {
          if (stack_.size() == 1) key_.pop_back();  // the closing quote
          in_key_ = false;
          st_ = S::kColon;
          return kNone;
        }
        st_ = after_value();
        return kEndAt;
      }
      if (static_cast<unsigned char>(c) < 0x20) break;
      return kNone;
    case S::kNumber: {
      if (number_accepts(c)) return kNone;
      if (num_ != N::kZero && num_ != N::kInt && num_ != N::kFrac && num_ != N::kExp) break;
      st_ = after_value();
      int ev = push(c);
      return ev & kBad ? kBad : ev | kEndBefore;
    }
    case S::kLiteral:
      if (c != *lit_) break;
      if (*++lit_ == 0) {
        st_ = after_value();
        return kEndAt;
      }
      return kNone;
    case S::kValueOrClose:
      if (c == ']') return close(c);
      [[fallthrough]];
    case S::kValue:
      if (is_json_space(c)) return kNone;
      return start_value(c);
    case S::kKeyOrClose:
      if (c == '}') return close(c);
      [[fallthrough]];
    case S::kKey:
      if (is_json_space(c)) return kNone;
      if (c != '"') break;
      in_key_ = true;
      if (stack_.size() == 1) key_.clear();
      st_ = S::kString;
      return kNone;
    case S::kColon:
      if (is_json_space(c)) return kNone;
      if (c != ':') break;
      st_ = S::kValue;
      return kNone;
    case S::kCommaOrClose:
      if (is_json_space(c)) return kNone;
      if (c == ',') {
        st_ = stack_.back() == '{' ? S::kKey : S::kValue;
        return kNone;
      }
      return close(c);
  }
  st_ = S::kBad;
  return kBad;
}

CallStream::CallStream(Mode mode, std::string name, std::string id, std::string args_key)
    : mode_(mode), name_(std::move(name)), id_(std::move(id)), args_key_(std::move(args_key)) {}

void CallStream::push_args(char c) {
  if (args_state_ == Args::kDone || args_state_ == Args::kOther || dead_) return;
  const int ev = scan_.push(c);
  if (ev & JsonScan::kBad) {
    dead_ = true;
    if (args_state_ == Args::kNone) args_state_ = Args::kOther;
    return;
  }
  if (args_state_ == Args::kNone) {
    if (is_json_space(c)) return;
    if (c != '{') {
      args_state_ = Args::kOther;
      return;
    }
    args_state_ = Args::kIn;
  }
  args_ += c;
  if ((ev & JsonScan::kStart) && scan_.event_depth() == 1) value_begun_ = true;
  if (scan_.done()) args_state_ = Args::kDone;
}

void CallStream::push_object(char c) {
  if (dead_) return;
  const int ev = scan_.push(c);
  if (ev & JsonScan::kBad) {
    dead_ = true;
    return;
  }
  const int d = scan_.event_depth();
  if (in_name_) {
    name_raw_ += c;
    if ((ev & JsonScan::kEndAt) && d == 1) {
      in_name_ = false;
      auto j = parse_json_bounded(name_raw_);
      if (j && j->is_string()) name_ = j->get<std::string>();
    }
    return;
  }
  if (args_state_ == Args::kIn) {
    args_ += c;
    if ((ev & JsonScan::kStart) && d == 2) value_begun_ = true;
    if ((ev & JsonScan::kEndAt) && d == 1) args_state_ = Args::kDone;
    return;
  }
  if (!(ev & JsonScan::kStart) || d != 1) return;
  const std::string& key = scan_.key();
  if (key == "name" && !name_seen_) {
    name_seen_ = true;
    if (c == '"') {
      in_name_ = true;
      name_raw_ = c;
    }
  } else if (args_state_ == Args::kNone &&
             (args_key_.empty() ? key == "arguments" || key == "parameters" : key == args_key_)) {
    if (c == '{') {
      args_state_ = Args::kIn;
      args_ = c;
    } else {
      args_state_ = Args::kOther;  // a string or null: decided when the call closes
    }
  }
}

void CallStream::maybe_commit(int index, std::vector<ToolCallDelta>& out) {
  if (committed_ || name_.empty() || in_name_) return;
  // The arguments object must have begun validly: complete, or as far as its first value.
  if (!(args_state_ == Args::kDone || (args_state_ == Args::kIn && value_begun_))) return;
  committed_ = true;
  ToolCallDelta d;
  d.index = index;
  d.id = id_.empty() ? make_call_id() : id_;
  d.name = name_;
  out.push_back(std::move(d));
}

void CallStream::feed(std::string_view s, int index, std::vector<ToolCallDelta>& out) {
  for (char c : s) {
    ++fed_;
    if (mode_ == Mode::kArgs) {
      push_args(c);
    } else {
      push_object(c);
      if (scan_.done() && object_end_ == std::string::npos) object_end_ = fed_;
    }
  }
  maybe_commit(index, out);
  if (!committed_) return;
  // Whole UTF-8 characters only (a piece goes out as a JSON string).
  const size_t avail = args_.size() - (args_done() ? 0 : incomplete_utf8_tail(args_));
  if (avail <= emitted_) return;
  if (out.empty() || out.back().index != index) out.push_back(ToolCallDelta{index, "", "", ""});
  out.back().arguments.append(args_, emitted_, avail - emitted_);
  emitted_ = avail;
}

}  // namespace moecat::chat
