#include "txn/rollback.hpp"

#include <cstring>

#include "entity/registry_ops.hpp"
#include "storage/table_ops.hpp"

namespace ecsdb::detail {

namespace {

// Takes one change back. Records are undone newest first, so the state is the one the change left.
void undo(WorkingVersion& w, const UndoEntry& u) {
  VersionState& v = w.state();
  storage::WriteContext& ctx = w.context();
  const WriterSchema& tables = w.tables();
  const UndoLog& log = w.undo_log();
  UniqueIndex& unique = w.unique_index();
  RefIndexUpkeep refs = w.refs();
  TableState* t = u.kind == UndoKind::kCreateEntity || u.kind == UndoKind::kDestroyEntity ||
                          u.kind == UndoKind::kBulkCreate
                      ? nullptr : &v.tables[u.table];
  switch (u.kind) {
    case UndoKind::kCreateEntity:
      entity::uncreate_entity(v.registry, Entity::from_bits(u.key), u.size == 1, w.free_entities(), ctx);
      break;
    case UndoKind::kDestroyEntity:
      entity::undestroy_entity(v.registry, Entity::from_bits(u.key), w.free_entities(), ctx);
      break;
    case UndoKind::kInsertRow: {
      const std::uint32_t row = v.find_row_index(u.table, u.key);
      if (u.indexed) {
        const std::byte* bytes = t->stride != 0 ? t->rows.at(row) : nullptr;
        if (bytes != nullptr) unique.index_row(u.table, bytes, -1);
        refs.unlink_row(u.table, u.key, bytes, u.owner, nullptr);
      }
      storage::remove_row(*t, u.key, ctx);
      const auto index = static_cast<std::uint32_t>(u.key);
      if (!tables.info(u.table).many) {
        entity::set_component_bit(v.registry, index, u.table, false, ctx);
      } else if (u.size == 1) {
        w.aux(u.table).free_row_ids.push_back(index);   // the id came from the free list
      } else {
        --w.aux(u.table).next_row_index;                // the id was fresh
      }
      t->identity_rows = u.identity_rows_before;
      break;
    }
    case UndoKind::kRemoveRow: {
      std::byte* row = storage::insert_row_at(*t, u.row_or_offset, u.key, u.owner, ctx);
      if (row != nullptr) {
        std::memcpy(row, log.bytes(u.arena_offset), u.size);
        unique.index_row(u.table, row, +1, /*suspects=*/false);
      }
      refs.relink_row(u.table, u.key, row, u.owner, reinterpret_cast<const RefLink*>(log.bytes(u.arena_offset + u.size)));
      if (!tables.info(u.table).many) {
        entity::set_component_bit(v.registry, static_cast<std::uint32_t>(u.key), u.table, true, ctx);
      } else {
        w.aux(u.table).free_row_ids.pop_back();
      }
      t->identity_rows = u.identity_rows_before;
      break;
    }
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
      for (std::uint32_t i = u.size; i-- > 0;) {
        const std::uint64_t key = bulk_key(log, u, i);
        storage::remove_row(*t, key, ctx);
        entity::set_component_bit(v.registry, static_cast<std::uint32_t>(key), u.table, false, ctx);
      }
      t->identity_rows = u.identity_rows_before;
      break;
    }
    case UndoKind::kWriteBytes: {
      const std::uint32_t row_index = v.find_row_index(u.table, u.key);
      std::byte* row = w.write_row(u.table, row_index);
      const bool indexed = !tables.info(u.table).uniques.empty();
      const bool moved_refs = tables.write_touches_refs(u.table, u.row_or_offset, u.size);
      const std::uint64_t owner = moved_refs ? storage::row_owner(*t, row_index) : 0;
      if (moved_refs) refs.unlink_row(u.table, u.key, row, owner, nullptr);
      if (indexed) unique.index_row(u.table, row, -1);
      std::memcpy(row + u.row_or_offset, log.bytes(u.arena_offset), u.size);
      if (indexed) unique.index_row(u.table, row, +1, /*suspects=*/false);
      if (moved_refs) {
        refs.relink_row(u.table, u.key, row, owner, reinterpret_cast<const RefLink*>(log.bytes(u.arena_offset + u.size)));
      }
      break;
    }
  }
}

}  // namespace

void roll_back(WorkingVersion& working) noexcept {
  const std::vector<UndoEntry>& entries = working.undo_log().entries();
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) undo(working, *it);
}

}  // namespace ecsdb::detail
