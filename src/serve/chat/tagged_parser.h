// The streaming parser shared by the tag-delimited families (Qwen3, DeepSeek-V3, LongCat):
// an optional reasoning block (<think>...</think>), tool calls between an open and a close
// marker (optionally grouped inside an outer block, as DeepSeek's <｜tool▁calls▁begin｜>), or
// from an open marker to the end of the reply (Mistral's [TOOL_CALLS]), and end-of-turn markers
// that are dropped wherever they appear.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/chat/call_stream.h"
#include "serve/chat/chat_format.h"
#include "serve/chat/marker_scan.h"

namespace moecat::chat {

// Where a call's arguments begin, for families that write the name before them.
struct CallHead {
  enum Status { kMore, kNo, kYes } st = kMore;  // kMore: not known yet; kNo: not streamable
  std::string name, id;
  size_t args_at = 0;  // byte offset of the arguments in the call's text
};

// Streams a call body that is not the {"name": .., "arguments": {..}} object (LongCat's
// key/value form): fed the whole body so far each time, it appends the deltas that became due;
// close() ends a committed call's arguments (its closing piece).
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  virtual void feed(std::string_view body, int index, std::vector<ToolCallDelta>& out) = 0;
  virtual bool committed() const = 0;
  virtual void close(int index, std::vector<ToolCallDelta>& out) = 0;
};

struct TaggedFormat {
  std::string think_open, think_close;  // empty: the family has no reasoning markers
  std::string block_open, block_close;  // empty: calls stand alone in the content
  // call_close empty: a call runs to the next call_open or the end of the reply (Mistral).
  std::string call_open, call_close;
  // One body -> its calls (a body may hold several, e.g. Mistral's JSON list); empty = malformed.
  std::function<std::vector<ParsedCall>(std::string_view body)> parse_calls;
  std::vector<std::string> drop;        // end-of-turn markers, never content
  // How a call's arguments stream as they are generated: kObject: the body is a
  // {"name": .., "arguments": {..}} object; kHead: head() finds the name and where the arguments
  // object begins; kNone: the call is parsed when it closes. A call that never got as far as a
  // name and a validly begun arguments object is parsed at the close as before (malformed:
  // content); once streamed, a call stays a call.
  enum class Stream { kNone, kObject, kHead } stream = Stream::kNone;
  std::function<CallHead(std::string_view body)> head;
  // kObject only: a streamer for bodies whose first non-space byte is not '{'.
  std::function<std::unique_ptr<BodyStream>()> other_stream;
};

// parse_calls for families with one call per body.
std::function<std::vector<ParsedCall>(std::string_view)> one_call(
    std::function<std::optional<ParsedCall>(std::string_view)> parse_call);

class TaggedParser : public ChatOutputParser {
 public:
  TaggedParser(TaggedFormat fmt, const ChatParseOptions& opt);
  ChatDelta feed(std::string_view text) override;
  ChatDelta finish() override;

 private:
  enum class State { kContent, kReasoning, kBlock, kCall };
  std::vector<std::string_view> markers_for_state() const;
  void process(ChatDelta& out, bool final);
  void emit_content(ChatDelta& out, std::string_view s);
  void emit_reasoning(ChatDelta& out, std::string_view s, bool final);
  void on_marker(ChatDelta& out, std::string_view m);
  void close_call(ChatDelta& out);
  void stream_call(ChatDelta& out, std::string_view text);

  TaggedFormat fmt_;
  ChatParseOptions opt_;
  State state_ = State::kContent;
  bool in_block_ = false;         // a call's enclosing state is kBlock, not kContent
  std::string buf_;               // unprocessed text
  std::string call_body_;         // text of the call being collected
  std::string stray_;             // text between calls inside a block
  std::string held_ws_;           // reasoning's trailing whitespace (dropped at </think>)
  bool skip_content_ws_ = false;  // drop whitespace right after </think> or a call
  bool skip_reasoning_ws_ = false;
  int next_index_ = 0;
  std::optional<CallStream> stream_;  // the current call's streamer, once it has begun
  std::unique_ptr<BodyStream> other_;  // ... or its TaggedFormat::other_stream
  bool streamed() const { return (stream_ && stream_->committed()) || (other_ && other_->committed()); }
  bool no_stream_ = false;            // the current call's head is not streamable
};

}  // namespace moecat::chat
