#include "txn/rollback.hpp"

#include <cassert>
#include <cstring>
#include <vector>

#include "entity/registry_ops.hpp"
#include "storage/table_ops.hpp"

namespace ecsdb::detail {

namespace {

// A row appended to the table (by insert_row or a replayed row sequence) taken out again, with its index
// entries when it had them.
void unplace_row(WorkingVersion& w, TableState& t, const UndoEntry& u) noexcept {
  if (u.indexed) {
    const std::byte* bytes = t.stride != 0 ? t.rows.at(w.state().find_row_index(u.table, u.key)) : nullptr;
    if (bytes != nullptr) w.unique_index().index_row(u.table, bytes, -1);
    w.refs().unlink_row(u.table, u.key, bytes, u.owner, nullptr);
  }
  storage::remove_row(t, u.key, w.context());
  t.identity_rows = u.identity_rows_before;
}

// A removed row put back in its place with its bytes, and in the indexes when `indexed`.
void replace_row(WorkingVersion& w, TableState& t, const UndoEntry& u, bool indexed) noexcept {
  const UndoLog& log = w.undo_log();
  std::byte* row = storage::insert_row_at(t, u.row_or_offset, u.key, u.owner, w.context());
  if (row != nullptr) std::memcpy(row, log.bytes(u.arena_offset), u.size);
  if (indexed) {
    if (row != nullptr) w.unique_index().index_row(u.table, row, +1, /*suspects=*/false);
    w.refs().relink_row(u.table, u.key, row, u.owner, reinterpret_cast<const RefLink*>(log.bytes(u.arena_offset + u.size)));
  }
  t.identity_rows = u.identity_rows_before;
}

// Puts `index` back at `position` of a free list it was erased from. Erasing kept the capacity, so
// this does not allocate.
void return_to_free_list(std::vector<std::uint32_t>& free_list, std::uint64_t position, std::uint32_t index) noexcept {
  if (position == kNotOnFreeList) return;
  free_list.insert(free_list.begin() + static_cast<std::ptrdiff_t>(position), index);
}

// Takes one change back. Records are undone newest first, so the state is the one the change left.
void undo(WorkingVersion& w, VersionState& v, const UndoEntry& u) {
  storage::WriteContext& ctx = w.context();
  const WriterSchema& tables = w.tables();
  const UndoLog& log = w.undo_log();
  UniqueIndex& unique = w.unique_index();
  RefIndexUpkeep refs = w.refs();
  switch (u.kind) {
    case UndoKind::kCreateEntity:
      entity::uncreate_entity(v.registry, Entity::from_bits(u.key), u.size == 1, w.free_entities(), ctx);
      break;
    case UndoKind::kDestroyEntity:
      entity::undestroy_entity(v.registry, Entity::from_bits(u.key), w.free_entities(), ctx);
      break;
    case UndoKind::kInsertRow: {
      unplace_row(w, v.tables[u.table], u);
      if (!tables.info(u.table).many) break;
      if (u.size == 1) {
        w.aux(u.table).free_row_ids.push_back(static_cast<std::uint32_t>(u.key));  // the id came from the free list
      } else {
        --w.aux(u.table).next_row_index;                                           // the id was fresh
      }
      break;
    }
    case UndoKind::kRemoveRow:
      replace_row(w, v.tables[u.table], u, /*indexed=*/true);
      if (tables.info(u.table).many) w.aux(u.table).free_row_ids.pop_back();
      break;
    case UndoKind::kBulkCreate: {
      // Fresh indices [first, first + count) at the end of the registry: give them back.
      RegistryState& r = v.registry;
      for (std::uint32_t i = 0; i < u.size; ++i) {
        reinterpret_cast<EntitySlot*>(storage::mutable_at(r.slots, u.row_or_offset + i, ctx))->set_alive(false);
      }
      r.used = u.row_or_offset;
      r.alive -= u.size;
      break;
    }
    case UndoKind::kBulkInsert: {
      // The bulk rows are the last u.size rows again (everything after them has been undone).
      TableState& t = v.tables[u.table];
      for (std::uint32_t i = u.size; i-- > 0;) storage::remove_row(t, bulk_key(log, u, i), ctx);
      t.identity_rows = u.identity_rows_before;
      break;
    }
    case UndoKind::kWriteBytes: {
      const std::uint32_t row_index = v.find_row_index(u.table, u.key);
      std::byte* row = w.write_row(u.table, row_index);
      const bool indexed = !tables.info(u.table).uniques.empty();
      const bool moved_refs = tables.write_touches_refs(u.table, u.row_or_offset, u.size);
      const std::uint64_t owner = moved_refs ? storage::row_owner(v.tables[u.table], row_index, v.registry) : 0;
      if (moved_refs) refs.unlink_row(u.table, u.key, row, owner, nullptr);
      if (indexed) unique.index_row(u.table, row, -1);
      std::memcpy(row + u.row_or_offset, log.bytes(u.arena_offset), u.size);
      if (indexed) unique.index_row(u.table, row, +1, /*suspects=*/false);
      if (moved_refs) {
        refs.relink_row(u.table, u.key, row, owner, reinterpret_cast<const RefLink*>(log.bytes(u.arena_offset + u.size)));
      }
      break;
    }
    case UndoKind::kWriteRows: {
      // Every later change was undone first, so the rows are where the record found them, in a page this
      // version made private then (no copy here).
      TableState& t = v.tables[u.table];
      assert(storage::private_page_or_null(t.rows, u.row_or_offset >> t.rows.shift, ctx.birth) != nullptr);
      std::byte* rows = storage::mutable_range(t.rows, u.row_or_offset, u.size, ctx);
      std::memcpy(rows, write_rows_before(log, u), std::size_t{u.size} * t.stride);
      break;
    }
    case UndoKind::kPlaceRow:
      unplace_row(w, v.tables[u.table], u);
      if (tables.info(u.table).many) {  // the row id's slot is present: the placement wrote it
        storage::set_key_generation(v.tables[u.table], static_cast<std::uint32_t>(u.key), u.size, ctx);
      }
      break;
    case UndoKind::kUnplaceRow: replace_row(w, v.tables[u.table], u, u.indexed); break;
    case UndoKind::kRetireRowId:
      w.aux(u.table).free_row_ids.pop_back();
      storage::set_key_generation(v.tables[u.table], static_cast<std::uint32_t>(u.key), u.size, ctx);
      break;
    case UndoKind::kRestoreSlot: {
      RegistryState& r = v.registry;
      const Entity e = Entity::from_bits(u.key);
      auto* slot = reinterpret_cast<EntitySlot*>(storage::mutable_at(r.slots, e.index(), ctx));
      slot->set_alive(false);
      if (e.index() < u.row_or_offset) slot->generation = u.size;
      --r.alive;
      r.used = u.row_or_offset;
      return_to_free_list(w.free_entities(), u.owner, e.index());
      break;
    }
    case UndoKind::kTakeRowId:
      // The insert that followed wrote the id's slot (its page is then present, and the slot, its row
      // taken back out, has none: set_key_generation writes it in place); unless that insert failed, put
      // back the generation the slot held.
      if (storage::key_generation(v.tables[u.table], static_cast<std::uint32_t>(u.key)) != u.size) {
        storage::set_key_generation(v.tables[u.table], static_cast<std::uint32_t>(u.key), u.size, ctx);
      }
      w.aux(u.table).next_row_index = u.row_or_offset;
      return_to_free_list(w.aux(u.table).free_row_ids, u.owner, static_cast<std::uint32_t>(u.key));
      break;
  }
}

}  // namespace

void roll_back(WorkingVersion& working) noexcept {
  const std::vector<UndoEntry>& entries = working.undo_log().entries();
  if (entries.empty()) return;
  VersionState& v = working.state_to_change();
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) undo(working, v, *it);
}

}  // namespace ecsdb::detail
