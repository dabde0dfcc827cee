// PinnedView::each with exclude<...>: the excluded tables' row lookups as a query filter (ADR 0021).
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "support/test_schema.hpp"

namespace ecsdb::testing {
namespace {

// each<A, B>(exclude<C>) visits exactly the entities with A and B and without C.
TEST(ExcludeTest, EachSkipsEntitiesThatHaveAnExcludedComponent) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::set<std::uint64_t> expected;
  for (int i = 0; i < 64; ++i) {
    const Entity e = w.create().value();
    ASSERT_TRUE(w.add(e, Transform{float(i), 0, 0}).is_ok());
    if (i % 2 == 0) { ASSERT_TRUE(w.add(e, Health{1, 1}).is_ok()); }
    if (i % 3 == 0) { ASSERT_TRUE(w.add(e, Aim{Entity()}).is_ok()); }
    if (i % 5 == 0) { ASSERT_TRUE(w.add(e, Player{0, FixedString<16>("p" + std::to_string(i))}).is_ok()); }
    if (i % 2 == 0 && i % 3 != 0 && i % 5 != 0) expected.insert(e.bits());
  }
  std::set<std::uint64_t> seen;
  db->pin().each<Transform, Health>(exclude<Aim, Player>, [&](Entity e, const Transform&, const Health&) {
    seen.insert(e.bits());
  });
  EXPECT_EQ(seen, expected);
  // Removing the excluded component brings the entity back.
  const Entity back = Entity::from_bits(*std::next(expected.begin(), 0));
  ASSERT_TRUE(w.add(back, Aim{Entity()}).is_ok());
  seen.clear();
  db->pin().each<Transform, Health>(exclude<Aim>, [&](Entity e, const Transform&, const Health&) { seen.insert(e.bits()); });
  EXPECT_FALSE(seen.contains(back.bits()));
  ASSERT_TRUE(w.remove<Aim>(back).is_ok());
  seen.clear();
  db->pin().each<Transform, Health>(exclude<Aim>, [&](Entity e, const Transform&, const Health&) { seen.insert(e.bits()); });
  EXPECT_TRUE(seen.contains(back.bits()));
}

// Below the excluded table's identity run the index alone says an entity has it (no look at its keys):
// exact also for reused indices (a later generation), past the run, after a removal inside the run
// lowered it, and after a destroy whose index comes back as a new entity without the component.
TEST(ExcludeTest, TheExcludedTablesIdentityRunAnswersForTheEntitiesItCovers) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(5000, es).is_ok());
  for (std::size_t i = 0; i < 100; ++i) ASSERT_TRUE(w.destroy(es[i]).is_ok());
  std::vector<Entity> again;
  ASSERT_TRUE(w.create_many(100, again).is_ok());  // indices 0..99 again, generation 2
  std::copy(again.begin(), again.end(), es.begin());
  std::sort(es.begin(), es.end(), [](Entity a, Entity b) { return a.index() < b.index(); });
  ASSERT_EQ(es[0].generation(), 2u);
  std::set<std::uint64_t> with_health;
  for (std::uint32_t i = 0; i < es.size(); ++i) {
    ASSERT_TRUE(w.add(es[i], Transform{float(i), 0, 0}).is_ok());
    if (i < 3000 || i % 7 == 0) {  // a run of 3,000 rows, then rows found through the sparse index
      ASSERT_TRUE(w.add(es[i], Health{i, 1}).is_ok());
      with_health.insert(es[i].bits());
    }
  }
  const auto visited_without_health = [&] {
    std::set<std::uint64_t> seen;
    db->pin().each<Transform>(exclude<Health>, [&](Entity e, const Transform& t) {
      EXPECT_EQ(t.x, float(e.index()));
      seen.insert(e.bits());
    });
    return seen;
  };
  const auto expected_without_health = [&] {
    std::set<std::uint64_t> expected;
    for (Entity e : es) {
      if (!with_health.contains(e.bits())) expected.insert(e.bits());
    }
    return expected;
  };
  ASSERT_EQ(db->pin().state().tables[detail::table_of<Health>(*db)].identity_rows, 3000u);
  EXPECT_EQ(visited_without_health(), expected_without_health());
  // A removal inside the run moves the table's last row into its place and lowers the run.
  ASSERT_TRUE(w.remove<Health>(es[1500]).is_ok());
  with_health.erase(es[1500].bits());
  ASSERT_LE(db->pin().state().tables[detail::table_of<Health>(*db)].identity_rows, 1500u);
  EXPECT_EQ(visited_without_health(), expected_without_health());
  // A destroyed entity's index reused: the new generation has Transform only.
  ASSERT_TRUE(w.destroy(es[20]).is_ok());
  with_health.erase(es[20].bits());
  es[20] = w.create().value();
  ASSERT_EQ(es[20].index(), 20u);
  ASSERT_TRUE(w.add(es[20], Transform{20, 0, 0}).is_ok());
  EXPECT_EQ(visited_without_health(), expected_without_health());
  // What has<Health> says agrees entity by entity.
  const PinnedView v = db->pin();
  for (Entity e : es) EXPECT_EQ(v.has<Health>(e), with_health.contains(e.bits())) << e.index();
}

}  // namespace
}  // namespace ecsdb::testing
