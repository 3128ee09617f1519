// gpt-oss "harmony" replies. The prompt ends with "<|start|>assistant", so generation starts
// inside a message header:
//   [ to=functions.NAME]<|channel|>CHANNEL[ to=functions.NAME][ <|constrain|>json| json]<|message|>BODY
// and each message ends with <|end|>, <|call|> (a tool call) or <|return|> (end of reply);
// further messages start with "<|start|>assistant". Channels: analysis -> reasoning,
// final -> content, commentary -> content (preamble) unless addressed to functions.NAME,
// which makes BODY the call's JSON arguments.
#include <optional>

#include "serve/chat/call_stream.h"
#include "serve/chat/marker_scan.h"
#include "serve/chat/parsers.h"

namespace moecat::chat {

namespace {

constexpr std::string_view kMessage = "<|message|>";
constexpr std::string_view kChannel = "<|channel|>";
constexpr std::string_view kStart = "<|start|>";
constexpr size_t kMaxHeader = 1024;  // a header longer than this is not a header

class HarmonyParser : public ChatOutputParser {
 public:
  explicit HarmonyParser(const ChatParseOptions& opt) : opt_(opt) {}
  ChatDelta feed(std::string_view text) override {
    ChatDelta out;
    buf_.append(text);
    process(out, false);
    return out;
  }
  ChatDelta finish() override {
    ChatDelta out;
    process(out, true);
    return out;
  }

 private:
  enum class State { kHeader, kBody, kBetween, kRaw };
  enum class Route { kReasoning, kContent, kCall };

  // Reads channel and recipient out of a header such as
  // "assistant to=functions.f<|channel|>commentary json".
  void parse_header(std::string_view h) {
    std::string channel, recipient;
    size_t c = h.find(kChannel);
    if (c != std::string_view::npos) {
      size_t p = c + kChannel.size(), e = p;
      while (e < h.size() && !is_space(h[e]) && h[e] != '<') ++e;
      channel = std::string(h.substr(p, e - p));
    }
    for (size_t p = h.find("to="); p != std::string_view::npos; p = h.find("to=", p + 1)) {
      if (p > 0 && !is_space(h[p - 1]) && h[p - 1] != '>') continue;
      size_t s = p + 3, e = s;
      while (e < h.size() && !is_space(h[e]) && h[e] != '<') ++e;
      recipient = std::string(h.substr(s, e - s));
      break;
    }
    constexpr std::string_view kFn = "functions.";
    call_name_.clear();
    if (!recipient.empty()) {
      if (opt_.parse_tools && recipient.size() > kFn.size() && recipient.compare(0, kFn.size(), kFn) == 0) {
        call_name_ = recipient.substr(kFn.size());
        route_ = Route::kCall;
        stream_.emplace(CallStream::Mode::kArgs, call_name_);  // the body is the arguments
      } else {
        route_ = Route::kContent;  // built-in or unknown recipient: keep the text visible
      }
    } else if (channel == "analysis" && opt_.parse_reasoning) {
      route_ = Route::kReasoning;
    } else {
      route_ = Route::kContent;  // final, commentary preamble, or an unknown channel
    }
  }

  void end_message(ChatDelta& out) {
    if (route_ == Route::kCall && stream_ && stream_->committed()) {
      ++next_index_;  // streamed as it came
    } else if (route_ == Route::kCall) {
      std::optional<ParsedCall> call;
      if (auto j = parse_json_bounded(trim(body_))) {
        if (auto args = arguments_string(*j)) call = ParsedCall{call_name_, *args};
      }
      if (call) out.tool_calls.push_back(make_tool_call_delta(next_index_++, std::move(*call)));
      else out.content.append(body_);  // bad JSON: the raw arguments text
    }
    body_.clear();
    stream_.reset();
    state_ = State::kBetween;
  }

  void process(ChatDelta& out, bool final) {
    for (;;) {
      if (state_ == State::kRaw) {
        size_t n = final ? buf_.size() : safe_emit_len(buf_, {});
        out.content.append(buf_, 0, n);
        buf_.erase(0, n);
        return;
      }
      if (state_ == State::kHeader) {
        size_t m = buf_.find(kMessage);
        if (m == std::string::npos) {
          if (buf_.size() > kMaxHeader) state_ = State::kRaw;
          else if (final) state_ = State::kRaw;  // unterminated header: raw text
          else return;
          continue;
        }
        if (m > kMaxHeader) { state_ = State::kRaw; continue; }
        parse_header(std::string_view(buf_).substr(0, m));
        buf_.erase(0, m + kMessage.size());
        state_ = State::kBody;
        continue;
      }
      if (state_ == State::kBetween) {
        static const std::vector<std::string_view> kNext = {kStart, kChannel};
        MarkerHit hit = find_first_marker(buf_, kNext);
        size_t n = hit.which >= 0 ? hit.pos : final ? buf_.size() : safe_emit_len(buf_, kNext);
        // Text outside any message: visible unless only whitespace, decided when it ends.
        stray_.append(buf_, 0, n);
        if (hit.which >= 0 || final) {
          if (!trim(stray_).empty()) out.content.append(stray_);
          stray_.clear();
        }
        if (hit.which < 0) { buf_.erase(0, n); return; }
        // "<|start|>" opens a header that begins with the role; "<|channel|>" is part of one.
        buf_.erase(0, hit.which == 0 ? n + kStart.size() : n);
        state_ = State::kHeader;
        continue;
      }
      // kBody
      static const std::vector<std::string_view> kEnds = {"<|end|>", "<|call|>", "<|return|>", kStart};
      MarkerHit hit = find_first_marker(buf_, kEnds);
      size_t n = hit.which >= 0 ? hit.pos : final ? buf_.size() : safe_emit_len(buf_, kEnds);
      std::string_view text(buf_.data(), n);
      switch (route_) {
        case Route::kReasoning: out.reasoning.append(text); break;
        case Route::kContent: out.content.append(text); break;
        case Route::kCall:
          body_.append(text);
          stream_->feed(text, next_index_, out.tool_calls);
          break;
      }
      if (hit.which < 0) {
        buf_.erase(0, n);
        if (final) {
          if (route_ == Route::kCall && stream_->committed()) ++next_index_;  // cut short: it stays a call
          else if (route_ == Route::kCall) out.content.append(body_);  // unterminated call: raw
          body_.clear();
          stream_.reset();
        }
        return;
      }
      // A <|start|> inside a body ends the message too (the next header follows).
      buf_.erase(0, hit.which == 3 ? n : n + kEnds[hit.which].size());
      end_message(out);
    }
  }

  ChatParseOptions opt_;
  State state_ = State::kHeader;
  Route route_ = Route::kContent;
  std::string buf_, body_, call_name_, stray_;
  std::optional<CallStream> stream_;  // the call being streamed (route kCall)
  int next_index_ = 0;
};

}  // namespace

std::unique_ptr<ChatOutputParser> make_harmony_parser(const ChatParseOptions& opt) {
  return std::make_unique<HarmonyParser>(opt);
}

}  // namespace moecat::chat
