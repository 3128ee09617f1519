// parse_messages_request: a Messages body -> a chat-completions body (validated here in the
// Messages shape, then once more by parse_request, whose error messages are mapped back) ->
// ChatRequest. MessageBuilder: chat deltas -> content blocks and Anthropic's SSE events.
#include "serve/api/messages.h"

#include <algorithm>
#include <cstdint>
#include <set>

namespace moecat::api {
namespace {

using ojson = nlohmann::ordered_json;

[[noreturn]] void bad(const std::string& param, const std::string& msg) {
  ApiError e;
  e.http_status = 400;
  e.param = param;
  e.message = sanitize_utf8(msg);
  throw e;
}

std::string quote(const std::string& s) {
  constexpr size_t kMax = 64;
  if (s.size() <= kMax) return "'" + s + "'";
  size_t n = kMax;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return "'" + s.substr(0, n) + "...'";
}

const ojson* field(const ojson& o, const char* k) {
  auto it = o.find(k);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string need_string(const ojson& o, const char* k, const std::string& param, const std::string& w) {
  const ojson* v = field(o, k);
  if (!v || !v->is_string()) bad(param, w + "." + k + ": must be a string");
  return v->get<std::string>();
}

std::string block_type(const ojson& b, const std::string& param, const std::string& w) {
  if (!b.is_object()) bad(param, w + ": must be an object (a content block)");
  return need_string(b, "type", param, w);
}

[[noreturn]] void unsupported_block(const std::string& param, const std::string& w, const std::string& t) {
  static const std::set<std::string> kKnown = {"image", "document", "search_result", "server_tool_use",
                                               "web_search_tool_result", "container_upload", "mcp_tool_use",
                                               "mcp_tool_result", "code_execution_tool_result"};
  if (kKnown.count(t)) bad(param, w + ".type: content block type " + quote(t) + " is not supported by this server (text only)");
  bad(param, w + ".type: unknown content block type " + quote(t));
}

// Text blocks (system, tool_result content): a string or [{type:"text", text}].
std::string text_of(const ojson& c, const std::string& param, const std::string& w) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad(param, w + ": must be a string or an array of text blocks");
  std::string out;
  for (size_t k = 0; k < c.size(); ++k) {
    const std::string bw = w + "." + std::to_string(k);
    const std::string t = block_type(c[k], param, bw);
    if (t != "text") unsupported_block(param, bw, t);
    out += need_string(c[k], "text", param, bw);
  }
  return out;
}

// One Messages message -> chat messages. A user message's tool_result blocks become tool
// messages (first, as chat templates expect them right after the calls), its text one user
// message after them; an assistant message's text, thinking and tool_use blocks become one
// assistant message with content, reasoning_content and tool_calls.
void translate_message(const ojson& m, size_t i, ojson& out) {
  const std::string w = "messages." + std::to_string(i);
  if (!m.is_object()) bad("messages", w + ": must be an object");
  const std::string role = need_string(m, "role", "messages", w);
  if (role != "user" && role != "assistant")
    bad("messages", w + ".role: unknown role " + quote(role) + " (expected user or assistant; put system prompts in the top-level system field)");
  const ojson* c = field(m, "content");
  if (!c) bad("messages", w + ".content: field required");
  if (c->is_string()) {
    out.push_back(ojson{{"role", role}, {"content", c->get<std::string>()}});
    return;
  }
  if (!c->is_array()) bad("messages", w + ".content: must be a string or an array of content blocks");
  const std::string cw = w + ".content";
  if (role == "user") {
    std::string text;
    bool has_text = false;
    for (size_t k = 0; k < c->size(); ++k) {
      const ojson& b = (*c)[k];
      const std::string bw = cw + "." + std::to_string(k);
      const std::string t = block_type(b, "messages", bw);
      if (t == "text") {
        text += need_string(b, "text", "messages", bw);
        has_text = true;
      } else if (t == "tool_result") {
        const std::string id = need_string(b, "tool_use_id", "messages", bw);
        if (id.empty()) bad("messages", bw + ".tool_use_id: must not be empty");
        std::string body;
        if (const ojson* rc = field(b, "content")) body = text_of(*rc, "messages", bw + ".content");
        if (const ojson* e = field(b, "is_error")) {
          if (!e->is_boolean()) bad("messages", bw + ".is_error: must be a boolean");
          if (e->get<bool>()) body = "Error: " + body;
        }
        out.push_back(ojson{{"role", "tool"}, {"tool_call_id", id}, {"content", std::move(body)}});
      } else if (t == "tool_use" || t == "thinking" || t == "redacted_thinking") {
        bad("messages", bw + ".type: " + quote(t) + " blocks belong in assistant messages");
      } else {
        unsupported_block("messages", bw, t);
      }
    }
    if (has_text || c->empty()) out.push_back(ojson{{"role", "user"}, {"content", std::move(text)}});
    return;
  }
  ojson a{{"role", "assistant"}, {"content", nullptr}};
  std::string text, thinking;
  bool has_text = false, has_thinking = false;
  ojson calls = ojson::array();
  for (size_t k = 0; k < c->size(); ++k) {
    const ojson& b = (*c)[k];
    const std::string bw = cw + "." + std::to_string(k);
    const std::string t = block_type(b, "messages", bw);
    if (t == "text") {
      text += need_string(b, "text", "messages", bw);
      has_text = true;
    } else if (t == "thinking") {
      thinking += need_string(b, "thinking", "messages", bw);
      has_thinking = true;
    } else if (t == "redacted_thinking") {
      // Encrypted by Anthropic's models; nothing a local model can read.
    } else if (t == "tool_use") {
      const std::string id = need_string(b, "id", "messages", bw);
      if (id.empty()) bad("messages", bw + ".id: must not be empty");
      const std::string name = need_string(b, "name", "messages", bw);
      const ojson* in = field(b, "input");
      if (!in || !in->is_object()) bad("messages", bw + ".input: must be an object");
      calls.push_back(ojson{{"id", id}, {"type", "function"},
                            {"function", {{"name", name}, {"arguments", in->dump(-1, ' ', false, ojson::error_handler_t::replace)}}}});
    } else if (t == "tool_result") {
      bad("messages", bw + ".type: tool_result blocks belong in user messages");
    } else {
      unsupported_block("messages", bw, t);
    }
  }
  if (has_text || calls.empty()) a["content"] = std::move(text);
  if (has_thinking) a["reasoning_content"] = std::move(thinking);
  if (!calls.empty()) a["tool_calls"] = std::move(calls);
  out.push_back(std::move(a));
}

ojson translate_tools(const ojson& v, const RequestLimits& lim) {
  if (!v.is_array()) bad("tools", "tools: must be an array");
  if (v.size() > static_cast<size_t>(lim.max_tools))
    bad("tools", "tools: too many tools (" + std::to_string(v.size()) + " > " + std::to_string(lim.max_tools) + ")");
  ojson out = ojson::array();
  for (size_t i = 0; i < v.size(); ++i) {
    const ojson& t = v[i];
    const std::string w = "tools." + std::to_string(i);
    if (!t.is_object()) bad("tools", w + ": must be an object");
    if (const ojson* type = field(t, "type")) {
      if (!type->is_string()) bad("tools", w + ".type: must be a string");
      const std::string ty = type->get<std::string>();
      if (ty != "custom")
        bad("tools", w + ".type: tool type " + quote(ty) + " is not supported (client tools with name, description and input_schema only)");
    }
    const std::string name = need_string(t, "name", "tools", w);
    ojson fn{{"name", name}};
    if (const ojson* d = field(t, "description")) {
      if (!d->is_string()) bad("tools", w + ".description: must be a string");
      fn["description"] = *d;
    }
    const ojson* s = field(t, "input_schema");
    if (!s) bad("tools", w + ".input_schema: field required");
    if (!s->is_object()) bad("tools", w + ".input_schema: must be an object (a JSON schema)");
    fn["parameters"] = *s;
    if (const ojson* st = field(t, "strict")) {
      if (!st->is_boolean()) bad("tools", w + ".strict: must be a boolean");
      fn["strict"] = *st;
    }
    out.push_back(ojson{{"type", "function"}, {"function", std::move(fn)}});
  }
  return out;
}

ojson translate_tool_choice(const ojson& v, bool have_tools) {
  if (!v.is_object()) bad("tool_choice", "tool_choice: must be an object such as {\"type\": \"auto\"}");
  const std::string type = need_string(v, "type", "tool_choice", "tool_choice");
  if (const ojson* p = field(v, "disable_parallel_tool_use"); p && !p->is_boolean())
    bad("tool_choice", "tool_choice.disable_parallel_tool_use: must be a boolean");
  if (type == "auto") return "auto";
  if (type == "none") return "none";
  if (type != "any" && type != "tool")
    bad("tool_choice", "tool_choice.type: must be \"auto\", \"any\", \"tool\" or \"none\" (got " + quote(type) + ")");
  if (!have_tools) bad("tool_choice", "tool_choice.type " + quote(type) + " needs a non-empty tools array");
  if (type == "any") return "required";
  const std::string name = need_string(v, "name", "tool_choice", "tool_choice");
  return ojson{{"type", "function"}, {"function", {{"name", name}}}};
}

// parse_request's messages speak of chat fields; map the common ones back to Messages names.
ApiError map_chat_error(ApiError e) {
  auto replace_all = [](std::string& s, const std::string& a, const std::string& b) {
    for (size_t p = s.find(a); p != std::string::npos; p = s.find(a, p + b.size())) s.replace(p, a.size(), b);
  };
  if (e.param == "stop") {
    e.param = "stop_sequences";
    replace_all(e.message, "stop strings", "stop sequences");
    replace_all(e.message, "stop string", "stop sequence");
    replace_all(e.message, "stop must be", "stop_sequences must be");
  } else if (e.param == "tools") {
    replace_all(e.message, "tools[", "tools.");
    replace_all(e.message, "].function.", ".");
    replace_all(e.message, "parameters", "input_schema");
  } else if (e.param == "tool_choice") {
    replace_all(e.message, "names function", "names tool");
  } else if (e.param == "messages") {
    e.message = "messages: " + e.message;
  }
  return e;
}

int64_t get_int(const ojson& v, const std::string& name, int64_t lo) {
  if (!v.is_number_integer()) bad(name, name + ": must be an integer >= " + std::to_string(lo));
  // (nlohmann reads non-negative integers as unsigned)
  const int64_t x = v.is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(v.get<uint64_t>(), INT64_MAX))
                                           : v.get<int64_t>();
  if (x < lo) bad(name, name + ": must be an integer >= " + std::to_string(lo));
  return x;
}

double get_number(const ojson& v, const std::string& name, double lo, double hi) {
  if (!v.is_number() || v.get<double>() < lo || v.get<double>() > hi)
    bad(name, name + ": must be a number in [" + std::to_string(lo).substr(0, 3) + ", " + std::to_string(hi).substr(0, 3) + "]");
  return v.get<double>();
}

MessagesRequest parse_body(std::string_view body, const RequestLimits& lim, bool count_only) {
  if (json_nesting_depth(body, lim.max_json_depth) > lim.max_json_depth)
    bad("", "invalid JSON: nesting deeper than " + std::to_string(lim.max_json_depth) + " levels");
  ojson j = ojson::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) bad("", "invalid JSON in request body");
  if (!j.is_object()) bad("", "request body must be a JSON object");

  MessagesRequest r;
  for (const char* k : {"mcp_servers", "container"})
    if (const ojson* v = field(j, k); v && !(v->is_array() && v->empty()))
      bad(k, std::string(k) + ": not supported by this server");

  ojson chat = ojson::object();
  if (const ojson* v = field(j, "model")) {
    if (!v->is_string()) bad("model", "model: must be a string");
    chat["model"] = *v;
  }
  ojson msgs = ojson::array();
  if (const ojson* v = field(j, "system")) msgs.push_back(ojson{{"role", "system"}, {"content", text_of(*v, "system", "system")}});
  const ojson* in = field(j, "messages");
  if (!in) bad("messages", "messages: field required");
  if (!in->is_array()) bad("messages", "messages: must be an array");
  if (in->empty()) bad("messages", "messages: at least one message is required");
  if (in->size() > static_cast<size_t>(lim.max_messages))
    bad("messages", "messages: too many messages (" + std::to_string(in->size()) + " > " + std::to_string(lim.max_messages) + ")");
  for (size_t i = 0; i < in->size(); ++i) translate_message((*in)[i], i, msgs);
  if (in->back().is_object() && in->back().value("role", "") == "assistant")
    bad("messages", "messages." + std::to_string(in->size() - 1) +
                        ": a final assistant message (prefill) is not supported by this server; end with a user message");
  chat["messages"] = std::move(msgs);

  bool have_tools = false;
  if (const ojson* v = field(j, "tools")) {
    chat["tools"] = translate_tools(*v, lim);
    have_tools = !v->empty();
  }
  if (const ojson* v = field(j, "tool_choice")) {
    chat["tool_choice"] = translate_tool_choice(*v, have_tools);
    if (const ojson* p = field(*v, "disable_parallel_tool_use"); p && p->is_boolean() && p->get<bool>())
      chat["parallel_tool_calls"] = false;
  }

  if (const ojson* v = field(j, "max_tokens")) {
    r.max_tokens = get_int(*v, "max_tokens", 1);
    // Anthropic clients send generous limits (4096, 64000): the context bounds the answer anyway.
    chat["max_tokens"] = std::min<int64_t>(r.max_tokens, lim.n_ctx);
  } else if (!count_only) {
    bad("max_tokens", "max_tokens: field required");
  }
  if (const ojson* v = field(j, "stop_sequences")) {
    if (!v->is_array()) bad("stop_sequences", "stop_sequences: must be an array of strings");
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) bad("stop_sequences", "stop_sequences." + std::to_string(i) + ": must be a string");
      r.stop_sequences.push_back((*v)[i].get<std::string>());
    }
    chat["stop"] = *v;
  }
  if (const ojson* v = field(j, "temperature")) chat["temperature"] = get_number(*v, "temperature", 0, 1);
  if (const ojson* v = field(j, "top_p")) chat["top_p"] = *v;  // (0, 1], checked by parse_request
  int64_t top_k = 0;
  if (const ojson* v = field(j, "top_k")) top_k = std::min<int64_t>(get_int(*v, "top_k", 0), 1 << 20);
  if (const ojson* v = field(j, "stream")) {
    if (!v->is_boolean()) bad("stream", "stream: must be a boolean");
    chat["stream"] = *v;
  }
  if (const ojson* v = field(j, "metadata")) {
    if (!v->is_object()) bad("metadata", "metadata: must be an object");
    for (const auto& [k, x] : v->items()) {
      if (k != "user_id") bad("metadata", "metadata." + k + ": extra inputs are not permitted (only user_id)");
      if (x.is_null()) continue;
      if (!x.is_string() || x.get<std::string>().size() > 256) bad("metadata", "metadata.user_id: must be a string of at most 256 characters");
      chat["user"] = x;
    }
  }
  if (const ojson* v = field(j, "thinking")) {
    // {type: enabled, budget_tokens} / {type: disabled}: the template's enable_thinking switch
    // (Qwen3 and others); the budget is not enforced (max_tokens bounds the whole answer).
    if (!v->is_object()) bad("thinking", "thinking: must be an object");
    const std::string t = need_string(*v, "type", "thinking", "thinking");
    if (t != "enabled" && t != "disabled" && t != "adaptive")
      bad("thinking", "thinking.type: must be \"enabled\" or \"disabled\" (got " + quote(t) + ")");
    if (const ojson* b = field(*v, "budget_tokens")) get_int(*b, "thinking.budget_tokens", 1);
    if (t != "adaptive") chat["chat_template_kwargs"] = ojson{{"enable_thinking", t == "enabled"}};
  }
  if (const ojson* v = field(j, "service_tier"); v && !v->is_string()) bad("service_tier", "service_tier: must be a string");

  auto parsed = parse_request(chat.dump(-1, ' ', false, ojson::error_handler_t::replace), true, lim);
  if (auto* e = std::get_if<ApiError>(&parsed)) throw map_chat_error(*e);
  r.chat = std::move(std::get<ChatRequest>(parsed));
  r.chat.top_k = static_cast<int>(top_k);
  return r;
}

const char* error_type(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string tool_use_id(const std::string& chat_id) {
  std::string tail = chat_id.rfind("call_", 0) == 0 ? chat_id.substr(5) : chat_id;
  return "toolu_" + sanitize_utf8(tail);
}

}  // namespace

std::variant<MessagesRequest, ApiError> parse_messages_request(std::string_view body, const RequestLimits& lim,
                                                               bool count_only) {
  try {
    return parse_body(body, lim, count_only);
  } catch (const ApiError& e) {
    return e;
  } catch (const nlohmann::json::exception& e) {
    ApiError err;
    err.message = sanitize_utf8(std::string("invalid request: ") + e.what());
    return err;
  } catch (const std::bad_alloc&) {
    ApiError err;
    err.http_status = 413;
    err.message = "request too large to process";
    return err;
  }
}

std::string messages_error_json(int http_status, const std::string& message) {
  ojson e{{"type", "error"}, {"error", {{"type", error_type(http_status)}, {"message", sanitize_utf8(message)}}}};
  return dump_json(e);
}

std::string messages_error_from_openai(int http_status, const std::string& openai_body) {
  const ojson j = ojson::parse(openai_body, nullptr, false);
  std::string msg = "request failed";
  if (j.is_object() && j.contains("error") && j["error"].is_object() && j["error"].contains("message") &&
      j["error"]["message"].is_string())
    msg = j["error"]["message"].get<std::string>();
  return messages_error_json(http_status, msg);
}

bool is_messages_path(const std::string& path) {
  return path.rfind("/v1/messages", 0) == 0 || path.rfind("/messages", 0) == 0;
}

std::string messages_stop_reason(const MessagesRequest& r, const std::string& chat_finish_reason,
                                 const std::string& matched_stop) {
  if (chat_finish_reason == "tool_calls") return "tool_use";
  if (!matched_stop.empty() &&
      std::find(r.stop_sequences.begin(), r.stop_sequences.end(), matched_stop) != r.stop_sequences.end())
    return "stop_sequence";
  return chat_finish_reason == "length" ? "max_tokens" : "end_turn";
}

// ---- output ---------------------------------------------------------------------------------

MessageBuilder::MessageBuilder(std::string id, std::string model) {
  msg_["id"] = sanitize_utf8(id);
  msg_["type"] = "message";
  msg_["role"] = "assistant";
  msg_["model"] = sanitize_utf8(model);
  msg_["content"] = ojson::array();
  msg_["stop_reason"] = nullptr;
  msg_["stop_sequence"] = nullptr;
  msg_["usage"] = ojson{{"input_tokens", 0}, {"output_tokens", 0}, {"cache_creation_input_tokens", 0},
                        {"cache_read_input_tokens", 0}};
}

std::vector<MessageBuilder::ojson> MessageBuilder::start(int64_t input_tokens) {
  msg_["usage"]["input_tokens"] = input_tokens;
  return {ojson{{"type", "message_start"}, {"message", msg_}}};
}

void MessageBuilder::open(Kind k, std::vector<ojson>& ev, const StreamDelta::ToolDelta* call) {
  close(ev);
  ojson block;
  if (k == Kind::kThinking) block = ojson{{"type", "thinking"}, {"thinking", ""}, {"signature", ""}};
  else if (k == Kind::kText) block = ojson{{"type", "text"}, {"text", ""}};
  else block = ojson{{"type", "tool_use"}, {"id", tool_use_id(call->id)}, {"name", sanitize_utf8(call->name)}, {"input", ojson::object()}};
  cur_ = k;
  cur_index_ = static_cast<int>(msg_["content"].size());
  ev.push_back(ojson{{"type", "content_block_start"}, {"index", cur_index_}, {"content_block", block}});
  msg_["content"].push_back(std::move(block));
}

void MessageBuilder::close(std::vector<ojson>& ev) {
  if (cur_ == Kind::kNone) return;
  ev.push_back(ojson{{"type", "content_block_stop"}, {"index", cur_index_}});
  cur_ = Kind::kNone;
  cur_index_ = -1;
}

std::vector<MessageBuilder::ojson> MessageBuilder::add(const StreamDelta& d) {
  std::vector<ojson> ev;
  auto delta = [&](const char* type, const char* key, const std::string& s) {
    ojson& block = msg_["content"][cur_index_];
    block[key] = block[key].get<std::string>() + s;
    ev.push_back(ojson{{"type", "content_block_delta"}, {"index", cur_index_}, {"delta", {{"type", type}, {key, s}}}});
  };
  if (!d.reasoning.empty()) {
    if (cur_ != Kind::kThinking) open(Kind::kThinking, ev);
    delta("thinking_delta", "thinking", sanitize_utf8(d.reasoning));
  }
  if (!d.content.empty()) {
    const std::string s = sanitize_utf8(d.content);
    if (cur_ == Kind::kText) {
      delta("text_delta", "text", s);
    } else if (s.find_first_not_of(" \t\r\n") == std::string::npos) {
      pending_ws_ += s;  // a text block is opened by its first visible character
    } else {
      open(Kind::kText, ev);
      delta("text_delta", "text", pending_ws_ + s);
      pending_ws_.clear();
    }
  }
  for (const StreamDelta::ToolDelta& t : d.tool_calls) {
    if (t.index < 0 || t.index > 1024) continue;
    if (t.index >= (int)call_block_.size()) {
      call_block_.resize(t.index + 1, -1);
      call_args_.resize(t.index + 1);
    }
    if (call_block_[t.index] < 0) {
      open(Kind::kToolUse, ev, &t);
      call_block_[t.index] = cur_index_;
    }
    if (t.arguments.empty()) continue;
    const std::string s = sanitize_utf8(t.arguments);
    std::string& args = call_args_[t.index];
    args += s;
    const int bi = call_block_[t.index];
    // The final block carries the parsed input; one that does not parse (cut short) stays {}.
    const ojson in = ojson::parse(args, nullptr, false);
    if (!in.is_discarded() && in.is_object()) msg_["content"][bi]["input"] = in;
    ev.push_back(ojson{{"type", "content_block_delta"}, {"index", bi}, {"delta", {{"type", "input_json_delta"}, {"partial_json", s}}}});
  }
  return ev;
}

std::vector<MessageBuilder::ojson> MessageBuilder::finish(const std::string& stop_reason, const std::string& stop_sequence,
                                                          const Usage& u) {
  std::vector<ojson> ev;
  if (msg_["content"].empty() && !pending_ws_.empty()) {  // only whitespace: still the answer
    open(Kind::kText, ev);
    StreamDelta d;
    d.content.swap(pending_ws_);
    msg_["content"][cur_index_]["text"] = d.content;
    ev.push_back(ojson{{"type", "content_block_delta"}, {"index", cur_index_}, {"delta", {{"type", "text_delta"}, {"text", d.content}}}});
  }
  close(ev);
  msg_["stop_reason"] = stop_reason;
  msg_["stop_sequence"] = stop_sequence.empty() ? ojson(nullptr) : ojson(sanitize_utf8(stop_sequence));
  // Anthropic counts cached prompt tokens apart: input_tokens are the ones computed anew.
  ojson us{{"input_tokens", std::max<int64_t>(0, u.prompt_tokens - u.cached_tokens)}, {"output_tokens", u.completion_tokens},
           {"cache_creation_input_tokens", 0}, {"cache_read_input_tokens", u.cached_tokens}};
  msg_["usage"] = us;
  ev.push_back(ojson{{"type", "message_delta"},
                     {"delta", {{"stop_reason", stop_reason}, {"stop_sequence", msg_["stop_sequence"]}}},
                     {"usage", us}});
  ev.push_back(ojson{{"type", "message_stop"}});
  return ev;
}

std::vector<MessageBuilder::ojson> MessageBuilder::fail(const std::string& message) {
  return {ojson{{"type", "error"}, {"error", {{"type", "api_error"}, {"message", sanitize_utf8(message)}}}}};
}

}  // namespace moecat::api
