// What /v1/chat/completions and /v1/responses share once a request is parsed: the Assembler
// (generated tokens -> content / reasoning / tool calls, stop strings) and a Generation (the
// sequences of one request queued in the scheduler, polled and consumed by either handler).
#pragma once
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "serve/api/openai.h"
#include "serve/chat/call_stream.h"
#include "serve/chat/chat_format.h"
#include "serve/chat_prompt.h"
#include "serve/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace moecat {

// Generated text -> OpenAI message parts, shared by the streaming and the one-shot answers.
class Assembler {
 public:
  Assembler(const Tokenizer& tok, const api::ChatRequest& r, ChatFamily family, bool forced,
            const ChatParseOptions& popt)
      : tok_(tok), r_(r), dec_(tok), family_(family), forced_(forced), popt_(popt) {
    if (r.chat && !forced) parser_ = make_chat_output_parser(family, popt);
  }

  // Consumes one token; fills d with what became visible. False once a stop string matched.
  bool add(const TokenEvent& e, api::StreamDelta& d) {
    if (stopped_) return false;
    if (e.forced) return true;  // the closing part of a forced call: not part of the answer
    if (r_.logprobs) {
      api::TokenLogprob lp;
      lp.token = tok_.token_bytes(e.token);
      lp.logprob = e.logprob;
      for (const auto& [id, v] : e.top) lp.top.emplace_back(tok_.token_bytes(id), v);
      d.logprobs.push_back(lp);
      all_logprobs_.push_back(std::move(lp));
    }
    const size_t reasoning_before = reasoning_.size();
    pending_ += dec_.push(e.token);
    emit(false, d);
    if (reasoning_.size() > reasoning_before) ++reasoning_tokens_;
    return !stopped_;
  }

  void finish(api::StreamDelta& d) {
    if (!stopped_) pending_ += dec_.flush();
    emit(true, d);
    if (parser_) apply(parser_->finish(), d);
    if (forced_) forced_call(d);
  }

  bool stopped() const { return stopped_; }
  const std::string& stop_string() const { return stop_string_; }  // the stop string that matched
  const std::string& content() const { return content_; }
  const std::string& reasoning() const { return reasoning_; }
  const std::vector<api::ToolCall>& tool_calls() const { return calls_; }
  const std::vector<api::TokenLogprob>& logprobs() const { return all_logprobs_; }
  // Tokens whose text went (at least partly) into the reasoning.
  int64_t reasoning_tokens() const { return reasoning_tokens_; }

 private:
  // Moves text out of pending_ unless it could still become a stop string.
  void emit(bool final, api::StreamDelta& d) {
    size_t cut = pending_.size(), keep = 0;
    for (const std::string& s : r_.stop) {
      const size_t p = pending_.find(s);
      if (p != std::string::npos && p < cut) {
        cut = p;
        stopped_ = true;
        stop_string_ = s;
      }
    }
    if (stopped_) {
      pending_.resize(cut);
    } else if (!final) {
      for (const std::string& s : r_.stop)  // longest tail of pending_ that starts a stop string
        for (size_t k = std::min(s.size() - 1, pending_.size()); k > keep; --k)
          if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
            keep = k;
            break;
          }
    }
    const std::string out = pending_.substr(0, pending_.size() - keep);
    pending_.erase(0, pending_.size() - keep);
    if (out.empty()) return;
    if (forced_) {
      forced_feed(out, d);
    } else if (parser_) {
      apply(parser_->feed(out), d);
    } else {
      content_ += out;
      d.content += out;
    }
  }

  void apply(const ChatDelta& c, api::StreamDelta& d) {
    content_ += c.content;
    reasoning_ += c.reasoning;
    d.content += c.content;
    d.reasoning += c.reasoning;
    for (const ToolCallDelta& t : c.tool_calls) {
      if (t.index >= (int)calls_.size()) calls_.resize(t.index + 1);
      api::ToolCall& call = calls_[t.index];
      if (!t.id.empty()) call.id = t.id;
      if (!t.name.empty()) call.name = t.name;
      call.arguments += t.arguments;
      d.tool_calls.push_back({t.index, t.id, t.name, t.arguments});
    }
  }

  // A forced call: the constrained JSON is the arguments (named) or {"name", args} (required),
  // or (fc.choices) a choice of names in the family's syntax, then the arguments. The arguments
  // stream as they are generated.
  void forced_feed(const std::string& out, api::StreamDelta& d);
  void forced_call(api::StreamDelta& d);

 public:
  ForcedCall fc;

 private:
  const Tokenizer& tok_;
  const api::ChatRequest& r_;
  Tokenizer::StreamDecoder dec_;
  ChatFamily family_;
  bool forced_;
  ChatParseOptions popt_;
  std::unique_ptr<ChatOutputParser> parser_;  // also a forced key/value call's (fc.key_value)
  std::optional<chat::CallStream> fstream_;
  std::string pending_, content_, reasoning_, json_, stop_string_;
  std::vector<api::ToolCall> calls_;
  std::vector<api::TokenLogprob> all_logprobs_;
  bool stopped_ = false;
  int64_t reasoning_tokens_ = 0;
};

inline void Assembler::forced_feed(const std::string& out, api::StreamDelta& d) {
  if (fc.key_value) {  // LongCat's key/value syntax: its own parser, from the call's open tag
    if (!parser_) {
      ChatParseOptions o = popt_;
      o.parse_tools = true;
      o.starts_in_reasoning = false;
      parser_ = make_chat_output_parser(ChatFamily::kLongCat, o);
      apply(parser_->feed("<longcat_tool_call>"), d);
    }
    apply(parser_->feed(out), d);
    return;
  }
  json_ += out;
  ChatDelta c;
  if (fstream_) {
    fstream_->feed(out, 0, c.tool_calls);
  } else if (fc.named) {
    fstream_.emplace(chat::CallStream::Mode::kArgs, fc.name, new_tool_call_id(family_));
    fstream_->feed(json_, 0, c.tool_calls);
  } else if (fc.choices.empty()) {
    fstream_.emplace(chat::CallStream::Mode::kObject, "", new_tool_call_id(family_), fc.args_key);
    fstream_->feed(json_, 0, c.tool_calls);
  } else {
    // (SentencePiece vocabularies may start the chosen text with a space.)
    const size_t lead = std::min(json_.find_first_not_of(' '), json_.size());
    for (const ForcedCall::Choice& ch : fc.choices)
      if (json_.compare(lead, ch.text.size(), ch.text) == 0) {
        fstream_.emplace(chat::CallStream::Mode::kArgs, ch.name, new_tool_call_id(family_));
        fstream_->feed(std::string_view(json_).substr(lead + ch.text.size()), 0, c.tool_calls);
        break;
      }
  }
  apply(c, d);
}

inline void Assembler::forced_call(api::StreamDelta& d) {
  if (fc.key_value) return;  // finish() ended its parser
  if (fstream_ && fstream_->committed()) return;  // streamed as it was generated
  api::ToolCall c;
  c.id = new_tool_call_id(family_);
  // The constrained text is json_lead + the JSON + json_tail (the lead is whitespace or empty).
  std::string_view body = json_;
  if (!fc.json_tail.empty() && body.size() >= fc.json_tail.size() &&
      body.substr(body.size() - fc.json_tail.size()) == fc.json_tail)
    body.remove_suffix(fc.json_tail.size());
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) {  // cut short (should not happen: the constraint keeps a budget)
    content_ += json_;
    d.content += json_;
    return;
  }
  if (fc.named) {
    c.name = fc.name;
    c.arguments = j.dump();
  } else {
    c.name = j.value("name", std::string());
    c.arguments = j.contains(fc.args_key) ? j[fc.args_key].dump() : "{}";
  }
  calls_.push_back(c);
  d.tool_calls.push_back({(int)calls_.size() - 1, c.id, c.name, c.arguments});
}

struct GenRun {
  std::shared_ptr<RequestStream> stream;
  std::shared_ptr<Assembler> as;
  RequestStream::Item item;
  bool first = true, done = false;
};

// The sequences of one request (one per choice). Dropping the last reference cancels whatever
// still runs: no sequence outlives its connection.
struct Generation {
  std::shared_ptr<const api::ChatRequest> request;  // the Assemblers refer to it
  std::vector<GenRun> runs;
  bool forced = false;
  int64_t n_prompt = 0;  // prompt tokens (known before the scheduler reports them)

  ~Generation() { cancel_all(); }
  void cancel_all() {
    for (GenRun& x : runs) x.stream->cancel();
  }
  // Waits for news on any unfinished run (round robin; n is small). False when a whole second
  // passed without any, so the caller can probe the connection.
  bool poll(int& which);
  bool all_done() const {
    for (const GenRun& x : runs)
      if (!x.done) return false;
    return true;
  }
  // Feeds x's new tokens to its assembler (d gets what became visible). A stop string ends the
  // sequence; once it is over, waits briefly for the scheduler's final counts and flushes.
  static void consume(GenRun& x, api::StreamDelta& d);
  static bool failed(const GenRun& x) { return x.item.reason == FinishReason::kError && !x.as->stopped(); }
  // A failed run's HTTP status: 503 when the engine was lost (an expert rank under mpirun).
  static int fail_status(const GenRun& x) { return x.item.unavailable ? 503 : 500; }
  api::Usage usage() const;
};

const char* finish_reason(FinishReason r, bool stopped, bool has_calls);

}  // namespace moecat
