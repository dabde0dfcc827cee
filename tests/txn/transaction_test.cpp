// Explicit transactions: atomicity, rollback paths, constraints checked at commit.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <stdexcept>

#include "support/test_schema.hpp"

namespace ecsdb::testing {
namespace {

class TransactionTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = std::move(Database::open(test_schema()).value()); }
  WriterHandle& w() { return db_->writer(); }
  std::unique_ptr<Database> db_;
};

TEST_F(TransactionTest, CommitIsAtomicAndReadsOwnWrites) {
  Transaction t = w().begin();
  const Entity e = t.create().value();
  ASSERT_TRUE(t.add(e, Health{5, 5}).is_ok());
  EXPECT_EQ(t.get<Health>(e)->hp, 5u);
  ASSERT_TRUE(t.update(e, Health{6, 6}).is_ok());
  EXPECT_EQ(t.get<Health>(e)->hp, 6u);
  EXPECT_FALSE(db_->pin().alive(e)) << "readers never see an open transaction";
  ASSERT_TRUE(t.commit().is_ok());
  EXPECT_EQ(db_->pin().get<Health>(e)->hp, 6u);
}

TEST_F(TransactionTest, RollbackRestoresEverything) {
  std::vector<Entity> es;
  ASSERT_TRUE(w().create_many(50, es).is_ok());
  for (std::uint32_t i = 0; i < 50; ++i) ASSERT_TRUE(w().add(es[i], Health{i, i}).is_ok());
  const std::uint64_t version = db_->published_version();
  {
    Transaction t = w().begin();
    for (std::uint32_t i = 0; i < 50; i += 2) ASSERT_TRUE(t.remove<Health>(es[i]).is_ok());
    for (std::uint32_t i = 1; i < 50; i += 2) ASSERT_TRUE(t.update(es[i], Health{999, 0}).is_ok());
    ASSERT_TRUE(t.destroy(es[1]).is_ok());
    const Entity fresh = t.create().value();
    ASSERT_TRUE(t.add(fresh, Health{7, 7}).is_ok());
    t.rollback();
    EXPECT_FALSE(w().alive(fresh));
  }
  EXPECT_EQ(db_->published_version(), version) << "nothing to publish after a rollback";
  for (std::uint32_t i = 0; i < 50; ++i) {
    ASSERT_TRUE(w().alive(es[i]));
    ASSERT_NE(w().get<Health>(es[i]), nullptr);
    EXPECT_EQ(w().get<Health>(es[i])->hp, i);
  }
  // Rows are back in their original dense order.
  PinnedView view = db_->pin();
  std::uint32_t expect = 0;
  view.each<Health>([&](Entity, const Health& h) { EXPECT_EQ(h.hp, expect++); });
}

TEST_F(TransactionTest, DroppedTransactionRollsBack) {
  Entity e;
  {
    Transaction t = w().begin();
    e = t.create().value();
    ASSERT_TRUE(t.add(e, Health{1, 1}).is_ok());
  }
  EXPECT_FALSE(w().alive(e));
  EXPECT_EQ(db_->metrics().rollbacks, 1u);
  EXPECT_TRUE(w().create().has_value()) << "the writer is usable again";
}

TEST_F(TransactionTest, ExceptionInsideTheBodyRollsBack) {
  Entity e;
  try {
    Transaction t = w().begin();
    e = t.create().value();
    throw std::runtime_error("game logic failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(w().alive(e));
}

TEST_F(TransactionTest, SecondBeginWhileOpenIsAnError) {
  Transaction t = w().begin();
  Transaction t2 = w().begin();
  EXPECT_FALSE(t2.active());
  EXPECT_EQ(t2.create().status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(t.create().has_value());
}

TEST_F(TransactionTest, ForeignKeyToDeadEntityFailsAtCommitAndChangesNothing) {
  const Entity a = w().create().value();
  const Entity gone = w().create().value();
  ASSERT_TRUE(w().destroy(gone).is_ok());
  const std::uint64_t version = db_->published_version();
  Transaction t = w().begin();
  ASSERT_TRUE(t.add(a, Health{1, 1}).is_ok());
  ASSERT_TRUE(t.add(a, Follow{gone}).is_ok());  // checked at commit, not here
  const Status s = t.commit();
  EXPECT_EQ(s.code(), StatusCode::kConstraintViolation);
  EXPECT_NE(s.message().find("table 'follow'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("field 'target'"), std::string::npos) << s.message();
  EXPECT_EQ(w().get<Health>(a), nullptr) << "the failing transaction changed nothing";
  EXPECT_EQ(db_->published_version(), version);
}

TEST_F(TransactionTest, ReferenceMayBeSetLaterInTheSameTransaction) {
  const Entity gone = w().create().value();
  ASSERT_TRUE(w().destroy(gone).is_ok());
  Transaction t = w().begin();
  const Entity a = t.create().value();
  ASSERT_TRUE(t.add(a, Follow{gone}).is_ok()) << "a dangling placeholder may be held until commit";
  const Entity b = t.create().value();
  ASSERT_TRUE(t.update(a, Follow{b}).is_ok());
  EXPECT_TRUE(t.commit().is_ok()) << "only the state at commit is checked";
}

// A reference to an entity index the registry never handed out is refused at once: it could only commit
// by guessing a future id, and the reverse-reference index would have to be sized by it (a client could
// make the server allocate gigabytes with one id).
TEST_F(TransactionTest, ReferenceToANeverCreatedEntityIsRefusedAtOnce) {
  Transaction t = w().begin();
  const Entity a = t.create().value();
  const Status s = t.add(a, Follow{Entity(0xFFFFFFF0u, 1)});
  EXPECT_EQ(s.code(), StatusCode::kStaleEntity);
  EXPECT_NE(s.message().find("never created"), std::string::npos) << s.message();
  ASSERT_TRUE(t.add(a, Follow{a}).is_ok());
  EXPECT_EQ(t.set(a, &Follow::target, Entity(0xFFFFFFF0u, 1)).code(), StatusCode::kStaleEntity);
  EXPECT_TRUE(t.commit().is_ok());
}

TEST_F(TransactionTest, OnDeleteRestrictBlocksDestroy) {
  const Entity vip = w().create().value();
  const Entity bodyguard = w().create().value();
  ASSERT_TRUE(w().add(bodyguard, Guard{vip}).is_ok());
  const Status s = w().destroy(vip);
  EXPECT_EQ(s.code(), StatusCode::kConstraintViolation);
  EXPECT_NE(s.message().find("restrict"), std::string::npos) << s.message();
  EXPECT_TRUE(w().alive(vip));
  // Destroying both together is fine when the referencing row goes too.
  Transaction t = w().begin();
  ASSERT_TRUE(t.destroy(bodyguard).is_ok());
  ASSERT_TRUE(t.destroy(vip).is_ok());
  EXPECT_TRUE(t.commit().is_ok());
}

TEST_F(TransactionTest, OnDeleteCascadeAndSetNull) {
  const Entity target = w().create().value();
  const Entity follower = w().create().value();
  const Entity aimer = w().create().value();
  ASSERT_TRUE(w().add(follower, Follow{target}).is_ok());
  ASSERT_TRUE(w().add(follower, Health{3, 3}).is_ok());
  ASSERT_TRUE(w().add(aimer, Aim{target}).is_ok());
  ASSERT_TRUE(w().destroy(target).is_ok());
  PinnedView view = db_->pin();
  EXPECT_FALSE(view.has<Follow>(follower)) << "cascade removes the referencing row";
  EXPECT_TRUE(view.has<Health>(follower)) << "...and nothing else of its entity";
  ASSERT_TRUE(view.has<Aim>(aimer));
  EXPECT_TRUE(view.get<Aim>(aimer)->at.is_null()) << "set_null clears the reference";
}

TEST_F(TransactionTest, UniqueConstraintHoldsAtCommit) {
  const Entity a = w().create().value();
  const Entity b = w().create().value();
  ASSERT_TRUE(w().add(a, Player{1, "alice"}).is_ok());
  const Status dup = w().add(b, Player{2, "alice"});
  EXPECT_EQ(dup.code(), StatusCode::kConstraintViolation);
  EXPECT_NE(dup.message().find("\"alice\""), std::string::npos) << dup.message();
  EXPECT_FALSE(db_->pin().has<Player>(b));
  // A swap inside one transaction passes: only the final state counts.
  ASSERT_TRUE(w().add(b, Player{2, "bob"}).is_ok());
  Transaction t = w().begin();
  ASSERT_TRUE(t.update(a, Player{1, "bob"}).is_ok());
  ASSERT_TRUE(t.update(b, Player{2, "alice"}).is_ok());
  EXPECT_TRUE(t.commit().is_ok());
  EXPECT_EQ(db_->pin().get<Player>(a)->name.view(), "bob");
  // Freed values can be reused.
  ASSERT_TRUE(w().remove<Player>(a).is_ok());
  const Entity c = w().create().value();
  EXPECT_TRUE(w().add(c, Player{3, "bob"}).is_ok());
}

TEST_F(TransactionTest, AddTwiceIsAnErrorPutReplaces) {
  const Entity e = w().create().value();
  ASSERT_TRUE(w().add(e, Health{1, 1}).is_ok());
  EXPECT_EQ(w().add(e, Health{2, 2}).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(w().put(e, Health{3, 3}).is_ok());
  EXPECT_EQ(w().get<Health>(e)->hp, 3u);
  EXPECT_EQ(w().remove<Transform>(e).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace ecsdb::testing

namespace ecsdb::testing {
namespace {

TEST(BulkTest, AddManyInsertsRollsBackAndReportsDeltas) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(5000, es).is_ok());
  std::vector<Health> hs(es.size());
  for (std::uint32_t i = 0; i < hs.size(); ++i) hs[i] = Health{i, 7};
  {
    Transaction t = w.begin();
    ASSERT_TRUE(t.add_many<Health>(es, hs).is_ok());
    EXPECT_EQ(t.get<Health>(es[4321])->hp, 4321u);
    t.rollback();
  }
  EXPECT_EQ(w.get<Health>(es[0]), nullptr) << "bulk insert rolled back";
  Subscription sub = db->subscribe().value();
  Transaction t = w.begin();
  ASSERT_TRUE(t.add_many<Health>(es, hs).is_ok());
  ASSERT_TRUE(t.remove<Health>(es[10]).is_ok());
  ASSERT_TRUE(t.commit().is_ok());
  PinnedView v = db->pin();
  EXPECT_EQ(v.count<Health>(), es.size() - 1);
  EXPECT_EQ(v.get<Health>(es[4999])->hp, 4999u);
  std::vector<std::shared_ptr<const Delta>> ds;
  sub.poll(ds);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0]->find(db->table_id("health").value())->inserted_keys.size(), es.size() - 1);
}

// add_many copies the keys of its undo record except for a run of consecutive fresh entities at the end of
// the batch (what create_many returns after its recycled indices), which it records by its first key;
// rollback and the delta must see the same keys either way, also after a remove in the same transaction
// moved bulk rows (swap-and-pop), and rollback must leave no row that `each` with `exclude` could find.
TEST(BulkTest, AddManyInAnyEntityOrderRollsBackAndReportsTheSameKeys) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(3000, es).is_ok());
  for (std::size_t i = 0; i < 1000; ++i) ASSERT_TRUE(w.destroy(es[i]).is_ok());
  // 1000 recycled indices (taken from the free list's back: descending, generation 2), then 500 fresh ones.
  std::vector<Entity> as_created;
  ASSERT_TRUE(w.create_many(1500, as_created).is_ok());
  ASSERT_EQ(as_created[999].index(), 0u);
  ASSERT_EQ(as_created[1000].index(), 3000u);
  std::vector<Entity> all(es.begin() + 1000, es.end());
  all.insert(all.end(), as_created.begin(), as_created.end());
  {
    Transaction t = w.begin();
    for (std::size_t i = 0; i < all.size(); ++i) ASSERT_TRUE(t.add(all[i], Transform{1, 2, 3}).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  }
  std::vector<Entity> run(es.begin() + 1000, es.end());  // one run: nothing copied
  std::vector<Entity> reversed(run.rbegin(), run.rend());  // no run longer than one key
  std::vector<Entity> mixed = all;
  std::mt19937 rng(7);
  std::shuffle(mixed.begin(), mixed.end(), rng);
  const std::uint16_t health = db->table_id("health").value();
  Subscription sub = db->subscribe().value();
  for (const std::vector<Entity>* order : {&run, &reversed, &mixed, &as_created}) {
    std::vector<Health> hs(order->size());
    for (std::size_t i = 0; i < hs.size(); ++i) hs[i] = Health{(*order)[i].index(), 3};
    {
      Transaction t = w.begin();
      ASSERT_TRUE(t.add_many<Health>(*order, hs).is_ok());
      ASSERT_TRUE(t.remove<Health>((*order)[0]).is_ok());  // moves the batch's last row into row 0
      t.rollback();
    }
    for (Entity e : *order) ASSERT_EQ(w.get<Health>(e), nullptr) << "rolled back";
    // Every entity is seen without Health once a new version is out.
    ASSERT_TRUE(w.update(all[0], Transform{4, 5, 6}).is_ok());
    w.publish();
    std::size_t without_health = 0;
    db->pin().each<Transform>(exclude<Health>, [&](Entity, const Transform&) { ++without_health; });
    EXPECT_EQ(without_health, all.size());
    Transaction t = w.begin();
    ASSERT_TRUE(t.add_many<Health>(*order, hs).is_ok());
    ASSERT_TRUE(t.remove<Health>((*order)[0]).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
    std::vector<std::shared_ptr<const Delta>> ds;
    sub.poll(ds);
    ASSERT_FALSE(ds.empty());
    std::vector<std::uint64_t> expected;
    for (std::size_t i = 1; i < order->size(); ++i) expected.push_back((*order)[i].bits());
    std::vector<std::uint64_t> inserted = ds.back()->find(health)->inserted_keys;
    std::sort(expected.begin(), expected.end());
    std::sort(inserted.begin(), inserted.end());
    EXPECT_EQ(inserted, expected);
    PinnedView after = db->pin();
    EXPECT_EQ(after.count<Health>(), order->size() - 1);
    for (std::size_t i = 1; i < order->size(); ++i) ASSERT_EQ(after.get<Health>((*order)[i])->hp, (*order)[i].index());
    // Empty the table for the next order.
    Transaction clear = w.begin();
    for (std::size_t i = 1; i < order->size(); ++i) ASSERT_TRUE(clear.remove<Health>((*order)[i]).is_ok());
    ASSERT_TRUE(clear.commit().is_ok());
    sub.poll(ds);
  }
}

TEST(BulkTest, AddManyRejectsDuplicatesDeadAndExisting) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(3, es).is_ok());
  Transaction t = w.begin();
  std::vector<Entity> dup = {es[0], es[1], es[0]};
  std::vector<Health> hs(3, Health{1, 1});
  EXPECT_EQ(t.add_many<Health>(dup, hs).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.get<Health>(es[0]), nullptr) << "a refused bulk insert leaves nothing behind";
  ASSERT_TRUE(t.add(es[2], Health{1, 1}).is_ok());
  std::vector<Entity> with_existing = {es[0], es[2]};
  EXPECT_EQ(t.add_many<Health>(with_existing, std::span(hs).first(2)).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(t.commit().is_ok());
}

// add_many walks its batch in runs of consecutive indices, one page pointer per run: refusals found in a
// later page leave nothing behind in the earlier ones, and pages shared with a pinned view are copied.
TEST(BulkTest, AddManyAcrossPagesRefusesLateBadEntitiesAndCopiesSharedPages) {
  auto db = std::move(Database::open(test_schema(), DatabaseOptions{.publish_every_commits = 0}).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(9000, es).is_ok());  // several pages of registry and sparse slots
  std::vector<Health> hs(es.size());
  for (std::uint32_t i = 0; i < hs.size(); ++i) hs[i] = Health{i, 1};
  const auto first_half = std::span(es).first(4500);
  const auto second_half = std::span(es).subspan(4500);
  const auto expect_no_health = [&](std::span<const Entity> batch, const char* why) {
    for (Entity e : batch) ASSERT_EQ(w.get<Health>(e), nullptr) << why << ": " << e.index();
  };
  {
    Transaction t = w.begin();
    std::vector<Entity> dup(first_half.begin(), first_half.end());
    dup.push_back(es[3]);  // a duplicate after two full pages
    EXPECT_EQ(t.add_many<Health>(dup, std::span(hs).first(dup.size())).code(), StatusCode::kInvalidArgument);
    std::vector<Entity> dead(first_half.begin(), first_half.end());
    dead.push_back(Entity(static_cast<std::uint32_t>(es.size()) + 7, 1));  // past the registry's end
    EXPECT_EQ(t.add_many<Health>(dead, std::span(hs).first(dead.size())).code(), StatusCode::kStaleEntity);
    // A run that starts below the registry's end and runs past it, inside one page.
    std::vector<Entity> past_end(second_half.end() - 10, second_half.end());
    past_end.push_back(Entity(static_cast<std::uint32_t>(es.size()), 1));
    EXPECT_EQ(t.add_many<Health>(past_end, std::span(hs).first(past_end.size())).code(), StatusCode::kStaleEntity);
    ASSERT_TRUE(t.commit().is_ok());
  }
  expect_no_health(es, "a refused bulk insert leaves nothing behind");
  {
    // ...in the published version too: has() and the row count agree.
    w.publish();
    const PinnedView v = db->pin();
    ASSERT_EQ(v.entity_count(), es.size());
    EXPECT_EQ(v.count<Health>(), 0u);
    for (Entity e : es) ASSERT_FALSE(v.has<Health>(e)) << e.index();
  }
  const auto add_many = [&](std::span<const Entity> batch, std::span<const Health> values) {
    Transaction t = w.begin();
    const Status added = t.add_many<Health>(batch, values);
    EXPECT_TRUE(t.commit().is_ok());
    return added;
  };
  ASSERT_TRUE(w.add(es[6000], Health{7, 7}).is_ok());
  EXPECT_EQ(add_many(es, hs).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(w.remove<Health>(es[6000]).is_ok());
  expect_no_health(es, "after the refusal of an entity that had the component");

  ASSERT_TRUE(add_many(first_half, std::span(hs).first(first_half.size())).is_ok());
  w.publish();
  const PinnedView before = db->pin();
  ASSERT_TRUE(add_many(second_half, std::span(hs).subspan(first_half.size())).is_ok());
  w.publish();
  const PinnedView after = db->pin();
  for (std::uint32_t i = 0; i < es.size(); ++i) {
    ASSERT_NE(after.get<Health>(es[i]), nullptr) << i;
    EXPECT_EQ(after.get<Health>(es[i])->hp, i);
    EXPECT_EQ(before.get<Health>(es[i]) != nullptr, i < first_half.size()) << "the pinned view is unchanged: " << i;
  }
}

TEST(BulkTest, OperationsOnAFinishedTransactionAreErrorsNotCrashes) {
  auto db = std::move(Database::open(test_schema()).value());
  Transaction t = db->writer().begin();
  const Entity e = t.create().value();
  ASSERT_TRUE(t.commit().is_ok());
  EXPECT_EQ(t.add(e, Health{1, 1}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.update(e, Health{1, 1}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.get<Health>(e), nullptr);
  EXPECT_EQ(t.commit().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ecsdb::testing

namespace ecsdb::testing {
namespace {

TEST(BulkTest, CreateManyRollsBackExactly) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  const Entity first = w.create().value();
  ASSERT_TRUE(w.destroy(first).is_ok());  // one recycled index in the free list
  {
    Transaction t = w.begin();
    std::vector<Entity> es;
    ASSERT_TRUE(t.create_many(1000, es).is_ok());
    EXPECT_EQ(es[0].index(), first.index()) << "recycled index first";
    EXPECT_TRUE(t.alive(es[999]));
    t.rollback();
  }
  EXPECT_EQ(db->pin().entity_count(), 0u);
  std::vector<Entity> again;
  ASSERT_TRUE(w.create_many(3, again).is_ok());
  EXPECT_EQ(again[0].index(), first.index());
  EXPECT_EQ(again[0].generation(), first.generation() + 1);
  EXPECT_EQ(again[1], Entity(1, 1)) << "fresh indices are handed out again after the rollback";
}

}  // namespace
}  // namespace ecsdb::testing
