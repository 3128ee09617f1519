// `moecat info`, `moecat tokenize`, `moecat convert`.
#include <sys/stat.h>

#include <map>

#include "base/progress.h"
#include "cli/commands.h"
#include "kernels/ops.h"
#include "model/export_gguf.h"
#include "model/registry.h"
#include "model/tokenizer_load.h"

namespace moecat::cli {

static std::string human_bytes(double b) {
  const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (b >= 1024 && i < 4) { b /= 1024; ++i; }
  return strfmt(i ? "%.2f %s" : "%.0f %s", b, u[i]);
}

Runner add_info(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  app.add_option("model", *path, "GGUF file or Hugging Face folder")->required();
  return [path]() -> int {
    auto src = ModelSource::Open(*path);
    if (!src.ok()) return fail(src.status());
    const ModelSource& s = **src;
    printf("file            %s\n", path->c_str());
    printf("format          %s\n", s.kind() == ModelSource::Kind::kGguf
                                       ? strfmt("GGUF v%u", s.gguf()->version()).c_str()
                                       : "Hugging Face folder (safetensors)");
    std::map<std::string, std::pair<int64_t, size_t>> by_type;  // dtype -> (count, bytes)
    int64_t params = 0;
    for (const std::string& n : s.tensor_names()) {
      const TensorView* t = s.find(n);
      auto& e = by_type[dtype_name(t->dtype)];
      ++e.first;
      e.second += t->nbytes;
      params += t->shape.numel();
    }
    printf("tensors         %zu (%s, %s parameters)\n", s.tensor_names().size(),
           human_bytes(static_cast<double>(s.total_bytes())).c_str(),
           params >= 1e9 ? strfmt("%.2fB", params / 1e9).c_str() : strfmt("%.2fM", params / 1e6).c_str());
    for (auto& [t, e] : by_type)
      printf("  %-13s %lld tensors, %s\n", t.c_str(), (long long)e.first, human_bytes(static_cast<double>(e.second)).c_str());
    auto model = load_model(*path);
    if (!model.ok()) {
      printf("model           cannot be loaded: %s\n", model.status().message().c_str());
      return 1;
    }
    fputs((*model)->config().summary().c_str(), stdout);
    auto tok = load_tokenizer((*model)->weights().source());
    if (tok.ok())
      printf("tokenizer       %d tokens, pre '%s', bos %d, eos %d\n", (*tok)->vocab_size(),
             (*tok)->data().pre.c_str(), (*tok)->data().bos_id, (*tok)->data().eos_id);
    else
      printf("tokenizer       unavailable: %s\n", tok.status().message().c_str());
    return 0;
  };
}

Runner add_tokenize(CLI::App& app) {
  struct Opts { std::string model, text; bool json = false, no_bos = false; };
  auto o = std::make_shared<Opts>();
  app.add_option("-m,--model", o->model, "model (GGUF / HF folder) or a tokenizer.json file")->required();
  app.add_option("text", o->text, "text to tokenize")->required();
  app.add_flag("--json", o->json, "print {\"ids\":[...],\"pieces\":[...]}");
  app.add_flag("--no-bos", o->no_bos, "do not prepend BOS even if the tokenizer asks for it");
  return [o]() -> int {
    Result<std::unique_ptr<Tokenizer>> tok = Status::Error("unset");
    const std::string& m = o->model;
    if (m.size() >= 5 && m.compare(m.size() - 5, 5, ".json") == 0) {
      std::string cfg = m.substr(0, m.rfind('/') + 1) + "tokenizer_config.json";
      struct stat st;
      tok = Tokenizer::FromHfFiles(m, stat(cfg.c_str(), &st) == 0 ? cfg : "");
    } else {
      auto src = ModelSource::Open(m);
      if (!src.ok()) return fail(src.status());
      tok = load_tokenizer(**src);
    }
    if (!tok.ok()) return fail(tok.status());
    const Tokenizer& t = **tok;
    std::vector<int32_t> ids = t.encode(o->text, !o->no_bos && t.data().add_bos);
    if (o->json) {
      nlohmann::json j;
      j["ids"] = ids;
      std::vector<std::string> pieces;
      for (int32_t id : ids) pieces.push_back(t.token_bytes(id));
      j["pieces"] = pieces;
      printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      for (size_t i = 0; i < ids.size(); ++i) printf("%s%d", i ? " " : "", ids[i]);
      printf("\n");
    }
    return 0;
  };
}

Runner add_convert(CLI::App& app) {
  struct Opts { std::string in, out, type = "f16"; };
  auto o = std::make_shared<Opts>();
  app.add_option("input", o->in, "Hugging Face folder (or GGUF file)")->required();
  app.add_option("-o,--output", o->out, "output .gguf")->required();
  app.add_option("--type", o->type,
                 "f32 | f16 | bf16 | q8_0 | mxfp4 (MXFP4 experts, q8_0 elsewhere) | q4_0 | q4_1 | q5_0 | "
                 "q5_1 | q2_k | q3_k | q4_k | q5_k | q6_k | iq4_nl | iq4_xs (llama.cpp's formats; rows not "
                 "a multiple of the type's block get q8_0). Encoders are simple (no importance matrix): "
                 "for the mixes users download, use llama-quantize")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "mxfp4", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k",
                             "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl", "iq4_xs"}));
  return [o]() -> int {
    kernels::set_repack(false);  // rows are written in the file layout: nothing to gain
    auto model = load_model(o->in);
    if (!model.ok()) return fail(model.status());
    auto tok = load_tokenizer((*model)->weights().source());
    if (!tok.ok()) return fail(tok.status());
    std::unique_ptr<Progress> progress;  // created once the writer knows the total
    Status s = export_gguf(**model, **tok, *dtype_from_name(o->type), o->out, [&](size_t done, size_t total) {
      if (!progress) progress = std::make_unique<Progress>("converting " + o->out, total);
      progress->update(done);
    });
    if (progress) progress->finish();
    if (!s.ok()) return fail(s);
    fprintf(stderr, "wrote %s (%s)\n", o->out.c_str(), o->type.c_str());
    return 0;
  };
}

}  // namespace moecat::cli
