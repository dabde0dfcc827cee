// for_each_mut: what a pass over every row leaves, and what taking it back restores, on both of its undo
// paths: one record per page (no log, no subscriber: kWriteRows, ADR 0024) and one per row (a delta to
// build). The pages a pass covers are both shared with published versions (the copy-on-write's old page
// holds the rows before) and already private (their bytes before are saved).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "support/delta_mirror.hpp"
#include "support/temp_dir.hpp"
#include "support/test_schema.hpp"

namespace ecsdb::testing {
namespace {

// Entity bits -> x, as a view of `db` sees it.
std::map<std::uint64_t, float> xs_of(const Database& db) {
  std::map<std::uint64_t, float> out;
  db.pin().each<Transform>([&](Entity e, const Transform& t) { out[e.bits()] = t.x; });
  return out;
}

// Entity bits -> x, as the writer sees it (committed, maybe not published).
std::map<std::uint64_t, float> writer_xs(Database& db, const std::vector<Entity>& es) {
  std::map<std::uint64_t, float> out;
  for (const Entity e : es) {
    if (const Transform* t = db.writer().get<Transform>(e)) out[e.bits()] = t->x;
  }
  return out;
}

class ForEachMutTest : public ::testing::Test {
 protected:
  // kRows transforms over several pages (16 KiB pages hold 1,365 of them), x = the row's number.
  void open(const DatabaseOptions& o = {}) {
    db_ = std::move(Database::open(test_schema(), o).value());
    ASSERT_TRUE(w().create_many(kRows, es_).is_ok());
    Transaction t = w().begin();
    for (std::size_t i = 0; i < es_.size(); ++i) ASSERT_TRUE(t.add(es_[i], Transform{float(i), 0, 0}).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
    w().publish();
  }
  WriterHandle& w() { return db_->writer(); }
  static constexpr std::size_t kRows = 5000;
  std::unique_ptr<Database> db_;
  std::vector<Entity> es_;
};

TEST_F(ForEachMutTest, EveryRowIsVisitedOnceWithItsEntity) {
  open();
  // Keys of both kinds: the rows a world spawned in order keeps at the entity's index (keys implied by the
  // registry), and past the first removal's hole, stored (the removals move rows off their index).
  for (const std::size_t gone : {std::size_t{1500}, std::size_t{4000}}) {
    ASSERT_TRUE(w().remove<Transform>(es_[gone]).is_ok());
  }
  for (int pass = 0; pass < 2; ++pass) {
    std::map<std::uint64_t, int> seen;
    ASSERT_TRUE(w().for_each_mut<Transform>([&](Entity e, Transform& t) {
                     ++seen[e.bits()];
                     t.y = float(e.index()) + float(pass);
                   }).is_ok());
    ASSERT_EQ(seen.size(), kRows - 2);
    for (std::size_t i = 0; i < kRows; ++i) {
      const Transform* t = db_->pin().get<Transform>(es_[i]);
      if (i == 1500 || i == 4000) {
        EXPECT_EQ(t, nullptr);
        continue;
      }
      EXPECT_EQ(seen[es_[i].bits()], 1) << i;
      EXPECT_EQ(t->y, float(es_[i].index()) + float(pass)) << "the visitor got row " << i << "'s own entity";
    }
  }
}

TEST_F(ForEachMutTest, AVisitorThatThrowsLeavesEveryRowAsItWas) {
  // Publish by hand: the first pass makes the pages private and is committed, unpublished, so the second
  // pass finds them private (bytes saved) where a publish would have left them shared (old page kept).
  open(DatabaseOptions{.publish_every_commits = 0});
  for (const bool publish_between : {true, false}) {
    ASSERT_TRUE(w().for_each_mut<Transform>([](Entity, Transform& t) { t.x += 1; }).is_ok());
    if (publish_between) w().publish();
    const std::map<std::uint64_t, float> before = writer_xs(*db_, es_);
    int visited = 0;
    EXPECT_THROW((void)w().for_each_mut<Transform>([&](Entity, Transform& t) {
                   t.x = -1;
                   if (++visited == 3000) throw std::runtime_error("system failed");
                 }),
                 std::runtime_error);
    EXPECT_EQ(writer_xs(*db_, es_), before) << "publish between: " << publish_between;
    // The next pass starts from the rows as they were.
    ASSERT_TRUE(w().for_each_mut<Transform>([](Entity, Transform& t) { t.x += 10; }).is_ok());
    w().publish();
    for (const Entity e : es_) ASSERT_EQ(db_->pin().get<Transform>(e)->x, before.at(e.bits()) + 10);
  }
}

TEST_F(ForEachMutTest, RollbackAfterRowsMovedRestoresBytesAndOrder) {
  open();
  const std::map<std::uint64_t, float> before = xs_of(*db_);
  std::vector<std::uint64_t> order_before;
  db_->pin().each<Transform>([&](Entity e, const Transform&) { order_before.push_back(e.bits()); });
  {
    Transaction t = w().begin();
    ASSERT_TRUE(t.for_each_mut<Transform>([](Entity, Transform& tr) { tr.x = -tr.x - 1; }).is_ok());
    // Removals move the last rows into the holes, inside pages the pass covered; the second pass finds its
    // pages private.
    for (std::size_t i = 0; i < kRows; i += 7) ASSERT_TRUE(t.remove<Transform>(es_[i]).is_ok());
    ASSERT_TRUE(t.for_each_mut<Transform>([](Entity, Transform& tr) { tr.z = 5; }).is_ok());
    ASSERT_TRUE(t.remove<Transform>(es_[1]).is_ok());
    t.rollback();
  }
  EXPECT_EQ(writer_xs(*db_, es_), before);
  ASSERT_TRUE(w().create().has_value());  // publishes the rolled-back state
  EXPECT_EQ(xs_of(*db_), before);
  std::vector<std::uint64_t> order_after;
  db_->pin().each<Transform>([&](Entity e, const Transform& tr) {
    order_after.push_back(e.bits());
    EXPECT_EQ(tr.z, 0);
  });
  EXPECT_EQ(order_after, order_before) << "rows are back in their places";
}

// The delta a subscriber got for one table: entity bits -> x, for rows whose update carries x.
std::map<std::uint64_t, float> updated_xs(const Database& db, const std::vector<std::shared_ptr<const Delta>>& ds) {
  std::map<std::uint64_t, float> out;
  const std::uint16_t transform = db.table_id("transform").value();
  const Field* x = db.schema().tables[transform].find_field("x");
  for (const auto& d : ds) {
    const TableDelta* td = d->find(transform);
    if (td == nullptr) continue;
    for (const auto& u : td->updates) {
      EXPECT_EQ(u.field_mask, field_bit(x->id)) << "only x changed";
      float v;
      std::memcpy(&v, d->bytes_of(*td, u), sizeof v);
      out[u.key] = v;
    }
  }
  return out;
}

TEST_F(ForEachMutTest, ASubscriberGetsEveryChangedRowAndOnlyThose) {
  open();
  Subscription sub = db_->subscribe().value();
  std::map<std::uint64_t, float> expected;
  const auto move_even = [&](Entity e, Transform& t) {
    if (e.index() % 2 != 0) return;
    t.x += 100;
    expected[e.bits()] = t.x;
  };
  // On its own (WriterHandle::for_each_mut) and inside a transaction.
  ASSERT_TRUE(w().for_each_mut<Transform>(move_even).is_ok());
  {
    Transaction t = w().begin();
    ASSERT_TRUE(t.for_each_mut<Transform>(move_even).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  }
  std::vector<std::shared_ptr<const Delta>> ds;
  sub.poll(ds);
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(updated_xs(*db_, {ds[0]}).size(), kRows / 2);
  EXPECT_EQ(updated_xs(*db_, ds), expected) << "the second pass's values win";
  EXPECT_FALSE(sub.take_lost());
}

TEST_F(ForEachMutTest, ADeltaOfAPassThatChangedFewRowsKeepsNoRoomForTheOthers) {
  // The commit makes room for every row of the pass while it compares them; a delta can wait long in a
  // subscriber's queue, so what it keeps must follow the rows it lists, not the rows the pass visited.
  open();
  Subscription sub = db_->subscribe().value();
  ASSERT_TRUE(w().for_each_mut<Transform>([](Entity e, Transform& t) {
                   if (e.index() % 1000 == 0) t.y += 1;
                 }).is_ok());
  std::vector<std::shared_ptr<const Delta>> ds;
  sub.poll(ds);
  ASSERT_EQ(ds.size(), 1u);
  const TableDelta* td = ds[0]->find(db_->table_id("transform").value());
  ASSERT_NE(td, nullptr);
  EXPECT_EQ(td->updates.size(), kRows / 1000);
  EXPECT_LT(td->updates.capacity(), std::size_t{2048});
  EXPECT_LT(td->update_bytes.capacity(), std::size_t{8192});
}

TEST_F(ForEachMutTest, ASubscriberThatJoinsDuringAPassGetsIt) {
  open();
  // A pass on its own builds its delta at commit whoever subscribed meanwhile.
  std::optional<Subscription> first;
  ASSERT_TRUE(w().for_each_mut<Transform>([&](Entity, Transform& t) {
                   if (!first) first.emplace(db_->subscribe().value());
                   t.x += 1;
                 }).is_ok());
  std::vector<std::shared_ptr<const Delta>> ds;
  first->poll(ds);
  EXPECT_FALSE(first->take_lost());
  EXPECT_EQ(updated_xs(*db_, ds), xs_of(*db_));
  // So does a pass inside a transaction that began with no subscriber: it keeps no key, whoever subscribes.
  first.reset();
  ASSERT_TRUE(w().create().has_value());  // a publish lets the hub forget the subscriber
  std::optional<Subscription> second;
  {
    Transaction t = w().begin();
    ASSERT_TRUE(t.for_each_mut<Transform>([&](Entity, Transform& tr) {
                   if (!second) second.emplace(db_->subscribe().value());
                   tr.x += 1;
                 }).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  }
  ds.clear();
  second->poll(ds);
  EXPECT_FALSE(second->take_lost());
  EXPECT_EQ(updated_xs(*db_, ds), xs_of(*db_));
}

TEST_F(ForEachMutTest, AMirrorBuiltFromDeltasFollowsTicksThatMixPassesWithOtherChanges) {
  // Game ticks with a subscriber: passes on their own, and passes inside a transaction before and after
  // sets, removals (which move rows the pass covered), destroys and spawns, sometimes two passes. A mirror
  // of the transforms built only from the deltas must equal the database after every tick.
  open();
  Subscription sub = db_->subscribe({.capacity = 100000}).value();
  const std::uint16_t transform = db_->table_id("transform").value();
  const Table& layout = db_->schema().tables[transform];
  std::map<std::uint64_t, Transform> mirror;
  db_->pin().each<Transform>([&](Entity e, const Transform& t) { mirror[e.bits()] = t; });
  std::mt19937 rng(5);
  std::vector<Entity> live = es_;
  const auto pass = [&](auto& writer_or_txn, float step) {
    return writer_or_txn.template for_each_mut<Transform>([&](Entity e, Transform& t) {
      if ((e.index() + static_cast<std::uint32_t>(step)) % 3 != 0) t.x += step;
    });
  };
  for (int tick = 0; tick < 40; ++tick) {
    if (tick % 4 == 0) {
      ASSERT_TRUE(pass(w(), 1.0f).is_ok());
    } else {
      Transaction t = w().begin();
      if (tick % 3 != 0) { ASSERT_TRUE(pass(t, 2.0f).is_ok()); }
      for (int i = 0; i < 40; ++i) {
        const std::size_t idx = rng() % live.size();
        const Entity e = live[idx];
        switch (rng() % 4) {
          case 0: ASSERT_TRUE(t.set(e, &Transform::y, float(rng() % 100)).is_ok() || !t.get<Transform>(e)); break;
          case 1:
            if (t.get<Transform>(e) != nullptr) { ASSERT_TRUE(t.remove<Transform>(e).is_ok()); }
            else { ASSERT_TRUE(t.add(e, Transform{7, 7, 7}).is_ok()); }
            break;
          case 2:
            ASSERT_TRUE(t.destroy(e).is_ok());
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(idx));
            break;
          default: {
            const Entity fresh = t.create().value();
            ASSERT_TRUE(t.add(fresh, Transform{float(tick), 1, 2}).is_ok());
            live.push_back(fresh);
          }
        }
      }
      if (tick % 3 != 1) { ASSERT_TRUE(pass(t, 3.0f).is_ok()); }
      ASSERT_TRUE(t.commit().is_ok());
    }
    std::vector<std::shared_ptr<const Delta>> ds;
    sub.poll(ds);
    ASSERT_FALSE(sub.take_lost());
    for (const auto& d : ds) apply_to_mirror(*d, transform, layout, mirror);
    std::map<std::uint64_t, Transform> now;
    db_->pin().each<Transform>([&](Entity e, const Transform& t) { now[e.bits()] = t; });
    ASSERT_EQ(mirror.size(), now.size()) << "tick " << tick;
    for (const auto& [key, t] : now) {
      const auto it = mirror.find(key);
      ASSERT_NE(it, mirror.end()) << "tick " << tick;
      ASSERT_EQ(it->second.x, t.x) << "tick " << tick << ", entity index " << static_cast<std::uint32_t>(key);
      ASSERT_EQ(it->second.y, t.y) << "tick " << tick;
      ASSERT_EQ(it->second.z, t.z) << "tick " << tick;
    }
  }
}

TEST_F(ForEachMutTest, ADeltaNamesExactlyTheFieldsAPassChangedInRowsThatMovedSince) {
  // A pass keeps no keys: the commit follows the rows it visited through the removals and inserts after it
  // (each removal moves the last row into the hole). Each row now must be compared with its own entity's
  // bytes before the pass, so the delta lists exactly the entities and fields the pass changed: one
  // compared with another row's bytes would gain fields (or rows) it never changed.
  open();
  Subscription sub = db_->subscribe({.capacity = 16}).value();
  const std::uint16_t transform = db_->table_id("transform").value();
  const Table& layout = db_->schema().tables[transform];
  std::uint64_t x_bit = 0, y_bit = 0, all_bits = 0;
  for (const Field& f : layout.layout.fields) {
    if (f.name == "x") x_bit = field_bit(f.id);
    if (f.name == "y") y_bit = field_bit(f.id);
    if (f.stored) all_bits |= field_bit(f.id);
  }
  ASSERT_NE(x_bit, 0u);
  ASSERT_NE(y_bit, 0u);
  std::map<std::uint64_t, std::uint64_t> expected;  // entity bits -> fields changed
  Entity fresh;
  std::vector<Entity> bulk;
  {
    Transaction t = w().begin();
    ASSERT_TRUE(t.for_each_mut<Transform>([](Entity e, Transform& tr) {
                   if (e.index() % 2 == 0) tr.x += 0.5f;
                 }).is_ok());
    for (std::size_t i = 0; i < kRows; i += 2) expected[es_[i].bits()] = x_bit;
    // Removals: rows from the end move into holes across several pages, the last row itself goes, and an
    // entity goes and comes back (a new row at the end: every field listed as updated).
    for (const std::size_t gone : {std::size_t{10}, std::size_t{1400}, kRows - 1, std::size_t{2999}, std::size_t{17}}) {
      ASSERT_TRUE(t.remove<Transform>(es_[gone]).is_ok());
      expected.erase(es_[gone].bits());
    }
    ASSERT_TRUE(t.add(es_[17], Transform{1, 2, 3}).is_ok());
    expected[es_[17].bits()] = all_bits;
    // A new entity's row, then a removal that moves it into a hole below where the pass ended.
    fresh = t.create().value();
    ASSERT_TRUE(t.add(fresh, Transform{4, 5, 6}).is_ok());
    ASSERT_TRUE(t.remove<Transform>(es_[200]).is_ok());
    expected.erase(es_[200].bits());
    // A bulk insert appends rows where removed ones were, below where the pass ended.
    ASSERT_TRUE(t.create_many(3, bulk).is_ok());
    const std::vector<Transform> bulk_rows(3, Transform{7, 8, 9});
    ASSERT_TRUE(t.add_many<Transform>(bulk, bulk_rows).is_ok());
    // Other changes to rows the pass covered: they join the pass's fields, once.
    ASSERT_TRUE(t.set(es_[300], &Transform::y, 9.0f).is_ok());
    expected[es_[300].bits()] |= y_bit;
    ASSERT_TRUE(t.set(es_[301], &Transform::y, 9.0f).is_ok());
    expected[es_[301].bits()] |= y_bit;
    ASSERT_TRUE(t.commit().is_ok());
  }
  std::vector<std::shared_ptr<const Delta>> ds;
  sub.poll(ds);
  ASSERT_EQ(ds.size(), 1u);
  const TableDelta* td = ds[0]->find(transform);
  ASSERT_NE(td, nullptr);
  std::map<std::uint64_t, std::uint64_t> listed;
  for (const RowUpdate& u : td->updates) EXPECT_TRUE(listed.emplace(u.key, u.field_mask).second) << "listed twice";
  EXPECT_EQ(listed, expected);
  std::set<std::uint64_t> inserted(td->inserted_keys.begin(), td->inserted_keys.end());
  std::set<std::uint64_t> expected_inserted{fresh.bits()};
  for (const Entity e : bulk) expected_inserted.insert(e.bits());
  EXPECT_EQ(inserted, expected_inserted);
}

TEST(ForEachMutDurabilityTest, APassIsLoggedAndRecovered) {
  TempDir dir;
  std::vector<Entity> es;
  {
    DatabaseOptions o;
    o.data_dir = dir.path();
    o.durability = Durability::kSync;
    auto db = std::move(Database::open(test_schema(), o).value());
    ASSERT_TRUE(db->writer().create_many(3000, es).is_ok());
    for (std::size_t i = 0; i < es.size(); ++i) ASSERT_TRUE(db->writer().add(es[i], Transform{float(i), 0, 0}).is_ok());
    ASSERT_TRUE(db->writer().for_each_mut<Transform>([](Entity, Transform& t) { t.y = t.x + 0.5f; }).is_ok());
  }
  DatabaseOptions o;
  o.data_dir = dir.path();
  auto db = std::move(Database::open(test_schema(), o).value());
  for (std::size_t i = 0; i < es.size(); ++i) ASSERT_EQ(db->pin().get<Transform>(es[i])->y, float(i) + 0.5f) << i;
}

}  // namespace
}  // namespace ecsdb::testing
