// Deltas and subscriptions: what each commit reports, coalescing, filters, overflow, and a mirror built
// only from deltas that must equal the database.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>

#include "support/delta_mirror.hpp"
#include "support/test_schema.hpp"

namespace ecsdb::testing {
namespace {

class DeltaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::move(Database::open(test_schema()).value());
    health_ = db_->table_id("health").value();
    transform_ = db_->table_id("transform").value();
  }
  std::vector<std::shared_ptr<const Delta>> poll(Subscription& s) {
    std::vector<std::shared_ptr<const Delta>> out;
    s.poll(out);
    return out;
  }
  WriterHandle& w() { return db_->writer(); }
  std::unique_ptr<Database> db_;
  std::uint16_t health_ = 0, transform_ = 0;
};

TEST_F(DeltaTest, InsertUpdateDeleteAreReportedWithOnlyChangedFields) {
  Subscription sub = db_->subscribe().value();
  const Entity e = w().create().value();
  ASSERT_TRUE(w().add(e, Health{10, 20}).is_ok());
  ASSERT_TRUE(w().set(e, &Health::hp, 11u).is_ok());
  ASSERT_TRUE(w().remove<Health>(e).is_ok());
  auto ds = poll(sub);
  ASSERT_EQ(ds.size(), 4u);
  EXPECT_EQ(ds[0]->created, std::vector<Entity>{e});
  const TableDelta* ins = ds[1]->find(health_);
  ASSERT_NE(ins, nullptr);
  ASSERT_EQ(ins->inserted_keys, std::vector<std::uint64_t>{e.bits()});
  Health h;
  std::memcpy(&h, ins->inserted_rows.data(), sizeof h);
  EXPECT_EQ(h.hp, 10u);
  EXPECT_EQ(h.max_hp, 20u);
  const TableDelta* upd = ds[2]->find(health_);
  ASSERT_EQ(upd->updates.size(), 1u);
  const Field* hp = db_->schema().tables[health_].find_field("hp");
  EXPECT_EQ(upd->updates[0].field_mask, field_bit(hp->id)) << "only hp changed";
  ASSERT_EQ(upd->updates[0].size, 4u) << "only hp's bytes are carried";
  std::uint32_t v;
  std::memcpy(&v, ds[2]->bytes_of(*upd, upd->updates[0]), 4);
  EXPECT_EQ(v, 11u);
  EXPECT_EQ(ds[3]->find(health_)->deleted_keys, std::vector<std::uint64_t>{e.bits()});
  for (std::size_t i = 1; i < ds.size(); ++i) EXPECT_GT(ds[i]->version, ds[i - 1]->version);
}

TEST_F(DeltaTest, WholeRowWritesReportOnlyFieldsThatDiffer) {
  const Entity e = w().create().value();
  ASSERT_TRUE(w().add(e, Transform{1, 2, 3}).is_ok());
  Subscription sub = db_->subscribe().value();
  ASSERT_TRUE(w().update(e, Transform{1, 5, 3}).is_ok());
  ASSERT_TRUE(w().for_each_mut<Transform>([](Entity, Transform&) {}).is_ok());  // touches, changes nothing
  auto ds = poll(sub);
  ASSERT_EQ(ds.size(), 1u) << "a commit that changes no byte produces no delta";
  const TableDelta* t = ds[0]->find(transform_);
  const Field* y = db_->schema().tables[transform_].find_field("y");
  EXPECT_EQ(t->updates[0].field_mask, field_bit(y->id));
}

TEST_F(DeltaTest, RollbackAndFailedCommitsProduceNothing) {
  Subscription sub = db_->subscribe().value();
  {
    Transaction t = w().begin();
    ASSERT_TRUE(t.create().has_value());
  }
  const Entity e = w().create().value();
  EXPECT_FALSE(w().add(e, Follow{Entity(77, 1)}).is_ok());
  auto ds = poll(sub);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0]->created, std::vector<Entity>{e});
  EXPECT_TRUE(ds[0]->tables.empty());
}

TEST_F(DeltaTest, DeliveredAtPublishInCommitOrder) {
  auto db = std::move(Database::open(test_schema(), DatabaseOptions{.publish_every_commits = 0}).value());
  Subscription sub = db->subscribe().value();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(db->writer().create().has_value());
  std::vector<std::shared_ptr<const Delta>> out;
  EXPECT_EQ(sub.poll(out), 0u) << "not visible to readers yet, so not delivered";
  db->writer().publish();
  ASSERT_EQ(sub.poll(out), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(out[i]->first_commit, i + 1);
    EXPECT_EQ(out[i]->version, db->published_version());
  }
}

TEST_F(DeltaTest, SlowSubscriberIsToldItLostEvents) {
  Subscription sub = db_->subscribe({.capacity = 2}).value();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(w().create().has_value());
  auto ds = poll(sub);
  EXPECT_EQ(ds.size(), 2u);
  EXPECT_TRUE(sub.take_lost());
  EXPECT_FALSE(sub.take_lost()) << "reported once";
  ASSERT_TRUE(w().create().has_value());
  EXPECT_EQ(poll(sub).size(), 1u);
}

TEST_F(DeltaTest, FiltersByTableFieldAndEntity) {
  const Entity a = w().create().value();
  const Entity b = w().create().value();
  Subscription only_hp = db_->subscribe({.fields = {"health.hp"}}).value();
  Subscription only_a = db_->subscribe({.tables = {"transform"}, .entities = {a}}).value();
  ASSERT_TRUE(w().add(a, Transform{}).is_ok());
  ASSERT_TRUE(w().add(b, Transform{}).is_ok());
  ASSERT_TRUE(w().add(a, Health{1, 1}).is_ok());
  ASSERT_TRUE(w().set(a, &Health::max_hp, 5u).is_ok());
  ASSERT_TRUE(w().set(a, &Health::hp, 5u).is_ok());
  auto hp = poll(only_hp);
  auto as = poll(only_a);
  ASSERT_EQ(as.size(), 1u);
  EXPECT_EQ(as[0]->find(transform_)->inserted_keys, std::vector<std::uint64_t>{a.bits()});
  // only_hp: the three inserts pass (no field filter on inserts), the max_hp update does not.
  std::size_t updates = 0;
  for (auto& d : hp) {
    if (auto* t = d->find(health_)) updates += t->updates.size();
  }
  EXPECT_EQ(updates, 1u);
  EXPECT_EQ(db_->subscribe({.tables = {"nope"}}).status().code(), StatusCode::kNotFound);
}

TEST_F(DeltaTest, MergeCoalesces) {
  Subscription sub = db_->subscribe().value();
  const Entity a = w().create().value();
  const Entity b = w().create().value();
  ASSERT_TRUE(w().add(a, Health{1, 1}).is_ok());
  ASSERT_TRUE(w().add(b, Health{2, 2}).is_ok());
  ASSERT_TRUE(w().set(a, &Health::hp, 9u).is_ok());
  ASSERT_TRUE(w().remove<Health>(b).is_ok());
  ASSERT_TRUE(w().destroy(b).is_ok());
  auto ds = poll(sub);
  Delta all;
  for (auto& d : ds) all.merge(*d, db_->schema());
  EXPECT_EQ(all.created, std::vector<Entity>{a}) << "b was created and destroyed: nothing";
  EXPECT_TRUE(all.destroyed.empty());
  const TableDelta* t = all.find(health_);
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->inserted_keys, std::vector<std::uint64_t>{a.bits()}) << "insert+update = insert; insert+delete = nothing";
  Health h;
  std::memcpy(&h, t->inserted_rows.data(), sizeof h);
  EXPECT_EQ(h.hp, 9u) << "last value wins";
  EXPECT_TRUE(t->updates.empty());
  EXPECT_TRUE(t->deleted_keys.empty());
}

// A mirror maintained only from deltas equals the database after a random workload.
TEST_F(DeltaTest, MirrorFromDeltasEqualsDatabase) {
  Subscription sub = db_->subscribe({.capacity = 100000}).value();
  std::mt19937 rng(11);
  std::vector<Entity> live;
  for (int i = 0; i < 2000; ++i) {
    const std::uint32_t op = rng() % 6;
    if (op == 0 || live.empty()) {
      live.push_back(w().create().value());
    } else {
      const std::size_t idx = rng() % live.size();
      const Entity e = live[idx];
      if (op == 1) { ASSERT_TRUE(w().put(e, Health{std::uint32_t(rng() % 100), 7}).is_ok()); }
      if (op == 2) { ASSERT_TRUE(w().put(e, Transform{float(rng() % 9), 1, 2}).is_ok()); }
      if (op == 3 && w().get<Health>(e)) { ASSERT_TRUE(w().set(e, &Health::hp, std::uint32_t(rng() % 100)).is_ok()); }
      if (op == 4 && w().get<Health>(e)) { ASSERT_TRUE(w().remove<Health>(e).is_ok()); }
      if (op == 5) { ASSERT_TRUE(w().destroy(e).is_ok()); live.erase(live.begin() + static_cast<std::ptrdiff_t>(idx)); }
    }
  }
  std::map<std::uint64_t, Health> mirror;
  std::vector<std::shared_ptr<const Delta>> ds;
  sub.poll(ds);
  ASSERT_FALSE(sub.take_lost());
  const Table& health = db_->schema().tables[health_];
  for (auto& d : ds) apply_to_mirror(*d, health_, health, mirror);
  PinnedView view = db_->pin();
  EXPECT_EQ(mirror.size(), view.count<Health>());
  view.each<Health>([&](Entity e, const Health& h) {
    auto it = mirror.find(e.bits());
    ASSERT_NE(it, mirror.end());
    EXPECT_EQ(it->second.hp, h.hp);
    EXPECT_EQ(it->second.max_hp, h.max_hp);
  });
}

}  // namespace
}  // namespace ecsdb::testing
