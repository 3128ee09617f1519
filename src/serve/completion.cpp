// One /v1/chat/completions or /v1/completions request: parse, build the prompt (chat
// template, forced tool-call prefix), set up sampling and structured output, queue it, then
// turn the token stream into text (stop strings, tool-call/reasoning parsing) and write the
// answer - as one JSON body or as SSE chunks. The HTTP connection is watched throughout: a
// client that goes away cancels its sequence at the next batch step.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "serve/server_impl.h"

namespace moecat {

namespace {

using ojson = nlohmann::ordered_json;
using namespace std::chrono_literals;

std::string dump_safe(const ojson& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Generated text -> OpenAI message parts, shared by the streaming and the one-shot answers.
class Assembler {
 public:
  Assembler(const Tokenizer& tok, const api::ChatRequest& r, ChatFamily family, bool forced,
            const ChatParseOptions& popt)
      : tok_(tok), r_(r), dec_(tok), forced_(forced) {
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
    pending_ += dec_.push(e.token);
    emit(false, d);
    return !stopped_;
  }

  void finish(api::StreamDelta& d) {
    if (!stopped_) pending_ += dec_.flush();
    emit(true, d);
    if (parser_) apply(parser_->finish(), d);
    if (forced_) forced_call(d);
  }

  bool stopped() const { return stopped_; }
  const std::string& content() const { return content_; }
  const std::string& reasoning() const { return reasoning_; }
  const std::vector<api::ToolCall>& tool_calls() const { return calls_; }
  const std::vector<api::TokenLogprob>& logprobs() const { return all_logprobs_; }

 private:
  // Moves text out of pending_ unless it could still become a stop string.
  void emit(bool final, api::StreamDelta& d) {
    size_t cut = pending_.size(), keep = 0;
    for (const std::string& s : r_.stop) {
      const size_t p = pending_.find(s);
      if (p != std::string::npos && p < cut) {
        cut = p;
        stopped_ = true;
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
      json_ += out;
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

  // A forced call: the constrained JSON is the arguments (named) or {"name", args} (required).
  void forced_call(api::StreamDelta& d);

 public:
  ForcedCall fc;

 private:
  const Tokenizer& tok_;
  const api::ChatRequest& r_;
  Tokenizer::StreamDecoder dec_;
  bool forced_;
  std::unique_ptr<ChatOutputParser> parser_;
  std::string pending_, content_, reasoning_, json_;
  std::vector<api::ToolCall> calls_;
  std::vector<api::TokenLogprob> all_logprobs_;
  bool stopped_ = false;
};

std::string call_id() {
  static std::atomic<uint64_t> n{0};
  static const uint64_t salt = std::random_device{}();
  char buf[40];
  std::snprintf(buf, sizeof buf, "call_%016llx%08llx", (unsigned long long)(salt * 0x9E3779B97F4A7C15ull + ++n),
                (unsigned long long)(n.load() & 0xffffffffu));
  return buf;
}

void Assembler::forced_call(api::StreamDelta& d) {
  api::ToolCall c;
  c.id = call_id();
  const nlohmann::json j = nlohmann::json::parse(json_, nullptr, false);
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

const char* finish_reason(FinishReason r, bool stopped, bool has_calls) {
  if (has_calls) return "tool_calls";
  if (stopped) return "stop";
  return r == FinishReason::kLength ? "length" : "stop";
}

}  // namespace

void Server::Impl::handle_generation(const httplib::Request& req, httplib::Response& res, bool chat) {
  auto parsed = api::parse_request(req.body, chat, limits());
  if (auto* e = std::get_if<api::ApiError>(&parsed)) return send_error(res, *e);
  auto r = std::make_shared<api::ChatRequest>(std::move(std::get<api::ChatRequest>(parsed)));
  r->model = opt.model_id;  // answer with the model actually served, like llama.cpp's server
  const Tokenizer& tok = *engine->tokenizer();

  const bool has_tools = chat && r->tools.is_array() && !r->tools.empty();
  const bool forced = has_tools && (r->tool_choice == api::ToolChoiceMode::kRequired ||
                                    r->tool_choice == api::ToolChoiceMode::kNamed);
  std::string text;
  ForcedCall fc;
  if (chat) {
    auto t = this->chat->render(*r);
    if (!t.ok()) return send_error(res, api::ApiError{400, t.status().message(), "invalid_request_error", "messages", ""});
    text = std::move(*t);
    if (forced) {
      fc = this->chat->forced_call(*r);
      text += fc.prefix;
    }
  } else {
    text = r->prompt;
  }
  const TokenizerData& td = tok.data();
  const std::string bos = td.bos_id >= 0 && td.bos_id < tok.vocab_size() ? tok.token_bytes(td.bos_id) : "";
  const bool add_bos = td.add_bos && !(bos.size() && text.compare(0, bos.size(), bos) == 0);
  GenRequest g;
  g.prompt = tok.encode(text, add_bos, /*parse_special=*/true);
  if (g.prompt.empty()) return send_error(res, api::ApiError{400, "the prompt is empty", "invalid_request_error", chat ? "messages" : "prompt", ""});
  const int64_t n_prompt = (int64_t)g.prompt.size();
  if (n_prompt >= opt.n_ctx) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "the prompt has %lld tokens; this model's context is %lld tokens",
                  (long long)n_prompt, (long long)opt.n_ctx);
    return send_error(res, api::ApiError{400, msg, "invalid_request_error", chat ? "messages" : "prompt",
                                         "context_length_exceeded"});
  }
  g.max_tokens = opt.n_ctx - n_prompt;
  if (r->max_tokens > 0) g.max_tokens = std::min<int64_t>(g.max_tokens, r->max_tokens);
  g.sampling.temperature = r->temperature;
  g.sampling.top_p = r->top_p;
  g.sampling.top_k = 0;
  g.sampling.min_p = 0;
  g.sampling.repeat_penalty = 1;
  g.sampling.seed = r->seed ? *r->seed : std::random_device{}();
  g.presence_penalty = r->presence_penalty;
  g.frequency_penalty = r->frequency_penalty;
  for (const auto& [id, b] : r->logit_bias) g.logit_bias.emplace_back(id, b);
  g.top_logprobs = r->logprobs ? r->top_logprobs : -1;

  if (forced || (chat && r->response_format != api::ResponseFormat::kText) ||
      (!chat && r->response_format != api::ResponseFormat::kText)) {
    nlohmann::json schema = forced ? fc.schema
                            : r->response_format == api::ResponseFormat::kJsonSchema ? r->json_schema
                                                                                      : nlohmann::json();
    if (Status s = schema.is_null() ? Status::Ok() : check_json_schema(schema); !s.ok())
      return send_error(res, api::ApiError{400, "unsupported JSON schema: " + s.message(), "invalid_request_error",
                                           forced ? "tools" : "response_format", ""});
    auto c = JsonConstraint::Create(constraint_index(), schema);
    if (!c.ok())
      return send_error(res, api::ApiError{400, c.status().message(), "invalid_request_error",
                                           forced ? "tools" : "response_format", ""});
    g.constraint = std::move(*c);
    if (forced && !fc.suffix.empty()) g.forced_suffix = tok.encode(fc.suffix, false, true);
  }

  auto sub = sched->submit(std::move(g));
  if (!sub.ok()) {
    const bool full = sub.status().message() == "queue full";
    return send_error(res, api::ApiError{full ? 429 : 503,
                                         full ? "the server is busy: request queue full, retry later"
                                              : sub.status().message(),
                                         full ? "rate_limit_error" : "server_error", "", ""});
  }
  std::shared_ptr<RequestStream> stream = *sub;

  ChatParseOptions popt;
  popt.parse_tools = has_tools && r->tool_choice != api::ToolChoiceMode::kNone;
  popt.parse_reasoning = true;
  {
    // The template opened a reasoning block in the generation prompt (Qwen3, DeepSeek-R1 style).
    std::string tail = text.substr(text.size() > 16 ? text.size() - 16 : 0);
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
    popt.starts_in_reasoning = !forced && tail.size() >= 7 && tail.compare(tail.size() - 7, 7, "<think>") == 0;
  }
  auto as = std::make_shared<Assembler>(tok, *r, this->chat->family(), forced, popt);
  as->fc = fc;
  const std::string id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(created) + "-" +
                         std::to_string(next_id++);
  const int64_t t_created = static_cast<int64_t>(std::time(nullptr));

  if (r->stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider("text/event-stream", [r, stream, as, id, t_created](size_t, httplib::DataSink& sink) {
      auto send = [&](const ojson& j) {
        const std::string s = "data: " + dump_safe(j) + "\n\n";
        return sink.write(s.data(), s.size());
      };
      bool first = true;
      RequestStream::Item item;
      for (;;) {
        if (!stream->take(item, 1000ms)) {
          // Nothing new for a second (long prefill, queue): an SSE comment keeps proxies
          // from timing out and tells us whether the client is still there.
          static const char kPing[] = ": keep-alive\n\n";
          if (!sink.write(kPing, sizeof kPing - 1)) {
            stream->cancel();
            return false;
          }
          continue;
        }
        api::StreamDelta d;
        d.first = first;
        for (const TokenEvent& e : item.tokens)
          if (!as->add(e, d)) break;
        if (as->stopped()) stream->cancel();  // stop string: the sequence ends at the next step
        const bool done = item.done || as->stopped();
        if (done) as->finish(d);
        if (!d.content.empty() || !d.reasoning.empty() || !d.tool_calls.empty() || !d.logprobs.empty() || first) {
          if (!send(api::chunk_json(*r, id, t_created, d))) {
            stream->cancel();
            return false;
          }
          first = false;
        }
        if (!done) continue;
        if (item.done && item.reason == FinishReason::kError && !as->stopped()) {
          api::ApiError e{500, item.error, "server_error", "", ""};
          const std::string s = "data: " + api::error_json(e) + "\n\n";
          sink.write(s.data(), s.size());
        } else {
          api::StreamDelta fin;
          fin.finish_reason = finish_reason(item.reason, as->stopped(), !as->tool_calls().empty());
          send(api::chunk_json(*r, id, t_created, fin));
        }
        if (r->include_usage) {
          // The stream may have ended on a stop string before the scheduler reported counts.
          for (int i = 0; i < 50 && !item.done; ++i) stream->take(item, 100ms);
          api::Usage u{item.n_prompt, item.n_gen, item.n_cached};
          send(api::usage_chunk_json(*r, id, t_created, u));
        }
        static const char kDone[] = "data: [DONE]\n\n";
        sink.write(kDone, sizeof kDone - 1);
        sink.done();
        return true;
      }
    });
    return;
  }

  // One JSON body. Chunked so that waiting can notice a client that hung up: leading
  // whitespace is valid JSON, so a space every few seconds costs nothing.
  res.set_chunked_content_provider("application/json", [r, stream, as, id, t_created](size_t, httplib::DataSink& sink) {
    RequestStream::Item item;
    api::StreamDelta sink_delta;
    for (;;) {
      if (!stream->take(item, 1000ms)) {
        if (!sink.write(" ", 1)) {
          stream->cancel();
          return false;
        }
        continue;
      }
      for (const TokenEvent& e : item.tokens)
        if (!as->add(e, sink_delta)) break;
      if (as->stopped()) stream->cancel();
      if (item.done || as->stopped()) break;
    }
    for (int i = 0; i < 50 && !item.done; ++i) stream->take(item, 100ms);
    as->finish(sink_delta);
    std::string body;
    if (item.reason == FinishReason::kError && !as->stopped()) {
      body = api::error_json(api::ApiError{500, item.error, "server_error", "", ""});
    } else {
      api::Choice c;
      c.content = as->content();
      c.reasoning = as->reasoning();
      c.tool_calls = as->tool_calls();
      c.finish_reason = finish_reason(item.reason, as->stopped(), !c.tool_calls.empty());
      c.logprobs = as->logprobs();
      api::Usage u{item.n_prompt, item.n_gen, item.n_cached};
      body = dump_safe(api::completion_json(*r, id, t_created, {c}, u));
    }
    sink.write(body.data(), body.size());
    sink.done();
    return true;
  });
}

}  // namespace moecat
