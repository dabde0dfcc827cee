// PinnedView::each with exclude<...>: the per-entity component masks as a query filter.
#include <gtest/gtest.h>

#include <iterator>
#include <set>
#include <string>

#include "support/test_schema.hpp"

namespace ecsdb::testing {
namespace {

// each<A, B>(exclude<C>) visits exactly the entities with A and B and without C (component masks).
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

}  // namespace
}  // namespace ecsdb::testing
