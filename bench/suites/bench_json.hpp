// The output shape shared by every `ecsdb bench` suite (DESIGN.md §5):
//   {"machine": {"cpus": N, "model": "...", "compiler": "..."},
//    "results": {"NAME": {"value": X, "unit": "ns", "baseline": "raw_read_ns" or null}}}
// plus the small statistics every suite uses (medians of repetitions, percentiles of samples).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ecsdb::bench {

// {"cpus": ..., "model": ..., "compiler": ...} for the machine running the suite.
nlohmann::json machine_json();

// One figure: {"value": value, "unit": unit, "baseline": baseline or null}.
nlohmann::json figure(double value, std::string_view unit, std::string_view baseline = {});

// Median of `samples` (the mean of the two middle ones for an even count); 0 for none.
double median(std::vector<double> samples);
// The p-th percentile (0..100, nearest rank) of `samples`; 0 for none.
double percentile(std::vector<double> samples, double p);

// Monotonic nanoseconds, for timing loops.
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Resident set size of this process in bytes (/proc/self/statm), 0 where unavailable.
std::uint64_t resident_bytes();

}  // namespace ecsdb::bench
