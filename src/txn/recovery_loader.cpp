#include "txn/recovery_loader.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "base/reserve_more.hpp"
#include "entity/registry_ops.hpp"
#include "storage/table_ops.hpp"

namespace ecsdb::detail {

namespace {

// Where `index` is on `free_list`, searching from the back (or kNotOnFreeList).
std::uint64_t position_from_back(const std::vector<std::uint32_t>& free_list, std::uint32_t index) noexcept {
  for (std::size_t i = free_list.size(); i-- > 0;) {
    if (free_list[i] == index) return i;
  }
  return kNotOnFreeList;
}

}  // namespace

// Every change below leaves an undo record (UndoLog), taken before the change as the writer's exception
// safety asks: a delta refused part-way (a replica's frame that does not fit what it holds, or memory
// running out) is rolled back whole, and nothing of it reaches the next commit.
Status RecoveryLoader::apply_delta(const Delta& d) {
  VersionState& v = working_.state_to_change();
  storage::WriteContext& ctx = working_.context();
  UndoLog& undo = working_.undo_log();
  working_.set_dirty(true);
  auto bad = [&](const std::string& what) {
    return Status(StatusCode::kCorruption, "replaying version " + std::to_string(d.version) + ": " + what);
  };
  // Rows (re)inserted by a row sequence, by table id: they hold zeros until their content is applied below.
  std::vector<PlacedRows> placed(tables_.table_count());
  for (std::size_t ti = 0; ti < d.tables.size(); ++ti) {
    const TableDelta& t = d.tables[ti];
    if (t.table >= tables_.table_count()) return bad("unknown table id " + std::to_string(t.table));
    // One entry per table, ascending (as every delta is made): rows a sequence placed are kept per table,
    // and a second entry for the table would take them for rows that were there before.
    if (ti > 0 && t.table <= d.tables[ti - 1].table) return bad("table ids do not ascend at table id " + std::to_string(t.table));
    if (!t.sequence.empty()) {
      // Entities a sequence may name: live ones, those this commit creates, and ones it created and
      // destroyed (new indices, handed out in order): a bound that keeps a corrupt log from sizing a
      // sparse index for billions of keys.
      const std::uint64_t key_bound =
          tables_.info(t.table).many ? kMaxRowIndex : v.registry.used + d.created.size() + t.sequence.size();
      if (Status s = replay_row_sequence(t, key_bound, placed[t.table]); !s.is_ok()) return bad(s.message());
      continue;
    }
    for (std::uint64_t key : t.deleted_keys) {
      if (v.find_row_index(t.table, key) == kNoRow) return bad("delete of a missing row " + tables_.describe_key(t.table, key));
      working_.remove_row(t.table, key);
    }
  }
  for (Entity e : d.destroyed) {
    if (!v.registry.is_alive(e)) return bad("destroy of a dead " + entity_name(e));
    // A destroy removes every component row first, and the table deltas above carry those removals. A
    // delta that leaves one (a damaged record) is completed as destroy() would: no row may outlive its
    // entity, since writes prove liveness through the row (check_write).
    // A row this delta's sequence placed is not filled or indexed yet, and it must belong to a live entity
    // (checked below): a destroy may neither take it nor move on the generation that implies its key in
    // the identity run (TableState::keys).
    for (std::uint16_t table : tables_.one_tables()) {
      if (placed[table].records.contains(e.bits())) {
        return bad("destroy of " + entity_name(e) + ", whose '" + tables_.info(table).table->name +
                   "' row the row sequence places");
      }
    }
    for (std::uint16_t table : tables_.one_tables()) {
      if (v.find_row_index(table, e.bits()) != kNoRow) working_.remove_row(table, e.bits());
    }
    working_.destroy_entity(e);
  }
  for (Entity e : d.created) {
    if (e.index() < v.registry.used && v.registry.slot(e.index())->alive()) {
      return bad("create of a live " + entity_name(e));
    }
    // Keep the free list free of this index (it is rebuilt by finish_load at the end of recovery). Searched
    // from the back: the writer that made the delta reused indices from the back of the same list.
    std::vector<std::uint32_t>& free = working_.free_entities();
    const std::uint64_t position = position_from_back(free, e.index());
    const std::uint32_t used_before = v.registry.used;
    const std::uint32_t generation_before = e.index() < used_before ? v.registry.slot(e.index())->generation : 0;
    undo.reserve();
    entity::restore_slot(v.registry, e.index(), e.generation(), true, ctx);
    undo.push({UndoKind::kRestoreSlot, false, 0, used_before, generation_before, 0, e.bits(), position, 0});
    if (position != kNotOnFreeList) free.erase(free.begin() + static_cast<std::ptrdiff_t>(position));
  }
  std::vector<std::byte> row;
  for (const TableDelta& t : d.tables) {
    const TableInfo& info = tables_.info(t.table);
    std::unordered_map<std::uint64_t, std::size_t>& placed_here = placed[t.table].records;
    // Every row the sequence placed (inserted, replaced, or a tag removed and added again, which the commit
    // does not list) must belong to a live entity once the commit's creates and destroys are applied: joins
    // trust a row's key to carry its entity's current generation (TableState::identity_rows).
    for (const auto& [key, record] : placed_here) {
      if (!info.many && !v.registry.is_alive(Entity::from_bits(key))) {
        return bad("row sequence places a row of table '" + info.table->name + "' for " +
                   entity_name(Entity::from_bits(key)) + ", which is not alive");
      }
    }
    for (std::size_t i = 0; i < t.inserted_keys.size(); ++i) {
      const std::uint64_t key = t.inserted_keys[i];
      const auto in_place = placed_here.find(key);  // already in its row, by the row sequence
      if (in_place == placed_here.end() && v.find_row_index(t.table, key) != kNoRow) {
        return bad("insert of an existing row " + tables_.describe_key(t.table, key));
      }
      if (!t.sequence.empty() && in_place == placed_here.end()) {
        return bad("inserted row " + tables_.describe_key(t.table, key) + " is missing from the row sequence");
      }
      if (!info.many && !v.registry.is_alive(Entity::from_bits(key))) {
        return bad("row of table '" + info.table->name + "' for " + entity_name(Entity::from_bits(key)) + ", which is not alive");
      }
      if (info.many && static_cast<std::uint32_t>(key) >= kMaxRowIndex) {
        return bad("row id index " + std::to_string(static_cast<std::uint32_t>(key)) + " is out of range");
      }
      if (info.many) take_row_id(t.table, static_cast<std::uint32_t>(key));
      const std::uint64_t owner = t.inserted_owners.empty() ? key : t.inserted_owners[i];
      const std::byte* source = t.inserted_rows.data() + i * info.stride;
      if (in_place != placed_here.end()) {
        const std::size_t record = in_place->second;
        placed_here.erase(in_place);
        std::byte* bytes = nullptr;
        if (info.stride != 0) {
          bytes = storage::mutable_row(v.tables[t.table], v.find_row_index(t.table, key), ctx);
          std::memcpy(bytes, source, info.stride);
        }
        if (Status s = index_placed_row(t.table, key, bytes, record); !s.is_ok()) return bad(s.message());
      } else {
        std::byte* bytes = working_.insert_row(t.table, key, info.many ? owner : key);
        if (Status s = working_.refs().check_ref_targets(t.table, source, info.many ? owner : key); !s.is_ok()) return bad(s.message());
        working_.fill_inserted_row(t.table, bytes, source);
      }
    }
    for (const RowUpdate& u : t.updates) {
      if (v.find_row_index(t.table, u.key) == kNoRow) return bad("update of a missing row " + tables_.describe_key(t.table, u.key));
      if (info.stride == 0) continue;  // a tag has no bytes to update
      if (const auto replaced = placed_here.find(u.key); replaced != placed_here.end()) {
        // Removed and inserted again by the row sequence (replaced): the update carries every field.
        const std::size_t record = replaced->second;
        placed_here.erase(replaced);
        std::byte* bytes = storage::mutable_row(v.tables[t.table], v.find_row_index(t.table, u.key), ctx);
        unpack_fields(*info.table, u.field_mask, t.update_bytes.data() + u.offset, bytes);
        if (Status s = index_placed_row(t.table, u.key, bytes, record); !s.is_ok()) return bad(s.message());
        continue;
      }
      const std::byte* current = v.find_row(t.table, u.key);
      row.assign(current, current + info.stride);
      unpack_fields(*info.table, u.field_mask, t.update_bytes.data() + u.offset, row.data());
      if (Status s = working_.refs().check_ref_targets(t.table, row.data(), 0); !s.is_ok()) return bad(s.message());
      working_.write_bytes(t.table, u.key, 0, info.stride, row.data());
    }
    // Placed, yet neither inserted nor updated: only a tag (no fields) the commit removed and added again,
    // which it does not list; its row is indexed again. Anything else would be committed as zeros, outside
    // the indexes.
    for (const auto& [key, record] : placed_here) {
      if (info.stride != 0 || info.many || !placed[t.table].removed_old.contains(key)) {
        return bad("row sequence places a row " + tables_.describe_key(t.table, key) + " that is neither inserted nor updated");
      }
      if (Status s = index_placed_row(t.table, key, nullptr, record); !s.is_ok()) return bad(s.message());
    }
  }
  return Status::ok();
}

Status RecoveryLoader::index_placed_row(std::uint16_t table, std::uint64_t key, std::byte* bytes, std::size_t record) {
  const VersionState& v = working_.state();
  const std::uint64_t owner = storage::row_owner(v.tables[table], v.find_row_index(table, key), v.registry);
  RefIndexUpkeep refs = working_.refs();
  if (bytes != nullptr) working_.assign_auto_increments(table, bytes);
  ECSDB_RETURN_IF_ERROR(refs.check_ref_targets(table, bytes, owner));
  refs.prepare_link_row(table, key, bytes, owner);
  if (bytes != nullptr) working_.unique_index().index_row(table, bytes, +1);  // all or nothing
  refs.link_row(table, key, bytes, owner);
  working_.undo_log().at(record).indexed = true;
  return Status::ok();
}

void RecoveryLoader::take_row_id(std::uint16_t table, std::uint32_t index) {
  TableAux& aux = working_.aux(table);
  UndoLog& undo = working_.undo_log();
  undo.reserve();
  const std::uint64_t position = position_from_back(aux.free_row_ids, index);  // (as for entities)
  const std::uint32_t generation_before = storage::key_generation(working_.state().tables[table], index);
  undo.push({UndoKind::kTakeRowId, false, table, aux.next_row_index, generation_before, 0, index, position, 0});
  if (index >= aux.next_row_index) aux.next_row_index = index + 1;
  if (position != kNotOnFreeList) aux.free_row_ids.erase(aux.free_row_ids.begin() + static_cast<std::ptrdiff_t>(position));
}

Status RecoveryLoader::replay_row_sequence(const TableDelta& t, std::uint64_t key_bound, PlacedRows& placed) {
  VersionState& v = working_.state_to_change();
  storage::WriteContext& ctx = working_.context();
  UndoLog& undo = working_.undo_log();
  TableState& ts = v.tables[t.table];
  const TableInfo& info = tables_.info(t.table);
  working_.set_dirty(true);
  for (const RowOp& op : t.sequence) {
    const std::uint32_t row = v.find_row_index(t.table, op.key);
    if (op.insert) {
      if (row != kNoRow) return Status(StatusCode::kCorruption, "row sequence inserts an existing row " + tables_.describe_key(t.table, op.key));
      if (static_cast<std::uint32_t>(op.key) >= key_bound) {
        return Status(StatusCode::kCorruption, "row sequence key index " + std::to_string(static_cast<std::uint32_t>(op.key)) + " is out of range");
      }
      const auto entry = placed.records.try_emplace(op.key, 0).first;
      entry->second = working_.place_row(t.table, op.key, info.many ? op.owner : op.key);
    } else {
      if (row == kNoRow) return Status(StatusCode::kCorruption, "row sequence removes a missing row " + tables_.describe_key(t.table, op.key));
      // A row that existed before this commit leaves the unique and reverse-reference indexes (rows the
      // sequence inserted were never in them).
      const bool old = placed.records.erase(op.key) == 0;  // (else the sequence placed it)
      if (old) placed.removed_old.insert(op.key);
      working_.unplace_row(t.table, op.key, /*indexed=*/old);
    }
  }
  // Rows gone for good get what remove_row gives them: a `many` row id retires (rows inserted and removed
  // within the commit never had one to retire, and finish_load rebuilds row-id free lists at the end of
  // recovery).
  for (std::uint64_t key : t.deleted_keys) {
    if (v.find_row_index(t.table, key) != kNoRow) {
      return Status(StatusCode::kCorruption, "deleted row " + tables_.describe_key(t.table, key) + " is still there after its row sequence");
    }
    const auto index = static_cast<std::uint32_t>(key);
    if (!info.many) {
      if (index >= v.registry.used) {
        return Status(StatusCode::kCorruption, "deleted row " + tables_.describe_key(t.table, key) + " is beyond the registry");
      }
    } else if (ts.row_of(RowId(index, storage::key_generation(ts, index)).bits(), v.registry) == kNoRow) {
      // (A row id the commit handed out again already carries its newer generation.)
      std::uint32_t gen = static_cast<std::uint32_t>(key >> 32) + 1;
      std::vector<std::uint32_t>& free_ids = working_.aux(t.table).free_row_ids;
      undo.reserve();
      base::reserve_more(free_ids, 1);
      const std::uint32_t generation_before = storage::key_generation(ts, index);
      storage::set_key_generation(ts, index, gen == 0 ? 1 : gen, ctx);
      undo.push({UndoKind::kRetireRowId, false, t.table, 0, generation_before, 0, index, 0, 0});
      free_ids.push_back(index);
    }
  }
  return Status::ok();
}

Status RecoveryLoader::load_rows(std::uint16_t table, std::uint32_t n, const std::byte* key_bytes,
                                 const std::byte* owners, const std::byte* rows) {
  VersionState& v = working_.state_to_change();
  storage::WriteContext& ctx = working_.context();
  auto key_at = [&](std::uint32_t i) {
    std::uint64_t k;
    std::memcpy(&k, key_bytes + 8ull * i, sizeof k);
    return k;
  };
  if (table >= tables_.table_count()) return Status(StatusCode::kCorruption, "snapshot names unknown table id " + std::to_string(table));
  const TableInfo& info = tables_.info(table);
  TableState& t = v.tables[table];
  if (t.row_count != 0) return Status(StatusCode::kCorruption, "table '" + info.table->name + "' loaded twice");
  if (n == 0) return Status::ok();
  working_.set_dirty(true);
  // Dense columns arrive packed in row order: grow once and copy page by page (recovery speed).
  auto copy_column = [&](detail::PagedArray& a, const std::byte* src) {
    storage::grow_to(a, n, ctx);
    const std::uint32_t per_page = 1u << a.shift;
    for (std::uint32_t start = 0; start < n; start += per_page) {
      const std::uint32_t count = std::min(per_page, n - start);
      std::memcpy(storage::mutable_page(a, start >> a.shift, ctx), src + std::size_t{start} * a.elem_size,
                  std::size_t{count} * a.elem_size);
    }
  };
  if (info.stride != 0) copy_column(t.rows, rows);
  if (info.many) copy_column(t.owners, owners);
  t.row_count = n;
  t.identity_rows = 0;
  while (!info.many && t.identity_rows < n && static_cast<std::uint32_t>(key_at(t.identity_rows)) == t.identity_rows) {
    ++t.identity_rows;
  }

  // Sparse index, and the liveness of each row's entity.
  std::uint32_t max_index = 0;
  for (std::uint32_t i = 0; i < n; ++i) max_index = std::max(max_index, static_cast<std::uint32_t>(key_at(i)));
  if (info.many && max_index >= kMaxRowIndex) {
    t.row_count = 0;
    t.identity_rows = 0;
    return Status(StatusCode::kCorruption, "table '" + info.table->name + "': row id index " +
                                               std::to_string(max_index) + " is out of range");
  }
  if (!info.many && max_index >= v.registry.used) {
    t.row_count = 0;
    t.identity_rows = 0;
    return Status(StatusCode::kCorruption, "table '" + info.table->name + "': row of entity index " +
                                               std::to_string(max_index) + " beyond the registry");
  }
  // Keys: a page wholly inside the identity run stays absent, implied by the registry (TableState::keys;
  // loaded before the tables, and every key's entity is checked alive below).
  storage::grow_absent_to(t.keys, n, ctx);
  for (std::uint32_t start = 0; start < n; start += t.keys.mask + 1) {
    const std::uint32_t count = std::min(t.keys.mask + 1, n - start);
    if (!info.many && start + count <= t.identity_rows) continue;
    std::memcpy(storage::mutable_keys(t, start, count, ctx), key_bytes + 8ull * start, 8ull * count);
  }
  // Rows of the identity run need no sparse slot (TableState::sparse); a page that another key makes present
  // is filled from the run, so a key that repeats an index of the run is caught as a duplicate too.
  storage::grow_absent_to(t.sparse, std::uint64_t{max_index} + 1, ctx);
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint64_t key = key_at(i);
    if (i >= t.identity_rows) {
      SparseSlot* slot = storage::mutable_slots(t, static_cast<std::uint32_t>(key), 1, ctx);
      if (slot->row != kNoRow) {
        t.row_count = 0;
        t.identity_rows = 0;
        return Status(StatusCode::kCorruption, "table '" + info.table->name + "': duplicate key " + tables_.describe_key(table, key));
      }
      *slot = SparseSlot{static_cast<std::uint32_t>(key >> 32), i};
    }
    if (!info.many) {
      if (!v.registry.is_alive(Entity::from_bits(key))) {
        return Status(StatusCode::kCorruption, "table '" + info.table->name + "': row of dead " + entity_name(Entity::from_bits(key)));
      }
    }
  }
  if (info.many) working_.aux(table).next_row_index = std::max(working_.aux(table).next_row_index, max_index + 1);
  // Secondary state: unique indexes, auto-increment counters and reverse references (only tables that
  // have them).
  if (!info.uniques.empty() || !info.auto_increments.empty()) {
    for (std::uint32_t i = 0; i < n; ++i) {
      std::byte* row = storage::mutable_row(t, i, ctx);
      working_.assign_auto_increments(table, row);
      working_.unique_index().index_row(table, row, +1);
    }
  }
  if (!info.ref_columns.empty()) {
    for (std::uint32_t i = 0; i < n; ++i) {
      const std::byte* row = info.stride != 0 ? t.rows.at(i) : nullptr;
      const std::uint64_t key = storage::row_key(t, i, v.registry);
      ECSDB_RETURN_IF_ERROR(working_.refs().link_checked_row(table, key, row, storage::row_owner(t, i, v.registry)));
    }
  }
  working_.unique_index().clear_suspects();
  return Status::ok();
}

Status RecoveryLoader::load_registry(std::uint32_t used, const std::byte* pairs) {
  VersionState& v = working_.state_to_change();
  storage::WriteContext& ctx = working_.context();
  RegistryState& r = v.registry;
  if (r.used != 0) return Status(StatusCode::kCorruption, "registry loaded twice");
  if (used == 0) return Status::ok();
  working_.set_dirty(true);
  storage::grow_to(r.slots, used, ctx);
  const std::uint32_t per_page = 1u << r.slots.shift;
  std::uint32_t alive = 0;
  for (std::uint32_t start = 0; start < used; start += per_page) {
    std::byte* slot = storage::mutable_page(r.slots, start >> r.slots.shift, ctx);
    const std::uint32_t count = std::min(per_page, used - start);
    for (std::uint32_t i = 0; i < count; ++i, slot += r.slots.elem_size) {
      std::uint32_t pair[2];
      std::memcpy(pair, pairs + 8ull * (start + i), sizeof pair);
      auto* s = reinterpret_cast<EntitySlot*>(slot);
      s->generation = pair[0] == 0 ? 1 : pair[0];
      s->flags = pair[1] != 0 ? 1u : 0u;  // alive or not
      alive += s->flags;
    }
  }
  r.used = used;
  r.alive = alive;
  return Status::ok();
}

void RecoveryLoader::finish_load() {
  VersionState& v = working_.state_to_change();
  storage::WriteContext& ctx = working_.context();
  const RegistryState& r = v.registry;
  working_.free_entities().clear();
  for (std::uint32_t i = r.used; i-- > 0;) {
    if (!r.slot(i)->alive()) working_.free_entities().push_back(i);  // back() = lowest index: reused first
  }
  for (std::size_t table = 0; table < tables_.table_count(); ++table) {
    const auto id = static_cast<std::uint16_t>(table);
    if (!tables_.info(id).many) continue;
    auto& aux = working_.aux(id);
    aux.free_row_ids.clear();
    const TableState& t = v.tables[id];
    for (std::uint32_t i = aux.next_row_index; i-- > 0;) {
      if (v.find_row_index(id, RowId(i, storage::key_generation(t, i)).bits()) == kNoRow) {
        // A dead row id: make sure the next RowId handed out for it differs from any live-era one.
        storage::set_key_generation(v.tables[id], i, storage::key_generation(t, i) + 1, ctx);
        aux.free_row_ids.push_back(i);
      }
    }
  }
}

}  // namespace ecsdb::detail
