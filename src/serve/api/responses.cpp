// parse_responses_request: a Responses body -> a chat-completions body (validated here in the
// Responses shape, then once more by parse_request, whose error params are mapped back) ->
// ChatRequest. ResponseBuilder: chat deltas -> output items and typed SSE events.
#include "serve/api/responses.h"

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
  if (!v || !v->is_string()) bad(param, w + "." + k + " must be a string");
  return v->get<std::string>();
}

// Content: a string, or parts of type input_text / output_text (text) or refusal.
std::string content_text(const ojson& c, const std::string& param, const std::string& w) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad(param, w + " must be a string or an array of content parts");
  std::string out;
  for (size_t k = 0; k < c.size(); ++k) {
    const ojson& part = c[k];
    const std::string pw = w + "[" + std::to_string(k) + "]";
    if (!part.is_object()) bad(param, pw + " must be an object");
    const std::string t = need_string(part, "type", param, pw);
    if (t == "input_text" || t == "output_text" || t == "text") out += need_string(part, "text", param, pw);
    else if (t == "refusal") out += need_string(part, "refusal", param, pw);
    else if (t == "input_image" || t == "input_file" || t == "input_audio")
      bad(param, pw + ": content part type " + quote(t) + " is not supported (text only)");
    else bad(param, pw + ": unknown content part type " + quote(t));
  }
  return out;
}

// input (string or items) -> chat messages. function_call items join the assistant message
// before them (one message with content and tool_calls, as chat templates expect);
// reasoning items become the next assistant message's reasoning_content.
ojson translate_input(const ojson& in, const RequestLimits& lim) {
  ojson msgs = ojson::array();
  if (in.is_string()) {
    msgs.push_back(ojson{{"role", "user"}, {"content", in.get<std::string>()}});
    return msgs;
  }
  if (!in.is_array()) bad("input", "input must be a string or an array of input items");
  if (in.empty()) bad("input", "input must not be empty");
  if (in.size() > static_cast<size_t>(lim.max_messages))
    bad("input", "too many input items (" + std::to_string(in.size()) + " > " + std::to_string(lim.max_messages) + ")");
  std::string reasoning;
  bool have_reasoning = false;
  auto assistant = [&]() -> ojson& {
    if (msgs.empty() || msgs.back()["role"] != "assistant")
      msgs.push_back(ojson{{"role", "assistant"}, {"content", nullptr}});
    ojson& m = msgs.back();
    if (have_reasoning) {
      m["reasoning_content"] = reasoning;
      reasoning.clear();
      have_reasoning = false;
    }
    return m;
  };
  static const std::set<std::string> kRoles = {"user", "assistant", "system", "developer"};
  for (size_t i = 0; i < in.size(); ++i) {
    const ojson& it = in[i];
    const std::string w = "input[" + std::to_string(i) + "]";
    if (!it.is_object()) bad("input", w + " must be an object");
    std::string type = "message";
    if (const ojson* t = field(it, "type")) {
      if (!t->is_string()) bad("input", w + ".type must be a string");
      type = t->get<std::string>();
    }
    if (type == "message") {
      const std::string role = need_string(it, "role", "input", w);
      if (!kRoles.count(role))
        bad("input", w + ".role: unknown role " + quote(role) + " (expected user, assistant, system or developer)");
      const ojson* c = field(it, "content");
      if (!c) bad("input", w + ".content is required");
      std::string text = content_text(*c, "input", w + ".content");
      if (role == "assistant") {
        ojson& m = assistant();
        if (m.contains("tool_calls")) {  // text after calls: a new message
          msgs.push_back(ojson{{"role", "assistant"}, {"content", std::move(text)}});
        } else {
          m["content"] = m["content"].is_string() ? m["content"].get<std::string>() + text : text;
        }
      } else {
        msgs.push_back(ojson{{"role", role}, {"content", std::move(text)}});
      }
    } else if (type == "function_call") {
      const std::string call_id = need_string(it, "call_id", "input", w);
      if (call_id.empty()) bad("input", w + ".call_id must not be empty");
      const std::string name = need_string(it, "name", "input", w);
      const ojson* a = field(it, "arguments");
      if (!a || !(a->is_string() || a->is_object())) bad("input", w + ".arguments must be a string (JSON text)");
      ojson call{{"id", call_id}, {"type", "function"},
                 {"function", {{"name", name}, {"arguments", a->is_string() ? a->get<std::string>() : a->dump()}}}};
      ojson& m = assistant();
      if (!m.contains("tool_calls")) m["tool_calls"] = ojson::array();
      m["tool_calls"].push_back(std::move(call));
    } else if (type == "function_call_output") {
      const std::string call_id = need_string(it, "call_id", "input", w);
      const ojson* o = field(it, "output");
      if (!o) bad("input", w + ".output is required");
      msgs.push_back(ojson{{"role", "tool"}, {"tool_call_id", call_id},
                           {"content", content_text(*o, "input", w + ".output")}});
    } else if (type == "reasoning") {
      // Kept as the next assistant turn's reasoning_content (templates decide whether to show it).
      for (const char* k : {"content", "summary"}) {
        const ojson* parts = field(it, k);
        if (!parts) continue;
        if (!parts->is_array()) bad("input", w + "." + k + " must be an array");
        for (size_t p = 0; p < parts->size(); ++p) {
          const ojson& part = (*parts)[p];
          const std::string pw = w + "." + k + "[" + std::to_string(p) + "]";
          if (!part.is_object()) bad("input", pw + " must be an object");
          if (std::string(k) == "content") reasoning += need_string(part, "text", "input", pw);
        }
      }
      have_reasoning = true;
    } else if (type == "item_reference") {
      bad("input", w + ": item_reference is not supported (send the items, or use previous_response_id)");
    } else {
      bad("input", w + ": input item type " + quote(type) + " is not supported");
    }
  }
  if (msgs.empty()) bad("input", "input has no messages");
  return msgs;
}

ojson translate_tools(const ojson& v, const RequestLimits& lim) {
  if (!v.is_array()) bad("tools", "tools must be an array");
  if (v.size() > static_cast<size_t>(lim.max_tools))
    bad("tools", "too many tools (" + std::to_string(v.size()) + " > " + std::to_string(lim.max_tools) + ")");
  ojson out = ojson::array();
  for (size_t i = 0; i < v.size(); ++i) {
    const ojson& t = v[i];
    const std::string w = "tools[" + std::to_string(i) + "]";
    if (!t.is_object()) bad("tools", w + " must be an object");
    const std::string type = need_string(t, "type", "tools", w);
    if (type != "function") bad("tools", w + ": tool type " + quote(type) + " is not supported (function tools only)");
    const ojson* name = field(t, "name");
    if (!name || !name->is_string()) bad("tools", w + ".name must be a string");
    // The client's key order, as the same tool sent to chat/completions renders (templates
    // print tools with tojson: another order is another prompt).
    ojson fn = ojson::object();
    for (auto it = t.begin(); it != t.end(); ++it)
      if (it.key() == "name" || it.key() == "description" || it.key() == "parameters" || it.key() == "strict")
        fn[it.key()] = it.value();
    out.push_back(ojson{{"type", "function"}, {"function", std::move(fn)}});
  }
  return out;
}

ojson translate_tool_choice(const ojson& v) {
  if (v.is_string()) return v;
  if (!v.is_object()) bad("tool_choice", "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\"}");
  const std::string type = need_string(v, "type", "tool_choice", "tool_choice");
  if (type != "function") bad("tool_choice", "tool_choice type " + quote(type) + " is not supported (function only)");
  const ojson* name = field(v, "name");
  if (!name || !name->is_string()) bad("tool_choice", "tool_choice.name must be a string");
  return ojson{{"type", "function"}, {"function", {{"name", *name}}}};
}

ojson translate_text(const ojson& v, ResponsesRequest& r) {
  if (!v.is_object()) bad("text", "text must be an object");
  if (const ojson* vb = field(v, "verbosity"); vb && !vb->is_string()) bad("text.verbosity", "text.verbosity must be a string");
  const ojson* f = field(v, "format");
  if (!f) return nullptr;
  const std::string p = "text.format";
  if (!f->is_object()) bad(p, "text.format must be an object");
  const std::string type = need_string(*f, "type", p, p);
  r.text_format = *f;
  if (type == "text") return nullptr;
  if (type == "json_object") return ojson{{"type", "json_object"}};
  if (type != "json_schema") bad(p, "text.format.type must be \"text\", \"json_object\" or \"json_schema\"");
  const std::string name = need_string(*f, "name", p, p);
  const ojson* schema = field(*f, "schema");
  if (!schema || !schema->is_object()) bad(p, "text.format.schema must be an object");
  ojson js{{"name", name}, {"schema", *schema}};
  if (const ojson* s = field(*f, "strict")) {
    if (!s->is_boolean()) bad(p, "text.format.strict must be a boolean");
    js["strict"] = *s;
  }
  if (const ojson* d = field(*f, "description"); d && !d->is_string()) bad(p, "text.format.description must be a string");
  return ojson{{"type", "json_schema"}, {"json_schema", std::move(js)}};
}

ResponsesRequest parse_body(std::string_view body, const RequestLimits& lim) {
  if (json_nesting_depth(body, lim.max_json_depth) > lim.max_json_depth)
    bad("", "invalid JSON: nesting deeper than " + std::to_string(lim.max_json_depth) + " levels");
  ojson j = ojson::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) bad("", "invalid JSON in request body");
  if (!j.is_object()) bad("", "request body must be a JSON object");

  ResponsesRequest r;
  r.instructions = nullptr;
  r.tools = ojson::array();
  r.tool_choice = "auto";
  r.text_format = ojson{{"type", "text"}};
  r.metadata = ojson::object();
  r.reasoning = ojson{{"effort", nullptr}, {"summary", nullptr}};

  for (const char* k : {"background", "conversation", "prompt"})
    if (const ojson* v = field(j, k); v && !(v->is_boolean() && !v->get<bool>()))
      bad(k, std::string(k) + " is not supported by this server" +
                 (std::string(k) == "conversation" ? " (use previous_response_id)" : ""));

  ojson chat = ojson::object();
  if (const ojson* v = field(j, "model")) chat["model"] = *v;
  const ojson* input = field(j, "input");
  if (!input) bad("input", "input is required");
  r.input_messages = translate_input(*input, lim);
  ojson msgs = ojson::array();
  if (const ojson* v = field(j, "instructions")) {
    if (!v->is_string()) bad("instructions", "instructions must be a string");
    r.instructions = *v;
    msgs.push_back(ojson{{"role", "system"}, {"content", *v}});
  }
  for (const ojson& m : r.input_messages) msgs.push_back(m);
  chat["messages"] = std::move(msgs);

  if (const ojson* v = field(j, "tools")) {
    chat["tools"] = translate_tools(*v, lim);
    r.tools = *v;
  }
  if (const ojson* v = field(j, "tool_choice")) {
    chat["tool_choice"] = translate_tool_choice(*v);
    r.tool_choice = *v;
  }
  if (const ojson* v = field(j, "text"))
    if (ojson rf = translate_text(*v, r); !rf.is_null()) chat["response_format"] = std::move(rf);
  if (const ojson* v = field(j, "max_output_tokens")) chat["max_tokens"] = *v;
  for (const char* k : {"temperature", "top_p", "seed", "user", "stream", "chat_template_kwargs"})
    if (const ojson* v = field(j, k)) chat[k] = *v;
  if (const ojson* v = field(j, "store")) {
    if (!v->is_boolean()) bad("store", "store must be a boolean");
    r.store = v->get<bool>();
  }
  if (const ojson* v = field(j, "parallel_tool_calls")) {
    if (!v->is_boolean()) bad("parallel_tool_calls", "parallel_tool_calls must be a boolean");
    r.parallel_tool_calls = v->get<bool>();
    chat["parallel_tool_calls"] = *v;
  }
  if (const ojson* v = field(j, "previous_response_id")) {
    if (!v->is_string() || v->get<std::string>().empty())
      bad("previous_response_id", "previous_response_id must be a non-empty string");
    r.previous_response_id = v->get<std::string>();
  }
  if (const ojson* v = field(j, "metadata")) {
    if (!v->is_object() || v->size() > 16) bad("metadata", "metadata must be an object of at most 16 string values");
    for (const auto& [k, x] : v->items())
      if (!x.is_string() || k.size() > 64 || x.get<std::string>().size() > 512)
        bad("metadata", "metadata values must be strings (keys up to 64, values up to 512 characters)");
    r.metadata = *v;
  }
  if (const ojson* v = field(j, "reasoning")) {
    if (!v->is_object()) bad("reasoning", "reasoning must be an object");
    for (const char* k : {"effort", "summary", "generate_summary"})
      if (const ojson* x = field(*v, k)) {
        if (!x->is_string()) bad("reasoning", std::string("reasoning.") + k + " must be a string");
        if (std::string(k) != "generate_summary") r.reasoning[k] = *x;
      }
  }
  if (const ojson* v = field(j, "truncation"); v && !(v->is_string() && (*v == "auto" || *v == "disabled")))
    bad("truncation", "truncation must be \"auto\" or \"disabled\"");
  if (const ojson* v = field(j, "include"); v && !v->is_array()) bad("include", "include must be an array");
  if (const ojson* v = field(j, "stream_options"); v && !v->is_object()) bad("stream_options", "stream_options must be an object");

  auto parsed = parse_request(chat.dump(-1, ' ', false, ojson::error_handler_t::replace), true, lim);
  if (auto* e = std::get_if<ApiError>(&parsed)) {
    ApiError m = *e;
    if (m.param == "messages") m.param = "input";
    else if (m.param == "response_format") m.param = "text.format";
    else if (m.param == "max_tokens") {
      m.param = "max_output_tokens";
      if (size_t p = m.message.find("max_tokens"); p != std::string::npos) m.message.replace(p, 10, "max_output_tokens");
    }
    throw m;
  }
  r.chat = std::move(std::get<ChatRequest>(parsed));
  r.max_output_tokens = r.chat.max_tokens;
  return r;
}

}  // namespace

std::variant<ResponsesRequest, ApiError> parse_responses_request(std::string_view body, const RequestLimits& lim) {
  try {
    return parse_body(body, lim);
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

ojson responses_chat_messages(const ResponsesRequest& r, const ojson& history) {
  ojson msgs = ojson::array();
  if (r.instructions.is_string()) msgs.push_back(ojson{{"role", "system"}, {"content", r.instructions}});
  if (history.is_array())
    for (const ojson& m : history) msgs.push_back(m);
  for (const ojson& m : r.input_messages) msgs.push_back(m);
  return msgs;
}

// ---- output ---------------------------------------------------------------------------------

ResponseBuilder::ResponseBuilder(const ResponsesRequest& r, std::string id, int64_t created_at, std::string model)
    : id_(sanitize_utf8(id)) {
  resp_["id"] = id_;
  resp_["object"] = "response";
  resp_["created_at"] = created_at;
  resp_["status"] = "in_progress";
  resp_["background"] = false;
  resp_["error"] = nullptr;
  resp_["incomplete_details"] = nullptr;
  resp_["instructions"] = r.instructions;
  resp_["max_output_tokens"] = r.max_output_tokens > 0 ? ojson(r.max_output_tokens) : ojson(nullptr);
  resp_["model"] = sanitize_utf8(model);
  resp_["output"] = ojson::array();
  resp_["parallel_tool_calls"] = r.parallel_tool_calls;
  resp_["previous_response_id"] = r.previous_response_id.empty() ? ojson(nullptr) : ojson(r.previous_response_id);
  resp_["reasoning"] = r.reasoning;
  resp_["store"] = r.store;
  resp_["temperature"] = r.chat.temperature;
  resp_["text"] = ojson{{"format", r.text_format}};
  resp_["tool_choice"] = r.tool_choice;
  resp_["tools"] = r.tools;
  resp_["top_p"] = r.chat.top_p;
  resp_["truncation"] = "disabled";
  resp_["usage"] = nullptr;
  resp_["user"] = r.chat.user.empty() ? ojson(nullptr) : ojson(r.chat.user);
  resp_["metadata"] = r.metadata;
}

ojson ResponseBuilder::event(const char* type) {
  ojson e;
  e["type"] = type;
  e["sequence_number"] = seq_++;
  return e;
}

std::string ResponseBuilder::item_id(const char* prefix) {
  // resp_<x> -> <prefix>_<x>_<n>: unique per response, stable for the stream and the final object.
  std::string tail = id_.size() > 5 ? id_.substr(5) : id_;
  return std::string(prefix) + "_" + tail + "_" + std::to_string(next_item_++);
}

std::vector<ojson> ResponseBuilder::start() {
  std::vector<ojson> ev;
  ojson c = event("response.created");
  c["response"] = resp_;
  ev.push_back(std::move(c));
  ojson p = event("response.in_progress");
  p["response"] = resp_;
  ev.push_back(std::move(p));
  return ev;
}

void ResponseBuilder::open(Kind k, std::vector<ojson>& ev, const StreamDelta::ToolDelta* call) {
  close(ev);
  ojson item;
  if (k == Kind::kReasoning) {
    item = ojson{{"id", item_id("rs")}, {"type", "reasoning"}, {"summary", ojson::array()}, {"content", ojson::array()},
                 {"status", "in_progress"}};
  } else if (k == Kind::kMessage) {
    item = ojson{{"id", item_id("msg")}, {"type", "message"}, {"role", "assistant"}, {"status", "in_progress"},
                 {"content", ojson::array()}};
  } else {
    item = ojson{{"id", item_id("fc")}, {"type", "function_call"}, {"status", "in_progress"},
                 {"call_id", sanitize_utf8(call->id)}, {"name", sanitize_utf8(call->name)}, {"arguments", ""}};
  }
  cur_ = k;
  cur_index_ = static_cast<int>(resp_["output"].size());
  ojson a = event("response.output_item.added");
  a["output_index"] = cur_index_;
  a["item"] = item;
  ev.push_back(std::move(a));
  resp_["output"].push_back(item);
  if (k == Kind::kCall) return;
  ojson part = k == Kind::kReasoning ? ojson{{"type", "reasoning_text"}, {"text", ""}}
                                     : ojson{{"type", "output_text"}, {"text", ""}, {"annotations", ojson::array()}, {"logprobs", ojson::array()}};
  ojson pa = event("response.content_part.added");
  pa["item_id"] = item["id"];
  pa["output_index"] = cur_index_;
  pa["content_index"] = 0;
  pa["part"] = part;
  ev.push_back(std::move(pa));
  resp_["output"][cur_index_]["content"].push_back(part);
}

void ResponseBuilder::close(std::vector<ojson>& ev) {
  if (cur_ == Kind::kNone) return;
  ojson& item = resp_["output"][cur_index_];
  const ojson id = item["id"];
  if (cur_ == Kind::kCall) {
    ojson d = event("response.function_call_arguments.done");
    d["item_id"] = id;
    d["output_index"] = cur_index_;
    d["name"] = item["name"];
    d["arguments"] = item["arguments"];
    ev.push_back(std::move(d));
  } else {
    const bool r = cur_ == Kind::kReasoning;
    ojson& part = item["content"][0];
    ojson d = event(r ? "response.reasoning_text.done" : "response.output_text.done");
    d["item_id"] = id;
    d["output_index"] = cur_index_;
    d["content_index"] = 0;
    d["text"] = part["text"];
    if (!r) d["logprobs"] = ojson::array();
    ev.push_back(std::move(d));
    ojson pd = event("response.content_part.done");
    pd["item_id"] = id;
    pd["output_index"] = cur_index_;
    pd["content_index"] = 0;
    pd["part"] = part;
    ev.push_back(std::move(pd));
  }
  item["status"] = "completed";
  ojson od = event("response.output_item.done");
  od["output_index"] = cur_index_;
  od["item"] = item;
  ev.push_back(std::move(od));
  cur_ = Kind::kNone;
  cur_index_ = -1;
}

std::vector<ojson> ResponseBuilder::add(const StreamDelta& d) {
  std::vector<ojson> ev;
  auto text_delta = [&](const std::string& s, bool reasoning) {
    ojson& part = resp_["output"][cur_index_]["content"][0];
    part["text"] = part["text"].get<std::string>() + s;
    ojson e = event(reasoning ? "response.reasoning_text.delta" : "response.output_text.delta");
    e["item_id"] = resp_["output"][cur_index_]["id"];
    e["output_index"] = cur_index_;
    e["content_index"] = 0;
    e["delta"] = s;
    if (!reasoning) e["logprobs"] = ojson::array();
    ev.push_back(std::move(e));
  };
  if (!d.reasoning.empty()) {
    const std::string s = sanitize_utf8(d.reasoning);
    reasoning_ += s;
    if (cur_ != Kind::kReasoning) open(Kind::kReasoning, ev);
    text_delta(s, true);
  }
  if (!d.content.empty()) {
    const std::string s = sanitize_utf8(d.content);
    content_ += s;
    if (cur_ == Kind::kMessage) {
      text_delta(s, false);
    } else if (s.find_first_not_of(" \t\r\n") == std::string::npos) {
      pending_ws_ += s;  // a message is opened by its first visible character
    } else {
      open(Kind::kMessage, ev);
      text_delta(pending_ws_ + s, false);
      pending_ws_.clear();
    }
  }
  for (const StreamDelta::ToolDelta& t : d.tool_calls) {
    if (t.index < 0 || t.index > 1024) continue;
    if (t.index >= (int)calls_.size()) {
      calls_.resize(t.index + 1);
      call_item_.resize(t.index + 1, -1);
    }
    ToolCall& c = calls_[t.index];
    if (!t.id.empty()) c.id = t.id;
    if (!t.name.empty()) c.name = t.name;
    c.arguments += t.arguments;
    if (call_item_[t.index] < 0) {
      StreamDelta::ToolDelta first = t;
      first.id = c.id;
      first.name = c.name;
      open(Kind::kCall, ev, &first);
      call_item_[t.index] = cur_index_;
    }
    const int oi = call_item_[t.index];
    if (t.arguments.empty()) continue;
    const std::string s = sanitize_utf8(t.arguments);
    ojson& item = resp_["output"][oi];
    item["arguments"] = item["arguments"].get<std::string>() + s;
    ojson e = event("response.function_call_arguments.delta");
    e["item_id"] = item["id"];
    e["output_index"] = oi;
    e["delta"] = s;
    ev.push_back(std::move(e));
  }
  return ev;
}

std::vector<ojson> ResponseBuilder::finish(const std::string& finish_reason, const Usage& u, int64_t reasoning_tokens) {
  std::vector<ojson> ev;
  // Only whitespace, or nothing at all: still one (possibly empty) message when there is no other answer.
  bool has_answer = false;
  for (const ojson& it : resp_["output"]) has_answer = has_answer || it["type"] != "reasoning";
  if (!has_answer) {
    open(Kind::kMessage, ev);
    if (!pending_ws_.empty()) {
      StreamDelta d;
      d.content = pending_ws_;
      pending_ws_.clear();
      content_.resize(content_.size() - d.content.size());  // add() counts it again
      for (ojson& e : add(d)) ev.push_back(std::move(e));
    }
  }
  close(ev);
  const bool incomplete = finish_reason == "length";
  resp_["status"] = incomplete ? "incomplete" : "completed";
  if (incomplete) resp_["incomplete_details"] = ojson{{"reason", "max_output_tokens"}};
  ojson us;
  us["input_tokens"] = u.prompt_tokens;
  us["input_tokens_details"] = ojson{{"cached_tokens", u.cached_tokens}};
  us["output_tokens"] = u.completion_tokens;
  us["output_tokens_details"] = ojson{{"reasoning_tokens", reasoning_tokens}};
  us["total_tokens"] = u.prompt_tokens + u.completion_tokens;
  resp_["usage"] = std::move(us);
  ojson e = event(incomplete ? "response.incomplete" : "response.completed");
  e["response"] = resp_;
  ev.push_back(std::move(e));
  return ev;
}

std::vector<ojson> ResponseBuilder::fail(const std::string& message) {
  std::vector<ojson> ev;
  resp_["status"] = "failed";
  resp_["error"] = ojson{{"code", "server_error"}, {"message", sanitize_utf8(message)}};
  ojson f = event("response.failed");
  f["response"] = resp_;
  ev.push_back(std::move(f));
  ojson e = event("error");
  e["code"] = "server_error";
  e["message"] = sanitize_utf8(message);
  e["param"] = nullptr;
  // The openai clients raise an APIError for SSE data that carries an "error" member.
  e["error"] = ojson{{"message", sanitize_utf8(message)}, {"type", "server_error"}, {"param", nullptr}, {"code", "server_error"}};
  ev.push_back(std::move(e));
  return ev;
}

ojson ResponseBuilder::output_messages() const {
  ojson m{{"role", "assistant"}};
  m["content"] = content_.empty() && !calls_.empty() ? ojson(nullptr) : ojson(content_);
  if (!reasoning_.empty()) m["reasoning_content"] = reasoning_;
  ojson tcs = ojson::array();
  for (const ToolCall& c : calls_) {
    if (c.name.empty()) continue;
    tcs.push_back(ojson{{"id", sanitize_utf8(c.id)}, {"type", "function"},
                        {"function", {{"name", sanitize_utf8(c.name)}, {"arguments", sanitize_utf8(c.arguments)}}}});
  }
  if (!tcs.empty()) m["tool_calls"] = std::move(tcs);
  return ojson::array({m});
}

std::string sse_event(const ojson& ev) {
  const std::string type = ev.contains("type") && ev["type"].is_string() ? ev["type"].get<std::string>() : "message";
  return "event: " + type + "\ndata: " + dump_json(ev) + "\n\n";
}

}  // namespace moecat::api
