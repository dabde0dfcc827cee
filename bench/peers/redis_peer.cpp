#include "bench/peers/redis_peer.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace ecsdb::bench {

std::unique_ptr<RedisServer> RedisServer::start(int port_offset, std::string& note) {
  if (std::system("command -v redis-server >/dev/null 2>&1") != 0) {
    note = "redis-server not installed (Debian: redis-server)";
    return nullptr;
  }
  const int port = 20000 + static_cast<int>((getpid() + port_offset) % 20000);
  const pid_t pid = fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    const std::string p = std::to_string(port);
    // No output buffer limit for pub/sub subscribers: a slow subscriber is part of what is measured.
    execlp("redis-server", "redis-server", "--port", p.c_str(), "--save", "", "--appendonly", "no", "--daemonize", "no",
           "--loglevel", "warning", "--client-output-buffer-limit", "pubsub", "0", "0", "0", static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid < 0) {
    note = "fork failed";
    return nullptr;
  }
  return std::unique_ptr<RedisServer>(new RedisServer(pid, port));
}

RedisServer::~RedisServer() {
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
}

}  // namespace ecsdb::bench
