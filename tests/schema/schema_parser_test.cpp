// Parsing valid schemas: the model the parser builds from them.
#include <gtest/gtest.h>

#include <string>

#include "ecsdb/schema.hpp"
#include "schema/schema_test_util.hpp"

namespace ecsdb {
namespace {

using testing::parse_ok;
using testing::source_dir;
using testing::with_database;

TEST(SchemaParser, LoadsTheSpecExampleUnchanged) {
  auto result = load_schema_file(source_dir() + "/examples/schemas/game.toml");
  ASSERT_TRUE(result.has_value()) << result.status().to_string();
  const Schema& s = **result;
  EXPECT_EQ(s.database, "game_db");
  EXPECT_EQ(s.version, "1.0.0");
  ASSERT_EQ(s.tables.size(), 3u);
  EXPECT_EQ(s.tables[0].name, "entities");
  EXPECT_EQ(s.tables[1].name, "transform");
  EXPECT_EQ(s.tables[2].name, "health");
  for (std::size_t i = 0; i < s.tables.size(); ++i) EXPECT_EQ(s.tables[i].id, i);

  const Table& entities = s.tables[0];
  EXPECT_TRUE(entities.is_entity_table);
  EXPECT_EQ(s.entity_table(), &entities);
  EXPECT_EQ(entities.primary_key, "id");
  EXPECT_EQ(entities.stride(), 0u);
  EXPECT_TRUE(entities.layout.row_order.empty());
  ASSERT_NE(entities.find_field("id"), nullptr);
  EXPECT_TRUE(entities.find_field("id")->unique);
  EXPECT_FALSE(entities.find_field("id")->stored);
  EXPECT_TRUE(entities.find_field("version")->auto_increment);
  EXPECT_FALSE(entities.find_field("version")->stored);

  const Table& transform = s.tables[1];
  EXPECT_EQ(transform.parent_table, "entities");
  EXPECT_EQ(transform.cardinality, Cardinality::kOne);
  EXPECT_EQ(transform.stride(), 12u);
  ASSERT_NE(transform.owner_key, nullptr);
  EXPECT_EQ(transform.owner_key->name, "entity_id");
  EXPECT_TRUE(transform.owner_key->is_owner_key);
  EXPECT_FALSE(transform.owner_key->stored);
  EXPECT_EQ(transform.owner_key->type.kind, TypeKind::kEntityRef);
  EXPECT_EQ(transform.owner_key->type.spelling, "u64");
  EXPECT_EQ(transform.find_field("position_x")->offset, 0u);
  EXPECT_EQ(transform.find_field("position_y")->offset, 4u);
  EXPECT_EQ(transform.find_field("position_z")->offset, 8u);

  const Table& health = s.tables[2];
  EXPECT_EQ(health.stride(), 8u);
  EXPECT_EQ(health.find_field("hp")->offset, 0u);
  EXPECT_EQ(health.find_field("max_hp")->offset, 4u);
  EXPECT_EQ(health.layout.row_order, (std::vector<std::uint16_t>{1, 2}));
}

TEST(SchemaParser, LoadsTheShowcase) {
  auto result = load_schema_file(source_dir() + "/examples/schemas/showcase.toml");
  ASSERT_TRUE(result.has_value()) << result.status().to_string();
  const Schema& s = **result;
  EXPECT_EQ(s.enums.size(), 3u);
  EXPECT_EQ(s.structs.size(), 4u);
  EXPECT_EQ(s.tables.front().name, "entities");
  const Table* inventory = s.find_table("inventory_item");
  ASSERT_NE(inventory, nullptr);
  EXPECT_EQ(inventory->cardinality, Cardinality::kMany);
  EXPECT_EQ(inventory->owner_key->name, "owner");
  EXPECT_EQ(inventory->find_field("crafted_by")->on_delete, OnDelete::kSetNull);
  const Table* templates = s.find_table("item_template");
  EXPECT_TRUE(templates->parent_table.empty());
  EXPECT_EQ(templates->owner_key, nullptr);
  EXPECT_EQ(s.find_table("is_boss")->stride(), 0u);
}

TEST(SchemaParser, KeepsDeclarationOrderNotAlphabeticalOrder) {
  auto s = parse_ok(with_database(
      "[enums.Zeta]\nvariants = [\"a\"]\n[enums.Alpha]\nvariants = [\"a\"]\n"
      "[structs.Zed]\n[[structs.Zed.fields]]\nname = \"x\"\ntype = \"u8\"\n"
      "[structs.Abe]\n[[structs.Abe.fields]]\nname = \"x\"\ntype = \"u8\"\n"
      "[tables.zebra]\ncardinality = \"many\"\n[tables.apple]\ncardinality = \"many\"\n"
      "[tables.mango]\ncardinality = \"many\"\n"
      "[tables.entities]\n[[tables.entities.fields]]\nname = \"id\"\ntype = \"u64\"\n"));
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->tables.size(), 4u);
  EXPECT_EQ(s->tables[0].name, "entities");  // the registry comes first wherever it is declared
  EXPECT_EQ(s->tables[1].name, "zebra");
  EXPECT_EQ(s->tables[2].name, "apple");
  EXPECT_EQ(s->tables[3].name, "mango");
  EXPECT_EQ(s->tables[3].id, 3u);
  EXPECT_EQ(s->enums[0]->name, "Zeta");
  EXPECT_EQ(s->enums[1]->name, "Alpha");
  EXPECT_EQ(s->structs[0]->name, "Zed");
  EXPECT_EQ(s->structs[1]->name, "Abe");
}

TEST(SchemaParser, SynthesisesTheEntitiesTableWhenAbsent) {
  auto s = parse_ok(with_database("[tables.t]\nparent_table = \"entities\"\n[[tables.t.fields]]\nname = \"v\"\n"
                                  "type = \"f32\"\n"));
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->tables.size(), 2u);
  const Table& e = s->tables[0];
  EXPECT_TRUE(e.is_entity_table);
  EXPECT_EQ(e.name, "entities");
  EXPECT_EQ(e.location.line, 0u);
  ASSERT_EQ(e.layout.fields.size(), 2u);
  EXPECT_EQ(e.layout.fields[0].name, "id");
  EXPECT_EQ(e.layout.fields[0].type.scalar, ScalarKind::kU64);
  EXPECT_TRUE(e.layout.fields[0].unique);
  EXPECT_EQ(e.layout.fields[1].name, "version");
  EXPECT_EQ(e.layout.fields[1].type.scalar, ScalarKind::kU32);
  EXPECT_TRUE(e.layout.fields[1].auto_increment);
  EXPECT_EQ(s->tables[1].owner_key, nullptr);  // a component table needs no owner key field
  EXPECT_EQ(s->tables[1].stride(), 4u);
}

TEST(SchemaParser, PicksTheOwnerKey) {
  auto s = parse_ok(with_database(
      "[tables.a]\nparent_table = \"entities\"\n"
      "[[tables.a.fields]]\nname = \"target\"\ntype = \"entity\"\n"
      "[[tables.a.fields]]\nname = \"entity_id\"\ntype = \"u64\"\nforeign_key = \"entities.id\"\n"
      "[tables.b]\nparent_table = \"entities\"\n"
      "[[tables.b.fields]]\nname = \"x\"\ntype = \"u8\"\n"
      "[[tables.b.fields]]\nname = \"first\"\ntype = \"entity\"\n"
      "[[tables.b.fields]]\nname = \"second\"\ntype = \"entity\"\n"
      "[tables.c]\ncardinality = \"many\"\n[[tables.c.fields]]\nname = \"who\"\ntype = \"entity\"\n"));
  ASSERT_NE(s, nullptr);
  const Table* a = s->find_table("a");
  EXPECT_EQ(a->owner_key->name, "entity_id");  // named entity_id wins over an earlier reference
  EXPECT_TRUE(a->find_field("target")->stored);
  EXPECT_EQ(a->find_field("target")->on_delete, OnDelete::kRestrict);
  EXPECT_EQ(a->owner_key->on_delete, OnDelete::kCascade);  // components die with their entity
  const Table* b = s->find_table("b");
  EXPECT_EQ(b->owner_key->name, "first");  // else the first reference
  EXPECT_TRUE(b->find_field("second")->stored);
  const Table* c = s->find_table("c");  // root tables have no owner: references are plain data
  EXPECT_EQ(c->owner_key, nullptr);
  EXPECT_TRUE(c->find_field("who")->stored);
  EXPECT_EQ(c->stride(), 8u);
}

TEST(SchemaParser, PromotesU64ForeignKeysToEntityReferences) {
  auto s = parse_ok(with_database(
      "[tables.t]\ncardinality = \"many\"\n"
      "[[tables.t.fields]]\nname = \"a\"\ntype = \"u64\"\nforeign_key = \"entities.id\"\non_delete = \"set_null\"\n"
      "[[tables.t.fields]]\nname = \"b\"\ntype = \"entity\"\non_delete = \"cascade\"\n"
      "[[tables.t.fields]]\nname = \"c\"\ntype = \"u64\"\n"));
  ASSERT_NE(s, nullptr);
  const Table& t = *s->find_table("t");
  const Field& a = *t.find_field("a");
  EXPECT_EQ(a.type.kind, TypeKind::kEntityRef);
  EXPECT_EQ(a.type.scalar, ScalarKind::kU64);
  EXPECT_EQ(a.type.spelling, "u64");
  ASSERT_TRUE(a.foreign_key.has_value());
  EXPECT_EQ(a.foreign_key->table, "entities");
  EXPECT_EQ(a.foreign_key->field, "id");
  EXPECT_EQ(a.on_delete, OnDelete::kSetNull);
  const Field& b = *t.find_field("b");
  EXPECT_EQ(b.type.kind, TypeKind::kEntityRef);
  EXPECT_EQ(b.type.spelling, "entity");
  ASSERT_TRUE(b.foreign_key.has_value());
  EXPECT_EQ(b.on_delete, OnDelete::kCascade);
  const Field& c = *t.find_field("c");
  EXPECT_EQ(c.type.kind, TypeKind::kScalar);
  EXPECT_FALSE(c.foreign_key.has_value());
}

TEST(SchemaParser, TypeSizesAndSpellings) {
  auto s = parse_ok(with_database(
      "[enums.Small]\ntype = \"u8\"\nvariants = [\"a\", \"b\"]\n"
      "[enums.Wide]\nvariants = [\"a\"]\n"
      "[structs.Vec3]\n[[structs.Vec3.fields]]\nname = \"x\"\ntype = \"f32\"\n"
      "[[structs.Vec3.fields]]\nname = \"y\"\ntype = \"f32\"\n[[structs.Vec3.fields]]\nname = \"z\"\ntype = \"f32\"\n"
      "[tables.t]\ncardinality = \"many\"\n"
      "[[tables.t.fields]]\nname = \"small\"\ntype = \"Small\"\n"
      "[[tables.t.fields]]\nname = \"wide\"\ntype = \"Wide\"\n"
      "[[tables.t.fields]]\nname = \"pos\"\ntype = \"Vec3\"\n"
      "[[tables.t.fields]]\nname = \"grid\"\ntype = \"  [ [u8;4] ;  3 ] \"\n"
      "[[tables.t.fields]]\nname = \"path\"\ntype = \"[Vec3; 2]\"\n"
      "[[tables.t.fields]]\nname = \"label\"\ntype = \"str<13>\"\n"
      "[[tables.t.fields]]\nname = \"flag\"\ntype = \"bool\"\n"
      "[[tables.t.fields]]\nname = \"d\"\ntype = \"f64\"\n"
      "[[tables.t.fields]]\nname = \"i\"\ntype = \"i16\"\n"));
  ASSERT_NE(s, nullptr);
  const Table& t = *s->find_table("t");
  auto type_of = [&](const char* name) -> const Type& { return t.find_field(name)->type; };
  EXPECT_EQ(type_of("small").kind, TypeKind::kEnum);
  EXPECT_EQ(type_of("small").size, 1u);
  EXPECT_EQ(type_of("small").enum_def, s->find_enum("Small"));
  EXPECT_EQ(type_of("wide").size, 4u);  // enums default to u32
  EXPECT_EQ(type_of("wide").scalar, ScalarKind::kU32);
  EXPECT_EQ(type_of("pos").kind, TypeKind::kStruct);
  EXPECT_EQ(type_of("pos").size, 12u);
  EXPECT_EQ(type_of("pos").align, 4u);
  EXPECT_EQ(type_of("pos").struct_def, s->find_struct("Vec3"));
  const Type& grid = type_of("grid");
  EXPECT_EQ(grid.kind, TypeKind::kArray);
  EXPECT_EQ(grid.spelling, "[[u8; 4]; 3]");  // canonical spelling, whatever the whitespace
  EXPECT_EQ(grid.size, 12u);
  EXPECT_EQ(grid.align, 1u);
  EXPECT_EQ(grid.length, 3u);
  ASSERT_NE(grid.element, nullptr);
  EXPECT_EQ(grid.element->length, 4u);
  EXPECT_EQ(grid.element->element->scalar, ScalarKind::kU8);
  EXPECT_EQ(type_of("path").size, 24u);
  EXPECT_EQ(type_of("path").align, 4u);
  EXPECT_EQ(type_of("label").kind, TypeKind::kString);
  EXPECT_EQ(type_of("label").size, 13u);
  EXPECT_EQ(type_of("label").align, 1u);
  EXPECT_EQ(type_of("label").length, 13u);
  EXPECT_EQ(type_of("flag").size, 1u);
  EXPECT_EQ(type_of("d").size, 8u);
  EXPECT_EQ(type_of("i").size, 2u);
  EXPECT_TRUE(type_of("i").kind == TypeKind::kScalar && is_signed(type_of("i").scalar));
}

TEST(SchemaParser, EnumVariantsMixStringsAndExplicitValues) {
  auto s = parse_ok(with_database(
      "[enums.E]\ntype = \"i8\"\nvariants = [\"a\", { name = \"b\", value = 10 }, \"c\", { name = \"d\", value = -128 }, "
      "\"e\"]\n"));
  ASSERT_NE(s, nullptr);
  const EnumDef& e = *s->find_enum("E");
  EXPECT_EQ(e.underlying, ScalarKind::kI8);
  const std::vector<std::pair<std::string, std::int64_t>> expected = {
      {"a", 0}, {"b", 10}, {"c", 11}, {"d", -128}, {"e", -127}};
  EXPECT_EQ(e.variants, expected);
  EXPECT_EQ(e.find_variant("c")->second, 11);
  EXPECT_EQ(e.find_variant("zz"), nullptr);
}

TEST(SchemaParser, DefaultsAreCheckedAndKept) {
  auto s = parse_ok(with_database(
      "[enums.Color]\ntype = \"u8\"\nvariants = [\"red\", { name = \"green\", value = 5 }]\n"
      "[tables.t]\ncardinality = \"many\"\n"
      "[[tables.t.fields]]\nname = \"by_name\"\ntype = \"Color\"\ndefault = \"green\"\n"
      "[[tables.t.fields]]\nname = \"by_value\"\ntype = \"Color\"\ndefault = 5\n"
      "[[tables.t.fields]]\nname = \"f\"\ntype = \"f32\"\ndefault = 2\n"
      "[[tables.t.fields]]\nname = \"g\"\ntype = \"f64\"\ndefault = -0.5\n"
      "[[tables.t.fields]]\nname = \"i\"\ntype = \"i8\"\ndefault = -128\n"
      "[[tables.t.fields]]\nname = \"u\"\ntype = \"u64\"\ndefault = 9223372036854775807\n"
      "[[tables.t.fields]]\nname = \"b\"\ntype = \"bool\"\ndefault = true\n"
      "[[tables.t.fields]]\nname = \"s\"\ntype = \"str<5>\"\ndefault = \"hello\"\n"
      "[[tables.t.fields]]\nname = \"old\"\ntype = \"u8\"\ndeprecated = true\n"));
  ASSERT_NE(s, nullptr);
  const Table& t = *s->find_table("t");
  const DefaultValue& by_name = *t.find_field("by_name")->default_value;
  EXPECT_EQ(by_name.integer, 5);
  EXPECT_EQ(by_name.string, "green");
  const DefaultValue& by_value = *t.find_field("by_value")->default_value;
  EXPECT_EQ(by_value.integer, 5);
  EXPECT_EQ(by_value.string, "green");
  EXPECT_EQ(t.find_field("f")->default_value->kind, DefaultValue::Kind::kFloat);
  EXPECT_EQ(t.find_field("f")->default_value->floating, 2.0);
  EXPECT_EQ(t.find_field("g")->default_value->floating, -0.5);
  EXPECT_EQ(t.find_field("i")->default_value->integer, -128);
  EXPECT_EQ(t.find_field("u")->default_value->integer, 9223372036854775807);
  EXPECT_TRUE(t.find_field("b")->default_value->boolean);
  EXPECT_EQ(t.find_field("s")->default_value->string, "hello");
  EXPECT_FALSE(t.find_field("old")->default_value.has_value());
  EXPECT_TRUE(t.find_field("old")->deprecated);
}

TEST(SchemaParser, CardinalityDefaultsAndPrimaryKeys) {
  auto s = parse_ok(with_database(
      "[tables.comp]\nparent_table = \"entities\"\nprimary_key = \"entity_id\"\n"
      "[[tables.comp.fields]]\nname = \"entity_id\"\ntype = \"entity\"\n"
      "[tables.rows]\nprimary_key = \"code\"\n[[tables.rows.fields]]\nname = \"code\"\ntype = \"u32\"\n"
      "constraint = \"unique\"\nauto_increment = true\n"));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->find_table("comp")->cardinality, Cardinality::kOne);
  EXPECT_EQ(s->find_table("comp")->primary_key, "entity_id");
  EXPECT_EQ(s->find_table("rows")->cardinality, Cardinality::kMany);
  EXPECT_EQ(s->find_table("rows")->primary_key, "code");
  EXPECT_TRUE(s->find_table("rows")->find_field("code")->auto_increment);
}

TEST(SchemaParser, LayoutHashIsStableAndSensitiveToLayout) {
  const std::string base = with_database("[tables.t]\ncardinality = \"many\"\n[[tables.t.fields]]\nname = \"a\"\ntype = \"u32\"\n");
  auto a = parse_ok(base);
  auto b = parse_ok(base);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->layout_hash(), b->layout_hash());
  auto renamed_version = parse_ok("[database]\nname = \"db\"\nversion = \"9\"\n" + base.substr(base.find("[tables")));
  EXPECT_EQ(a->layout_hash(), renamed_version->layout_hash());
  auto other_type = parse_ok(with_database("[tables.t]\ncardinality = \"many\"\n[[tables.t.fields]]\nname = \"a\"\ntype = \"i32\"\n"));
  auto other_name = parse_ok(with_database("[tables.t]\ncardinality = \"many\"\n[[tables.t.fields]]\nname = \"b\"\ntype = \"u32\"\n"));
  EXPECT_NE(a->layout_hash(), other_type->layout_hash());
  EXPECT_NE(a->layout_hash(), other_name->layout_hash());
}

TEST(SchemaParser, SchemaIsMovable) {
  auto s = parse_ok(with_database("[tables.t]\nparent_table = \"entities\"\n[[tables.t.fields]]\nname = \"entity_id\"\n"
                                  "type = \"entity\"\n"));
  ASSERT_NE(s, nullptr);
  // Build a mutable copy through parsing again and move it: owner_key must still point into the moved table.
  auto again = parse_schema(with_database("[tables.t]\nparent_table = \"entities\"\n[[tables.t.fields]]\n"
                                          "name = \"entity_id\"\ntype = \"entity\"\n"),
                            "m.toml");
  ASSERT_TRUE(again.has_value());
  Schema moved = std::move(const_cast<Schema&>(**again));
  const Table* t = moved.find_table("t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->owner_key, &t->layout.fields[0]);
}

TEST(SchemaParser, ScalarHelpers) {
  EXPECT_EQ(to_string(ScalarKind::kF64), "f64");
  EXPECT_EQ(scalar_size(ScalarKind::kU16), 2u);
  EXPECT_EQ(scalar_size(ScalarKind::kBool), 1u);
  EXPECT_TRUE(is_integer(ScalarKind::kI64));
  EXPECT_FALSE(is_integer(ScalarKind::kF32));
  EXPECT_FALSE(is_integer(ScalarKind::kBool));
  EXPECT_TRUE(is_signed(ScalarKind::kI8));
  EXPECT_FALSE(is_signed(ScalarKind::kU64));
  EXPECT_EQ(to_string(OnDelete::kSetNull), "set_null");
  EXPECT_EQ(to_string(Cardinality::kMany), "many");
}

}  // namespace
}  // namespace ecsdb
