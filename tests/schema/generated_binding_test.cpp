// Compiles the headers `ecsdb codegen` generated at build time from the example schemas (their static_asserts
// check sizes and offsets), then checks each binding against the layout the parser computes.
#include <gtest/gtest.h>

#include <string>

#include "ecsdb/bind.hpp"
#include "ecsdb/schema.hpp"
#include "game_gen.hpp"
#include "showcase_gen.hpp"

namespace ecsdb {
namespace {

std::shared_ptr<const Schema> load(const char* name) {
  auto s = load_schema_file(std::string(ECSDB_SOURCE_DIR) + "/examples/schemas/" + name);
  EXPECT_TRUE(s.has_value()) << s.status().to_string();
  return s.has_value() ? *s : nullptr;
}

template <typename T>
void expect_matches(const Layout& layout, std::string_view name) {
  SCOPED_TRACE(std::string(name));
  EXPECT_EQ(ComponentTraits<T>::table, name);
  EXPECT_EQ(sizeof(T), layout.stride);
  EXPECT_EQ(alignof(T), layout.align);
  const auto bound = ComponentTraits<T>::fields();
  ASSERT_EQ(bound.size(), layout.row_order.size());
  for (std::size_t i = 0; i < bound.size(); ++i) {
    const Field& f = layout.fields[layout.row_order[i]];
    EXPECT_EQ(bound[i].name, f.name);
    EXPECT_EQ(bound[i].offset, f.offset) << f.name;
    EXPECT_EQ(bound[i].type.size, f.type.size) << f.name;
    EXPECT_EQ(bound[i].type.align, f.type.align) << f.name;
    EXPECT_EQ(bound[i].type.kind, f.type.kind) << f.name;
    if (f.type.kind == TypeKind::kScalar || f.type.kind == TypeKind::kEnum || f.type.kind == TypeKind::kEntityRef) {
      EXPECT_EQ(bound[i].type.scalar, f.type.scalar) << f.name;
    }
    if (f.type.kind == TypeKind::kStruct) {
      EXPECT_EQ(bound[i].type.struct_name, f.type.struct_def->name);
    }
    if (f.type.kind == TypeKind::kArray || f.type.kind == TypeKind::kString) {
      EXPECT_EQ(bound[i].type.length, f.type.length) << f.name;
    }
  }
}

TEST(GeneratedBindings, GameSchema) {
  auto s = load("game.toml");
  ASSERT_NE(s, nullptr);
  expect_matches<game_db::Transform>(s->find_table("transform")->layout, "transform");
  expect_matches<game_db::Health>(s->find_table("health")->layout, "health");
  EXPECT_EQ(game_db::kLayoutHash, s->layout_hash());
}

TEST(GeneratedBindings, ShowcaseSchema) {
  auto s = load("showcase.toml");
  ASSERT_NE(s, nullptr);
  expect_matches<showcase::Vec3>(s->find_struct("Vec3")->layout, "Vec3");
  expect_matches<showcase::Quat>(s->find_struct("Quat")->layout, "Quat");
  expect_matches<showcase::Aabb>(s->find_struct("Aabb")->layout, "Aabb");
  expect_matches<showcase::DamageRoll>(s->find_struct("DamageRoll")->layout, "DamageRoll");
  expect_matches<showcase::Transform>(s->find_table("transform")->layout, "transform");
  expect_matches<showcase::Health>(s->find_table("health")->layout, "health");
  expect_matches<showcase::Character>(s->find_table("character")->layout, "character");
  expect_matches<showcase::AiBrain>(s->find_table("ai_brain")->layout, "ai_brain");
  expect_matches<showcase::InventoryItem>(s->find_table("inventory_item")->layout, "inventory_item");
  expect_matches<showcase::Buff>(s->find_table("buff")->layout, "buff");
  expect_matches<showcase::ItemTemplate>(s->find_table("item_template")->layout, "item_template");
  EXPECT_EQ(showcase::kLayoutHash, s->layout_hash());
}

TEST(GeneratedBindings, DefaultsBecomeMemberInitializers) {
  const showcase::Character c{};
  EXPECT_EQ(c.title.view(), "Wanderer");
  EXPECT_EQ(c.faction, showcase::Faction::player);
  EXPECT_EQ(c.level, 1);
  const showcase::Health h{};
  EXPECT_EQ(h.hp, 100);
  EXPECT_FLOAT_EQ(h.regen_per_s, 0.5f);
  EXPECT_EQ(h.last_hit.kind, showcase::DamageKind::physical);
  EXPECT_EQ(showcase::Quat{}.w, 1.0f);
}

}  // namespace
}  // namespace ecsdb
