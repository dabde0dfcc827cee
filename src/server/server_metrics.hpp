// ServerMetrics — the server's own figures (requests, latencies, connections, stream clients), rendered with
// the database's as Prometheus text (/metrics) and JSON (/api/metrics). Counters are relaxed atomics: any
// network thread records, any thread renders.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "base/latency_histogram.hpp"
#include "base/mutex.hpp"

namespace ecsdb::server {

// A Prometheus histogram over fixed bounds in seconds (cumulative at render), plus a fine log-scaled
// histogram for the p50/p99 of /api/metrics.
class SecondsHistogram {
 public:
  static constexpr std::array<double, 16> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,    10};
  void record_ns(std::uint64_t ns) noexcept;
  // "# TYPE name histogram" block with _bucket, _sum and _count.
  std::string prometheus(const std::string& name, const std::string& help) const;
  std::uint64_t count() const noexcept { return fine_.count(); }
  double quantile_seconds(double q) const noexcept { return static_cast<double>(fine_.quantile(q)) * 1e-9; }

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};  // last = +Inf
  std::atomic<std::uint64_t> sum_ns_{0};
  base::LatencyHistogram fine_;
};

class ServerMetrics {
 public:
  void count_request(const std::string& route, unsigned status);
  std::uint64_t requests_total() const;
  // route -> status -> count
  std::map<std::pair<std::string, unsigned>, std::uint64_t> requests() const;

  SecondsHistogram request_seconds;   // every HTTP request, read to written
  SecondsHistogram commit_seconds;    // POST /api/transactions: submitted to resolved (durable in sync mode)
  std::atomic<std::int64_t> connections{0};
  std::atomic<std::int64_t> stream_clients{0};
  std::atomic<std::uint64_t> stream_messages_total{0};
  std::atomic<std::uint64_t> stream_coalesced_total{0};   // deltas folded into a later message (slow clients)
  std::atomic<std::uint64_t> rejected_connections_total{0};
  std::atomic<std::uint64_t> rate_limited_total{0};
  SecondsHistogram stream_lag_seconds;  // version published -> its message written to a client

 private:
  mutable base::Mutex mu_;
  std::map<std::pair<std::string, unsigned>, std::uint64_t> requests_ ECSDB_GUARDED_BY(mu_);
};

}  // namespace ecsdb::server
