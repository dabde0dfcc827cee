// ecsdb/subscription_filter.hpp — which rows of a subscribed table a replication client receives
// (docs/replication.md, "Filters"; the wire form is docs/protocol.md, "Filters").
//
//   o.tables  = {"transform", "health"};
//   o.filters = {ecsdb::SubscriptionFilter::of_entities({player, ally}),               // every table
//                ecsdb::SubscriptionFilter::where("health", "hp", ecsdb::SubscriptionFilter::Op::kLt,
//                                                 ecsdb::Value::from_int(20))};
//
// A table's rows reach the client when every filter naming it (or naming no table) admits them; a
// subscribed table no filter names sends every row. The server keeps what each client holds: a row that
// starts matching arrives as an insert, one that stops matching as a delete, and a subscription changed on a
// live connection (Replica::set_subscription) sends only that difference. Interest management (spatial
// queries) plugs in as a custom filter the server registers (ReplicationOptions::custom_filters).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ecsdb/entity.hpp"
#include "ecsdb/value.hpp"

namespace ecsdb {

struct SubscriptionFilter {
  enum class Kind : std::uint8_t { kEntities = 1, kField = 2, kCustom = 3 };
  enum class Op : std::uint8_t { kEq = 1, kNe = 2, kLt = 3, kLe = 4, kGt = 5, kGe = 6 };

  Kind kind = Kind::kEntities;
  std::string table;               // empty: every subscribed table (entity sets and custom filters only)
  std::vector<Entity> entities;    // kEntities: rows of these entities (of `many` tables: the rows they own)
  std::string field;               // kField: a scalar field (number, bool, enum, entity, str<N>)
  Op op = Op::kEq;                 // kField; bools, enums, entities and strings take only kEq and kNe
  Value value;                     // kField: an int, uint, float, bool, entity or string (an enum by name)
  std::string name;                // kCustom: a filter the server registered under this name
  std::vector<std::byte> params;   // kCustom: its parameters, in the form that filter defines

  static SubscriptionFilter of_entities(std::vector<Entity> entities, std::string table = {}) {
    SubscriptionFilter f;
    f.kind = Kind::kEntities;
    f.table = std::move(table);
    f.entities = std::move(entities);
    return f;
  }
  static SubscriptionFilter where(std::string table, std::string field, Op op, Value value) {
    SubscriptionFilter f;
    f.kind = Kind::kField;
    f.table = std::move(table);
    f.field = std::move(field);
    f.op = op;
    f.value = std::move(value);
    return f;
  }
  static SubscriptionFilter custom(std::string table, std::string name, std::vector<std::byte> params = {}) {
    SubscriptionFilter f;
    f.kind = Kind::kCustom;
    f.table = std::move(table);
    f.name = std::move(name);
    f.params = std::move(params);
    return f;
  }
  friend bool operator==(const SubscriptionFilter&, const SubscriptionFilter&) = default;
};

}  // namespace ecsdb
