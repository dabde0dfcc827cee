// The `ecsdb bench server` suite (DESIGN.md §5; figures defined in docs/benchmarks.md): the HTTP/JSON API and
// the change stream under load, beside Redis as the peer a game team would otherwise put next to its game.
//
// Method: an in-process `ecsdb serve` (async durability, a fresh data directory, `server_threads` network
// threads) over a world of `entities` entities; a load generator in the same process drives `connections`
// keep-alive connections (each sends its next request when the answer arrives) for a third of `seconds`
// per figure. redis_set_tps runs redis-benchmark (SET, same connection count) against a redis-server the
// suite starts (Debian packages; the figure is left out, and said so, when they are missing). Load and
// server share the machine's cores, as they would on a game server.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ecsdb/status.hpp"

namespace ecsdb::bench {

struct ServerSuiteOptions {
  std::size_t entities = 10000;
  double seconds = 10.0;
  std::size_t connections = 64;
  std::size_t stream_clients = 100;
  unsigned server_threads = 2;
  std::string dir;  // parent of the data directory (empty: the system temp dir)
  std::function<void(std::string_view)> progress;
};

Result<nlohmann::json> run_server_suite(const ServerSuiteOptions& options);

}  // namespace ecsdb::bench
