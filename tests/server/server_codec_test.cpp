// The server's value codec, predicates and transaction decoder/applier (src/server), on the test schema.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "ecsdb/database.hpp"
#include "server/json_codec.hpp"
#include "server/predicate.hpp"
#include "server/transaction_request.hpp"
#include "support/test_schema.hpp"

namespace ecsdb::server {
namespace {

namespace json = boost::json;

const Schema& schema() {
  static const auto s = testing::test_schema();
  return *s;
}

const Field& field(std::string_view table, std::string_view name) {
  return *schema().find_table(table)->find_field(name);
}

TEST(ServerCodecTest, IdsAreIndexColonGeneration) {
  EXPECT_EQ(id_string(Entity(12, 3).bits()), "12:3");
  EXPECT_EQ(parse_id("12:3"), Entity(12, 3).bits());
  EXPECT_EQ(parse_id("12:0"), Entity(12, 0).bits());  // well formed; never alive
  EXPECT_FALSE(parse_id("12"));
  EXPECT_FALSE(parse_id("a:1"));
  EXPECT_FALSE(parse_id("1:1x"));
  EXPECT_FALSE(parse_id("4294967296:1"));  // index is 32 bits
}

TEST(ServerCodecTest, SixtyFourBitIntegersPastTwoToTheFiftyThreeAreStrings) {
  EXPECT_EQ(json::serialize(value_to_json(Value::from_uint(1ull << 53))), "9007199254740992");
  EXPECT_EQ(json::serialize(value_to_json(Value::from_uint((1ull << 53) + 1))), "\"9007199254740993\"");
  EXPECT_EQ(json::serialize(value_to_json(Value::from_int(-(1ll << 60)))), "\"-1152921504606846976\"");
  const Type& u32 = field("health", "hp").type;
  auto v = value_from_json(u32, json::value("42"), "hp");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->uinteger, 42u);
  EXPECT_FALSE(value_from_json(u32, json::value("4x"), "hp").has_value());
  EXPECT_FALSE(value_from_json(u32, json::value(true), "hp").has_value());
}

TEST(ServerCodecTest, FloatsKeepTheirShortestFormAndNonFiniteValuesAreStrings) {
  const Type& f32 = field("transform", "x").type;
  EXPECT_EQ(json::serialize(field_to_json(f32, Value::from_float(static_cast<double>(0.1f)))), json::serialize(json::value(0.1)));
  EXPECT_EQ(json::serialize(value_to_json(Value::from_float(std::numeric_limits<double>::infinity()))), "\"Infinity\"");
  auto nan = value_from_json(f32, json::value("NaN"), "x");
  ASSERT_TRUE(nan.has_value());
  EXPECT_TRUE(std::isnan(nan->floating));
}

TEST(ServerCodecTest, EntityRefsAreIdsOrNull) {
  const Type& ref = field("guard", "protects").type;
  auto v = value_from_json(ref, json::value("5:2"), "protects");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->entity, Entity(5, 2));
  auto null = value_from_json(ref, json::value(nullptr), "protects");
  ASSERT_TRUE(null.has_value());
  EXPECT_TRUE(null->entity.is_null());
  EXPECT_EQ(json::serialize(value_to_json(Value::from_entity(Entity()))), "null");
  const Status bad = value_from_json(ref, json::value("five"), "table 'guard', field 'protects'").status();
  EXPECT_NE(bad.message().find("field 'protects'"), std::string::npos);
}

TEST(ServerPredicateTest, ParsesAndMatchesByTheFieldsType) {
  const Table& health = *schema().find_table("health");
  auto p = parse_predicate(schema(), &health, "hp<50");
  ASSERT_TRUE(p.has_value()) << p.status().to_string();
  std::vector<std::byte> row(health.stride());
  const std::uint32_t hp = 49;
  std::memcpy(row.data() + health.find_field("hp")->offset, &hp, sizeof hp);
  EXPECT_TRUE(p->matches(row.data()));
  auto q = parse_predicate(schema(), nullptr, "health.hp >= 50");
  ASSERT_TRUE(q.has_value());
  EXPECT_FALSE(q->matches(row.data()));
}

TEST(ServerPredicateTest, RejectsWhatItCannotCompareNamingIt) {
  const Table& health = *schema().find_table("health");
  EXPECT_EQ(parse_predicate(schema(), &health, "mana<5").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(parse_predicate(schema(), &health, "hp<lots").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(parse_predicate(schema(), &health, "hp").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(parse_predicate(schema(), &health, "hp<5000000000").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(parse_predicate(schema(), nullptr, "hp<5").has_value());  // which table?
  EXPECT_FALSE(parse_predicate(schema(), &health, "player.score<5").has_value());
  const Status s = parse_predicate(schema(), nullptr, "guard.protects<1:1").status();
  EXPECT_NE(s.message().find("only = and !="), std::string::npos);
}

ApiError decode_error(std::string_view body) {
  auto plan = decode_transaction(schema(), json::parse(body), 16);
  EXPECT_TRUE(std::holds_alternative<ApiError>(plan)) << body;
  return std::holds_alternative<ApiError>(plan) ? std::get<ApiError>(plan) : ApiError{};
}

TEST(ServerTransactionTest, DecoderRefusesBadInputWithTheOpIndex) {
  EXPECT_EQ(decode_error(R"({"ops":[]})").status, 422u);
  EXPECT_EQ(decode_error(R"({"ops":[{"op":"fly"}]})").code, "invalid_json");
  ApiError e = decode_error(R"({"ops":[{"op":"create"},{"op":"add","table":"nope","entity":"$0"}]})");
  EXPECT_EQ(e.status, 404u);
  EXPECT_EQ(e.details.at("op").as_uint64(), 1u);
  EXPECT_EQ(e.details.at("table").as_string(), "nope");
  e = decode_error(R"({"ops":[{"op":"create"},{"op":"add","table":"health","entity":"$0","values":{"hp":-1}}]})");
  EXPECT_EQ(e.status, 400u);
  EXPECT_EQ(e.details.at("field").as_string(), "hp");
  EXPECT_EQ(decode_error(R"({"ops":[{"op":"destroy","entity":"$0"}]})").status, 422u);  // $0 is not an earlier create
  EXPECT_EQ(decode_error(R"({"ops":[{"op":"create","extra":1}]})").code, "invalid_json");
  EXPECT_EQ(decode_error(R"({"ops":[{"op":"put","table":"item","entity":"1:1"}]})").status, 422u);  // many table
  std::string many = R"({"ops":[)";
  for (int i = 0; i < 17; ++i) many += std::string(i ? "," : "") + R"({"op":"create"})";
  EXPECT_EQ(decode_error(many + "]}").details.at("limit").as_uint64(), 16u);
}

TEST(ServerTransactionTest, AppliesAllOrNothingAndReportsThePreconditionThatFailed) {
  auto db = Database::open(testing::test_schema()).value();
  auto run = [&](std::string_view body, TransactionOutcome& out) {
    auto plan = decode_transaction(db->schema(), json::parse(body), 16);
    EXPECT_TRUE(std::holds_alternative<TransactionPlan>(plan)) << body;
    Transaction txn = db->writer().begin();
    Status s = apply_transaction(std::get<TransactionPlan>(plan), txn, out);
    if (s.is_ok()) return txn.commit();
    txn.rollback();
    return s;
  };
  TransactionOutcome out;
  ASSERT_TRUE(run(R"({"ops":[{"op":"create"},{"op":"add","table":"health","entity":"$0","values":{"hp":7}},
                              {"op":"add","table":"item","entity":"$0","values":{"kind":3,"count":1}}]})", out).is_ok());
  ASSERT_EQ(out.created.size(), 1u);
  ASSERT_EQ(out.rows.size(), 1u);
  const std::string e = id_string(out.created[0]);
  db->writer().publish();
  EXPECT_EQ(db->pin().read_field("health", Entity::from_bits(out.created[0]), "hp")->uinteger, 7u);

  // update keeps the fields it does not name; expect compares like with like (JSON 7 vs stored u32 7).
  TransactionOutcome second;
  ASSERT_TRUE(run(R"({"ops":[{"op":"expect","table":"health","entity":")" + e + R"(","values":{"hp":7}},
                              {"op":"update","table":"health","entity":")" + e + R"(","values":{"max_hp":9}}]})", second).is_ok());
  db->writer().publish();
  EXPECT_EQ(db->pin().read_field("health", Entity::from_bits(out.created[0]), "hp")->uinteger, 7u);
  EXPECT_EQ(db->pin().read_field("health", Entity::from_bits(out.created[0]), "max_hp")->uinteger, 9u);

  // A failed precondition in op 1 rolls back op 0 and names op 1.
  TransactionOutcome third;
  EXPECT_FALSE(run(R"({"ops":[{"op":"set","table":"health","entity":")" + e + R"(","field":"hp","value":1},
                               {"op":"expect","table":"health","entity":")" + e + R"(","values":{"hp":8}}]})", third).is_ok());
  ASSERT_TRUE(third.error.has_value());
  EXPECT_EQ(third.error->code, "precondition_failed");
  EXPECT_EQ(third.error->details.at("op").as_uint64(), 1u);
  db->writer().publish();
  EXPECT_EQ(db->pin().read_field("health", Entity::from_bits(out.created[0]), "hp")->uinteger, 7u);

  // A stale entity is a 404 naming the op.
  TransactionOutcome fourth;
  EXPECT_FALSE(run(R"({"ops":[{"op":"set","table":"health","entity":"999:1","field":"hp","value":1}]})", fourth).is_ok());
  ASSERT_TRUE(fourth.error.has_value());
  EXPECT_EQ(fourth.error->status, 404u);
}

}  // namespace
}  // namespace ecsdb::server
