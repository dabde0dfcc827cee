// JSON forms of ECSDb values for the HTTP API and the change stream (docs/server.md, "Values in JSON").
//
// Ids: entities and the RowIds of `many` tables are strings "index:generation" ("12:1"); the null entity is
// null. Integers: JSON numbers, except 64-bit values beyond ±2^53, which are decimal strings so that
// JavaScript clients lose nothing (input accepts both). Floats: numbers; NaN and infinities as the strings
// "NaN", "Infinity", "-Infinity". Enums by variant name; str<N> as strings; arrays and structs as arrays and
// objects.
#pragma once

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ecsdb/delta.hpp"
#include "ecsdb/schema.hpp"
#include "ecsdb/status.hpp"
#include "ecsdb/value.hpp"

namespace ecsdb::detail {
struct VersionState;
}

namespace ecsdb::server {

namespace json = boost::json;

std::string id_string(std::uint64_t bits);
// "index:generation" -> bits; nullopt when malformed. Generation 0 parses (no entity ever has it).
std::optional<std::uint64_t> parse_id(std::string_view text);

json::value value_to_json(const Value& v);
// The same, knowing the field's type: f32 values print as their shortest decimal.
json::value field_to_json(const Type& type, const Value& v);
// A JSON value for a field of `type` -> the Value encode_value expects. Errors name `where`.
Result<Value> value_from_json(const Type& type, const json::value& j, std::string_view where);

// The stored fields of one row (bytes of `table`), as {field: value}; `fields` (ids) limits them when not
// empty.
json::object row_values(const Table& table, const std::byte* row, const std::vector<std::uint16_t>& fields = {});
// The fields of `mask`, packed in row order (a delta update), as {field: value}.
json::object packed_values(const Table& table, std::uint64_t mask, const std::byte* packed);
// A Row object of the API: {"key", "owner" (many tables), "values"} read from a version.
json::object row_object(const Table& table, const detail::VersionState& state, std::uint32_t row_index,
                        const std::vector<std::uint16_t>& fields = {});

// The layout of a schema as JSON: the Table objects of GET /api/schema and POST /api/schema/validate.
json::array tables_json(const Schema& schema);
json::array enums_json(const Schema& schema);
// Each struct type with its members' layout (offsets relative to the struct), in declaration order.
json::array structs_json(const Schema& schema);
std::string layout_hash_hex(const Schema& schema);

// One delta as a stream message body (without "type"): {"from", "version", "created", "destroyed", "tables"},
// with the tables whose id is set in `tables_wanted`.
json::object delta_json(const Schema& schema, const Delta& delta, std::uint64_t from_version,
                        const std::vector<bool>& tables_wanted);

}  // namespace ecsdb::server
