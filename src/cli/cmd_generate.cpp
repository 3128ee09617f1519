// `moecat run` and `moecat logprobs`.
#include <cmath>
#include <cstdio>
#include <random>

#include "base/memstats.h"
#include "cli/commands.h"
#include "kernels/ops.h"
#include "model/expert_parallel.h"
#include "runtime/engine.h"

namespace moecat::cli {

static void print_moe_stats(const Engine& e) {
  const ForwardStats& s = e.stats();
  const ModelConfig& c = e.model().config();
  if (s.moe_token_layers == 0) {
    fprintf(stderr, "experts: no MoE layers ran\n");
    return;
  }
  const double slots = static_cast<double>(s.ffn_expert_slots + s.zero_expert_slots);
  fprintf(stderr,
          "experts: %.3f FFN experts computed per token per MoE layer (top-%lld; %.1f%% of slots went to "
          "zero-computation experts)\n",
          static_cast<double>(s.ffn_expert_slots) / s.moe_token_layers, (long long)c.n_expert_used,
          slots > 0 ? 100.0 * s.zero_expert_slots / slots : 0.0);
}

Runner add_run(CLI::App& app) {
  struct Opts {
    std::string model, prompt;
    int64_t n = 128, ctx = 4096;
    int threads = 0;
    SamplingParams sp;
    bool no_bos = false, stats = false;
    std::string draft;
    int n_draft = 1;
    KvType kv_type = KvType::kF16;  // llama.cpp's default
    ChatOptions chat;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("-m,--model", o->model, "GGUF file or Hugging Face folder (default: the built-in model)");
  app.add_option("message", o->chat.message,
                 "chat: the customer's message, answered in the model's chat format with its default system "
                 "prompt and tools (without it: read from stdin, interactive on a terminal)");
  app.add_option("-p,--prompt", o->prompt, "plain text completion of this prompt instead of a chat");
  CLI::Option* system = app.add_option("--system", o->chat.system, "chat: system prompt (default: the model's)");
  app.add_option("--tools", o->chat.tools_file, "chat: JSON file with an array of OpenAI tools (default: the model's)");
  app.add_flag("--no-tools", o->chat.no_tools, "chat: offer no tools");
  app.add_flag("--no-tool-grammar", [o](int64_t) { o->chat.tool_grammar = false; },
               "chat: leave the tool calls the model opens unconstrained (default: name and arguments are kept "
               "valid under the tools' schemas once a call opens)");
  CLI::Option* n_opt = app.add_option("-n,--n-predict", o->n, "tokens to generate (chat: per reply, default 256)")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("-t,--threads", o->threads, "threads (default: all cores)");
  app.add_option("-c,--ctx-size", o->ctx, "context size")->check(CLI::Range(1, 1 << 22));
  add_cache_type_option(app, &o->kv_type);
  add_repack_option(app);
  app.add_option("--temp", o->sp.temperature, "temperature (0 = greedy)");
  app.add_option("--top-k", o->sp.top_k, "top-k (0 = off)");
  app.add_option("--top-p", o->sp.top_p, "top-p (1 = off)");
  app.add_option("--min-p", o->sp.min_p, "min-p (0 = off)");
  app.add_option("--repeat-penalty", o->sp.repeat_penalty, "repetition penalty (1 = off)");
  app.add_option("--repeat-last-n", o->sp.repeat_last_n, "tokens the penalty looks back");
  CLI::Option* seed = app.add_option("--seed", o->sp.seed, "sampling seed (default: random)");
  app.add_flag("--no-bos", o->no_bos, "do not prepend BOS even if the model asks for it");
  app.add_flag("--stats", o->stats, "report MoE expert work and draft acceptance");
  app.add_option("--draft", o->draft,
                 "speculative decoding: mtp (the model's MTP head) or ngram (lookup in the text so far)")
      ->check(CLI::IsMember({"mtp", "ngram"}));
  app.add_option("--n-draft", o->n_draft, "draft tokens per step with --draft (1-2 recommended)")
      ->check(CLI::Range(1, 8));
  return [o, seed, system, n_opt]() -> int {
    if (Status s = ValidateSamplingParams(o->sp); !s.ok()) return fail(s);
    if (seed->count() == 0) o->sp.seed = std::random_device{}();
    if (ExpertComm* c = expert_comm()) o->sp.seed = c->broadcast_u64(o->sp.seed);  // mpirun: one seed
    EngineOptions eo;
    eo.threads = o->threads;
    eo.n_ctx = o->ctx;
    eo.kv_type = o->kv_type;
    auto eng = Engine::Load(o->model.empty() ? default_model_path() : o->model, eo);
    if (!eng.ok()) return fail(eng.status());
    Engine& e = **eng;
    const Engine::Draft draft = o->draft == "mtp" ? Engine::Draft::kMtp
                                : o->draft == "ngram" ? Engine::Draft::kNgram : Engine::Draft::kNone;
    if (draft == Engine::Draft::kMtp && !e.model().has_mtp())
      return fail(Errorf("--draft mtp: %s has no MTP head", o->model.c_str()));
    if (!o->prompt.empty() && !o->chat.message.empty())
      return fail(Errorf("give either -p PROMPT (plain completion) or a chat message, not both"));
    if (o->prompt.empty()) {
      ChatOptions& c = o->chat;
      c.system_given = system->count() > 0;
      if (n_opt->count() > 0) c.n = o->n;
      c.sp = o->sp;
      c.draft = draft;
      c.n_draft = o->n_draft;
      const int rc = run_chat(e, c);
      if (rc == 0 && o->stats) print_moe_stats(e);
      return rc;
    }
    if (!e.tokenizer()) return fail(Errorf("the model has no tokenizer"));
    const Tokenizer& tok = *e.tokenizer();
    std::vector<int32_t> prompt = tok.encode(o->prompt, !o->no_bos && tok.data().add_bos);
    Sampler sampler(o->sp, static_cast<int32_t>(e.model().config().n_vocab));
    Tokenizer::StreamDecoder dec(tok);
    fputs(o->prompt.c_str(), stdout);
    fflush(stdout);
    auto st = e.generate(prompt, o->n, sampler, [&](int32_t id) {
      fputs(dec.push(id).c_str(), stdout);
      fflush(stdout);
      return true;
    }, true, draft, o->n_draft);
    fputs(dec.flush().c_str(), stdout);
    fputc('\n', stdout);
    if (!st.ok()) return fail(st.status());
    fprintf(stderr, "\nprompt: %lld tokens, %.2f tok/s | generation: %lld tokens, %.2f tok/s | %d threads, %s\n",
            (long long)st->n_prompt, st->prefill_s > 0 ? st->n_prompt / st->prefill_s : 0.0,
            (long long)st->n_gen, st->gen_s > 0 ? st->n_gen / st->gen_s : 0.0, e.options().threads,
            kernels::isa_name(kernels::active_isa()));
    if (o->stats) {
      print_moe_stats(e);
      if (!o->draft.empty())
        fprintf(stderr, "draft: %lld of %lld draft tokens accepted (%.1f%%), %.2f tokens per main forward\n",
                (long long)st->accepted, (long long)st->drafted,
                st->drafted ? 100.0 * st->accepted / st->drafted : 0.0,
                st->n_gen > 1 ? static_cast<double>(st->n_gen - 1) / std::max<int64_t>(1, st->n_gen - 1 - st->accepted) : 0.0);
    }
    const MemStats mem = read_mem_stats();
    fprintf(stderr, "memory: peak RSS %.1f MiB (model pages mapped from the file %.1f MiB, anonymous %.1f MiB)\n",
            mem.peak_rss / 1048576.0, mem.rss_file / 1048576.0, mem.rss_anon / 1048576.0);
    return 0;
  };
}

// ],\n"name":[[row 0], [row 1], ...   (the caller opened the JSON object)
static void print_rows(const char* name, const std::vector<std::vector<float>>& rows) {
  fprintf(stdout, "],\n\"%s\":[", name);
  char buf[32];
  for (size_t t = 0; t < rows.size(); ++t) {
    fputs(t ? ",\n[" : "\n[", stdout);
    for (size_t v = 0; v < rows[t].size(); ++v) {
      const float x = rows[t][v];
      if (std::isfinite(x)) snprintf(buf, sizeof buf, "%s%.9g", v ? "," : "", x);
      else snprintf(buf, sizeof buf, "%s-1e38", v ? "," : "");
      fputs(buf, stdout);
    }
    fputc(']', stdout);
  }
}

Runner add_logprobs(CLI::App& app) {
  struct Opts {
    std::string model, tokens;
    int64_t greedy = 0, batch = 512;
    int threads = 0;
    bool mtp = false;
    KvType kv_type = KvType::kF32;  // exact by default: this command is for reference comparisons
  };
  auto o = std::make_shared<Opts>();
  app.add_option("-m,--model", o->model, "GGUF file or Hugging Face folder")->required();
  app.add_option("--tokens", o->tokens, "comma-separated token ids")->required();
  app.add_option("--greedy", o->greedy, "also generate this many greedy tokens")->check(CLI::Range(0, 1 << 20));
  app.add_option("-t,--threads", o->threads, "threads (default: all cores)");
  app.add_flag("--mtp", o->mtp, "also print \"mtp_logprobs\": the MTP head's row i predicts token i+2");
  app.add_option("-b,--batch-size", o->batch, "tokens per forward pass (prefill chunk)")->check(CLI::Range(1, 1 << 16));
  add_cache_type_option(app, &o->kv_type);
  add_repack_option(app);
  return [o]() -> int {
    auto ids = parse_ids(o->tokens);
    if (!ids.ok()) return fail(ids.status());
    EngineOptions eo;
    eo.threads = o->threads;
    eo.need_tokenizer = false;  // ids in, ids out
    eo.n_ctx = static_cast<int64_t>(ids->size()) + o->greedy;
    eo.n_batch = o->batch;
    eo.kv_type = o->kv_type;
    auto eng = Engine::Load(o->model, eo);
    if (!eng.ok()) return fail(eng.status());
    Engine& e = **eng;
    if (static_cast<int64_t>(ids->size()) + o->greedy > e.options().n_ctx)
      return fail(Errorf("sequence + greedy tokens exceed the model's context (%lld)", (long long)e.options().n_ctx));
    auto lp = e.logprobs(*ids);
    if (!lp.ok()) return fail(lp.status());
    std::vector<int32_t> greedy;
    if (o->greedy > 0) {
      SamplingParams sp;
      sp.temperature = 0;
      Sampler s(sp, static_cast<int32_t>(e.model().config().n_vocab));
      auto st = e.generate(*ids, o->greedy, s, [&](int32_t t) { greedy.push_back(t); return true; }, false);
      if (!st.ok()) return fail(st.status());
    }
    // Streamed by hand: a 64 x 150k-vocab JSON is large, and %.9g keeps every float exact.
    std::string out = "{\"tokens\":[";
    for (size_t i = 0; i < ids->size(); ++i) out += (i ? "," : "") + std::to_string((*ids)[i]);
    fputs(out.c_str(), stdout);
    print_rows("logprobs", *lp);
    if (o->mtp) {
      auto mlp = e.mtp_logprobs(*ids);
      if (!mlp.ok()) return fail(mlp.status());
      print_rows("mtp_logprobs", *mlp);
    }
    out = "],\n\"greedy\":[";
    for (size_t i = 0; i < greedy.size(); ++i) out += (i ? "," : "") + std::to_string(greedy[i]);
    out += "]}\n";
    fputs(out.c_str(), stdout);
    return 0;
  };
}

}  // namespace moecat::cli
