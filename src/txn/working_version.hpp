// WorkingVersion — the writer's private next version and the primitives that change its rows: insert,
// remove and write, each keeping the unique and reverse-reference indexes in step and leaving the undo
// record that takes it back. It owns what a rollback restores (the version's pages, the entity free list,
// row-id and auto-increment counters, the unique index, the undo log) and hands itself over at publish.
// The transaction API (TransactionWriter), rollback, constraint checks, delta building and recovery work on it.
// Owner thread only.
//
// Exception safety: see UndoEntry. Each primitive allocates what it needs before its first change.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ecsdb/detail/version_state.hpp"
#include "storage/cow.hpp"
#include "storage/page_pool.hpp"
#include "txn/ref_index_upkeep.hpp"
#include "txn/undo_log.hpp"
#include "txn/unique_index.hpp"
#include "txn/writer_schema.hpp"
#include "version/published_versions.hpp"

namespace ecsdb::detail {

// Row ids of a `many` table are bounded so that a corrupt snapshot or log cannot make recovery size a
// sparse index for billions of rows (2^28 live-or-freed row ids per table).
inline constexpr std::uint32_t kMaxRowIndex = 1u << 28;

// Writer-only state that is not part of a version.
struct TableAux {
  std::vector<std::uint64_t> auto_increment_next;                              // per auto_increment field
  std::vector<std::uint32_t> free_row_ids;                                     // many tables
  std::uint32_t next_row_index = 0;                                            // many tables
};

class WorkingVersion {
 public:
  // An empty version 1 (dirty: the writer publishes it at once).
  // Arrays are paged in pages of at most `page_bytes` (DatabaseOptions::page_bytes).
  // `ping_pong`: DatabaseOptions::ping_pong_pages.
  WorkingVersion(const WriterSchema& tables, storage::PagePool& pool, std::uint32_t page_bytes, bool ping_pong);
  WorkingVersion(const WorkingVersion&) = delete;
  WorkingVersion& operator=(const WorkingVersion&) = delete;
  ~WorkingVersion();  // frees its pages and those retired while it was built

  const WriterSchema& tables() const noexcept { return tables_; }
  const VersionState& state() const noexcept { return *state_; }
  // Every change to the version goes through one of these three, because publish_to copies into the next
  // version's object only the tables changed since that object's own version (ADR 0022):
  // - table `table`, for a change to its TableState or its pages;
  TableState& table_to_change(std::uint16_t table) noexcept {
    if (changed_now_flags_[table] == 0) note_changed(table);
    return state_->tables[table];
  }
  // - the registry, which every publish copies;
  RegistryState& registry() noexcept { return state_->registry; }
  // - anything (rollback, recovery): every table counts as changed.
  VersionState& state_to_change() noexcept;
  storage::WriteContext& context() noexcept { return ctx_; }
  // Differs from the published version (publish has something to do).
  bool dirty() const noexcept { return dirty_; }
  void set_dirty(bool dirty) noexcept { dirty_ = dirty; }

  UndoLog& undo_log() noexcept { return undo_; }
  const UndoLog& undo_log() const noexcept { return undo_; }
  UniqueIndex& unique_index() noexcept { return unique_; }
  const UniqueIndex& unique_index() const noexcept { return unique_; }
  RefIndexUpkeep refs() noexcept { return RefIndexUpkeep(tables_, *state_, ctx_); }
  TableAux& aux(std::uint16_t table) noexcept { return aux_[table]; }
  const TableAux& aux(std::uint16_t table) const noexcept { return aux_[table]; }
  // Entity indices free for reuse (back() is reused first).
  std::vector<std::uint32_t>& free_entities() noexcept { return entity_free_; }
  const std::vector<std::uint32_t>& free_entities() const noexcept { return entity_free_; }

  // Publishes this version into `versions` (stamped with `commit_count` and `lsn`) and goes on building a
  // copy of it as the next one. Strong guarantee: when the copy cannot be allocated nothing has changed.
  // Returns what copy-on-write copied to build the published version.
  struct Copies {
    std::uint64_t pages = 0;     // pages made private
    std::uint64_t replayed = 0;  // of those, parked shadows brought up to date (ADR 0016)
    std::uint64_t bytes = 0;     // bytes moved by those copies and replays
  };
  Copies publish_to(version::PublishedVersions& versions, std::uint64_t commit_count, std::uint64_t lsn);
  // Numbers the version being built `version` when that is ahead of its number (recovery).
  void advance_to(std::uint64_t version) noexcept;

  // ---- row primitives (REQUIRE: an open transaction; each leaves its undo record) ----
  // Row `row` of `table` made private to this version (copy-on-write); marks the version dirty. It leaves
  // no undo record: a transaction records the row's old bytes first, and the implicit in-place path
  // (TransactionWriter::implicit_set, ADR 0011) needs none. Inline: every field update takes it.
  std::byte* write_row(std::uint16_t table, std::uint32_t row) {
    dirty_ = true;
    return storage::mutable_at(table_to_change(table).rows, row, ctx_);
  }
  // A zeroed row under `key` at the end of the table (nullptr for a table without stored fields). Not
  // indexed yet: fill_inserted_row does that.
  std::byte* insert_row(std::uint16_t table, std::uint64_t key, std::uint64_t owner);
  // After insert_row: copies the row's bytes in, assigns auto-increments and indexes it.
  void fill_inserted_row(std::uint16_t table, std::byte* row, const void* bytes);
  // Removes the row of `key` (REQUIRES: it exists), with its index entries; a `many` row id goes to the
  // free list with its generation bumped.
  void remove_row(std::uint16_t table, std::uint64_t key);
  // Destroys live entity `e` (its rows are gone already): its index goes to the back of the free list.
  void destroy_entity(Entity e);

  // ---- replaying a row sequence (RecoveryLoader) ----
  // A zeroed row under `key` at the end of the table, touching nothing else (no row-id counter, no index
  // entry: the loader adds what the delta says). Returns its kPlaceRow undo record.
  std::size_t place_row(std::uint16_t table, std::uint64_t key, std::uint64_t owner);
  // Removes the row of `key` (REQUIRES: it exists) and, when `indexed`, its index entries; touches nothing
  // else (kUnplaceRow).
  void unplace_row(std::uint16_t table, std::uint64_t key, bool indexed);
  // Writes bytes [offset, offset + size) of the row of `key` (REQUIRES: it exists), moving its index entries.
  void write_bytes(std::uint16_t table, std::uint64_t key, std::uint32_t offset, std::uint32_t size,
                   const void* bytes);
  // Auto-increment fields of `row` that hold 0 get the next value; others move the counter past theirs.
  void assign_auto_increments(std::uint16_t table, std::byte* row);

 private:
  // The table part of insert_row / place_row: appends the row and records `kind` (with `size`).
  std::byte* append_row(std::uint16_t table, std::uint64_t key, std::uint64_t owner, UndoKind kind, std::uint32_t size);
  // The table part of remove_row / unplace_row: removes the row (and, when `indexed`, its index entries)
  // and records `kind`, with the row's bytes and reference-list places for the undo.
  void take_out_row(std::uint16_t table, std::uint64_t key, bool indexed, UndoKind kind);

  // Records that `table` changed in this version (table_to_change). Never allocates.
  void note_changed(std::uint16_t table) noexcept {
    changed_now_flags_[table] = 1;
    changed_now_.add(table);
  }

  // Copies into `next`, a dead version's object, what differs from this version: the tables changed since
  // next's own version when the last kRecentVersions lists cover them, else every table.
  void copy_changed_tables(VersionState& next) const noexcept;
  // Aborts when a key this version stored in a table's identity run is not its entity's current one (the
  // Debug builds' check at every publish, of the tables it changed).
  void check_run_keys() const;

  const WriterSchema& tables_;
  storage::PagePool& pool_;
  std::unique_ptr<VersionState> state_;
  // Table ids, with room for every table of the schema: adding one never allocates.
  struct TableList {
    std::vector<std::uint16_t> ids;  // [0, count) are the list
    std::uint32_t count = 0;
    void add(std::uint16_t id) noexcept { ids[count++] = id; }
    std::span<const std::uint16_t> items() const noexcept { return {ids.data(), count}; }
  };
  // The tables changed in the version being built (each once), and a flag per table saying so. A change
  // to the next version's TableState at a publish (its shared_rows) counts as a change of the next version.
  TableList changed_now_;
  std::uint64_t published_through_ = 0;  // the number of the last version published (check_run_keys)
  std::vector<std::uint8_t> changed_now_flags_;
  // The tables changed in each of the last kRecentVersions published versions, by number modulo
  // kRecentVersions (`number` says which version a list is of; 0: none yet).
  struct ChangedIn {
    std::uint64_t number = 0;
    TableList tables;
  };
  static constexpr std::uint64_t kRecentVersions = 4;
  static constexpr std::size_t kCopyEachFrom = 16;  // tables in the schema (copy_changed_tables)
  std::array<ChangedIn, kRecentVersions> recent_;
  storage::WriteContext ctx_;
  bool dirty_ = false;
  std::vector<TableAux> aux_;
  std::vector<std::uint32_t> entity_free_;
  UniqueIndex unique_;
  UndoLog undo_;
};

}  // namespace ecsdb::detail
