// The `ecsdb bench replication` suite (DESIGN.md §5; figures defined in docs/benchmarks.md): a game server
// ticking field updates into ECSDb and replicating them to `clients` replicas, beside the same updates fanned
// out through Redis pub/sub, the peer a team would otherwise build this on.
//
// Method: the server runs in a child process (forked first, so its CPU and memory are its own): an in-memory
// database of `entities` entities with a transform row each, a ReplicationServer with one network thread, and
// a tick loop that commits `updates_per_tick` distinct random transform.position_x updates per tick at
// `tick_hz` for `seconds`. The parent holds `clients` Replica objects (full sync first, then the ticks) and one
// more client that says HELLO and then never reads (the server's memory must stay flat while it is paused:
// repl_server_mem_growth_bytes is the growth of the server's RSS over the last two thirds of the ticks).
// Lag = server publish -> replica applied and visible, on CLOCK_REALTIME (one machine, one clock). The Redis
// peer: redis-server from Debian, a publisher sending each tick's updates as one binary message (8-byte
// timestamp, then per update a u32 entity index and the f32 value: 8 bytes, the most compact encoding), and
// `clients` subscribers decoding every message; lag = publish time -> subscriber decoded.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ecsdb/status.hpp"

namespace ecsdb::bench {

struct ReplicationSuiteOptions {
  std::size_t entities = 100000;
  std::size_t clients = 64;
  std::size_t updates_per_tick = 10000;
  double tick_hz = 60;
  double seconds = 10;
  bool compress = true;  // the replicas ask for zstd (ReplicaOptions::compress)
  std::function<void(std::string_view)> progress;
};

Result<nlohmann::json> run_replication_suite(const ReplicationSuiteOptions& options);

}  // namespace ecsdb::bench
