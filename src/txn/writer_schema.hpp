// WriterSchema — what the writer needs to know about each table, precomputed once from the schema: row
// stride, cardinality, owner, the reference, unique and auto-increment fields, the default row, and the
// reference columns that keep a reverse index in every version. Immutable once built: any thread may read it.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ecsdb/entity.hpp"
#include "ecsdb/schema.hpp"

namespace ecsdb::detail {

// What the writer needs to know about a table, precomputed from the schema.
struct TableInfo {
  const Table* table = nullptr;
  std::uint32_t stride = 0;
  bool many = false;
  bool owned = false;                         // has an owning entity (parent_table = entities)
  struct RefField { const Field* field; std::uint32_t offset; };
  std::vector<RefField> refs;                 // stored entity references (foreign keys), owner excluded
  struct UniqueField { const Field* field; std::uint32_t offset; std::uint32_t size; };
  std::vector<UniqueField> uniques;
  std::vector<const Field*> auto_increments;
  std::vector<std::byte> default_row;         // defaults of every stored field
  std::vector<std::uint16_t> ref_columns;     // this table's reference columns (WriterSchema ref column ids)
  // No reference, unique or auto-increment field, cardinality one, not the entity table: a single write
  // that succeeded cannot fail at commit, so an implicit transaction may apply it in place
  // (TransactionWriter::implicit_write).
  bool plain = false;
};

// A column whose values are entity references, with a reverse index in every version: an entity-ref
// field, or the owner column of a `many` table with a parent.
struct RefColumn {
  std::uint16_t table;
  bool owner;              // the owner column (targets from TableState::owners), else a field of the row
  std::uint32_t offset;    // of the field in the row
  const Field* field;      // the field (for the owner column: the table's owner key field, may be null)
};

// An entity as error messages name it: "entity 7v2" (index, generation).
std::string entity_name(Entity e);

// The entity reference stored at `offset` of a row (rows are packed: the field may be unaligned).
inline std::uint64_t load_ref(const std::byte* row, std::uint32_t offset) noexcept {
  std::uint64_t v;
  std::memcpy(&v, row + offset, sizeof v);
  return v;
}

class WriterSchema {
 public:
  explicit WriterSchema(const Schema& schema);

  std::size_t table_count() const noexcept { return infos_.size(); }
  const TableInfo& info(std::uint16_t table) const noexcept { return infos_[table]; }
  // Every reference column; a column's id is its position (VersionState::refs has one index per column).
  const std::vector<RefColumn>& ref_columns() const noexcept { return ref_columns_; }
  // Tables an entity can have a component in (cardinality one, not the entity table).
  const std::vector<std::uint16_t>& one_tables() const noexcept { return one_tables_; }
  // `many` tables whose rows belong to an entity (destroyed with it).
  const std::vector<std::uint16_t>& owned_many_tables() const noexcept { return owned_many_tables_; }
  // Some table stores entity references (owner columns aside).
  bool has_refs() const noexcept { return has_refs_; }
  // Whether writing bytes [offset, offset + size) of a row changes one of its reference fields.
  bool write_touches_refs(std::uint16_t table, std::uint32_t offset, std::uint32_t size) const noexcept;
  // A row key as error messages name it: an entity, or a `many` table's row id ("row 3v1").
  std::string describe_key(std::uint16_t table, std::uint64_t key) const;

 private:
  std::vector<TableInfo> infos_;
  std::vector<RefColumn> ref_columns_;
  std::vector<std::uint16_t> one_tables_;
  std::vector<std::uint16_t> owned_many_tables_;
  bool has_refs_ = false;
};

}  // namespace ecsdb::detail
