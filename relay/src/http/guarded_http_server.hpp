#pragma once
// Private to relay/src/http: an httplib::Server that slow, idle or too many
// clients cannot keep from answering probes.

#include <chrono>
#include <cstddef>
#include <memory>

#include <httplib.h>

namespace outbox::relay {

/// Limits of GuardedHttpServer.
struct HttpLimits {
  size_t workers = 8;           ///< connections served at once
  size_t max_connections = 64;  ///< served + waiting for a worker; beyond it the oldest waiting one is closed
  /// The request line and headers must arrive within this of the connection being accepted.
  std::chrono::milliseconds request_timeout{2000};
  /// The whole exchange (request and response) must finish within this.
  std::chrono::milliseconds connection_timeout{5000};
};

/// httplib's server with a different connection policy (httplib 0.11 has a fixed
/// thread pool, an unbounded first-come queue and a per-read timeout that a client
/// sending one byte a second never hits):
///  - one request per connection (`Connection: close`);
///  - the request line and headers must arrive within `request_timeout` of the
///    connection being accepted, the answer within `connection_timeout`;
///  - waiting connections are served newest first, and beyond `max_connections`
///    the oldest waiting one is closed unserved;
///  - when a connection waits and every worker is busy, the worker serving the
///    oldest connection that has still not sent its whole request is freed (that
///    connection is closed).
/// A prompt client, such as a probe, is therefore served at once however many
/// slow or idle ones there are. Routes, bind and listen are httplib's. Dropped,
/// evicted and timed-out connections are logged as one summary line a minute at most.
class GuardedHttpServer : public httplib::Server {
 public:
  explicit GuardedHttpServer(HttpLimits limits = {});
  ~GuardedHttpServer() override;
  GuardedHttpServer(const GuardedHttpServer&) = delete;
  GuardedHttpServer& operator=(const GuardedHttpServer&) = delete;

  /// Call after bind_to_port/bind_to_any_port: httplib listens with a backlog of 5, so
  /// a burst of connections (a flood, or only slow clients) makes the kernel drop a
  /// probe's SYN, which the client resends only a second later. Widens it to the
  /// kernel's largest (SOMAXCONN; net.core.somaxconn caps it).
  void WidenListenBacklog();

  struct State;  // connections, workers, counters; shared with the task queue

 private:
  // httplib calls this (virtually) from a worker for every accepted connection.
  bool process_and_close_socket(socket_t sock) override;

  std::shared_ptr<State> state_;
};

}  // namespace outbox::relay
