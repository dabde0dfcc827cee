// `ecsdb codegen` output, as text. generated_binding_test.cpp compiles it.
#include <gtest/gtest.h>

#include <string>

#include "ecsdb/schema.hpp"
#include "schema/codegen.hpp"
#include "schema/schema_test_util.hpp"

namespace ecsdb {
namespace {

using testing::parse_ok;
using testing::with_database;

bool contains(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

TEST(Codegen, Names) {
  EXPECT_EQ(schema_internal::pascal_case("transform"), "Transform");
  EXPECT_EQ(schema_internal::pascal_case("inventory_item"), "InventoryItem");
  EXPECT_EQ(schema_internal::pascal_case("ai_brain_v2"), "AiBrainV2");
  EXPECT_EQ(schema_internal::pascal_case("_1x"), "T1x");
  EXPECT_EQ(schema_internal::namespace_name("game_db"), "game_db");
  EXPECT_EQ(schema_internal::namespace_name("my-game.db"), "my_game_db");
  EXPECT_EQ(schema_internal::namespace_name("3d"), "db_3d");
  EXPECT_EQ(schema_internal::namespace_name("class"), "class_");
  EXPECT_EQ(schema_internal::namespace_name(""), "ecsdb_schema");
}

TEST(Codegen, HeaderForTheSpecExample) {
  auto s = load_schema_file(std::string(ECSDB_SOURCE_DIR) + "/examples/schemas/game.toml");
  ASSERT_TRUE(s.has_value());
  const std::string h = generate_cpp_header(**s);
  EXPECT_TRUE(contains(h, "#pragma once"));
  EXPECT_TRUE(contains(h, "#include <cstddef>\n#include <cstdint>\n#include <array>\n"));
  EXPECT_TRUE(contains(h, "#include <ecsdb/bind.hpp>"));
  EXPECT_TRUE(contains(h, "namespace game_db {"));
  EXPECT_TRUE(contains(h, "struct Transform {\n  float position_x;"));
  EXPECT_TRUE(contains(h, "static_assert(sizeof(Transform) == 12);"));
  EXPECT_TRUE(contains(h, "static_assert(offsetof(Transform, position_z) == 8);"));
  EXPECT_TRUE(contains(h, "struct Health {\n  std::uint32_t hp;"));
  EXPECT_FALSE(contains(h, "entity_id;"));  // the owner key is not in the row
  EXPECT_TRUE(contains(h, "// table 'entities': no row data"));
  EXPECT_TRUE(contains(h, "ECSDB_COMPONENT(game_db::Transform, \"transform\", position_x, position_y, position_z)"));
  EXPECT_TRUE(contains(h, "ECSDB_COMPONENT(game_db::Health, \"health\", hp, max_hp)"));
  EXPECT_FALSE(contains(h, ECSDB_SOURCE_DIR));  // reproducible: no absolute paths
  EXPECT_EQ(h, generate_cpp_header(**s));
}

TEST(Codegen, MembersInRowOrderWithTypesAndDefaults) {
  auto s = parse_ok(with_database(
      "[enums.Color]\ntype = \"u8\"\nvariants = [\"red\", { name = \"blue\", value = 7 }]\n"
      "[tables.t]\nparent_table = \"entities\"\n"
      "[[tables.t.fields]]\nname = \"flag\"\ntype = \"bool\"\ndefault = true\n"
      "[[tables.t.fields]]\nname = \"color\"\ntype = \"Color\"\ndefault = \"blue\"\n"
      "[[tables.t.fields]]\nname = \"big\"\ntype = \"u64\"\ndefault = 5\n"
      "[[tables.t.fields]]\nname = \"neg\"\ntype = \"i64\"\ndefault = -9223372036854775808\n"
      "[[tables.t.fields]]\nname = \"name\"\ntype = \"str<8>\"\ndefault = \"a\\\"b\\n\"\n"
      "[[tables.t.fields]]\nname = \"speed\"\ntype = \"f32\"\ndefault = 2\n"
      "[[tables.t.fields]]\nname = \"grid\"\ntype = \"[[i16; 2]; 3]\"\n"
      "[[tables.t.fields]]\nname = \"who\"\ntype = \"entity\"\n"
      "[[tables.t.fields]]\nname = \"owner\"\ntype = \"u64\"\nforeign_key = \"entities.id\"\n"));
  ASSERT_NE(s, nullptr);
  const std::string h = generate_cpp_header(*s);
  EXPECT_TRUE(contains(h, "enum class Color : std::uint8_t { red = 0, blue = 7 };"));
  // 'who', the first entity reference, is the owner key and is not in the row. Alignment 8 first (big, neg,
  // owner), then 4, 2, 1.
  const std::string expected =
      "struct T {\n"
      "  std::uint64_t big = 5ULL;  // offset 0, u64\n"
      "  std::int64_t neg = (-9223372036854775807LL - 1);  // offset 8, i64\n"
      "  ecsdb::Entity owner;  // offset 16, u64\n"
      "  float speed = 2.0f;  // offset 24, f32\n"
      "  std::array<std::array<std::int16_t, 2>, 3> grid;  // offset 28, [[i16; 2]; 3]\n"
      "  bool flag = true;  // offset 40, bool\n"
      "  Color color = Color::blue;  // offset 41, Color\n"
      "  ecsdb::FixedString<8> name{\"a\\\"b\\012\"};  // offset 42, str<8>\n"
      "};\n";
  EXPECT_TRUE(contains(h, expected)) << h;
  EXPECT_TRUE(contains(h, "static_assert(sizeof(T) == 56);"));
  EXPECT_TRUE(contains(h, "ECSDB_COMPONENT(db::T, \"t\", big, neg, owner, speed, grid, flag, color, name)"));
}

TEST(Codegen, StructsComeBeforeTheirUsersAndTagsGetAComment) {
  auto s = parse_ok(with_database(
      "[structs.Outer]\n[[structs.Outer.fields]]\nname = \"inner\"\ntype = \"Inner\"\n"
      "[structs.Inner]\n[[structs.Inner.fields]]\nname = \"x\"\ntype = \"f32\"\n"
      "[tables.tag]\nparent_table = \"entities\"\n"
      "[tables.holder]\ncardinality = \"many\"\n[[tables.holder.fields]]\nname = \"o\"\ntype = \"Outer\"\n"));
  ASSERT_NE(s, nullptr);
  const std::string h = generate_cpp_header(*s);
  EXPECT_LT(h.find("struct Inner {"), h.find("struct Outer {"));
  EXPECT_LT(h.find("ECSDB_STRUCT(db::Inner, \"Inner\", x)"), h.find("ECSDB_STRUCT(db::Outer, \"Outer\", inner)"));
  EXPECT_LT(h.find("ECSDB_STRUCT(db::Outer"), h.find("ECSDB_COMPONENT(db::Holder, \"holder\", o)"));
  EXPECT_TRUE(contains(h, "// table 'tag': no row data"));
  EXPECT_FALSE(contains(h, "struct Tag"));
}

}  // namespace
}  // namespace ecsdb
