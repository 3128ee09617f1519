// `moecat run` without -p: a chat with the model in its own chat format, the way the server
// renders it (same templates, same output parsers). One-shot when a message is given or stdin
// is not a terminal; interactive otherwise, where tool calls ask for their result on the
// terminal. System prompt and tools default to the ones the model file carries (the built-in
// support model has the shop's), so `moecat run "Where is my order?"` shows what it is for.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "kernels/ops.h"
#include "model/expert_parallel.h"
#include "runtime/engine.h"
#include "serve/chat_prompt.h"
#include "serve/tool_grammar.h"

namespace moecat::cli {
namespace {

using ojson = nlohmann::ordered_json;

Result<ojson> load_tools(const ChatOptions& o, const TokenizerData& td) {
  if (o.no_tools) return ojson::array();
  if (o.tools_file.empty()) {
    if (td.default_tools.empty()) return ojson::array();
    ojson t = ojson::parse(td.default_tools, nullptr, false);
    if (t.is_discarded() || !t.is_array()) {
      fprintf(stderr, "moecat: warning: the model's default tools are not a JSON array; chatting without tools\n");
      return ojson::array();
    }
    return t;
  }
  std::ifstream f(o.tools_file);
  if (!f) return Errorf("--tools: cannot read %s", o.tools_file.c_str());
  std::stringstream ss;
  ss << f.rdbuf();
  ojson t = ojson::parse(ss.str(), nullptr, false);
  if (!t.is_discarded() && t.is_object() && t.contains("tools")) t = t["tools"];  // a request body
  if (t.is_discarded() || !t.is_array())
    return Errorf("--tools: %s is not a JSON array of tools (or an object with \"tools\")", o.tools_file.c_str());
  return t;
}

// The sampler's view of the tool-call grammar: the budget left for the reply, and the end of
// generation (which ends the reply, not the grammar's text) left out.
class ToolGrammar : public TokenConstraint {
 public:
  ToolGrammar(std::unique_ptr<JsonConstraint> c, const Tokenizer& tok, int64_t budget)
      : c_(std::move(c)), tok_(tok), left_(budget) {}
  bool masks() const override { return c_->masks(); }
  void allowed(std::vector<uint8_t>& mask) override { c_->allowed(mask, left_); }
  void accept(int32_t token) override {
    --left_;
    if (!tok_.is_eog(token)) c_->accept(token);
  }

 private:
  std::unique_ptr<JsonConstraint> c_;
  const Tokenizer& tok_;
  int64_t left_;
};

struct Turn {
  std::string content, reasoning;
  std::vector<api::ToolCall> calls;
  Engine::GenStats stats;
};

class Chat {
 public:
  Chat(Engine& e, const ChatOptions& o, std::unique_ptr<ChatPrompt> cp, ojson tools)
      : e_(e), o_(o), cp_(std::move(cp)), tools_(std::move(tools)) {}

  // One assistant reply to the conversation so far (appended to it), streamed to stdout.
  Result<Turn> reply(ojson& messages, uint64_t seed) {
    ojson body;
    body["messages"] = messages;
    if (!tools_.empty()) body["tools"] = tools_;
    api::RequestLimits lim;
    lim.n_vocab = static_cast<int32_t>(e_.model().config().n_vocab);
    lim.n_ctx = e_.options().n_ctx;
    auto parsed = api::parse_request(body.dump(), true, lim);
    if (auto* err = std::get_if<api::ApiError>(&parsed)) return Errorf("%s", err->message.c_str());
    const api::ChatRequest& r = std::get<api::ChatRequest>(parsed);
    MOECAT_ASSIGN_OR_RETURN(std::string text, cp_->render(r));
    const Tokenizer& tok = *e_.tokenizer();
    const std::vector<int32_t> prompt = encode_chat_prompt(tok, text);
    if (static_cast<int64_t>(prompt.size()) >= e_.options().n_ctx)
      return Errorf("the conversation has %zu tokens; the context is %lld (-c)", prompt.size(),
                    (long long)e_.options().n_ctx);

    ChatParseOptions popt;
    popt.parse_tools = !tools_.empty();
    popt.tools = r.tools;  // LongCat's key/value calls type each value by the tool's schema
    popt.starts_in_reasoning = prompt_opens_reasoning(text);
    auto parser = make_chat_output_parser(cp_->family(), popt);
    const std::vector<std::string> ends = cp_->end_strings();
    Turn t;
    std::string raw;  // generated text so far (to find the family's end strings)
    bool in_reasoning = false;
    auto show = [&](const ChatDelta& d) {
      if (!d.reasoning.empty()) {
        if (!in_reasoning) fputs("[thinking] ", stdout);
        in_reasoning = true;
        fputs(d.reasoning.c_str(), stdout);
        t.reasoning += d.reasoning;
      }
      if (!d.content.empty()) {
        if (in_reasoning) fputs("\n[/thinking]\n", stdout);
        in_reasoning = false;
        fputs(d.content.c_str(), stdout);
        t.content += d.content;
      }
      for (const ToolCallDelta& c : d.tool_calls) {
        if (c.index >= static_cast<int>(t.calls.size())) t.calls.resize(c.index + 1);
        api::ToolCall& call = t.calls[c.index];
        if (!c.id.empty()) call.id = c.id;
        if (!c.name.empty()) call.name = c.name;
        call.arguments += c.arguments;
      }
      fflush(stdout);
    };
    SamplingParams sp = o_.sp;
    sp.seed = seed;
    Sampler sampler(sp, static_cast<int32_t>(e_.model().config().n_vocab));
    std::unique_ptr<ToolGrammar> grammar;
    if (!tools_.empty() && o_.tool_grammar) {
      const ForcedCall lazy = cp_->lazy_call(r);
      if (!lazy.trigger.empty()) {
        const int64_t V = e_.model().config().n_vocab;
        if (!index_) index_ = build_vocab_constraint_index(tok, V);
        if (!table_) table_ = build_tool_trigger_table(lazy.trigger, tok, V);
        auto c = make_tool_call_grammar(lazy, tok, V, index_, table_);
        if (c.ok()) {
          grammar = std::make_unique<ToolGrammar>(std::move(*c), tok, o_.n);
          sampler.set_constraint(grammar.get());
        } else {
          fprintf(stderr, "moecat: warning: tool calls left unconstrained: %s\n", c.status().message().c_str());
        }
      }
    }
    Tokenizer::StreamDecoder dec(tok);
    auto st = e_.generate(prompt, o_.n, sampler, [&](int32_t id) {
      std::string piece = dec.push(id);
      const size_t from = raw.size() > 64 ? raw.size() - 64 : 0;  // an end string may straddle pieces
      raw += piece;
      for (const std::string& end : ends)
        if (size_t at = raw.find(end, from); at != std::string::npos) {
          const size_t keep = at > raw.size() - piece.size() ? at - (raw.size() - piece.size()) : 0;
          show(parser->feed(piece.substr(0, keep)));
          return false;
        }
      show(parser->feed(piece));
      return true;
    }, true, o_.draft, o_.n_draft);
    show(parser->feed(dec.flush()));
    show(parser->finish());
    if (in_reasoning) fputs("\n[/thinking]\n", stdout);
    if (!st.ok()) return st.status();
    t.stats = *st;

    ojson msg;
    msg["role"] = "assistant";
    msg["content"] = t.content;
    if (!t.calls.empty()) {
      msg["tool_calls"] = ojson::array();
      for (api::ToolCall& c : t.calls) {
        if (c.id.empty()) c.id = new_tool_call_id(cp_->family());
        if (!t.content.empty() || &c != &t.calls.front()) fputc('\n', stdout);
        printf("[tool call] %s %s", c.name.c_str(), c.arguments.c_str());
        msg["tool_calls"].push_back({{"id", c.id}, {"type", "function"},
                                     {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
      }
    }
    fputc('\n', stdout);
    fflush(stdout);
    messages.push_back(std::move(msg));
    return t;
  }

 private:
  Engine& e_;
  const ChatOptions& o_;
  std::unique_ptr<ChatPrompt> cp_;
  ojson tools_;
  std::shared_ptr<const ConstraintIndex> index_;  // built on the first reply with tools
  std::shared_ptr<const TriggerTable> table_;
};

bool read_line(const char* prompt, std::string* line) {
  fputs(prompt, stdout);
  fflush(stdout);
  return static_cast<bool>(std::getline(std::cin, *line));
}

}  // namespace

int run_chat(Engine& e, const ChatOptions& o) {
  if (!e.tokenizer()) return fail(Errorf("the model has no tokenizer; chat needs one (use -p for token-level runs)"));
  const TokenizerData& td = e.tokenizer()->data();
  auto cp = ChatPrompt::Create(td.chat_template, e.model().config().arch, *e.tokenizer());
  if (!cp.ok()) return fail(cp.status());
  auto tools = load_tools(o, td);
  if (!tools.ok()) return fail(tools.status());
  const std::string system = o.system_given ? o.system : td.default_system_prompt;
  ojson messages = ojson::array();
  if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  Chat chat(e, o, std::move(*cp), *tools);

  const bool interactive = o.message.empty() && isatty(STDIN_FILENO);
  std::string names;
  for (const auto& t : *tools)
    if (t.is_object() && t.contains("function") && t["function"].is_object())
      names += (names.empty() ? "" : ", ") + t["function"].value("name", std::string("?"));
  if (interactive)
    fprintf(stderr, "moecat chat: %s | tools: %s | an empty line or Ctrl-D ends\n", e.model().config().arch.c_str(),
            names.empty() ? "none" : names.c_str());

  uint64_t seed = o.sp.seed;
  Engine::GenStats total;
  auto account = [&](const Engine::GenStats& s) {
    total.n_prompt += s.n_prompt, total.n_gen += s.n_gen, total.prefill_s += s.prefill_s, total.gen_s += s.gen_s;
    total.drafted += s.drafted, total.accepted += s.accepted;
  };
  if (!interactive) {
    std::string msg = o.message;
    if (msg.empty()) {  // stdin is a pipe or file: all of it is the customer's message
      std::stringstream ss;
      ss << std::cin.rdbuf();
      msg = ss.str();
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
      // under mpirun only rank 0 has the caller's stdin
      if (ExpertComm* c = expert_comm(); c && c->size() > 1) msg = c->broadcast_string(msg);
    }
    if (msg.empty()) return fail(Errorf("no message: give one as an argument, on stdin, or use -p for plain text"));
    messages.push_back({{"role", "user"}, {"content", msg}});
    auto t = chat.reply(messages, seed);
    if (!t.ok()) return fail(t.status());
    account(t->stats);
    if (!t->calls.empty())
      fprintf(stderr, "(the reply is a tool call: an application runs it and sends the result back; "
                      "see `moecat serve`, its web page and examples/support)\n");
  } else {
    std::string line;
    while (read_line("> ", &line) && !line.empty()) {
      messages.push_back({{"role", "user"}, {"content", line}});
      for (int step = 0; step < 4; ++step) {  // a reply may call tools; their results come from the terminal
        auto t = chat.reply(messages, seed++);
        if (!t.ok()) return fail(t.status());
        account(t->stats);
        if (t->calls.empty()) break;
        for (const api::ToolCall& c : t->calls) {
          std::string result;
          if (!read_line(("result of " + c.name + "> ").c_str(), &result)) return 0;
          messages.push_back({{"role", "tool"}, {"tool_call_id", c.id}, {"content", result}});
        }
      }
    }
  }
  fprintf(stderr, "prompt: %lld tokens, %.2f tok/s | generation: %lld tokens, %.2f tok/s | %d threads, %s\n",
          (long long)total.n_prompt, total.prefill_s > 0 ? total.n_prompt / total.prefill_s : 0.0,
          (long long)total.n_gen, total.gen_s > 0 ? total.n_gen / total.gen_s : 0.0, e.options().threads,
          kernels::isa_name(kernels::active_isa()));
  if (o.draft != Engine::Draft::kNone)
    fprintf(stderr, "draft: %lld of %lld draft tokens accepted (%.1f%%)\n", (long long)total.accepted,
            (long long)total.drafted, total.drafted ? 100.0 * total.accepted / total.drafted : 0.0);
  return 0;
}

}  // namespace moecat::cli
