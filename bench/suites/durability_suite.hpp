// The `ecsdb bench durability` suite (DESIGN.md §5; every figure is defined in docs/benchmarks.md): what
// durability costs, each figure beside a baseline measured in the same run on the same file system —
// SQLite in WAL mode with synchronous=FULL for durable throughput, a bare append + fdatasync for one
// durable commit, a bare write + fdatasync of the same byte count for a snapshot.
//
// Method: throughput figures run committer threads for a fixed share of `seconds` (3 repetitions, median);
// latency figures are the p50 of sequential samples; snapshot and recovery times are medians of 3 runs.
// Everything is written under `dir` (default: a fresh directory in the system temp dir, removed after).
//
// Thread-safety: call from one thread; the figures start their own committer threads.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ecsdb/status.hpp"

namespace ecsdb::bench {

struct DurabilitySuiteOptions {
  // Entities (each with transform, health and velocity) for snapshot_ms and recovery_ms.
  std::size_t entities = 1'000'000;
  // Measurement budget for the throughput and latency figures; set-up, snapshot and recovery not counted.
  double seconds = 10.0;
  // Transactions in flight across all committer threads (durable_tps, async_tps).
  std::size_t in_flight = 1000;
  // Parent directory for the suite's files (empty: the system temp dir). Must be on the disk to measure.
  std::string dir;
  std::function<void(std::string_view)> progress;
};

// {"machine": {...}, "config": {...}, "results": {"durable_tps": {...}, ...}}.
Result<nlohmann::json> run_durability_suite(const DurabilitySuiteOptions& options);

}  // namespace ecsdb::bench
