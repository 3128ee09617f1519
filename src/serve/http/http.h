// A small HTTP/1.1 server for `moecat serve`, over Linux epoll (no dependency).
//
// Why our own: a thread-per-connection server (cpp-httplib) lets 147 clients that send their
// headers a byte at a time occupy every worker, so /health and real requests wait behind them.
// Here one I/O thread owns every socket (nonblocking, edge-triggered epoll): it reads and parses
// request heads and bodies under total deadlines, answers cheap routes itself, hands the rest to a
// bounded worker pool, and writes every response when the socket is writable. Idle or slow
// connections cost a few hundred bytes each, never a thread, and each client address holds a
// bounded number of them (its oldest connection without a request in progress makes room for a
// new one, so a client is never locked out).
//
// Types: Request / Response / Sink are what handlers see (serve/server.cpp and friends);
// parse_request_head (parser.cpp) is the pure, fuzzable part; HttpServer (server.cpp) the loop.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace moecat::http {

// Header fields in arrival order; names compare case-insensitively (RFC 9110 5.1).
class Headers {
 public:
  // The first value of NAME, or "" (get) / false (has).
  std::string get(std::string_view name) const;
  bool has(std::string_view name) const;
  void add(std::string name, std::string value) { v_.emplace_back(std::move(name), std::move(value)); }
  void set(const std::string& name, std::string value);  // replaces every NAME
  const std::vector<std::pair<std::string, std::string>>& items() const { return v_; }
  size_t size() const { return v_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> v_;
};

bool iequals(std::string_view a, std::string_view b);

struct Request {
  std::string method;       // "GET", "POST", ... (case-sensitive, as sent)
  std::string target;       // the request-target as sent
  std::string path;         // target without the query ("/v1/models")
  std::string query;        // after '?', undecoded ("" if none)
  int version_minor = 1;    // HTTP/1.<minor>
  Headers headers;
  std::string body;
  std::string remote_addr;  // peer IP address ("127.0.0.1", "::1")
  int remote_port = 0;
  std::string get_header_value(std::string_view name) const { return headers.get(name); }
};

// Where a streaming response writes. Both calls may block while the client reads slowly
// (backpressure: the connection's output buffer is bounded).
class Sink {
 public:
  virtual ~Sink() = default;
  // Sends LEN bytes as one chunk; false once the client is gone (closed, reset, or too slow):
  // the caller should stop producing (and cancel its work).
  virtual bool write(const char* data, size_t len) = 0;
  // Ends the body properly (the terminating chunk). A provider that returns without calling it,
  // or returns false, leaves the chunked body unterminated and the connection is closed: every
  // client sees the response break off, none takes it as complete.
  virtual void done() = 0;
};

// Runs on a worker thread after the status line and headers have been queued.
using ContentProvider = std::function<bool(Sink& sink)>;

struct Response {
  int status = 200;
  Headers headers;
  std::string content_type;
  std::string body;
  ContentProvider provider;  // set: the body is streamed with chunked transfer encoding
  std::string error_message; // errors the server itself answers (bad head, 404, 413, ...): why

  void set_content(std::string b, std::string type) {
    body = std::move(b);
    content_type = std::move(type);
  }
  void set_content(const char* data, size_t n, std::string type) { set_content(std::string(data, n), std::move(type)); }
  void set_header(const std::string& name, std::string value) { headers.set(name, std::move(value)); }
  void set_chunked_content_provider(std::string type, ContentProvider p) {
    content_type = std::move(type);
    provider = std::move(p);
  }
};

// ---- request-head parsing (parser.cpp) -------------------------------------------------------

struct HeadLimits {
  size_t max_head_bytes = 16 << 10;  // request line + headers; beyond: 431
  size_t max_headers = 100;          // header fields; beyond: 431
};

struct ParsedHead {
  enum class State { kIncomplete, kComplete, kError };
  State state = State::kIncomplete;
  int error_status = 0;       // kError: the status to answer with (400, 411, 431, 501, 505)
  std::string error;          // kError: why, for the error body
  size_t head_bytes = 0;      // kComplete: bytes of DATA the head took (through the empty line)
  int64_t content_length = 0; // kComplete: body bytes that follow
  bool keep_alive = true;     // kComplete: the client allows another request on this connection
  bool expect_continue = false;  // kComplete: "Expect: 100-continue"
};

// Parses the request head at the start of DATA into REQ (method, target, path, query, version,
// headers). Never reads past N; kIncomplete until the empty line ends the head. Rejects what
// could desynchronize request framing: bad request lines, obsolete line folding, invalid header
// names, control characters in values, a malformed, negative, huge or contradictory
// Content-Length, and Transfer-Encoding (chunked request bodies: 411; anything else: 501).
// SCAN_FROM: the N of an earlier kIncomplete call on the same bytes, so that a head arriving a
// byte at a time costs linear, not quadratic, time.
ParsedHead parse_request_head(const char* data, size_t n, const HeadLimits& lim, Request& req, size_t scan_from = 0);

const char* status_reason(int status);

// ---- the server (server.cpp) -----------------------------------------------------------------

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                      // 0: any free port (port() says which)
  size_t max_body_bytes = 8 << 20;      // larger Content-Length: 413
  HeadLimits head;
  int header_timeout_ms = 10000;        // the whole head must arrive within this of its first byte
  int body_timeout_ms = 30000;          // the whole body must arrive within this of the head
  int idle_timeout_ms = 5000;           // a keep-alive connection with no new request is closed
  int write_timeout_ms = 30000;         // queued output must be read by the client within this
  int max_conns_per_client = 4096;      // open connections per client address
  int max_conns = 0;                    // all connections (0: from RLIMIT_NOFILE)
  int workers = 8;                      // threads running the non-inline handlers
  int max_pending = 256;                // complete requests waiting for a worker; beyond: 503
  size_t max_output_bytes = 1 << 20;    // a stream's unsent bytes before Sink::write blocks
};

using Handler = std::function<void(const Request&, Response&)>;

class HttpServer {
 public:
  explicit HttpServer(HttpOptions opt);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes match the path exactly. INLINE handlers run on the I/O thread: only for cheap,
  // non-blocking ones (health, model list, metrics), which then never queue behind generation.
  // A GET route answers HEAD too.
  void route(const std::string& method, const std::string& path, Handler h, bool inline_handler = false);

  // Before routing, on the I/O thread: returns true when it answered the request itself.
  std::function<bool(const Request&, Response&)> pre_routing;
  // Fills the body of an error the server produced (404, 405, 413, 503, ...) or a handler left
  // empty; RES.status is set.
  std::function<void(const Request&, Response&)> error_handler;
  // A handler threw: WHAT is the exception's message ("" if not a std::exception).
  std::function<void(const Request&, Response&, const std::string& what)> exception_handler;
  // After each response (streamed ones: after the stream ended).
  std::function<void(const Request&, const Response&)> logger;

  Status bind();  // binds host:port and listens
  int port() const;
  Status run();   // serves until stop(); then lets requests in progress finish
  // Async-signal-safe: an atomic store and a write() to an eventfd.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace moecat::http
