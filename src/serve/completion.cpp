// One /v1/chat/completions or /v1/completions request: parse, build the prompt (chat
// template, forced tool-call prefix), set up sampling and structured output, queue it, then
// turn the token stream into text (stop strings, tool-call/reasoning parsing) and write the
// answer - as one JSON body or as SSE chunks. The HTTP connection is watched throughout: a
// client that goes away cancels its sequence at the next batch step.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "serve/server_impl.h"

namespace moecat {

namespace {

using ojson = nlohmann::ordered_json;
using namespace std::chrono_literals;

// Generated text -> OpenAI message parts, shared by the streaming and the one-shot answers.
class Assembler {
 public:
  Assembler(const Tokenizer& tok, const api::ChatRequest& r, ChatFamily family, bool forced,
            const ChatParseOptions& popt)
      : tok_(tok), r_(r), dec_(tok), family_(family), forced_(forced) {
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
  ChatFamily family_;
  bool forced_;
  std::unique_ptr<ChatOutputParser> parser_;
  std::string pending_, content_, reasoning_, json_;
  std::vector<api::ToolCall> calls_;
  std::vector<api::TokenLogprob> all_logprobs_;
  bool stopped_ = false;
};

void Assembler::forced_call(api::StreamDelta& d) {
  api::ToolCall c;
  c.id = new_tool_call_id(family_);
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
  if (chat)
    for (const std::string& end : this->chat->end_strings())
      if (std::find(r->stop.begin(), r->stop.end(), end) == r->stop.end()) r->stop.push_back(end);
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
  const std::vector<int32_t> prompt = encode_chat_prompt(tok, text);
  if (prompt.empty()) return send_error(res, api::ApiError{400, "the prompt is empty", "invalid_request_error", chat ? "messages" : "prompt", ""});
  const int64_t n_prompt = (int64_t)prompt.size();
  if (n_prompt >= opt.n_ctx) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "the prompt has %lld tokens; this model's context is %lld tokens",
                  (long long)n_prompt, (long long)opt.n_ctx);
    return send_error(res, api::ApiError{400, msg, "invalid_request_error", chat ? "messages" : "prompt",
                                         "context_length_exceeded"});
  }
  const bool constrained = forced || r->response_format != api::ResponseFormat::kText;
  nlohmann::json schema;
  if (constrained) {
    schema = forced ? fc.schema : r->response_format == api::ResponseFormat::kJsonSchema ? r->json_schema : nlohmann::json();
    if (Status s = schema.is_null() ? Status::Ok() : check_json_schema(schema); !s.ok())
      return send_error(res, api::ApiError{400, "unsupported JSON schema: " + s.message(), "invalid_request_error",
                                           forced ? "tools" : "response_format", ""});
  }
  const uint64_t seed = r->seed ? *r->seed : std::random_device{}();

  // One sequence per choice (n > 1: seeds seed, seed+1, ...; the prompt's blocks are shared
  // through the prefix cache once the first has prefilled them).
  struct Run {
    std::shared_ptr<RequestStream> stream;
    std::shared_ptr<Assembler> as;
    RequestStream::Item item;
    bool first = true, done = false;
  };
  ChatParseOptions popt;
  popt.parse_tools = has_tools && r->tool_choice != api::ToolChoiceMode::kNone;
  popt.parse_reasoning = true;
  popt.starts_in_reasoning = !forced && prompt_opens_reasoning(text);
  auto runs = std::make_shared<std::vector<Run>>();
  auto cancel_all = [runs] {
    for (Run& x : *runs) x.stream->cancel();
  };
  for (int i = 0; i < r->n; ++i) {
    GenRequest g;
    g.prompt = prompt;
    g.max_tokens = opt.n_ctx - n_prompt;
    if (r->max_tokens > 0) g.max_tokens = std::min<int64_t>(g.max_tokens, r->max_tokens);
    g.sampling.temperature = r->temperature;
    g.sampling.top_p = r->top_p;
    g.sampling.top_k = 0;
    g.sampling.min_p = 0;
    g.sampling.repeat_penalty = 1;
    g.sampling.seed = seed + static_cast<uint64_t>(i);
    g.presence_penalty = r->presence_penalty;
    g.frequency_penalty = r->frequency_penalty;
    for (const auto& [id, b] : r->logit_bias) g.logit_bias.emplace_back(id, b);
    g.top_logprobs = r->logprobs ? r->top_logprobs : -1;
    if (constrained) {
      auto c = JsonConstraint::Create(constraint_index(), schema);
      if (!c.ok()) {
        cancel_all();
        return send_error(res, api::ApiError{400, c.status().message(), "invalid_request_error",
                                             forced ? "tools" : "response_format", ""});
      }
      g.constraint = std::move(*c);
      if (forced && !fc.suffix.empty()) g.forced_suffix = tok.encode(fc.suffix, false, true);
    }
    Scheduler::Submitted sub = sched->submit(std::move(g));
    if (sub.why != Scheduler::Refusal::kNone) {
      cancel_all();
      switch (sub.why) {
        case Scheduler::Refusal::kQueueFull:
          res.set_header("Retry-After", "1");
          return send_error(res, api::ApiError{429, sub.message, "rate_limit_error", "", "queue_full"});
        case Scheduler::Refusal::kShuttingDown:
          return send_error(res, api::ApiError{503, sub.message, "server_error", "", ""});
        default:
          return send_error(res, api::ApiError{400, sub.message, "invalid_request_error", "", ""});
      }
    }
    Run run;
    run.stream = sub.stream;
    run.as = std::make_shared<Assembler>(tok, *r, this->chat->family(), forced, popt);
    run.as->fc = fc;
    runs->push_back(std::move(run));
  }
  // When httplib drops the response (the client went away before or while we wrote), whatever
  // still runs is cancelled: no sequence outlives its connection.
  std::shared_ptr<void> guard(nullptr, [runs](void*) {
    for (Run& x : *runs) x.stream->cancel();
  });
  const std::string id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(created) + "-" +
                         std::to_string(next_id++);
  const int64_t t_created = static_cast<int64_t>(std::time(nullptr));

  // Waits for news on any unfinished choice (round robin; n is small). False when a whole second
  // passed without any, so the caller can probe the connection.
  auto poll = [runs](int& which) {
    const auto deadline = std::chrono::steady_clock::now() + 1000ms;
    while (std::chrono::steady_clock::now() < deadline) {
      bool any = false;
      for (size_t k = 0; k < runs->size(); ++k) {
        Run& x = (*runs)[k];
        if (x.done) continue;
        any = true;
        if (x.stream->take(x.item, runs->size() == 1 ? 1000ms : 10ms)) {
          which = static_cast<int>(k);
          return true;
        }
      }
      if (!any) return false;
    }
    return false;
  };
  auto all_done = [runs] {
    for (const Run& x : *runs)
      if (!x.done) return false;
    return true;
  };
  // Feeds x's new tokens to its assembler (d gets what became visible). A stop string ends the
  // sequence; once it is over, waits briefly for the scheduler's final counts and flushes.
  auto consume = [](Run& x, api::StreamDelta& d) {
    for (const TokenEvent& e : x.item.tokens)
      if (!x.as->add(e, d)) break;
    if (x.as->stopped()) x.stream->cancel();
    x.done = x.item.done || x.as->stopped();
    if (!x.done) return;
    for (int i = 0; i < 50 && !x.item.done; ++i) x.stream->take(x.item, 100ms);
    x.as->finish(d);
  };
  auto failed = [](const Run& x) { return x.item.reason == FinishReason::kError && !x.as->stopped(); };
  auto usage_of = [runs] {
    api::Usage u;
    for (const Run& x : *runs) {
      u.prompt_tokens = x.item.n_prompt;
      u.completion_tokens += x.item.n_gen;
      u.cached_tokens = std::max(u.cached_tokens, x.item.n_cached);
    }
    return u;
  };

  if (r->stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider("text/event-stream", [r, runs, id, t_created, poll, all_done, consume, failed,
                                                           usage_of, cancel_all, guard](size_t, httplib::DataSink& sink) {
      auto send = [&](const ojson& j) {
        const std::string s = "data: " + api::dump_json(j) + "\n\n";
        return sink.write(s.data(), s.size());
      };
      while (!all_done()) {
        int k = -1;
        if (!poll(k)) {
          // Nothing new for a second (long prefill, queue): an SSE comment keeps proxies
          // from timing out and tells us whether the client is still there.
          static const char kPing[] = ": keep-alive\n\n";
          if (!sink.write(kPing, sizeof kPing - 1)) {
            cancel_all();
            return false;
          }
          continue;
        }
        Run& x = (*runs)[k];
        api::StreamDelta d;
        d.index = k;
        d.first = x.first;
        consume(x, d);
        if (!d.content.empty() || !d.reasoning.empty() || !d.tool_calls.empty() || !d.logprobs.empty() || x.first) {
          if (!send(api::chunk_json(*r, id, t_created, d))) {
            cancel_all();
            return false;
          }
          x.first = false;
        }
        if (!x.done) continue;
        if (failed(x)) {
          const std::string s = "data: " + api::error_json(api::ApiError{500, x.item.error, "server_error", "", ""}) + "\n\n";
          sink.write(s.data(), s.size());
        } else {
          api::StreamDelta fin;
          fin.index = k;
          fin.finish_reason = finish_reason(x.item.reason, x.as->stopped(), !x.as->tool_calls().empty());
          send(api::chunk_json(*r, id, t_created, fin));
        }
      }
      if (r->include_usage) send(api::usage_chunk_json(*r, id, t_created, usage_of()));
      static const char kDone[] = "data: [DONE]\n\n";
      sink.write(kDone, sizeof kDone - 1);
      sink.done();
      return true;
    });
    return;
  }

  // One JSON body. What fails before the status line goes out is answered with its own status;
  // so the handler first waits up to two seconds (most requests are done by then). After that
  // the body is chunked so that waiting can notice a client that hung up: leading whitespace is
  // valid JSON, so a space every second costs nothing; but the status line (200) has gone out
  // with the first space, so a failure from then on ends the connection without finishing the
  // chunked body: every client sees a broken response, none takes it for an answer.
  auto body_of = [r, runs, id, t_created, failed, usage_of]() -> std::pair<int, std::string> {
    std::vector<api::Choice> choices;
    for (Run& x : *runs) {
      if (failed(x)) return {500, api::error_json(api::ApiError{500, x.item.error, "server_error", "", ""})};
      api::Choice c;
      c.content = x.as->content();
      c.reasoning = x.as->reasoning();
      c.tool_calls = x.as->tool_calls();
      c.finish_reason = finish_reason(x.item.reason, x.as->stopped(), !c.tool_calls.empty());
      c.logprobs = x.as->logprobs();
      choices.push_back(std::move(c));
    }
    return {200, api::dump_json(api::completion_json(*r, id, t_created, choices, usage_of()))};
  };
  {
    api::StreamDelta scratch;
    const auto grace = std::chrono::steady_clock::now() + 2s;
    while (!all_done() && std::chrono::steady_clock::now() < grace) {
      int k = -1;
      if (poll(k)) consume((*runs)[k], scratch);
    }
    if (all_done()) {
      auto [status, body] = body_of();
      res.status = status;
      res.set_content(body, "application/json");
      return;
    }
  }
  res.set_chunked_content_provider("application/json", [runs, poll, all_done, consume, body_of, cancel_all,
                                                        guard](size_t, httplib::DataSink& sink) {
    api::StreamDelta scratch;
    while (!all_done()) {
      int k = -1;
      if (!poll(k)) {
        if (!sink.write(" ", 1)) {
          cancel_all();
          return false;
        }
        continue;
      }
      consume((*runs)[k], scratch);
    }
    auto [status, body] = body_of();
    sink.write(body.data(), body.size());
    if (status != 200) return false;  // no final chunk: the client sees the response break off
    sink.done();
    return true;
  });
}

}  // namespace moecat
