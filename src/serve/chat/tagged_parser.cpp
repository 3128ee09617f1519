#include "serve/chat/tagged_parser.h"

namespace moecat::chat {

std::function<std::vector<ParsedCall>(std::string_view)> one_call(
    std::function<std::optional<ParsedCall>(std::string_view)> parse_call) {
  return [parse_call](std::string_view body) {
    std::vector<ParsedCall> v;
    if (auto c = parse_call(body)) v.push_back(std::move(*c));
    return v;
  };
}

TaggedParser::TaggedParser(TaggedFormat fmt, const ChatParseOptions& opt) : fmt_(std::move(fmt)), opt_(opt) {
  if (opt_.starts_in_reasoning && opt_.parse_reasoning && !fmt_.think_open.empty()) {
    state_ = State::kReasoning;
    skip_reasoning_ws_ = true;
  }
}

std::vector<std::string_view> TaggedParser::markers_for_state() const {
  std::vector<std::string_view> m(fmt_.drop.begin(), fmt_.drop.end());
  switch (state_) {
    case State::kContent:
      if (opt_.parse_reasoning && !fmt_.think_open.empty()) m.push_back(fmt_.think_open);
      if (opt_.parse_tools) m.push_back(fmt_.block_open.empty() ? fmt_.call_open : fmt_.block_open);
      break;
    case State::kReasoning:
      m.push_back(fmt_.think_close);
      break;
    case State::kBlock:
      m.push_back(fmt_.call_open);
      m.push_back(fmt_.block_close);
      break;
    case State::kCall:
      m.push_back(fmt_.call_close.empty() ? fmt_.call_open : fmt_.call_close);
      break;
  }
  return m;
}

void TaggedParser::emit_content(ChatDelta& out, std::string_view s) {
  if (skip_content_ws_) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    if (s.empty()) return;
    skip_content_ws_ = false;
  }
  out.content.append(s);
}

// Reasoning is trimmed: leading whitespace after <think> and trailing whitespace before
// </think> are formatting, so trailing whitespace is held until more text follows it.
void TaggedParser::emit_reasoning(ChatDelta& out, std::string_view s, bool final) {
  if (skip_reasoning_ws_) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    if (s.empty()) return;
    skip_reasoning_ws_ = false;
  }
  held_ws_.append(s);
  size_t keep = held_ws_.size();
  while (keep > 0 && is_space(held_ws_[keep - 1])) --keep;
  if (final) held_ws_.resize(keep);
  out.reasoning.append(held_ws_, 0, keep);
  held_ws_.erase(0, keep);
}

void TaggedParser::stream_call(ChatDelta& out, std::string_view text) {
  if (fmt_.stream == TaggedFormat::Stream::kNone || no_stream_) return;
  if (stream_) {
    stream_->feed(text, next_index_, out.tool_calls);
    return;
  }
  if (other_) {
    other_->feed(call_body_, next_index_, out.tool_calls);
    return;
  }
  if (fmt_.stream == TaggedFormat::Stream::kObject) {
    size_t first = 0;
    while (first < call_body_.size() && is_space(call_body_[first])) ++first;
    if (first == call_body_.size()) return;  // the form is not known yet
    if (call_body_[first] != '{' && fmt_.other_stream) {
      other_ = fmt_.other_stream();
      other_->feed(call_body_, next_index_, out.tool_calls);
      return;
    }
    stream_.emplace(CallStream::Mode::kObject);
    stream_->feed(call_body_, next_index_, out.tool_calls);
    return;
  }
  CallHead h = fmt_.head ? fmt_.head(call_body_) : CallHead{CallHead::kNo};
  if (h.st == CallHead::kNo) no_stream_ = true;
  if (h.st != CallHead::kYes) return;
  stream_.emplace(CallStream::Mode::kArgs, std::move(h.name), std::move(h.id));
  stream_->feed(std::string_view(call_body_).substr(h.args_at), next_index_, out.tool_calls);
}

void TaggedParser::close_call(ChatDelta& out) {
  const bool streamed = this->streamed();
  if (other_ && other_->committed()) other_->close(next_index_, out.tool_calls);
  stream_.reset();
  other_.reset();
  no_stream_ = false;
  if (streamed) {  // its deltas went out as it was generated
    call_body_.clear();
    state_ = in_block_ ? State::kBlock : State::kContent;
    ++next_index_;
    skip_content_ws_ = true;
    return;
  }
  std::vector<ParsedCall> calls = fmt_.parse_calls ? fmt_.parse_calls(call_body_) : std::vector<ParsedCall>{};
  std::string body = std::move(call_body_);
  call_body_.clear();
  state_ = in_block_ ? State::kBlock : State::kContent;
  if (!calls.empty()) {
    for (ParsedCall& c : calls) out.tool_calls.push_back(make_tool_call_delta(next_index_++, std::move(c)));
    skip_content_ws_ = true;  // the newlines between calls are formatting
  } else {
    // Malformed call: the raw text goes out as content, verbatim.
    std::string raw = fmt_.call_open + body + fmt_.call_close;
    skip_content_ws_ = false;
    emit_content(out, raw);
  }
}

void TaggedParser::on_marker(ChatDelta& out, std::string_view m) {
  for (const std::string& d : fmt_.drop)
    if (m == d) return;
  switch (state_) {
    case State::kContent:
      if (m == fmt_.think_open) {
        state_ = State::kReasoning;
        skip_reasoning_ws_ = true;
      } else if (!fmt_.block_open.empty() && m == fmt_.block_open) {
        state_ = State::kBlock;
        in_block_ = true;
      } else {
        state_ = State::kCall;
        in_block_ = false;
      }
      break;
    case State::kReasoning:
      held_ws_.clear();
      state_ = State::kContent;
      skip_content_ws_ = true;
      break;
    case State::kBlock:
      if (m == fmt_.call_open) {
        state_ = State::kCall;
      } else {
        state_ = State::kContent;
        in_block_ = false;
        skip_content_ws_ = true;
      }
      break;
    case State::kCall:
      close_call(out);
      if (fmt_.call_close.empty()) state_ = State::kCall;  // the marker opened the next call
      break;
  }
}

void TaggedParser::process(ChatDelta& out, bool final) {
  for (;;) {
    std::vector<std::string_view> markers = markers_for_state();
    MarkerHit hit = find_first_marker(buf_, markers);
    size_t n = hit.which >= 0 ? hit.pos : final ? buf_.size() : safe_emit_len(buf_, markers);
    std::string_view text(buf_.data(), n);
    switch (state_) {
      case State::kContent: emit_content(out, text); break;
      case State::kReasoning: emit_reasoning(out, text, final && hit.which < 0); break;
      case State::kBlock:
        // Stray text between calls is not a call: kept visible unless it is only whitespace,
        // which is decided once the stretch ends (so it does not depend on the pieces).
        stray_.append(text);
        if (hit.which >= 0 || final) {
          if (!trim(stray_).empty()) emit_content(out, stray_);
          stray_.clear();
        }
        break;
      case State::kCall:
        call_body_.append(text);
        stream_call(out, text);
        break;
    }
    if (hit.which < 0) {
      buf_.erase(0, n);
      break;
    }
    std::string marker(markers[hit.which]);
    buf_.erase(0, n + marker.size());
    on_marker(out, marker);
  }
  if (final && state_ == State::kCall && (fmt_.call_close.empty() || streamed())) {
    close_call(out);  // calls that run to the end of the reply end here
  } else if (final && state_ == State::kCall) {
    // Unterminated call: give back the raw text.
    std::string raw = fmt_.call_open + call_body_;
    call_body_.clear();
    stream_.reset();
    other_.reset();
    no_stream_ = false;
    skip_content_ws_ = false;
    emit_content(out, raw);
    state_ = State::kContent;
  }
}

ChatDelta TaggedParser::feed(std::string_view text) {
  ChatDelta out;
  buf_.append(text);
  process(out, false);
  return out;
}

ChatDelta TaggedParser::finish() {
  ChatDelta out;
  process(out, true);
  return out;
}

}  // namespace moecat::chat
