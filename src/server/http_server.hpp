// HttpServer — the network layer of `ecsdb serve` (DESIGN.md §2.9): one Boost.Asio io_context run by its own
// threads (never the writer thread), HTTP/1.1 with keep-alive through Boost.Beast, optional TLS, the
// WebSocket change stream, the dashboard's files. Every request is bounded before it reaches the Api:
// connection count, header and body size and time, JSON depth, rate per token; auth by bearer token and
// role. The replication protocol (a later issue) adds its listener to the same io_context.
#pragma once

#include <cstdint>
#include <memory>

#include "ecsdb/status.hpp"
#include "server/api.hpp"
#include "server/server_config.hpp"
#include "server/server_metrics.hpp"
#include "replication/delta_hub.hpp"

namespace boost::asio {
class io_context;
}

namespace ecsdb::server {

class HttpServer {
 public:
  HttpServer(const ServerConfig& config, ServerMetrics& metrics, Api& api, replication::DeltaHub& hub);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the network threads. Errors name the address.
  Status start();
  std::uint16_t port() const;
  // The event loop the network threads run (the replication listener joins it: DESIGN.md §2.9).
  boost::asio::io_context& io_context();
  // Serves GET /api/replication (the replication protocol over a WebSocket) through `repl` (null: 503).
  void set_replication(ReplicationServer* repl);
  // A bare token's role and name (Role::kNone: unknown), as for "Authorization: Bearer TOKEN".
  std::pair<Role, std::string> authenticate_token(std::string_view token) const;

  // Graceful shutdown, in order: stop accepting (new requests on open connections get 503 and close),
  // wait for requests in flight (up to `grace_ms`), close the streams, stop the threads.
  void stop_accepting();
  // True when no request is being handled (Api transactions included) — or after grace_ms.
  bool wait_idle(std::uint32_t grace_ms);
  void close_streams();
  void stop();

  struct Impl;  // the io_context, acceptor, sessions' shared state (http_server.cpp)

 private:
  std::unique_ptr<Impl> impl_;
};

// SHA-256 of `text` in lower-case hex (tokens may be configured by hash: `ecsdb serve --hash-token`).
std::string sha256_hex(std::string_view text);

}  // namespace ecsdb::server
