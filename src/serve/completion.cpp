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

#include "serve/generation.h"
#include "serve/server_impl.h"

namespace moecat {

namespace {

using ojson = nlohmann::ordered_json;
using namespace std::chrono_literals;

}  // namespace

const char* finish_reason(FinishReason r, bool stopped, bool has_calls) {
  if (has_calls) return "tool_calls";
  if (stopped) return "stop";
  return r == FinishReason::kLength ? "length" : "stop";
}

bool Generation::poll(int& which) {
  const auto deadline = std::chrono::steady_clock::now() + 1000ms;
  while (std::chrono::steady_clock::now() < deadline) {
    bool any = false;
    for (size_t k = 0; k < runs.size(); ++k) {
      GenRun& x = runs[k];
      if (x.done) continue;
      any = true;
      if (x.stream->take(x.item, runs.size() == 1 ? 1000ms : 10ms)) {
        which = static_cast<int>(k);
        return true;
      }
    }
    if (!any) return false;
  }
  return false;
}

void Generation::consume(GenRun& x, api::StreamDelta& d) {
  for (const TokenEvent& e : x.item.tokens)
    if (!x.as->add(e, d)) break;
  if (x.as->stopped()) x.stream->cancel();
  x.done = x.item.done || x.as->stopped();
  if (!x.done) return;
  for (int i = 0; i < 50 && !x.item.done; ++i) x.stream->take(x.item, 100ms);
  x.as->finish(d);
}

api::Usage Generation::usage() const {
  api::Usage u;
  for (const GenRun& x : runs) {
    u.prompt_tokens = x.item.n_prompt;
    u.completion_tokens += x.item.n_gen;
    u.cached_tokens = std::max(u.cached_tokens, x.item.n_cached);
  }
  return u;
}

// tool_choice "required" where the family writes the name before the JSON: one of the names
// in the call syntax, token by token, then that tool's arguments.
Result<std::unique_ptr<JsonConstraint>> Server::Impl::choice_constraint(const ForcedCall& fc) {
  const Tokenizer& tok = *engine->tokenizer();
  std::vector<std::vector<int32_t>> lead;
  std::vector<std::unique_ptr<JsonConstraint>> then;
  for (const ForcedCall::Choice& ch : fc.choices) {
    if (Status s = check_json_schema(ch.schema); !s.ok()) return Errorf("unsupported JSON schema: %s", s.message().c_str());
    auto c = fc.key_value ? make_key_value_call_constraint(
                                constraint_index(), ch.schema,
                                [&tok](const std::string& t) { return tok.encode(t, false, true); })
                          : JsonConstraint::Create(constraint_index(), ch.schema, fc.json_lead, fc.json_tail);
    if (!c.ok()) return c.status();
    lead.push_back(tok.encode(ch.text, false, true));
    then.push_back(std::move(*c));
  }
  auto c = make_choice_constraint(engine->model().config().n_vocab, std::move(lead), std::move(then));
  if (!c) return Errorf("no tools to choose from");
  return c;
}

Result<std::unique_ptr<JsonConstraint>> Server::Impl::lazy_call_constraint(const ForcedCall& fc) {
  const Tokenizer& tok = *engine->tokenizer();
  const int64_t n_vocab = engine->model().config().n_vocab;
  std::shared_ptr<const TriggerTable> table;
  {
    std::lock_guard<std::mutex> lk(trigger_mu);
    if (!trigger_table) trigger_table = build_tool_trigger_table(fc.trigger, tok, n_vocab);  // once per model
    table = trigger_table;
  }
  return make_tool_call_grammar(fc, tok, n_vocab, constraint_index(), std::move(table));
}

std::shared_ptr<Generation> Server::Impl::start_generation(std::shared_ptr<api::ChatRequest> r, http::Response& res) {
  const bool chat = r->chat;
  r->model = opt.model_id;  // answer with the model actually served, like llama.cpp's server
  if (chat)
    for (const std::string& end : this->chat->end_strings())
      if (std::find(r->stop.begin(), r->stop.end(), end) == r->stop.end()) r->stop.push_back(end);
  const Tokenizer& tok = *engine->tokenizer();

  const bool has_tools = chat && r->tools.is_array() && !r->tools.empty();
  const bool forced = has_tools && (r->tool_choice == api::ToolChoiceMode::kRequired ||
                                    r->tool_choice == api::ToolChoiceMode::kNamed);
  const char* prompt_param = chat ? "messages" : "prompt";
  std::string text;
  ForcedCall fc;
  if (chat) {
    auto t = this->chat->render(*r);
    if (!t.ok()) {
      send_error(res, api::ApiError{400, t.status().message(), "invalid_request_error", "messages", ""});
      return nullptr;
    }
    text = std::move(*t);
    if (forced) {
      fc = this->chat->forced_call(*r);
      // The tag format's generation prompt opens reasoning: a forced call closes it first.
      if (fc.key_value && prompt_opens_reasoning(text)) text += "</longcat_think>\n";
      text += fc.prefix;
    }
  } else {
    text = r->prompt;
  }
  const std::vector<int32_t> prompt = encode_chat_prompt(tok, text);
  if (prompt.empty()) {
    send_error(res, api::ApiError{400, "the prompt is empty", "invalid_request_error", prompt_param, ""});
    return nullptr;
  }
  const int64_t n_prompt = (int64_t)prompt.size();
  if (n_prompt >= opt.n_ctx) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "the prompt has %lld tokens; this model's context is %lld tokens",
                  (long long)n_prompt, (long long)opt.n_ctx);
    send_error(res, api::ApiError{400, msg, "invalid_request_error", prompt_param, "context_length_exceeded"});
    return nullptr;
  }
  const bool constrained = forced || r->response_format != api::ResponseFormat::kText;
  // tool_choice "auto" with tools and no other constraint: the calls the model opens are kept
  // valid (their text stays the model's own; nothing changes until a call-open tag appears).
  ForcedCall lazy;
  if (has_tools && r->tool_choice == api::ToolChoiceMode::kAuto && !constrained && opt.tool_grammar)
    lazy = this->chat->lazy_call(*r);
  nlohmann::json schema;
  if (constrained) {
    schema = forced ? fc.schema : r->response_format == api::ResponseFormat::kJsonSchema ? r->json_schema : nlohmann::json();
    if (Status s = schema.is_null() ? Status::Ok() : check_json_schema(schema); !s.ok()) {
      send_error(res, api::ApiError{400, "unsupported JSON schema: " + s.message(), "invalid_request_error",
                                    forced ? "tools" : "response_format", ""});
      return nullptr;
    }
  }
  const uint64_t seed = r->seed ? *r->seed : std::random_device{}();

  // One sequence per choice (n > 1: seeds seed, seed+1, ...; the prompt's blocks are shared
  // through the prefix cache once the first has prefilled them).
  ChatParseOptions popt;
  popt.parse_tools = has_tools && r->tool_choice != api::ToolChoiceMode::kNone;
  popt.tools = r->tools;  // LongCat's key/value calls type each value by the tool's schema
  popt.parse_reasoning = true;
  popt.starts_in_reasoning = !forced && prompt_opens_reasoning(text);
  auto gen = std::make_shared<Generation>();
  gen->request = r;
  gen->forced = forced;
  gen->n_prompt = n_prompt;
  for (int i = 0; i < r->n; ++i) {
    GenRequest g;
    g.prompt = prompt;
    g.max_tokens = opt.n_ctx - n_prompt;
    if (r->max_tokens > 0) g.max_tokens = std::min<int64_t>(g.max_tokens, r->max_tokens);
    g.min_tokens = r->ignore_eos ? g.max_tokens : std::min<int64_t>(r->min_tokens, g.max_tokens);
    g.sampling.temperature = r->temperature;
    g.sampling.top_p = r->top_p;
    g.sampling.top_k = r->top_k;
    g.sampling.min_p = 0;
    g.sampling.repeat_penalty = 1;
    g.sampling.seed = seed + static_cast<uint64_t>(i);
    g.presence_penalty = r->presence_penalty;
    g.frequency_penalty = r->frequency_penalty;
    for (const auto& [id, b] : r->logit_bias) g.logit_bias.emplace_back(id, b);
    g.top_logprobs = r->logprobs ? r->top_logprobs : -1;
    if (constrained) {
      auto c = forced && !fc.choices.empty()
                   ? choice_constraint(fc)
                   : JsonConstraint::Create(constraint_index(), schema, forced ? fc.json_lead : "", forced ? fc.json_tail : "");
      if (!c.ok()) {
        send_error(res, api::ApiError{400, c.status().message(), "invalid_request_error",
                                      forced ? "tools" : "response_format", ""});
        return nullptr;  // gen's destructor cancels the runs already queued
      }
      g.constraint = std::move(*c);
      if (forced && !fc.suffix.empty()) g.forced_suffix = tok.encode(fc.suffix, false, true);
    } else if (!lazy.trigger.empty()) {
      auto c = lazy_call_constraint(lazy);
      if (c.ok()) {
        g.constraint = std::move(*c);
      } else {
        std::fprintf(stderr, "moecat: warning: tool calls left unconstrained: %s\n", c.status().message().c_str());
        lazy.trigger.clear();  // not again for the other choices
      }
    }
    Scheduler::Submitted sub = sched->submit(std::move(g));
    if (sub.why != Scheduler::Refusal::kNone) {
      switch (sub.why) {
        case Scheduler::Refusal::kQueueFull:
          res.set_header("Retry-After", "1");
          send_error(res, api::ApiError{429, sub.message, "rate_limit_error", "", "queue_full"});
          break;
        case Scheduler::Refusal::kShuttingDown:
          send_error(res, api::ApiError{503, sub.message, "server_error", "", ""});
          break;
        default:
          send_error(res, api::ApiError{400, sub.message, "invalid_request_error", "", ""});
      }
      return nullptr;
    }
    GenRun run;
    run.stream = sub.stream;
    run.as = std::make_shared<Assembler>(tok, *r, this->chat->family(), forced, popt);
    run.as->fc = fc;
    gen->runs.push_back(std::move(run));
  }
  return gen;
}

// One JSON body. What fails before the status line goes out is answered with its own status;
// so the handler first waits up to two seconds (most requests are done by then). After that
// the body is chunked so that waiting can notice a client that hung up: leading whitespace is
// valid JSON, so a space every second costs nothing; but the status line (200) has gone out
// with the first space, so a failure from then on ends the connection without finishing the
// chunked body: every client sees a broken response, none takes it for an answer.
void Server::Impl::send_when_done(std::shared_ptr<Generation> gen, http::Response& res,
                                  std::function<void(GenRun&, const api::StreamDelta&)> on_delta,
                                  std::function<std::pair<int, std::string>()> body_of) {
  {
    const auto grace = std::chrono::steady_clock::now() + 2s;
    while (!gen->all_done() && std::chrono::steady_clock::now() < grace) {
      int k = -1;
      if (gen->poll(k)) {
        api::StreamDelta d;
        Generation::consume(gen->runs[k], d);
        if (on_delta) on_delta(gen->runs[k], d);
      }
    }
    if (gen->all_done()) {
      auto [status, body] = body_of();
      res.status = status;
      res.set_content(body, "application/json");
      return;
    }
  }
  res.set_chunked_content_provider("application/json", [gen, on_delta, body_of](http::Sink& sink) {
    while (!gen->all_done()) {
      int k = -1;
      if (!gen->poll(k)) {
        if (!sink.write(" ", 1)) {
          gen->cancel_all();
          return false;
        }
        continue;
      }
      api::StreamDelta d;
      Generation::consume(gen->runs[k], d);
      if (on_delta) on_delta(gen->runs[k], d);
    }
    auto [status, body] = body_of();
    sink.write(body.data(), body.size());
    if (status != 200) return false;  // no final chunk: the client sees the response break off
    sink.done();
    return true;
  });
}

void Server::Impl::handle_generation(const http::Request& req, http::Response& res, bool chat) {
  auto parsed = api::parse_request(req.body, chat, limits());
  if (auto* e = std::get_if<api::ApiError>(&parsed)) return send_error(res, *e);
  auto r = std::make_shared<api::ChatRequest>(std::move(std::get<api::ChatRequest>(parsed)));
  std::shared_ptr<Generation> gen = start_generation(r, res);
  if (!gen) return;
  const std::string id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(created) + "-" +
                         std::to_string(next_id++);
  const int64_t t_created = static_cast<int64_t>(std::time(nullptr));

  if (r->stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider("text/event-stream", [r, gen, id, t_created](http::Sink& sink) {
      auto send = [&](const ojson& j) {
        const std::string s = "data: " + api::dump_json(j) + "\n\n";
        return sink.write(s.data(), s.size());
      };
      while (!gen->all_done()) {
        int k = -1;
        if (!gen->poll(k)) {
          // Nothing new for a second (long prefill, queue): an SSE comment keeps proxies
          // from timing out and tells us whether the client is still there.
          static const char kPing[] = ": keep-alive\n\n";
          if (!sink.write(kPing, sizeof kPing - 1)) {
            gen->cancel_all();
            return false;
          }
          continue;
        }
        GenRun& x = gen->runs[k];
        api::StreamDelta d;
        d.index = k;
        d.first = x.first;
        Generation::consume(x, d);
        if (!d.content.empty() || !d.reasoning.empty() || !d.tool_calls.empty() || !d.logprobs.empty() || x.first) {
          if (!send(api::chunk_json(*r, id, t_created, d))) {
            gen->cancel_all();
            return false;
          }
          x.first = false;
        }
        if (!x.done) continue;
        if (Generation::failed(x)) {
          const std::string s = "data: " + api::error_json(api::ApiError{500, x.item.error, "server_error", "", ""}) + "\n\n";
          sink.write(s.data(), s.size());
        } else {
          api::StreamDelta fin;
          fin.index = k;
          fin.finish_reason = finish_reason(x.item.reason, x.as->stopped(), !x.as->tool_calls().empty());
          send(api::chunk_json(*r, id, t_created, fin));
        }
      }
      if (r->include_usage) send(api::usage_chunk_json(*r, id, t_created, gen->usage()));
      static const char kDone[] = "data: [DONE]\n\n";
      sink.write(kDone, sizeof kDone - 1);
      sink.done();
      return true;
    });
    return;
  }

  Generation* g = gen.get();  // body_of runs while send_when_done (or its content provider) holds gen
  send_when_done(gen, res, nullptr, [r, g, id, t_created]() -> std::pair<int, std::string> {
    const auto& gen = g;
    std::vector<api::Choice> choices;
    for (GenRun& x : gen->runs) {
      if (Generation::failed(x)) {
        const int st = Generation::fail_status(x);
        return {st, api::error_json(api::ApiError{st, x.item.error, "server_error", "", ""})};
      }
      api::Choice c;
      c.content = x.as->content();
      c.reasoning = x.as->reasoning();
      c.tool_calls = x.as->tool_calls();
      c.finish_reason = finish_reason(x.item.reason, x.as->stopped(), !c.tool_calls.empty());
      c.logprobs = x.as->logprobs();
      choices.push_back(std::move(c));
    }
    return {200, api::dump_json(api::completion_json(*r, id, t_created, choices, gen->usage()))};
  });
}

}  // namespace moecat
