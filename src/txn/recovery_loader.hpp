// RecoveryLoader — rebuilds a writer's state from disk (persist/): the registry and each table's rows in
// bulk from a snapshot, then logged deltas replayed with their exact entity ids, generations, row ids and
// dense row order, and at the end the free lists no log records. It keeps the unique and
// reverse-reference indexes and the auto-increment counters as it goes, and checks what it loads: a
// corrupt snapshot or log is reported (kCorruption), never trusted to size memory. Owner thread only.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <unordered_set>

#include "ecsdb/delta.hpp"
#include "ecsdb/status.hpp"
#include "txn/working_version.hpp"

namespace ecsdb::detail {

class RecoveryLoader {
 public:
  explicit RecoveryLoader(WorkingVersion& working) noexcept : working_(working), tables_(working.tables()) {}

  // Applies a logged delta or a replica's frame (REQUIRES: an open transaction; no constraint re-check
  // needed, but the ids, rows and generations are restored exactly). Every step records its undo, so a
  // delta refused part-way (kCorruption: it does not fit what this writer holds) or cut short by
  // std::bad_alloc is taken back whole by the transaction's rollback.
  Status apply_delta(const Delta& d);
  // Loads rows in bulk into an empty table (snapshot load). `keys`/`owners` hold n u64 each and `rows` n
  // rows; none needs to be aligned (they point into a snapshot file buffer).
  Status load_rows(std::uint16_t table, std::uint32_t n, const std::byte* keys, const std::byte* owners,
                   const std::byte* rows);
  // The whole registry of an empty writer from `used` (generation, alive) u32 pairs.
  Status load_registry(std::uint32_t used, const std::byte* pairs);
  // Rebuilds the entity and row-id free lists once everything is loaded and replayed.
  void finish_load();

 private:
  // One table's rows a replayed row sequence put in place and apply_delta has not filled yet (key -> its
  // kPlaceRow undo record), and the keys whose rows were in the table before the delta and the sequence
  // removed (a tag removed and added again is listed nowhere else).
  struct PlacedRows {
    std::unordered_map<std::uint64_t, std::size_t> records;
    std::unordered_set<std::uint64_t> removed_old;
  };

  // Replays a table's row insertions and removals in commit order (TableDelta::sequence), so the dense
  // row order is the commit's. Inserted rows hold zeros until apply_delta fills them.
  Status replay_row_sequence(const TableDelta& t, std::uint64_t key_bound, PlacedRows& placed);
  // A row the row sequence already put in place (zeros until now), whose final bytes are in place too:
  // auto-increments, unique index and reverse references, as an insert would have done. Marks its
  // kPlaceRow record (`record`) indexed.
  Status index_placed_row(std::uint16_t table, std::uint64_t key, std::byte* bytes, std::size_t record);
  // Row id `index` of `many` table `table` is in use: off the free list, below next_row_index (undo recorded).
  void take_row_id(std::uint16_t table, std::uint32_t index);

  WorkingVersion& working_;
  const WriterSchema& tables_;
};

}  // namespace ecsdb::detail
