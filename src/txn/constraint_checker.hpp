// ConstraintChecker — what the schema asks of a transaction at commit (DESIGN.md §2.5): the on_delete
// action of every reference to an entity it destroyed (restrict, set null, cascade), references that name
// a live entity (foreign keys), unique values. It collects what to check while the transaction runs, so
// that commit looks at what the transaction touched, never at whole tables. Owner thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "base/reserve_more.hpp"
#include "ecsdb/status.hpp"
#include "txn/working_version.hpp"

namespace ecsdb::detail {

class ConstraintChecker {
 public:
  explicit ConstraintChecker(WorkingVersion& working) noexcept : working_(working), tables_(working.tables()) {}

  // A row was inserted into `table` under `key`, or bytes of it written: its references are checked.
  void note_references(std::uint16_t table, std::uint64_t key);
  // Before an entity is destroyed (allocates: call it before changing anything), then note_destroyed.
  void prepare_destroy();
  void note_destroyed(Entity e);
  // Forgets every row noted for the reference check (a replayed log record holds checked state).
  void forget_references() noexcept { touched_refs_.clear(); }
  // Forgets everything noted (the transaction ended); frees buffers grown past base::kKeptScratchBytes.
  void clear() noexcept;
  // Bytes its buffers hold between transactions.
  std::size_t capacity_bytes() const noexcept {
    return base::capacity_bytes(touched_refs_) + base::capacity_bytes(destroyed_);
  }

  // Applies the on_delete action of every reference to an entity destroyed since the last call: set null
  // and cascade change the working version (leaving undo records), restrict fails.
  Status apply_on_delete();
  // The commit check, after apply_on_delete: noted references name live entities, and no value counted
  // twice by the transaction is still held by two rows. kConstraintViolation names table, row and field.
  Status check() const;

 private:
  WorkingVersion& working_;
  const WriterSchema& tables_;
  std::vector<std::pair<std::uint16_t, std::uint64_t>> touched_refs_;   // rows whose references to check
  std::vector<Entity> destroyed_;
};

}  // namespace ecsdb::detail
