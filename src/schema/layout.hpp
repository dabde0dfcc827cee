// schema/layout.hpp — internal: building field types and assigning the row layout (docs/schema.md, "Layout").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ecsdb/schema.hpp"

namespace ecsdb::schema_internal {

// Types as the layout sees them: size and alignment are filled in, spelling is canonical.
Type make_scalar_type(ScalarKind kind);
Type make_entity_ref_type();
Type make_string_type(std::uint32_t capacity);
Type make_array_type(Type element, std::uint32_t length);
Type make_enum_type(const EnumDef& def);
Type make_struct_type(const StructDef& def);

// "u32" -> kU32; false for anything else.
bool parse_scalar_kind(std::string_view name, ScalarKind& kind);

// Assigns offsets, row_order, stride and align from the fields' types and `stored` flags:
// stored fields sorted by alignment, largest first (declaration order among equals), packed back to back,
// stride rounded up to the largest alignment; 0 when nothing is stored.
// REQUIRES: every field's type has size a multiple of its align (true of every Type made above).
void assign_layout(Layout& layout);

}  // namespace ecsdb::schema_internal
