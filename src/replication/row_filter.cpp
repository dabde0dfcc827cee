#include "replication/row_filter.hpp"

#include <string>
#include <unordered_set>

#include "storage/field_codec.hpp"

namespace ecsdb::replication {
namespace {

using Op = SubscriptionFilter::Op;

class EntitySetFilter final : public RowFilter {
 public:
  explicit EntitySetFilter(const std::vector<Entity>& entities) {
    for (Entity e : entities) bits_.insert(e.bits());
  }
  bool admits(Entity entity, const std::byte*) const override { return bits_.contains(entity.bits()); }

 private:
  std::unordered_set<std::uint64_t> bits_;
};

bool numeric(Value::Kind k) { return k == Value::Kind::kInt || k == Value::Kind::kUInt || k == Value::Kind::kFloat; }

// -1, 0, 1; REQUIRES: both numeric. Integers compare exactly (a u64 past 2^63 against a negative i64 too).
int compare_numbers(const Value& a, const Value& b) {
  if (a.kind != Value::Kind::kFloat && b.kind != Value::Kind::kFloat) {
    const bool a_negative = a.kind == Value::Kind::kInt && a.integer < 0;
    const bool b_negative = b.kind == Value::Kind::kInt && b.integer < 0;
    if (a_negative != b_negative) return a_negative ? -1 : 1;
    if (a_negative) return a.integer < b.integer ? -1 : a.integer > b.integer ? 1 : 0;
    const auto magnitude = [](const Value& v) { return v.kind == Value::Kind::kInt ? static_cast<std::uint64_t>(v.integer) : v.uinteger; };
    const std::uint64_t x = magnitude(a), y = magnitude(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const auto real = [](const Value& v) {
    return v.kind == Value::Kind::kFloat ? static_cast<long double>(v.floating)
           : v.kind == Value::Kind::kInt ? static_cast<long double>(v.integer)
                                         : static_cast<long double>(v.uinteger);
  };
  const long double x = real(a), y = real(b);
  return x < y ? -1 : x > y ? 1 : 0;  // NaN compares equal to nothing and is neither less nor greater
}

class FieldFilter final : public RowFilter {
 public:
  FieldFilter(const Field& field, Op op, Value value) : type_(field.type), offset_(field.offset), op_(op), value_(std::move(value)) {}

  bool admits(Entity, const std::byte* row) const override {
    const Value v = storage::decode_value(type_, row + offset_);
    if (numeric(v.kind)) {
      if (v.kind == Value::Kind::kFloat && v.floating != v.floating) return op_ == Op::kNe;  // NaN
      const int c = compare_numbers(v, value_);
      switch (op_) {
        case Op::kEq: return c == 0;
        case Op::kNe: return c != 0;
        case Op::kLt: return c < 0;
        case Op::kLe: return c <= 0;
        case Op::kGt: return c > 0;
        case Op::kGe: return c >= 0;
      }
      return false;
    }
    const bool equal = v == value_;
    return op_ == Op::kEq ? equal : !equal;
  }

 private:
  Type type_;
  std::uint32_t offset_;
  Op op_;
  Value value_;
};

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::kBool: return "a bool";
    case Value::Kind::kInt:
    case Value::Kind::kUInt:
    case Value::Kind::kFloat: return "a number";
    case Value::Kind::kString: return "a string";
    case Value::Kind::kEntity: return "an entity";
    default: return "a value of another kind";
  }
}

Result<std::shared_ptr<const RowFilter>> field_filter(const Table& t, const SubscriptionFilter& f, const std::string& at) {
  const Field* field = t.find_field(f.field);
  if (field == nullptr) return Status(StatusCode::kNotFound, at + "table '" + t.name + "' has no field '" + f.field + "'");
  if (!field->stored) {
    return invalid_argument(at + "field '" + t.name + "." + f.field + "' is the row's key, not stored in the row: filter by an entity set instead");
  }
  if (field->type.kind == TypeKind::kEnum) {
    // An enum compares by variant (== and != only), named or by its number.
    if (f.op != Op::kEq && f.op != Op::kNe) {
      return invalid_argument(at + "field '" + t.name + "." + f.field + "' (" + field->type.spelling + ") takes only == and !=");
    }
    Value v = f.value;
    if (v.kind == Value::Kind::kString) {
      const auto* variant = field->type.enum_def->find_variant(v.string);
      if (variant == nullptr) {
        std::string names;
        for (const auto& [n, x] : field->type.enum_def->variants) names += (names.empty() ? "" : ", ") + n;
        return invalid_argument(at + "'" + v.string + "' is not a variant of " + field->type.spelling + " (" + names + ")");
      }
      v = Value::from_int(variant->second);
    } else if (!numeric(v.kind)) {
      return invalid_argument(at + "field '" + t.name + "." + f.field + "' (" + field->type.spelling + ") compared with " + kind_name(v.kind));
    }
    return std::shared_ptr<const RowFilter>(std::make_shared<FieldFilter>(*field, f.op, std::move(v)));
  }
  // The field's kind is what decoding it gives: numbers, bools, entity references, enums (by variant name)
  // and str<N> compare; arrays and structs do not.
  std::vector<std::byte> zero(field->type.size, std::byte{0});
  const Value sample = storage::decode_value(field->type, zero.data());
  const bool field_numeric = numeric(sample.kind);
  if (!field_numeric && sample.kind != Value::Kind::kBool && sample.kind != Value::Kind::kEntity && sample.kind != Value::Kind::kString) {
    return invalid_argument(at + "field '" + t.name + "." + f.field + "' is a " + field->type.spelling + ": only scalar fields can be filtered on");
  }
  if (field_numeric != numeric(f.value.kind) || (!field_numeric && sample.kind != f.value.kind)) {
    return invalid_argument(at + "field '" + t.name + "." + f.field + "' (" + field->type.spelling + ") compared with " + kind_name(f.value.kind));
  }
  if (!field_numeric && f.op != Op::kEq && f.op != Op::kNe) {
    return invalid_argument(at + "field '" + t.name + "." + f.field + "' (" + field->type.spelling + ") takes only == and !=");
  }
  return std::shared_ptr<const RowFilter>(std::make_shared<FieldFilter>(*field, f.op, f.value));
}

}  // namespace

Result<TableFilters> TableFilters::compile(const Schema& schema, const std::vector<bool>& tables,
                                           const std::vector<SubscriptionFilter>& filters, const ReplicationOptions& options) {
  TableFilters out;
  out.by_table_.resize(schema.tables.size());
  std::size_t entities = 0;
  for (std::size_t i = 0; i < filters.size(); ++i) {
    const SubscriptionFilter& f = filters[i];
    const std::string at = "filter " + std::to_string(i) + ": ";
    std::vector<const Table*> targets;
    if (f.table.empty()) {
      if (f.kind == SubscriptionFilter::Kind::kField) return invalid_argument(at + "a field comparison must name its table");
      for (const Table& t : schema.tables) {
        if (tables[t.id]) targets.push_back(&t);
      }
    } else {
      const Table* t = schema.find_table(f.table);
      if (t == nullptr) return Status(StatusCode::kNotFound, at + "unknown table '" + f.table + "'");
      if (!tables[t->id]) return invalid_argument(at + "table '" + f.table + "' is not subscribed");
      targets.push_back(t);
    }
    std::shared_ptr<const RowFilter> shared;  // an entity set, built once for all its tables
    for (const Table* t : targets) {
      std::shared_ptr<const RowFilter> made;
      switch (f.kind) {
        case SubscriptionFilter::Kind::kEntities:
          if (shared == nullptr) {
            entities += f.entities.size();
            if (entities > options.max_filter_entities) {
              return Status(StatusCode::kResourceExhausted, at + "more than " + std::to_string(options.max_filter_entities) +
                                                                " entities in entity-set filters");
            }
            shared = std::make_shared<EntitySetFilter>(f.entities);
          }
          made = shared;
          break;
        case SubscriptionFilter::Kind::kField: {
          auto compiled = field_filter(*t, f, at);
          if (!compiled) return compiled.status();
          made = std::move(*compiled);
          break;
        }
        case SubscriptionFilter::Kind::kCustom: {
          auto it = options.custom_filters.find(f.name);
          if (it == options.custom_filters.end()) return Status(StatusCode::kNotFound, at + "no filter named '" + f.name + "' on this server");
          auto custom = it->second(*t, f.params);
          if (!custom) return Status(custom.status().code(), at + "'" + f.name + "' for table '" + t->name + "': " + custom.status().message());
          if (*custom == nullptr) return Status(StatusCode::kInternal, at + "filter '" + f.name + "' made nothing");
          made = std::move(*custom);
          break;
        }
      }
      out.by_table_[t->id].push_back(std::move(made));
      out.any_ = true;
    }
  }
  return out;
}

}  // namespace ecsdb::replication
