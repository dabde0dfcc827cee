// RefIndexUpkeep — keeps the reverse-reference index of the working version (storage/ref_index.hpp) in
// step with its rows, one row at a time, and reads it back: which rows reference an entity. A short-lived
// view over the working version (WorkingVersion::refs()); owner thread only.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ecsdb/detail/version_state.hpp"
#include "ecsdb/status.hpp"
#include "storage/cow.hpp"
#include "txn/writer_schema.hpp"

namespace ecsdb::detail {

// (row, key) of every row whose reference column `column` (described by `col`) holds exactly `target` in
// version `s`, in list order: the reverse index's list for the target's index, filtered by value (a list
// holds every generation of an index). Readers of a pinned version and the writer both use it.
void referrers_of(const VersionState& s, const RefColumn& col, std::uint16_t column, Entity target,
                  std::vector<std::pair<std::uint32_t, std::uint64_t>>& out);

class RefIndexUpkeep {
 public:
  RefIndexUpkeep(const WriterSchema& tables, VersionState& working, storage::WriteContext& ctx) noexcept
      : tables_(tables), working_(working), ctx_(ctx) {}

  // Reverse-reference index upkeep for one row of `table` (bytes `row`, owner column value `owner`):
  // prepare_* allocate (call before changing anything), the others do not. unlink_row saves each
  // column's list position at `saved` (one RefLink per ref column of the table) for relink_row.
  void prepare_link_row(std::uint16_t table, std::uint64_t key, const std::byte* row, std::uint64_t owner);
  void link_row(std::uint16_t table, std::uint64_t key, const std::byte* row, std::uint64_t owner) noexcept;
  void prepare_unlink_row(std::uint16_t table, std::uint64_t key, const std::byte* row, std::uint64_t owner);
  void unlink_row(std::uint16_t table, std::uint64_t key, const std::byte* row, std::uint64_t owner,
                  RefLink* saved) noexcept;
  void relink_row(std::uint16_t table, std::uint64_t key, const std::byte* row, std::uint64_t owner,
                  const RefLink* saved) noexcept;
  // Keys of the rows whose column `column` holds exactly `target`, from the reverse index.
  void referrers(std::uint16_t column, Entity target, std::vector<std::uint64_t>& out) const;
  // kStaleEntity when a reference in `row` (or the owner) names an entity index the registry never
  // handed out: it could not commit, and indexing it would size the reverse index by an arbitrary number
  // (from a client, or a corrupt file).
  Status check_ref_targets(std::uint16_t table, const std::byte* row, std::uint64_t owner) const;
  // check_ref_targets, then prepare_link_row and link_row: for recovery, where a failure ends the open
  // (nothing needs to be undone), so the two-phase discipline buys nothing.
  Status link_checked_row(std::uint16_t table, std::uint64_t key, const std::byte* row, std::uint64_t owner);

 private:
  std::uint64_t ref_target(const RefColumn& c, const std::byte* row, std::uint64_t owner) const noexcept;

  const WriterSchema& tables_;
  VersionState& working_;
  storage::WriteContext& ctx_;
};

}  // namespace ecsdb::detail
