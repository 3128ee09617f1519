// The HTTP server's event loop (http.h). One I/O thread owns every socket and all per-connection
// state except the output buffer, which workers append to under the connection's mutex; workers
// never touch a socket. A worker that produced output posts the connection to a mailbox and
// wakes the loop through an eventfd; the loop writes whenever the socket is writable.
//
// Connection states: kHead (waiting for / reading a request head; idle keep-alive too), kBody
// (reading a Content-Length body), kBusy (a handler runs or its response is being written),
// kLinger (response sent, our side shut down; reading and discarding until the client closes,
// so unread request bytes never turn our close into a reset that destroys the response).
// Each state but kBusy has a total deadline, checked every 100 ms.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "base/check.h"
#include "serve/http/http.h"

namespace moecat::http {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr uint64_t kListenTag = 0, kWakeTag = 1;  // epoll tags; connections count from 2
constexpr size_t kReadChunk = 64 << 10;
constexpr size_t kBusyReadCap = 64 << 10;  // pipelined bytes buffered while a request runs
constexpr int kLingerMs = 2000;

enum class State { kHead, kBody, kBusy, kLinger };

struct Conn {
  // I/O thread only.
  uint64_t id = 0;
  int fd = -1;
  std::string addr;
  int port = 0;
  State state = State::kHead;
  bool closed = false;
  bool head_started = false;  // some bytes of the current head arrived
  bool peer_closed = false;   // the client shut down its side (EOF / EPOLLRDHUP)
  bool keep_alive = true;
  std::string in;             // received, not yet consumed
  size_t scanned = 0;         // parse_request_head's scan_from
  ParsedHead head;
  Request req;                // the request being read
  Clock::time_point deadline;
  bool has_write_deadline = false;
  Clock::time_point write_deadline;

  // Shared with the worker writing the response, under mu.
  std::mutex mu;
  std::condition_variable cv;  // output drained, or the connection is gone
  std::string out;
  size_t out_off = 0;
  bool complete = false;     // the whole response is in out
  bool close_after = false;  // close once out is sent (a broken stream, an error)
  bool gone = false;         // closed: Sink::write fails
  size_t pending() const { return out.size() - out_off; }
};

struct Job {
  std::shared_ptr<Conn> c;
  Request req;
  const Handler* handler;
};

std::string serialize_head(const Response& res, bool keep_alive, int idle_s, size_t body_len, bool chunked) {
  std::string h = "HTTP/1.1 " + std::to_string(res.status) + " " + status_reason(res.status) + "\r\n";
  for (const auto& [k, v] : res.headers.items()) {
    if (iequals(k, "Content-Length") || iequals(k, "Transfer-Encoding") || iequals(k, "Connection") ||
        iequals(k, "Content-Type"))
      continue;  // ours to set
    h += k + ": " + v + "\r\n";
  }
  if (!res.content_type.empty()) h += "Content-Type: " + res.content_type + "\r\n";
  h += chunked ? std::string("Transfer-Encoding: chunked\r\n") : "Content-Length: " + std::to_string(body_len) + "\r\n";
  // The Keep-Alive hint lets clients (undici, the openai npm client's fetch) retire an idle
  // connection before we do, instead of racing our close with their next request.
  h += keep_alive ? "Connection: keep-alive\r\nKeep-Alive: timeout=" + std::to_string(idle_s) + "\r\n"
                  : std::string("Connection: close\r\n");
  h += "\r\n";
  return h;
}

}  // namespace

struct HttpServer::Impl {
  HttpServer* self = nullptr;
  HttpOptions opt;
  struct Route {
    std::string method, path;
    Handler h;
    bool inl;
  };
  std::vector<Route> routes;

  int listen_fd = -1, ep = -1, wake_fd = -1, spare_fd = -1;
  int bound_port = 0;
  int max_conns = 0;
  std::atomic<bool> stopping{false};
  bool stop_begun = false;

  std::map<uint64_t, std::shared_ptr<Conn>> conns;  // by id = age order
  std::unordered_map<std::string, std::set<uint64_t>> by_addr;
  uint64_t next_id = 2;
  std::vector<std::shared_ptr<Conn>> again;  // to read and parse once more (after a response)

  std::mutex mail_mu;
  std::vector<std::shared_ptr<Conn>> mail;  // connections with new output

  std::mutex job_mu;
  std::condition_variable job_cv;
  std::deque<Job> jobs;
  bool jobs_stop = false;
  std::vector<std::thread> workers;

  // ---- shared with workers --------------------------------------------------------------
  void post(const std::shared_ptr<Conn>& c) {
    {
      std::lock_guard<std::mutex> lk(mail_mu);
      mail.push_back(c);
    }
    wake();
  }
  void wake() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(wake_fd, &one, sizeof one);  // EAGAIN: already signalled
  }
  bool keep_alive_for(const Conn& c) const { return c.keep_alive && !stopping.load(std::memory_order_relaxed); }
  int idle_s() const { return std::max(1, opt.idle_timeout_ms / 1000); }

  // Fills in what the handler left out: an error body, an exception's answer.
  void finalize(const Request& req, Response& res, const std::string* what) {
    if (what) {
      res = Response();
      res.status = 500;
      if (self->exception_handler) self->exception_handler(req, res, *what);
    }
    if (res.status >= 400 && res.body.empty() && !res.provider && self->error_handler) self->error_handler(req, res);
  }
  void run_handler(const Handler& h, const Request& req, Response& res) {
    try {
      h(req, res);
      finalize(req, res, nullptr);
    } catch (const std::exception& e) {
      const std::string what = e.what();
      finalize(req, res, &what);
    } catch (...) {
      const std::string what;
      finalize(req, res, &what);
    }
  }

  void worker_loop();
  void run_job(Job& j);

  // ---- I/O thread ------------------------------------------------------------------------
  void accept_all();
  void on_event(const std::shared_ptr<Conn>& c, uint32_t ev);
  void read_and_process(const std::shared_ptr<Conn>& c);
  void process(const std::shared_ptr<Conn>& c);
  void dispatch(const std::shared_ptr<Conn>& c);
  void answer_inline(const std::shared_ptr<Conn>& c, const Request& req, Response& res, bool close_after);
  void answer_error(const std::shared_ptr<Conn>& c, int status, const std::string& why);
  void flush(const std::shared_ptr<Conn>& c);
  void finish_response(const std::shared_ptr<Conn>& c);
  void linger(const std::shared_ptr<Conn>& c);
  void close_conn(const std::shared_ptr<Conn>& c);
  bool evict_oldest(const std::set<uint64_t>& ids);
  void check_deadlines();
};

// ---- workers ---------------------------------------------------------------------------------

// Chunked transfer encoding into the connection's output buffer, blocking while the buffer is
// full (the client reads slower than we produce) for at most the write timeout.
class ChunkSink : public Sink {
 public:
  ChunkSink(HttpServer::Impl& s, std::shared_ptr<Conn> c) : s_(s), c_(std::move(c)) {}
  bool write(const char* data, size_t len) override {
    if (len == 0) return alive();  // an empty chunk would end the body
    char size[24];
    const int n = std::snprintf(size, sizeof size, "%zx\r\n", len);
    return append(std::string_view(size, n), std::string_view(data, len), "\r\n");
  }
  void done() override {
    if (done_) return;
    done_ = true;
    append("0\r\n\r\n", {}, {});
  }
  bool finished() const { return done_; }

 private:
  bool alive() {
    std::lock_guard<std::mutex> lk(c_->mu);
    return !c_->gone;
  }
  bool append(std::string_view a, std::string_view b, std::string_view c) {
    const size_t len = a.size() + b.size() + c.size();
    std::unique_lock<std::mutex> lk(c_->mu);
    const auto until = Clock::now() + milliseconds(s_.opt.write_timeout_ms);
    while (!c_->gone && c_->pending() > 0 && c_->pending() + len > s_.opt.max_output_bytes)
      if (c_->cv.wait_until(lk, until) == std::cv_status::timeout) return false;  // the write deadline closes it
    if (c_->gone) return false;
    const bool was_empty = c_->pending() == 0;
    c_->out.append(a).append(b).append(c);
    lk.unlock();
    if (was_empty) s_.post(c_);  // otherwise the loop is already writing (waits for EPOLLOUT)
    return true;
  }
  HttpServer::Impl& s_;
  std::shared_ptr<Conn> c_;
  bool done_ = false;
};

void HttpServer::Impl::run_job(Job& j) {
  const std::shared_ptr<Conn>& c = j.c;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    if (c->gone) return;  // the client left while the request waited for a worker
  }
  Response res;
  run_handler(*j.handler, j.req, res);
  if (!res.provider) {
    {
      std::lock_guard<std::mutex> lk(c->mu);
      c->out += serialize_head(res, keep_alive_for(*c), idle_s(), res.body.size(), false);
      c->out += res.body;
      c->complete = true;
    }
    post(c);
    if (self->logger) self->logger(j.req, res);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(c->mu);
    c->out += serialize_head(res, keep_alive_for(*c), idle_s(), 0, true);
  }
  post(c);
  ChunkSink sink(*this, c);
  bool ok = false;
  try {
    ok = res.provider(sink);
  } catch (...) {
    ok = false;  // the status line went out: an unterminated body is how the failure shows
  }
  if (ok) sink.done();
  {
    std::lock_guard<std::mutex> lk(c->mu);
    c->complete = true;
    if (!sink.finished()) c->close_after = true;
  }
  post(c);
  if (self->logger) self->logger(j.req, res);
}

void HttpServer::Impl::worker_loop() {
  for (;;) {
    Job j;
    {
      std::unique_lock<std::mutex> lk(job_mu);
      job_cv.wait(lk, [&] { return !jobs.empty() || jobs_stop; });
      if (jobs.empty()) return;
      j = std::move(jobs.front());
      jobs.pop_front();
    }
    run_job(j);
  }
}

// ---- the I/O thread ---------------------------------------------------------------------------

bool HttpServer::Impl::evict_oldest(const std::set<uint64_t>& ids) {
  for (uint64_t id : ids) {
    auto it = conns.find(id);
    if (it == conns.end() || it->second->state == State::kBusy) continue;
    const std::shared_ptr<Conn> victim = it->second;  // close_conn erases the map's copy
    close_conn(victim);  // also from IDS: return at once
    return true;
  }
  return false;
}

void HttpServer::Impl::accept_all() {
  // At most kAcceptBatch per turn (the listener is level-triggered: the rest comes next turn), and
  // each new connection is read at once in this turn: a client that has sent its request gets it
  // parsed before a flood of reconnecting attackers from its address can make it the oldest idle
  // connection there (the one the per-client cap closes).
  constexpr int kAcceptBatch = 16;
  for (int accepted = 0; accepted < kAcceptBatch; ++accepted) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && spare_fd >= 0) {
        // Out of descriptors: accept with the spare one and close, so the kernel's queue does
        // not keep the listener readable forever (a busy loop) and the client learns at once.
        ::close(spare_fd);
        const int f = ::accept(listen_fd, nullptr, nullptr);
        if (f >= 0) ::close(f);
        spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        continue;
      }
      return;  // EAGAIN, or an error the next readiness retries
    }
    if (stopping.load()) {
      ::close(fd);
      continue;
    }
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      port = ntohs(a->sin6_port);
    }
    // Caps: a client address over its share, or the server at its descriptor budget, loses its
    // oldest connection that has no request running (idle, or still sending a head or body);
    // only if every one of them is running a request is the new connection refused.
    std::set<uint64_t>& mine = by_addr[host];
    bool room = (int)mine.size() < opt.max_conns_per_client || evict_oldest(mine);
    if (room && (int)conns.size() >= max_conns) {
      std::set<uint64_t> all;
      for (const auto& [id, c] : conns) all.insert(id);
      room = evict_oldest(all);
    }
    if (!room) {
      static const char kBusy[] =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 81\r\n"
          "Connection: close\r\nRetry-After: 1\r\n\r\n"
          "{\"error\":{\"message\":\"too many connections\",\"type\":\"server_error\",\"code\":null}}\n";
      [[maybe_unused]] ssize_t w = ::send(fd, kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      if (by_addr[host].empty()) by_addr.erase(host);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // SSE chunks go out at once
    auto c = std::make_shared<Conn>();
    c->id = next_id++;
    c->fd = fd;
    c->addr = host;
    c->port = port;
    c->deadline = Clock::now() + milliseconds(opt.header_timeout_ms);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = c->id;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
      ::close(fd);
      continue;
    }
    conns.emplace(c->id, c);
    by_addr[host].insert(c->id);
    again.push_back(c);
  }
}

void HttpServer::Impl::close_conn(const std::shared_ptr<Conn>& conn) {
  const std::shared_ptr<Conn> c = conn;  // CONN may be the map entry erased below
  if (c->closed) return;
  c->closed = true;
  ::epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
  ::close(c->fd);
  c->fd = -1;
  conns.erase(c->id);
  auto it = by_addr.find(c->addr);
  if (it != by_addr.end()) {
    it->second.erase(c->id);
    if (it->second.empty()) by_addr.erase(it);
  }
  {
    std::lock_guard<std::mutex> lk(c->mu);
    c->gone = true;
    c->out.clear();
    c->out_off = 0;
  }
  c->cv.notify_all();
  c->in.clear();
  c->in.shrink_to_fit();
}

void HttpServer::Impl::on_event(const std::shared_ptr<Conn>& c, uint32_t ev) {
  if (ev & EPOLLERR) return close_conn(c);
  if (ev & (EPOLLRDHUP | EPOLLHUP)) c->peer_closed = true;
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) read_and_process(c);
  if (!c->closed && (ev & EPOLLOUT)) flush(c);
  // A client that hung up while its request runs is gone: its stream's next write fails and
  // the handler cancels the generation (the existing handlers rely on that).
  if (!c->closed && c->peer_closed && (c->state == State::kBusy || (ev & EPOLLHUP))) close_conn(c);
}

void HttpServer::Impl::read_and_process(const std::shared_ptr<Conn>& c) {
  char buf[kReadChunk];
  process(c);  // a pipelined request may be buffered already
  for (;;) {
    if (c->closed) return;
    size_t cap = 0;
    switch (c->state) {
      case State::kHead: cap = opt.head.max_head_bytes + kReadChunk; break;
      case State::kBody: cap = static_cast<size_t>(c->head.content_length) + kBusyReadCap; break;
      case State::kBusy: cap = kBusyReadCap; break;
      case State::kLinger: cap = SIZE_MAX; break;
    }
    if (c->in.size() >= cap) return;  // the rest waits in the kernel until the state changes
    const ssize_t r = ::recv(c->fd, buf, sizeof buf, 0);
    if (r > 0) {
      if (c->state == State::kLinger) continue;  // discarded
      c->in.append(buf, static_cast<size_t>(r));
      process(c);
      continue;
    }
    if (r == 0) {
      c->peer_closed = true;
      if (c->state == State::kLinger) return close_conn(c);
      process(c);  // a complete request may precede the EOF ("send, shut down, read")
      if (!c->closed && c->state != State::kBusy) close_conn(c);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    return close_conn(c);  // reset
  }
}

void HttpServer::Impl::process(const std::shared_ptr<Conn>& c) {
  if (c->closed) return;
  const auto now = Clock::now();
  if (c->state == State::kHead) {
    // Stray line ends between requests are allowed (RFC 9112 2.2).
    size_t skip = 0;
    while (skip < c->in.size() && (c->in[skip] == '\r' || c->in[skip] == '\n')) ++skip;
    if (skip) {
      c->in.erase(0, skip);
      c->scanned = 0;
    }
    if (c->in.empty()) return;
    if (!c->head_started) {
      c->head_started = true;
      c->deadline = now + milliseconds(opt.header_timeout_ms);  // a total deadline, not per recv
    }
    c->head = parse_request_head(c->in.data(), c->in.size(), opt.head, c->req, c->scanned);
    if (c->head.state == ParsedHead::State::kIncomplete) {
      c->scanned = c->in.size();
      return;
    }
    if (c->head.state == ParsedHead::State::kError) return answer_error(c, c->head.error_status, c->head.error);
    c->in.erase(0, c->head.head_bytes);
    c->scanned = 0;
    c->keep_alive = c->head.keep_alive;
    if (c->head.content_length > static_cast<int64_t>(opt.max_body_bytes))
      return answer_error(c, 413, "request body too large");
    if (c->head.expect_continue && c->in.size() < static_cast<size_t>(c->head.content_length)) {
      {
        std::lock_guard<std::mutex> lk(c->mu);
        c->out += "HTTP/1.1 100 Continue\r\n\r\n";
      }
      flush(c);
      if (c->closed) return;
    }
    c->state = State::kBody;
    c->deadline = now + milliseconds(opt.body_timeout_ms);
  }
  if (c->state == State::kBody) {
    const size_t need = static_cast<size_t>(c->head.content_length);
    if (c->in.size() < need) return;
    c->req.body.assign(c->in, 0, need);
    c->in.erase(0, need);
    dispatch(c);
  }
}

void HttpServer::Impl::dispatch(const std::shared_ptr<Conn>& c) {
  c->state = State::kBusy;
  Request& req = c->req;
  req.remote_addr = c->addr;
  req.remote_port = c->port;
  Response res;
  if (self->pre_routing) {
    bool handled = false;
    try {
      handled = self->pre_routing(req, res);
    } catch (const std::exception& e) {
      const std::string what = e.what();
      finalize(req, res, &what);
      handled = true;
    }
    if (handled) return answer_inline(c, req, res, false);
  }
  const std::string& method = req.method == "HEAD" ? std::string("GET") : req.method;
  const Route* hit = nullptr;
  bool path_known = false;
  for (const Route& r : routes) {
    if (r.path != req.path) continue;
    path_known = true;
    if (r.method == method) {
      hit = &r;
      break;
    }
  }
  if (!hit) {
    res.status = path_known ? 405 : 404;
    finalize(req, res, nullptr);
    return answer_inline(c, req, res, false);
  }
  if (hit->inl) {
    run_handler(hit->h, req, res);
    MOECAT_CHECK(!res.provider);  // inline handlers answer at once
    return answer_inline(c, req, res, false);
  }
  {
    std::lock_guard<std::mutex> lk(job_mu);
    if ((int)jobs.size() < opt.max_pending) {
      jobs.push_back(Job{c, std::move(req), &hit->h});
      job_cv.notify_one();
      return;
    }
  }
  res.status = 503;
  res.set_header("Retry-After", "1");
  finalize(req, res, nullptr);
  answer_inline(c, req, res, false);
}

void HttpServer::Impl::answer_inline(const std::shared_ptr<Conn>& c, const Request& req, Response& res, bool close_after) {
  if (close_after) c->keep_alive = false;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    c->out += serialize_head(res, keep_alive_for(*c), idle_s(), res.body.size(), false);
    if (req.method != "HEAD") c->out += res.body;
    c->complete = true;
    c->close_after = c->close_after || close_after;
  }
  if (self->logger) self->logger(req, res);
  flush(c);
}

// Errors found while reading (malformed head, too large): answered, then the connection closes,
// since where the next request would start is unknown.
void HttpServer::Impl::answer_error(const std::shared_ptr<Conn>& c, int status, const std::string& why) {
  c->state = State::kBusy;
  Response res;
  res.status = status;
  res.error_message = why;
  finalize(c->req, res, nullptr);
  answer_inline(c, c->req, res, true);
}

void HttpServer::Impl::flush(const std::shared_ptr<Conn>& c) {
  if (c->closed) return;
  bool failed = false, progress = false, finished = false, pending = false;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    while (c->out_off < c->out.size()) {
      const ssize_t w = ::send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
      if (w > 0) {
        c->out_off += static_cast<size_t>(w);
        progress = true;
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else {
        failed = !(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        break;
      }
    }
    if (c->out_off == c->out.size()) {
      c->out.clear();
      c->out_off = 0;
    } else if (c->out_off > (64u << 10) && c->out_off > c->out.size() / 2) {
      c->out.erase(0, c->out_off);
      c->out_off = 0;
    }
    pending = c->pending() > 0;
    finished = c->complete && !pending;
  }
  if (progress) c->cv.notify_all();
  if (failed) return close_conn(c);
  // The client must keep reading: no progress on queued output for the write timeout closes it.
  if (!pending) c->has_write_deadline = false;
  else if (progress || !c->has_write_deadline) {
    c->has_write_deadline = true;
    c->write_deadline = Clock::now() + milliseconds(opt.write_timeout_ms);
  }
  if (finished) finish_response(c);
}

void HttpServer::Impl::finish_response(const std::shared_ptr<Conn>& c) {
  bool close_after;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    close_after = c->close_after;
    c->complete = false;
    c->close_after = false;
  }
  if (close_after || !c->keep_alive || stopping.load() || c->peer_closed) return linger(c);
  c->state = State::kHead;
  c->head_started = false;
  c->req = Request();
  // A large body's buffers are not kept for the rest of a keep-alive connection's life.
  if (c->in.empty() && c->in.capacity() > kReadChunk) c->in.shrink_to_fit();
  {
    std::lock_guard<std::mutex> lk(c->mu);
    if (c->out.empty() && c->out.capacity() > kReadChunk) c->out.shrink_to_fit();
  }
  c->deadline = Clock::now() + milliseconds(opt.idle_timeout_ms);
  again.push_back(c);  // a pipelined request may be buffered already; read on in the loop, not here
}

void HttpServer::Impl::linger(const std::shared_ptr<Conn>& c) {
  if (c->peer_closed) return close_conn(c);
  ::shutdown(c->fd, SHUT_WR);
  c->state = State::kLinger;
  c->in.clear();
  c->deadline = Clock::now() + milliseconds(kLingerMs);
  again.push_back(c);
}

void HttpServer::Impl::check_deadlines() {
  const auto now = Clock::now();
  std::vector<std::shared_ptr<Conn>> expired;
  for (const auto& [id, c] : conns) {
    if (c->state != State::kBusy && now >= c->deadline) expired.push_back(c);
    else if (c->has_write_deadline && now >= c->write_deadline) expired.push_back(c);
  }
  for (const auto& c : expired) close_conn(c);
}

// ---- HttpServer --------------------------------------------------------------------------------

HttpServer::HttpServer(HttpOptions opt) : impl_(std::make_unique<Impl>()) {
  impl_->self = this;
  impl_->opt = std::move(opt);
  impl_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  MOECAT_CHECK(impl_->wake_fd >= 0);
}

HttpServer::~HttpServer() {
  Impl& I = *impl_;
  for (auto& [id, c] : I.conns) ::close(c->fd);
  for (int fd : {I.listen_fd, I.ep, I.wake_fd, I.spare_fd})
    if (fd >= 0) ::close(fd);
}

void HttpServer::route(const std::string& method, const std::string& path, Handler h, bool inline_handler) {
  impl_->routes.push_back(Impl::Route{method, path, std::move(h), inline_handler});
}

int HttpServer::port() const { return impl_->bound_port; }

void HttpServer::stop() {
  impl_->stopping.store(true);
  impl_->wake();
}

Status HttpServer::bind() {
  Impl& I = *impl_;
  // Every connection is a descriptor: use all the process may have.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rlimit want = rl;
      want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? std::max<rlim_t>(rl.rlim_cur, 1 << 20) : rl.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
    }
  }
  const long fds = rl.rlim_cur == RLIM_INFINITY ? (1L << 20) : static_cast<long>(std::min<rlim_t>(rl.rlim_cur, 1 << 20));
  // Keep some descriptors for everything else (model files, logs, the epoll and event fds).
  I.max_conns = I.opt.max_conns > 0 ? I.opt.max_conns : static_cast<int>(std::max(16L, fds - 64));

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(I.opt.port);
  if (int e = ::getaddrinfo(I.opt.host.empty() ? nullptr : I.opt.host.c_str(), port.c_str(), &hints, &res); e != 0)
    return Errorf("cannot resolve %s: %s", I.opt.host.c_str(), ::gai_strerror(e));
  std::string why = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      I.listen_fd = fd;
      break;
    }
    why = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (I.listen_fd < 0) return Errorf("cannot bind %s:%d (%s)", I.opt.host.c_str(), I.opt.port, why.c_str());
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(I.listen_fd, reinterpret_cast<sockaddr*>(&ss), &len);
  I.bound_port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                          : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return Status::Ok();
}

Status HttpServer::run() {
  Impl& I = *impl_;
  if (I.listen_fd < 0) MOECAT_RETURN_IF_ERROR(bind());
  I.ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (I.ep < 0) return Errorf("epoll_create1: %s", std::strerror(errno));
  I.spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (auto [fd, tag] : {std::pair{I.listen_fd, kListenTag}, std::pair{I.wake_fd, kWakeTag}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;  // level-triggered: accept and the mailbox are drained each time anyway
    ev.data.u64 = tag;
    if (::epoll_ctl(I.ep, EPOLL_CTL_ADD, fd, &ev) != 0) return Errorf("epoll_ctl: %s", std::strerror(errno));
  }
  for (int i = 0; i < std::max(1, I.opt.workers); ++i) I.workers.emplace_back([&I] { I.worker_loop(); });

  epoll_event evs[256];
  auto last_check = Clock::now();
  for (;;) {
    const int n = ::epoll_wait(I.ep, evs, 256, I.again.empty() ? 100 : 0);
    if (n < 0 && errno != EINTR) break;  // cannot happen with valid arguments
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = evs[i].data.u64;
      if (tag == kListenTag) {
        I.accept_all();
      } else if (tag == kWakeTag) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(I.wake_fd, &v, sizeof v);
      } else if (auto it = I.conns.find(tag); it != I.conns.end()) {
        std::shared_ptr<Conn> c = it->second;
        I.on_event(c, evs[i].events);
      }
    }
    std::vector<std::shared_ptr<Conn>> mail;
    {
      std::lock_guard<std::mutex> lk(I.mail_mu);
      mail.swap(I.mail);
    }
    for (const auto& c : mail) I.flush(c);  // flush ignores closed connections
    // Pipelined requests and lingering closes; bounded per turn so one client cannot hog the loop.
    for (size_t k = 0; k < 64 && !I.again.empty(); ++k) {
      std::vector<std::shared_ptr<Conn>> again;
      again.swap(I.again);
      for (const auto& c : again) I.read_and_process(c);
    }
    const auto now = Clock::now();
    if (now - last_check >= milliseconds(100)) {
      I.check_deadlines();
      last_check = now;
    }
    if (I.stopping.load()) {
      if (!I.stop_begun) {
        I.stop_begun = true;
        ::epoll_ctl(I.ep, EPOLL_CTL_DEL, I.listen_fd, nullptr);
        ::close(I.listen_fd);
        I.listen_fd = -1;
      }
      // Requests in progress finish (their connections close after the response); the rest go.
      std::vector<std::shared_ptr<Conn>> idle;
      for (const auto& [id, c] : I.conns)
        if (c->state != State::kBusy) idle.push_back(c);
      for (const auto& c : idle) I.close_conn(c);
      if (I.conns.empty()) break;
    }
  }
  {
    std::lock_guard<std::mutex> lk(I.job_mu);
    I.jobs_stop = true;
  }
  I.job_cv.notify_all();
  for (auto& t : I.workers) t.join();
  I.workers.clear();
  return Status::Ok();
}

}  // namespace moecat::http
