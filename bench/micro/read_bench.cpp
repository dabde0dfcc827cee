// Point reads of random entities: through a held PinnedView, with a pin per read, and the raw baseline
// (index into a std::vector of the same rows). Inputs cycle through World::sample, drawn at set-up.
//
// Each loop adds what it reads to a sum, as the suite's loops do (bench/suites/txn_suite.cpp), and hands
// the sum to DoNotOptimize once at the end. DoNotOptimize of the element itself is no read: for an lvalue in
// memory the compiler may hand the asm statement its address and load nothing (the raw baseline measured
// 0.55 ns at a million entities that way, with no load in its loop).
#include <benchmark/benchmark.h>

#include "bench/micro/world.hpp"

namespace ecsdb::bench {
namespace {

void BM_Get_Pinned(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  const PinnedView view = w.db->pin();
  std::size_t i = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    const Health* h = view.get<Health>(w.sample[i]);
    sum += h != nullptr ? h->hp : 0u;
    i = (i + 1) & (kSampleSize - 1);
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Get_Pinned)->Apply(entity_sizes);

// The same random reads through a Reader: the table resolved once, its directories held in the reader.
void BM_Get_Reader(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  const PinnedView view = w.db->pin();
  const auto health = view.reader<Health>();
  std::size_t i = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    const Health* h = health.get(w.sample[i]);
    sum += h != nullptr ? h->hp : 0u;
    i = (i + 1) & (kSampleSize - 1);
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Get_Reader)->Apply(entity_sizes);

// get_many in batches of 64: the same random reads, issued so their cache misses overlap.
void BM_GetMany_Pinned(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  const PinnedView view = w.db->pin();
  constexpr std::size_t kBatch = 64;
  const Health* out[kBatch];
  std::size_t i = 0;
  for (auto _ : state) {
    view.get_many<Health>(std::span<const Entity>(w.sample.data() + i, kBatch), std::span<const Health*>(out, kBatch));
    std::uint32_t sum = 0;
    for (const Health* h : out) sum += h != nullptr ? h->hp : 0u;
    benchmark::DoNotOptimize(sum);
    i = (i + kBatch) & (kSampleSize - 1);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_GetMany_Pinned)->Apply(entity_sizes);

void BM_PinGetUnpin(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  std::size_t i = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    const PinnedView view = w.db->pin();
    const Health* h = view.get<Health>(w.sample[i]);
    sum += h != nullptr ? h->hp : 0u;
    i = (i + 1) & (kSampleSize - 1);
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PinGetUnpin)->Apply(entity_sizes);

void BM_Raw_RandomRead(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  const Health* rows = w.raw_health.data();
  std::size_t i = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    sum += rows[w.sample[i].index()].hp;
    i = (i + 1) & (kSampleSize - 1);
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Raw_RandomRead)->Apply(entity_sizes);

// The writer's own view (committed, maybe unpublished): the read path of game logic on the sim thread.
void BM_Writer_Get(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  const WriterHandle& writer = w.db->writer();
  std::size_t i = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    const Health* h = writer.get<Health>(w.sample[i]);
    sum += h != nullptr ? h->hp : 0u;
    i = (i + 1) & (kSampleSize - 1);
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Writer_Get)->Apply(entity_sizes);

}  // namespace
}  // namespace ecsdb::bench
