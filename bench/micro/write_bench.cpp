// Writer operations, each an implicit single-operation transaction through the WriterHandle unless named
// "Bulk". Every one runs in two publish modes (second argument, `publish_each`):
//   0: DatabaseOptions{.publish_every_commits = 0} and one publish() per kTickOps (1024) writes — a tick;
//   1: publish after every commit (the default options), so each commit pays its publish.
// Entities the operations consume come from pools built (and torn down) outside the timed region.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "bench/micro/world.hpp"

namespace ecsdb::bench {
namespace {

constexpr std::size_t kPoolSize = std::size_t{1} << 16;

// `n` fresh entities with a transform (and a health when `with_health`), in one transaction.
void make_pool(WriterHandle& writer, std::size_t n, bool with_health, std::vector<Entity>& pool) {
  pool.clear();
  Transaction t = writer.begin();
  check(t.create_many(n, pool));
  for (std::size_t i = 0; i < n; ++i) {
    check(t.add(pool[i], transform_of(i)));
    if (with_health) check(t.add(pool[i], health_of(i)));
  }
  check(t.commit());
  writer.publish();
}

void destroy_pool(WriterHandle& writer, const std::vector<Entity>& pool) {
  Transaction t = writer.begin();
  for (Entity e : pool) {
    if (t.alive(e)) check(t.destroy(e));
  }
  check(t.commit());
  writer.publish();
}

void BM_Create_Bulk(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<Entity> ids;
  for (auto _ : state) {
    auto db = Database::open(game_schema(), DatabaseOptions{.publish_every_commits = 0});
    check(db.status());
    WriterHandle& writer = (*db)->writer();
    ids.clear();
    Transaction t = writer.begin();
    check(t.create_many(n, ids));
    for (std::size_t i = 0; i < n; ++i) {
      check(t.add(ids[i], transform_of(i)));
      check(t.add(ids[i], health_of(i)));
    }
    check(t.commit());
    writer.publish();
    state.PauseTiming();  // tearing the database down is not creation
    db->reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Create_Bulk)->Apply(entity_sizes)->Unit(benchmark::kMillisecond);

// The same world through add_many (rows copied page by page, one undo record per table).
void BM_Create_Bulk_AddMany(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<Entity> ids;
  std::vector<Transform> transforms(n);
  std::vector<Health> healths(n);
  for (std::size_t i = 0; i < n; ++i) {
    transforms[i] = transform_of(i);
    healths[i] = health_of(i);
  }
  for (auto _ : state) {
    auto db = Database::open(game_schema(), DatabaseOptions{.publish_every_commits = 0});
    check(db.status());
    WriterHandle& writer = (*db)->writer();
    ids.clear();
    Transaction t = writer.begin();
    check(t.create_many(n, ids));
    check(t.add_many<Transform>(ids, transforms));
    check(t.add_many<Health>(ids, healths));
    check(t.commit());
    writer.publish();
    state.PauseTiming();
    db->reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Create_Bulk_AddMany)->Apply(entity_sizes)->Unit(benchmark::kMillisecond);

void BM_Raw_Create_Bulk(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    std::vector<std::uint64_t> ids;
    std::vector<Transform> transforms;
    std::vector<Health> health;
    for (std::size_t i = 0; i < n; ++i) {
      ids.push_back(i);
      transforms.push_back(transform_of(i));
      health.push_back(health_of(i));
    }
    benchmark::DoNotOptimize(ids.data());
    benchmark::DoNotOptimize(transforms.data());
    benchmark::DoNotOptimize(health.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Raw_Create_Bulk)->Apply(entity_sizes)->Unit(benchmark::kMillisecond);

void BM_Create_Single(benchmark::State& state) {
  World& w = world(state.range(0), state.range(1));
  WriterHandle& writer = w.db->writer();
  std::vector<Entity> created;
  created.reserve(kPoolSize);
  {
    Tick tick(writer, state.range(1));
    for (auto _ : state) {
      if (created.size() == kPoolSize) {
        state.PauseTiming();
        destroy_pool(writer, created);
        created.clear();
        state.ResumeTiming();
      }
      Result<Entity> e = writer.create();
      check(e.status());
      created.push_back(*e);
      tick.op();
    }
  }
  destroy_pool(writer, created);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Create_Single)->Apply(writer_sizes);

void BM_Add_Health(benchmark::State& state) {
  World& w = world(state.range(0), state.range(1));
  WriterHandle& writer = w.db->writer();
  std::vector<Entity> pool;
  make_pool(writer, kPoolSize, /*with_health=*/false, pool);
  std::size_t i = 0;
  {
    Tick tick(writer, state.range(1));
    for (auto _ : state) {
      if (i == pool.size()) {
        state.PauseTiming();
        Transaction t = writer.begin();
        for (Entity e : pool) check(t.remove<Health>(e));
        check(t.commit());
        i = 0;
        state.ResumeTiming();
      }
      check(writer.add(pool[i], health_of(i)));
      tick.op();
      ++i;
    }
  }
  destroy_pool(writer, pool);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Add_Health)->Apply(writer_sizes);

void BM_Remove_Health(benchmark::State& state) {
  World& w = world(state.range(0), state.range(1));
  WriterHandle& writer = w.db->writer();
  std::vector<Entity> pool;
  make_pool(writer, kPoolSize, /*with_health=*/true, pool);
  std::size_t i = 0;
  {
    Tick tick(writer, state.range(1));
    for (auto _ : state) {
      if (i == pool.size()) {
        state.PauseTiming();
        Transaction t = writer.begin();
        for (std::size_t k = 0; k < pool.size(); ++k) check(t.add(pool[k], health_of(k)));
        check(t.commit());
        i = 0;
        state.ResumeTiming();
      }
      check(writer.remove<Health>(pool[i]));
      tick.op();
      ++i;
    }
  }
  destroy_pool(writer, pool);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Remove_Health)->Apply(writer_sizes);

void BM_Destroy(benchmark::State& state) {
  World& w = world(state.range(0), state.range(1));
  WriterHandle& writer = w.db->writer();
  std::vector<Entity> pool;
  make_pool(writer, kPoolSize, /*with_health=*/true, pool);
  std::size_t i = 0;
  {
    Tick tick(writer, state.range(1));
    for (auto _ : state) {
      if (i == pool.size()) {
        state.PauseTiming();
        make_pool(writer, kPoolSize, /*with_health=*/true, pool);
        i = 0;
        state.ResumeTiming();
      }
      check(writer.destroy(pool[i]));
      tick.op();
      ++i;
    }
  }
  destroy_pool(writer, pool);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Destroy)->Apply(writer_sizes);

void BM_Update_Field(benchmark::State& state) {
  World& w = world(state.range(0), state.range(1));
  WriterHandle& writer = w.db->writer();
  std::size_t i = 0;
  std::uint32_t v = 0;
  {
    Tick tick(writer, state.range(1));
    for (auto _ : state) {
      check(writer.set(w.sample[i], &Health::hp, ++v));
      tick.op();
      i = (i + 1) & (kSampleSize - 1);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Update_Field)->Apply(writer_sizes);

// The same one-field update with a publish per commit, in a smaller world (kWideEntities entities) whose
// schema has `extra_tables` more component tables than the game schema's two, all empty: what a publish
// costs for each table a game defines, whether the commit touched it or not. Args: {extra_tables}.
constexpr std::size_t kWideEntities = 65'536;

std::string wide_schema_toml(std::int64_t extra_tables) {
  std::string toml = kGameSchemaToml;
  for (std::int64_t k = 0; k < extra_tables; ++k) {
    const std::string name = "extra_" + std::to_string(k);
    toml += "[tables." + name + "]\nparent_table = \"entities\"\n";
    toml += "[[tables." + name + ".fields]]\nname = \"entity_id\"\ntype = \"u64\"\nforeign_key = \"entities.id\"\n";
    toml += "[[tables." + name + ".fields]]\nname = \"value\"\ntype = \"u32\"\n";
  }
  return toml;
}

void BM_Update_Field_Wide(benchmark::State& state) {
  auto schema = parse_schema(wide_schema_toml(state.range(0)), "bench/wide.toml");
  check(schema.status());
  auto db = Database::open(*schema, DatabaseOptions{.publish_every_commits = 1});
  check(db.status());
  WriterHandle& writer = (*db)->writer();
  std::vector<Entity> entities;
  {
    Transaction t = writer.begin();
    check(t.create_many(kWideEntities, entities));
    for (std::size_t i = 0; i < kWideEntities; ++i) check(t.add(entities[i], health_of(i)));
    check(t.commit());
  }
  std::vector<Entity> sample(kSampleSize);
  std::mt19937_64 rng(0x5EED'ECDB);
  std::uniform_int_distribution<std::size_t> pick(0, kWideEntities - 1);
  for (Entity& e : sample) e = entities[pick(rng)];
  std::size_t i = 0;
  std::uint32_t v = 0;
  for (auto _ : state) {
    check(writer.set(sample[i], &Health::hp, ++v));
    i = (i + 1) & (kSampleSize - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Update_Field_Wide)->ArgName("extra_tables")->Arg(0)->Arg(16)->Arg(62);

// One-field updates submitted from this thread to the writer thread (`Database::submit`), with the
// default options (publish after every batch the writer takes); the last ticket of each 4096 is waited
// for, so the queue never grows without bound. The queue's figure in `ecsdb bench txn` is queue_tps_1.
void BM_Queue_Update_Field(benchmark::State& state) {
  World& w = world(state.range(0), kPublishEachCommit);
  check(w.db->start_writer_thread());
  std::size_t i = 0;
  std::uint32_t v = 0;
  CommitTicket last;
  for (auto _ : state) {
    const Entity e = w.sample[i];
    const std::uint32_t hp = ++v;
    last = w.db->submit([e, hp](Transaction& t) { return t.set(e, &Health::hp, hp); });
    i = (i + 1) & (kSampleSize - 1);
    if ((i & 4095) == 0) check(last.wait());
  }
  check(last.wait());
  w.db->stop_writer_thread();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Queue_Update_Field)->Apply(entity_sizes)->UseRealTime();

void BM_Update_Row(benchmark::State& state) {
  World& w = world(state.range(0), state.range(1));
  WriterHandle& writer = w.db->writer();
  std::size_t i = 0;
  std::uint32_t v = 0;
  {
    Tick tick(writer, state.range(1));
    for (auto _ : state) {
      check(writer.update(w.sample[i], Health{++v, 100}));
      tick.op();
      i = (i + 1) & (kSampleSize - 1);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Update_Row)->Apply(writer_sizes);

// ---- raw baselines: a minimal sparse set (dense rows + keys, sparse index) over std::vector ----

struct RawSparseSet {
  static constexpr std::uint32_t kNone = UINT32_MAX;
  std::vector<Health> rows;
  std::vector<std::uint32_t> keys;
  std::vector<std::uint32_t> sparse;

  void add(std::uint32_t key, const Health& h) {
    if (key >= sparse.size()) sparse.resize(key + 1, kNone);
    sparse[key] = static_cast<std::uint32_t>(rows.size());
    rows.push_back(h);
    keys.push_back(key);
  }
  void remove(std::uint32_t key) {
    const std::uint32_t row = sparse[key];
    rows[row] = rows.back();
    keys[row] = keys.back();
    sparse[keys[row]] = row;
    rows.pop_back();
    keys.pop_back();
    sparse[key] = kNone;
  }
};

RawSparseSet& raw_set(std::size_t n) {
  static RawSparseSet set = [n] {
    RawSparseSet s;
    for (std::size_t i = 0; i < n; ++i) s.add(static_cast<std::uint32_t>(i), health_of(i));
    return s;
  }();
  return set;
}

void BM_Raw_Create_Single(benchmark::State& state) {
  std::vector<std::uint64_t> ids;
  for (auto _ : state) {
    if (ids.size() == kPoolSize) ids.clear();
    ids.push_back(ids.size());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Raw_Create_Single);

void BM_Raw_Add_Remove_Health(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  RawSparseSet& set = raw_set(n);
  // Add then remove the same pool key: one iteration is one add plus one remove.
  std::uint32_t k = static_cast<std::uint32_t>(n);
  for (auto _ : state) {
    set.add(k, Health{1, 100});
    set.remove(k);
    benchmark::ClobberMemory();
    k = static_cast<std::uint32_t>(n + ((k + 1 - n) & (kPoolSize - 1)));
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_Raw_Add_Remove_Health)->Apply(entity_sizes);

void BM_Raw_Update_Field(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  Health* rows = w.raw_health.data();
  std::size_t i = 0;
  std::uint32_t v = 0;
  for (auto _ : state) {
    rows[w.sample[i].index()].hp = ++v;
    benchmark::ClobberMemory();
    i = (i + 1) & (kSampleSize - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Raw_Update_Field)->Apply(entity_sizes);

void BM_Raw_Update_Row(benchmark::State& state) {
  World& w = world(state.range(0), kPublishPerTick);
  Health* rows = w.raw_health.data();
  std::size_t i = 0;
  std::uint32_t v = 0;
  for (auto _ : state) {
    rows[w.sample[i].index()] = Health{++v, 100};
    benchmark::ClobberMemory();
    i = (i + 1) & (kSampleSize - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Raw_Update_Row)->Apply(entity_sizes);

}  // namespace
}  // namespace ecsdb::bench
