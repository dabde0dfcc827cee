// for_each_mut: what a pass over every row leaves, and what taking it back restores, on both of its undo
// paths: one record per page (no log, no subscriber: kWriteRows, ADR 0024) and one per row (a delta to
// build). The pages a pass covers are both shared with published versions (the copy-on-write's old page
// holds the rows before) and already private (their bytes before are saved).
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <vector>

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
  std::map<std::uint64_t, int> seen;
  ASSERT_TRUE(w().for_each_mut<Transform>([&](Entity e, Transform& t) {
                   ++seen[e.bits()];
                   t.y = t.x * 2;
                 }).is_ok());
  ASSERT_EQ(seen.size(), kRows);
  for (std::size_t i = 0; i < kRows; ++i) {
    EXPECT_EQ(seen[es_[i].bits()], 1) << i;
    EXPECT_EQ(db_->pin().get<Transform>(es_[i])->y, float(i) * 2) << "row " << i << " holds its own entity's x";
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

TEST_F(ForEachMutTest, ASubscriberGetsEveryChangedRow) {
  open();
  Subscription sub = db_->subscribe().value();
  ASSERT_TRUE(w().for_each_mut<Transform>([](Entity e, Transform& t) {
                   if (e.index() % 2 == 0) t.x += 100;
                 }).is_ok());
  std::vector<std::shared_ptr<const Delta>> ds;
  sub.poll(ds);
  ASSERT_EQ(ds.size(), 1u);
  const TableDelta* td = ds[0]->find(db_->table_id("transform").value());
  ASSERT_NE(td, nullptr);
  EXPECT_EQ(td->updates.size(), kRows / 2) << "only the rows whose bytes changed";
  EXPECT_FALSE(sub.take_lost());
}

TEST_F(ForEachMutTest, ASubscriberThatJoinsDuringThePassIsToldItLostEvents) {
  // The pass began with no subscriber, so it kept no per-row records: its commit carries no delta, and a
  // subscriber that joined meanwhile must resynchronise rather than miss the change silently.
  open();
  std::optional<Subscription> sub;
  ASSERT_TRUE(w().for_each_mut<Transform>([&](Entity, Transform& t) {
                   if (!sub) sub.emplace(db_->subscribe().value());
                   t.x += 1;
                 }).is_ok());
  std::vector<std::shared_ptr<const Delta>> ds;
  sub->poll(ds);
  EXPECT_TRUE(sub->take_lost());
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
