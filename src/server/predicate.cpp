#include "server/predicate.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "server/json_codec.hpp"
#include "storage/field_codec.hpp"

namespace ecsdb::server {

namespace {

// Index of the operator in `text` and its length; npos when none.
std::pair<std::size_t, std::size_t> find_operator(std::string_view text, CompareOp& op) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (c == '!' && next == '=') { op = CompareOp::kNe; return {i, 2}; }
    if (c == '<') { op = next == '=' ? CompareOp::kLe : CompareOp::kLt; return {i, next == '=' ? 2 : 1}; }
    if (c == '>') { op = next == '=' ? CompareOp::kGe : CompareOp::kGt; return {i, next == '=' ? 2 : 1}; }
    if (c == '=') { op = CompareOp::kEq; return {i, next == '=' ? 2 : 1}; }
  }
  return {std::string_view::npos, 0};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The text of a value as the JSON value that value_from_json reads for `type`.
json::value literal_json(const Type& type, std::string_view text) {
  if (type.kind == TypeKind::kScalar) {
    if (type.scalar == ScalarKind::kBool) {
      if (text == "true") return true;
      if (text == "false") return false;
      return json::string(text);
    }
    if (type.scalar == ScalarKind::kF32 || type.scalar == ScalarKind::kF64) {
      double d = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
      if (ec == std::errc() && p == text.data() + text.size()) return d;
      return json::string(text);  // "NaN", "Infinity" or an error
    }
    return json::string(text);  // integers: decimal strings are accepted for every width
  }
  if (type.kind == TypeKind::kEntityRef && text == "null") return nullptr;
  return json::string(text);
}

double as_double(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kInt: return static_cast<double>(v.integer);
    case Value::Kind::kUInt: return static_cast<double>(v.uinteger);
    case Value::Kind::kFloat: return v.floating;
    default: return 0;
  }
}

}  // namespace

int compare_values(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.kind == K::kUInt && b.kind == K::kUInt) return a.uinteger < b.uinteger ? -1 : a.uinteger > b.uinteger ? 1 : 0;
  if (a.kind == K::kInt && b.kind == K::kInt) return a.integer < b.integer ? -1 : a.integer > b.integer ? 1 : 0;
  if (a.kind == K::kUInt && b.kind == K::kInt) {
    if (b.integer < 0) return 1;
    const auto y = static_cast<std::uint64_t>(b.integer);
    return a.uinteger < y ? -1 : a.uinteger > y ? 1 : 0;
  }
  if (a.kind == K::kInt && b.kind == K::kUInt) return -compare_values(b, a);
  if ((a.kind == K::kFloat || b.kind == K::kFloat) && a.kind != K::kString && b.kind != K::kString) {
    const double x = as_double(a);
    const double y = as_double(b);
    return x < y ? -1 : x > y ? 1 : 0;  // NaN compares equal to everything: sorts stay total
  }
  if (a.kind == K::kString && b.kind == K::kString) return a.string.compare(b.string) < 0 ? -1 : a.string == b.string ? 0 : 1;
  if (a.kind == K::kBool && b.kind == K::kBool) return static_cast<int>(a.boolean) - static_cast<int>(b.boolean);
  if (a.kind == K::kEntity && b.kind == K::kEntity) {
    const std::uint64_t x = a.entity.bits();
    const std::uint64_t y = b.entity.bits();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return 0;
}

Result<Predicate> parse_predicate(const Schema& schema, const Table* table, std::string_view text) {
  Predicate p;
  p.text = std::string(text);
  CompareOp op = CompareOp::kEq;
  const auto [at, len] = find_operator(text, op);
  if (at == std::string_view::npos || at == 0) {
    return invalid_argument("predicate '" + p.text + "': expected FIELD OP VALUE with OP one of = != < <= > >=");
  }
  p.op = op;
  std::string_view name = trim(text.substr(0, at));
  const std::string_view literal = trim(text.substr(at + len));
  if (const std::size_t dot = name.find('.'); dot != std::string_view::npos) {
    const std::string_view table_name = name.substr(0, dot);
    const Table* named = schema.find_table(table_name);
    if (named == nullptr) return not_found("predicate '" + p.text + "': no table named '" + std::string(table_name) + "'");
    if (table != nullptr && named != table) {
      return invalid_argument("predicate '" + p.text + "' names table '" + named->name + "', not '" + table->name + "'");
    }
    table = named;
    name = name.substr(dot + 1);
  }
  if (table == nullptr) return invalid_argument("predicate '" + p.text + "': name the table, as table.field");
  p.table = table;
  p.field = table->find_field(name);
  if (p.field == nullptr || !p.field->stored) {
    return not_found("predicate '" + p.text + "': table '" + table->name + "' has no field '" + std::string(name) +
                     "' stored in its rows");
  }
  const Type& type = p.field->type;
  if (type.kind == TypeKind::kArray || type.kind == TypeKind::kStruct) {
    return invalid_argument("predicate '" + p.text + "': field '" + p.field->name + "' of type " + type.spelling +
                            " cannot be compared");
  }
  const bool ordered = type.kind == TypeKind::kScalar ? type.scalar != ScalarKind::kBool
                                                      : type.kind == TypeKind::kString || type.kind == TypeKind::kEnum;
  if (!ordered && op != CompareOp::kEq && op != CompareOp::kNe) {
    return invalid_argument("predicate '" + p.text + "': " + type.spelling + " supports only = and !=");
  }
  const std::string where = "predicate '" + p.text + "'";
  ECSDB_ASSIGN_OR_RETURN(Value v, value_from_json(type, literal_json(type, literal), where));
  // Normalise through the field's bytes: range checks, enum names, string capacity, float width.
  std::vector<std::byte> bytes(type.size);
  ECSDB_RETURN_IF_ERROR(storage::encode_value(type, v, bytes.data(), where));
  p.value = storage::decode_value(type, bytes.data());
  return p;
}

bool Predicate::matches(const std::byte* row) const {
  if (row == nullptr) return false;
  const Value v = storage::decode_value(field->type, row + field->offset);
  int c = 0;
  if (field->type.kind == TypeKind::kEnum) {
    // By declared value, not by name.
    const EnumDef* e = field->type.enum_def;
    const auto* x = e->find_variant(v.string);
    const auto* y = e->find_variant(value.string);
    const std::int64_t xv = x != nullptr ? x->second : v.integer;
    const std::int64_t yv = y != nullptr ? y->second : value.integer;
    c = xv < yv ? -1 : xv > yv ? 1 : 0;
  } else {
    c = compare_values(v, value);
  }
  switch (op) {
    case CompareOp::kEq: return c == 0;
    case CompareOp::kNe: return c != 0;
    case CompareOp::kLt: return c < 0;
    case CompareOp::kLe: return c <= 0;
    case CompareOp::kGt: return c > 0;
    case CompareOp::kGe: return c >= 0;
  }
  return false;
}

}  // namespace ecsdb::server
