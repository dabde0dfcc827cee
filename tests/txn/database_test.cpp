// Entities, components and pinned views through the public API.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <iterator>
#include <map>
#include <optional>
#include <ranges>
#include <set>
#include <string>
#include <vector>

#include "storage/field_codec.hpp"
#include "txn/database_access.hpp"
#include "support/table_checks.hpp"
#include "support/test_schema.hpp"

namespace ecsdb::testing {
namespace {

class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = std::move(Database::open(test_schema()).value()); }
  WriterHandle& w() { return db_->writer(); }
  std::unique_ptr<Database> db_;
};

TEST_F(DatabaseTest, CreateAddGetThroughPinnedView) {
  const Entity e = w().create().value();
  ASSERT_TRUE(w().add(e, Transform{1, 2, 3}).is_ok());
  ASSERT_TRUE(w().add(e, Health{50, 100}).is_ok());
  PinnedView view = db_->pin();
  const Transform* t = view.get<Transform>(e);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->x, 1);
  EXPECT_EQ(t->z, 3);
  EXPECT_EQ(view.get<Health>(e)->hp, 50u);
  EXPECT_TRUE(view.has<Health>(e));
  EXPECT_FALSE(view.has<Player>(e));
  EXPECT_EQ(view.count<Transform>(), 1u);
  EXPECT_EQ(view.entity_count(), 1u);
}

TEST(DatabasePageBytesTest, RefusesSizesThatAreNotAPowerOfTwoInRange) {
  for (std::uint32_t bad : {0u, 256u, 1000u, 131072u}) {
    auto db = Database::open(test_schema(), DatabaseOptions{.page_bytes = bad});
    ASSERT_FALSE(db.has_value()) << bad;
    EXPECT_NE(db.status().message().find("page_bytes must be a power of two from 512 to 65536, got " + std::to_string(bad)),
              std::string::npos)
        << db.status().to_string();
  }
}

TEST(DatabasePageBytesTest, SmallerPagesCopyLessPerRandomWrite) {
  // The same 64 random single-field writes after one publish: each first write to a page copies the page,
  // so the bytes copied follow the page size (what ADR 0015 measures at scale).
  std::map<std::uint32_t, std::uint64_t> bytes_copied_growth;
  for (std::uint32_t page_bytes : {512u, 16u * 1024}) {
    auto db = std::move(Database::open(test_schema(), DatabaseOptions{.publish_every_commits = 0, .page_bytes = page_bytes}).value());
    std::vector<Entity> es;
    Transaction t = db->writer().begin();
    ASSERT_TRUE(t.create_many(20'000, es).is_ok());
    for (Entity e : es) ASSERT_TRUE(t.add(e, Health{1, 2}).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
    db->writer().publish();
    const std::uint64_t copied_before = db->metrics().pages_copied_total;
    for (std::size_t i = 0; i < 64; ++i) ASSERT_TRUE(db->writer().set(es[(i * 7919) % es.size()], &Health::hp, 5u).is_ok());
    db->writer().publish();
    bytes_copied_growth[page_bytes] = (db->metrics().pages_copied_total - copied_before) * page_bytes;
    const PinnedView view = db->pin();
    for (std::size_t i = 0; i < 64; ++i) ASSERT_EQ(view.get<Health>(es[(i * 7919) % es.size()])->hp, 5u);
    ASSERT_EQ(view.get<Health>(es[1])->hp, 1u);
  }
  EXPECT_LT(bytes_copied_growth[512] * 4, bytes_copied_growth[16 * 1024])
      << "512-byte pages copy far fewer bytes than 16 KiB pages for scattered writes";
}

// `n` entities whose Health::hp is their number, committed and published; expected[i] = i.
void spawn_numbered_healths(Database& db, std::size_t n, std::vector<Entity>& es, std::vector<std::uint32_t>& expected) {
  Transaction t = db.writer().begin();
  ASSERT_TRUE(t.create_many(n, es).is_ok());
  for (std::size_t i = 0; i < es.size(); ++i) ASSERT_TRUE(t.add(es[i], Health{static_cast<std::uint32_t>(i), 0}).is_ok());
  ASSERT_TRUE(t.commit().is_ok());
  db.writer().publish();
  expected.resize(es.size());
  for (std::size_t i = 0; i < es.size(); ++i) expected[i] = static_cast<std::uint32_t>(i);
}

TEST(DatabasePingPongTest, RepeatedTicksReplayAFewBytesInsteadOfCopyingPages) {
  // Ticks of scattered writes, each published: from the second tick on, a page's private copy is its
  // previous copy brought up to date (ADR 0016), so the bytes moved per write drop from a page to a granule.
  auto db = std::move(Database::open(test_schema(), DatabaseOptions{.publish_every_commits = 0}).value());
  std::vector<Entity> es;
  std::vector<std::uint32_t> expected;
  spawn_numbered_healths(*db, 50'000, es, expected);
  const DatabaseMetrics before = db->metrics();
  std::uint32_t value = 1'000'000;
  for (int tick = 0; tick < 20; ++tick) {
    for (std::size_t k = 0; k < 256; ++k) {
      const std::size_t i = (k * 7919 + static_cast<std::size_t>(tick) * 104729) % es.size();
      ASSERT_TRUE(db->writer().set(es[i], &Health::hp, ++value).is_ok());
      expected[i] = value;
    }
    db->writer().publish();
  }
  const DatabaseMetrics after = db->metrics();
  const std::uint64_t pages = after.pages_copied_total - before.pages_copied_total;
  const std::uint64_t replayed = after.pages_replayed_total - before.pages_replayed_total;
  const std::uint64_t bytes = after.bytes_copied_total - before.bytes_copied_total;
  EXPECT_GT(replayed * 2, pages) << "most copies after the first tick are replays";
  EXPECT_LT(bytes * 4, pages * 16 * 1024) << "replays move far less than whole pages";
  EXPECT_GT(after.bytes_parked, 0u) << "each written page keeps its previous copy parked";
  const PinnedView view = db->pin();
  for (std::size_t i = 0; i < es.size(); ++i) ASSERT_EQ(view.get<Health>(es[i])->hp, expected[i]) << i;
}

TEST(DatabasePingPongTest, ViewsHeldAcrossTicksStillLeaveCopiesToReplayInto) {
  // A reader that holds each view across the next two ticks (a render or network thread a little behind
  // the simulation) holds the two newest copies of every page it can read. The writer then replays into
  // an older parked copy in the page's chain instead of copying whole pages, and every held view keeps
  // seeing its own version.
  auto db = std::move(Database::open(test_schema(), DatabaseOptions{.publish_every_commits = 0}).value());
  std::vector<Entity> es;
  std::vector<std::uint32_t> expected;
  spawn_numbered_healths(*db, 50'000, es, expected);
  struct Held {
    PinnedView view;
    std::vector<std::uint32_t> values;
  };
  std::deque<Held> held;
  held.push_back({db->pin(), expected});
  std::uint32_t value = 1'000'000;
  DatabaseMetrics before;
  for (int tick = 0; tick < 24; ++tick) {
    if (tick == 4) before = db->metrics();  // the chains have grown by then
    for (std::size_t k = 0; k < 256; ++k) {
      const std::size_t i = (k * 7919 + static_cast<std::size_t>(tick) * 104729) % es.size();
      ASSERT_TRUE(db->writer().set(es[i], &Health::hp, ++value).is_ok());
      expected[i] = value;
    }
    db->writer().publish();
    held.push_back({db->pin(), expected});
    if (held.size() > 2) {
      const Held& oldest = held.front();
      for (std::size_t i = 0; i < es.size(); ++i) ASSERT_EQ(oldest.view.get<Health>(es[i])->hp, oldest.values[i]) << i;
      held.pop_front();
    }
  }
  const DatabaseMetrics after = db->metrics();
  const std::uint64_t pages = after.pages_copied_total - before.pages_copied_total;
  const std::uint64_t replayed = after.pages_replayed_total - before.pages_replayed_total;
  EXPECT_GT(replayed * 10, pages * 9) << "replays, not whole copies, although each copy's previous one is held";
  EXPECT_LT((after.bytes_copied_total - before.bytes_copied_total) * 4, pages * 16 * 1024);
}

TEST(DatabasePingPongTest, TurnedOffEveryCopyIsWholeAndNothingIsParked) {
  auto db = std::move(
      Database::open(test_schema(), DatabaseOptions{.publish_every_commits = 0, .ping_pong_pages = false}).value());
  std::vector<Entity> es;
  Transaction t = db->writer().begin();
  ASSERT_TRUE(t.create_many(10'000, es).is_ok());
  for (Entity e : es) ASSERT_TRUE(t.add(e, Health{1, 0}).is_ok());
  ASSERT_TRUE(t.commit().is_ok());
  db->writer().publish();
  for (std::uint32_t tick = 1; tick <= 5; ++tick) {
    for (std::size_t k = 0; k < 100; ++k) ASSERT_TRUE(db->writer().set(es[k * 97], &Health::hp, tick).is_ok());
    db->writer().publish();
  }
  const DatabaseMetrics m = db->metrics();
  EXPECT_GT(m.pages_copied_total, 0u);
  EXPECT_EQ(m.pages_replayed_total, 0u);
  EXPECT_EQ(m.bytes_parked, 0u);
  EXPECT_EQ(db->pin().get<Health>(es[97])->hp, 5u);
}

TEST(DatabasePingPongTest, AHeldViewKeepsItsPagesWhileTicksGoOn) {
  // A page a held view can read is never the replay target: the view keeps seeing its version's values
  // through many ticks that write the same rows, and the rows' latest values are right afterwards.
  auto db = std::move(Database::open(test_schema(), DatabaseOptions{.publish_every_commits = 0}).value());
  std::vector<Entity> es;
  Transaction t = db->writer().begin();
  ASSERT_TRUE(t.create_many(10'000, es).is_ok());
  for (Entity e : es) ASSERT_TRUE(t.add(e, Health{7, 0}).is_ok());
  ASSERT_TRUE(t.commit().is_ok());
  db->writer().publish();
  std::vector<std::uint32_t> expected(es.size(), 7);
  std::optional<PinnedView> held;
  for (std::uint32_t tick = 1; tick <= 30; ++tick) {
    if (tick == 10) held.emplace(db->pin());  // version after 9 ticks
    for (std::size_t k = 0; k < 64; ++k) {
      const std::size_t i = (k * 131 + tick * 17) % es.size();
      ASSERT_TRUE(db->writer().set(es[i], &Health::hp, tick).is_ok());
      expected[i] = tick;
    }
    db->writer().publish();
  }
  ASSERT_TRUE(held.has_value());
  // The held view shows what the rows were after tick 9: recompute it.
  std::vector<std::uint32_t> at_9(es.size(), 7);
  for (std::uint32_t tick = 1; tick <= 9; ++tick) {
    for (std::size_t k = 0; k < 64; ++k) at_9[(k * 131 + tick * 17) % es.size()] = tick;
  }
  for (std::size_t i = 0; i < es.size(); ++i) ASSERT_EQ(held->get<Health>(es[i])->hp, at_9[i]) << i;
  held.reset();
  for (int tick = 0; tick < 3; ++tick) {  // the held version's pages now go back to parking and replay
    ASSERT_TRUE(db->writer().set(es[0], &Health::hp, 99u).is_ok());
    db->writer().publish();
  }
  expected[0] = 99;
  const PinnedView view = db->pin();
  for (std::size_t i = 0; i < es.size(); ++i) ASSERT_EQ(view.get<Health>(es[i])->hp, expected[i]) << i;
}

TEST(DatabaseScratchMemoryTest, ABulkTransactionDoesNotLeaveItsUndoBufferResident) {
  // 600,000 inserted rows in one transaction need one undo record each (tens of MB). The writer keeps
  // its buffers between transactions so that ticks do not allocate, but not one that big.
  auto db = std::move(Database::open(test_schema(), DatabaseOptions{.publish_every_commits = 0}).value());
  std::vector<Entity> es;
  {
    Transaction t = db->writer().begin();
    ASSERT_TRUE(t.create_many(600'000, es).is_ok());
    for (Entity e : es) ASSERT_TRUE(t.add(e, Health{1, 2}).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  }
  constexpr std::uint64_t kMiB = 1 << 20;
  EXPECT_LE(db->metrics().writer_scratch_bytes, 16 * kMiB) << "a 600,000-record undo buffer stayed resident";

  // A tick's worth of writes keeps its buffer: the next tick of the same size finds it and allocates none.
  auto tick = [&](std::uint32_t value) {
    Transaction t = db->writer().begin();
    for (std::size_t i = 0; i < 1000; ++i) ASSERT_TRUE(t.set(es[i * 7], &Health::hp, value).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  };
  tick(5);
  const std::uint64_t kept = db->metrics().writer_scratch_bytes;
  EXPECT_GE(kept, 1000 * 40u) << "room for 1,000 undo records and their old bytes";
  tick(6);
  EXPECT_EQ(db->metrics().writer_scratch_bytes, kept);
  db->writer().publish();
  EXPECT_EQ(db->pin().get<Health>(es[7])->hp, 6u);
}

TEST_F(DatabaseTest, StaleIdsAreDetectedAfterIndexReuse) {
  const Entity a = w().create().value();
  ASSERT_TRUE(w().add(a, Health{1, 1}).is_ok());
  ASSERT_TRUE(w().destroy(a).is_ok());
  const Entity b = w().create().value();
  ASSERT_EQ(a.index(), b.index()) << "freed indices are recycled";
  ASSERT_NE(a.generation(), b.generation());
  ASSERT_TRUE(w().add(b, Health{2, 2}).is_ok());

  PinnedView view = db_->pin();
  EXPECT_FALSE(view.alive(a));
  EXPECT_EQ(view.get<Health>(a), nullptr) << "a stale id must never reach the new entity's data";
  EXPECT_EQ(view.get<Health>(b)->hp, 2u);

  const Status s = w().add(a, Transform{});
  EXPECT_EQ(s.code(), StatusCode::kStaleEntity);
  EXPECT_NE(s.message().find("not alive"), std::string::npos);
  EXPECT_EQ(w().update(a, Health{}).code(), StatusCode::kStaleEntity);
  EXPECT_EQ(w().destroy(a).code(), StatusCode::kStaleEntity);
}

// WriterHandle::set and update take TransactionWriter::implicit_set, a short path for the common case; each
// case it cannot take goes back to the general path, which says what a transaction would.
TEST_F(DatabaseTest, ASetOutsideTheShortPathSaysWhatATransactionSays) {
  const Entity a = w().create().value();
  ASSERT_TRUE(w().add(a, Health{1, 1}).is_ok());
  ASSERT_TRUE(w().add(a, Player{1, FixedString<16>("a")}).is_ok());
  const Entity b = w().create().value();
  ASSERT_TRUE(w().add(b, Player{2, FixedString<16>("b")}).is_ok());
  const Entity gone = w().create().value();
  ASSERT_TRUE(w().add(gone, Health{3, 3}).is_ok());
  ASSERT_TRUE(w().destroy(gone).is_ok());

  // The short path: a plain table, a live row; each write is a commit of its own, published.
  const std::uint64_t commits = db_->metrics().commits;
  ASSERT_TRUE(w().set(a, &Health::hp, 7u).is_ok());
  EXPECT_EQ(db_->pin().get<Health>(a)->hp, 7u);
  ASSERT_TRUE(w().update(a, Health{8, 9}).is_ok());
  EXPECT_EQ(db_->pin().get<Health>(a)->max_hp, 9u);
  EXPECT_EQ(db_->metrics().commits, commits + 2);
  // With a transaction open, the handle's own write is refused, and the transaction's rollback has
  // nothing of it to undo.
  {
    Transaction open = w().begin();
    ASSERT_TRUE(open.set(a, &Health::max_hp, 50u).is_ok());
    EXPECT_EQ(w().set(a, &Health::hp, 5u).code(), StatusCode::kInvalidArgument);
    open.rollback();
    EXPECT_EQ(db_->pin().get<Health>(a)->hp, 8u);
    EXPECT_EQ(db_->pin().get<Health>(a)->max_hp, 9u);
  }
  // Bytes outside the row (only the untyped entry point can ask for them).
  const std::uint16_t health = detail::table_of<Health>(*db_);
  const std::uint32_t big = 0;
  EXPECT_EQ(detail::implicit_write(&detail::DatabaseAccess::core(*db_), detail::ImplicitOp::kSet, health,
                                   a.bits(), sizeof(Health), sizeof big, &big).code(),
            StatusCode::kInvalidArgument);
  // A dead entity, and a live one without the component: the errors of a transaction.
  Transaction t = w().begin();
  const StatusCode stale = t.set(gone, &Health::hp, 1u).code();
  const StatusCode missing = t.set(b, &Health::hp, 1u).code();
  t.rollback();
  EXPECT_EQ(stale, StatusCode::kStaleEntity);
  EXPECT_EQ(missing, StatusCode::kNotFound);
  EXPECT_EQ(w().set(gone, &Health::hp, 1u).code(), stale);
  EXPECT_EQ(w().set(b, &Health::hp, 1u).code(), missing);
  // A table with a unique field is not plain: the set runs as a transaction, whose commit checks the index.
  EXPECT_EQ(w().set(b, &Player::name, FixedString<16>("a")).code(), StatusCode::kConstraintViolation);
  EXPECT_EQ(w().update(b, Player{2, FixedString<16>("a")}).code(), StatusCode::kConstraintViolation);
  ASSERT_TRUE(w().set(b, &Player::name, FixedString<16>("c")).is_ok());
  // With a subscriber the set builds a delta, so it runs as a transaction too, and the delta carries it.
  Subscription sub = db_->subscribe().value();
  ASSERT_TRUE(w().set(a, &Health::hp, 10u).is_ok());
  std::vector<std::shared_ptr<const Delta>> deltas;
  sub.poll(deltas);
  ASSERT_EQ(deltas.size(), 1u);
  ASSERT_EQ(deltas[0]->tables.size(), 1u);
  EXPECT_EQ(deltas[0]->tables[0].updates.size(), 1u);

  const PinnedView view = db_->pin();
  EXPECT_EQ(view.get<Health>(a)->hp, 10u);
  EXPECT_EQ(view.get<Health>(a)->max_hp, 9u);
  EXPECT_EQ(view.get<Player>(b)->name, FixedString<16>("c"));
  EXPECT_EQ(view.get<Player>(a)->name, FixedString<16>("a"));
}

TEST_F(DatabaseTest, PinnedViewIsAnImmutableSnapshot) {
  const Entity e = w().create().value();
  ASSERT_TRUE(w().add(e, Health{10, 10}).is_ok());
  PinnedView before = db_->pin();
  const Health* old_ref = before.get<Health>(e);
  for (std::uint32_t i = 0; i < 100; ++i) ASSERT_TRUE(w().update(e, Health{i, 10}).is_ok());
  ASSERT_TRUE(w().destroy(e).is_ok());
  EXPECT_EQ(old_ref->hp, 10u) << "a reference from a pinned view keeps its value";
  EXPECT_TRUE(before.alive(e));
  PinnedView after = db_->pin();
  EXPECT_FALSE(after.alive(e));
  EXPECT_GT(after.version(), before.version());
}

TEST_F(DatabaseTest, RemoveKeepsRowsPackedAndOthersIntact) {
  std::vector<Entity> es;
  ASSERT_TRUE(w().create_many(1000, es).is_ok());
  for (std::uint32_t i = 0; i < es.size(); ++i) ASSERT_TRUE(w().add(es[i], Health{i, i}).is_ok());
  for (std::uint32_t i = 0; i < es.size(); i += 3) ASSERT_TRUE(w().remove<Health>(es[i]).is_ok());
  PinnedView view = db_->pin();
  std::size_t seen = 0;
  view.each<Health>([&](Entity e, const Health& h) {
    ++seen;
    EXPECT_EQ(es[h.hp], e) << "each row still belongs to its entity after swap-and-pop";
  });
  EXPECT_EQ(seen, 1000u - 334u);
  EXPECT_EQ(view.count<Health>(), seen);
  for (std::uint32_t i = 0; i < es.size(); ++i) EXPECT_EQ(view.has<Health>(es[i]), i % 3 != 0);
}

TEST_F(DatabaseTest, MultiComponentQueryVisitsOnlyEntitiesWithAll) {
  std::vector<Entity> es;
  ASSERT_TRUE(w().create_many(100, es).is_ok());
  std::set<std::uint64_t> both;
  for (std::uint32_t i = 0; i < 100; ++i) {
    if (i % 2 == 0) { ASSERT_TRUE(w().add(es[i], Transform{float(i), 0, 0}).is_ok()); }
    if (i % 3 == 0) { ASSERT_TRUE(w().add(es[i], Health{i, 0}).is_ok()); }
    if (i % 6 == 0) both.insert(es[i].bits());
  }
  PinnedView view = db_->pin();
  std::set<std::uint64_t> seen;
  for (auto [e, t, h] : view.query<Transform, Health>()) {
    EXPECT_EQ(std::uint32_t(t.x), h.hp);
    seen.insert(e.bits());
  }
  EXPECT_EQ(seen, both);
  std::set<std::uint64_t> seen_each;
  view.each<Health, Transform>([&](Entity e, const Health&, const Transform&) { seen_each.insert(e.bits()); });
  EXPECT_EQ(seen_each, both);
}

TEST_F(DatabaseTest, SetOneFieldByMemberAndByName) {
  const Entity e = w().create().value();
  ASSERT_TRUE(w().add(e, Transform{1, 2, 3}).is_ok());
  ASSERT_TRUE(w().set(e, &Transform::y, 20.0f).is_ok());
  ASSERT_TRUE(w().set_field("transform", e.bits(), "z", Value::from_float(30)).is_ok());
  PinnedView view = db_->pin();
  const Transform* t = view.get<Transform>(e);
  EXPECT_EQ(t->x, 1);
  EXPECT_EQ(t->y, 20);
  EXPECT_EQ(t->z, 30);
  const Status bad = w().set_field("transform", e.bits(), "w", Value::from_float(1));
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("no field 'w'"), std::string::npos);
  const Status wrong_type = w().set_field("health", e.bits(), "hp", Value::from_string("x"));
  EXPECT_NE(wrong_type.message().find("expected a value of type u32"), std::string::npos) << wrong_type.message();
}

TEST_F(DatabaseTest, DynamicRowsUseDefaultsAndRoundTrip) {
  const Entity e = w().create().value();
  ASSERT_TRUE(w().add_row("health", e, {{"hp", Value::from_uint(7)}}).is_ok());
  PinnedView view = db_->pin();
  EXPECT_EQ(view.get<Health>(e)->max_hp, 100u) << "schema default applies to fields not given";
  Row row = view.read_row("health", e).value();
  ASSERT_EQ(row.size(), 3u);
  EXPECT_EQ(row[0].first, "entity_id");
  EXPECT_EQ(row[0].second.entity, e);
  EXPECT_EQ(view.read_field("health", e, "hp").value().uinteger, 7u);
  EXPECT_EQ(w().add_row("health", e, {{"hp", Value::from_int(-1)}}).code(), StatusCode::kInvalidArgument);
  const Status range = w().set_field("health", e.bits(), "hp", Value::from_int(-1));
  EXPECT_NE(range.message().find("out of range"), std::string::npos) << range.message();
}

// A struct field without a default of its own takes its members' defaults (Quat.w = 1.0 in the showcase
// schema), in arrays of structs too (DamageRoll.kind = "physical"); the other members are zero.
TEST(DatabaseDefaultsTest, StructMembersTakeTheirOwnDefaults) {
  auto schema = load_schema_file(std::string(ECSDB_SOURCE_DIR) + "/examples/schemas/showcase.toml").value();
  auto db = Database::open(schema).value();
  WriterHandle& w = db->writer();
  const Entity e = w.create().value();
  ASSERT_TRUE(w.add_row("transform", e, {}).is_ok());
  const PinnedView view = db->pin();
  const Value rotation = view.read_field("transform", e, "rotation").value();
  ASSERT_EQ(rotation.kind, Value::Kind::kStruct);
  ASSERT_EQ(rotation.fields.size(), 4u);
  EXPECT_EQ(rotation.fields[3].first, "w");
  EXPECT_EQ(rotation.fields[3].second.floating, 1.0);
  EXPECT_EQ(rotation.fields[0].second.floating, 0.0);
  EXPECT_EQ(view.read_field("transform", e, "scale").value().floating, 1.0);  // a field default, as before
  const Field* field = schema->find_table("inventory_item")->find_field("enchantments");
  std::vector<std::byte> bytes(field->type.size);
  storage::encode_default(*field, bytes.data());
  const Value enchantments = storage::decode_value(field->type, bytes.data());
  ASSERT_EQ(enchantments.elements.size(), 2u);
  for (const Value& roll : enchantments.elements) {
    EXPECT_EQ(roll.fields[0].second.string, "physical") << roll.to_string();
    EXPECT_EQ(roll.fields[1].second.floating, 0.0);
  }
}

TEST_F(DatabaseTest, ManyTableRowsBelongToOwnerAndDieWithIt) {
  const Entity e = w().create().value();
  const Entity other = w().create().value();
  const RowId a = w().insert_child(e, Item{1, 5}).value();
  const RowId b = w().insert_child(e, Item{2, 1}).value();
  ASSERT_TRUE(w().insert_child(other, Item{3, 1}).has_value());
  {
    PinnedView view = db_->pin();
    auto kids = view.children("item", e).value();
    ASSERT_EQ(kids.size(), 2u);
    EXPECT_EQ(kids[0], a);
    EXPECT_EQ(kids[1], b);
  }
  ASSERT_TRUE(w().destroy(e).is_ok());
  PinnedView view = db_->pin();
  EXPECT_TRUE(view.children("item", e).value().empty());
  EXPECT_EQ(view.children("item", other).value().size(), 1u);
}

TEST_F(DatabaseTest, PublishCanBeBatchedPerTick) {
  auto db = std::move(Database::open(test_schema(), DatabaseOptions{.publish_every_commits = 0}).value());
  WriterHandle& wr = db->writer();
  const Entity e = wr.create().value();
  ASSERT_TRUE(wr.add(e, Health{1, 1}).is_ok());
  EXPECT_EQ(wr.get<Health>(e)->hp, 1u) << "the writer sees its commits at once";
  EXPECT_FALSE(db->pin().alive(e)) << "readers see them only after publish";
  wr.publish();
  EXPECT_TRUE(db->pin().alive(e));
}

TEST_F(DatabaseTest, ForEachMutUpdatesEveryRow) {
  std::vector<Entity> es;
  ASSERT_TRUE(w().create_many(5000, es).is_ok());
  for (auto e : es) ASSERT_TRUE(w().add(e, Transform{0, 0, 0}).is_ok());
  PinnedView before = db_->pin();
  ASSERT_TRUE(w().for_each_mut<Transform>([](Entity, Transform& t) { t.x += 1; }).is_ok());
  PinnedView after = db_->pin();
  for (auto e : es) {
    EXPECT_EQ(before.get<Transform>(e)->x, 0);
    EXPECT_EQ(after.get<Transform>(e)->x, 1);
  }
}

TEST_F(DatabaseTest, OldPagesAreReclaimedWhenViewsGoAway) {
  std::vector<Entity> es;
  ASSERT_TRUE(w().create_many(10000, es).is_ok());
  for (auto e : es) ASSERT_TRUE(w().add(e, Health{1, 1}).is_ok());
  {
    PinnedView held = db_->pin();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(w().update(es[i * 1000], Health{2, 2}).is_ok());
    const DatabaseMetrics m = db_->metrics();
    EXPECT_EQ(m.pinned_views, 1u);
    EXPECT_GT(m.retired_bytes, 0u) << "pages replaced under a pinned view are kept for it";
  }
  ASSERT_TRUE(w().update(es[0], Health{3, 3}).is_ok());  // next publish reclaims
  const DatabaseMetrics m = db_->metrics();
  EXPECT_EQ(m.pinned_views, 0u);
  EXPECT_GT(m.reclaimed_bytes_total, 0u);
  EXPECT_LT(m.retired_bytes, 64u * 1024u);
}

}  // namespace
}  // namespace ecsdb::testing

namespace ecsdb::testing {
namespace {

TEST(MetadataTest, SchemaIsReadableAsRows) {
  auto db = std::move(Database::open(test_schema()).value());
  auto tables = db->metadata("tables").value();
  ASSERT_EQ(tables.size(), db->schema().tables.size());
  auto fields = db->metadata("fields").value();
  bool found = false;
  for (const Row& r : fields) {
    if (r[0].second.string == "health" && r[1].second.string == "max_hp") {
      found = true;
      EXPECT_EQ(r[3].second.string, "u32");
      EXPECT_EQ(r[4].second.uinteger, 4u) << "offset";
      EXPECT_EQ(r[14].second.string, "100") << "default";
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(db->metadata("database").value()[0][0].second.string, "test_db");
  EXPECT_EQ(db->metadata("nope").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace ecsdb::testing

namespace ecsdb::testing {
namespace {

// each<A, B> walks chunks whose rows line up in both tables directly and falls back to sparse lookups
// elsewhere; both paths must visit exactly the entities that have both components, with their own rows.
TEST(MultiComponentTest, AlignedAndMisalignedChunksAgreeWithBruteForce) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(20000, es).is_ok());
  for (std::uint32_t i = 0; i < es.size(); ++i) {
    ASSERT_TRUE(w.add(es[i], Transform{float(i), 0, 0}).is_ok());
    ASSERT_TRUE(w.add(es[i], Health{i, 0}).is_ok());
  }
  // Misalign the second half: swap-and-pop moves rows of one table only.
  for (std::uint32_t i = 10000; i < es.size(); i += 7) ASSERT_TRUE(w.remove<Health>(es[i]).is_ok());
  std::map<std::uint64_t, std::uint32_t> expected;
  for (std::uint32_t i = 0; i < es.size(); ++i) {
    if (i < 10000 || (i - 10000) % 7 != 0) expected[es[i].bits()] = i;
  }
  PinnedView v = db->pin();
  std::map<std::uint64_t, std::uint32_t> seen;
  v.each<Transform, Health>([&](Entity e, const Transform& t, const Health& h) {
    EXPECT_EQ(std::uint32_t(t.x), h.hp) << "both rows belong to the same entity";
    seen[e.bits()] = h.hp;
  });
  EXPECT_EQ(seen, expected);
  std::map<std::uint64_t, std::uint32_t> seen_query;
  for (auto [e, t, h] : v.query<Transform, Health>()) seen_query[e.bits()] = h.hp;
  EXPECT_EQ(seen_query, expected);
}

std::uint32_t identity_rows_of_transform(const Database& db) {
  return db.pin().state().tables[detail::table_of<Transform>(db)].identity_rows;
}

Status add_transforms(WriterHandle& w, std::span<const Entity> es, std::span<const Transform> ts) {
  Transaction t = w.begin();
  ECSDB_RETURN_IF_ERROR(t.add_many<Transform>(es, ts));
  return t.commit();
}

// TableState::identity_rows lets each<A, B> and query<A, B> pair rows without comparing keys, so it must
// never claim a row whose key is another entity's index: each writer path that places a key is taken here
// with a key off its row.
TEST(MultiComponentTest, IdentityRowsIsALowerBoundOnEveryWritePath) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(60, es).is_ok());
  const std::vector<Transform> ts(50, Transform{1, 2, 3});
  ASSERT_TRUE(add_transforms(w, std::span(es).first(50), ts).is_ok());
  EXPECT_EQ(identity_rows_of_transform(*db), 50u) << "a bulk load in entity order is one run";

  // add_many appending keys that are not their rows' numbers (entities 55.., rows 50..) must not extend it.
  ASSERT_TRUE(add_transforms(w, std::span(es).subspan(55, 5), std::span(ts).first(5)).is_ok());
  EXPECT_EQ(identity_rows_of_transform(*db), 50u);
  // Nor may a single add, or a rolled-back bulk load past the end.
  ASSERT_TRUE(w.add(es[52], Transform{}).is_ok());
  EXPECT_EQ(identity_rows_of_transform(*db), 50u);

  // Removing the last row of a run of identity rows shortens it; a row of another entity appended there
  // must not count.
  auto db2 = std::move(Database::open(test_schema()).value());
  WriterHandle& w2 = db2->writer();
  std::vector<Entity> fs;
  ASSERT_TRUE(w2.create_many(20, fs).is_ok());
  ASSERT_TRUE(add_transforms(w2, std::span(fs).first(10), std::span(ts).first(10)).is_ok());
  ASSERT_TRUE(w2.remove<Transform>(fs[9]).is_ok());
  EXPECT_EQ(identity_rows_of_transform(*db2), 9u);
  ASSERT_TRUE(w2.add(fs[15], Transform{}).is_ok());
  EXPECT_EQ(identity_rows_of_transform(*db2), 9u);
  // A swap-and-pop that moves a row into the run cuts it at that row.
  ASSERT_TRUE(w2.remove<Transform>(fs[4]).is_ok());
  EXPECT_EQ(identity_rows_of_transform(*db2), 4u);
  // A rolled-back bulk load that had continued a run to the end gives the rows, and the run, back.
  auto db4 = std::move(Database::open(test_schema()).value());
  WriterHandle& w4 = db4->writer();
  std::vector<Entity> hs;
  ASSERT_TRUE(w4.create_many(10, hs).is_ok());
  ASSERT_TRUE(add_transforms(w4, std::span(hs).first(5), std::span(ts).first(5)).is_ok());
  EXPECT_EQ(identity_rows_of_transform(*db4), 5u);
  {
    Transaction t = w4.begin();
    ASSERT_TRUE(t.add_many<Transform>(std::span(hs).subspan(5), std::span(ts).first(5)).is_ok());
    t.rollback();
  }
  ASSERT_TRUE(w4.add(hs[7], Health{1, 1}).is_ok());  // a commit that publishes the rolled-back state
  EXPECT_EQ(db4->pin().count<Transform>(), 5u);
  EXPECT_EQ(identity_rows_of_transform(*db4), 5u);

  // Single adds in entity order continue a run that reaches the end of the table; one out of order ends it.
  auto db3 = std::move(Database::open(test_schema()).value());
  WriterHandle& w3 = db3->writer();
  std::vector<Entity> gs;
  ASSERT_TRUE(w3.create_many(5, gs).is_ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w3.add(gs[i], Transform{}).is_ok());
  EXPECT_EQ(identity_rows_of_transform(*db3), 3u);
  ASSERT_TRUE(w3.add(gs[4], Transform{}).is_ok());
  ASSERT_TRUE(w3.add(gs[3], Transform{}).is_ok());
  EXPECT_EQ(identity_rows_of_transform(*db3), 3u);
}

const detail::TableState& transform_table(const PinnedView& v, const Database& db) {
  return v.state().tables[detail::table_of<Transform>(db)];
}

// Every entity's Transform, read through get<> and through has<>, in a fresh view.
void expect_transforms(const Database& db, const std::map<std::uint64_t, float>& expected, std::span<const Entity> all) {
  const PinnedView v = db.pin();
  const auto reader = v.reader<Transform>();
  for (const Entity e : all) {
    const auto it = expected.find(e.bits());
    const Transform* t = v.get<Transform>(e);
    ASSERT_EQ(t != nullptr, it != expected.end()) << "entity index " << e.index();
    ASSERT_EQ(v.has<Transform>(e), it != expected.end());
    ASSERT_EQ(reader.get(e), t) << "the reader and get disagree on entity index " << e.index();
    ASSERT_EQ(reader.has(e), it != expected.end());
    if (t != nullptr) {
      ASSERT_EQ(t->x, it->second) << "entity index " << e.index();
    }
  }
  std::vector<const Transform*> many(all.size());
  v.get_many<Transform>(all, many);
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(many[i], v.get<Transform>(all[i]));
  expect_sparse_index_matches_rows(transform_table(v, db), v.state().registry);
  expect_keys_match_run(transform_table(v, db), v.state().registry);
}

// Two views of databases that did the same writes in two ways: the same transform and health rows in the
// same order, and every table of each consistent with its registry.
void expect_same_rows_and_consistent_tables(const PinnedView& v0, const PinnedView& v1) {
  const auto rows = [](const PinnedView& v) {
    std::vector<std::pair<std::uint64_t, float>> out;
    v.each<Transform>([&](Entity e, const Transform& t) { out.emplace_back(e.bits(), t.x); });
    v.each<Health>([&](Entity e, const Health& h) { out.emplace_back(e.bits(), float(h.hp)); });
    return out;
  };
  EXPECT_EQ(rows(v0), rows(v1)) << "the same rows in the same order";
  for (const PinnedView* v : {&v0, &v1}) {
    for (const detail::TableState& t : v->state().tables) {
      expect_sparse_index_matches_rows(t, v->state().registry);
      expect_keys_match_run(t, v->state().registry);
    }
  }
}

// WriterHandle::destroy in a schema without reference columns is applied in place, without a transaction
// (TransactionWriter::implicit_destroy). It must leave exactly what the same destroys leave when each runs
// as a transaction: the same rows in the same order, the same registry, and index reuse as before.
TEST(MultiComponentTest, ADestroyAppliedInPlaceLeavesWhatATransactionLeaves) {
  std::unique_ptr<Database> dbs[2];
  std::vector<Entity> es[2];
  for (int k = 0; k < 2; ++k) {
    dbs[k] = std::move(Database::open(plain_schema()).value());
    WriterHandle& w = dbs[k]->writer();
    ASSERT_TRUE(w.create_many(3000, es[k]).is_ok());
    std::vector<Transform> ts;
    for (std::uint32_t i = 0; i < 3000; ++i) ts.push_back(Transform{float(i), 0, 0});
    ASSERT_TRUE(add_transforms(w, es[k], ts).is_ok());  // the tables' identity runs reach the end
    for (std::uint32_t i = 0; i < 3000; i += 2) ASSERT_TRUE(w.add(es[k][i], Health{i, i}).is_ok());
  }
  std::set<std::uint32_t> destroyed;
  for (std::uint32_t i = 0; i < 3000; i += 7) destroyed.insert(i);
  destroyed.insert(2999);  // the last row of both tables
  for (const std::uint32_t i : destroyed) {
    ASSERT_TRUE(dbs[0]->writer().destroy(es[0][i]).is_ok());  // in place
    Transaction t = dbs[1]->writer().begin();                  // as a transaction
    ASSERT_TRUE(t.destroy(es[1][i]).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  }
  EXPECT_EQ(dbs[0]->writer().destroy(es[0][0]).code(), StatusCode::kStaleEntity) << "a second destroy";
  EXPECT_EQ(dbs[0]->metrics().commits, dbs[1]->metrics().commits) << "one commit per destroy; the refused one is none";
  const PinnedView v0 = dbs[0]->pin();
  const PinnedView v1 = dbs[1]->pin();
  for (std::uint32_t i = 0; i < 3000; ++i) {
    const bool alive = !destroyed.contains(i);
    ASSERT_EQ(v0.alive(es[0][i]), alive) << "entity " << i;
    const Transform* t = v0.get<Transform>(es[0][i]);
    const Health* h = v0.get<Health>(es[0][i]);
    ASSERT_EQ(t != nullptr, alive) << "entity " << i;
    ASSERT_EQ(h != nullptr, alive && i % 2 == 0) << "entity " << i;
    if (t != nullptr) {
      ASSERT_EQ(t->x, float(i)) << "entity " << i;
    }
    if (h != nullptr) {
      ASSERT_EQ(h->hp, i) << "entity " << i;
    }
  }
  expect_same_rows_and_consistent_tables(v0, v1);
  // The registries agree slot for slot: generations and alive flags.
  const detail::RegistryState& r0 = v0.state().registry;
  const detail::RegistryState& r1 = v1.state().registry;
  ASSERT_EQ(r0.used, r1.used);
  ASSERT_EQ(r0.alive, r1.alive);
  for (std::uint32_t i = 0; i < r0.used; ++i) {
    ASSERT_EQ(std::memcmp(r0.slots.at(i), r1.slots.at(i), r0.slots.elem_size), 0) << "registry slot " << i;
  }
  // The freed indices are handed out again, last freed first, with the next generation, and hold nothing
  // of the destroyed entity: a component added and the entity destroyed again.
  for (int k = 0; k < 2; ++k) {
    WriterHandle& w = dbs[k]->writer();
    const Entity again = w.create().value();
    EXPECT_EQ(again.index(), 2999u);
    EXPECT_EQ(again.generation(), es[k][2999].generation() + 1);
    EXPECT_FALSE(dbs[k]->pin().alive(es[k][2999]));
    EXPECT_FALSE(dbs[k]->pin().has<Transform>(again));
    ASSERT_TRUE(w.add(again, Health{7, 7}).is_ok());
    ASSERT_TRUE(w.destroy(again).is_ok());
    EXPECT_EQ(dbs[k]->pin().count<Health>(), 1500u - 215u) << "the even entities that are left";
  }
}

// With a publish per tick, a destroy whose rows sit in pages an earlier destroy of the tick made private
// takes the planned path (storage::plan_remove_in_place, then remove_planned, for every table before any
// changes). It must leave what the same destroys leave as transactions, and a view pinned before the tick
// must still read every destroyed entity as it was.
TEST(MultiComponentTest, ATicksDestroysInPlaceLeaveWhatTransactionsLeave) {
  std::unique_ptr<Database> dbs[2];
  std::vector<Entity> es[2];
  for (int k = 0; k < 2; ++k) {
    dbs[k] = std::move(Database::open(plain_schema(), DatabaseOptions{.publish_every_commits = 0}).value());
    WriterHandle& w = dbs[k]->writer();
    ASSERT_TRUE(w.create_many(3000, es[k]).is_ok());
    std::vector<Transform> ts;
    for (std::uint32_t i = 0; i < 3000; ++i) ts.push_back(Transform{float(i), 0, 0});
    ASSERT_TRUE(add_transforms(w, es[k], ts).is_ok());
    for (std::uint32_t i = 0; i < 3000; i += 2) ASSERT_TRUE(w.add(es[k][i], Health{i, i}).is_ok());
    w.publish();
  }
  const PinnedView held = dbs[0]->pin();
  std::vector<std::uint32_t> destroyed;
  for (std::uint32_t i = 2999; i >= 2500; i -= 3) destroyed.push_back(i);  // moves within one tail
  for (std::uint32_t i = 0; i < 2500; i += 7) destroyed.push_back(i);
  for (const std::uint32_t i : destroyed) {
    ASSERT_TRUE(dbs[0]->writer().destroy(es[0][i]).is_ok());  // in place
    Transaction t = dbs[1]->writer().begin();                  // as a transaction
    ASSERT_TRUE(t.destroy(es[1][i]).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  }
  for (int k = 0; k < 2; ++k) dbs[k]->writer().publish();
  const PinnedView v0 = dbs[0]->pin();
  const PinnedView v1 = dbs[1]->pin();
  expect_same_rows_and_consistent_tables(v0, v1);
  ASSERT_EQ(v0.state().registry.alive, v1.state().registry.alive);
  for (std::uint32_t i = 0; i < 3000; ++i) {
    const Transform* t = held.get<Transform>(es[0][i]);
    const Health* h = held.get<Health>(es[0][i]);
    ASSERT_NE(t, nullptr) << "entity " << i << " in the view held from before the tick";
    EXPECT_EQ(t->x, float(i)) << "entity " << i << "'s transform changed under the held view";
    ASSERT_EQ(h != nullptr, i % 2 == 0) << "entity " << i;
    if (h != nullptr) {
      EXPECT_EQ(h->hp, i) << "entity " << i << "'s health changed under the held view";
    }
  }
}

// The sparse index is elided where the identity run implies it (ADR 0017): a bulk load in entity order
// allocates no sparse page; lowering the run makes present the pages of the range it gives up; raising it
// and rolling back write none, and every read still finds every row.
TEST(MultiComponentTest, SparseIndexIsElidedBelowTheIdentityRun) {
  auto db = std::move(Database::open(test_schema()).value());  // 16 KiB pages: 2048 slots each
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(6000, es).is_ok());
  std::map<std::uint64_t, float> expected;
  std::vector<Transform> ts;
  for (std::uint32_t i = 0; i < 5000; ++i) {
    ts.push_back(Transform{float(i), 0, 0});
    expected[es[i].bits()] = float(i);
  }
  ASSERT_TRUE(add_transforms(w, std::span(es).first(5000), ts).is_ok());
  EXPECT_EQ(present_sparse_pages(transform_table(db->pin(), *db)), 0u) << "a bulk load in entity order";
  EXPECT_EQ(present_key_pages(transform_table(db->pin(), *db)), 0u) << "a bulk load in entity order";
  EXPECT_EQ(expect_sparse_index_matches_rows(transform_table(db->pin(), *db), db->pin().state().registry,
                                             SlotsOf::kPublishedVersion),
            5000u);
  EXPECT_EQ(expect_keys_match_run(transform_table(db->pin(), *db), db->pin().state().registry), 5000u);
  expect_transforms(*db, expected, es);

  // A removal at row 3000 ends the run there: the pages of slots 3000..4999 (pages 1 and 2) are made present.
  ASSERT_TRUE(w.remove<Transform>(es[3000]).is_ok());
  expected.erase(es[3000].bits());
  EXPECT_EQ(identity_rows_of_transform(*db), 3000u);
  EXPECT_EQ(present_sparse_pages(transform_table(db->pin(), *db)), 2u);
  EXPECT_EQ(present_key_pages(transform_table(db->pin(), *db)), 2u) << "the keys of rows 3000..4998, 2048 to a page";
  expect_transforms(*db, expected, es);

  // A rolled-back removal deeper in the run gives the run back, with the page it made present.
  {
    Transaction t = w.begin();
    ASSERT_TRUE(t.remove<Transform>(es[100]).is_ok());
    ASSERT_TRUE(t.add(es[5500], Transform{}).is_ok());
    t.rollback();
  }
  ASSERT_TRUE(w.add(es[5999], Health{}).is_ok());  // publishes the rolled-back state
  EXPECT_EQ(identity_rows_of_transform(*db), 3000u);
  expect_transforms(*db, expected, es);

  // Entity 3000 comes back at the end (row 4999): off its index. Then removing entity 4999, which the
  // swap-and-pop had moved to row 3000, moves entity 3000 home: the run grows past it by one, with no slot
  // written below the new bound that was absent, and a rollback of the same removal restores the bound.
  ASSERT_TRUE(w.add(es[3000], Transform{3000, 0, 0}).is_ok());
  expected[es[3000].bits()] = 3000;
  expect_transforms(*db, expected, es);
  {
    Transaction t = w.begin();
    ASSERT_TRUE(t.remove<Transform>(es[4999]).is_ok());
    t.rollback();
  }
  ASSERT_TRUE(w.add(es[5998], Health{}).is_ok());
  EXPECT_EQ(identity_rows_of_transform(*db), 3000u);
  expect_transforms(*db, expected, es);
  ASSERT_TRUE(w.remove<Transform>(es[4999]).is_ok());
  expected.erase(es[4999].bits());
  EXPECT_EQ(identity_rows_of_transform(*db), 3001u);
  expect_transforms(*db, expected, es);

  // Appends in entity order continue a run that reaches the end; their rollback takes them back out.
  auto db2 = std::move(Database::open(test_schema()).value());
  WriterHandle& w2 = db2->writer();
  std::vector<Entity> fs;
  ASSERT_TRUE(w2.create_many(3000, fs).is_ok());
  std::map<std::uint64_t, float> expected2;
  for (std::uint32_t i = 0; i < 2100; ++i) {
    ASSERT_TRUE(w2.add(fs[i], Transform{float(i), 0, 0}).is_ok());
    expected2[fs[i].bits()] = float(i);
  }
  EXPECT_EQ(present_sparse_pages(transform_table(db2->pin(), *db2)), 0u) << "single adds in entity order";
  EXPECT_EQ(present_key_pages(transform_table(db2->pin(), *db2)), 0u) << "single adds in entity order";
  {
    Transaction t = w2.begin();
    for (std::uint32_t i = 2100; i < 2200; ++i) ASSERT_TRUE(t.add(fs[i], Transform{}).is_ok());
    ASSERT_TRUE(t.add_many<Transform>(std::span(fs).subspan(2200, 50), std::span(ts).first(50)).is_ok());
    ASSERT_TRUE(t.remove<Transform>(fs[2000]).is_ok());
    t.rollback();
  }
  ASSERT_TRUE(w2.add(fs[2999], Health{}).is_ok());
  EXPECT_EQ(db2->pin().state().tables[detail::table_of<Transform>(*db2)].identity_rows, 2100u);
  expect_transforms(*db2, expected2, fs);
  // A bulk load that repeats an entity of its own identity prefix is refused, and leaves nothing behind.
  std::vector<Entity> twice(fs.begin() + 2100, fs.begin() + 2110);
  twice.push_back(fs[2105]);
  {
    Transaction t = w2.begin();
    EXPECT_EQ(t.add_many<Transform>(twice, std::span(ts).first(twice.size())).code(), StatusCode::kInvalidArgument);
    ASSERT_TRUE(t.commit().is_ok());
  }
  EXPECT_EQ(db2->pin().state().tables[detail::table_of<Transform>(*db2)].identity_rows, 2100u);
  expect_transforms(*db2, expected2, fs);
}

// `n` live entities in index order, the first 100 of them on indices reused with generation 2 (100 were
// created and destroyed first).
std::vector<Entity> entities_with_reused_indices(WriterHandle& w, std::size_t n) {
  std::vector<Entity> es;
  EXPECT_TRUE(w.create_many(100, es).is_ok());
  for (const Entity e : es) EXPECT_TRUE(w.destroy(e).is_ok());
  es.clear();
  EXPECT_TRUE(w.create_many(n, es).is_ok());
  std::sort(es.begin(), es.end(), [](Entity a, Entity b) { return a.index() < b.index(); });
  return es;
}

// The keys are elided below the identity run too (TableState::keys): there the registry implies each row's
// key, with the generation of a reused index. Every read path must give the same entities as stored keys
// would: each<> over one and two tables, query<>, get, get_many, the dynamic keys(), and a join of a table
// whose keys are implied with one whose keys are stored but still line up (the row-by-row comparison).
TEST(MultiComponentTest, KeysAreElidedBelowTheIdentityRun) {
  auto db = std::move(Database::open(test_schema()).value());  // 16 KiB pages: 2048 keys each
  WriterHandle& w = db->writer();
  const std::vector<Entity> es = entities_with_reused_indices(w, 5000);
  ASSERT_EQ(es[0].generation(), 2u);
  std::vector<Transform> ts;
  std::vector<Health> hs;
  for (std::uint32_t i = 0; i < es.size(); ++i) {
    ts.push_back(Transform{float(i), 0, 0});
    hs.push_back(Health{i, 0});
  }
  ASSERT_TRUE(add_transforms(w, es, ts).is_ok());
  {
    Transaction t = w.begin();
    ASSERT_TRUE(t.add_many<Health>(es, hs).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  }
  const std::uint16_t transform_id = detail::table_of<Transform>(*db);
  const std::uint16_t health_id = detail::table_of<Health>(*db);
  {
    const PinnedView v = db->pin();
    EXPECT_EQ(present_key_pages(v.state().tables[transform_id]), 0u) << "a bulk load in entity order";
    EXPECT_EQ(present_key_pages(v.state().tables[health_id]), 0u) << "a bulk load in entity order";
  }
  // Transform's run ends at 3000 and entity 3000 comes back home (the sequence of the test above): its rows
  // still hold entities 0..4998 in order, with stored keys from row 2048 on, while Health's are all implied.
  ASSERT_TRUE(w.remove<Transform>(es[3000]).is_ok());
  ASSERT_TRUE(w.add(es[3000], Transform{3000, 0, 0}).is_ok());
  ASSERT_TRUE(w.remove<Transform>(es[4999]).is_ok());
  const PinnedView v = db->pin();
  const detail::TableState& transforms = v.state().tables[transform_id];
  EXPECT_EQ(transforms.identity_rows, 3001u);
  EXPECT_EQ(present_key_pages(transforms), 2u);
  EXPECT_EQ(expect_keys_match_run(transforms, v.state().registry), 2048u);
  EXPECT_EQ(expect_keys_match_run(v.state().tables[health_id], v.state().registry), 5000u);

  std::vector<std::uint64_t> visited;
  v.each<Health>([&](Entity e, const Health& h) {
    EXPECT_EQ(e, es[h.hp]);
    visited.push_back(e.bits());
  });
  EXPECT_EQ(visited.size(), 5000u);
  EXPECT_EQ(*v.keys("health"), visited);
  std::size_t joined = 0;
  v.each<Transform, Health>([&](Entity e, const Transform& t, const Health& h) {
    EXPECT_EQ(e, es[h.hp]);
    EXPECT_EQ(t.x, float(h.hp));
    ++joined;
  });
  EXPECT_EQ(joined, 4999u);
  joined = 0;
  for (const auto& [e, h, t] : v.query<Health, Transform>()) {
    EXPECT_EQ(e, es[h.hp]);
    EXPECT_EQ(t.x, float(h.hp));
    ++joined;
  }
  EXPECT_EQ(joined, 4999u);
  std::vector<Entity> stale(es);
  for (std::uint32_t i = 0; i < 100; ++i) stale.push_back(Entity(i, 1));  // destroyed: their rows are gone
  std::vector<const Health*> many(stale.size());
  v.get_many<Health>(stale, many);
  const auto health = v.reader<Health>();
  for (std::size_t i = 0; i < stale.size(); ++i) {
    EXPECT_EQ(many[i], v.get<Health>(stale[i])) << "entity " << i;
    EXPECT_EQ(health.get(stale[i]), many[i]) << "entity " << i;
    EXPECT_EQ(many[i] != nullptr, i < es.size()) << "entity " << i;
  }
  // Transform's run stores its keys from row 2048 on (two present pages). A point read in the run takes the
  // registry's generation for the key's whether the key is stored or implied (detail::find_row_as), so it
  // must answer as the stored keys do: the row for a current id, nothing for an id of another generation.
  const auto transform = v.reader<Transform>();
  for (std::uint32_t i = 0; i < es.size(); ++i) {
    const Transform* t = v.get<Transform>(es[i]);
    EXPECT_EQ(transform.get(es[i]), t) << "entity " << i;
    const Entity next_generation(es[i].index(), es[i].generation() + 1);
    EXPECT_EQ(v.get<Transform>(next_generation), nullptr) << "entity " << i;
    EXPECT_EQ(transform.get(next_generation), nullptr) << "entity " << i;
    if (i == 4999) {
      EXPECT_EQ(t, nullptr) << "removed";
      continue;
    }
    ASSERT_NE(t, nullptr) << "entity " << i;
    EXPECT_EQ(t->x, float(i));
  }

  // A bulk load that continues the run into a page and then leaves it stores the page's keys.
  auto db2 = std::move(Database::open(test_schema()).value());
  std::vector<Entity> fs;
  ASSERT_TRUE(db2->writer().create_many(600, fs).is_ok());
  std::vector<Entity> batch(fs.begin(), fs.begin() + 100);
  batch.insert(batch.end(), fs.begin() + 500, fs.begin() + 550);
  ASSERT_TRUE(add_transforms(db2->writer(), batch, std::span(ts).first(batch.size())).is_ok());
  const PinnedView v2 = db2->pin();
  const detail::TableState& loaded = v2.state().tables[transform_id];
  EXPECT_EQ(loaded.identity_rows, 100u);
  EXPECT_EQ(present_key_pages(loaded), 1u);
  EXPECT_EQ(expect_keys_match_run(loaded, v2.state().registry), 0u);
  EXPECT_EQ(*v2.keys("transform"), std::vector<std::uint64_t>(reinterpret_cast<const std::uint64_t*>(batch.data()),
                                                              reinterpret_cast<const std::uint64_t*>(batch.data()) + batch.size()));
  for (std::size_t i = 0; i < batch.size(); ++i) {
    ASSERT_NE(v2.get<Transform>(batch[i]), nullptr) << "entity index " << batch[i].index();
    EXPECT_EQ(v2.get<Transform>(batch[i])->x, float(i));
  }
  // Past the run, a point read goes through the sparse index even where the index is below the row count:
  // entity 120 has no transform, though row 120 holds entity 520's. Every read path agrees.
  std::vector<Entity> asked(batch);
  asked.push_back(fs[120]);
  std::vector<const Transform*> found(asked.size());
  v2.get_many<Transform>(asked, found);
  const auto loaded_transforms = v2.reader<Transform>();
  for (std::size_t i = 0; i < asked.size(); ++i) {
    EXPECT_EQ(found[i], v2.get<Transform>(asked[i])) << "entity index " << asked[i].index();
    EXPECT_EQ(loaded_transforms.get(asked[i]), found[i]) << "entity index " << asked[i].index();
  }
  EXPECT_EQ(found.back(), nullptr);
  EXPECT_EQ(found[120]->x, 120.0f) << "row 120 holds entity 520";
}

// The test schema and `extra` more component tables, x0, x1, ..., each with one u32 field `v`.
std::string wide_schema_toml(int extra) {
  std::string toml = kTestSchemaToml;
  for (int i = 0; i < extra; ++i) {
    const std::string t = "x" + std::to_string(i);
    toml += "[tables." + t + "]\nparent_table = \"entities\"\n";
    toml += "[[tables." + t + ".fields]]\nname = \"entity_id\"\ntype = \"u64\"\nforeign_key = \"entities.id\"\n";
    toml += "[[tables." + t + ".fields]]\nname = \"v\"\ntype = \"u32\"\n";
  }
  return toml;
}

// A wide world (38 tables): the scans, joins and lookups that read an implied key's generation from the
// registry answer as in a narrow one. (Until ADR 0021 a world of more than 31 tables had 12-byte registry
// slots, with a second word of presence flags.)
TEST(MultiComponentTest, ImpliedKeysAreReadFromTheRegistryOfAWideWorld) {
  auto schema = parse_schema(wide_schema_toml(30), "wide.toml");
  ASSERT_TRUE(schema.has_value()) << schema.status().to_string();
  auto db = std::move(Database::open(*schema).value());
  WriterHandle& w = db->writer();
  const std::vector<Entity> es = entities_with_reused_indices(w, 3000);
  for (std::uint32_t i = 0; i < es.size(); ++i) {
    ASSERT_TRUE(w.add(es[i], Transform{float(i), 0, 0}).is_ok());
    ASSERT_TRUE(w.add(es[i], Health{i, 0}).is_ok());
  }
  const PinnedView v = db->pin();
  EXPECT_EQ(v.state().registry.slots.elem_size, 8u) << "a registry slot is 8 bytes whatever the table count";
  const detail::TableState& healths = v.state().tables[detail::table_of<Health>(*db)];
  EXPECT_EQ(present_key_pages(healths), 0u);
  EXPECT_EQ(expect_keys_match_run(healths, v.state().registry), 3000u);
  std::size_t n = 0;
  v.each<Health>([&](Entity e, const Health& h) { EXPECT_EQ(e, es[h.hp]); ++n; });
  v.each<Transform, Health>([&](Entity e, const Transform& t, const Health& h) {
    EXPECT_EQ(e, es[h.hp]);
    EXPECT_EQ(t.x, float(h.hp));
    ++n;
  });
  for (const auto& [e, h, t] : v.query<Health, Transform>()) {
    EXPECT_EQ(e, es[h.hp]);
    ++n;
  }
  EXPECT_EQ(n, 3u * es.size());
  std::vector<const Health*> many(es.size());
  v.get_many<Health>(es, many);
  for (std::size_t i = 0; i < es.size(); ++i) {
    ASSERT_NE(many[i], nullptr);
    EXPECT_EQ(many[i]->hp, i);
  }
  EXPECT_EQ(v.get<Health>(Entity(5, 1)), nullptr) << "a destroyed generation";
}

// A publish builds the next version in a dead version's object and copies into it only the tables changed
// since that object's own version (ADR 0022). In a world wide enough for that (32 tables), random adds,
// field writes and removals across the tables, each committed and published on its own while views are held
// for a while (so the reused objects are sometimes several versions old, sometimes older than the lists
// that say what changed reach), leave every version holding exactly its own rows: the newest one, and each
// held one when it is let go.
TEST(PublishTest, EachVersionHoldsExactlyTheRowsItsCommitsLeft) {
  constexpr int kExtraTables = 24;
  auto schema = parse_schema(wide_schema_toml(kExtraTables), "wide.toml");
  ASSERT_TRUE(schema.has_value()) << schema.status().to_string();
  auto db = std::move(Database::open(*schema).value());  // the default options: a publish per commit
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(48, es).is_ok());
  using Model = std::map<std::pair<int, std::size_t>, std::uint64_t>;  // (table, entity number) -> v
  Model model;
  const auto table_name = [](int t) { return "x" + std::to_string(t); };
  const auto expect_version = [&](const PinnedView& v, const Model& m, const std::string& when) {
    for (int t = 0; t < kExtraTables; ++t) {
      for (std::size_t k = 0; k < es.size(); ++k) {
        const auto want = m.find({t, k});
        Result<Value> got = v.read_field(table_name(t), es[k], "v");
        if (want == m.end()) {
          EXPECT_FALSE(got.has_value()) << when << ": " << table_name(t) << " has a row for entity " << k;
        } else {
          ASSERT_TRUE(got.has_value()) << when << ": " << table_name(t) << " lost entity " << k << "'s row";
          EXPECT_EQ(got->uinteger, want->second) << when << ": " << table_name(t) << ", entity " << k;
        }
      }
    }
  };
  std::deque<std::pair<PinnedView, Model>> held;
  std::uint64_t rng = 0x9E3779B97F4A7C15ull;
  const auto next = [&](std::uint64_t bound) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % bound;
  };
  for (int step = 0; step < 900; ++step) {
    // Most commits touch one of a few tables, as a game's do; some touch any.
    const int t = static_cast<int>(next(4) == 0 ? next(kExtraTables) : next(3));
    const std::size_t k = next(es.size());
    const auto cell = model.find({t, k});
    const auto v = static_cast<std::uint32_t>(step + 1);
    if (cell == model.end()) {
      ASSERT_TRUE(w.add_row(table_name(t), es[k], Row{{"v", Value::from_uint(v)}}).is_ok());
      model[{t, k}] = v;
    } else if (next(3) != 0) {
      ASSERT_TRUE(w.set_field(table_name(t), es[k].bits(), "v", Value::from_uint(v)).is_ok());
      cell->second = v;
    } else {
      Transaction txn = w.begin();
      ASSERT_TRUE(txn.remove_row(table_name(t), es[k].bits()).is_ok());
      ASSERT_TRUE(txn.commit().is_ok());
      model.erase(cell);
    }
    if (next(16) == 0) held.emplace_back(db->pin(), model);
    if (held.size() > 3 || (!held.empty() && next(24) == 0)) {
      expect_version(held.front().first, held.front().second, "a view held from before step " + std::to_string(step));
      held.pop_front();
    }
    if (step % 50 == 49) expect_version(db->pin(), model, "step " + std::to_string(step));
    if (::testing::Test::HasFatalFailure()) return;
  }
  while (!held.empty()) {
    expect_version(held.front().first, held.front().second, "a view held to the end");
    held.pop_front();
  }
  expect_version(db->pin(), model, "the end");
}

// The range form is a standard forward range: std::ranges algorithms and views see the rows each<A, B>
// visits, and a default-constructed iterator equals a finished one.
static_assert(std::forward_iterator<PinnedView::Query<Transform, Health>::iterator>);
static_assert(std::ranges::forward_range<PinnedView::Query<Transform, Health>>);

TEST(MultiComponentTest, QueryWorksWithStdRanges) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(3000, es).is_ok());
  for (std::uint32_t i = 0; i < es.size(); ++i) {
    ASSERT_TRUE(w.add(es[i], Transform{float(i), 0, 0}).is_ok());
    if (i % 7 != 3) { ASSERT_TRUE(w.add(es[i], Health{i % 100, 0}).is_ok()); }
  }
  for (std::uint32_t i = 0; i < es.size(); i += 11) ASSERT_TRUE(w.remove<Transform>(es[i]).is_ok());
  PinnedView v = db->pin();
  std::vector<std::uint64_t> each_low_hp;
  std::size_t each_rows = 0;
  v.each<Transform, Health>([&](Entity e, const Transform&, const Health& h) {
    ++each_rows;
    if (h.hp < 10) each_low_hp.push_back(e.bits());
  });
  std::size_t expected_rows = 0;  // computed from the set-up, not from the join code query and each share
  for (std::uint32_t i = 0; i < es.size(); ++i) expected_rows += i % 7 != 3 && i % 11 != 0;
  EXPECT_EQ(each_rows, expected_rows);
  const auto q = v.query<Transform, Health>();
  EXPECT_EQ(static_cast<std::size_t>(std::ranges::distance(q)), each_rows);
  auto post = q.begin();
  const auto was = post++;
  EXPECT_EQ(std::get<0>(*was), std::get<0>(*q.begin())) << "postfix ++ returns the position before the step";
  EXPECT_EQ(std::get<0>(*post), std::get<0>(*std::ranges::next(q.begin())));
  auto low_hp = [](const auto& row) { return std::get<2>(row).hp < 10; };
  EXPECT_EQ(static_cast<std::size_t>(std::ranges::count_if(q, low_hp)), each_low_hp.size());
  std::vector<std::uint64_t> viewed;
  for (const std::uint64_t bits : q | std::views::filter(low_hp) |
                                      std::views::transform([](const auto& row) { return std::get<0>(row).bits(); })) {
    viewed.push_back(bits);
  }
  EXPECT_EQ(viewed, each_low_hp) << "the same rows in the same order as each<Transform, Health>";
  // Entity 501 has both components (501 % 7 == 4, 501 % 11 == 6).
  const auto found = std::ranges::find_if(q, [&](const auto& row) { return std::get<0>(row) == es[501]; });
  ASSERT_NE(found, q.end());
  EXPECT_EQ(std::get<1>(*found).x, 501.0f);
  EXPECT_TRUE((PinnedView::Query<Transform, Health>::iterator{} == q.end()));
}

// The range form's iterators carry their whole position: two walks of one Query object, nested, and a copy
// of an iterator taken mid-range each go their own way.
TEST(MultiComponentTest, QueryIteratorsOfOneRangeAreIndependent) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(3000, es).is_ok());
  for (std::uint32_t i = 0; i < es.size(); ++i) {
    ASSERT_TRUE(w.add(es[i], Transform{float(i), 0, 0}).is_ok());
    // The first 2048 rows line up in both tables (walked by pointer steps), the rest do not (one-row runs).
    if (i < 2048 || i % 5 != 0) { ASSERT_TRUE(w.add(es[i], Health{i, 0}).is_ok()); }
  }
  for (std::uint32_t i = 2500; i < es.size(); i += 3) ASSERT_TRUE(w.remove<Transform>(es[i]).is_ok());
  std::set<std::uint64_t> expected;
  for (std::uint32_t i = 0; i < es.size(); ++i) {
    if ((i < 2048 || i % 5 != 0) && !(i >= 2500 && (i - 2500) % 3 == 0)) expected.insert(es[i].bits());
  }
  PinnedView v = db->pin();
  const auto q = v.query<Transform, Health>();
  std::set<std::uint64_t> outer;
  std::size_t pairs = 0;
  for (auto [e, t, h] : q) {
    EXPECT_EQ(std::uint32_t(t.x), h.hp);
    outer.insert(e.bits());
    if (outer.size() % 500 == 1) {  // a nested walk of the same object must not move the outer one
      std::set<std::uint64_t> inner;
      for (auto [ie, it, ih] : q) inner.insert(ie.bits());
      EXPECT_EQ(inner, expected);
      ++pairs;
    }
  }
  EXPECT_EQ(outer, expected);
  EXPECT_GT(pairs, 1u);

  auto it = q.begin();  // inside the aligned rows: the copy is taken in the middle of a run
  for (int i = 0; i < 700; ++i) ++it;
  auto copy = it;
  const Entity at = std::get<0>(*it);
  ++it;
  EXPECT_NE(std::get<0>(*it).bits(), at.bits());
  EXPECT_EQ(std::get<0>(*copy).bits(), at.bits()) << "the copy stays where it was taken";
  ++copy;
  EXPECT_TRUE(copy == it);
  std::size_t rest = 0;
  for (; copy != q.end(); ++copy) ++rest;
  EXPECT_EQ(rest, expected.size() - 701);
  // And in the one-row runs past them.
  auto late = q.begin();
  for (int i = 0; i < 2600; ++i) ++late;
  auto late_copy = late;
  ++late;
  EXPECT_NE(std::get<0>(*late).bits(), std::get<0>(*late_copy).bits());
  ++late_copy;
  EXPECT_TRUE(late_copy == late);
}

}  // namespace
}  // namespace ecsdb::testing

namespace ecsdb::testing {
namespace {

// A view of a longer version of a table still reads rows past the table's current end. The writer shrinks
// the table (each removal takes the last row, so the rows page stays the view's) and then appends over those
// rows, with a publish per commit: it must copy the page, not write where the view reads
// (TableState::shared_rows). With no view held, appends past the end copy no rows page.
TEST(RowsNoViewCanSeeTest, AHeldViewKeepsTheRowsPastTheEndOfANewerVersion) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(200, es).is_ok());
  for (std::uint32_t i = 0; i < 100; ++i) ASSERT_TRUE(w.add(es[i], Health{i, i}).is_ok());
  const PinnedView view = db->pin();
  for (std::uint32_t i = 100; i > 50; --i) ASSERT_TRUE(w.remove<Health>(es[i - 1]).is_ok());
  for (std::uint32_t i = 100; i < 150; ++i) ASSERT_TRUE(w.add(es[i], Health{1000 + i, 1000 + i}).is_ok());
  for (std::uint32_t i = 0; i < 100; ++i) {
    const Health* h = view.get<Health>(es[i]);
    ASSERT_NE(h, nullptr) << i;
    EXPECT_EQ(h->hp, i) << "entity " << i << "'s row, past the newest version's end, was overwritten";
  }
  EXPECT_EQ(view.get<Health>(es[120]), nullptr);
  const PinnedView now = db->pin();
  EXPECT_EQ(now.get<Health>(es[120])->hp, 1120u);
  EXPECT_EQ(now.get<Health>(es[70]), nullptr);
}

// A Reader copies its view's table and registry states: it answers for the pinned version however the
// writer goes on, and a reader of a newer view sees the writes.
TEST(PinnedViewReaderTest, AReaderAnswersForItsViewWhileTheWriterGoesOn) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(3000, es).is_ok());
  for (std::uint32_t i = 0; i < 3000; i += 2) ASSERT_TRUE(w.add(es[i], Health{i, i}).is_ok());
  const PinnedView before = db->pin();
  const auto old_health = before.reader<Health>();
  for (std::uint32_t i = 0; i < 3000; i += 4) ASSERT_TRUE(w.set(es[i], &Health::hp, i + 7).is_ok());
  for (std::uint32_t i = 2; i < 3000; i += 8) ASSERT_TRUE(w.remove<Health>(es[i]).is_ok());
  ASSERT_TRUE(w.destroy(es[6]).is_ok());
  for (std::uint32_t i = 1; i < 3000; i += 10) ASSERT_TRUE(w.add(es[i], Health{i, i}).is_ok());

  const PinnedView after = db->pin();
  const auto new_health = after.reader<Health>();
  for (std::uint32_t i = 0; i < 3000; ++i) {
    const Health* h = old_health.get(es[i]);
    ASSERT_EQ(h != nullptr, i % 2 == 0) << "entity " << i << " in the held view";
    if (h != nullptr) {
      EXPECT_EQ(h->hp, i) << "the held view's reader saw a later write to entity " << i;
    }
    EXPECT_EQ(old_health.has(es[i]), i % 2 == 0);
    EXPECT_EQ(new_health.get(es[i]), after.get<Health>(es[i])) << "entity " << i;
    EXPECT_EQ(new_health.has(es[i]), after.has<Health>(es[i])) << "entity " << i;
  }
  EXPECT_EQ(new_health.get(es[4])->hp, 11u);
  EXPECT_EQ(new_health.get(es[2]), nullptr);
  EXPECT_EQ(new_health.get(es[6]), nullptr) << "destroyed";
  EXPECT_EQ(new_health.get(es[11])->hp, 11u);
  EXPECT_EQ(new_health.get(Entity(es[6].index(), es[6].generation() + 1)), nullptr) << "a generation never issued";
}

// Destroys and removals applied in place (no undo log: storage::Removal::kFinal) leave the last row's page
// shared with the held view's version; appends that regrow the table past it must still copy it.
TEST(RowsNoViewCanSeeTest, InPlaceDestroysAndRemovalsKeepAHeldViewsRows) {
  auto db = std::move(Database::open(plain_schema()).value());  // no references: destroy runs in place
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(3000, es).is_ok());
  for (std::uint32_t i = 0; i < 3000; ++i) ASSERT_TRUE(w.add(es[i], Health{i, i}).is_ok());
  const PinnedView view = db->pin();
  for (std::uint32_t i = 3000; i > 2000; --i) ASSERT_TRUE(w.destroy(es[i - 1]).is_ok());  // the last rows
  for (std::uint32_t i = 0; i < 100; ++i) ASSERT_TRUE(w.remove<Health>(es[i]).is_ok());  // the last row moves
  std::vector<Entity> fresh;
  ASSERT_TRUE(w.create_many(1500, fresh).is_ok());
  for (std::uint32_t i = 0; i < 1500; ++i) ASSERT_TRUE(w.add(fresh[i], Health{5000 + i, i}).is_ok());

  for (std::uint32_t i = 0; i < 3000; ++i) {
    const Health* h = view.get<Health>(es[i]);
    ASSERT_NE(h, nullptr) << i;
    ASSERT_EQ(h->hp, i) << "entity " << i << "'s row in the held view was overwritten";
  }
  const PinnedView now = db->pin();
  for (std::uint32_t i = 0; i < 3000; ++i) {
    const Health* h = now.get<Health>(es[i]);
    if (i < 100 || i >= 2000) {
      EXPECT_EQ(h, nullptr) << i;
    } else {
      ASSERT_NE(h, nullptr) << i;
      EXPECT_EQ(h->hp, i);
    }
  }
  for (std::uint32_t i = 0; i < 1500; ++i) EXPECT_EQ(now.get<Health>(fresh[i])->hp, 5000 + i);
  expect_sparse_index_matches_rows(now.state().tables[detail::table_of<Health>(*db)], now.state().registry);
}

TEST(RowsNoViewCanSeeTest, WithNoViewHeldAnAppendCopiesNoRowsPage) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(100, es).is_ok());
  ASSERT_TRUE(w.add(es[0], Health{0, 0}).is_ok());
  const std::uint64_t copied = db->metrics().pages_copied_total;
  for (std::uint32_t i = 1; i < 51; ++i) ASSERT_TRUE(w.add(es[i], Health{i, i}).is_ok());
  // Each add continues the identity run (no sparse slot, no key), and the row lands past the published row
  // count, in place: it copies no page at all. (The registry is not written: ADR 0021.)
  EXPECT_EQ(db->metrics().pages_copied_total - copied, 0u);
  const PinnedView view = db->pin();
  for (std::uint32_t i = 0; i < 51; ++i) EXPECT_EQ(view.get<Health>(es[i])->hp, i);
}

// An add off the identity run writes its key's sparse slot in place too (storage/table_ops.cpp, "Slots no
// view can see"): with a publish per commit, adds copy no page at all. A view held meanwhile shares the
// slot pages, and finds no row for the entities added after it, through every lookup; a newer view finds
// them all.
TEST(RowsNoViewCanSeeTest, AnAddOffTheRunWritesItsSlotInPlaceAndAHeldViewFindsNoRow) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(3000, es).is_ok());
  // Last index first: a slot for each key, in pages the next version shares.
  for (std::uint32_t i = 3000; i-- > 1500;) ASSERT_TRUE(w.add(es[i], Health{i, 1}).is_ok());
  const PinnedView held = db->pin();
  const std::uint64_t copied = db->metrics().pages_copied_total;
  for (std::uint32_t i = 1500; i-- > 0;) ASSERT_TRUE(w.add(es[i], Health{i, 1}).is_ok());
  EXPECT_EQ(db->metrics().pages_copied_total - copied, 0u) << "an add off the run copied a page";
  const PinnedView now = db->pin();
  std::vector<const Health*> found(es.size());
  held.get_many<Health>(es, found);
  for (std::uint32_t i = 0; i < 3000; ++i) {
    const bool had = i >= 1500;
    ASSERT_EQ(held.has<Health>(es[i]), had) << "entity " << i << " in the held view";
    ASSERT_EQ(held.get<Health>(es[i]) != nullptr, had) << "entity " << i;
    ASSERT_EQ(found[i] != nullptr, had) << "entity " << i << " through get_many";
    ASSERT_NE(now.get<Health>(es[i]), nullptr) << "entity " << i << " in the newer view";
    EXPECT_EQ(now.get<Health>(es[i])->hp, i);
  }
  EXPECT_EQ(held.count<Health>(), 1500u);
  // Removals of rows a view can see are copied as before: the held view keeps its rows.
  for (std::uint32_t i = 2000; i < 2100; ++i) ASSERT_TRUE(w.remove<Health>(es[i]).is_ok());
  for (std::uint32_t i = 1500; i < 3000; ++i) ASSERT_EQ(held.get<Health>(es[i])->hp, i) << "entity " << i;
  const detail::VersionState& working = detail::DatabaseAccess::core(*db).working();
  testing::expect_sparse_index_matches_rows(working.tables[detail::table_of<Health>(*db)], working.registry);
}

}  // namespace
}  // namespace ecsdb::testing
