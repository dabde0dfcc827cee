// Subscription filters compiled against a schema (replication/row_filter.cpp): what each comparison admits
// on real row bytes, and what is refused, with which reason.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "replication/row_filter.hpp"
#include "storage/field_codec.hpp"

namespace ecsdb::replication {
namespace {

using Op = SubscriptionFilter::Op;

std::shared_ptr<const Schema> showcase() {
  return load_schema_file(std::string(ECSDB_SOURCE_DIR) + "/examples/schemas/showcase.toml").value();
}

std::vector<bool> only(const Schema& s, const std::string& table) {
  std::vector<bool> v(s.tables.size(), false);
  v[s.find_table(table)->id] = true;
  return v;
}

// A row of `table` with `field` set to `value`, the other fields at their defaults.
std::vector<std::byte> row_with(const Table& t, const std::string& field, const Value& value) {
  std::vector<std::byte> row(t.stride());
  for (std::uint16_t id : t.layout.row_order) storage::encode_default(t.layout.fields[id], row.data() + t.layout.fields[id].offset);
  const Field* f = t.find_field(field);
  EXPECT_TRUE(storage::encode_value(f->type, value, row.data() + f->offset, field).is_ok());
  return row;
}

TEST(RowFilterTest, EnumsCompareByVariantNamedOrNumbered) {
  const auto s = showcase();
  const Table& character = *s->find_table("character");
  const auto compile = [&](Op op, Value v) {
    return TableFilters::compile(*s, only(*s, "character"), {SubscriptionFilter::where("character", "faction", op, std::move(v))}, {});
  };
  auto by_name = compile(Op::kEq, Value::from_string("monsters"));
  ASSERT_TRUE(by_name.has_value()) << by_name.status().to_string();
  auto by_number = compile(Op::kNe, Value::from_uint(2));  // monsters = 2
  ASSERT_TRUE(by_number.has_value()) << by_number.status().to_string();
  const auto monster = row_with(character, "faction", Value::from_string("monsters"));
  const auto merchant = row_with(character, "faction", Value::from_string("merchants"));
  EXPECT_TRUE(by_name->admits(character.id, Entity(1, 1), monster.data()));
  EXPECT_FALSE(by_name->admits(character.id, Entity(1, 1), merchant.data()));
  EXPECT_FALSE(by_number->admits(character.id, Entity(1, 1), monster.data()));
  EXPECT_TRUE(by_number->admits(character.id, Entity(1, 1), merchant.data()));
  auto unknown = compile(Op::kEq, Value::from_string("elves"));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.status().message().find("'elves' is not a variant of Faction (neutral, player, monsters, merchants)"), std::string::npos)
      << unknown.status().message();
  auto ordered = compile(Op::kLt, Value::from_string("player"));
  ASSERT_FALSE(ordered.has_value());
  EXPECT_NE(ordered.status().message().find("takes only == and !="), std::string::npos) << ordered.status().message();
}

TEST(RowFilterTest, NumbersCompareByValueAcrossKinds) {
  const auto s = showcase();
  const Table& character = *s->find_table("character");
  const auto admits = [&](Op op, Value bound, Value field_value) {
    auto f = TableFilters::compile(*s, only(*s, "character"), {SubscriptionFilter::where("character", "level", op, std::move(bound))}, {});
    EXPECT_TRUE(f.has_value()) << f.status().to_string();
    const auto row = row_with(character, "level", field_value);
    return f->admits(character.id, Entity(1, 1), row.data());
  };
  EXPECT_TRUE(admits(Op::kGt, Value::from_int(-1), Value::from_uint(0)));  // a negative bound against a u8
  EXPECT_TRUE(admits(Op::kLe, Value::from_float(2.5), Value::from_uint(2)));
  EXPECT_FALSE(admits(Op::kLe, Value::from_float(2.5), Value::from_uint(3)));
  EXPECT_TRUE(admits(Op::kEq, Value::from_uint(7), Value::from_uint(7)));
  EXPECT_TRUE(admits(Op::kGe, Value::from_uint(255), Value::from_uint(255)));
  EXPECT_FALSE(admits(Op::kGt, Value::from_uint(1ull << 63), Value::from_uint(255)));
}

TEST(RowFilterTest, RefusesWhatItCannotCompareNamingIt) {
  const auto s = showcase();
  const auto refused = [&](const std::string& table, SubscriptionFilter f, const std::string& says) {
    auto r = TableFilters::compile(*s, only(*s, table), {std::move(f)}, {});
    ASSERT_FALSE(r.has_value()) << says;
    EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().message();
  };
  refused("character", SubscriptionFilter::where("character", "entity_id", Op::kEq, Value::from_entity(Entity(1, 1))),
          "is the row's key");
  refused("character", SubscriptionFilter::where("", "level", Op::kEq, Value::from_int(1)), "must name its table");
  refused("character", SubscriptionFilter::where("character", "title", Op::kGt, Value::from_string("a")), "takes only == and !=");
  refused("character", SubscriptionFilter::where("character", "level", Op::kEq, Value::from_bool(true)), "compared with a bool");
  refused("character", SubscriptionFilter::where("nope", "level", Op::kEq, Value::from_int(1)), "unknown table 'nope'");
  ReplicationOptions few;
  few.max_filter_entities = 2;
  auto r = TableFilters::compile(*s, only(*s, "character"), {SubscriptionFilter::of_entities({Entity(1, 1), Entity(2, 1), Entity(3, 1)})}, few);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace ecsdb::replication
