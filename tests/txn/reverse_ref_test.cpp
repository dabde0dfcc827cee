// The reverse-reference index against a brute-force scan: after random transactions (creates, destroys
// with cascade / set_null / restrict, reference writes, `many` rows, rollbacks and a reopen from the log),
// PinnedView::referencing(e) lists exactly the rows that reference e, in every version a view holds.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "support/fault_injection_file_system.hpp"
#include "support/test_schema.hpp"

namespace ecsdb::testing {
namespace {

using Refs = std::set<std::tuple<std::string, std::string, std::uint64_t>>;

Refs indexed(const PinnedView& v, Entity target) {
  Refs out;
  for (const Reference& r : v.referencing(target)) out.emplace(std::string(r.table), std::string(r.field), r.key);
  return out;
}

Refs scanned(const PinnedView& v, Entity target) {
  Refs out;
  v.each<Follow>([&](Entity e, const Follow& f) { if (f.target == target) out.emplace("follow", "target", e.bits()); });
  v.each<Guard>([&](Entity e, const Guard& g) { if (g.protects == target) out.emplace("guard", "protects", e.bits()); });
  v.each<Aim>([&](Entity e, const Aim& a) { if (a.at == target) out.emplace("aim", "at", e.bits()); });
  for (RowId r : v.children("item", target).value()) out.emplace("item", "owner", r.bits());
  return out;
}

// children() itself comes from the index: check it against the rows' owner column directly.
std::set<std::uint64_t> items_scanned(const PinnedView& v, Entity owner) {
  std::set<std::uint64_t> out;
  const auto& t = v.state().tables[v.database().table_id("item").value()];
  for (std::uint32_t r = 0; r < t.row_count; ++r) {
    const std::uint64_t key = t.key_at(r, v.state().registry);
    std::uint64_t who;
    std::memcpy(&who, t.owners.at(r), 8);
    if (who == owner.bits()) out.insert(key);
  }
  return out;
}

void expect_consistent(Database& db, const std::vector<Entity>& everyone, const std::string& where) {
  PinnedView v = db.pin();
  for (Entity e : everyone) {
    ASSERT_EQ(indexed(v, e), scanned(v, e)) << where << ", entity " << e.index() << "v" << e.generation();
    std::set<std::uint64_t> kids;
    for (RowId r : v.children("item", e).value()) kids.insert(r.bits());
    ASSERT_EQ(kids, items_scanned(v, e)) << where;
  }
}

TEST(ReverseRefTest, IndexMatchesAScanThroughRandomTransactionsRollbacksAndRecovery) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  DatabaseOptions o;
  o.data_dir = "/db";
  o.file_system = fs;
  o.snapshot_every_wal_bytes = 0;
  o.wal_segment_bytes = 256 * 1024;
  auto db = std::move(Database::open(test_schema(), o).value());
  std::mt19937_64 rng(7);
  std::vector<Entity> everyone;  // every entity ever created (dead ones too: their lists must be empty)
  std::vector<Entity> live;
  std::vector<std::pair<Entity, PinnedView>> held;  // old views must keep answering for their version
  std::vector<std::map<std::uint64_t, Refs>> held_answers;

  for (int txn = 0; txn < 400; ++txn) {
    Transaction t = db->writer().begin();
    const auto pick = [&] { return live[rng() % live.size()]; };
    bool ok = true;
    for (int op = 0; op < 1 + static_cast<int>(rng() % 6) && ok; ++op) {
      switch (live.size() < 4 ? 0 : rng() % 9) {
        case 0: {
          const Entity e = t.create().value();
          live.push_back(e);
          everyone.push_back(e);
          break;
        }
        case 1: ok = t.put(pick(), Follow{pick()}).is_ok(); break;
        case 2: ok = t.put(pick(), Aim{pick()}).is_ok(); break;
        case 3: if (rng() % 3 == 0) ok = t.put(pick(), Guard{pick()}).is_ok(); break;
        case 4: ok = t.insert_child(pick(), Item{1, 1}).has_value(); break;
        case 5: {
          const Entity e = pick();
          if (t.get<Follow>(e) != nullptr) ok = t.remove<Follow>(e).is_ok();
          break;
        }
        case 6: {
          const Entity e = pick();
          if (t.get<Aim>(e) != nullptr) ok = t.set(e, &Aim::at, pick()).is_ok();
          break;
        }
        case 7:
        case 8: {
          const Entity e = pick();
          ok = t.destroy(e).is_ok();
          if (ok) std::erase(live, e);
          break;
        }
      }
    }
    Status s = ok && rng() % 10 != 0 ? t.commit() : (t.rollback(), Status(StatusCode::kAborted, "rolled back"));
    if (!s.is_ok()) {
      // Rolled back (by choice, or a restrict): the entities created in it are gone again.
      live.clear();
      PinnedView v = db->pin();
      for (Entity e : everyone) {
        if (v.alive(e)) live.push_back(e);
      }
    }
    expect_consistent(*db, everyone, "after txn " + std::to_string(txn));
    if (HasFatalFailure()) return;
    if (txn % 50 == 25 && !live.empty()) {  // hold a view; its answers must not change later
      const Entity e = live.front();
      held.emplace_back(e, db->pin());
      held_answers.push_back({{e.bits(), indexed(held.back().second, e)}});
    }
  }
  for (std::size_t i = 0; i < held.size(); ++i) {
    const auto& [e, view] = held[i];
    EXPECT_EQ(indexed(view, e), held_answers[i].at(e.bits())) << "a held view's answer changed";
    EXPECT_EQ(indexed(view, e), scanned(view, e));
  }
  held.clear();
  ASSERT_TRUE(db->snapshot().is_ok());
  for (int i = 0; i < 20 && !live.empty(); ++i) {  // some log after the snapshot
    ASSERT_TRUE(db->writer().put(live[i % live.size()], Aim{live[(i * 3) % live.size()]}).is_ok());
  }
  ASSERT_TRUE(db->flush().is_ok());
  db.reset();
  db = std::move(Database::open(test_schema(), o).value());  // snapshot load + replay rebuild the index
  expect_consistent(*db, everyone, "after recovery");
}

TEST(ReverseRefTest, DestroyCascadesThroughTheIndex) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  const Entity leader = w.create().value();
  const Entity guarded = w.create().value();
  std::vector<Entity> followers, aimers;
  for (int i = 0; i < 100; ++i) {
    followers.push_back(w.create().value());
    ASSERT_TRUE(w.add(followers.back(), Follow{leader}).is_ok());
    aimers.push_back(w.create().value());
    ASSERT_TRUE(w.add(aimers.back(), Aim{leader}).is_ok());
    ASSERT_TRUE(w.insert_child(leader, Item{1, 1}).has_value());
  }
  const Entity guard = w.create().value();
  ASSERT_TRUE(w.add(guard, Guard{guarded}).is_ok());
  EXPECT_EQ(db->pin().referencing(leader).size(), 300u);

  EXPECT_EQ(w.destroy(guarded).code(), StatusCode::kConstraintViolation) << "restrict";
  ASSERT_TRUE(w.destroy(leader).is_ok());
  PinnedView v = db->pin();
  EXPECT_TRUE(v.referencing(leader).empty());
  for (Entity f : followers) EXPECT_FALSE(v.has<Follow>(f)) << "cascade";
  for (Entity a : aimers) EXPECT_EQ(v.get<Aim>(a)->at, Entity()) << "set_null";
  EXPECT_EQ(v.count<Item>(), 0u) << "owned rows";
}

// The same rules when the schema has reference columns but no owned `many` table, and the destroyed
// entity has rows only in plain tables: WriterHandle::destroy must still run as a transaction
// (TransactionWriter::implicit_destroy), since the rules change other entities' rows.
TEST(ReverseRefTest, AWriterHandleDestroyAppliesTheRulesWithoutOwnedTables) {
  auto db = std::move(Database::open(test_schema_before("[tables.player]")).value());
  WriterHandle& w = db->writer();
  const Entity leader = w.create().value();
  const Entity guarded = w.create().value();
  const Entity follower = w.create().value();
  const Entity aimer = w.create().value();
  const Entity guard = w.create().value();
  ASSERT_TRUE(w.add(leader, Health{5, 5}).is_ok());
  ASSERT_TRUE(w.add(guarded, Health{6, 6}).is_ok());
  ASSERT_TRUE(w.add(follower, Follow{leader}).is_ok());
  ASSERT_TRUE(w.add(aimer, Aim{leader}).is_ok());
  ASSERT_TRUE(w.add(guard, Guard{guarded}).is_ok());

  EXPECT_EQ(w.destroy(guarded).code(), StatusCode::kConstraintViolation) << "restrict";
  EXPECT_TRUE(db->pin().alive(guarded));
  EXPECT_NE(db->pin().get<Health>(guarded), nullptr) << "a refused destroy removes nothing";
  ASSERT_TRUE(w.destroy(leader).is_ok());
  const PinnedView v = db->pin();
  EXPECT_FALSE(v.alive(leader));
  EXPECT_FALSE(v.has<Follow>(follower)) << "cascade";
  EXPECT_EQ(v.get<Aim>(aimer)->at, Entity()) << "set_null";
  EXPECT_TRUE(v.referencing(leader).empty());
}

}  // namespace
}  // namespace ecsdb::testing

