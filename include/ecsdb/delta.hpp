// ecsdb/delta.hpp — what a commit changed, as data: the input of subscriptions, the WAL and replication.
//
// A Delta lists, per table, the rows inserted (whole row bytes), the rows updated (a mask of the changed
// fields and only those fields' bytes, concatenated in row order) and the keys deleted, plus the entities
// created and destroyed. Deltas of consecutive commits coalesce (Delta::merge): insert+update -> insert,
// insert+delete -> nothing, update+update -> masks OR-ed, last value wins.
//
// Field masks: bit i = field id i (declaration order, Field::id). Tables with more than 64 fields set
// bit 63 for any change to fields 63 and above (their bytes are then all carried).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ecsdb/entity.hpp"
#include "ecsdb/schema.hpp"

namespace ecsdb {

struct RowUpdate {
  std::uint64_t key;         // Entity bits (cardinality one) or RowId bits (many)
  std::uint64_t field_mask;  // changed fields
  std::uint32_t offset;      // into TableDelta::update_bytes
  std::uint32_t size;        // bytes of the changed fields, in row order
};

// One row insertion or removal, for TableDelta::sequence.
struct RowOp {
  std::uint64_t key;
  std::uint64_t owner;  // cardinality many: the owning entity of an inserted row; else 0
  bool insert;
};

struct TableDelta {
  std::uint16_t table = 0;
  std::vector<std::uint64_t> inserted_keys;
  std::vector<std::uint64_t> inserted_owners;  // cardinality many: owning entity per inserted row
  std::vector<std::byte> inserted_rows;        // stride bytes per inserted key, same order
  std::vector<RowUpdate> updates;
  std::vector<std::byte> update_bytes;
  std::vector<std::uint64_t> deleted_keys;
  // Row order. Rows are dense: an insert appends, a delete moves the last row into the hole. Replaying
  // deleted_keys in order, then inserted_keys in order, gives the same row order as the commit whenever
  // it removed every row before inserting any and touched each key once; deleted_keys and inserted_keys
  // are listed in the order the commit made them. Otherwise `sequence` lists every insertion and removal
  // in commit order (including rows inserted and removed, or replaced, within the commit), so recovery
  // reproduces iteration order exactly — lockstep and deterministic simulations depend on it. Not
  // carried through merge(): coalesced deltas describe content, not row order.
  std::vector<RowOp> sequence;

  bool empty() const noexcept {
    return inserted_keys.empty() && updates.empty() && deleted_keys.empty() && sequence.empty();
  }
};

struct Delta {
  std::uint64_t first_commit = 0;   // commit sequence numbers covered (1-based, inclusive)
  std::uint64_t last_commit = 0;
  std::uint64_t version = 0;        // the published version that made these commits visible
  std::vector<Entity> created;
  std::vector<Entity> destroyed;
  std::vector<TableDelta> tables;   // only tables that changed, ascending table id

  bool empty() const noexcept;
  const TableDelta* find(std::uint16_t table) const noexcept;
  // Coalesces `later` (the next commits) into this delta. REQUIRES: same schema.
  void merge(const Delta& later, const Schema& schema);
  // Bytes of the changed fields of `u`, in row order.
  const std::byte* bytes_of(const TableDelta& t, const RowUpdate& u) const noexcept {
    return t.update_bytes.data() + u.offset;
  }
};

// Writes the masked fields' bytes of a whole row image `row` into `out` (in row order); returns the size.
std::uint32_t pack_fields(const Table& table, std::uint64_t mask, const std::byte* row, std::byte* out);
// Inverse: copies packed bytes for `mask` into a row image.
void unpack_fields(const Table& table, std::uint64_t mask, const std::byte* packed, std::byte* row);
// Bit of field `id` in a field mask.
constexpr std::uint64_t field_bit(std::uint16_t id) noexcept { return 1ull << (id < 63 ? id : 63); }
// The mask of every stored field of `table` (a whole row).
std::uint64_t stored_fields_mask(const Table& table) noexcept;

}  // namespace ecsdb
