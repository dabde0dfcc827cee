// Whole-table iteration, one pass per benchmark iteration; the "per_row" counter is the figure to
// compare with the raw std::vector loops beside each. The work per row is a small system: filter on the
// position (three float adds and a compare) and count or sum health, so the loop is not pure bandwidth.
#include <benchmark/benchmark.h>

#include "bench/micro/world.hpp"

namespace ecsdb::bench {
namespace {

constexpr float kThreshold = 1.5f;

void per_row(benchmark::State& state, std::size_t rows) {
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(rows));
  // Inverted rate: seconds per row, printed with an SI prefix ("870ps" = 0.87 ns per row).
  state.counters["per_row"] = benchmark::Counter(static_cast<double>(rows),
                                                    benchmark::Counter::kIsIterationInvariantRate |
                                                        benchmark::Counter::kInvert);
}

bool hit(const Transform& t) { return (t.position_x + t.position_y + t.position_z) > kThreshold; }

void BM_Each_Transform(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  const PinnedView view = w.db->pin();
  for (auto _ : state) {
    std::uint64_t hits = 0;
    view.each<Transform>([&](Entity, const Transform& t) { hits += hit(t); });
    benchmark::DoNotOptimize(hits);
  }
  per_row(state, view.count<Transform>());
}
BENCHMARK(BM_Each_Transform)->Apply(entity_sizes);

void BM_Raw_Scan_Transform(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  for (auto _ : state) {
    std::uint64_t hits = 0;
    for (const Transform& t : w.raw_transforms) hits += hit(t);
    benchmark::DoNotOptimize(hits);
  }
  per_row(state, w.raw_transforms.size());
}
BENCHMARK(BM_Raw_Scan_Transform)->Apply(entity_sizes);

void BM_Each_Transform_Health(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  const PinnedView view = w.db->pin();
  for (auto _ : state) {
    std::uint64_t sum = 0;
    view.each<Transform, Health>([&](Entity, const Transform& t, const Health& h) { sum += hit(t) ? h.hp : 0; });
    benchmark::DoNotOptimize(sum);
  }
  per_row(state, view.count<Transform>());
}
BENCHMARK(BM_Each_Transform_Health)->Apply(entity_sizes);

// each<Transform> without Health: every entity of the world has Health, so every row is excluded and
// none is visited. The world is one identity run, so this measures the exclusion's fast path (the index
// below Health's run, ADR 0021), not a sparse lookup.
void BM_Each_Transform_Exclude_Health(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  const PinnedView view = w.db->pin();
  for (auto _ : state) {
    std::uint64_t hits = 0;
    view.each<Transform>(exclude<Health>, [&](Entity, const Transform& t) { hits += hit(t); });
    benchmark::DoNotOptimize(hits);
  }
  per_row(state, view.count<Transform>());
}
BENCHMARK(BM_Each_Transform_Exclude_Health)->Apply(entity_sizes);

void BM_Query_Transform_Health(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  const PinnedView view = w.db->pin();
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (auto [e, t, h] : view.query<Transform, Health>()) sum += hit(t) ? h.hp : 0;
    benchmark::DoNotOptimize(sum);
  }
  per_row(state, view.count<Transform>());
}
BENCHMARK(BM_Query_Transform_Health)->Apply(entity_sizes);

void BM_Raw_Scan_Transform_Health(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  const std::size_t n = w.raw_transforms.size();
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += hit(w.raw_transforms[i]) ? w.raw_health[i].hp : 0;
    benchmark::DoNotOptimize(sum);
  }
  per_row(state, n);
}
BENCHMARK(BM_Raw_Scan_Transform_Health)->Apply(entity_sizes);

// One transaction per pass that moves every transform: after the first publish each pass copies every
// page once (copy-on-write), which is the cost this measures; published once per pass (one tick).
void BM_ForEachMut_Transform(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  WriterHandle& writer = w.db->writer();
  for (auto _ : state) {
    check(writer.for_each_mut<Transform>([](Entity, Transform& t) { t.position_x += 0.001f; }));
    writer.publish();
  }
  per_row(state, w.raw_transforms.size());
}
BENCHMARK(BM_ForEachMut_Transform)->Apply(entity_sizes);

void BM_Raw_ForEachMut_Transform(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  for (auto _ : state) {
    for (Transform& t : w.raw_transforms) t.position_x += 0.001f;
    benchmark::ClobberMemory();
  }
  per_row(state, w.raw_transforms.size());
}
BENCHMARK(BM_Raw_ForEachMut_Transform)->Apply(entity_sizes);

}  // namespace
}  // namespace ecsdb::bench
