// The SQLite peer on the same rows (bench/peers/sqlite_peer.hpp): one autocommit statement per op.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>

#include "bench/micro/world.hpp"
#include "bench/peers/sqlite_peer.hpp"

namespace ecsdb::bench {
namespace {

SqlitePeer& peer(std::int64_t rows) {
  static std::map<std::int64_t, std::unique_ptr<SqlitePeer>> cache;
  std::unique_ptr<SqlitePeer>& slot = cache[rows];
  if (slot == nullptr) {
    slot = std::make_unique<SqlitePeer>();
    slot->bulk_insert(0, rows);
  }
  return *slot;
}

void BM_Sqlite_Read(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  SqlitePeer& db = peer(state.range(0));
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(db.read_hp(w.sample[i].index()));
    i = (i + 1) & (kSampleSize - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sqlite_Read)->Apply(entity_sizes);

void BM_Sqlite_Update_Field(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  SqlitePeer& db = peer(state.range(0));
  std::size_t i = 0;
  std::uint32_t v = 0;
  for (auto _ : state) {
    db.update_hp(w.sample[i].index(), ++v);
    i = (i + 1) & (kSampleSize - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sqlite_Update_Field)->Apply(entity_sizes);

// One iteration is one INSERT plus one DELETE of a fresh id past the populated range.
void BM_Sqlite_Insert_Delete(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  SqlitePeer& db = peer(n);
  std::int64_t id = n;
  for (auto _ : state) {
    db.insert(id, 100, 100);
    db.remove(id);
    ++id;
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_Sqlite_Insert_Delete)->Apply(entity_sizes);

}  // namespace
}  // namespace ecsdb::bench
