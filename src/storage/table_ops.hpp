// Row-level mutation of one table in the version being built. Writer thread only.
//
// Rows stay packed: removal moves the last row into the hole (swap-and-pop) and fixes the sparse entry of
// the moved key. All writes go through copy-on-write (cow.hpp), but for rows no view can see, which are
// written in place (TableState::shared_rows). The sparse index and the keys are elided
// where the run of TableState::identity_rows implies them (table_ops.cpp has the invariants); the keys the
// run implies are read through the registry of the version being built (WriteContext::registry).
#pragma once

#include <cstdint>

#include "ecsdb/detail/version_state.hpp"
#include "storage/cow.hpp"

namespace ecsdb::storage {

void init_table(detail::TableState& t, std::uint32_t stride, bool has_owner_column,
                std::uint32_t page_bytes = detail::kTargetPageBytes);
void destroy_table(detail::TableState& t, PagePool& pool) noexcept;

// Appends a row for `key_bits` (REQUIRES: the key has no row) and returns its bytes: a copy of `init`
// (stride bytes) when given, else zeroed, to be filled. Returns nullptr for a table with stride 0 (a tag
// component: presence only).
std::byte* insert_row(detail::TableState& t, std::uint64_t key_bits, std::uint64_t owner_bits, WriteContext& ctx,
                      const void* init = nullptr);

// insert_row for the common append, in one pass, where it needs no allocation and no copy: the row and
// its key go where no view can see them (at or above shared_rows, "Rows no view can see" in
// table_ops.cpp), into pages already there, the key's page present or the key continuing the identity run,
// and its sparse slot either implied by the run or one no view can see. Then it copies `init` (stride
// bytes) into the row and returns true; else it changes nothing and returns false, and the caller takes
// prepare_insert and insert_row. `registry` is the version's (the run's keys). REQUIRES: the key has no
// row; a cardinality-one table; `init` not null (insert_row zeroes the row for a null one).
bool append_unseen(detail::TableState& t, std::uint64_t key_bits, const detail::RegistryState& registry,
                   const void* init) noexcept;

// Puts a row for `key_bits` back at dense position `row` (REQUIRES: row <= row_count), moving the row that
// is there to the end. The exact inverse of remove_row; used by rollback.
std::byte* insert_row_at(detail::TableState& t, std::uint32_t row, std::uint64_t key_bits, std::uint64_t owner_bits,
                         WriteContext& ctx);

// Make every page that insert_row / remove_row of `key_bits` will write private and big enough, so that
// the call that follows allocates nothing and cannot throw (the writer's exception safety: allocate, then
// change). REQUIRES for prepare_remove: the key is present.
void prepare_insert(detail::TableState& t, std::uint64_t key_bits, WriteContext& ctx);

// Whether the removal can be undone decides what prepare_remove makes private. A transaction's removal is
// rolled back from its undo log by insert_row_at, which puts the moved row back at the end: the last row's
// pages must then be private too, since the rollback may not allocate. An implicit transaction applied in
// place (TransactionWriter::implicit_write, implicit_destroy) has no undo log, and remove_row never writes
// the last row's pages (it only reads the row it moves), so a final removal leaves them shared: with a
// publish per commit that is up to one row page and one key page fewer copied and retired per removal.
enum class Removal : std::uint8_t { kUndoable, kFinal };
// `row` is the key's row, as the caller found it (TableState::row_of): the writer's paths have just looked
// it up, and a removal is cheap enough that a second look-up shows.
void prepare_remove(detail::TableState& t, std::uint64_t key_bits, std::uint32_t row, Removal removal,
                    WriteContext& ctx);
inline void prepare_remove(detail::TableState& t, std::uint64_t key_bits, Removal removal, WriteContext& ctx) {
  prepare_remove(t, key_bits, t.row_of(key_bits, *ctx.registry), removal, ctx);
}

// prepare_remove(kFinal) and remove_row in one pass, where the removal needs no allocation and no copy: the
// row at or above identity_rows (the run stays where it is), and every element it writes (the row and key
// the last row moves into, the two sparse slots) in a page no view can see there or one this version has
// made private already: a tick's later removals from the same pages. Two halves, so that a destroy can test
// every table before it changes one: plan_remove_in_place tests, changing nothing, and fills `plan` with
// where the writes go; remove_planned writes (REQUIRES: a plan for this table, key and row, with nothing
// written to the table since). remove_in_place does both, or returns false having changed nothing, and
// the caller takes prepare_remove and remove_row. REQUIRES: `row` is `key_bits`'s row (TableState::row_of);
// a cardinality-one table.
struct InPlaceRemoval {
  std::byte* row_page = nullptr;  // the page the moved row is written to (nullptr: no move, or a tag table)
  std::byte* key_page = nullptr;  // the page the moved key is written to
  std::uint64_t moved = 0;        // the key of the last row, which moves into the removed one
  std::uint32_t generation = 0;   // the removed key's slot keeps it (a `many` row id's rule, kept alike)
  bool moves = false;             // the removed row is not the last one
  bool gone_unseen = false;       // the removed key's slot is one no view can see (store_slot_unseen)
  bool moved_unseen = false;      // the moved key's slot likewise
};
bool plan_remove_in_place(const detail::TableState& t, std::uint64_t key_bits, std::uint32_t row,
                          const WriteContext& ctx, InPlaceRemoval& plan) noexcept;
void remove_planned(detail::TableState& t, std::uint64_t key_bits, std::uint32_t row,
                    const InPlaceRemoval& plan) noexcept;
inline bool remove_in_place(detail::TableState& t, std::uint64_t key_bits, std::uint32_t row,
                            const WriteContext& ctx) noexcept {
  InPlaceRemoval plan;
  if (!plan_remove_in_place(t, key_bits, row, ctx, plan)) return false;
  remove_planned(t, key_bits, row, plan);
  return true;
}
// A few loads that tell when remove_in_place would decline, or nearly always would: `row` in the run, or
// seen by a view while a directory the removal writes through is still shared (nothing written through it
// since the last publish: with a publish per commit, every removal). That is the keys' for a removal that
// moves the last row into `row`, and the sparse index's for one of the last row itself, which writes only
// its slot. (Removals in the order of the adds are of the last row half the time: the first half moves the
// newest rows down in reverse, the second takes them from the end.) Inline, so that such a removal skips
// the call.
inline bool may_remove_in_place(const detail::TableState& t, std::uint32_t row, const WriteContext& ctx) noexcept {
  if (row < t.identity_rows) return false;
  if (row >= t.shared_rows) return true;
  const detail::PagedArray& written = row + 1 == t.row_count ? t.sparse : t.keys;
  return written.dir->birth == ctx.birth;
}

// Removes the row of `key_bits` (REQUIRES: present), which is `row` (TableState::row_of).
void remove_row(detail::TableState& t, std::uint64_t key_bits, std::uint32_t row, WriteContext& ctx);
inline void remove_row(detail::TableState& t, std::uint64_t key_bits, WriteContext& ctx) {
  remove_row(t, key_bits, t.row_of(key_bits, *ctx.registry), ctx);
}

// Element `row` of one of t's row-indexed arrays (rows, keys, owners), writable: in place at or above
// t.shared_rows, where no view can see it (table_ops.cpp, "Rows no view can see"), else copied first if
// shared. REQUIRES: its page present.
inline std::byte* row_element(const detail::TableState& t, detail::PagedArray& a, std::uint32_t row,
                              WriteContext& ctx) {
  return row >= t.shared_rows ? unseen_at(a, row) : mutable_at(a, row, ctx);
}

// Writable bytes of dense row `row`.
inline std::byte* mutable_row(detail::TableState& t, std::uint32_t row, WriteContext& ctx) {
  return row_element(t, t.rows, row, ctx);
}

// The key of row `row`, and its owner (the key itself for a cardinality-one table): `registry` is the
// version's, which implies the keys of the identity run (TableState::keys).
inline std::uint64_t row_key(const detail::TableState& t, std::uint32_t row, const detail::RegistryState& registry) {
  return t.key_at(row, registry);
}
inline std::uint64_t row_owner(const detail::TableState& t, std::uint32_t row, const detail::RegistryState& registry) {
  return t.owners.elem_size == 0 ? row_key(t, row, registry)
                                 : *reinterpret_cast<const std::uint64_t*>(t.owners.at(row));
}

// Keys [row, row + n) of one page (the bulk loaders), writable: the page made present first (filled from
// the run, TableState::keys) and private. REQUIRES: row + n <= t.keys.capacity().
std::byte* mutable_keys(detail::TableState& t, std::uint32_t row, std::uint32_t n, WriteContext& ctx);

// Sparse slots [index, index + n) of one page (the bulk loaders), writable: the page made present first
// (filled from the run, TableState::sparse) and private. REQUIRES: index + n <= t.sparse.capacity().
detail::SparseSlot* mutable_slots(detail::TableState& t, std::uint32_t index, std::uint32_t n, WriteContext& ctx);
// The same, or null when the page is absent (then the slots need no write while the run covers them).
detail::SparseSlot* present_slots(detail::TableState& t, std::uint32_t index, std::uint32_t n, WriteContext& ctx);

// Sets the generation of sparse slot `index` with no row (used for RowId allocation of `many` tables). In
// a present page it allocates nothing: no view can see the change (table_ops.cpp, "Slots no view can see").
void set_key_generation(detail::TableState& t, std::uint32_t index, std::uint32_t generation, WriteContext& ctx);
std::uint32_t key_generation(const detail::TableState& t, std::uint32_t index);

}  // namespace ecsdb::storage
