// Llama 3.x JSON tool calls: the whole reply is {"name": .., "parameters": {..}} (or
// "arguments"), optionally after <|python_tag|>. Whether the reply is a call is only known at
// the end, so a reply that starts like one is held until finish(); anything else streams.
// Also the generic passthrough parser.
#include <optional>

#include "serve/chat/call_stream.h"
#include "serve/chat/marker_scan.h"
#include "serve/chat/parsers.h"

namespace moecat::chat {

namespace {

constexpr std::string_view kPythonTag = "<|python_tag|>";

class PassthroughParser : public ChatOutputParser {
 public:
  explicit PassthroughParser(std::vector<std::string_view> drop) : drop_(std::move(drop)) {}
  ChatDelta feed(std::string_view text) override {
    buf_.append(text);
    return drain(false);
  }
  ChatDelta finish() override { return drain(true); }

 protected:
  ChatDelta drain(bool final) {
    ChatDelta out;
    for (;;) {
      MarkerHit hit = find_first_marker(buf_, drop_);
      if (hit.which < 0) break;
      out.content.append(buf_, 0, hit.pos);
      buf_.erase(0, hit.pos + drop_[hit.which].size());
    }
    size_t n = final ? buf_.size() : safe_emit_len(buf_, drop_);
    out.content.append(buf_, 0, n);
    buf_.erase(0, n);
    return out;
  }
  std::vector<std::string_view> drop_;
  std::string buf_;
};

class Llama3Parser : public PassthroughParser {
 public:
  explicit Llama3Parser(const ChatParseOptions& opt)
      : PassthroughParser({"<|eot_id|>", "<|eom_id|>"}), parse_tools_(opt.parse_tools) {}

  ChatDelta feed(std::string_view text) override {
    buf_.append(text);
    if (mode_ == Mode::kUndecided) decide();
    if (mode_ == Mode::kStream) return drain(false);
    ChatDelta out;
    if (mode_ == Mode::kMaybeCall) {  // the arguments stream once the call has begun
      if (!stream_) {
        stream_.emplace(CallStream::Mode::kObject);
        fed_ = body_start();
      }
      stream_->feed(std::string_view(buf_).substr(fed_), 0, out.tool_calls);
      fed_ = buf_.size();
    }
    return out;
  }

  ChatDelta finish() override {
    if (mode_ != Mode::kMaybeCall) return drain(true);
    if (stream_ && stream_->committed()) {
      // Streamed: the call stands; text after its object (but the end markers) is content.
      ChatDelta out;
      size_t end = stream_->object_end();
      buf_.erase(0, end == std::string::npos ? buf_.size() : body_start() + end);
      std::string_view rest = trim(buf_);
      for (std::string_view m : drop_)
        while (rest.size() >= m.size() && rest.substr(rest.size() - m.size()) == m) rest = trim(rest.substr(0, rest.size() - m.size()));
      out.content = std::string(rest);
      buf_.clear();
      return out;
    }
    // Whole reply held: a call if it parses, else plain content.
    std::string_view body = trim(buf_);
    if (body.substr(0, kPythonTag.size()) == kPythonTag) body.remove_prefix(kPythonTag.size());
    body = trim(body);
    for (std::string_view end : drop_)
      while (body.size() >= end.size() && body.substr(body.size() - end.size()) == end)
        body = trim(body.substr(0, body.size() - end.size()));
    if (auto call = parse_name_args_object(body)) {
      ChatDelta out;
      out.tool_calls.push_back(make_tool_call_delta(0, std::move(*call)));
      buf_.clear();
      return out;
    }
    return drain(true);
  }

 private:
  enum class Mode { kUndecided, kMaybeCall, kStream };
  // Decided by the first non-space byte: '{' or the python tag may be a call.
  void decide() {
    if (!parse_tools_) { mode_ = Mode::kStream; return; }
    std::string_view s = buf_;
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    if (s.empty()) return;
    if (s.front() == '{') { mode_ = Mode::kMaybeCall; return; }
    size_t k = std::min(s.size(), kPythonTag.size());
    if (s.substr(0, k) != kPythonTag.substr(0, k)) { mode_ = Mode::kStream; return; }
    if (k == kPythonTag.size()) mode_ = Mode::kMaybeCall;
  }
  // Where the call's JSON begins in buf_: after leading whitespace and the python tag.
  size_t body_start() const {
    size_t p = 0;
    while (p < buf_.size() && is_space(buf_[p])) ++p;
    if (buf_.compare(p, kPythonTag.size(), kPythonTag) == 0) p += kPythonTag.size();
    return p;
  }
  bool parse_tools_;
  Mode mode_ = Mode::kUndecided;
  std::optional<CallStream> stream_;
  size_t fed_ = 0;
};

}  // namespace

std::unique_ptr<ChatOutputParser> make_llama3_parser(const ChatParseOptions& opt) {
  return std::make_unique<Llama3Parser>(opt);
}

std::unique_ptr<ChatOutputParser> make_generic_parser(const ChatParseOptions&) {
  return std::make_unique<PassthroughParser>(std::vector<std::string_view>{});
}

}  // namespace moecat::chat
