// parse_request: the OpenAI chat-completions / completions request body -> ChatRequest.
// Validation failures are thrown internally as ApiError (one code path per field, no error
// plumbing) and caught at the single public boundary, together with every nlohmann exception,
// so no exception ever escapes parse_request.
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>

#include "serve/api/openai.h"

namespace moecat::api {
namespace {

using ojson = nlohmann::ordered_json;

[[noreturn]] void bad(const std::string& param, const std::string& msg) {
  ApiError e;
  e.http_status = 400;
  e.param = param;
  e.message = sanitize_utf8(msg);  // may echo raw body bytes (parse errors)
  throw e;
}

// A client-supplied string quoted in an error message: bounded so a 10 MB role name does not
// come back as a 10 MB error (cut at a code-point boundary; error_json sanitises anyway).
std::string quote(const std::string& s) {
  constexpr size_t kMax = 64;
  if (s.size() <= kMax) return "'" + s + "'";
  size_t n = kMax;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return "'" + s.substr(0, n) + "...'";
}

std::string quote_long(const std::string& s) {
  constexpr size_t kMax = 200;
  if (s.size() <= kMax) return s;
  size_t n = kMax;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "...";
}

// Deepest [ / { nesting, counted on the raw bytes (strings skipped) before nlohmann sees the
// body: its parser is iterative, but copies/dumps/compares of the result recurse, so a
// 100k-deep array must never become a json value. Returns early once over `limit`.
int scan_depth(std::string_view s, int limit) {
  int depth = 0, max_depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_str) {
      if (c == '\\') ++i;  // skip the escaped char (\" must not end the string)
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) max_depth = depth;
      if (max_depth > limit) return max_depth;
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    }
  }
  return max_depth;
}

// Member `k` of object `o`, or nullptr when absent or JSON null (clients send null for "not
// given"; OpenAI's own SDKs omit the key instead, both mean the default).
const ojson* field(const ojson& o, const char* k) {
  auto it = o.find(k);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string get_string(const ojson& v, const std::string& param, const std::string& what) {
  if (!v.is_string()) bad(param, what + " must be a string");
  return v.get<std::string>();
}

bool get_bool(const ojson& v, const std::string& param) {
  if (!v.is_boolean()) bad(param, param + " must be a boolean");
  return v.get<bool>();
}

// A finite number in [lo, hi] (integers accepted). `lo_open`: lo itself excluded.
// `what`: the name used in the message when it is more specific than `param`.
double get_number(const ojson& v, const std::string& param, double lo, double hi, bool lo_open = false,
                  std::string what = "") {
  if (what.empty()) what = param;
  if (!v.is_number()) bad(param, what + " must be a number");
  double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi || (lo_open && d == lo)) {
    char buf[128];
    snprintf(buf, sizeof buf, " must be in %s%g, %g]", lo_open ? "(" : "[", lo, hi);
    bad(param, what + buf);
  }
  return d;
}

// An integer in [lo, hi]. Integral doubles (e.g. 256.0 from JavaScript clients) are accepted;
// 1.5, 1e300, inf are not. Range is checked before any conversion (no UB on huge values).
int64_t get_int(const ojson& v, const std::string& param, int64_t lo, int64_t hi) {
  auto range = [&]() {
    bad(param, param + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  };
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (hi < 0 || u > static_cast<uint64_t>(hi) || static_cast<int64_t>(u) < lo) range();
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) range();
    return x;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) bad(param, param + " must be an integer");
    if (d < -9.0e18 || d > 9.0e18) range();
    int64_t x = static_cast<int64_t>(d);
    if (x < lo || x > hi) range();
    return x;
  }
  bad(param, param + " must be an integer");
}

std::string where(size_t i) { return "messages[" + std::to_string(i) + "]"; }

// Content: a string, or an array of parts whose text parts are concatenated (no separator, as
// the parts are fragments of one message). Non-text parts are a clear "unsupported".
std::string content_text(const ojson& c, const std::string& w) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad("messages", w + ".content must be a string, null or an array of content parts");
  std::string out;
  for (size_t k = 0; k < c.size(); ++k) {
    const ojson& part = c[k];
    std::string pw = w + ".content[" + std::to_string(k) + "]";
    if (!part.is_object()) bad("messages", pw + " must be an object");
    const ojson* type = field(part, "type");
    if (!type || !type->is_string()) bad("messages", pw + ".type must be a string");
    std::string t = type->get<std::string>();
    if (t == "text") {
      const ojson* text = field(part, "text");
      if (!text || !text->is_string()) bad("messages", pw + ".text must be a string");
      out += text->get<std::string>();
    } else if (t == "image_url" || t == "input_image" || t == "image" || t == "input_audio" ||
               t == "audio" || t == "file" || t == "video_url") {
      bad("messages", pw + ": content part type " + quote(t) + " is not supported (text only)");
    } else {
      bad("messages", pw + ": unknown content part type " + quote(t));
    }
  }
  return out;
}

ojson normalise_tool_calls(const ojson& tc, const std::string& w) {
  if (!tc.is_array()) bad("messages", w + ".tool_calls must be an array");
  ojson out = ojson::array();
  for (size_t k = 0; k < tc.size(); ++k) {
    const ojson& call = tc[k];
    std::string cw = w + ".tool_calls[" + std::to_string(k) + "]";
    if (!call.is_object()) bad("messages", cw + " must be an object");
    const ojson* id = field(call, "id");
    if (!id || !id->is_string()) bad("messages", cw + ".id must be a string");
    const ojson* type = field(call, "type");
    if (type && (!type->is_string() || type->get<std::string>() != "function"))
      bad("messages", cw + ".type must be \"function\"");
    const ojson* fn = field(call, "function");
    if (!fn || !fn->is_object()) bad("messages", cw + ".function must be an object");
    const ojson* name = field(*fn, "name");
    if (!name || !name->is_string() || name->get<std::string>().empty())
      bad("messages", cw + ".function.name must be a non-empty string");
    const ojson* args = field(*fn, "arguments");
    ojson c = call;
    c["type"] = "function";
    if (!args) {
      c["function"]["arguments"] = "{}";
    } else if (args->is_object()) {
      // Some clients echo the parsed object back; the template wants the JSON text.
      c["function"]["arguments"] = args->dump();
    } else if (!args->is_string()) {
      bad("messages", cw + ".function.arguments must be a string (JSON text)");
    }
    out.push_back(std::move(c));
  }
  return out;
}

ojson normalise_message(const ojson& m, size_t i) {
  const std::string w = where(i);
  if (!m.is_object()) bad("messages", w + " must be an object");
  const ojson* role_v = field(m, "role");
  if (!role_v || !role_v->is_string()) bad("messages", w + ".role must be a string");
  std::string role = role_v->get<std::string>();
  static const std::set<std::string> kRoles = {"system", "developer", "user", "assistant", "tool"};
  if (!kRoles.count(role))
    bad("messages", w + ".role: unknown role " + quote(role) +
                        " (expected system, developer, user, assistant or tool)");
  ojson out = m;
  // "developer" is OpenAI's newer name for system; chat templates only know "system".
  if (role == "developer") out["role"] = "system";

  bool has_tool_calls = false;
  if (m.contains("tool_calls")) {
    const ojson* tc = field(m, "tool_calls");
    if (tc && role != "assistant") bad("messages", w + ": only assistant messages may have tool_calls");
    if (tc) {
      ojson calls = normalise_tool_calls(*tc, w);
      has_tool_calls = !calls.empty();
      out["tool_calls"] = std::move(calls);
    }
    if (!has_tool_calls) out.erase("tool_calls");  // null / [] mean "none"
  }

  const ojson* content = field(m, "content");
  if (!content) {
    if (!(role == "assistant" && has_tool_calls)) bad("messages", w + ".content is required");
    out["content"] = nullptr;
  } else {
    out["content"] = content_text(*content, w);
  }

  if (role == "tool") {
    const ojson* id = field(m, "tool_call_id");
    if (!id || !id->is_string()) bad("messages", w + ".tool_call_id must be a string");
  }
  if (const ojson* name = field(m, "name"); name && !name->is_string())
    bad("messages", w + ".name must be a string");
  if (const ojson* rc = field(m, "reasoning_content"); rc && !rc->is_string())
    bad("messages", w + ".reasoning_content must be a string");
  return out;
}

bool valid_tool_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

ojson parse_tools(const ojson& v, const RequestLimits& lim) {
  if (!v.is_array()) bad("tools", "tools must be an array");
  if (v.size() > static_cast<size_t>(lim.max_tools))
    bad("tools", "too many tools (" + std::to_string(v.size()) + " > " + std::to_string(lim.max_tools) + ")");
  ojson out = ojson::array();
  std::set<std::string> names;
  for (size_t i = 0; i < v.size(); ++i) {
    const ojson& t = v[i];
    std::string w = "tools[" + std::to_string(i) + "]";
    if (!t.is_object()) bad("tools", w + " must be an object");
    const ojson* type = field(t, "type");
    if (!type || !type->is_string() || type->get<std::string>() != "function")
      bad("tools", w + ".type must be \"function\"");
    const ojson* fn = field(t, "function");
    if (!fn || !fn->is_object()) bad("tools", w + ".function must be an object");
    const ojson* name = field(*fn, "name");
    if (!name || !name->is_string()) bad("tools", w + ".function.name must be a string");
    std::string n = name->get<std::string>();
    if (!valid_tool_name(n))
      bad("tools", w + ".function.name " + quote(n) + " must match ^[a-zA-Z0-9_-]{1,64}$");
    if (!names.insert(n).second) bad("tools", w + ": duplicate function name " + quote(n));
    if (const ojson* d = field(*fn, "description"); d && !d->is_string())
      bad("tools", w + ".function.description must be a string");
    if (const ojson* p = field(*fn, "parameters"); p && !p->is_object())
      bad("tools", w + ".function.parameters must be an object (a JSON schema)");
    if (const ojson* s = field(*fn, "strict"); s && !s->is_boolean())
      bad("tools", w + ".function.strict must be a boolean");
    out.push_back(t);
  }
  return out;
}

void parse_tool_choice(const ojson& v, ChatRequest& r) {
  bool have_tools = !r.tools.empty();
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (s == "auto") r.tool_choice = ToolChoiceMode::kAuto;
    else if (s == "none") r.tool_choice = ToolChoiceMode::kNone;
    else if (s == "required") r.tool_choice = ToolChoiceMode::kRequired;
    else bad("tool_choice", "tool_choice must be \"auto\", \"none\", \"required\" or a function object");
    if (r.tool_choice == ToolChoiceMode::kRequired && !have_tools)
      bad("tool_choice", "tool_choice \"required\" needs a non-empty tools array");
    return;
  }
  if (!v.is_object()) bad("tool_choice", "tool_choice must be a string or an object");
  const ojson* type = field(v, "type");
  if (!type || !type->is_string() || type->get<std::string>() != "function")
    bad("tool_choice", "tool_choice.type must be \"function\"");
  const ojson* fn = field(v, "function");
  if (!fn || !fn->is_object()) bad("tool_choice", "tool_choice.function must be an object");
  const ojson* name = field(*fn, "name");
  if (!name || !name->is_string()) bad("tool_choice", "tool_choice.function.name must be a string");
  std::string n = name->get<std::string>();
  if (!have_tools) bad("tool_choice", "tool_choice names a function but no tools were given");
  bool found = false;
  for (const auto& t : r.tools) found = found || t["function"]["name"].get<std::string>() == n;
  if (!found) bad("tool_choice", "tool_choice names function " + quote(n) + " which is not in tools");
  r.tool_choice = ToolChoiceMode::kNamed;
  r.tool_choice_name = n;
}

void parse_response_format(const ojson& v, ChatRequest& r) {
  const std::string p = "response_format";
  if (!v.is_object()) bad(p, "response_format must be an object");
  const ojson* type = field(v, "type");
  if (!type || !type->is_string()) bad(p, "response_format.type must be a string");
  std::string t = type->get<std::string>();
  if (t == "text") {
    r.response_format = ResponseFormat::kText;
  } else if (t == "json_object") {
    r.response_format = ResponseFormat::kJsonObject;
    r.json_schema = nullptr;
  } else if (t == "json_schema") {
    const ojson* js = field(v, "json_schema");
    if (!js || !js->is_object()) bad(p, "response_format.json_schema must be an object");
    const ojson* name = field(*js, "name");
    if (!name || !name->is_string()) bad(p, "response_format.json_schema.name must be a string");
    const ojson* schema = field(*js, "schema");
    if (!schema || !schema->is_object()) bad(p, "response_format.json_schema.schema must be an object");
    if (const ojson* s = field(*js, "strict"); s && !s->is_boolean())
      bad(p, "response_format.json_schema.strict must be a boolean");
    r.response_format = ResponseFormat::kJsonSchema;
    r.json_schema_name = name->get<std::string>();
    // ordered -> plain json: round-trip through the text (same value, depth already bounded).
    r.json_schema = nlohmann::json::parse(schema->dump());
  } else {
    bad(p, "response_format.type must be \"text\", \"json_object\" or \"json_schema\"");
  }
}

void parse_stop(const ojson& v, ChatRequest& r, const RequestLimits& lim) {
  auto one = [&](const ojson& s) {
    if (!s.is_string()) bad("stop", "stop must be a string or an array of strings");
    std::string t = s.get<std::string>();
    if (t.empty() || t.size() > static_cast<size_t>(lim.max_stop_bytes))
      bad("stop", "each stop string must be 1.." + std::to_string(lim.max_stop_bytes) + " bytes");
    r.stop.push_back(std::move(t));
  };
  if (v.is_string()) return one(v);
  if (!v.is_array()) bad("stop", "stop must be a string or an array of strings");
  if (v.size() > static_cast<size_t>(lim.max_stop))
    bad("stop", "at most " + std::to_string(lim.max_stop) + " stop strings");
  for (const auto& s : v) one(s);
}

void parse_logit_bias(const ojson& v, ChatRequest& r, const RequestLimits& lim) {
  const std::string p = "logit_bias";
  if (!v.is_object()) bad(p, "logit_bias must be an object mapping token ids to numbers");
  if (v.size() > static_cast<size_t>(lim.max_logit_bias))
    bad(p, "at most " + std::to_string(lim.max_logit_bias) + " logit_bias entries");
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& k = it.key();
    // Plain decimal digits only ("+1", " 1", "1e3", "0x1" are not token ids); bounded length
    // so the accumulation cannot overflow.
    bool ok = !k.empty() && k.size() <= 10;
    int64_t id = 0;
    for (size_t i = 0; ok && i < k.size(); ++i) {
      char c = k[i];
      if (c < '0' || c > '9') { ok = false; break; }
      id = id * 10 + (c - '0');
    }
    if (!ok || id >= lim.n_vocab)
      bad(p, "logit_bias key " + quote(k) + " is not a token id in [0, " + std::to_string(lim.n_vocab) + ")");
    double b = get_number(it.value(), p, -100.0, 100.0, false, "logit_bias[" + quote(k) + "]");
    r.logit_bias[static_cast<int32_t>(id)] = static_cast<float>(b);
  }
}

ChatRequest parse_body(std::string_view body, bool chat, const RequestLimits& lim) {
  if (scan_depth(body, lim.max_json_depth) > lim.max_json_depth)
    bad("", "invalid JSON: nesting deeper than " + std::to_string(lim.max_json_depth) + " levels");
  ojson j;
  try {
    j = ojson::parse(body.begin(), body.end());
  } catch (const nlohmann::json::exception& e) {
    // parse_error names the line/column and the offending token; out_of_range.406 is a number
    // overflow such as 1e400 (JSON has no inf). Drop its "[json.exception...] " tag and bound the length (the token echo
    // can be as long as the body).
    std::string what = e.what();
    if (size_t p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    bad("", "invalid JSON in request body: " + quote_long(what));
  }
  if (!j.is_object()) bad("", "request body must be a JSON object");

  ChatRequest r;
  r.chat = chat;
  r.tools = ojson::array();
  r.messages = ojson::array();
  r.chat_template_kwargs = ojson::object();

  if (const ojson* v = field(j, "model")) r.model = get_string(*v, "model", "model");

  if (chat) {
    const ojson* msgs = field(j, "messages");
    if (!msgs) bad("messages", "messages is required");
    if (!msgs->is_array()) bad("messages", "messages must be an array");
    if (msgs->empty()) bad("messages", "messages must not be empty");
    if (msgs->size() > static_cast<size_t>(lim.max_messages))
      bad("messages", "too many messages (" + std::to_string(msgs->size()) + " > " +
                          std::to_string(lim.max_messages) + ")");
    for (size_t i = 0; i < msgs->size(); ++i) r.messages.push_back(normalise_message((*msgs)[i], i));
  } else {
    const ojson* p = field(j, "prompt");
    if (!p) bad("prompt", "prompt is required");
    if (p->is_string()) {
      r.prompt = p->get<std::string>();
    } else if (p->is_array()) {
      if (p->size() == 1 && (*p)[0].is_string()) r.prompt = (*p)[0].get<std::string>();
      else if (p->empty()) bad("prompt", "prompt must not be an empty array");
      else if ((*p)[0].is_number()) bad("prompt", "token-id prompts are not supported; send the prompt text");
      else bad("prompt", "prompt must be a string or an array of exactly one string (batches are not supported)");
    } else {
      bad("prompt", "prompt must be a string");
    }
  }

  if (chat) {
    if (const ojson* v = field(j, "tools")) r.tools = parse_tools(*v, lim);
    if (const ojson* v = field(j, "tool_choice")) parse_tool_choice(*v, r);
    if (const ojson* v = field(j, "parallel_tool_calls")) {
      if (!v->is_boolean()) bad("parallel_tool_calls", "parallel_tool_calls must be a boolean");
      r.parallel_tool_calls = v->get<bool>();
    }
    if (const ojson* v = field(j, "response_format")) parse_response_format(*v, r);
    if (const ojson* v = field(j, "chat_template_kwargs")) {
      if (!v->is_object()) bad("chat_template_kwargs", "chat_template_kwargs must be an object");
      r.chat_template_kwargs = *v;
    }
  }

  // max_completion_tokens is the newer name; it wins when both are sent (both are validated).
  for (const char* k : {"max_tokens", "max_completion_tokens"})
    if (const ojson* v = field(j, k)) r.max_tokens = get_int(*v, k, 1, lim.n_ctx);
  // The extensions vLLM and llama-server accept (benchmarks and tests use them for fixed lengths).
  if (const ojson* v = field(j, "min_tokens")) r.min_tokens = get_int(*v, "min_tokens", 0, lim.n_ctx);
  if (const ojson* v = field(j, "ignore_eos")) r.ignore_eos = get_bool(*v, "ignore_eos");
  if (r.max_tokens > 0 && r.min_tokens > r.max_tokens)
    bad("min_tokens", "min_tokens (" + std::to_string(r.min_tokens) + ") exceeds max_tokens (" +
                          std::to_string(r.max_tokens) + ")");

  if (const ojson* v = field(j, "temperature")) r.temperature = static_cast<float>(get_number(*v, "temperature", 0, 2));
  if (const ojson* v = field(j, "top_p")) r.top_p = static_cast<float>(get_number(*v, "top_p", 0, 1, /*lo_open=*/true));
  if (const ojson* v = field(j, "presence_penalty"))
    r.presence_penalty = static_cast<float>(get_number(*v, "presence_penalty", -2, 2));
  if (const ojson* v = field(j, "frequency_penalty"))
    r.frequency_penalty = static_cast<float>(get_number(*v, "frequency_penalty", -2, 2));
  if (const ojson* v = field(j, "seed")) {
    // Negative seeds are valid for OpenAI; map to uint64 by two's complement.
    if (v->is_number_unsigned()) r.seed = v->get<uint64_t>();
    else r.seed = static_cast<uint64_t>(get_int(*v, "seed", std::numeric_limits<int64_t>::min(),
                                                std::numeric_limits<int64_t>::max()));
  }
  if (const ojson* v = field(j, "stop")) parse_stop(*v, r, lim);

  if (chat) {
    if (const ojson* v = field(j, "logprobs")) r.logprobs = get_bool(*v, "logprobs");
    if (const ojson* v = field(j, "top_logprobs")) {
      r.top_logprobs = static_cast<int>(get_int(*v, "top_logprobs", 0, lim.max_top_logprobs));
      // 0 without logprobs is harmless (some clients always send it); more is a contradiction.
      if (r.top_logprobs > 0 && !r.logprobs) bad("top_logprobs", "top_logprobs requires logprobs to be true");
    }
  } else if (const ojson* v = field(j, "logprobs")) {
    // Legacy completions: "logprobs" is the number of alternatives (0..5) per token.
    if (v->is_boolean()) bad("logprobs", "logprobs must be an integer in [0, 5] for completions");
    r.top_logprobs = static_cast<int>(get_int(*v, "logprobs", 0, std::min(5, lim.max_top_logprobs)));
    r.logprobs = true;
  }

  if (const ojson* v = field(j, "logit_bias")) parse_logit_bias(*v, r, lim);
  if (const ojson* v = field(j, "n")) r.n = static_cast<int>(get_int(*v, "n", 1, lim.max_n));
  if (const ojson* v = field(j, "stream")) r.stream = get_bool(*v, "stream");
  if (const ojson* v = field(j, "stream_options")) {
    if (!v->is_object()) bad("stream_options", "stream_options must be an object");
    if (!r.stream) bad("stream_options", "stream_options is only allowed when stream is true");
    if (const ojson* u = field(*v, "include_usage")) {
      if (!u->is_boolean()) bad("stream_options", "stream_options.include_usage must be a boolean");
      r.include_usage = u->get<bool>();
    }
  }
  if (const ojson* v = field(j, "user")) r.user = get_string(*v, "user", "user");
  return r;
}

}  // namespace

int json_nesting_depth(std::string_view body, int limit) { return scan_depth(body, limit); }

std::variant<ChatRequest, ApiError> parse_request(std::string_view body, bool chat, const RequestLimits& lim) {
  try {
    return parse_body(body, chat, lim);
  } catch (const ApiError& e) {
    return e;
  } catch (const nlohmann::json::exception& e) {
    // Should be unreachable (every access is type-checked first); a 400 rather than a crash.
    ApiError err;
    err.message = std::string("invalid request: ") + e.what();
    return err;
  } catch (const std::bad_alloc&) {
    ApiError err;
    err.http_status = 413;
    err.message = "request too large to process";
    return err;
  }
}

}  // namespace moecat::api
