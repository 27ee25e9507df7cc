#include "http/guarded_http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace outbox::relay {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kSummaryInterval{60};

// Set while a dropped connection's job runs: it only closes the socket.
thread_local bool t_drop = false;
// When the connection of the job a worker runs was accepted.
thread_local Clock::time_point t_accepted;

void CloseSocket(socket_t sock) {
  shutdown(sock, SHUT_RDWR);
  close(sock);
}

void Address(socket_t sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if ((peer ? getpeername(sock, sa, &len) : getsockname(sock, sa, &len)) != 0) return;
  char buf[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    port = ntohs(in6->sin6_port);
  }
  ip = buf;
}

/// httplib's Stream over a connected socket, with deadlines instead of per-read
/// timeouts: reading the request must finish by `request_deadline`, everything
/// by `deadline`.
class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(socket_t sock, Clock::time_point request_deadline, Clock::time_point deadline)
      : sock_(sock), request_deadline_(request_deadline), deadline_(deadline) {}

  void RequestRead() { request_read_ = true; }
  bool timed_out() const { return timed_out_; }

  bool is_readable() const override { return Wait(POLLIN, request_read_ ? deadline_ : request_deadline_); }
  bool is_writable() const override { return Wait(POLLOUT, deadline_); }

  ssize_t read(char* ptr, size_t size) override {
    if (offset_ == length_) {
      if (!is_readable()) return -1;
      ssize_t n;
      do {
        n = recv(sock_, buffer_, sizeof buffer_, 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      offset_ = 0;
      length_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, length_ - offset_);
    std::memcpy(ptr, buffer_ + offset_, n);
    offset_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do {
      n = send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { Address(sock_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { Address(sock_, false, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  bool Wait(short events, Clock::time_point deadline) const {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        timed_out_ = true;
        return false;
      }
      pollfd p{sock_, events, 0};
      const int r = poll(&p, 1, static_cast<int>(left));
      if (r > 0) return true;  // ready, or hung up / failed: recv/send then says which
      if (r < 0 && errno != EINTR) return false;
    }
  }

  socket_t sock_;
  Clock::time_point request_deadline_, deadline_;
  bool request_read_ = false;
  mutable bool timed_out_ = false;
  char buffer_[4096];
  size_t offset_ = 0, length_ = 0;
};

}  // namespace

struct GuardedHttpServer::State {
  struct Connection {
    Clock::time_point start;
    bool request_read = false;  // the request line and headers have arrived
    bool evicted = false;
  };

  explicit State(HttpLimits l) : limits(l) {}

  const HttpLimits limits;
  std::mutex mu;
  std::condition_variable cv;
  struct Job {
    std::function<void()> fn;  // httplib's: calls process_and_close_socket(sock)
    Clock::time_point accepted;
  };
  std::deque<Job> jobs;  // accepted connections waiting for a worker, the newest first
  size_t idle_workers = 0;
  bool stopping = false;
  std::map<socket_t, Connection> connections;  // being served by a worker
  size_t evicting = 0;                         // evicted, their worker not yet free
  // Since the last summary line.
  uint64_t dropped = 0, evicted = 0, timed_out = 0;
  Clock::time_point next_summary{};

  /// Frees the worker of the oldest connection that has not sent its whole request. Under `mu`.
  bool EvictOldestReader() {
    auto oldest = connections.end();
    for (auto it = connections.begin(); it != connections.end(); ++it) {
      if (it->second.request_read || it->second.evicted) continue;
      if (oldest == connections.end() || it->second.start < oldest->second.start) oldest = it;
    }
    if (oldest == connections.end()) return false;
    shutdown(oldest->first, SHUT_RDWR);  // its worker's poll/recv returns now; the worker closes the socket
    oldest->second.evicted = true;
    ++evicting;
    ++evicted;
    return true;
  }

  /// One warning a minute at most, so a flood of bad clients cannot flood the log. Under `mu`.
  void Summarize() {
    const auto now = Clock::now();
    if (now < next_summary || dropped + evicted + timed_out == 0) return;
    spdlog::warn(
        "http: slow or idle clients: {} connections dropped unserved (more than {} open), {} closed while still "
        "sending their request to serve newer ones, {} timed out (request not received within {} ms of connecting, "
        "or not answered within {} ms); at most one such line a minute",
        dropped, limits.max_connections, evicted, timed_out, limits.request_timeout.count(),
        limits.connection_timeout.count());
    dropped = evicted = timed_out = 0;
    next_summary = now + kSummaryInterval;
  }
};

namespace {

/// The worker pool httplib hands accepted connections to (Server::new_task_queue).
class GuardedQueue : public httplib::TaskQueue {
 public:
  explicit GuardedQueue(std::shared_ptr<GuardedHttpServer::State> state) : state_(std::move(state)) {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->stopping = false;
    }
    for (size_t i = 0; i < state_->limits.workers; ++i) workers_.emplace_back([this] { Work(); });
  }

  // Called by httplib's accept loop for every accepted connection.
  void enqueue(std::function<void()> fn) override {
    auto& s = *state_;
    std::unique_lock<std::mutex> lock(s.mu);
    std::function<void()> drop;
    if (s.stopping) {
      drop = std::move(fn);
    } else {
      // The newest first: a client that just connected is sending its request now, and
      // one that is slow to send cannot make the connections after it wait.
      s.jobs.push_front({std::move(fn), Clock::now()});
      if (s.jobs.size() + s.connections.size() > s.limits.max_connections) {
        drop = std::move(s.jobs.back().fn);  // the oldest waiting connection makes room
        s.jobs.pop_back();
        ++s.dropped;
      }
      // Every waiting connection should have a worker now: free those of slow ones.
      size_t available = s.idle_workers + s.evicting;
      while (s.jobs.size() > available && s.EvictOldestReader()) ++available;
      s.Summarize();
      s.cv.notify_one();
    }
    lock.unlock();
    if (drop) {
      t_drop = true;  // process_and_close_socket only closes the socket
      drop();
      t_drop = false;
    }
  }

  void shutdown() override {
    auto& s = *state_;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      s.stopping = true;
      shutdown_ = true;
      for (auto& [sock, c] : s.connections) ::shutdown(sock, SHUT_RDWR);
    }
    s.cv.notify_all();
    for (auto& t : workers_) t.join();
  }

 private:
  void Work() {
    auto& s = *state_;
    for (;;) {
      GuardedHttpServer::State::Job job;
      {
        std::unique_lock<std::mutex> lock(s.mu);
        ++s.idle_workers;
        // Waking now and then lets the last counts of a burst of bad clients reach the log.
        while (!s.cv.wait_for(lock, kSummaryInterval, [&] { return !s.jobs.empty() || shutdown_; })) s.Summarize();
        --s.idle_workers;
        if (s.jobs.empty()) return;
        job = std::move(s.jobs.front());
        s.jobs.pop_front();
      }
      t_accepted = job.accepted;
      job.fn();
    }
  }

  std::shared_ptr<GuardedHttpServer::State> state_;
  bool shutdown_ = false;  // under state_->mu
  std::vector<std::thread> workers_;
};

}  // namespace

GuardedHttpServer::GuardedHttpServer(HttpLimits limits) : state_(std::make_shared<State>(limits)) {
  new_task_queue = [state = state_] { return new GuardedQueue(state); };
}

GuardedHttpServer::~GuardedHttpServer() = default;

void GuardedHttpServer::WidenListenBacklog() {
  // listen() again on a listening socket only changes its backlog (Linux).
  // The kernel's largest: a burst of connections (idle clients, a scraper's
  // retries) must not overflow the accept queue, because a dropped SYN is
  // retried only after a second and a probe behind it would wait that long.
  // Accepting is cheap; the connection limit is enforced after accept().
  if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, SOMAXCONN);
}

bool GuardedHttpServer::process_and_close_socket(socket_t sock) {
  State& s = *state_;
  const auto start = t_accepted;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    const bool expired = Clock::now() >= start + s.limits.request_timeout;
    if (t_drop || s.stopping || expired) {
      if (expired && !t_drop) ++s.timed_out;
      CloseSocket(sock);
      return false;
    }
    s.connections[sock] = State::Connection{start};
  }
  DeadlineStream stream(sock, start + s.limits.request_timeout, start + s.limits.connection_timeout);
  bool closed = false, ok = false;
  try {
    ok = process_request(stream, /*close_connection=*/true, closed, [&](httplib::Request&) {
      stream.RequestRead();
      std::lock_guard<std::mutex> lock(s.mu);
      s.connections[sock].request_read = true;
    });
  } catch (const std::exception& e) {
    spdlog::debug("http: request failed: {}", e.what());
  }
  {
    // Unregistered before it is closed: an eviction never shuts down a reused descriptor.
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.connections.find(sock);
    if (it->second.evicted) {
      --s.evicting;
    } else if (stream.timed_out()) {
      ++s.timed_out;
    }
    s.connections.erase(it);
    s.Summarize();
  }
  CloseSocket(sock);
  return ok;
}

}  // namespace outbox::relay
