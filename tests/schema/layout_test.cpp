// The row layout rule: largest alignment first, naturally aligned, no interior padding, stride rounded up.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "ecsdb/schema.hpp"
#include "schema/layout.hpp"
#include "schema/schema_test_util.hpp"

namespace ecsdb {
namespace {

using schema_internal::assign_layout;
using schema_internal::make_array_type;
using schema_internal::make_entity_ref_type;
using schema_internal::make_scalar_type;
using schema_internal::make_string_type;
using schema_internal::make_struct_type;
using testing::parse_ok;
using testing::with_database;

Layout layout_of(std::vector<Type> types) {
  Layout layout;
  for (std::size_t i = 0; i < types.size(); ++i) {
    Field f;
    f.name = "f" + std::to_string(i);
    f.id = static_cast<std::uint16_t>(i);
    f.type = std::move(types[i]);
    layout.fields.push_back(std::move(f));
  }
  assign_layout(layout);
  return layout;
}

TEST(Layout, OrdersByAlignmentLargestFirst) {
  const Layout l = layout_of({make_scalar_type(ScalarKind::kU8), make_scalar_type(ScalarKind::kU64),
                              make_scalar_type(ScalarKind::kU16), make_scalar_type(ScalarKind::kU32)});
  EXPECT_EQ(l.row_order, (std::vector<std::uint16_t>{1, 3, 2, 0}));
  EXPECT_EQ(l.fields[1].offset, 0u);
  EXPECT_EQ(l.fields[3].offset, 8u);
  EXPECT_EQ(l.fields[2].offset, 12u);
  EXPECT_EQ(l.fields[0].offset, 14u);
  EXPECT_EQ(l.stride, 16u);  // 15 bytes rounded up to alignment 8
  EXPECT_EQ(l.align, 8u);
}

TEST(Layout, KeepsDeclarationOrderAmongEqualAlignments) {
  const Layout l = layout_of({make_scalar_type(ScalarKind::kF32), make_scalar_type(ScalarKind::kU8),
                              make_scalar_type(ScalarKind::kI32), make_scalar_type(ScalarKind::kBool),
                              make_scalar_type(ScalarKind::kU32)});
  EXPECT_EQ(l.row_order, (std::vector<std::uint16_t>{0, 2, 4, 1, 3}));
  EXPECT_EQ(l.stride, 16u);  // 14 bytes rounded up to 4
}

TEST(Layout, StrideRoundsToTheLargestAlignmentOnly) {
  EXPECT_EQ(layout_of({make_scalar_type(ScalarKind::kU64), make_scalar_type(ScalarKind::kU8)}).stride, 16u);
  EXPECT_EQ(layout_of({make_scalar_type(ScalarKind::kU16), make_scalar_type(ScalarKind::kU8)}).stride, 4u);
  EXPECT_EQ(layout_of({make_string_type(3)}).stride, 3u);
  EXPECT_EQ(layout_of({make_scalar_type(ScalarKind::kU8)}).stride, 1u);
}

TEST(Layout, UnstoredFieldsTakeNoBytes) {
  Layout l;
  Field key;
  key.name = "entity_id";
  key.type = make_entity_ref_type();
  key.stored = false;
  key.is_owner_key = true;
  Field hp;
  hp.name = "hp";
  hp.id = 1;
  hp.type = make_scalar_type(ScalarKind::kU16);
  l.fields = {key, hp};
  assign_layout(l);
  EXPECT_EQ(l.row_order, (std::vector<std::uint16_t>{1}));
  EXPECT_EQ(l.fields[1].offset, 0u);
  EXPECT_EQ(l.stride, 2u);
  EXPECT_EQ(l.align, 2u);

  Layout empty;
  empty.fields = {key};
  assign_layout(empty);
  EXPECT_EQ(empty.stride, 0u);
  EXPECT_EQ(empty.align, 1u);
  EXPECT_TRUE(empty.row_order.empty());
}

TEST(Layout, NestedStructsAreLaidOutLikeRows) {
  auto s = parse_ok(with_database(
      "[structs.Inner]\n"
      "[[structs.Inner.fields]]\nname = \"flag\"\ntype = \"bool\"\n"
      "[[structs.Inner.fields]]\nname = \"value\"\ntype = \"f64\"\n"
      "[structs.Outer]\n"
      "[[structs.Outer.fields]]\nname = \"tag\"\ntype = \"u16\"\n"
      "[[structs.Outer.fields]]\nname = \"inner\"\ntype = \"Inner\"\n"
      "[[structs.Outer.fields]]\nname = \"pair\"\ntype = \"[Inner; 2]\"\n"
      "[tables.t]\ncardinality = \"many\"\n"
      "[[tables.t.fields]]\nname = \"b\"\ntype = \"u8\"\n"
      "[[tables.t.fields]]\nname = \"o\"\ntype = \"Outer\"\n"));
  ASSERT_NE(s, nullptr);
  const StructDef& inner = *s->find_struct("Inner");
  EXPECT_EQ(inner.layout.find_field("value")->offset, 0u);
  EXPECT_EQ(inner.layout.find_field("flag")->offset, 8u);
  EXPECT_EQ(inner.layout.stride, 16u);
  EXPECT_EQ(inner.layout.align, 8u);
  const StructDef& outer = *s->find_struct("Outer");
  EXPECT_EQ(outer.layout.find_field("inner")->offset, 0u);
  EXPECT_EQ(outer.layout.find_field("pair")->offset, 16u);
  EXPECT_EQ(outer.layout.find_field("tag")->offset, 48u);
  EXPECT_EQ(outer.layout.stride, 56u);
  const Table& t = *s->find_table("t");
  EXPECT_EQ(t.find_field("o")->offset, 0u);
  EXPECT_EQ(t.find_field("o")->type.size, 56u);
  EXPECT_EQ(t.find_field("b")->offset, 56u);
  EXPECT_EQ(t.stride(), 64u);
}

// For random field sets: every stored field aligned, none overlapping, no gap before the last field, and
// the stride the smallest multiple of the alignment that holds them.
TEST(Layout, RandomFieldSetsAreAlignedAndPacked) {
  std::mt19937 rng(20240607);
  StructDef small_struct;
  small_struct.name = "S";
  small_struct.layout = layout_of({make_scalar_type(ScalarKind::kU16), make_scalar_type(ScalarKind::kU8)});
  StructDef big_struct;
  big_struct.name = "B";
  big_struct.layout = layout_of({make_scalar_type(ScalarKind::kF64), make_string_type(5)});
  auto random_type = [&](auto& self, int depth) -> Type {
    switch (std::uniform_int_distribution<int>(0, depth > 1 ? 4 : 6)(rng)) {
      case 0:
      case 1:
      case 2: return make_scalar_type(static_cast<ScalarKind>(std::uniform_int_distribution<int>(0, 10)(rng)));
      case 3: return make_string_type(std::uniform_int_distribution<std::uint32_t>(1, 40)(rng));
      case 4: return make_struct_type(std::uniform_int_distribution<int>(0, 1)(rng) ? small_struct : big_struct);
      case 5: return make_entity_ref_type();
      default: return make_array_type(self(self, depth + 1), std::uniform_int_distribution<std::uint32_t>(1, 5)(rng));
    }
  };
  for (int round = 0; round < 2000; ++round) {
    std::vector<Type> types;
    const int n = std::uniform_int_distribution<int>(0, 24)(rng);
    for (int i = 0; i < n; ++i) types.push_back(random_type(random_type, 0));
    Layout l = layout_of(types);
    std::uint32_t total = 0;
    std::uint32_t max_align = 1;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> spans;
    for (const Field& f : l.fields) {
      ASSERT_EQ(f.offset % f.type.align, 0u) << f.type.spelling;
      spans.emplace_back(f.offset, f.offset + f.type.size);
      total += f.type.size;
      max_align = std::max(max_align, f.type.align);
    }
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i) ASSERT_LE(spans[i - 1].second, spans[i].first);
    ASSERT_EQ(l.row_order.size(), l.fields.size());
    const std::uint32_t end = spans.empty() ? 0 : spans.back().second;
    EXPECT_EQ(end, total);  // no interior padding
    EXPECT_EQ(l.align, max_align);
    EXPECT_EQ(l.stride % l.align, 0u);
    EXPECT_GE(l.stride, total);
    EXPECT_LT(l.stride - total, l.align == 1 && total == 0 ? 1u : l.align);
    for (std::size_t i = 1; i < l.row_order.size(); ++i) {
      EXPECT_GE(l.fields[l.row_order[i - 1]].type.align, l.fields[l.row_order[i]].type.align);
      EXPECT_LT(l.fields[l.row_order[i - 1]].offset, l.fields[l.row_order[i]].offset);
    }
  }
}

}  // namespace
}  // namespace ecsdb
