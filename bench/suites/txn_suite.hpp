// The `ecsdb bench txn` suite (DESIGN.md §5; every figure is defined in docs/benchmarks.md): point reads,
// scans and single-operation write transactions over `entities` entities with transform + health, each
// beside a baseline measured in the same run — a raw std::vector of the same rows for reads and scans,
// SQLite in-memory with prepared statements for writes.
//
// Method: each figure is timed with std::chrono::steady_clock over a batch of operations (random inputs
// drawn before the clock starts), repeated at least `min_repetitions` times and until its share of
// `seconds` is spent (at most `max_repetitions`); the reported value is the median repetition.
//
// Thread-safety: runs on the calling thread (the queue figures start their own producer threads).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ecsdb/status.hpp"

namespace ecsdb::bench {

struct TxnSuiteOptions {
  std::size_t entities = 1'000'000;
  // Measurement budget, shared out evenly across the figures. Set-up (populating ECSDb and SQLite) is
  // not counted, and every figure still runs min_repetitions times, so a tiny budget is a floor, not a cap.
  double seconds = 10.0;
  int min_repetitions = 3;
  int max_repetitions = 15;
  // Writes between two WriterHandle::publish() calls in the batched-publish figures: one game "tick".
  std::uint32_t tick_ops = 1024;
  // DatabaseOptions::page_bytes of every ECSDb database the suite opens (the page-size trade-off of ADR 0015).
  std::uint32_t page_bytes = 16 * 1024;
  // DatabaseOptions::ping_pong_pages of every ECSDb database the suite opens (ADR 0016).
  bool ping_pong_pages = true;
  // Reader scaling: read_ns_threads_T and scan_ns_per_row_threads_T for T = 1, 2, 4, ... up to this many
  // reader threads while the writer commits ticks (and writer_tick_us_threads_T beside the writer alone).
  std::uint32_t reader_threads = 2;
  // Called with a short line as each phase starts (the CLI prints them to stderr); may be empty.
  std::function<void(std::string_view)> progress;
};

// {"machine": {...}, "config": {"suite", "entities", "seconds", "tick_ops"},
//  "results": {"read_ns": {"value": .., "unit": "ns", "baseline": "raw_read_ns"}, ...}}.
// Fails only when the database refuses an operation the suite relies on (a bug worth reporting).
Result<nlohmann::json> run_txn_suite(const TxnSuiteOptions& options);


}  // namespace ecsdb::bench
