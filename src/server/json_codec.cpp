#include "server/json_codec.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "ecsdb/detail/version_state.hpp"
#include "storage/field_codec.hpp"
#include "storage/table_ops.hpp"

namespace ecsdb::server {

namespace {

constexpr std::uint64_t kMaxSafeInteger = 1ull << 53;  // largest integer a JSON number carries exactly in JS

template <typename T>
bool parse_decimal(std::string_view text, T& out) {
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && p == end && !text.empty();
}

Status wrong_kind(std::string_view where, const Type& type, std::string_view got) {
  return invalid_argument(std::string(where) + ": expected " + type.spelling + ", got " + std::string(got));
}

std::string_view json_kind(const json::value& j) {
  switch (j.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a bool";
    case json::kind::int64: case json::kind::uint64: return "an integer";
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "a value";
}

Result<Value> scalar_from_json(const Type& type, const json::value& j, std::string_view where) {
  const ScalarKind k = type.scalar;
  if (k == ScalarKind::kBool) {
    if (!j.is_bool()) return wrong_kind(where, type, json_kind(j));
    return Value::from_bool(j.as_bool());
  }
  if (k == ScalarKind::kF32 || k == ScalarKind::kF64) {
    if (j.is_double()) return Value::from_float(j.as_double());
    if (j.is_int64()) return Value::from_float(static_cast<double>(j.as_int64()));
    if (j.is_uint64()) return Value::from_float(static_cast<double>(j.as_uint64()));
    if (j.is_string()) {
      const std::string_view s = j.as_string();
      if (s == "NaN") return Value::from_float(std::numeric_limits<double>::quiet_NaN());
      if (s == "Infinity") return Value::from_float(std::numeric_limits<double>::infinity());
      if (s == "-Infinity") return Value::from_float(-std::numeric_limits<double>::infinity());
    }
    return wrong_kind(where, type, json_kind(j));
  }
  // Integers: JSON integers, or decimal strings (64-bit values past 2^53).
  if (j.is_int64()) return Value::from_int(j.as_int64());
  if (j.is_uint64()) return Value::from_uint(j.as_uint64());
  if (j.is_double()) {
    const double d = j.as_double();
    if (std::floor(d) != d) return invalid_argument(std::string(where) + ": " + type.spelling + " takes integers");
    return Value::from_float(d);  // range-checked by encode_value
  }
  if (j.is_string()) {
    const std::string_view s = j.as_string();
    if (std::uint64_t u = 0; parse_decimal(s, u)) return Value::from_uint(u);
    if (std::int64_t i = 0; parse_decimal(s, i)) return Value::from_int(i);
    return invalid_argument(std::string(where) + ": '" + std::string(s) + "' is not a decimal " + type.spelling);
  }
  return wrong_kind(where, type, json_kind(j));
}

}  // namespace

std::string id_string(std::uint64_t bits) {
  return std::to_string(static_cast<std::uint32_t>(bits)) + ":" + std::to_string(bits >> 32);
}

std::optional<std::uint64_t> parse_id(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::uint32_t index = 0;
  std::uint32_t generation = 0;
  if (!parse_decimal(text.substr(0, colon), index) || !parse_decimal(text.substr(colon + 1), generation)) {
    return std::nullopt;
  }
  // Generation 0 is well formed but never alive ("0:0" is the null entity): lookups answer "not found".
  return static_cast<std::uint64_t>(generation) << 32 | index;
}

json::value value_to_json(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull: return nullptr;
    case Value::Kind::kBool: return v.boolean;
    case Value::Kind::kInt:
      if (v.integer > static_cast<std::int64_t>(kMaxSafeInteger) || v.integer < -static_cast<std::int64_t>(kMaxSafeInteger)) {
        return json::string(std::to_string(v.integer));
      }
      return v.integer;
    case Value::Kind::kUInt:
      if (v.uinteger > kMaxSafeInteger) return json::string(std::to_string(v.uinteger));
      return v.uinteger;
    case Value::Kind::kFloat:
      if (std::isnan(v.floating)) return "NaN";
      if (std::isinf(v.floating)) return v.floating > 0 ? "Infinity" : "-Infinity";
      return v.floating;
    case Value::Kind::kString: return json::string(v.string);
    case Value::Kind::kEntity:
      if (v.entity.is_null()) return nullptr;
      return json::string(id_string(v.entity.bits()));
    case Value::Kind::kArray: {
      json::array a;
      a.reserve(v.elements.size());
      for (const Value& e : v.elements) a.push_back(value_to_json(e));
      return a;
    }
    case Value::Kind::kStruct: {
      json::object o;
      for (const auto& [name, field] : v.fields) o[name] = value_to_json(field);
      return o;
    }
  }
  return nullptr;
}

Result<Value> value_from_json(const Type& type, const json::value& j, std::string_view where) {
  switch (type.kind) {
    case TypeKind::kScalar: return scalar_from_json(type, j, where);
    case TypeKind::kEnum:
      if (j.is_string()) return Value::from_string(std::string(j.as_string()));
      if (j.is_int64()) return Value::from_int(j.as_int64());
      return wrong_kind(where, type, json_kind(j));
    case TypeKind::kString:
      if (!j.is_string()) return wrong_kind(where, type, json_kind(j));
      return Value::from_string(std::string(j.as_string()));
    case TypeKind::kEntityRef: {
      if (j.is_null()) return Value::from_entity(Entity::null());
      if (!j.is_string()) return wrong_kind(where, type, json_kind(j));
      const auto bits = parse_id(j.as_string());
      if (!bits) {
        return invalid_argument(std::string(where) + ": '" + std::string(j.as_string()) +
                                "' is not an entity id (\"index:generation\", e.g. \"12:1\")");
      }
      return Value::from_entity(Entity::from_bits(*bits));
    }
    case TypeKind::kArray: {
      if (!j.is_array()) return wrong_kind(where, type, json_kind(j));
      const json::array& a = j.as_array();
      if (a.size() != type.length) {
        return invalid_argument(std::string(where) + ": expected " + std::to_string(type.length) + " elements for " +
                                type.spelling + ", got " + std::to_string(a.size()));
      }
      Value v;
      v.kind = Value::Kind::kArray;
      v.elements.reserve(a.size());
      for (std::size_t i = 0; i < a.size(); ++i) {
        ECSDB_ASSIGN_OR_RETURN(Value e, value_from_json(*type.element, a[i], std::string(where) + "[" + std::to_string(i) + "]"));
        v.elements.push_back(std::move(e));
      }
      return v;
    }
    case TypeKind::kStruct: {
      if (!j.is_object()) return wrong_kind(where, type, json_kind(j));
      const json::object& o = j.as_object();
      const Layout& layout = type.struct_def->layout;
      for (const auto& kv : o) {
        if (layout.find_field(kv.key()) == nullptr) {
          return invalid_argument(std::string(where) + ": struct " + type.spelling + " has no field '" +
                                  std::string(kv.key()) + "'");
        }
      }
      Value v;
      v.kind = Value::Kind::kStruct;
      for (const Field& f : layout.fields) {
        const json::value* member = o.if_contains(f.name);
        if (member == nullptr) {
          return invalid_argument(std::string(where) + ": struct " + type.spelling + " needs field '" + f.name + "'");
        }
        ECSDB_ASSIGN_OR_RETURN(Value e, value_from_json(f.type, *member, std::string(where) + "." + f.name));
        v.fields.emplace_back(f.name, std::move(e));
      }
      return v;
    }
  }
  return invalid_argument(std::string(where) + ": unsupported type " + type.spelling);
}

json::value field_to_json(const Type& type, const Value& v) {
  if (type.kind == TypeKind::kEnum) {
    // By variant name; a stored value no variant has (written by an older schema) stays a number.
    if (!v.string.empty()) return json::string(v.string);
    return v.integer;
  }
  if (type.kind == TypeKind::kScalar && type.scalar == ScalarKind::kF32 && v.kind == Value::Kind::kFloat &&
      std::isfinite(v.floating)) {
    // The shortest decimal that reads back as the same f32 (0.1f prints as 0.1, not 0.10000000149011612).
    char buf[32];
    const auto f = static_cast<float>(v.floating);
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, f);
    double d = v.floating;
    if (ec == std::errc()) std::from_chars(buf, end, d);
    return d;
  }
  if (type.kind == TypeKind::kArray && v.kind == Value::Kind::kArray) {
    json::array a;
    a.reserve(v.elements.size());
    for (const Value& e : v.elements) a.push_back(field_to_json(*type.element, e));
    return a;
  }
  if (type.kind == TypeKind::kStruct && v.kind == Value::Kind::kStruct) {
    json::object o;
    for (const auto& [name, member] : v.fields) {
      const Field* f = type.struct_def->layout.find_field(name);
      o[name] = f != nullptr ? field_to_json(f->type, member) : value_to_json(member);
    }
    return o;
  }
  return value_to_json(v);
}

json::object row_values(const Table& table, const std::byte* row, const std::vector<std::uint16_t>& fields) {
  json::object o;
  auto put = [&](const Field& f) {
    if (f.stored && row != nullptr) o[f.name] = field_to_json(f.type, storage::decode_value(f.type, row + f.offset));
  };
  if (fields.empty()) {
    for (const Field& f : table.layout.fields) put(f);
  } else {
    for (std::uint16_t id : fields) put(table.layout.fields[id]);
  }
  return o;
}

json::object packed_values(const Table& table, std::uint64_t mask, const std::byte* packed) {
  // Packed bytes follow row order (Layout::row_order), each field's bytes in turn.
  json::object o;
  std::size_t at = 0;
  for (std::uint16_t id : table.layout.row_order) {
    const Field& f = table.layout.fields[id];
    if ((mask & field_bit(f.id)) == 0) continue;
    o[f.name] = field_to_json(f.type, storage::decode_value(f.type, packed + at));
    at += f.type.size;
  }
  return o;
}

json::object row_object(const Table& table, const detail::VersionState& state, std::uint32_t row_index,
                        const std::vector<std::uint16_t>& fields) {
  const detail::TableState& ts = state.tables[table.id];
  json::object o;
  o["key"] = id_string(storage::row_key(ts, row_index, state.registry));
  if (table.cardinality == Cardinality::kMany) {
    const std::uint64_t owner = storage::row_owner(ts, row_index, state.registry);
    o["owner"] = owner == 0 ? json::value(nullptr) : json::value(id_string(owner));
  }
  o["values"] = row_values(table, ts.stride == 0 ? nullptr : ts.rows.at(row_index), fields);
  return o;
}

std::string layout_hash_hex(const Schema& schema) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(schema.layout_hash()));
  return buf;
}

namespace {

std::string_view kind_name(TypeKind k) {
  switch (k) {
    case TypeKind::kScalar: return "scalar";
    case TypeKind::kArray: return "array";
    case TypeKind::kEnum: return "enum";
    case TypeKind::kStruct: return "struct";
    case TypeKind::kString: return "string";
    case TypeKind::kEntityRef: return "entity_ref";
  }
  return "scalar";
}

json::value default_json(const Field& f) {
  if (!f.default_value) return nullptr;
  const DefaultValue& d = *f.default_value;
  switch (d.kind) {
    case DefaultValue::Kind::kInteger: return d.integer;
    case DefaultValue::Kind::kFloat: return d.floating;
    case DefaultValue::Kind::kBool: return d.boolean;
    case DefaultValue::Kind::kString: return json::string(d.string);
  }
  return nullptr;
}

// A layout's fields (a table's or a struct's), as the Field objects of the API.
json::array fields_json(const Layout& layout) {
  json::array fields;
  for (const Field& f : layout.fields) {
    fields.push_back(json::object{
        {"name", f.name},
        {"id", f.id},
        {"type", f.type.spelling},
        {"kind", kind_name(f.type.kind)},
        {"offset", f.offset},
        {"size", f.type.size},
        {"align", f.type.align},
        {"stored", f.stored},
        {"owner_key", f.is_owner_key},
        {"unique", f.unique},
        {"deprecated", f.deprecated},
        {"foreign_key", f.foreign_key ? json::value(f.foreign_key->table + "." + f.foreign_key->field) : json::value(nullptr)},
        {"default", default_json(f)},
    });
  }
  return fields;
}

}  // namespace

json::array tables_json(const Schema& schema) {
  json::array tables;
  for (const Table& t : schema.tables) {
    tables.push_back(json::object{
        {"name", t.name},
        {"id", t.id},
        {"cardinality", to_string(t.cardinality)},
        {"parent_table", t.parent_table.empty() ? json::value(nullptr) : json::value(t.parent_table)},
        {"stride", t.layout.stride},
        {"align", t.layout.align},
        {"fields", fields_json(t.layout)},
    });
  }
  return tables;
}

json::array structs_json(const Schema& schema) {
  json::array structs;
  for (const auto& st : schema.structs) {
    structs.push_back(json::object{
        {"name", st->name},
        {"size", st->layout.stride},
        {"align", st->layout.align},
        {"fields", fields_json(st->layout)},
    });
  }
  return structs;
}

json::array enums_json(const Schema& schema) {
  json::array enums;
  for (const auto& e : schema.enums) {
    json::array variants;
    for (const auto& [name, value] : e->variants) variants.push_back(json::object{{"name", name}, {"value", value}});
    enums.push_back(json::object{{"name", e->name}, {"underlying", to_string(e->underlying)}, {"variants", std::move(variants)}});
  }
  return enums;
}

json::object delta_json(const Schema& schema, const Delta& delta, std::uint64_t from_version,
                        const std::vector<bool>& tables_wanted) {
  json::object msg;
  msg["from"] = from_version;
  msg["version"] = delta.version;
  json::array created;
  for (Entity e : delta.created) created.push_back(json::string(id_string(e.bits())));
  json::array destroyed;
  for (Entity e : delta.destroyed) destroyed.push_back(json::string(id_string(e.bits())));
  msg["created"] = std::move(created);
  msg["destroyed"] = std::move(destroyed);
  json::object tables;
  for (const TableDelta& td : delta.tables) {
    if (td.table >= tables_wanted.size() || !tables_wanted[td.table]) continue;
    const Table& table = schema.tables[td.table];
    const bool many = table.cardinality == Cardinality::kMany;
    json::array inserted;
    for (std::size_t i = 0; i < td.inserted_keys.size(); ++i) {
      json::object row;
      row["key"] = id_string(td.inserted_keys[i]);
      if (many) {
        const std::uint64_t owner = i < td.inserted_owners.size() ? td.inserted_owners[i] : 0;
        row["owner"] = owner == 0 ? json::value(nullptr) : json::value(id_string(owner));
      }
      row["values"] = row_values(table, table.stride() == 0 ? nullptr : td.inserted_rows.data() + i * table.stride());
      inserted.push_back(std::move(row));
    }
    json::array updated;
    for (const RowUpdate& u : td.updates) {
      updated.push_back(json::object{{"key", id_string(u.key)},
                                     {"values", packed_values(table, u.field_mask, delta.bytes_of(td, u))}});
    }
    json::array removed;
    for (std::uint64_t k : td.deleted_keys) removed.push_back(json::string(id_string(k)));
    tables[table.name] = json::object{{"inserted", std::move(inserted)}, {"updated", std::move(updated)}, {"removed", std::move(removed)}};
  }
  msg["tables"] = std::move(tables);
  return msg;
}

}  // namespace ecsdb::server
