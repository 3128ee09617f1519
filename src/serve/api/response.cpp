// Response / chunk / error / models JSON. Token text from the model can be any bytes (a token
// may end inside a UTF-8 sequence), and nlohmann's dump() throws on invalid UTF-8, so every
// string is passed through sanitize_utf8 here when it enters the JSON value; the raw bytes
// stay available in the "bytes" arrays. dump_json is the throw-free serialiser on top.
#include <cmath>
#include <string>

#include "serve/api/openai.h"

namespace moecat::api {

std::string sanitize_utf8(std::string_view s) {
  static const char kRepl[] = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) { out += static_cast<char>(c); ++i; continue; }
    int len = 0;
    uint32_t cp = 0, min = 0;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; min = 0x10000; }
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (cc & 0x3F);
    }
    // overlong, UTF-16 surrogate, or beyond Unicode
    if (ok && (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)) ok = false;
    if (ok) { out.append(s.data() + i, len); i += len; }
    else { out += kRepl; ++i; }  // one U+FFFD per bad byte, resync on the next
  }
  return out;
}

std::string dump_json(const nlohmann::ordered_json& j) {
  try {
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  } catch (const nlohmann::json::exception&) {
    // Unreachable with the replace handler; still never let it reach the HTTP layer.
    return R"({"error":{"message":"internal error: response not serialisable","type":"server_error","param":null,"code":null}})";
  }
}

namespace {

using ojson = nlohmann::ordered_json;

// -inf (a token the sampler excluded) is not representable in JSON (dump writes null);
// OpenAI reports such tokens as -9999.0, so do the same.
double finite_lp(float lp) { return std::isfinite(lp) ? static_cast<double>(lp) : -9999.0; }

ojson bytes_of(const std::string& s) {
  ojson a = ojson::array();
  for (unsigned char c : s) a.push_back(static_cast<int>(c));
  return a;
}

ojson chat_logprobs(const std::vector<TokenLogprob>& lps) {
  ojson content = ojson::array();
  for (const auto& t : lps) {
    ojson e;
    e["token"] = sanitize_utf8(t.token);
    e["logprob"] = finite_lp(t.logprob);
    e["bytes"] = bytes_of(t.token);
    ojson top = ojson::array();
    for (const auto& [tok, lp] : t.top) {
      ojson a;
      a["token"] = sanitize_utf8(tok);
      a["logprob"] = finite_lp(lp);
      a["bytes"] = bytes_of(tok);
      top.push_back(std::move(a));
    }
    e["top_logprobs"] = std::move(top);
    content.push_back(std::move(e));
  }
  ojson o;
  o["content"] = std::move(content);
  return o;
}

// Legacy completions logprobs. text_offset: byte offset of each token within the completion
// text (starting at `offset0`), counted on the raw token bytes.
ojson completion_logprobs(const std::vector<TokenLogprob>& lps, int64_t offset0) {
  ojson tokens = ojson::array(), token_lps = ojson::array(), tops = ojson::array(), offs = ojson::array();
  int64_t off = offset0;
  for (const auto& t : lps) {
    tokens.push_back(sanitize_utf8(t.token));
    token_lps.push_back(finite_lp(t.logprob));
    ojson top = ojson::object();
    for (const auto& [tok, lp] : t.top) top[sanitize_utf8(tok)] = finite_lp(lp);
    tops.push_back(std::move(top));
    offs.push_back(off);
    off += static_cast<int64_t>(t.token.size());
  }
  ojson o;
  o["tokens"] = std::move(tokens);
  o["token_logprobs"] = std::move(token_lps);
  o["top_logprobs"] = std::move(tops);
  o["text_offset"] = std::move(offs);
  return o;
}

ojson usage_json(const Usage& u) {
  ojson o;
  o["prompt_tokens"] = u.prompt_tokens;
  o["completion_tokens"] = u.completion_tokens;
  o["total_tokens"] = u.prompt_tokens + u.completion_tokens;
  o["prompt_tokens_details"] = ojson{{"cached_tokens", u.cached_tokens}};
  return o;
}

ojson header(const ChatRequest& r, const std::string& id, int64_t created, const char* object) {
  ojson o;
  o["id"] = sanitize_utf8(id);
  o["object"] = object;
  o["created"] = created;
  o["model"] = sanitize_utf8(r.model);
  return o;
}

ojson str_or_null(const std::string& s) { return s.empty() ? ojson(nullptr) : ojson(sanitize_utf8(s)); }

}  // namespace

std::string error_json(const ApiError& e) {
  ojson err;
  err["message"] = sanitize_utf8(e.message);
  err["type"] = sanitize_utf8(e.type);
  err["param"] = str_or_null(e.param);
  err["code"] = str_or_null(e.code);
  ojson o;
  o["error"] = std::move(err);
  return dump_json(o);
}

ojson completion_json(const ChatRequest& r, const std::string& id, int64_t created,
                      const std::vector<Choice>& choices, const Usage& u) {
  ojson o = header(r, id, created, r.chat ? "chat.completion" : "text_completion");
  ojson cs = ojson::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const Choice& c = choices[i];
    ojson ch;
    ch["index"] = static_cast<int64_t>(i);
    if (r.chat) {
      ojson msg;
      msg["role"] = "assistant";
      // OpenAI: content is null for a pure tool-call turn, otherwise a (possibly empty) string.
      msg["content"] = (c.content.empty() && !c.tool_calls.empty()) ? ojson(nullptr) : ojson(sanitize_utf8(c.content));
      if (!c.reasoning.empty()) msg["reasoning_content"] = sanitize_utf8(c.reasoning);
      if (!c.tool_calls.empty()) {
        ojson tcs = ojson::array();
        for (const auto& tc : c.tool_calls) {
          ojson t;
          t["id"] = sanitize_utf8(tc.id);
          t["type"] = "function";
          t["function"] = ojson{{"name", sanitize_utf8(tc.name)}, {"arguments", sanitize_utf8(tc.arguments)}};
          tcs.push_back(std::move(t));
        }
        msg["tool_calls"] = std::move(tcs);
      }
      ch["message"] = std::move(msg);
      ch["logprobs"] = r.logprobs ? chat_logprobs(c.logprobs) : ojson(nullptr);
    } else {
      ch["text"] = sanitize_utf8(c.content);
      ch["logprobs"] = r.logprobs ? completion_logprobs(c.logprobs, 0) : ojson(nullptr);
    }
    ch["finish_reason"] = str_or_null(c.finish_reason);
    cs.push_back(std::move(ch));
  }
  o["choices"] = std::move(cs);
  o["usage"] = usage_json(u);
  return o;
}

ojson chunk_json(const ChatRequest& r, const std::string& id, int64_t created, const StreamDelta& d) {
  ojson o = header(r, id, created, r.chat ? "chat.completion.chunk" : "text_completion");
  ojson ch;
  ch["index"] = d.index;
  if (r.chat) {
    ojson delta = ojson::object();
    if (d.first) {
      delta["role"] = "assistant";
      // The first chunk carries "content" even when empty (null before a tool call), as OpenAI does.
      delta["content"] = (d.content.empty() && !d.tool_calls.empty()) ? ojson(nullptr) : ojson(sanitize_utf8(d.content));
    } else if (!d.content.empty()) {
      delta["content"] = sanitize_utf8(d.content);
    }
    if (!d.reasoning.empty()) delta["reasoning_content"] = sanitize_utf8(d.reasoning);
    if (!d.tool_calls.empty()) {
      ojson tcs = ojson::array();
      for (const auto& t : d.tool_calls) {
        ojson tc;
        tc["index"] = t.index;
        // id/type/name only on the call's first delta; later deltas stream arguments only.
        if (!t.id.empty()) {
          tc["id"] = sanitize_utf8(t.id);
          tc["type"] = "function";
        }
        ojson fn = ojson::object();
        if (!t.name.empty()) fn["name"] = sanitize_utf8(t.name);
        fn["arguments"] = sanitize_utf8(t.arguments);
        tc["function"] = std::move(fn);
        tcs.push_back(std::move(tc));
      }
      delta["tool_calls"] = std::move(tcs);
    }
    ch["delta"] = std::move(delta);
    ch["logprobs"] = (r.logprobs && !d.logprobs.empty()) ? chat_logprobs(d.logprobs) : ojson(nullptr);
  } else {
    ch["text"] = sanitize_utf8(d.content);
    ch["logprobs"] = (r.logprobs && !d.logprobs.empty()) ? completion_logprobs(d.logprobs, d.text_offset) : ojson(nullptr);
  }
  ch["finish_reason"] = str_or_null(d.finish_reason);
  o["choices"] = ojson::array({std::move(ch)});
  return o;
}

ojson usage_chunk_json(const ChatRequest& r, const std::string& id, int64_t created, const Usage& u) {
  ojson o = header(r, id, created, r.chat ? "chat.completion.chunk" : "text_completion");
  o["choices"] = ojson::array();
  o["usage"] = usage_json(u);
  return o;
}

ojson models_json(const std::string& model_id, int64_t created) {
  ojson m;
  m["id"] = sanitize_utf8(model_id);
  m["object"] = "model";
  m["created"] = created;
  m["owned_by"] = "moecat";
  ojson o;
  o["object"] = "list";
  o["data"] = ojson::array({std::move(m)});
  return o;
}

// GET /props: what a client needs to open a chat the way `moecat run` does (llama-server has a
// /props too). Tools from the file's metadata that do not parse as an array are left out.
ojson props_json(const PropsInfo& p) {
  ojson o;
  o["model"] = sanitize_utf8(p.model_id);
  o["chat_format"] = p.chat_format;
  o["chat_template"] = sanitize_utf8(p.chat_template);
  o["n_ctx"] = p.n_ctx;
  o["total_slots"] = p.parallel;
  o["default_system_prompt"] = sanitize_utf8(p.default_system_prompt);
  ojson tools = ojson::parse(p.default_tools, nullptr, false);
  o["default_tools"] = !tools.is_discarded() && tools.is_array() ? tools : ojson::array();
  return o;
}

}  // namespace moecat::api
