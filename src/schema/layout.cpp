#include "schema/layout.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <utility>

namespace ecsdb::schema_internal {

namespace {

constexpr std::array<ScalarKind, 11> kAllScalars = {
    ScalarKind::kU8,  ScalarKind::kU16, ScalarKind::kU32, ScalarKind::kU64, ScalarKind::kI8,  ScalarKind::kI16,
    ScalarKind::kI32, ScalarKind::kI64, ScalarKind::kF32, ScalarKind::kF64, ScalarKind::kBool};

}  // namespace

bool parse_scalar_kind(std::string_view name, ScalarKind& kind) {
  for (ScalarKind k : kAllScalars) {
    if (to_string(k) == name) {
      kind = k;
      return true;
    }
  }
  return false;
}

Type make_scalar_type(ScalarKind kind) {
  Type t;
  t.kind = TypeKind::kScalar;
  t.scalar = kind;
  t.size = scalar_size(kind);
  t.align = t.size;
  t.spelling = std::string(to_string(kind));
  return t;
}

Type make_entity_ref_type() {
  Type t = make_scalar_type(ScalarKind::kU64);
  t.kind = TypeKind::kEntityRef;
  t.spelling = "entity";
  return t;
}

Type make_string_type(std::uint32_t capacity) {
  Type t;
  t.kind = TypeKind::kString;
  t.scalar = ScalarKind::kU8;
  t.size = capacity;
  t.align = 1;
  t.length = capacity;
  t.spelling = "str<" + std::to_string(capacity) + ">";
  return t;
}

Type make_array_type(Type element, std::uint32_t length) {
  Type t;
  t.kind = TypeKind::kArray;
  t.scalar = element.scalar;
  t.size = element.size * length;  // the parser bounds the product before calling
  t.align = element.align;
  t.length = length;
  t.spelling = "[" + element.spelling + "; " + std::to_string(length) + "]";
  t.element = std::make_shared<const Type>(std::move(element));
  return t;
}

Type make_enum_type(const EnumDef& def) {
  Type t = make_scalar_type(def.underlying);
  t.kind = TypeKind::kEnum;
  t.enum_def = &def;
  t.spelling = def.name;
  return t;
}

Type make_struct_type(const StructDef& def) {
  Type t;
  t.kind = TypeKind::kStruct;
  t.size = def.layout.stride;
  t.align = def.layout.align;
  t.struct_def = &def;
  t.spelling = def.name;
  return t;
}

void assign_layout(Layout& layout) {
  layout.row_order.clear();
  for (const Field& f : layout.fields) {
    if (f.stored) layout.row_order.push_back(f.id);
  }
  // Largest alignment first: every field then starts at a multiple of its own alignment with no gap, because
  // each size is a multiple of its alignment and alignments are powers of two.
  std::stable_sort(layout.row_order.begin(), layout.row_order.end(), [&](std::uint16_t a, std::uint16_t b) {
    return layout.fields[a].type.align > layout.fields[b].type.align;
  });
  std::uint32_t offset = 0;
  std::uint32_t align = 1;
  for (std::uint16_t id : layout.row_order) {
    Field& f = layout.fields[id];
    assert(offset % f.type.align == 0);
    f.offset = offset;
    offset += f.type.size;
    align = std::max(align, f.type.align);
  }
  for (Field& f : layout.fields) {
    if (!f.stored) f.offset = 0;
  }
  layout.align = align;
  layout.stride = (offset + align - 1) / align * align;
}

}  // namespace ecsdb::schema_internal
