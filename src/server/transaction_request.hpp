// The body of POST /api/transactions: decoded and checked completely on the network thread (JSON shape,
// tables, fields, value types and ranges, op references), so that nothing reaches the writer half-checked;
// then applied as one transaction on the writer. docs/server.md, "Transactions".
#pragma once

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ecsdb/schema.hpp"
#include "ecsdb/transaction.hpp"
#include "ecsdb/value.hpp"
#include "server/api_error.hpp"

namespace ecsdb::server {

// An entity or row named by an op: an id, or "$N", the entity created by op N.
struct Target {
  std::uint64_t bits = 0;
  int created_by = -1;  // op index of the create, or -1
};

struct TransactionOp {
  enum class Kind : std::uint8_t { kCreate, kDestroy, kAdd, kPut, kUpdate, kSet, kRemove, kExpect };
  Kind kind = Kind::kCreate;
  const Table* table = nullptr;
  Target target;
  const Field* field = nullptr;  // kSet
  Value value;                   // kSet
  Row values;                    // kAdd, kPut, kUpdate, kExpect (stored fields only, checked)
  bool absent = false;           // kExpect: the row must not exist
};

struct TransactionPlan {
  std::vector<TransactionOp> ops;
};

struct Limits;

// Decodes {"ops": [...]}; errors carry details.op (the op index), table and field.
ApiResult<TransactionPlan> decode_transaction(const Schema& schema, const boost::json::value& body,
                                              std::size_t max_ops);

// What applying a plan produced: the created entities and inserted child rows, in op order, or the error
// that rolled it back (with its op index).
struct TransactionOutcome {
  std::vector<std::uint64_t> created;
  std::vector<std::uint64_t> rows;
  std::optional<ApiError> error;
};

// Runs on the writer: applies every op in order. Returns non-ok (and sets out.error) to roll back.
Status apply_transaction(const TransactionPlan& plan, Transaction& txn, TransactionOutcome& out);

}  // namespace ecsdb::server
