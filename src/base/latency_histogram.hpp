// LatencyHistogram — log-scaled histogram of durations (or any non-negative counts), recorded by any
// thread (record) or by its one owner only (record_owned), and read by any: buckets are relaxed atomics, so
// a reader sees a near-consistent picture.
// Resolution: 4 buckets per power of two (about 19% relative error), 1 ns to ~1000 s.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "base/owner_counter.hpp"

namespace ecsdb::base {

// Nanoseconds from `from` to `to` on the steady clock (a batch of latencies measured at one clock read).
inline std::uint64_t nanos_between(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count());
}

// Nanoseconds since `t` on the steady clock: what every latency figure records.
inline std::uint64_t nanos_since(std::chrono::steady_clock::time_point t) noexcept {
  return nanos_between(t, std::chrono::steady_clock::now());
}

// Nanoseconds since the Unix epoch on CLOCK_REALTIME: a moment that another machine (with a synced clock) can
// compare with its own, as replication lag does.
inline std::uint64_t unix_nanos() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

class LatencyHistogram {
 public:
  static constexpr int kSubBuckets = 4;
  static constexpr int kBuckets = 40 * kSubBuckets;

  void record(std::uint64_t value) noexcept {
    buckets_[bucket_of(value)].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }
  // record() for a histogram that only one thread ever records into (the writer's): plain loads and
  // stores instead of three locked read-modify-writes, which on the writer's hot path would each wait for
  // its earlier stores to reach the cache (base/owner_counter.hpp). Readers still see whole values.
  void record_owned(std::uint64_t value) noexcept {
    base::bump(buckets_[bucket_of(value)]);
    base::bump(count_);
    base::bump(sum_, value);
  }
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  std::uint64_t sum() const noexcept { return sum_.load(std::memory_order_relaxed); }
  double mean() const noexcept {
    const std::uint64_t n = count();
    return n == 0 ? 0.0 : static_cast<double>(sum_.load(std::memory_order_relaxed)) / static_cast<double>(n);
  }
  // Upper bound of the bucket holding the q-quantile (0 <= q <= 1); 0 when empty.
  std::uint64_t quantile(double q) const noexcept;

  static int bucket_of(std::uint64_t v) noexcept {
    if (v < 4) return static_cast<int>(v);
    const int log2 = 63 - __builtin_clzll(v);
    const int sub = static_cast<int>((v >> (log2 - 2)) & 3);
    const int b = log2 * kSubBuckets + sub;
    return b < kBuckets ? b : kBuckets - 1;
  }
  static std::uint64_t bucket_upper(int b) noexcept {
    if (b < 4) return static_cast<std::uint64_t>(b);
    const int log2 = b / kSubBuckets;
    const int sub = b % kSubBuckets;
    const std::uint64_t base = 1ull << log2;
    return base + (base / kSubBuckets) * static_cast<std::uint64_t>(sub + 1) - 1;
  }

 private:
  std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_{0};
};

inline std::uint64_t LatencyHistogram::quantile(double q) const noexcept {
  const std::uint64_t n = count();
  if (n == 0) return 0;
  const auto target = static_cast<std::uint64_t>(q * static_cast<double>(n - 1)) + 1;
  std::uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += buckets_[b].load(std::memory_order_relaxed);
    if (seen >= target) return bucket_upper(b);
  }
  return bucket_upper(kBuckets - 1);
}

}  // namespace ecsdb::base
