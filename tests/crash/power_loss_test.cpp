// Randomized power-loss test on the fault-injection file system, with a ledger of acknowledged commits.
//
// Each round opens the database (recovery), checks the recovered state against an oracle, then commits a
// random history while the file system is armed to lose power at a random sync or directory sync.
// At the power loss a random subset of the unsynced 4 KiB pages reaches the "disk" (any order, as a
// kernel writes back dirty pages) and unsynced directory entries are lost. The next round must:
//   * open — a legitimate unsynced tail is cut, never reported as corruption (zero refused opens);
//   * hold every acknowledged commit (the counter k* is at least the last k whose flush() succeeded);
//   * hold exactly the state after k* steps of the CURRENT history (a record from a history that an
//     earlier recovery cut would give other values: every step's values depend on the round it ran in).
// Seeded and reproducible: the I/O sequence does not depend on timing except for which commits the
// flush thread groups into one write, and each failure prints the seed, history and round.
//
// ECSDB_POWER_LOSS_ROUNDS=N runs longer (`make crash-long`).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "ecsdb/database.hpp"
#include "support/fault_injection_file_system.hpp"
#include "support/test_schema.hpp"

namespace ecsdb::testing {
namespace {

constexpr int kSlots = 400;
constexpr float kCounterMarker = -1.0f;  // Transform.x of the counter entity; its Health.hp is k

struct SlotState {
  bool alive = false;
  std::uint32_t hp = 0;
  float y = 0;
  bool operator==(const SlotState&) const = default;
};
using State = std::vector<SlotState>;  // by slot (Transform.x); kSlots entries

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  std::uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  return x ^ (x >> 29);
}

// One step of a history: the operations that turn state(k-1) into state(k). The same function drives the
// database and the oracle. `history` enters every value, so steps of two histories never look alike.
struct Op {
  enum Kind { kCreate, kDestroy, kSetHp, kSetY } kind;
  int slot;
  std::uint32_t hp;
  float y;
};
std::vector<Op> plan_step(std::uint64_t history, std::uint64_t k, const State& state) {
  std::mt19937_64 rng(mix(history, k));
  std::vector<Op> ops;
  // Mostly small transactions, sometimes one that touches many rows (records that span pages).
  const int n = rng() % 12 == 0 ? 250 : 1 + static_cast<int>(rng() % 3);
  std::vector<bool> alive(kSlots);
  for (int slot = 0; slot < kSlots; ++slot) alive[slot] = state[slot].alive;
  for (int i = 0; i < n; ++i) {
    const int slot = static_cast<int>(rng() % kSlots);
    const auto hp = static_cast<std::uint32_t>(rng());
    const float y = static_cast<float>(rng() % 100000);
    if (!alive[slot]) {
      ops.push_back({Op::kCreate, slot, hp, y});
      alive[slot] = true;
    } else if (rng() % 8 == 0) {
      ops.push_back({Op::kDestroy, slot, 0, 0});
      alive[slot] = false;
    } else {
      ops.push_back({rng() % 2 == 0 ? Op::kSetHp : Op::kSetY, slot, hp, y});
    }
  }
  return ops;
}

State apply_to_state(State s, const std::vector<Op>& ops) {
  for (const Op& op : ops) {
    switch (op.kind) {
      case Op::kCreate: s[op.slot] = {true, op.hp, op.y}; break;
      case Op::kDestroy: s[op.slot] = {}; break;
      case Op::kSetHp: s[op.slot].hp = op.hp; break;
      case Op::kSetY: s[op.slot].y = op.y; break;
    }
  }
  return s;
}

struct Recovered {
  std::uint64_t k = 0;
  State state;
  std::map<int, Entity> entities;
  Entity counter;
};

Recovered read_back(Database& db) {
  Recovered r;
  r.state.resize(kSlots);
  PinnedView view = db.pin();
  view.each<Transform, Health>([&](Entity e, const Transform& t, const Health& h) {
    if (t.x == kCounterMarker) {
      r.k = h.hp;
      r.counter = e;
      return;
    }
    const int slot = static_cast<int>(t.x);
    r.state[slot] = {true, h.hp, t.y};
    r.entities[slot] = e;
  });
  return r;
}

Status apply_to_db(WriterHandle& w, Recovered& ids, std::uint64_t k, const std::vector<Op>& ops) {
  Transaction t = w.begin();
  for (const Op& op : ops) {
    switch (op.kind) {
      case Op::kCreate: {
        ECSDB_ASSIGN_OR_RETURN(const Entity e, t.create());
        ECSDB_RETURN_IF_ERROR(t.add(e, Transform{static_cast<float>(op.slot), op.y, 0}));
        ECSDB_RETURN_IF_ERROR(t.add(e, Health{op.hp, 100}));
        ids.entities[op.slot] = e;
        break;
      }
      case Op::kDestroy:
        ECSDB_RETURN_IF_ERROR(t.destroy(ids.entities.at(op.slot)));
        ids.entities.erase(op.slot);
        break;
      case Op::kSetHp: ECSDB_RETURN_IF_ERROR(t.set(ids.entities.at(op.slot), &Health::hp, op.hp)); break;
      case Op::kSetY: ECSDB_RETURN_IF_ERROR(t.set(ids.entities.at(op.slot), &Transform::y, op.y)); break;
    }
  }
  ECSDB_RETURN_IF_ERROR(t.set(ids.counter, &Health::hp, static_cast<std::uint32_t>(k)));
  return t.commit();
}

std::uint64_t rounds_to_run() {
  if (const char* env = std::getenv("ECSDB_POWER_LOSS_ROUNDS")) return std::strtoull(env, nullptr, 10);
  return 2000;
}

TEST(PowerLossTest, NoAcknowledgedCommitIsLostAndNoneResurrected) {
  const auto schema = test_schema();
  const std::uint64_t rounds = rounds_to_run();
  constexpr std::uint64_t kRoundsPerHistory = 40;  // then a fresh file system
  std::uint64_t acknowledged_total = 0, cut_tails = 0, power_losses = 0, pages_kept = 0, pages_lost = 0;
  std::uint64_t kept_before = 0, lost_before = 0;  // of earlier histories' file systems

  for (std::uint64_t h = 0; h * kRoundsPerHistory < rounds; ++h) {
    const std::uint64_t seed = mix(0xEC5DB, h);
    std::mt19937_64 rng(seed);
    auto fs = std::make_shared<FaultInjectionFileSystem>();
    kept_before += pages_kept;
    lost_before += pages_lost;
    pages_kept = pages_lost = 0;
    DatabaseOptions o;
    o.data_dir = "/db";
    // kAsync groups many commits into one write (big unsynced tails); flush() is the ack either way.
    o.durability = rng() % 2 == 0 ? Durability::kSync : Durability::kAsync;
    o.async_flush_ms = 1 + rng() % 4;
    o.file_system = fs;
    o.wal_segment_bytes = 8192 + rng() % 4 * 8192;  // small: rolls happen every few commits
    o.snapshot_every_wal_bytes = 0;                 // snapshots are taken by the workload, at random
    o.keep_snapshots = 1 + rng() % 2;
    o.wal_retention = static_cast<WalRetention>(rng() % 3);

    std::deque<State> oracle{State(kSlots)};  // oracle[i] = state after step base + i
    std::uint64_t base = 0;             // k of oracle.front()
    std::uint64_t acked = 0;            // last k whose flush() succeeded (or that recovery showed durable)
    bool has_counter = false;

    for (std::uint64_t round = 0; round < kRoundsPerHistory && h * kRoundsPerHistory + round < rounds; ++round) {
      const std::string where = "seed " + std::to_string(seed) + " history " + std::to_string(h) + " round " +
                                std::to_string(round);
      fs->power_on();
      auto opened = Database::open(schema, o);
      ASSERT_TRUE(opened.has_value()) << where << ": refused to open: " << opened.status().to_string();
      std::unique_ptr<Database> db = std::move(*opened);
      for (const std::string& n : db->recovery_notes()) cut_tails += n.find("unsynced tail") != std::string::npos;

      Recovered ids = read_back(*db);
      if (!has_counter && ids.counter.bits() == 0) {
        // The very first round of a history creates the counter (acknowledged before anything else).
        Transaction t = db->writer().begin();
        ids.counter = t.create().value();
        ASSERT_TRUE(t.add(ids.counter, Transform{kCounterMarker, 0, 0}).is_ok());
        ASSERT_TRUE(t.add(ids.counter, Health{0, 0}).is_ok());
        ASSERT_TRUE(t.commit().is_ok());
        ASSERT_TRUE(db->flush().is_ok()) << where;
      }
      has_counter = true;
      ASSERT_NE(ids.counter.bits(), 0u) << where << ": the acknowledged counter entity is gone";
      ASSERT_GE(ids.k, acked) << where << ": acknowledged commit " << acked << " lost (recovered " << ids.k << ")";
      ASSERT_LE(ids.k, base + oracle.size() - 1) << where << ": recovered a step that was never committed";
      ASSERT_EQ(ids.state, oracle[ids.k - base]) << where << ": state after " << ids.k
                                                  << " steps differs from this history's (resurrected or torn)";
      // What recovery read back is on disk: from here the history continues from k*.
      oracle = {oracle[ids.k - base]};
      base = acked = ids.k;

      fs->power_loss_at(1 + rng() % 24, rng());
      const int steps = 1 + static_cast<int>(rng() % 120);
      for (int i = 0; i < steps && !fs->powered_off(); ++i) {
        const std::uint64_t k = base + oracle.size();
        const std::vector<Op> ops = plan_step(seed * 1000003 + round, k, oracle.back());
        if (!apply_to_db(db->writer(), ids, k, ops).is_ok()) break;
        oracle.push_back(apply_to_state(oracle.back(), ops));
        if (rng() % 12 == 0) {
          if (!db->flush().is_ok()) break;
          acknowledged_total += k - acked;
          acked = k;
        }
        if (rng() % 40 == 0) db->snapshot().ignore();  // may itself meet the power loss
      }
      if (!fs->powered_off()) fs->simulate_power_loss(rng());
      ++power_losses;
      pages_kept = fs->counters().pages_kept;
      pages_lost = fs->counters().pages_lost;
      db.reset();  // must not hang with the disk gone
    }
  }
  std::printf("power-loss rounds: %llu, acknowledged commits: %llu, lost: 0, resurrected: 0, unsynced tails cut: "
              "%llu, unsynced pages kept/lost at the power losses: %llu/%llu\n",
              static_cast<unsigned long long>(power_losses), static_cast<unsigned long long>(acknowledged_total),
              static_cast<unsigned long long>(cut_tails), static_cast<unsigned long long>(kept_before + pages_kept),
              static_cast<unsigned long long>(lost_before + pages_lost));
}

}  // namespace
}  // namespace ecsdb::testing
