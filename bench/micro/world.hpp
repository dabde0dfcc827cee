// Shared fixtures of the micro-benchmarks: a database of N entities with transform + health, the same
// rows in raw std::vectors (the baselines), and random samples drawn before any timed loop.
//
// Worlds are built once per (entities, publish mode) and cached for the whole run: filling 1M entities
// costs far more than most benchmarks. Writer benchmarks leave a world with the entities it started with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/suites/bench_schema.hpp"
#include "ecsdb/database.hpp"

namespace ecsdb::bench {

inline constexpr std::int64_t kDefaultEntities = 1'000'000;
// Writes between two publish() calls in the batched writer benchmarks: one game "tick".
inline constexpr std::uint32_t kTickOps = 1024;
// Publish modes, the second benchmark argument of writer benchmarks.
inline constexpr std::int64_t kPublishPerTick = 0;
inline constexpr std::int64_t kPublishEachCommit = 1;
// Random inputs per sample vector; benchmarks cycle through them.
inline constexpr std::size_t kSampleSize = std::size_t{1} << 20;

struct World {
  std::unique_ptr<Database> db;
  std::vector<Entity> entities;            // creation order == dense row order == raw vector index
  std::vector<Transform> raw_transforms;   // the raw baseline, same values and order
  std::vector<Health> raw_health;
  std::vector<Entity> sample;              // kSampleSize random picks from `entities`
};

// The cached world of `entities` entities; publish_mode is kPublishPerTick (DatabaseOptions
// publish_every_commits = 0) or kPublishEachCommit (= 1). Aborts when the database refuses set-up.
World& world(std::int64_t entities, std::int64_t publish_mode);

// Aborts the run on a failed status: a benchmark that measures failures measures nothing.
void check(const Status& s);

// Publishes every kTickOps writes in per-tick mode; the database publishes by itself otherwise.
class Tick {
 public:
  Tick(WriterHandle& writer, std::int64_t publish_mode) : writer_(writer), every_(publish_mode == kPublishPerTick ? kTickOps : 0) {}
  ~Tick() { writer_.publish(); }
  void op() {
    if (every_ != 0 && ++ops_ == every_) {
      ops_ = 0;
      writer_.publish();
    }
  }

 private:
  WriterHandle& writer_;
  std::uint32_t every_;
  std::uint32_t ops_ = 0;
};

// Entities per world: 1,000,000, or $ECSDB_BENCH_ENTITIES when set (e.g. 1000 for a quick run).
std::int64_t entity_count();
// Args: {entities}.
void entity_sizes(benchmark::internal::Benchmark* b);
// Args: {entities, publish_mode} for both modes.
void writer_sizes(benchmark::internal::Benchmark* b);

}  // namespace ecsdb::bench
