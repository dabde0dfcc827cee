// The replication hot paths per frame of a game tick: encoding a DELTA frame on the server, decoding it and
// applying it on a replica (RecoveryLoader through TransactionWriter::apply_replicated, one commit and one
// publish per frame), against the in-run baseline of the server's own transaction making the same
// updates. Argument: field updates per frame (transform.position_x of distinct entities of 100,000).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "bench/micro/world.hpp"
#include "replication/protocol.hpp"
#include "txn/database_access.hpp"

namespace ecsdb::bench {
namespace {

constexpr std::size_t kEntities = 100000;

struct Frame {
  std::unique_ptr<Database> db;
  std::vector<Entity> entities;
  Delta delta;
};

// A database of kEntities transforms, and a delta updating position_x of `n` distinct random ones.
Frame make_frame(std::size_t n) {
  Frame f;
  f.db = Database::open(game_schema(), DatabaseOptions{.publish_every_commits = 0}).value();
  Transaction t = f.db->writer().begin();
  check(t.create_many(kEntities, f.entities));
  for (std::size_t i = 0; i < kEntities; ++i) check(t.add(f.entities[i], transform_of(i)));
  check(t.commit());
  f.db->writer().publish();
  const Table& table = *game_schema()->find_table("transform");
  const std::uint16_t field = table.find_field("position_x")->id;
  std::vector<std::uint32_t> order(kEntities);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937_64 rng(1);
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(n);
  std::sort(order.begin(), order.end());
  TableDelta td;
  td.table = table.id;
  for (std::uint32_t i : order) {
    const float x = static_cast<float>(i) * 0.5f;
    RowUpdate u{f.entities[i].bits(), field_bit(field), static_cast<std::uint32_t>(td.update_bytes.size()), 4};
    td.update_bytes.resize(td.update_bytes.size() + 4);
    std::memcpy(td.update_bytes.data() + u.offset, &x, 4);
    td.updates.push_back(u);
  }
  f.delta.tables.push_back(std::move(td));
  return f;
}

void BM_Replication_ServerTransaction(benchmark::State& state) {  // baseline: the write being replicated
  Frame f = make_frame(static_cast<std::size_t>(state.range(0)));
  WriterHandle& w = f.db->writer();
  float v = 0;
  for (auto _ : state) {
    Transaction t = w.begin();
    v += 1;
    for (const RowUpdate& u : f.delta.tables[0].updates) check(t.set(Entity::from_bits(u.key), &Transform::position_x, v));
    check(t.commit());
    w.publish();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Replication_ServerTransaction)->Arg(100)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_Replication_EncodeFrame(benchmark::State& state) {
  Frame f = make_frame(static_cast<std::size_t>(state.range(0)));
  std::vector<std::byte> out;
  for (auto _ : state) {
    out.clear();
    replication::encode_delta_frame(1, 2, 0, f.delta, *game_schema(), {}, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["bytes_per_field"] = static_cast<double>(out.size()) / static_cast<double>(state.range(0));
}
BENCHMARK(BM_Replication_EncodeFrame)->Arg(100)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_Replication_DecodeFrame(benchmark::State& state) {
  Frame f = make_frame(static_cast<std::size_t>(state.range(0)));
  std::vector<std::byte> out;
  replication::encode_delta_frame(1, 2, 0, f.delta, *game_schema(), {}, out);
  const auto payload = std::span<const std::byte>(out).subspan(replication::kFrameHeaderBytes);
  for (auto _ : state) {
    auto d = replication::decode_delta_frame(payload, *game_schema());
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Replication_DecodeFrame)->Arg(100)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_Replication_ReplicaApply(benchmark::State& state) {
  Frame f = make_frame(static_cast<std::size_t>(state.range(0)));
  detail::WriterCore& core = detail::DatabaseAccess::core(*f.db);
  std::uint64_t version = f.db->published_version();
  for (auto _ : state) check(core.apply_replicated(f.delta, ++version));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Replication_ReplicaApply)->Arg(100)->Arg(10000)->Unit(benchmark::kMicrosecond);

// Entity churn on a replica: a frame destroys `n` entities, the next creates `n`, which the server took
// back off its free list (last destroyed first). Only the frame of creates is timed: each finds its index
// on the replica's free list (RecoveryLoader::apply_delta searches it from the back, where the server
// took them; a search from the front made this quadratic in the list's length).
void BM_Replication_ReplicaApplyReusedIndices(benchmark::State& state) {
  constexpr int kRounds = 10;
  const auto n = static_cast<std::size_t>(state.range(0));
  auto server = Database::open(game_schema()).value();
  Subscription sub = server->subscribe({.capacity = 1 << 10, .every_version = true}).value();
  std::vector<Entity> live;
  check(server->writer().create_many(kEntities, live));
  for (int round = 0; round < kRounds; ++round) {
    Transaction destroy = server->writer().begin();
    for (std::size_t i = 0; i < n; ++i) check(destroy.destroy(live[i]));
    check(destroy.commit());
    Transaction create = server->writer().begin();
    for (std::size_t i = 0; i < n; ++i) live[i] = create.create().value();
    check(create.commit());
  }
  std::vector<std::shared_ptr<const Delta>> versions;
  sub.poll(versions);  // the world, then a destroy and a create per round
  auto replica = Database::open(game_schema()).value();
  detail::WriterCore& core = detail::DatabaseAccess::core(*replica);
  check(core.apply_replicated(*versions[0], versions[0]->version));
  std::size_t next = 1;
  for (auto _ : state) {
    state.PauseTiming();
    check(core.apply_replicated(*versions[next], versions[next]->version));
    state.ResumeTiming();
    check(core.apply_replicated(*versions[next + 1], versions[next + 1]->version));
    next += 2;
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Replication_ReplicaApplyReusedIndices)->Arg(10000)->Iterations(10)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ecsdb::bench
