#include "server/server_metrics.hpp"

#include <cstdio>

namespace ecsdb::server {

void SecondsHistogram::record_ns(std::uint64_t ns) noexcept {
  const double s = static_cast<double>(ns) * 1e-9;
  std::size_t b = 0;
  while (b < kBounds.size() && s > kBounds[b]) ++b;
  buckets_[b].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
  fine_.record(ns);
}

std::string SecondsHistogram::prometheus(const std::string& name, const std::string& help) const {
  std::string out = "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  std::uint64_t cumulative = 0;
  char line[160];
  for (std::size_t b = 0; b < kBounds.size(); ++b) {
    cumulative += buckets_[b].load(std::memory_order_relaxed);
    std::snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", name.c_str(), kBounds[b],
                  static_cast<unsigned long long>(cumulative));
    out += line;
  }
  cumulative += buckets_[kBounds.size()].load(std::memory_order_relaxed);
  std::snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n", name.c_str(), static_cast<unsigned long long>(cumulative));
  out += line;
  std::snprintf(line, sizeof line, "%s_sum %.9f\n%s_count %llu\n", name.c_str(),
                static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9, name.c_str(),
                static_cast<unsigned long long>(cumulative));
  out += line;
  return out;
}

void ServerMetrics::count_request(const std::string& route, unsigned status) {
  base::MutexLock lock(mu_);
  ++requests_[{route, status}];
}

std::uint64_t ServerMetrics::requests_total() const {
  base::MutexLock lock(mu_);
  std::uint64_t n = 0;
  for (const auto& [key, count] : requests_) n += count;
  return n;
}

std::map<std::pair<std::string, unsigned>, std::uint64_t> ServerMetrics::requests() const {
  base::MutexLock lock(mu_);
  return requests_;
}

}  // namespace ecsdb::server
