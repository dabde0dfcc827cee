#include "server/transaction_request.hpp"

#include <charconv>
#include <string_view>

#include "server/json_codec.hpp"
#include "storage/field_codec.hpp"

namespace ecsdb::server {

namespace json = boost::json;

namespace {

ApiError op_error(std::size_t index, unsigned status, std::string code, std::string message) {
  ApiError e{status, std::move(code), "operation " + std::to_string(index) + ": " + std::move(message)};
  e.details["op"] = index;
  return e;
}

struct Decoder {
  const Schema& schema;
  const json::array& ops;
  TransactionPlan plan;

  const json::value* member(const json::object& o, std::string_view name) { return o.if_contains(name); }

  std::optional<ApiError> reject_unknown_members(std::size_t i, const json::object& o,
                                                 std::initializer_list<std::string_view> allowed) {
    for (const auto& kv : o) {
      bool ok = false;
      for (std::string_view a : allowed) ok = ok || kv.key() == a;
      if (!ok) {
        return op_error(i, 400, "invalid_json", "unknown member '" + std::string(kv.key()) + "'");
      }
    }
    return std::nullopt;
  }

  ApiResult<const Table*> table_of(std::size_t i, const json::object& o) {
    const json::value* t = member(o, "table");
    if (t == nullptr || !t->is_string()) return op_error(i, 400, "invalid_json", "'table' must be a table name");
    const Table* table = schema.find_table(t->as_string());
    if (table == nullptr) {
      ApiError e = op_error(i, 404, "not_found", "no table named '" + std::string(t->as_string()) + "'");
      e.details["table"] = t->as_string();
      return e;
    }
    if (table->is_entity_table) {
      return op_error(i, 422, "invalid_operation", "table '" + table->name + "' is the entity registry: use create and destroy");
    }
    return table;
  }

  // "entity" (an id or "$N") or, with `allow_key`, "key" (a RowId of a many table).
  ApiResult<Target> target_of(std::size_t i, const json::object& o, const Table* table, bool allow_key) {
    const json::value* e = member(o, "entity");
    const json::value* k = allow_key ? member(o, "key") : nullptr;
    if ((e == nullptr) == (k == nullptr)) {
      return op_error(i, 400, "invalid_json", allow_key ? "give exactly one of 'entity' and 'key'" : "'entity' is required");
    }
    const json::value& v = e != nullptr ? *e : *k;
    if (!v.is_string()) return op_error(i, 400, "invalid_json", "an id is a string \"index:generation\"");
    const std::string_view text = v.as_string();
    Target target;
    if (e != nullptr && !text.empty() && text.front() == '$') {
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(text.data() + 1, text.data() + text.size(), n);
      if (ec != std::errc() || p != text.data() + text.size() || n >= i ||
          plan.ops[n].kind != TransactionOp::Kind::kCreate) {
        return op_error(i, 422, "invalid_operation",
                        "'" + std::string(text) + "' must name an earlier create operation ($N, N < " + std::to_string(i) + ")");
      }
      target.created_by = static_cast<int>(n);
      return target;
    }
    const auto bits = parse_id(text);
    if (!bits) {
      ApiError err = op_error(i, 400, "invalid_value", "'" + std::string(text) + "' is not an id (\"index:generation\", e.g. \"12:1\")");
      err.details["entity"] = text;
      return err;
    }
    if (k != nullptr && table != nullptr && table->cardinality != Cardinality::kMany) {
      return op_error(i, 422, "invalid_operation", "table '" + table->name + "' is keyed by entity: use 'entity'");
    }
    target.bits = *bits;
    return target;
  }

  std::optional<ApiError> values_of(std::size_t i, const json::object& o, const Table& table, bool required, Row& out) {
    const json::value* v = member(o, "values");
    if (v == nullptr) {
      if (required) return op_error(i, 400, "invalid_json", "'values' is required");
      return std::nullopt;
    }
    if (!v->is_object()) return op_error(i, 400, "invalid_json", "'values' must be an object of field: value");
    for (const auto& kv : v->as_object()) {
      const Field* f = table.find_field(kv.key());
      if (f == nullptr || !f->stored) {
        ApiError e = op_error(i, 404, "not_found",
                              "table '" + table.name + "' has no field '" + std::string(kv.key()) + "' to write" +
                                  (f != nullptr ? " (it is the row's key)" : ""));
        e.details["table"] = table.name;
        e.details["field"] = kv.key();
        return e;
      }
      if (auto e = checked_value(i, table, *f, kv.value(), out)) return e;
    }
    return std::nullopt;
  }

  // Converts and range-checks a value through the field's bytes, so that the writer never sees it fail.
  std::optional<ApiError> checked_value(std::size_t i, const Table& table, const Field& f, const json::value& j, Row& out) {
    const std::string where = "table '" + table.name + "', field '" + f.name + "'";
    auto value = value_from_json(f.type, j, where);
    Status s = value.status();
    std::vector<std::byte> bytes(f.type.size);
    if (s.is_ok()) s = storage::encode_value(f.type, *value, bytes.data(), where);
    if (!s.is_ok()) {
      ApiError e = op_error(i, 400, "invalid_value", s.message());
      e.details["table"] = table.name;
      e.details["field"] = f.name;
      return e;
    }
    // Stored as the writer will read it back (integer kinds, float width, enum names): expect compares
    // like with like.
    out.emplace_back(f.name, storage::decode_value(f.type, bytes.data()));
    return std::nullopt;
  }

  std::optional<ApiError> decode(std::size_t i, const json::value& jv) {
    if (!jv.is_object()) return op_error(i, 400, "invalid_json", "an operation is an object with an 'op' member");
    const json::object& o = jv.as_object();
    const json::value* kind = member(o, "op");
    if (kind == nullptr || !kind->is_string()) return op_error(i, 400, "invalid_json", "'op' is required");
    const std::string_view k = kind->as_string();
    TransactionOp op;
    using K = TransactionOp::Kind;
    if (k == "create") {
      if (auto e = reject_unknown_members(i, o, {"op"})) return e;
      op.kind = K::kCreate;
      plan.ops.push_back(std::move(op));
      return std::nullopt;
    }
    if (k == "destroy") {
      if (auto e = reject_unknown_members(i, o, {"op", "entity"})) return e;
      op.kind = K::kDestroy;
      auto t = target_of(i, o, nullptr, false);
      if (auto* e = std::get_if<ApiError>(&t)) return *e;
      op.target = std::get<Target>(t);
      plan.ops.push_back(std::move(op));
      return std::nullopt;
    }
    if (k == "add") op.kind = K::kAdd;
    else if (k == "put") op.kind = K::kPut;
    else if (k == "update") op.kind = K::kUpdate;
    else if (k == "set") op.kind = K::kSet;
    else if (k == "remove") op.kind = K::kRemove;
    else if (k == "expect") op.kind = K::kExpect;
    else {
      return op_error(i, 400, "invalid_json",
                      "unknown op '" + std::string(k) + "' (create, destroy, add, put, update, set, remove, expect)");
    }
    switch (op.kind) {
      case K::kAdd: case K::kPut:
        if (auto e = reject_unknown_members(i, o, {"op", "table", "entity", "values"})) return e;
        break;
      case K::kUpdate:
        if (auto e = reject_unknown_members(i, o, {"op", "table", "entity", "key", "values"})) return e;
        break;
      case K::kSet:
        if (auto e = reject_unknown_members(i, o, {"op", "table", "entity", "key", "field", "value"})) return e;
        break;
      case K::kRemove:
        if (auto e = reject_unknown_members(i, o, {"op", "table", "entity", "key"})) return e;
        break;
      case K::kExpect:
        if (auto e = reject_unknown_members(i, o, {"op", "table", "entity", "key", "values", "absent"})) return e;
        break;
      default: break;
    }
    auto table = table_of(i, o);
    if (auto* e = std::get_if<ApiError>(&table)) return *e;
    op.table = std::get<const Table*>(table);
    const bool many = op.table->cardinality == Cardinality::kMany;
    if (op.kind == K::kPut && many) {
      return op_error(i, 422, "invalid_operation", "put takes a table of cardinality one; '" + op.table->name + "' is many (use add)");
    }
    auto target = target_of(i, o, op.table, op.kind != K::kAdd && op.kind != K::kPut);
    if (auto* e = std::get_if<ApiError>(&target)) return *e;
    op.target = std::get<Target>(target);
    if (many && op.kind != K::kAdd && o.if_contains("entity") != nullptr) {
      return op_error(i, 422, "invalid_operation", "rows of table '" + op.table->name + "' are named by 'key' (their RowId)");
    }
    switch (op.kind) {
      case K::kAdd: case K::kPut:
        if (auto e = values_of(i, o, *op.table, false, op.values)) return e;
        break;
      case K::kUpdate:
        if (auto e = values_of(i, o, *op.table, true, op.values)) return e;
        break;
      case K::kSet: {
        const json::value* f = member(o, "field");
        const json::value* v = member(o, "value");
        if (f == nullptr || !f->is_string() || v == nullptr) {
          return op_error(i, 400, "invalid_json", "set needs 'field' (a name) and 'value'");
        }
        op.field = op.table->find_field(f->as_string());
        if (op.field == nullptr || !op.field->stored) {
          ApiError e = op_error(i, 404, "not_found", "table '" + op.table->name + "' has no field '" +
                                                        std::string(f->as_string()) + "' to set");
          e.details["table"] = op.table->name;
          e.details["field"] = f->as_string();
          return e;
        }
        Row one;
        if (auto e = checked_value(i, *op.table, *op.field, *v, one)) return e;
        op.value = std::move(one.front().second);
        break;
      }
      case K::kExpect: {
        const json::value* absent = member(o, "absent");
        if (absent != nullptr && !absent->is_bool()) return op_error(i, 400, "invalid_json", "'absent' is a bool");
        op.absent = absent != nullptr && absent->as_bool();
        if (op.absent && member(o, "values") != nullptr) {
          return op_error(i, 400, "invalid_json", "expect takes 'values' or 'absent', not both");
        }
        if (!op.absent) {
          if (auto e = values_of(i, o, *op.table, true, op.values)) return e;
        }
        break;
      }
      default: break;
    }
    plan.ops.push_back(std::move(op));
    return std::nullopt;
  }
};

std::uint64_t resolve(const Target& t, const std::vector<std::uint64_t>& created_by_op) {
  return t.created_by >= 0 ? created_by_op[static_cast<std::size_t>(t.created_by)] : t.bits;
}

ApiError failed(std::size_t i, const TransactionOp& op, const Status& s, std::uint64_t key) {
  ApiError e = from_status(s);
  e.message = "operation " + std::to_string(i) + ": " + e.message;
  e.details["op"] = i;
  if (op.table != nullptr) e.details["table"] = op.table->name;
  if (key != 0) e.details["entity"] = id_string(key);
  return e;
}

}  // namespace

ApiResult<TransactionPlan> decode_transaction(const Schema& schema, const json::value& body, std::size_t max_ops) {
  if (!body.is_object()) return bad_request("the body must be an object {\"ops\": [...]}", "invalid_json");
  const json::object& o = body.as_object();
  for (const auto& kv : o) {
    if (kv.key() != "ops") return bad_request("unknown member '" + std::string(kv.key()) + "' (only 'ops')", "invalid_json");
  }
  const json::value* ops = o.if_contains("ops");
  if (ops == nullptr || !ops->is_array()) return bad_request("'ops' must be an array of operations", "invalid_json");
  const json::array& list = ops->as_array();
  if (list.empty()) return ApiError{422, "invalid_operation", "a transaction needs at least one operation"};
  if (list.size() > max_ops) {
    ApiError e{422, "invalid_operation",
               "a transaction takes at most " + std::to_string(max_ops) + " operations (max_ops_per_transaction); got " +
                   std::to_string(list.size())};
    e.details["limit"] = max_ops;
    return e;
  }
  Decoder d{schema, list, {}};
  d.plan.ops.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (auto e = d.decode(i, list[i])) return *e;
  }
  return std::move(d.plan);
}

Status apply_transaction(const TransactionPlan& plan, Transaction& txn, TransactionOutcome& out) {
  using K = TransactionOp::Kind;
  std::vector<std::uint64_t> created_by_op(plan.ops.size(), 0);
  out.created.clear();
  out.rows.clear();
  for (std::size_t i = 0; i < plan.ops.size(); ++i) {
    const TransactionOp& op = plan.ops[i];
    const std::uint64_t key = op.kind == K::kCreate ? 0 : resolve(op.target, created_by_op);
    Status s;
    switch (op.kind) {
      case K::kCreate: {
        Result<Entity> e = txn.create();
        if (e) {
          created_by_op[i] = e->bits();
          out.created.push_back(e->bits());
        }
        s = e.status();
        break;
      }
      case K::kDestroy: s = txn.destroy(Entity::from_bits(key)); break;
      case K::kAdd:
        if (op.table->cardinality == Cardinality::kMany) {
          Result<RowId> r = txn.insert_row(op.table->name, Entity::from_bits(key), op.values);
          if (r) out.rows.push_back(r->bits());
          s = r.status();
        } else {
          s = txn.add_row(op.table->name, Entity::from_bits(key), op.values);
        }
        break;
      case K::kPut: s = txn.put_row(op.table->name, Entity::from_bits(key), op.values); break;
      case K::kUpdate: {
        // Existing row: the given fields change, the others keep their values.
        Result<Row> row = txn.read_row(op.table->name, key);
        s = row.status();
        for (std::size_t f = 0; s.is_ok() && f < op.values.size(); ++f) {
          s = txn.set_field(op.table->name, key, op.values[f].first, op.values[f].second);
        }
        break;
      }
      case K::kSet: s = txn.set_field(op.table->name, key, op.field->name, op.value); break;
      case K::kRemove: s = txn.remove_row(op.table->name, key); break;
      case K::kExpect: {
        Result<Row> row = txn.read_row(op.table->name, key);
        if (op.absent) {
          if (row) {
            out.error = failed(i, op, Status(StatusCode::kConflict, "expected no row in table '" + op.table->name +
                                                                        "' for " + id_string(key) + ", found one"), key);
            out.error->status = 409;
            out.error->code = "precondition_failed";
            return Status(StatusCode::kAborted, out.error->message);
          }
          break;
        }
        if (!row) {
          s = row.status();
          break;
        }
        for (const auto& [name, expected] : op.values) {
          for (const auto& [have_name, have] : *row) {
            if (have_name != name || have == expected) continue;
            out.error = failed(i, op, Status(StatusCode::kConflict,
                                             "expected table '" + op.table->name + "', field '" + name + "' of " +
                                                 id_string(key) + " to be " + expected.to_string() + ", it is " +
                                                 have.to_string()), key);
            out.error->status = 409;
            out.error->code = "precondition_failed";
            out.error->details["field"] = name;
            return Status(StatusCode::kAborted, out.error->message);
          }
        }
        break;
      }
    }
    if (!s.is_ok()) {
      out.error = failed(i, op, s, key);
      return s;
    }
  }
  return Status::ok();
}

}  // namespace ecsdb::server
