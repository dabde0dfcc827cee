// Binding C++ structs to tables: every mismatch is an error naming the field.
#include <gtest/gtest.h>

#include "support/test_schema.hpp"

namespace ecsdb::testing {
struct HealthWrongOrder { std::uint32_t max_hp, hp; };            // names swapped vs offsets
struct HealthWrongType { float hp; std::uint32_t max_hp; };
struct HealthMissingField { std::uint32_t hp; std::uint32_t pad; };
struct TransformTooBig { float x, y, z, w; };
struct PlayerWrongOrder { FixedString<16> name; std::uint32_t score; };
struct NoSuchTable { std::uint32_t a; };
}  // namespace ecsdb::testing

ECSDB_COMPONENT(ecsdb::testing::HealthWrongOrder, "health", max_hp, hp)
ECSDB_COMPONENT(ecsdb::testing::HealthWrongType, "health", hp, max_hp)
ECSDB_COMPONENT(ecsdb::testing::HealthMissingField, "health", hp)
ECSDB_COMPONENT(ecsdb::testing::TransformTooBig, "transform", x, y, z, w)
ECSDB_COMPONENT(ecsdb::testing::PlayerWrongOrder, "player", name, score)
ECSDB_COMPONENT(ecsdb::testing::NoSuchTable, "nope", a)

namespace ecsdb::testing {
namespace {

class BindingTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = std::move(Database::open(test_schema()).value()); }
  std::unique_ptr<Database> db_;
};

void expect_mismatch(const Status& s, std::string_view needle) {
  EXPECT_EQ(s.code(), StatusCode::kBindingMismatch) << s.to_string();
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

TEST_F(BindingTest, MatchingStructsBind) {
  EXPECT_TRUE(db_->bind<Health>().is_ok());
  EXPECT_TRUE(db_->bind<Transform>().is_ok());
  EXPECT_TRUE(db_->bind<Player>().is_ok());
  EXPECT_TRUE(db_->bind<Item>().is_ok());
  EXPECT_TRUE(db_->bind<Follow>().is_ok());
}

TEST_F(BindingTest, OffsetMismatchNamesTheField) {
  expect_mismatch(db_->bind<HealthWrongOrder>(), "field 'max_hp': member is at offset 0 but the schema puts it at 4");
}

TEST_F(BindingTest, TypeMismatchNamesBothTypes) {
  expect_mismatch(db_->bind<HealthWrongType>(), "field 'hp': member type (f32");
}

TEST_F(BindingTest, UnlistedFieldIsAnError) {
  expect_mismatch(db_->bind<HealthMissingField>(), "field 'max_hp' (offset 4) is not listed");
}

TEST_F(BindingTest, SizeMismatchIsAnError) {
  expect_mismatch(db_->bind<TransformTooBig>(), "sizeof is 16 bytes but the row stride is 12");
}

TEST_F(BindingTest, LayoutOrderIsEnforced) {
  expect_mismatch(db_->bind<PlayerWrongOrder>(), "field 'name'");
}

TEST_F(BindingTest, UnknownTable) { expect_mismatch(db_->bind<NoSuchTable>(), "no such table"); }

TEST_F(BindingTest, TypedCallsReportTheMismatch) {
  const Entity e = db_->writer().create().value();
  const Status s = db_->writer().add(e, HealthWrongType{1, 2});
  EXPECT_EQ(s.code(), StatusCode::kBindingMismatch);
  EXPECT_EQ(db_->pin().get<HealthWrongType>(e), nullptr);
}

}  // namespace
}  // namespace ecsdb::testing
