#include "txn/working_version.hpp"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/reserve_more.hpp"
#include "entity/registry_ops.hpp"
#include "storage/ref_index.hpp"
#include "storage/table_ops.hpp"

namespace ecsdb::detail {

WorkingVersion::WorkingVersion(const WriterSchema& tables, storage::PagePool& pool, std::uint32_t page_bytes,
                               bool ping_pong)
    : tables_(tables), pool_(pool), state_(std::make_unique<VersionState>()), unique_(tables) {
  const auto n = static_cast<std::uint32_t>(tables_.table_count());
  aux_.resize(n);
  state_->tables.resize(n);
  entity::init_registry(state_->registry, page_bytes);
  for (std::uint16_t id = 0; id < n; ++id) {
    const TableInfo& info = tables_.info(id);
    aux_[id].auto_increment_next.assign(info.auto_increments.size(), 1);
    storage::init_table(state_->tables[id], info.stride, info.many, page_bytes);
  }
  state_->refs.resize(tables_.ref_columns().size());
  for (RefIndexState& r : state_->refs) storage::init_ref_index(r, page_bytes);
  changed_now_flags_.assign(n, 0);
  changed_now_.ids.resize(n);
  for (ChangedIn& c : recent_) c.tables.ids.resize(n);
  state_to_change();  // lists every table: the first publish sets every shared_rows

  ctx_.pool = &pool_;
  ctx_.registry = &state_->registry;
  ctx_.ping_pong = ping_pong;
  ctx_.birth = 1;
  state_->number = 1;
  dirty_ = true;
}

WorkingVersion::~WorkingVersion() {
  // Every page is reachable from the working version or sits in a retire list, exactly once.
  entity::destroy_registry(state_->registry, pool_);
  for (TableState& t : state_->tables) storage::destroy_table(t, pool_);
  for (RefIndexState& r : state_->refs) storage::destroy_ref_index(r, pool_);
  for (std::byte* p : ctx_.retired.pages) pool_.free_page(p);
  for (Directory* d : ctx_.retired.directories) pool_.free_directory(d);
}

void WorkingVersion::copy_changed_tables(VersionState& next) const noexcept {
  const std::uint64_t number = state_->number;
  const TableState* from = state_->tables.data();
  TableState* to = next.tables.data();
  const std::size_t n = state_->tables.size();
  // Table by table pays only where the lists name far fewer tables than there are; elsewhere one copy of
  // them all (a memcpy) is cheaper, and a small schema does not even look. A Debug build takes the lists
  // whenever they reach, so that publish_to's check tries them under every test.
#if defined(ECSDB_DEBUG_CHECKS)
  constexpr bool kListsWhenTheyReach = true;
#else
  constexpr bool kListsWhenTheyReach = false;
#endif
  if ((kListsWhenTheyReach || n >= kCopyEachFrom) && next.number < number && number - next.number <= kRecentVersions) {
    bool covered = true;
    std::size_t listed = changed_now_.count;
    for (std::uint64_t v = next.number + 1; covered && v < number; ++v) {
      const ChangedIn& c = recent_[v % kRecentVersions];
      covered = c.number == v;
      listed += c.tables.count;
    }
    if (covered && (kListsWhenTheyReach || listed * 4 < n)) {
      for (std::uint64_t v = next.number + 1; v < number; ++v) {
        for (const std::uint16_t id : recent_[v % kRecentVersions].tables.items()) to[id] = from[id];
      }
      for (const std::uint16_t id : changed_now_.items()) to[id] = from[id];
      return;
    }
  }
  std::copy(from, from + n, to);
}

VersionState& WorkingVersion::state_to_change() noexcept {
  if (changed_now_.count == state_->tables.size()) return *state_;  // all noted already
  for (std::size_t id = 0; id < state_->tables.size(); ++id) {
    if (changed_now_flags_[id] == 0) note_changed(static_cast<std::uint16_t>(id));
  }
  return *state_;
}

WorkingVersion::Copies WorkingVersion::publish_to(version::PublishedVersions& versions, std::uint64_t commit_count,
                                         std::uint64_t lsn) {
  state_->commit_count = commit_count;
  state_->lsn = lsn;
  const std::uint64_t number = state_->number;
  // The next version starts as a copy of this one, built in a dead version's object when one is free (its
  // vectors are reused). That object holds every table as its own version had it, so only the tables
  // changed since are copied: a publish costs the tables its commits touched, not every table of the schema
  // (ADR 0022). May throw: nothing has changed yet.
  std::unique_ptr<VersionState> next = versions.reuse_state();
  if (next != nullptr && next->tables.size() == state_->tables.size() && next->refs.size() == state_->refs.size()) {
    copy_changed_tables(*next);  // by next's own number: first
    next->number = number;
    next->commit_count = commit_count;
    next->lsn = lsn;
    next->registry = state_->registry;
    std::copy(state_->refs.begin(), state_->refs.end(), next->refs.begin());  // the same length
#if defined(ECSDB_DEBUG_CHECKS)
    // A change made without table_to_change (or state_to_change) would leave a stale table here.
    for (std::size_t id = 0; id < state_->tables.size(); ++id) {
      if (!(next->tables[id] == state_->tables[id])) {
        std::fprintf(stderr, "ecsdb: table %zu changed in version %llu without table_to_change\n", id,
                     static_cast<unsigned long long>(number));
        std::abort();
      }
    }
#endif
  } else if (next != nullptr) {
    *next = *state_;
  } else {
    next = std::make_unique<VersionState>(*state_);
  }
#if defined(ECSDB_DEBUG_CHECKS)
  check_run_keys();
#endif
  // Strong: changes all or nothing. Empties the retire lists and keeps their capacity for the next version.
  const bool sole_version = versions.publish(std::move(state_), std::move(ctx_.retired));
  // What the next version may write in place (TableState::shared_rows): rows past what any readable
  // version has. `next` holds the row counts just published. A table no commit changed keeps its bound: its
  // row count did not move, and the bound is at least the row count. (With no older version left to see,
  // the bound could drop to the row count; it drops when the table next changes. Until then the rows in
  // between are copied rather than written in place, which is only slower.)
  ChangedIn& published = recent_[number % kRecentVersions];
  published.number = number;
  std::swap(published.tables, changed_now_);  // both have room for every table
  changed_now_.count = 0;
  for (const std::uint16_t id : published.tables.items()) {
    changed_now_flags_[id] = 0;
    detail::TableState& t = next->tables[id];
    const std::uint32_t shared = sole_version ? t.row_count : std::max(t.shared_rows, t.row_count);
    if (shared != t.shared_rows) {
      t.shared_rows = shared;
      note_changed(id);  // a change of the next version: it differs from the one just published here
    }
  }
#if defined(ECSDB_DEBUG_CHECKS)
  // An insert made without table_to_change would leave the bound below the row count just published, and
  // the next version would write rows a view can see in place.
  for (std::size_t id = 0; id < next->tables.size(); ++id) {
    if (next->tables[id].shared_rows < next->tables[id].row_count) {
      std::fprintf(stderr, "ecsdb: table %zu's shared_rows is below its row count after version %llu\n", id,
                   static_cast<unsigned long long>(number));
      std::abort();
    }
  }
#endif
  published_through_ = number;
  const Copies copied{ctx_.pages_copied, ctx_.pages_replayed, ctx_.bytes_copied};
  ctx_.pages_copied = 0;
  ctx_.pages_replayed = 0;
  ctx_.bytes_copied = 0;
  state_ = std::move(next);
  ctx_.registry = &state_->registry;
  ctx_.birth += 1;
  state_->number = ctx_.birth;
  dirty_ = false;
  return copied;
}

void WorkingVersion::check_run_keys() const {
  // Point reads of a published version take the registry's generation for the key of a row in the identity
  // run (detail::find_row_as), so a key stored there must be the one the registry implies. Where this version
  // stored keys: key pages born since the last publish (advance_to may have renumbered the version after
  // recovery or a replica wrote them), and rows at or above shared_rows, written in place in a page that
  // published versions share (storage/table_ops.cpp, "Rows no view can see"). Elsewhere a key page keeps
  // the keys an earlier publish checked, and an entity's generation moves only once its rows are gone,
  // which ends the run before them. (A key the run implies cannot disagree: it is the registry's.)
  for (const std::uint16_t id : changed_now_.items()) {
    const TableState& t = state_->tables[id];
    const std::uint32_t in_place_from = std::min(t.shared_rows, t.identity_rows);
    for (std::uint32_t row = 0; row < t.identity_rows; row = (row | t.keys.mask) + 1) {
      if (!t.keys.present(row)) continue;
      const bool written = detail::header_of(t.keys.dir->pages()[row >> t.keys.shift])->birth > published_through_;
      const std::uint32_t end = std::min(t.identity_rows, (row | t.keys.mask) + 1);
      for (std::uint32_t r = written ? row : std::max(row, in_place_from); r < end; ++r) {
        if (t.key_at(r, state_->registry) != TableState::implied_key(r, state_->registry)) {
          std::fprintf(stderr, "ecsdb: table %u's key at row %u of the identity run is not its entity's current one "
                       "in version %llu\n", id, r, static_cast<unsigned long long>(state_->number));
          std::abort();
        }
      }
    }
  }
}

void WorkingVersion::advance_to(std::uint64_t version) noexcept {
  if (version >= ctx_.birth) {
    ctx_.birth = version;
    state_->number = version;
  }
}

void WorkingVersion::assign_auto_increments(std::uint16_t table, std::byte* row) {
  const TableInfo& info = tables_.info(table);
  for (std::size_t i = 0; i < info.auto_increments.size(); ++i) {
    const Field& f = *info.auto_increments[i];
    std::uint64_t current = 0;
    std::memcpy(&current, row + f.offset, f.type.size);  // little-endian: low bytes of a u64
    std::uint64_t& next = aux_[table].auto_increment_next[i];
    if (current == 0) {
      current = next++;
      std::memcpy(row + f.offset, &current, f.type.size);
    } else if (current >= next) {
      next = current + 1;
    }
  }
}

std::byte* WorkingVersion::append_row(std::uint16_t table, std::uint64_t key, std::uint64_t owner, UndoKind kind,
                                     std::uint32_t size) {
  TableState& t = table_to_change(table);
  undo_.reserve();
  const std::uint32_t identity_rows = t.identity_rows;
  storage::prepare_insert(t, key, ctx_);
  // Nothing below allocates.
  dirty_ = true;
  std::byte* row = storage::insert_row(t, key, owner, ctx_);
  undo_.push({kind, false, table, 0, size, identity_rows, key, owner, 0});
  return row;
}

std::byte* WorkingVersion::insert_row(std::uint16_t table, std::uint64_t key, std::uint64_t owner) {
  return append_row(table, key, owner, UndoKind::kInsertRow, 0);
}

std::size_t WorkingVersion::place_row(std::uint16_t table, std::uint64_t key, std::uint64_t owner) {
  const std::uint32_t generation_before =
      tables_.info(table).many ? storage::key_generation(state_->tables[table], static_cast<std::uint32_t>(key)) : 0;
  append_row(table, key, owner, UndoKind::kPlaceRow, generation_before);
  return undo_.entries().size() - 1;
}

void WorkingVersion::fill_inserted_row(std::uint16_t table, std::byte* row, const void* bytes) {
  // The row is in the undo log already (kInsertRow, not yet `indexed`): if indexing or linking fails to
  // allocate, rollback removes the bare row.
  UndoEntry& u = undo_.back();
  if (row != nullptr) {
    std::memcpy(row, bytes, tables_.info(table).stride);
    assign_auto_increments(table, row);
  }
  refs().prepare_link_row(table, u.key, row, u.owner);
  if (row != nullptr) unique_.index_row(table, row, +1);  // all or nothing
  refs().link_row(table, u.key, row, u.owner);
  u.indexed = true;
}

void WorkingVersion::take_out_row(std::uint16_t table, std::uint64_t key, bool indexed, UndoKind kind) {
  TableState& t = table_to_change(table);
  const std::uint32_t row = state_->find_row_index(table, key);
  assert(row != kNoRow);
  const TableInfo& info = tables_.info(table);
  undo_.reserve();
  // Undo data: the row's bytes, then (when indexed) where it sat in each reverse-reference list.
  const std::size_t saved = undo_.save_bytes(info.stride != 0 ? t.rows.at(row) : nullptr, info.stride);
  const std::size_t links_at = indexed ? undo_.append_space(info.ref_columns.size() * sizeof(RefLink)) : 0;
  const std::uint64_t owner = storage::row_owner(t, row, state_->registry);
  const std::byte* bytes = info.stride != 0 ? t.rows.at(row) : nullptr;
  if (indexed) refs().prepare_unlink_row(table, key, bytes, owner);
  const std::uint32_t identity_rows = t.identity_rows;  // remove_row may lower it
  storage::prepare_remove(t, key, row, storage::Removal::kUndoable, ctx_);
  // Nothing below allocates.
  dirty_ = true;
  if (indexed) {
    if (info.stride != 0) unique_.index_row(table, t.rows.at(row), -1);
    refs().unlink_row(table, key, bytes, owner, reinterpret_cast<RefLink*>(undo_.bytes(links_at)));
  }
  storage::remove_row(t, key, row, ctx_);
  undo_.push({kind, indexed, table, row, info.stride, identity_rows, key, owner, saved});
}

void WorkingVersion::remove_row(std::uint16_t table, std::uint64_t key) {
  const bool many = tables_.info(table).many;
  if (many) base::reserve_more(aux_[table].free_row_ids, 1);
  take_out_row(table, key, /*indexed=*/true, UndoKind::kRemoveRow);
  if (!many) return;
  // A row id retires. Nothing below allocates: the free list is ready, and the row id's sparse slot is
  // private (take_out_row wrote it).
  const auto index = static_cast<std::uint32_t>(key);
  std::uint32_t gen = static_cast<std::uint32_t>(key >> 32) + 1;
  if (gen == 0) gen = 1;
  storage::set_key_generation(table_to_change(table), index, gen, ctx_);
  aux_[table].free_row_ids.push_back(index);
}

void WorkingVersion::unplace_row(std::uint16_t table, std::uint64_t key, bool indexed) {
  take_out_row(table, key, indexed, UndoKind::kUnplaceRow);
}

void WorkingVersion::destroy_entity(Entity e) {
  undo_.reserve();
  base::reserve_more(entity_free_, 1);
  entity::prepare_slot(state_->registry, e.index(), ctx_);
  // Nothing below allocates.
  dirty_ = true;
  entity::destroy_entity(state_->registry, e, entity_free_, ctx_);
  undo_.push({UndoKind::kDestroyEntity, false, 0, 0, 0, 0, e.bits(), 0, 0});
}

void WorkingVersion::write_bytes(std::uint16_t table, std::uint64_t key, std::uint32_t offset, std::uint32_t size,
                                 const void* bytes) {
  const std::uint32_t row_index = state_->find_row_index(table, key);
  const TableInfo& info = tables_.info(table);
  undo_.reserve();
  std::byte* row = write_row(table, row_index);
  const std::size_t saved = undo_.save_bytes(row + offset, size);
  // A write to a reference field moves the row between reverse-reference lists: prepare both ends, and
  // keep the old positions (after the old bytes) for rollback.
  const bool moves_refs = tables_.write_touches_refs(table, offset, size);
  std::uint64_t owner = 0;
  std::size_t links_at = 0;
  std::vector<std::byte> after;
  if (moves_refs) {
    owner = storage::row_owner(state_->tables[table], row_index, state_->registry);
    links_at = undo_.append_space(info.ref_columns.size() * sizeof(RefLink));
    after.assign(row, row + info.stride);
    std::memmove(after.data() + offset, bytes, size);
    refs().prepare_unlink_row(table, key, row, owner);
    refs().prepare_link_row(table, key, after.data(), owner);
  }
  // Nothing below allocates, except index_row(+1), which is all or nothing.
  const bool indexed = !info.uniques.empty();
  if (moves_refs) refs().unlink_row(table, key, row, owner, reinterpret_cast<RefLink*>(undo_.bytes(links_at)));
  if (indexed) unique_.index_row(table, row, -1);
  std::memmove(row + offset, bytes, size);
  if (indexed) {
    try {
      unique_.index_row(table, row, +1);
    } catch (...) {  // the new values could not be indexed: put the old bytes (and their entries) back
      std::memcpy(row + offset, undo_.bytes(saved), size);
      unique_.index_row(table, row, +1, /*suspects=*/false);
      if (moves_refs) refs().relink_row(table, key, row, owner, reinterpret_cast<const RefLink*>(undo_.bytes(links_at)));
      throw;
    }
  }
  if (moves_refs) refs().link_row(table, key, row, owner);
  undo_.push({UndoKind::kWriteBytes, false, table, offset, size, 0, key, 0, saved});
}

}  // namespace ecsdb::detail
