// The HTTP/1.1 layer of `moecat serve` (src/serve/http): the request-head parser on well-formed
// and hostile input, and the epoll server over real loopback sockets (pipelining, keep-alive,
// limits, deadlines, a client leaving mid-stream, the per-client connection cap).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "serve/http/http.h"

namespace moecat::http {
namespace {

using State = ParsedHead::State;

ParsedHead parse(const std::string& s, Request& r, HeadLimits lim = {}) { return parse_request_head(s.data(), s.size(), lim, r); }

TEST(HttpParser, SimpleGet) {
  Request r;
  ParsedHead p = parse("GET /v1/models?x=1&y=2 HTTP/1.1\r\nHost: a\r\nX-Key:  v  \r\n\r\nBODY", r);
  ASSERT_EQ(p.state, State::kComplete);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/v1/models");
  EXPECT_EQ(r.query, "x=1&y=2");
  EXPECT_EQ(r.get_header_value("x-key"), "v");
  EXPECT_EQ(r.get_header_value("HOST"), "a");
  EXPECT_EQ(p.head_bytes, 57u);
  EXPECT_EQ(p.content_length, 0);
  EXPECT_TRUE(p.keep_alive);
}

TEST(HttpParser, IncompleteUntilEmptyLine) {
  const std::string full = "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n";
  for (size_t n = 0; n < full.size(); ++n) {
    Request r;
    EXPECT_EQ(parse_request_head(full.data(), n, {}, r, n > 5 ? n - 5 : 0).state, State::kIncomplete) << n;
  }
  Request r;
  ParsedHead p = parse(full, r);
  ASSERT_EQ(p.state, State::kComplete);
  EXPECT_EQ(p.content_length, 12);
  EXPECT_EQ(p.head_bytes, full.size());
}

TEST(HttpParser, BareLfAndConnectionTokens) {
  Request r;
  ParsedHead p = parse("GET / HTTP/1.1\nHost: a\nConnection: foo, Close\n\n", r);
  ASSERT_EQ(p.state, State::kComplete);
  EXPECT_FALSE(p.keep_alive);
  p = parse("GET / HTTP/1.0\r\n\r\n", r);
  ASSERT_EQ(p.state, State::kComplete);
  EXPECT_FALSE(p.keep_alive);  // HTTP/1.0 closes unless asked
  p = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", r);
  EXPECT_TRUE(p.keep_alive);
  p = parse("POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", r);
  EXPECT_TRUE(p.expect_continue);
  p = parse("GET http://example.com/health?q HTTP/1.1\r\n\r\n", r);
  ASSERT_EQ(p.state, State::kComplete);
  EXPECT_EQ(r.path, "/health");
}

struct Bad {
  const char* name;
  std::string head;
  int status;
};

TEST(HttpParser, HostileHeads) {
  const Bad cases[] = {
      {"garbage", "\x01\x02\x03 garbage\r\n\r\n", 400},
      {"no version", "GET /\r\n\r\n", 400},
      {"two spaces", "GET  / HTTP/1.1\r\n\r\n", 400},
      {"http2", "GET / HTTP/2.0\r\n\r\n", 505},
      {"bad version", "GET / HTTX/1.1\r\n\r\n", 400},
      {"relative target", "GET health HTTP/1.1\r\n\r\n", 400},
      {"control in target", std::string("GET /a\x01 HTTP/1.1\r\n\r\n"), 400},
      {"method with slash", "G/ET / HTTP/1.1\r\n\r\n", 400},
      {"obs-fold", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400},
      {"no colon", "GET / HTTP/1.1\r\nAb\r\n\r\n", 400},
      {"empty name", "GET / HTTP/1.1\r\n: b\r\n\r\n", 400},
      {"space before colon", "GET / HTTP/1.1\r\nA : b\r\n\r\n", 400},
      {"NUL in value", std::string("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 26), 400},
      {"bare CR in value", "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400},
      {"negative length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"plus length", "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400},
      {"hex length", "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400},
      {"list length", "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400},
      {"empty length", "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400},
      {"overflowing length", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
      {"conflicting lengths", "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
      {"chunked body", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
      {"smuggling", "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
      {"gzip body", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
  };
  for (const Bad& c : cases) {
    Request r;
    ParsedHead p = parse(c.head, r);
    EXPECT_EQ(p.state, State::kError) << c.name;
    EXPECT_EQ(p.error_status, c.status) << c.name << ": " << p.error;
    EXPECT_FALSE(p.error.empty()) << c.name;
  }
  Request r;
  ParsedHead p = parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", r);
  EXPECT_EQ(p.state, State::kComplete);  // agreeing duplicates are fine
}

TEST(HttpParser, HeadLimits) {
  HeadLimits lim;
  lim.max_head_bytes = 256;
  lim.max_headers = 4;
  Request r;
  // Larger than the limit without an end: 431 once the limit is reached, not before.
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(300, 'a');
  EXPECT_EQ(parse_request_head(big.data(), 200, lim, r).state, State::kIncomplete);
  ParsedHead p = parse(big, r, lim);
  EXPECT_EQ(p.state, State::kError);
  EXPECT_EQ(p.error_status, 431);
  p = parse(big + "\r\n\r\n", r, lim);
  EXPECT_EQ(p.error_status, 431);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 5; ++i) many += "H" + std::to_string(i) + ": v\r\n";
  p = parse(many + "\r\n", r, lim);
  EXPECT_EQ(p.error_status, 431);
  // Random bytes never crash and never read past N (ASan checks the latter).
  uint32_t x = 12345;
  for (int t = 0; t < 2000; ++t) {
    std::string s;
    const int n = t % 300;
    for (int i = 0; i < n; ++i) {
      x = x * 1103515245 + 12345;
      const char alphabet[] = "GET POST / HTTP/1.1\r\n:Content-Length 0123456789\x00\x7f";
      s.push_back(alphabet[(x >> 16) % (sizeof alphabet - 1)]);
    }
    parse(s, r, lim);
  }
}

// ---- the server over loopback ----------------------------------------------------------------

class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpOptions o) {
    o.host = "127.0.0.1";
    o.port = 0;
    srv = std::make_unique<HttpServer>(o);
    srv->route("GET", "/health", [](const Request&, Response& res) { res.set_content("ok", "text/plain"); }, true);
    srv->route("POST", "/echo", [](const Request& q, Response& res) { res.set_content(q.body, "text/plain"); });
    srv->route("POST", "/throw", [](const Request&, Response&) -> void { throw std::runtime_error("boom"); });
    srv->route("POST", "/stream", [this](const Request&, Response& res) {
      res.set_chunked_content_provider("text/plain", [this](Sink& sink) {
        for (int i = 0; i < 100000; ++i) {
          if (!sink.write("tick\n", 5)) {
            stream_saw_gone = true;
            return false;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        sink.done();
        return true;
      });
    });
    srv->error_handler = [](const Request&, Response& res) {
      res.set_content("error " + std::to_string(res.status) + ": " + res.error_message, "text/plain");
    };
    srv->exception_handler = [](const Request&, Response& res, const std::string& what) {
      res.status = 500;
      res.set_content("exception: " + what, "text/plain");
    };
    ASSERT_TRUE(srv->bind().ok());
    th = std::thread([this] { EXPECT_TRUE(srv->run().ok()); });
  }
  void TearDown() override {
    if (srv) srv->stop();
    if (th.joinable()) th.join();
  }
  int connect_() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(srv->port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }
  static void send_all(int fd, const std::string& s) { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), (ssize_t)s.size()); }
  // Reads until the peer closes (or the 5 s receive timeout).
  static std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    for (ssize_t r; (r = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, r);
    return out;
  }
  // Reads until S contains NEEDLE N times.
  static std::string read_until(int fd, const std::string& needle, int n = 1) {
    std::string out;
    char buf[4096];
    auto count = [&] {
      int k = 0;
      for (size_t p = out.find(needle); p != std::string::npos; p = out.find(needle, p + 1)) ++k;
      return k;
    };
    while (count() < n) {
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) break;
      out.append(buf, r);
    }
    return out;
  }
  std::unique_ptr<HttpServer> srv;
  std::thread th;
  std::atomic<bool> stream_saw_gone{false};
};

TEST_F(HttpServerTest, KeepAlivePipeliningAndErrors) {
  start({});
  const int fd = connect_();
  // Three pipelined requests in one write, answered in order on one connection.
  send_all(fd, "GET /health HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
               "GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n");
  const std::string out = read_until(fd, "error 404");
  const size_t a = out.find("200 OK"), b = out.find("hello"), c = out.find("404 Not Found");
  ASSERT_NE(a, std::string::npos) << out;
  ASSERT_NE(b, std::string::npos) << out;
  ASSERT_NE(c, std::string::npos) << out;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_NE(out.find("Connection: keep-alive"), std::string::npos);
  // Wrong method, an exception, then a malformed request closes the connection.
  send_all(fd, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_NE(read_until(fd, "error 405").find("405 Method Not Allowed"), std::string::npos);
  send_all(fd, "POST /throw HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  EXPECT_NE(read_until(fd, "boom").find("500 Internal Server Error"), std::string::npos);
  send_all(fd, "BROKEN\r\n\r\n");
  const std::string bad = read_all(fd);
  EXPECT_NE(bad.find("400 Bad Request"), std::string::npos) << bad;
  EXPECT_NE(bad.find("Connection: close"), std::string::npos);
  ::close(fd);
}

TEST_F(HttpServerTest, BodyLimitsAndContinue) {
  HttpOptions o;
  o.max_body_bytes = 1000;
  start(o);
  int fd = connect_();
  // Over the limit: 413 at once, the unread body does not turn into a reset.
  send_all(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + std::string(3000, 'x'));
  std::string out = read_all(fd);
  EXPECT_NE(out.find("413"), std::string::npos) << out;
  ::close(fd);
  fd = connect_();
  send_all(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  EXPECT_NE(read_until(fd, "\r\n\r\n").find("100 Continue"), std::string::npos);
  send_all(fd, "abc");
  EXPECT_NE(read_until(fd, "abc").find("200 OK"), std::string::npos);
  ::close(fd);
  // Half-close after a complete request: still answered.
  fd = connect_();
  send_all(fd, "GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
  ::shutdown(fd, SHUT_WR);
  EXPECT_NE(read_all(fd).find("200 OK"), std::string::npos);
  ::close(fd);
}

TEST_F(HttpServerTest, Deadlines) {
  HttpOptions o;
  o.header_timeout_ms = 400;
  o.body_timeout_ms = 400;
  o.idle_timeout_ms = 300;
  start(o);
  const auto t0 = std::chrono::steady_clock::now();
  const int slow = connect_(), body = connect_(), idle = connect_();
  send_all(slow, "GET /health HTTP/1.1\r\n");
  send_all(body, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab");
  send_all(idle, "GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
  read_until(idle, "ok");
  for (int fd : {slow, body, idle}) {
    EXPECT_EQ(read_all(fd).find("200"), std::string::npos);  // closed without an answer
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(s, 2.0);
    ::close(fd);
  }
}

TEST_F(HttpServerTest, ClientGoneMidStream) {
  start({});
  const int fd = connect_();
  send_all(fd, "POST /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  const std::string head = read_until(fd, "tick", 3);
  EXPECT_NE(head.find("Transfer-Encoding: chunked"), std::string::npos);
  ::close(fd);
  for (int i = 0; i < 200 && !stream_saw_gone; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(stream_saw_gone);  // Sink::write returned false: the handler could cancel its work
}

TEST_F(HttpServerTest, PerClientCapEvictsOldestIdle) {
  HttpOptions o;
  o.max_conns_per_client = 4;
  start(o);
  int fds[4];
  for (int& fd : fds) {
    fd = connect_();
    send_all(fd, "GET /health HTTP/1.1\r\n");  // slow heads, never finished
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // A fifth connection from the same address is served; the oldest slow one made room.
  const int fd = connect_();
  send_all(fd, "GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_NE(read_all(fd).find("200 OK"), std::string::npos);
  char ch;
  EXPECT_EQ(::recv(fds[0], &ch, 1, 0), 0);  // closed by the server (a timeout would be -1)
  ::close(fd);
  for (int f : fds) ::close(f);
}

}  // namespace
}  // namespace moecat::http
