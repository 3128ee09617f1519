#include "serve/chat_prompt.h"

#include <functional>

namespace moecat {

using ojson = nlohmann::ordered_json;

Result<std::unique_ptr<ChatPrompt>> ChatPrompt::Create(const std::string& template_text, const std::string& arch,
                                                       const Tokenizer& tok) {
  auto p = std::make_unique<ChatPrompt>();
  p->arch_ = arch;
  p->family_ = detect_chat_family(arch, template_text);
  p->mistral_args_ = template_text.find("[ARGS]") != std::string::npos;
  p->longcat_kv_ = template_text.find("longcat_arg_key") != std::string::npos;
  const TokenizerData& d = tok.data();
  if (d.bos_id >= 0 && d.bos_id < tok.vocab_size()) p->bos_ = tok.token_bytes(d.bos_id);
  if (d.eos_id >= 0 && d.eos_id < tok.vocab_size()) p->eos_ = tok.token_bytes(d.eos_id);
  if (!template_text.empty()) {
    auto t = jinja::Template::Parse(template_text);
    if (!t.ok()) return Errorf("the model's chat template does not parse: %s", t.status().message().c_str());
    p->tmpl_ = std::move(*t);
  }
  return p;
}

std::vector<std::string> ChatPrompt::end_strings() const {
  // LongCat replies end with the text "</longcat_s>"; where the tokenizer does not make it an
  // end-of-generation token, it still ends the answer.
  if (family_ == ChatFamily::kLongCat) return {"</longcat_s>"};
  return {};
}

const char* ChatPrompt::source() const {
  if (tmpl_) return "jinja";
  return family_ == ChatFamily::kLongCat ? "longcat-builtin" : "chatml-fallback";
}

Result<std::string> ChatPrompt::render(const api::ChatRequest& r) const {
  const bool offer_tools = r.tool_choice != api::ToolChoiceMode::kNone && r.tools.is_array() && !r.tools.empty();
  ojson tools = offer_tools ? r.tools : ojson::array();
  // description and parameters are optional in the API, but templates print them unguarded
  // (gpt-oss's concatenates tool.description): fill in the empty forms.
  for (auto& t : tools)
    if (t.contains("function") && t["function"].is_object()) {
      ojson& fn = t["function"];
      if (!fn.contains("description") || !fn["description"].is_string()) fn["description"] = "";
      if (!fn.contains("parameters") || !fn["parameters"].is_object())
        fn["parameters"] = ojson{{"type", "object"}, {"properties", ojson::object()}};
    }
  if (tmpl_) {
    ojson ctx = r.chat_template_kwargs.is_object() ? r.chat_template_kwargs : ojson::object();
    ojson msgs = r.messages;
    // An assistant turn that only calls tools has content null; templates test and concatenate
    // content as a string (Qwen3's `'</think>' in content`), so give them "" like llama.cpp does.
    for (auto& m : msgs)
      if (!m.contains("content") || m["content"].is_null()) m["content"] = "";
    // gpt-oss's, Llama 3's and Mistral's templates print tool-call arguments with tojson: give
    // them the object, not the JSON string OpenAI clients send (others print strings as they are).
    // LongCat's tag-format templates (Flash-Lite, Thinking-2601) write each argument as a
    // <longcat_arg_key>/<longcat_arg_value> pair, iterating the arguments mapping.
    if (family_ == ChatFamily::kGptOss || family_ == ChatFamily::kLlama3 || family_ == ChatFamily::kMistral ||
        (family_ == ChatFamily::kLongCat && longcat_kv_))
      for (auto& m : msgs)
        if (m.contains("tool_calls") && m["tool_calls"].is_array())
          for (auto& tc : m["tool_calls"])
            if (tc.contains("function") && tc["function"].contains("arguments") &&
                tc["function"]["arguments"].is_string()) {
              ojson parsed = ojson::parse(tc["function"]["arguments"].get<std::string>(), nullptr, false);
              if (!parsed.is_discarded()) tc["function"]["arguments"] = parsed;
            }
    ctx["messages"] = std::move(msgs);
    if (offer_tools) ctx["tools"] = tools;
    ctx["add_generation_prompt"] = true;
    ctx["bos_token"] = bos_;
    ctx["eos_token"] = eos_;
    auto out = tmpl_->Render(ctx);
    if (!out.ok()) return Errorf("chat template: %s", out.status().message().c_str());
    return *out;
  }
  if (family_ == ChatFamily::kLongCat) return render_longcat_chat(r.messages, tools, true);
  // ChatML: what llama.cpp and most servers fall back to.
  std::string s;
  for (const auto& m : r.messages) {
    s += "<|im_start|>" + m.value("role", std::string("user")) + "\n";
    if (m.contains("content") && m["content"].is_string()) s += m["content"].get<std::string>();
    s += "<|im_end|>\n";
  }
  return s + "<|im_start|>assistant\n";
}

namespace {

// A tool's parameters schema (any object when it has none).
nlohmann::json params_of(const ojson& tool) {
  const ojson& fn = tool["function"];
  if (fn.contains("parameters") && fn["parameters"].is_object()) return nlohmann::json::parse(fn["parameters"].dump());
  return nlohmann::json{{"type", "object"}};
}

// The schema of a call body {"name": NAME, args_key: {..}}; name_first: "name" must come first
// (x-moecat-key-order), so the call streams from its name.
nlohmann::json call_body(const ojson& tool, const std::string& args_key, bool name_first) {
  nlohmann::json b = {{"type", "object"},
                      {"properties", {{"name", {{"const", tool["function"].value("name", std::string())}}},
                                      {args_key, params_of(tool)}}},
                      {"required", {"name", args_key}},
                      {"additionalProperties", false}};
  if (name_first) b["x-moecat-key-order"] = {"name", args_key};
  return b;
}

}  // namespace

ForcedCall ChatPrompt::forced_call(const api::ChatRequest& r) const {
  ForcedCall f;
  if (family_ == ChatFamily::kLlama3) f.args_key = "parameters";
  // Families whose calls are a JSON object between tags (Llama 3: bare JSON).
  struct Tags {
    std::string open, close;
  };
  const Tags tags = family_ == ChatFamily::kQwen3     ? Tags{"<tool_call>\n", "\n</tool_call>"}
                    : family_ == ChatFamily::kLongCat ? Tags{"<longcat_tool_call>\n", "\n</longcat_tool_call>"}
                    : family_ == ChatFamily::kMistral ? Tags{"[TOOL_CALLS][", "]"}  // a one-call v3 list
                                                      : Tags{};
  if (family_ == ChatFamily::kLongCat && longcat_kv_) {
    // The tag format's own call syntax: the name line, then key/value pairs to the close tag
    // (the constraint writes the close tag itself, so there is no suffix).
    f.key_value = true;
    f.prefix = "<longcat_tool_call>";
    nlohmann::json any = nlohmann::json::array();
    for (const auto& t : r.tools) {
      const std::string name = t["function"].value("name", std::string());
      if (r.tool_choice == api::ToolChoiceMode::kNamed && name != r.tool_choice_name) continue;
      f.choices.push_back({name, name + "\n", params_of(t)});
      any.push_back(params_of(t));
    }
    if (r.tool_choice == api::ToolChoiceMode::kNamed) {
      f.named = true;
      f.name = r.tool_choice_name;
    }
    f.schema = {{"anyOf", any}};
    return f;
  }
  // Families whose call body is the JSON {"name": .., args_key: ..}: the prompt ends with the
  // call-open tag and the whole body is one JSON value (the name a const), with the text between
  // the tags around it matched byte by byte - as lazy_call does, and for the same reason: a
  // prompt that ended at `"arguments": ` split the model's own `": {"` and `"}}` tokens, and the
  // support model then wrote {"order_id": "lookup_ordereider ist anders..." for every forced call.
  struct Body {
    std::string open, lead, tail, close;
  };
  const bool body = family_ == ChatFamily::kQwen3 || family_ == ChatFamily::kLlama3 ||
                    (family_ == ChatFamily::kLongCat && !longcat_kv_);
  if (body) {
    const Body b = family_ == ChatFamily::kQwen3     ? Body{"<tool_call>", "\n", "\n", "</tool_call>"}
                   : family_ == ChatFamily::kLongCat ? Body{"<longcat_tool_call>", "\n", "\n", "</longcat_tool_call>"}
                                                     : Body{};  // Llama 3: the bare object
    nlohmann::json any = nlohmann::json::array();
    for (const auto& t : r.tools) {
      const std::string name = t["function"].value("name", std::string());
      if (r.tool_choice == api::ToolChoiceMode::kNamed && name != r.tool_choice_name) continue;
      any.push_back(call_body(t, f.args_key, true));
    }
    f.schema = any.size() == 1 ? any[0] : nlohmann::json{{"anyOf", any}};
    if (r.tool_choice == api::ToolChoiceMode::kNamed) f.name = r.tool_choice_name;  // named stays false: the body is read whole
    f.prefix = b.open;
    f.json_lead = b.lead;
    f.json_tail = b.tail;
    f.suffix = b.close;
    return f;
  }
  if (r.tool_choice == api::ToolChoiceMode::kNamed) {
    f.named = true;
    f.name = r.tool_choice_name;
    for (const auto& t : r.tools)
      if (t["function"].value("name", std::string()) == f.name) f.schema = params_of(t);
    switch (family_) {  // the model's own call syntax up to the arguments
      case ChatFamily::kDeepSeekV3:
        f.prefix = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>" + f.name + "\n```json\n";
        f.json_tail = "\n```";  // with the JSON: the model's `}\n` is one token
        f.suffix = "<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
        break;
      case ChatFamily::kGptOss:
        f.prefix = "<|channel|>commentary to=functions." + f.name + " <|constrain|>json<|message|>";
        break;
      case ChatFamily::kGeneric:
        break;
      case ChatFamily::kMistral:
        if (mistral_args_) {
          f.prefix = "[TOOL_CALLS]" + f.name + "[ARGS]";
          break;
        }
        [[fallthrough]];
      default:  // a {"name": .., args_key: ..} object, inside the family's call tags
        f.prefix = tags.open + "{\"name\": \"" + f.name + "\", \"" + f.args_key + "\": ";
        f.suffix = "}" + tags.close;
        break;
    }
    return f;
  }
  // "required": {"name": one of the tools, args_key: its parameters}.
  nlohmann::json any = nlohmann::json::array();
  for (const auto& t : r.tools) any.push_back(call_body(t, f.args_key, false));
  f.schema = {{"anyOf", any}};
  // gpt-oss / DeepSeek write the name outside the JSON: the generation picks one of the names
  // in the family's own call syntax, then writes that tool's arguments.
  if (family_ == ChatFamily::kDeepSeekV3 || family_ == ChatFamily::kGptOss) {
    const bool ds = family_ == ChatFamily::kDeepSeekV3;
    f.prefix = ds ? "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>"
                  : "<|channel|>commentary to=functions.";
    f.json_tail = ds ? "\n```" : "";  // with the JSON: the model's `}\n` is one token
    f.suffix = ds ? "<｜tool▁call▁end｜><｜tool▁calls▁end｜>" : "";
    for (const auto& t : r.tools) {
      const std::string name = t["function"].value("name", std::string());
      f.choices.push_back({name, name + (ds ? "\n```json\n" : " <|constrain|>json<|message|>"), params_of(t)});
    }
    return f;
  }
  // The others: the name first, in the family's own call text, then that tool's arguments
  // (so the call streams from its first argument byte, as a named one does).
  if (family_ == ChatFamily::kMistral && mistral_args_) {
    f.prefix = "[TOOL_CALLS]";
    for (const auto& t : r.tools) {
      const std::string name = t["function"].value("name", std::string());
      f.choices.push_back({name, name + "[ARGS]", params_of(t)});
    }
    return f;
  }
  f.prefix = tags.open;
  f.suffix = "}" + tags.close;
  for (const auto& t : r.tools) {
    const std::string name = t["function"].value("name", std::string());
    f.choices.push_back({name, "{\"name\": " + ojson(name).dump() + ", \"" + f.args_key + "\": ", params_of(t)});
  }
  return f;
}

ForcedCall ChatPrompt::lazy_call(const api::ChatRequest& r) const {
  ForcedCall f;
  f.single_call = !r.parallel_tool_calls;
  auto add = [&](const std::function<std::string(const std::string&)>& text) {
    for (const auto& t : r.tools) {
      const std::string name = t["function"].value("name", std::string());
      f.choices.push_back({name, text(name), params_of(t)});
    }
  };
  // Families whose call body is the JSON {"name": .., "arguments": ..}: one JSON value over all
  // tools (the name a const per alternative), so no token boundary is forced anywhere inside it:
  // a model writes `": {"` and `"}}` as single tokens, which a fixed lead up to `"arguments": `
  // would split, and then loses its way (measured: right arguments 72 % -> 3 % on the support model).
  auto bodies_with = [&](const std::string& args_key) {
    nlohmann::json b = nlohmann::json::array();
    for (const auto& t : r.tools) b.push_back(call_body(t, args_key, true));
    return b;
  };
  const nlohmann::json bodies = bodies_with("arguments");
  const nlohmann::json any_body = {{"anyOf", bodies}};
  switch (family_) {
    case ChatFamily::kQwen3:  // <tool_call>\n{..}\n</tool_call>
      f.trigger = "<tool_call>";
      f.choices.push_back({"", "", any_body});
      f.json_lead = f.json_tail = "\n";
      f.suffix = "</tool_call>";
      break;
    case ChatFamily::kLongCat:
      f.trigger = "<longcat_tool_call>";
      if (longcat_kv_) {  // NAME, then key/value pairs; the constraint writes the close tag
        f.key_value = true;
        add([](const std::string& name) { return name + "\n"; });
      } else {
        f.choices.push_back({"", "", any_body});
        f.json_lead = f.json_tail = "\n";
        f.suffix = "</longcat_tool_call>";
      }
      break;
    case ChatFamily::kDeepSeekV3:  // each call of the list; the model closes the list itself
      f.trigger = "<｜tool▁call▁begin｜>";
      f.prefix = "function<｜tool▁sep｜>";
      f.json_tail = "\n```";
      f.suffix = f.single_call ? "<｜tool▁call▁end｜><｜tool▁calls▁end｜>" : "<｜tool▁call▁end｜>";
      add([](const std::string& name) { return name + "\n```json\n"; });
      break;
    case ChatFamily::kLlama3: {  // the whole reply {"name": .., "parameters": {..}} when it is a call
      f.trigger = "{";
      f.anchored = true;
      f.choices.push_back({"", "", {{"anyOf", bodies_with("parameters")}}});
      break;
    }
    case ChatFamily::kGptOss:  // a header's recipient, then the arguments as the message body
      f.trigger = "to=functions.";
      f.suffix = "<|call|>";
      add([](const std::string& name) { return name + " <|constrain|>json<|message|>"; });
      break;
    case ChatFamily::kMistral:
      f.trigger = "[TOOL_CALLS]";
      if (mistral_args_) {
        add([](const std::string& name) { return name + "[ARGS]"; });
      } else {  // the v3 JSON list (parallel calls in one list); the template writes each call
                // as {"name", "arguments", "id": 9 alphanumerics}, so the model may write the id
        nlohmann::json items = bodies;
        for (auto& x : items)
          x["properties"]["id"] = {{"type", "string"}, {"minLength", 9}, {"maxLength", 9}};
        f.choices.push_back({"", "", {{"type", "array"}, {"items", {{"anyOf", items}}}, {"minItems", 1},
                                      {"maxItems", f.single_call ? 1 : 64}}});
      }
      break;
    default:
      break;
  }
  return f;
}

std::vector<int32_t> encode_chat_prompt(const Tokenizer& tok, const std::string& text) {
  const TokenizerData& td = tok.data();
  const std::string bos = td.bos_id >= 0 && td.bos_id < tok.vocab_size() ? tok.token_bytes(td.bos_id) : "";
  const bool add_bos = td.add_bos && !(bos.size() && text.compare(0, bos.size(), bos) == 0);
  return tok.encode(text, add_bos, /*parse_special=*/true);
}

bool prompt_opens_reasoning(std::string_view text) {
  std::string_view tail = text.substr(text.size() > 32 ? text.size() - 32 : 0);
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.remove_suffix(1);
  auto ends_with = [&](std::string_view m) { return tail.size() >= m.size() && tail.substr(tail.size() - m.size()) == m; };
  // LongCat-Flash-Thinking(-2601): "... /think_on <longcat_assistant><longcat_think>\n".
  return ends_with("<think>") || ends_with("<longcat_think>");
}

}  // namespace moecat
