// ecsdb/value.hpp — a dynamically typed field value, for tools, the CLI and the HTTP API.
//
// Typed game code never needs it: it reads rows as bound structs. Values convert to and from row bytes
// according to the schema type; a value of the wrong kind or out of range is an error naming the field.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ecsdb/entity.hpp"

namespace ecsdb {

struct Value {
  enum class Kind : std::uint8_t { kNull, kBool, kInt, kUInt, kFloat, kString, kEntity, kArray, kStruct };

  Kind kind = Kind::kNull;
  bool boolean = false;
  std::int64_t integer = 0;        // kInt; also an enum's value
  std::uint64_t uinteger = 0;      // kUInt
  double floating = 0;             // kFloat
  std::string string;              // kString; also an enum's variant name when read
  Entity entity;                   // kEntity
  std::vector<Value> elements;                        // kArray
  std::vector<std::pair<std::string, Value>> fields;  // kStruct, in declaration order

  static Value null() { return {}; }
  static Value from_bool(bool b) { Value v; v.kind = Kind::kBool; v.boolean = b; return v; }
  static Value from_int(std::int64_t i) { Value v; v.kind = Kind::kInt; v.integer = i; return v; }
  static Value from_uint(std::uint64_t u) { Value v; v.kind = Kind::kUInt; v.uinteger = u; return v; }
  static Value from_float(double d) { Value v; v.kind = Kind::kFloat; v.floating = d; return v; }
  static Value from_string(std::string s) { Value v; v.kind = Kind::kString; v.string = std::move(s); return v; }
  static Value from_entity(Entity e) { Value v; v.kind = Kind::kEntity; v.entity = e; return v; }

  // Readable form, e.g. 42, 1.5, "name", [1, 2, 3], {x: 1, y: 2}, entity(3v1).
  std::string to_string() const;
  friend bool operator==(const Value&, const Value&) = default;
};

// A whole row as field name -> value, in declaration order (the owner key excluded).
using Row = std::vector<std::pair<std::string, Value>>;

}  // namespace ecsdb
