// ecsdb/detail/version_state.hpp — what one committed version of the database is made of. Internal.
//
// A VersionState is immutable once published: readers pin it and read tables through it without locks.
// It is small (a few PagedArray values per table); its pages are shared with neighbouring versions and
// copied by the writer only when touched (see paged_array.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "ecsdb/detail/paged_array.hpp"
#include "ecsdb/entity.hpp"

namespace ecsdb::detail {

inline constexpr std::uint32_t kNoRow = std::numeric_limits<std::uint32_t>::max();

// Sparse index entry: key index -> dense row. `generation` is the generation of the key (entity or RowId)
// the row belongs to, so a lookup with a stale id misses here without touching the registry.
struct alignas(8) SparseSlot {
  std::uint32_t generation;
  std::uint32_t row;  // kNoRow when the key has no row in this table
};

// A slot as a lookup reads it. The writer may store a slot in place in a page that published versions
// share, when every version a view can read sees "no row" there both before and after (the slot of a row
// no view can see: storage/table_ops.cpp, "Slots no view can see"). So a slot is read with one atomic
// 8-byte load, and a row it names counts only below the reader's row count: one at or above it is a row
// of a later version, which this one does not have.
inline SparseSlot load_slot(const std::byte* slot) noexcept {
  // Relaxed: whatever the load sees, a version that can also see the other value reads "no row" (above),
  // and reads nothing through it. (8 aligned bytes: one plain load on x86-64, lock-free everywhere.)
  SparseSlot s;
  __atomic_load(reinterpret_cast<const SparseSlot*>(slot), &s, __ATOMIC_RELAXED);
  return s;
}

// Registry slot of one entity index: the generation, then a word of flags whose bit 0 is set while the
// entity with `generation` exists. Whether the entity has a component is its table's answer
// (TableState::row_of), not the registry's: a write to a table leaves the registry's pages shared with the
// published versions (ADR 0021).
struct EntitySlot {
  std::uint32_t generation;
  std::uint32_t flags;

  bool alive() const noexcept { return (flags & 1u) != 0; }
  void set_alive(bool alive) noexcept { flags = alive ? flags | 1u : flags & ~1u; }
};

struct RegistryState {
  PagedArray slots;                 // one EntitySlot per index
  std::uint32_t used = 0;           // indices ever handed out (slots [0, used) are initialised)
  std::uint32_t alive = 0;          // live entities

  // REQUIRES: index < slots.capacity(). The element size is sizeof(EntitySlot) (entity::init_registry).
  const EntitySlot* slot(std::uint32_t index) const noexcept { return slots.element_as<EntitySlot>(index); }
  bool is_alive(Entity e) const noexcept {
    if (e.index() >= used) return false;
    const EntitySlot* s = slot(e.index());
    return s->alive() && s->generation == e.generation();
  }
};

// One table (component) in one version: dense rows, the key of each row, and the sparse index.
struct TableState {
  PagedArray rows;      // row_count rows of `stride` bytes, packed (swap-and-pop keeps them dense)
  // u64 per row: the Entity (cardinality one) or RowId (many) bits of the row. Elided below identity_rows
  // like the sparse index: a key page may be absent when every row of it below row_count is in the run,
  // whose keys the registry implies (row r holds entity r, alive, of the registry's generation for r). A
  // present page's keys are all accurate. Read a key with key_at, never through the array directly.
  PagedArray keys;
  PagedArray owners;    // u64 per row, cardinality many only: the owning Entity bits (0 for root tables)
  // SparseSlot per key index, for keys at or above identity_rows: below it, the run says where a key's row
  // is (at its index, if the key there is this one). So the index is elided where the run makes it redundant:
  // a page may be absent (a null directory slot; storage/table_ops.cpp keeps the invariants), and an absent
  // slot at or above identity_rows reads "no row". Slots below it are never read.
  PagedArray sparse;
  std::uint32_t row_count = 0;
  std::uint32_t stride = 0;
  // Rows [0, identity_rows) each hold the row of the entity whose index is the row number (key index r at
  // row r). A lower bound kept by the writer (storage/table_ops.cpp, the bulk loaders): a key written at a
  // row of another number, or a shrink of row_count, lowers it; an append that continues the run raises it.
  // Cardinality-one tables only (always 0 for `many` tables, whose keys are row ids). Two tables whose
  // identity_rows both reach past a range of rows hold the same entities there, since a live row's key
  // carries its entity's current generation: each<A, B> and query<A, B> walk such a range without comparing
  // keys, and a point read of a published version takes the registry's generation for the key's
  // (find_row_as).
  std::uint32_t identity_rows = 0;
  // The writer's, in the version it builds (meaningless in a published one): no version a view can read,
  // now or later, has a row at or above it: the row count of the newest published version, or the most of
  // any that a view may still hold. So rows at or above it are written in place, even in pages shared with
  // published versions (storage/table_ops.cpp, "Rows no view can see"): an insert with a publish per commit
  // copies no row or key page. WorkingVersion::publish_to keeps it, as an upper bound: it raises it at once,
  // but lowers it only for a table the published version changed (ADR 0022), and until it sets it (a
  // TableState made any other way) every row counts as seen.
  std::uint32_t shared_rows = std::numeric_limits<std::uint32_t>::max();

  bool operator==(const TableState&) const = default;
  // The key of row `row` (REQUIRES: row < row_count), stored or implied by `registry` (this version's).
  std::uint64_t key_at(std::uint32_t row, const RegistryState& registry) const noexcept {
    if (keys.present(row)) [[likely]] return *reinterpret_cast<const std::uint64_t*>(keys.at(row));
    return implied_key(row, registry);
  }
  // The key the run implies for row `row` (REQUIRES: row < identity_rows). Out of line: the writer's hot
  // paths read keys above the run, and the scans that read implied keys in bulk use the registry directly.
  [[gnu::noinline]] static std::uint64_t implied_key(std::uint32_t row, const RegistryState& registry) noexcept {
    return (std::uint64_t{registry.slot(row)->generation} << 32) | row;
  }
  // Whether the run's row `index` (REQUIRES: index < identity_rows) holds `key_bits`: the entity there is
  // entity `index`, so the key's generation decides.
  bool run_holds(std::uint32_t index, std::uint64_t key_bits, const RegistryState& registry) const noexcept {
    if (keys.present(index)) return *reinterpret_cast<const std::uint64_t*>(keys.at(index)) == key_bits;
    return registry.slot(index)->generation == static_cast<std::uint32_t>(key_bits >> 32);
  }
  // The row of `key_bits`, or kNoRow when it has none (or the key is stale). For a `many` table's row id
  // whose slot carries its generation, kNoRow too when it has no row.
  std::uint32_t row_of(std::uint64_t key_bits, const RegistryState& registry) const noexcept {
    const auto index = static_cast<std::uint32_t>(key_bits);
    if (index < identity_rows) return run_holds(index, key_bits, registry) ? index : kNoRow;
    if (index >= sparse.capacity() || !sparse.present(index)) return kNoRow;
    const SparseSlot s = load_slot(sparse.at(index));
    return s.generation == static_cast<std::uint32_t>(key_bits >> 32) && s.row < row_count ? s.row : kNoRow;
  }
  // Whether the entity `key_bits` has a row here, given that it is alive at its current generation
  // (REQUIRES; cardinality-one tables). Every row of the identity run holds its entity's current generation,
  // so below the run the index alone answers (ADR 0021), and only a key past it is looked up. `run_bound` is
  // identity_rows, or a copy of it the caller keeps: a scan reads it once, not through a pointer its
  // callback may alias.
  bool live_key_has_row(std::uint64_t key_bits, const RegistryState& registry, std::uint32_t run_bound) const noexcept {
    return static_cast<std::uint32_t>(key_bits) < run_bound || row_of(key_bits, registry) != kNoRow;
  }
  bool live_key_has_row(std::uint64_t key_bits, const RegistryState& registry) const noexcept {
    return live_key_has_row(key_bits, registry, identity_rows);
  }
};

// Reverse-reference index of one reference column (storage/ref_index.hpp): a doubly linked list per
// target entity index, threaded through the referencing rows by their keys.
struct RefLink {
  std::uint64_t prev;  // key of the previous referencing row in the list (0 = this is the head)
  std::uint64_t next;  // key of the next one (0 = last)
};
struct RefIndexState {
  PagedArray heads;  // u64 per target entity index: key of the first referencing row (0 = none)
  PagedArray links;  // RefLink per referencing key index

  std::uint64_t head(std::uint32_t target_index) const noexcept {
    return target_index < heads.capacity() ? *reinterpret_cast<const std::uint64_t*>(heads.at(target_index)) : 0;
  }
  std::uint64_t next(std::uint64_t key) const noexcept {
    return reinterpret_cast<const RefLink*>(links.at(static_cast<std::uint32_t>(key)))->next;
  }
};

// The row of `key_bits` in `t` when its index lies at or above t.identity_rows: through the sparse index, or
// nullptr when absent or stale. Out of line: random gets land in the run, where find_row_in and find_row_as
// answer inline. REQUIRES: t.stride != 0, or t empty (no rows, no sparse pages: an unbound T's Reader).
[[gnu::noinline]] inline const std::byte* find_row_off_run(const TableState& t, std::uint64_t key_bits) noexcept {
  const auto index = static_cast<std::uint32_t>(key_bits);
  // Tables filled in entity order keep row == entity index for most rows, past the run too. Prefetch that
  // row while the sparse slot loads, so the two cache misses overlap instead of following each other; when
  // the slot says otherwise the prefetch was only wasted bandwidth.
  const std::byte* guess = index < t.row_count ? t.rows.at(index) : nullptr;
  if (guess != nullptr) __builtin_prefetch(guess);
  if (index >= t.sparse.capacity() || !t.sparse.present(index)) return nullptr;
  const SparseSlot s = load_slot(t.sparse.at(index));
  if (s.row >= t.row_count || s.generation != static_cast<std::uint32_t>(key_bits >> 32)) return nullptr;
  if (s.row == index) return guess;
  const std::byte* row = t.rows.at(s.row);
  __builtin_prefetch(row);  // get_many reads the rows after a whole wave: let this miss start now
  return row;
}

// Point reads (PinnedView::get, Reader::get, get_many): the row of `key_bits` in `t`, of the published
// version whose registry is `registry`, for a table whose rows are T (a bound T: its stride is sizeof(T),
// never 0), or nullptr when absent or stale.
//
// Below identity_rows, row `index` of a published version holds entity `index` at its current generation,
// whether or not the key's page is present (TableState::identity_rows; the Debug builds check the keys
// each version stores there): the registry's generation alone decides, and the row is at a known place. (Not so inside one of
// the writer's steps: recovery places a created entity's row before it creates the entity, which is why
// row_of and find_row_in read a stored key where its page is present.) So a read in the run is two
// independent loads, the row and the registry slot, found by shifts (the element sizes are constants), and
// the row is prefetched before the generation is compared so that its cache miss overlaps the slot's. Few
// instructions matter as much as few misses: a loop of random reads keeps several lookups' misses in
// flight only while each takes little room in the processor's reorder window (ADR 0023: the same loads
// behind the old, longer lookup ran at half the rate).
template <typename T>
inline const T* find_row_as(const TableState& t, const RegistryState& registry, std::uint64_t key_bits) noexcept {
  const auto index = static_cast<std::uint32_t>(key_bits);
  if (index < t.identity_rows) [[likely]] {
    // A bound T's size is the row stride, a multiple of its alignment (Database::bind checks both).
    const T* row = t.rows.element_as<T>(index);
    __builtin_prefetch(row);
    if (registry.slot(index)->generation != static_cast<std::uint32_t>(key_bits >> 32)) return nullptr;
    return row;
  }
  return reinterpret_cast<const T*>(find_row_off_run(t, key_bits));
}

// The row of `key_bits` in table `t` of a version whose registry is `registry`, or nullptr when absent or
// stale, and always nullptr for a tag table (no row bytes): VersionState::find_row, for any table and for
// the writer's version at any step (a stored key decides where its page is present, as in row_of).
inline const std::byte* find_row_in(const TableState& t, const RegistryState& registry,
                                    std::uint64_t key_bits) noexcept {
  if (t.stride == 0) return nullptr;
  const auto index = static_cast<std::uint32_t>(key_bits);
  if (index < t.identity_rows) {
    const std::byte* row = t.rows.at(index);
    __builtin_prefetch(row);  // its cache miss overlaps the key's or the registry slot's
    return t.run_holds(index, key_bits, registry) ? row : nullptr;
  }
  return find_row_off_run(t, key_bits);
}

// The keys of a chunk of rows of one table (inside one page of its keys and of the registry): stored, or,
// where the identity run elides their page (TableState::keys), implied by the registry: row r holds entity
// r, of the registry's generation. Computed where read, so that a loop that never reads a key loads none.
struct ChunkKeys {
  const std::uint64_t* stored;  // the chunk's first key, or null when implied
  const std::byte* slots;       // when implied: the registry slot of the chunk's first row
  std::uint32_t step;           // bytes per registry slot
  std::uint32_t start;          // the chunk's first row

  // The generation of the entity in the chunk's row `start + r` (REQUIRES: implied).
  std::uint32_t implied_generation(std::uint32_t r) const noexcept {
    return reinterpret_cast<const EntitySlot*>(slots + std::size_t{r} * step)->generation;
  }
  std::uint64_t operator[](std::uint32_t r) const noexcept {
    if (stored != nullptr) return stored[r];
    return (std::uint64_t{implied_generation(r)} << 32) | (start + r);
  }
};

// REQUIRES: start < t.row_count, and the chunk inside one page of t's keys and of the registry.
inline ChunkKeys chunk_keys(const TableState& t, const RegistryState& registry, std::uint32_t start) noexcept {
  if (t.keys.present(start)) return {reinterpret_cast<const std::uint64_t*>(t.keys.at(start)), nullptr, 0, start};
  return {nullptr, registry.slots.at(start), registry.slots.elem_size, start};
}

struct VersionState {
  std::uint64_t number = 0;           // 1 for the first published version; never wraps (64 bits)
  std::uint64_t commit_count = 0;     // transactions committed up to and including this version
  std::uint64_t lsn = 0;              // last write-ahead-log sequence number this version contains
  RegistryState registry;
  std::vector<TableState> tables;     // indexed by Table::id
  std::vector<RefIndexState> refs;    // one per reference column (WriterCore's ref column ids)

  // The row of `key` in table `table`, or nullptr when absent or stale — and always nullptr for a tag
  // table (no fields, no row bytes): test presence with find_row_index.
  const std::byte* find_row(std::uint16_t table, std::uint64_t key_bits) const noexcept {
    return find_row_in(tables[table], registry, key_bits);
  }
  std::uint32_t find_row_index(std::uint16_t table, std::uint64_t key_bits) const noexcept {
    return tables[table].row_of(key_bits, registry);
  }
  // The key of row `row` of table `table` (REQUIRES: row < its row_count).
  std::uint64_t key_at(std::uint16_t table, std::uint32_t row) const noexcept {
    return tables[table].key_at(row, registry);
  }
};

}  // namespace ecsdb::detail
