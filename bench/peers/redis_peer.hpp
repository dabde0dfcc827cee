// A redis-server (Debian's package) started by a benchmark as the peer it measures against: on a free-ish
// port derived from the process id, without persistence, output discarded; stopped (SIGTERM, reaped) when
// the handle goes.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

namespace ecsdb::bench {

class RedisServer {
 public:
  // Starts one (`port_offset` keeps two suites of one process apart); null, with `note` saying why, when
  // redis-server is not installed. Does not wait for it to accept connections.
  static std::unique_ptr<RedisServer> start(int port_offset, std::string& note);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  int port() const noexcept { return port_; }

 private:
  RedisServer(pid_t pid, int port) : pid_(pid), port_(port) {}
  pid_t pid_;
  int port_;
};

}  // namespace ecsdb::bench
