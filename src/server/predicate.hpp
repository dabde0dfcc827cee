// Field predicates of the HTTP API and the stream: `where=hp<50`, `health.hp>=10`, `name=orc`.
//
// Grammar: [TABLE "."] FIELD OP VALUE, OP one of = != < <= > >=. VALUE is read by the field's type: numbers,
// true/false, enum variant names, strings as written (no quotes), entity ids "index:generation" (or "null").
// Comparisons: numbers numerically (integers exactly, including 64-bit), strings and enum names by bytes
// (enums compare by declared value), bools and entity ids only with = and !=. Arrays and structs cannot be
// compared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ecsdb/schema.hpp"
#include "ecsdb/status.hpp"
#include "ecsdb/value.hpp"

namespace ecsdb::server {

enum class CompareOp : std::uint8_t { kEq, kNe, kLt, kLe, kGt, kGe };

struct Predicate {
  const Table* table = nullptr;
  const Field* field = nullptr;
  CompareOp op = CompareOp::kEq;
  Value value;          // already of the field's kind (as decode_value returns it)
  std::string text;     // as written, for messages

  // True when the field of `row` (the row's bytes) satisfies the predicate.
  bool matches(const std::byte* row) const;
};

// Parses `text`. With `table` given, the field is looked up in it and a "table." prefix must name it;
// with `table` null, the prefix is required and names the table in `schema`.
Result<Predicate> parse_predicate(const Schema& schema, const Table* table, std::string_view text);

// Orders two field values of the same field (for sorting); <0, 0, >0.
int compare_values(const Value& a, const Value& b);

}  // namespace ecsdb::server
