#include "bench/micro/world.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <utility>

namespace ecsdb::bench {

void check(const Status& s) {
  if (!s.is_ok()) {
    std::fprintf(stderr, "benchmark set-up failed: %s\n", s.to_string().c_str());
    std::abort();
  }
}

World& world(std::int64_t entities, std::int64_t publish_mode) {
  static std::map<std::pair<std::int64_t, std::int64_t>, std::unique_ptr<World>> cache;
  std::unique_ptr<World>& slot = cache[{entities, publish_mode}];
  if (slot != nullptr) return *slot;

  auto w = std::make_unique<World>();
  const auto n = static_cast<std::size_t>(entities);
  const DatabaseOptions options{.publish_every_commits = publish_mode == kPublishEachCommit ? 1u : 0u};
  auto db = Database::open(game_schema(), options);
  check(db.status());
  w->db = std::move(*db);
  {
    Transaction t = w->db->writer().begin();
    check(t.create_many(n, w->entities));
    for (std::size_t i = 0; i < n; ++i) {
      check(t.add(w->entities[i], transform_of(i)));
      check(t.add(w->entities[i], health_of(i)));
    }
    check(t.commit());
    w->db->writer().publish();
  }
  w->raw_transforms.resize(n);
  w->raw_health.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    w->raw_transforms[i] = transform_of(i);
    w->raw_health[i] = health_of(i);
  }
  std::mt19937_64 rng(0x5EED'ECDB);
  std::uniform_int_distribution<std::size_t> pick(0, n - 1);
  w->sample.resize(kSampleSize);
  for (Entity& e : w->sample) e = w->entities[pick(rng)];
  slot = std::move(w);
  return *slot;
}

std::int64_t entity_count() {
  // Read at registration (static initialisation): the argument is part of each benchmark's name.
  static const std::int64_t n = [] {
    const char* env = std::getenv("ECSDB_BENCH_ENTITIES");
    const long long v = env != nullptr ? std::atoll(env) : 0;
    return v > 0 ? static_cast<std::int64_t>(v) : kDefaultEntities;
  }();
  return n;
}

void entity_sizes(benchmark::internal::Benchmark* b) { b->ArgName("entities")->Arg(entity_count()); }

void writer_sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"entities", "publish_each"});
  for (std::int64_t mode : {kPublishPerTick, kPublishEachCommit}) b->Args({entity_count(), mode});
}

}  // namespace ecsdb::bench
