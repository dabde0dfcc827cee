// schema/codegen.hpp — internal: the C++ names `ecsdb codegen` gives to schema objects. The parser uses them
// too, to reject schemas whose generated header would not compile.
#pragma once

#include <string>
#include <string_view>

#include "ecsdb/schema.hpp"

namespace ecsdb::schema_internal {

// "inventory_item" -> "InventoryItem"; never empty, never starting with a digit.
std::string pascal_case(std::string_view table_name);
// The database name as a C++ namespace: "game-db" -> "game_db".
std::string namespace_name(std::string_view database_name);
// The C++ spelling of a field type inside the generated namespace: "std::array<float, 3>".
std::string cpp_type(const Type& type);

}  // namespace ecsdb::schema_internal
