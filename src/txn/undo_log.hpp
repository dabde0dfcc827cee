// UndoLog — what the open transaction changed, oldest first: rollback undoes it newest first, and commit
// builds the transaction's delta from it. One record per change, plus an arena for the bytes a record
// needs (a row's old bytes, its places in reverse-reference lists, the keys of a bulk insert). Owner
// thread only; cleared when the transaction ends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "base/reserve_more.hpp"

namespace ecsdb::detail {

enum class UndoKind : std::uint8_t {
  kCreateEntity, kDestroyEntity, kInsertRow, kRemoveRow, kWriteBytes, kWriteRows, kBulkInsert, kBulkCreate,
  // The steps of replaying a delta (RecoveryLoader::apply_delta: recovery and replicas), which restores ids,
  // generations and row order exactly rather than going through the transaction API.
  kPlaceRow, kUnplaceRow, kRetireRowId, kRestoreSlot, kTakeRowId,
};

// kRestoreSlot, kTakeRowId: the index was not on its free list.
inline constexpr std::uint64_t kNotOnFreeList = ~std::uint64_t{0};

// Exception safety (std::bad_alloc): an operation allocates everything it needs (pages made private,
// undo and arena capacity, index nodes) before its first change, then changes state without
// allocating and records its undo entry. Any failure leaves a state the undo log describes exactly,
// and the public API rolls the whole transaction back (StatusCode::kResourceExhausted).
//
// What the fields hold, by kind:
//   kCreateEntity   key = the entity; size = 1 when its index was fresh (not from the free list)
//   kDestroyEntity  key = the entity
//   kInsertRow      table, key, owner; size = 1 when a `many` row id came from the free list
//   kRemoveRow      table, key, owner; row_or_offset = the row it sat in; size = stride; arena_offset =
//                   its bytes, then its place in each reverse-reference list (one RefLink per ref column)
//   kWriteBytes     table, key; row_or_offset = offset in the row; size; arena_offset = the old bytes,
//                   then (when the write moved the row between reference lists) its old places, as above
//   kWriteRows      table; row_or_offset = first row; size = count (rows of one page of a for_each_mut pass,
//                   which records its pages in order: rows [0, the table's row count)); the rows' bytes
//                   before: at address `owner` when non-zero (the page a copy-on-write just replaced:
//                   retired, so it stays as it was until the next publish, and no publish happens while a
//                   transaction is open), else at arena_offset. No keys: the rows' entities are the ones in
//                   those rows now, once the removals and inserts recorded after the pass are followed back
//                   (build_delta). key = 0, or in Debug builds when a delta is due, 1 + where the keys the
//                   pass saw lie in the arena, which build_delta checks what it followed against.
//   kBulkInsert     table; row_or_offset = first row; size = count; the keys (bulk_key): the first
//                   `owner` are copied at arena_offset (u64 each), the rest are one run starting at `key`
//                   (consecutive indices of one generation: the fresh entities create_many returns after
//                   its recycled ones cost no copy)
//   kBulkCreate     row_or_offset = first (fresh) entity index; size = count
//   kPlaceRow       table, key, owner: a row a replayed row sequence appended (its bytes come later, with
//                   their own record); `indexed` once index_placed_row indexed it;
//                   size = a `many` row id's generation before (in its sparse slot, with no row)
//   kUnplaceRow     table, key, owner: a row a replayed row sequence removed, saved as for kRemoveRow;
//                   `indexed` when it was in the indexes (it was there before the delta)
//   kRetireRowId    table, key = row id index of a `many` table; size = its generation before (the index
//                   went to the back of the table's free row ids)
//   kRestoreSlot    key = the entity made alive; row_or_offset = registry `used` before; size = the slot's
//                   generation before (when inside `used`); owner = where the index was on the free list,
//                   or kNotOnFreeList
//   kTakeRowId      table, key = row id index; row_or_offset = next_row_index before; size = the
//                   generation in its sparse slot before; owner = where the index was on the table's free
//                   row ids, or kNotOnFreeList
//   identity_rows_before is 0 for the kinds that do not use it.
struct UndoEntry {
  UndoKind kind;
  bool indexed = false;  // kInsertRow, kRemoveRow, kPlaceRow, kUnplaceRow: the row is (was) in the indexes
  std::uint16_t table;
  std::uint32_t row_or_offset;
  std::uint32_t size;
  // kInsertRow, kRemoveRow, kBulkInsert, kPlaceRow, kUnplaceRow: the table's identity_rows before the change. The undo puts the rows
  // back exactly, so the bound they had holds again; restoring it keeps the run (and the sparse index it
  // elides, storage/table_ops.cpp) as it was, where the undo's own key moves would lower it.
  std::uint32_t identity_rows_before;
  std::uint64_t key;
  std::uint64_t owner;
  std::size_t arena_offset;
};

class UndoLog {
 public:
  const std::vector<UndoEntry>& entries() const noexcept { return entries_; }
  UndoEntry& back() noexcept { return entries_.back(); }
  UndoEntry& at(std::size_t i) noexcept { return entries_[i]; }

  // Room for `n` more records, taken before the change they record, so that recording it cannot fail.
  void reserve(std::size_t n = 1) { base::reserve_more(entries_, n); }
  void push(const UndoEntry& u) { entries_.push_back(u); }

  // Copies `n` bytes into the arena; returns where they start.
  std::size_t save_bytes(const void* p, std::size_t n);
  // `n` zeroed bytes at the end of the arena, to be filled in later; returns where they start.
  std::size_t append_space(std::size_t n);
  std::byte* bytes(std::size_t offset) noexcept { return arena_.data() + offset; }
  const std::byte* bytes(std::size_t offset) const noexcept { return arena_.data() + offset; }

  // Empties the log for the next transaction. Each buffer keeps its capacity up to kKeptScratchBytes, so
  // a game's ticks reuse it without allocating; a larger one (a bulk load) is freed.
  void clear() noexcept {
    entries_.clear();
    arena_.clear();
    base::release_if_over(entries_, base::kKeptScratchBytes);
    base::release_if_over(arena_, base::kKeptScratchBytes);
  }
  // Bytes the log holds between transactions (its buffers' capacity).
  std::size_t capacity_bytes() const noexcept { return base::capacity_bytes(entries_) + base::capacity_bytes(arena_); }

 private:
  std::vector<UndoEntry> entries_;
  std::vector<std::byte> arena_;
};

// Where a kWriteRows record's rows' bytes before lie: a retired page, or the arena.
inline const std::byte* write_rows_before(const UndoLog& log, const UndoEntry& u) noexcept {
  // NOLINTNEXTLINE(performance-no-int-to-ptr): the record keeps the address of a retired page's rows
  return u.owner != 0 ? reinterpret_cast<const std::byte*>(u.owner) : log.bytes(u.arena_offset);
}

// Key i (< u.size) of a kBulkInsert record.
inline std::uint64_t bulk_key(const UndoLog& log, const UndoEntry& u, std::uint32_t i) noexcept {
  if (i >= u.owner) return u.key + (i - u.owner);
  std::uint64_t key;
  std::memcpy(&key, log.bytes(u.arena_offset + sizeof key * i), sizeof key);
  return key;
}

}  // namespace ecsdb::detail
