#include "storage/table_ops.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "base/copy_small.hpp"

namespace ecsdb::storage {

using detail::kNoRow;
using detail::RegistryState;
using detail::SparseSlot;
using detail::TableState;

namespace {

constexpr SparseSlot kEmptySlot{0, kNoRow};

// The elided sparse index (ADR 0017). A sparse page is absent (a null directory slot) until one of its slots
// must say something that identity_rows does not. Every function here and the bulk loaders keep:
//  (1) every slot of a present page is accurate;
//  (2) an absent page holds no slot at or above identity_rows whose key has a row: below the bound, the run
//      says where the row is (at the key's index); above it, an absent page reads "no row";
//  (3) the sparse array's capacity covers every key that has a row.
// So lowering identity_rows first makes present every absent page in the range it gives up
// (install_run_pages: prepare_remove does it before any change, remove_row then lowers the bound), and
// raising it writes nothing. Rollback's own key moves may lower it for a moment (set_key); each row undo
// then restores the bound of before its operation.
//
// The keys are elided the same way (TableState::keys), with the registry of the version being built
// (WriteContext::registry) supplying the generation of a key the run implies:
//  (K1) every key of a present page, at a row below row_count, is accurate;
//  (K2) an absent page holds no row at or above identity_rows and below row_count;
//  (K3) the keys array's capacity covers row_count.
// A key is left unwritten only where its page is absent and it continues the run with the registry's
// generation for its index (key_implied). Every path that lowers the bound makes present the key pages of
// the range it gives up, with the sparse pages (install_run_pages). The registry's generation for an index
// moves only while the index has no row (destroy removes the rows first; replay refuses rows of entities
// that are not alive once its creates and destroys are applied, and a rollback replays those steps
// backwards), so a key the run implies stays the key of its row.

// Rows no view can see. No version a view can read, now or later, has a row at or above
// TableState::shared_rows (WorkingVersion::publish_to keeps it: the newest published row count, or the most
// of any version a view may still hold). So a row there, its key and its owner are written in place even
// in a page shared with published versions (row_element, unseen_at): an insert with a publish per commit
// copies no row or key page, and no directory of theirs. A view reads only rows below its version's
// row_count, all below shared_rows: different bytes of the page, so no race with the writer's, and none
// of them changes. The write marks its granule dirty like any other, so the page's parked copy gets it at
// its next replay (ADR 0016). The prepare steps make private only what the write will copy: elements
// below shared_rows (prepare_row_element). The sparse index and the registry are keyed by entity, not by
// row: a view may read any of their slots. The registry's are always copied; a sparse slot is, unless no
// view can see it before or after the write ("Slots no view can see", below).
void prepare_row_element(const TableState& t, detail::PagedArray& a, std::uint32_t row, WriteContext& ctx) {
  if (row < t.shared_rows) make_private_at(a, row, ctx);
}

// Fills the new page `page` of the sparse index: slots below identity_rows from the run, the rest empty.
void fill_sparse_page(TableState& t, std::uint32_t page, std::byte* data, const RegistryState& registry) noexcept {
  const std::uint32_t first = page << t.sparse.shift;
  const std::uint32_t per_page = t.sparse.mask + 1;
  const std::uint32_t in_run = t.identity_rows > first ? std::min(per_page, t.identity_rows - first) : 0;
  auto* slots = reinterpret_cast<SparseSlot*>(data);
  for (std::uint32_t k = 0; k < in_run; ++k) {
    slots[k] = SparseSlot{static_cast<std::uint32_t>(row_key(t, first + k, registry) >> 32), first + k};
  }
  std::fill(slots + in_run, slots + per_page, kEmptySlot);
}

// Grows the sparse index to reach `index` and makes its page present. Out of line: the writer's hot paths
// find the page present.
[[gnu::noinline]] void install_sparse_page(TableState& t, std::uint32_t index, WriteContext& ctx) {
  if (index >= t.sparse.capacity()) grow_absent_to(t.sparse, std::uint64_t{index} + 1, ctx);
  if (t.sparse.present(index)) return;
  const std::uint32_t page = index >> t.sparse.shift;
  fill_sparse_page(t, page, install_page(t.sparse, page, ctx), *ctx.registry);
}

// Fills the new page `page` of the keys: rows below identity_rows with the keys the run implies, the rest
// (rows at or above row_count, by K2) zero.
void fill_key_page(TableState& t, std::uint32_t page, std::byte* data, const RegistryState& registry) noexcept {
  const std::uint32_t first = page << t.keys.shift;
  const std::uint32_t per_page = t.keys.mask + 1;
  const std::uint32_t in_run = t.identity_rows > first ? std::min(per_page, t.identity_rows - first) : 0;
  auto* keys = reinterpret_cast<std::uint64_t*>(data);
  for (std::uint32_t k = 0; k < in_run; ++k) {
    keys[k] = (std::uint64_t{registry.slot(first + k)->generation} << 32) | (first + k);
  }
  std::fill(keys + in_run, keys + per_page, std::uint64_t{0});
}

// Grows the keys to reach row `row` and makes its page present. Out of line, like install_sparse_page.
[[gnu::noinline]] void install_key_page(TableState& t, std::uint32_t row, WriteContext& ctx) {
  if (row >= t.keys.capacity()) grow_absent_to(t.keys, std::uint64_t{row} + 1, ctx);
  if (t.keys.present(row)) return;
  const std::uint32_t page = row >> t.keys.shift;
  fill_key_page(t, page, install_page(t.keys, page, ctx), *ctx.registry);
}

// Key `row`, writable: its page made present (and private, below shared_rows) first. Allocates when it has
// to.
std::byte* mutable_key(TableState& t, std::uint32_t row, WriteContext& ctx) {
  if (row >= t.keys.capacity() || !t.keys.present(row)) [[unlikely]] install_key_page(t, row, ctx);
  return row_element(t, t.keys, row, ctx);
}

// Slot `index`, writable: its page made present (and private) first. Allocates when it has to.
SparseSlot* mutable_slot(TableState& t, std::uint32_t index, WriteContext& ctx) {
  if (index >= t.sparse.capacity() || !t.sparse.present(index)) [[unlikely]] install_sparse_page(t, index, ctx);
  return reinterpret_cast<SparseSlot*>(mutable_at(t.sparse, index, ctx));
}

// What a prepare step needs of key `row` and of slot `index`: the page present and private, so that the
// write after it allocates nothing. Nothing is marked dirty (make_private_at): the write marks it.
void prepare_key(TableState& t, std::uint32_t row, WriteContext& ctx) {
  if (row >= t.keys.capacity() || !t.keys.present(row)) [[unlikely]] install_key_page(t, row, ctx);
  prepare_row_element(t, t.keys, row, ctx);
}
void prepare_sparse_slot(TableState& t, std::uint32_t index, WriteContext& ctx) {
  if (index >= t.sparse.capacity() || !t.sparse.present(index)) [[unlikely]] install_sparse_page(t, index, ctx);
  make_private_at(t.sparse, index, ctx);
}

// Slots no view can see. A view reads a slot's row only below its version's row count (load_slot), and
// every version a view can read has a row count at or below shared_rows. So a present slot whose row is
// kNoRow or at or above shared_rows reads "no row" to every view, and if it still does once written (its
// new row is such a row too), it is written in place, even in a page shared with published versions: an
// insert of a key off the run with a publish per commit copies no sparse page and no directory, as its row
// and key copy none ("Rows no view can see"). The store is atomic (a view may load the slot meanwhile:
// load_slot), and marks its granule dirty like any other. A prepare step need not make such a slot's page
// private; a write it did prepare is the same store into the private page.
bool slot_write_unseen(const TableState& t, std::uint32_t index, std::uint32_t row) noexcept {
  const std::uint32_t before = reinterpret_cast<const SparseSlot*>(t.sparse.at(index))->row;  // the writer's own
  return (before == kNoRow || before >= t.shared_rows) && (row == kNoRow || row >= t.shared_rows);
}
void store_slot_unseen(TableState& t, std::uint32_t index, SparseSlot value) noexcept {
  __atomic_store(reinterpret_cast<SparseSlot*>(unseen_at(t.sparse, index)), &value, __ATOMIC_RELAXED);
}

// Slot `index` := `value`, unless the run implies it (below identity_rows) and its page is absent. After
// prepare_insert / prepare_remove the page is present and private, or absent, or the write is unseen: no
// allocation. So it is in rollback: an undo writes the slots its operation's prepare made present and
// private, or slots in pages installed later in the same transaction, which are private too (a page, once
// present, stays), or slots no view can see, before and after. REQUIRES: index < capacity (invariant 3 for
// a key with a row; insert_row grows first).
void set_slot(TableState& t, std::uint32_t index, SparseSlot value, WriteContext& ctx) {
  if (!t.sparse.present(index)) {
    if (index < t.identity_rows) return;
    *mutable_slot(t, index, ctx) = value;  // installs the page (recovery's replay, which prepares nothing)
  } else if (slot_write_unseen(t, index, value.row)) {
    store_slot_unseen(t, index, value);
  } else {
    *mutable_slot(t, index, ctx) = value;
  }
}

// Makes present every absent page with slots in [from, identity_rows): what lowering the run to `from` gives
// up (invariant 2). It leaves the bound as it is, so that a failure part-way (or after it, in the rest of a
// prepare) leaves nothing the undo log does not describe.
[[gnu::noinline]] void install_run_pages(TableState& t, std::uint32_t from, WriteContext& ctx) {
  for (std::uint32_t index = from; index < t.identity_rows; index = (index | t.sparse.mask) + 1) {
    install_sparse_page(t, index, ctx);  // filled from the run, which still covers the range
  }
  for (std::uint32_t row = from; row < t.identity_rows; row = (row | t.keys.mask) + 1) {
    install_key_page(t, row, ctx);  // (K2)
  }
}

// Lowers identity_rows to `bound`, first making present the pages that range needs (none to allocate when
// install_run_pages ran for it, as prepare_remove does).
inline void lower_identity_rows(TableState& t, std::uint32_t bound, WriteContext& ctx) {
  if (bound < t.identity_rows) [[unlikely]] {
    install_run_pages(t, bound, ctx);
    t.identity_rows = bound;
  }
}

// Row `row`'s element of the row-indexed u64 array `a` (keys, owners) := v.
void set_u64(const TableState& t, detail::PagedArray& a, std::uint32_t row, std::uint64_t v, WriteContext& ctx) {
  std::memcpy(row_element(t, a, row, ctx), &v, sizeof v);
}

// Whether a key of index `index` placed at `row` continues the run (the next row in order). Never for a
// `many` table (owners present): its keys are row ids.
bool continues_run(const TableState& t, std::uint32_t row, std::uint32_t index) noexcept {
  return index == row && row == t.identity_rows && t.owners.elem_size == 0;
}

// Whether `key_bits` placed at `row` continues the run with the generation the registry has for its index:
// then an absent key page need not hold it.
bool key_implied(const TableState& t, std::uint32_t row, std::uint64_t key_bits, const RegistryState& registry) noexcept {
  const auto index = static_cast<std::uint32_t>(key_bits);
  return continues_run(t, row, index) && index < registry.used &&
         registry.slot(index)->generation == static_cast<std::uint32_t>(key_bits >> 32);
}

// Every key written at a row goes through here, so that TableState::identity_rows stays a lower bound. It
// lowers the bound only in rollback's insert_row_at, whose caller then restores the bound of before the
// removal it undoes; elsewhere remove_row has lowered it already, before its move. A key the run implies
// is not written to an absent page; any other is (installing the page where prepare_insert or
// prepare_remove has not: recovery's replay, which prepares nothing).
void set_key(TableState& t, std::uint32_t row, std::uint64_t key_bits, WriteContext& ctx) {
  if (row < t.keys.capacity() && t.keys.present(row)) {
    set_u64(t, t.keys, row, key_bits, ctx);
  } else if (!key_implied(t, row, key_bits, *ctx.registry)) {
    std::memcpy(mutable_key(t, row, ctx), &key_bits, sizeof key_bits);
  }
  if (static_cast<std::uint32_t>(key_bits) != row) {
    t.identity_rows = std::min(t.identity_rows, row);
  } else if (continues_run(t, row, row)) {
    ++t.identity_rows;
  }
}

// Makes room for one more row at the end; returns its index.
std::uint32_t append_slot(TableState& t, WriteContext& ctx) {
  const std::uint32_t row = t.row_count;
  if (t.stride != 0 && row >= t.rows.capacity()) grow_to(t.rows, std::uint64_t{row} + 1, ctx);
  if (row >= t.keys.capacity()) grow_absent_to(t.keys, std::uint64_t{row} + 1, ctx);  // (K3)
  if (t.owners.elem_size != 0 && row >= t.owners.capacity()) grow_to(t.owners, std::uint64_t{row} + 1, ctx);
  ++t.row_count;
  return row;
}

void move_row(TableState& t, std::uint32_t from, std::uint32_t to, WriteContext& ctx) {
  const std::uint64_t key = row_key(t, from, *ctx.registry);
  if (t.stride != 0) base::copy_small(mutable_row(t, to, ctx), t.rows.at(from), t.stride);
  set_key(t, to, key, ctx);
  if (t.owners.elem_size != 0) set_u64(t, t.owners, to, row_owner(t, from, *ctx.registry), ctx);
  set_slot(t, static_cast<std::uint32_t>(key), SparseSlot{static_cast<std::uint32_t>(key >> 32), to}, ctx);
}

}  // namespace

void prepare_insert(TableState& t, std::uint64_t key_bits, WriteContext& ctx) {
  const std::uint32_t row = t.row_count;
  if (t.stride != 0) {
    if (row >= t.rows.capacity()) grow_to(t.rows, std::uint64_t{row} + 1, ctx);
    prepare_row_element(t, t.rows, row, ctx);
  }
  // The key's page, unless the key continues the run into an absent one (set_key then writes nothing).
  if (row >= t.keys.capacity()) grow_absent_to(t.keys, std::uint64_t{row} + 1, ctx);
  if (t.keys.present(row) || !key_implied(t, row, key_bits, *ctx.registry)) prepare_key(t, row, ctx);
  if (t.owners.elem_size != 0) {
    if (row >= t.owners.capacity()) grow_to(t.owners, std::uint64_t{row} + 1, ctx);
    prepare_row_element(t, t.owners, row, ctx);
  }
  const auto index = static_cast<std::uint32_t>(key_bits);
  if (index >= t.sparse.capacity()) grow_absent_to(t.sparse, std::uint64_t{index} + 1, ctx);
  // A key that continues the run needs no slot (set_slot skips an absent page then); any other does, but
  // for a slot no view can see before or after, written in place.
  if (t.sparse.present(index)) {
    if (!slot_write_unseen(t, index, row)) prepare_sparse_slot(t, index, ctx);
  } else if (!continues_run(t, row, index)) {
    prepare_sparse_slot(t, index, ctx);
  }
}

void prepare_remove(TableState& t, std::uint64_t key_bits, std::uint32_t row, Removal removal, WriteContext& ctx) {
  assert(row != kNoRow && row == t.row_of(key_bits, *ctx.registry));
  const auto index = static_cast<std::uint32_t>(key_bits);
  const std::uint32_t last = t.row_count - 1;
  if (row != last) {
    // The last row moves into `row`, which then holds another index: remove_row ends the run there, and
    // finds the pages that needs present. Both keys' slots are written, and are present now: a key at or
    // above the bound by invariant 2, one below it by install_run_pages.
    if (row < t.identity_rows) install_run_pages(t, row, ctx);
    prepare_sparse_slot(t, index, ctx);
    prepare_sparse_slot(t, static_cast<std::uint32_t>(row_key(t, last, *ctx.registry)), ctx);
  } else if (index >= t.identity_rows || t.sparse.present(index)) {
    // The last row goes: only its own slot changes. An absent one in the run needs no write (remove_row).
    prepare_sparse_slot(t, index, ctx);
  }
  // remove_row writes `row` (the last row moves into it); the rollback of an undoable removal writes `last`
  // too (insert_row_at). A final removal of the last row itself writes no row, key or owner at all.
  const auto prepare_row = [&](std::uint32_t r) {
    if (t.stride != 0) prepare_row_element(t, t.rows, r, ctx);
    // Present, or the last row's in the run, which is not written (the key at `row`'s is by K2 or
    // install_run_pages).
    if (t.keys.present(r)) prepare_row_element(t, t.keys, r, ctx);
    if (t.owners.elem_size != 0) prepare_row_element(t, t.owners, r, ctx);
  };
  if (row != last) prepare_row(row);
  if (removal == Removal::kUndoable) prepare_row(last);
}

void init_table(TableState& t, std::uint32_t stride, bool has_owner_column, std::uint32_t page_bytes) {
  t = TableState{};
  t.stride = stride;
  init_array(t.rows, stride, page_bytes);
  init_array(t.keys, sizeof(std::uint64_t), page_bytes);
  init_array(t.owners, has_owner_column ? sizeof(std::uint64_t) : 0, page_bytes);
  init_array(t.sparse, sizeof(SparseSlot), page_bytes);
}

void destroy_table(TableState& t, PagePool& pool) noexcept {
  destroy_array(t.rows, pool);
  destroy_array(t.keys, pool);
  destroy_array(t.owners, pool);
  destroy_array(t.sparse, pool);
}

std::byte* insert_row(TableState& t, std::uint64_t key_bits, std::uint64_t owner_bits, WriteContext& ctx,
                      const void* init) {
  const auto index = static_cast<std::uint32_t>(key_bits);
  if (index >= t.sparse.capacity()) grow_absent_to(t.sparse, std::uint64_t{index} + 1, ctx);  // invariant 3
  const std::uint32_t row = append_slot(t, ctx);
  set_key(t, row, key_bits, ctx);
  if (t.owners.elem_size != 0) set_u64(t, t.owners, row, owner_bits, ctx);
  set_slot(t, index, SparseSlot{static_cast<std::uint32_t>(key_bits >> 32), row}, ctx);
  if (t.stride == 0) return nullptr;
  std::byte* bytes = mutable_row(t, row, ctx);
  if (init != nullptr) base::copy_small(bytes, init, t.stride);
  else std::memset(bytes, 0, t.stride);
  return bytes;
}

bool append_unseen(TableState& t, std::uint64_t key_bits, const RegistryState& registry, const void* init) noexcept {
  const std::uint32_t row = t.row_count;
  const auto index = static_cast<std::uint32_t>(key_bits);
  // Each condition is one that insert_row would meet by allocating or copying: then the slow path.
  if (row < t.shared_rows || t.owners.elem_size != 0 || row >= t.keys.capacity() ||
      index >= t.sparse.capacity() || (t.stride != 0 && row >= t.rows.capacity())) {
    return false;
  }
  const bool key_page = t.keys.present(row);
  if (!key_page && !key_implied(t, row, key_bits, registry)) return false;  // (K2): its page to install
  // The slot: absent and implied by the run the key continues (set_slot skips it then), or present and
  // unseen before and after (row is at or above shared_rows). An absent one off the run needs a page.
  const bool slot_page = t.sparse.present(index);
  if (slot_page ? !slot_write_unseen(t, index, row) : !continues_run(t, row, index)) return false;
  // Nothing below can fail. The order is insert_row's; no view reads any of these bytes (see above).
  ++t.row_count;
  if (key_page) std::memcpy(unseen_at(t.keys, row), &key_bits, sizeof key_bits);
  if (continues_run(t, row, index)) ++t.identity_rows;  // else the bound stays below row (set_key)
  if (slot_page) store_slot_unseen(t, index, SparseSlot{static_cast<std::uint32_t>(key_bits >> 32), row});
  if (t.stride != 0) base::copy_small(unseen_at(t.rows, row), init, t.stride);
  return true;
}

std::byte* insert_row_at(TableState& t, std::uint32_t row, std::uint64_t key_bits, std::uint64_t owner_bits,
                         WriteContext& ctx) {
  assert(row <= t.row_count);
  if (row == t.row_count) return insert_row(t, key_bits, owner_bits, ctx);
  const std::uint32_t end = append_slot(t, ctx);
  move_row(t, row, end, ctx);
  set_key(t, row, key_bits, ctx);
  if (t.owners.elem_size != 0) set_u64(t, t.owners, row, owner_bits, ctx);
  set_slot(t, static_cast<std::uint32_t>(key_bits), SparseSlot{static_cast<std::uint32_t>(key_bits >> 32), row}, ctx);
  return t.stride == 0 ? nullptr : mutable_row(t, row, ctx);
}

void remove_row(TableState& t, std::uint64_t key_bits, std::uint32_t row, WriteContext& ctx) {
  const auto index = static_cast<std::uint32_t>(key_bits);
  assert(row != kNoRow && row < t.row_count && row == t.row_of(key_bits, *ctx.registry));
  const std::uint32_t last = t.row_count - 1;
  // The last row moves into `row`: the run ends there (allocating nothing after prepare_remove; recovery's
  // replay, which prepares nothing, may allocate here). Removing the last row itself lowers the run no
  // further than the shrink below, which gives up only this key's own slot: absent, it then reads "no row"
  // (rollback of an insert, which may not allocate, takes this path).
  if (row != last) lower_identity_rows(t, row, ctx);
  if (t.sparse.present(index)) {
    const std::uint32_t generation = reinterpret_cast<const SparseSlot*>(t.sparse.at(index))->generation;
    set_slot(t, index, SparseSlot{generation, kNoRow}, ctx);  // a `many` row id keeps its generation
  }
  if (row != last) move_row(t, last, row, ctx);
  --t.row_count;
  t.identity_rows = std::min(t.identity_rows, t.row_count);
}

namespace {

// Where a final removal writes element `row` of the row-indexed array `a` (rows, keys) with nothing to copy:
// the live page, for a row no view can see ("Rows no view can see"), or the page already private to
// `birth`; nullptr when the write needs a copy. Marks nothing: the caller marks what it writes.
std::byte* row_page_in_place(const TableState& t, const detail::PagedArray& a, std::uint32_t row,
                             std::uint64_t birth) noexcept {
  const auto page = static_cast<std::uint32_t>(row >> a.shift);
  return row >= t.shared_rows ? a.dir->pages()[page] : private_page_or_null(a, page, birth);
}

// The same for sparse slot `index` (present) taking `row`: whether it is one no view can see before and
// after (written with store_slot_unseen, even in a shared page), or in a page private already, or neither.
enum class SlotWrite : std::uint8_t { kNeedsCopy, kPrivate, kUnseen };
SlotWrite slot_in_place(const TableState& t, std::uint32_t index, std::uint32_t row, std::uint64_t birth) noexcept {
  if (slot_write_unseen(t, index, row)) return SlotWrite::kUnseen;
  const auto page = static_cast<std::uint32_t>(index >> t.sparse.shift);
  return private_page_or_null(t.sparse, page, birth) != nullptr ? SlotWrite::kPrivate : SlotWrite::kNeedsCopy;
}

void store_slot_in_place(TableState& t, std::uint32_t index, SparseSlot value, bool unseen) noexcept {
  if (unseen) {
    store_slot_unseen(t, index, value);
    return;
  }
  std::byte* page = t.sparse.dir->pages()[index >> t.sparse.shift];  // private: no view reads it
  std::memcpy(marked_elements(page, t.sparse, index, 1), &value, sizeof value);
}

}  // namespace

bool plan_remove_in_place(const TableState& t, std::uint64_t key_bits, std::uint32_t row, const WriteContext& ctx,
                          InPlaceRemoval& plan) noexcept {
  // Below the run, the removal ends the run at `row` and makes present the pages of what the run gives up
  // (install_run_pages): that allocates. At or above it, every key from `row` on is stored (K2), and the
  // removed key's slot and the moved one's are present (invariant 2: neither index is in the run, whose
  // rows hold their own entities).
  const auto index = static_cast<std::uint32_t>(key_bits);
  if (row < t.identity_rows || t.owners.elem_size != 0 || !t.sparse.present(index)) return false;
  const std::uint32_t last = t.row_count - 1;
  plan.moves = row != last;
  // The first removal after a publish finds every page shared: decline it at the first look.
  plan.row_page = nullptr;
  if (plan.moves && t.stride != 0) {
    plan.row_page = row_page_in_place(t, t.rows, row, ctx.birth);
    if (plan.row_page == nullptr) return false;
  }
  plan.generation = reinterpret_cast<const SparseSlot*>(t.sparse.at(index))->generation;
  const SlotWrite gone = slot_in_place(t, index, kNoRow, ctx.birth);
  if (gone == SlotWrite::kNeedsCopy) return false;
  plan.gone_unseen = gone == SlotWrite::kUnseen;
  if (!plan.moves) return true;  // the last row goes: only its slot changes
  assert(t.keys.present(row) && t.keys.present(last));  // (K2): both rows are at or above the run
  plan.moved = *reinterpret_cast<const std::uint64_t*>(t.keys.at(last));
  if (!t.sparse.present(static_cast<std::uint32_t>(plan.moved))) return false;
  plan.key_page = row_page_in_place(t, t.keys, row, ctx.birth);
  if (plan.key_page == nullptr) return false;
  const SlotWrite moved = slot_in_place(t, static_cast<std::uint32_t>(plan.moved), row, ctx.birth);
  plan.moved_unseen = moved == SlotWrite::kUnseen;
  return moved != SlotWrite::kNeedsCopy;
}

void remove_planned(TableState& t, std::uint64_t key_bits, std::uint32_t row, const InPlaceRemoval& plan) noexcept {
  // remove_row's order: the removed key's slot, then the last row's move.
  const auto index = static_cast<std::uint32_t>(key_bits);
  store_slot_in_place(t, index, SparseSlot{plan.generation, kNoRow}, plan.gone_unseen);
  if (plan.moves) {
    const std::uint32_t last = t.row_count - 1;
    const auto moved_index = static_cast<std::uint32_t>(plan.moved);
    if (t.stride != 0) base::copy_small(marked_elements(plan.row_page, t.rows, row, 1), t.rows.at(last), t.stride);
    std::memcpy(marked_elements(plan.key_page, t.keys, row, 1), &plan.moved, sizeof plan.moved);
    if (continues_run(t, row, moved_index)) ++t.identity_rows;  // set_key: the bound stays below row otherwise
    store_slot_in_place(t, moved_index, SparseSlot{static_cast<std::uint32_t>(plan.moved >> 32), row},
                        plan.moved_unseen);
  }
  --t.row_count;
  t.identity_rows = std::min(t.identity_rows, t.row_count);
}

SparseSlot* mutable_slots(TableState& t, std::uint32_t index, std::uint32_t n, WriteContext& ctx) {
  install_sparse_page(t, index, ctx);
  return reinterpret_cast<SparseSlot*>(mutable_range(t.sparse, index, n, ctx));
}

std::byte* mutable_keys(TableState& t, std::uint32_t row, std::uint32_t n, WriteContext& ctx) {
  install_key_page(t, row, ctx);
  return mutable_range(t.keys, row, n, ctx);
}

SparseSlot* present_slots(TableState& t, std::uint32_t index, std::uint32_t n, WriteContext& ctx) {
  if (!t.sparse.present(index)) return nullptr;
  return reinterpret_cast<SparseSlot*>(mutable_range(t.sparse, index, n, ctx));
}

void set_key_generation(TableState& t, std::uint32_t index, std::uint32_t generation, WriteContext& ctx) {
  if (index < t.sparse.capacity() && t.sparse.present(index)) {
    // A slot with no row reads "no row" to every view whatever its generation ("Slots no view can see"):
    // set in place, so that rollback's writes here (a row id's generation put back) allocate nothing,
    // even where the insert it undoes stored its slot in place in a shared page.
    const std::uint32_t row = reinterpret_cast<const SparseSlot*>(t.sparse.at(index))->row;
    set_slot(t, index, SparseSlot{generation, row}, ctx);
    return;
  }
  mutable_slot(t, index, ctx)->generation = generation;  // installs the page
}

std::uint32_t key_generation(const TableState& t, std::uint32_t index) {
  if (index >= t.sparse.capacity() || !t.sparse.present(index)) return 0;
  return reinterpret_cast<const SparseSlot*>(t.sparse.at(index))->generation;
}

}  // namespace ecsdb::storage
