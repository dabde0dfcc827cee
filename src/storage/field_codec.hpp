// FieldCodec — conversion between dynamic Values and the packed bytes of a field, per schema type.
// Used by tools (dynamic access by name); typed game code casts rows instead.
#pragma once

#include <cstddef>
#include <string_view>

#include "ecsdb/schema.hpp"
#include "ecsdb/status.hpp"
#include "ecsdb/value.hpp"

namespace ecsdb::storage {

// Writes `value` as `type` into `out` (type.size bytes). `where` names the field in error messages,
// e.g. "table 'health', field 'hp'".
Status encode_value(const Type& type, const Value& value, std::byte* out, std::string_view where);
Value decode_value(const Type& type, const std::byte* in);

// Writes a field's declared default into `out`; without one, zeros, except the members of a struct that
// declare a default of their own (recursively, in arrays of structs too).
void encode_default(const Field& field, std::byte* out);

}  // namespace ecsdb::storage
