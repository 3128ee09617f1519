// Request-head parsing for the HTTP server (http.h). Pure functions over bytes, so the unit
// tests and the fuzzer drive them without sockets. Strict where leniency could let two parties
// disagree about where a request ends (request smuggling): Content-Length must be plain digits,
// duplicates must agree, Transfer-Encoding is refused, obsolete line folding is refused.
#include <cstring>

#include "serve/http/http.h"

namespace moecat::http {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// RFC 9110 5.6.2 tchar: what header names and methods consist of.
bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Does the comma-separated header value list contain TOKEN (case-insensitive)?
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

ParsedHead fail(int status, std::string why) {
  ParsedHead p;
  p.state = ParsedHead::State::kError;
  p.error_status = status;
  p.error = std::move(why);
  return p;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string Headers::get(std::string_view name) const {
  for (const auto& [k, v] : v_)
    if (iequals(k, name)) return v;
  return {};
}

bool Headers::has(std::string_view name) const {
  for (const auto& [k, v] : v_)
    if (iequals(k, name)) return true;
  return false;
}

void Headers::set(const std::string& name, std::string value) {
  std::erase_if(v_, [&](const auto& kv) { return iequals(kv.first, name); });
  v_.emplace_back(name, std::move(value));
}

ParsedHead parse_request_head(const char* data, size_t n, const HeadLimits& lim, Request& req, size_t scan_from) {
  // Find the end of the head: an empty line. Bare LF line ends are accepted (RFC 9112 2.2
  // allows it), bare CR is not (rejected below as a control character).
  const std::string_view all(data, n);
  size_t end = std::string_view::npos, body_start = 0;
  for (size_t i = scan_from > 3 ? scan_from - 3 : 0; i < n; ++i) {
    if (data[i] != '\n') continue;
    if (i + 1 < n && data[i + 1] == '\n') { end = i + 1; body_start = i + 2; break; }
    if (i + 2 < n && data[i + 1] == '\r' && data[i + 2] == '\n') { end = i + 1; body_start = i + 3; break; }
    if (i + 1 >= lim.max_head_bytes) break;
  }
  // A client may send a stray empty line before a request (RFC 9112 2.2); only at the very start.
  if (end == std::string_view::npos) {
    if (n >= lim.max_head_bytes) return fail(431, "request head larger than " + std::to_string(lim.max_head_bytes) + " bytes");
    return ParsedHead{};
  }
  if (body_start > lim.max_head_bytes)
    return fail(431, "request head larger than " + std::to_string(lim.max_head_bytes) + " bytes");
  std::string_view head = all.substr(0, end);  // through the last header line's LF

  // Lines, each without its line end.
  auto next_line = [&](std::string_view& rest) -> std::string_view {
    const size_t lf = rest.find('\n');
    std::string_view line = rest.substr(0, lf);
    rest.remove_prefix(lf == std::string_view::npos ? rest.size() : lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };
  std::string_view rest = head;
  std::string_view line = next_line(rest);
  if (line.empty()) return fail(400, "empty request line");

  // request-line = method SP request-target SP HTTP-version
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
    return fail(400, "malformed request line");
  const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line.substr(sp2 + 1);
  if (method.empty() || method.size() > 32) return fail(400, "malformed method");
  for (unsigned char c : method)
    if (!is_tchar(c)) return fail(400, "malformed method");
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' || version[7] > '9') {
    if (version.substr(0, 5) == "HTTP/") return fail(505, "only HTTP/1.x is supported");
    return fail(400, "malformed HTTP version");
  }
  if (target.empty()) return fail(400, "empty request target");
  for (unsigned char c : target)
    if (c <= 0x20 || c == 0x7f) return fail(400, "control character in the request target");
  std::string_view origin = target;
  if (origin[0] != '/') {
    // absolute-form (RFC 9112 3.2.2): keep the path; "*" (OPTIONS) stays as is.
    const size_t scheme = origin.find("://");
    if (scheme != std::string_view::npos && scheme > 0) {
      const size_t slash = origin.find('/', scheme + 3);
      origin = slash == std::string_view::npos ? std::string_view("/") : origin.substr(slash);
    } else if (origin != "*") {
      return fail(400, "malformed request target");
    }
  }
  req.method.assign(method);
  req.target.assign(target);
  const size_t q = origin.find('?');
  req.path.assign(origin.substr(0, q));
  req.query.assign(q == std::string_view::npos ? std::string_view() : origin.substr(q + 1));
  if (const size_t hash = req.path.find('#'); hash != std::string::npos) req.path.resize(hash);
  req.version_minor = version[7] - '0';
  req.headers = Headers();

  // header-field = field-name ":" OWS field-value OWS
  while (!rest.empty()) {
    line = next_line(rest);
    if (line.empty()) break;  // cannot happen before the head's end, kept for safety
    if (line[0] == ' ' || line[0] == '\t') return fail(400, "obsolete line folding in a header");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(400, "malformed header line");
    const std::string_view name = line.substr(0, colon);
    for (unsigned char c : name)
      if (!is_tchar(c)) return fail(400, "malformed header name");
    const std::string_view value = trim_ows(line.substr(colon + 1));
    for (unsigned char c : value)
      if ((c < 0x20 && c != '\t') || c == 0x7f) return fail(400, "control character in a header value");
    if (req.headers.size() >= lim.max_headers) return fail(431, "too many header fields");
    req.headers.add(std::string(name), std::string(value));
  }

  ParsedHead p;
  p.state = ParsedHead::State::kComplete;
  p.head_bytes = body_start;
  bool have_length = false;
  for (const auto& [k, v] : req.headers.items()) {
    if (iequals(k, "Transfer-Encoding")) {
      if (has_token(v, "chunked")) return fail(411, "chunked request bodies are not supported; send Content-Length");
      return fail(501, "unsupported Transfer-Encoding");
    }
    if (!iequals(k, "Content-Length")) continue;
    // Plain digits only: no sign, no spaces inside, no list ("5, 5"); at most 18 digits so the
    // value fits int64 (anything that large is far beyond any body limit anyway).
    if (v.empty() || v.size() > 18) return fail(v.empty() ? 400 : 413, "invalid Content-Length");
    int64_t len = 0;
    for (char c : v) {
      if (c < '0' || c > '9') return fail(400, "invalid Content-Length");
      len = len * 10 + (c - '0');
    }
    if (have_length && len != p.content_length) return fail(400, "conflicting Content-Length headers");
    have_length = true;
    p.content_length = len;
  }
  const std::string conn = req.headers.get("Connection");
  p.keep_alive = req.version_minor >= 1 ? !has_token(conn, "close") : has_token(conn, "keep-alive");
  p.expect_continue = req.version_minor >= 1 && iequals(req.headers.get("Expect"), "100-continue");
  return p;
}

const char* status_reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

}  // namespace moecat::http
