#include "txn/transaction_writer.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <type_traits>

#include "base/reserve_more.hpp"
#include "entity/registry_ops.hpp"
#include "storage/table_ops.hpp"

namespace ecsdb::detail {

// ---- preconditions of one operation, shared by transactions and the undo-free implicit path ----

Status TransactionWriter::check_alive(Entity e, std::string_view op, const Table* table) const {
  if (working_.state().registry.is_alive(e)) [[likely]] return Status::ok();
  // The message is built only on failure: this check runs on every write.
  std::string what(op);
  if (table != nullptr) what += " table '" + table->name + "'";
  return Status(StatusCode::kStaleEntity, what + ": " + entity_name(e) +
                                              " is not alive (destroyed, or a stale id from before its index was reused)");
}

Status TransactionWriter::check_add(std::uint16_t table, Entity e) const {
  const TableInfo& info = tables_.info(table);
  const VersionState& v = working_.state();
  // Every add passes here: each condition is tested once, and the common case (a component table, a live
  // entity without the component) returns with no Status built and passed on. The rest explains a failure.
  const bool component_table = !info.many && !info.table->is_entity_table;
  const bool alive = v.registry.is_alive(e);
  if (component_table && alive && v.find_row_index(table, e.bits()) == kNoRow) [[likely]] return Status::ok();
  if (!component_table) {
    return invalid_argument("table '" + info.table->name + "' is not a component table (cardinality one); " +
                            (info.many ? "use insert_child" : "entities are created with create()"));
  }
  if (!alive) return check_alive(e, "add to", info.table);  // names the stale entity
  return Status(StatusCode::kAlreadyExists, entity_name(e) + " already has a '" + info.table->name +
                                                "' component; use update() or put()");
}

Status TransactionWriter::check_write(std::uint16_t table, std::uint64_t key, std::uint32_t offset, std::uint32_t size,
                                      std::uint32_t* row) const {
  const TableInfo& info = tables_.info(table);
  if (offset > info.stride || size > info.stride - offset) {
    return invalid_argument("write of " + std::to_string(size) + " bytes at offset " + std::to_string(offset) +
                            " is outside the " + std::to_string(info.stride) + "-byte row of table '" +
                            info.table->name + "'");
  }
  const std::uint32_t found = writable_row(table, key, offset);
  if (found != kNoRow) [[likely]] {
    if (row != nullptr) *row = found;
    return Status::ok();
  }
  if (!info.many) ECSDB_RETURN_IF_ERROR(check_alive(Entity::from_bits(key), "update", info.table));
  return not_found(tables_.describe_key(table, key) + " has no row in table '" + info.table->name + "'");
}

Status TransactionWriter::check_remove(std::uint16_t table, std::uint64_t key) const {
  const TableInfo& info = tables_.info(table);
  if (working_.state().find_row_index(table, key) != kNoRow) [[likely]] return Status::ok();  // alive: see check_write
  if (!info.many) ECSDB_RETURN_IF_ERROR(check_alive(Entity::from_bits(key), "remove from", info.table));
  return not_found(tables_.describe_key(table, key) + " has no row in table '" + info.table->name + "'");
}

// ---- operations ----

Result<Entity> TransactionWriter::create() {
  ECSDB_RETURN_IF_ERROR(require_txn());
  RegistryState& registry = working_.registry();
  std::vector<std::uint32_t>& free = working_.free_entities();
  storage::WriteContext& ctx = working_.context();
  UndoLog& undo = working_.undo_log();
  if (free.empty() && registry.used == 0xFFFFFFFFu) {
    return Status(StatusCode::kInternal, "entity registry is full (2^32 - 1 indices)");
  }
  undo.reserve();
  entity::prepare_create(registry, free, ctx);
  working_.set_dirty(true);
  const bool fresh = free.empty();
  const Entity e = entity::create_entity(registry, free, ctx);
  undo.push({UndoKind::kCreateEntity, false, 0, 0, fresh ? 1u : 0u, 0, e.bits(), 0, 0});
  return e;
}

Status TransactionWriter::create_many(std::size_t n, std::vector<Entity>& out) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  base::reserve_more(out, n);
  // One record per recycled index, one for the fresh ones.
  working_.undo_log().reserve(std::min(n, working_.free_entities().size()) + 1);
  // Recycled indices first (one at a time: each has its own generation)...
  while (n > 0 && !working_.free_entities().empty()) {
    ECSDB_ASSIGN_OR_RETURN(const Entity e, create());
    out.push_back(e);
    --n;
  }
  if (n == 0) return Status::ok();
  // ...then fresh ones, initialised a registry page at a time.
  RegistryState& r = working_.registry();
  storage::WriteContext& ctx = working_.context();
  if (n > 0xFFFFFFFEull - r.used) return Status(StatusCode::kInternal, "entity registry is full (2^32 - 1 indices)");
  working_.set_dirty(true);
  const std::uint32_t first = r.used;
  const auto count = static_cast<std::uint32_t>(n);
  storage::grow_to(r.slots, std::uint64_t{first} + count, ctx);
  const std::uint32_t per_page = 1u << r.slots.shift;
  for (std::uint32_t done = 0; done < count;) {
    const std::uint32_t index = first + done;
    const std::uint32_t take = std::min(per_page - (index & r.slots.mask), count - done);
    std::byte* slot = storage::mutable_range(r.slots, index, take, ctx);
    for (std::uint32_t i = 0; i < take; ++i, slot += r.slots.elem_size) {
      auto* s = reinterpret_cast<EntitySlot*>(slot);
      s->generation = 1;
      s->flags = 1u;  // alive
      out.push_back(Entity(index + i, 1));
    }
    done += take;
  }
  r.used = first + count;
  r.alive += count;
  working_.undo_log().push({UndoKind::kBulkCreate, false, 0, first, count, 0, 0, 0, 0});
  return Status::ok();
}

Status TransactionWriter::destroy(Entity e) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  ECSDB_RETURN_IF_ERROR(check_alive(e, "destroy", nullptr));
  for (std::uint16_t t : tables_.one_tables()) {
    if (working_.state().find_row_index(t, e.bits()) != kNoRow) working_.remove_row(t, e.bits());
  }
  // Its rows in `many` tables, from the owner columns' reverse index (no table scan).
  std::vector<std::uint64_t> children;
  for (std::uint16_t t : tables_.owned_many_tables()) {
    children.clear();
    working_.refs().referrers(tables_.info(t).ref_columns.back(), e, children);  // the owner column is the table's last
    for (std::uint64_t key : children) working_.remove_row(t, key);
  }
  constraints_.prepare_destroy();
  working_.destroy_entity(e);
  constraints_.note_destroyed(e);
  return Status::ok();
}

Status TransactionWriter::add(std::uint16_t table, Entity e, const void* bytes) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  ECSDB_RETURN_IF_ERROR(check_add(table, e));
  ECSDB_RETURN_IF_ERROR(working_.refs().check_ref_targets(table, static_cast<const std::byte*>(bytes), e.bits()));
  std::byte* row = working_.insert_row(table, e.bits(), e.bits());
  working_.fill_inserted_row(table, row, bytes);
  constraints_.note_references(table, e.bits());
  return Status::ok();
}

Status TransactionWriter::put(std::uint16_t table, Entity e, const void* bytes) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  if (!tables_.info(table).many && working_.state().find_row_index(table, e.bits()) != kNoRow) {
    return update(table, e.bits(), bytes);
  }
  return add(table, e, bytes);
}

Status TransactionWriter::update(std::uint16_t table, std::uint64_t key, const void* bytes) {
  return set_bytes(table, key, 0, tables_.info(table).stride, bytes);
}

Status TransactionWriter::set_bytes(std::uint16_t table, std::uint64_t key, std::uint32_t offset, std::uint32_t size,
                                    const void* bytes) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  ECSDB_RETURN_IF_ERROR(check_write(table, key, offset, size));
  if (size != 0 && tables_.write_touches_refs(table, offset, size)) {
    const std::byte* current = working_.state().find_row(table, key);
    std::vector<std::byte> after(current, current + tables_.info(table).stride);
    std::memcpy(after.data() + offset, bytes, size);
    ECSDB_RETURN_IF_ERROR(working_.refs().check_ref_targets(table, after.data(), 0));
  }
  if (size == 0) return Status::ok();
  working_.write_bytes(table, key, offset, size, bytes);
  constraints_.note_references(table, key);
  return Status::ok();
}

Status TransactionWriter::remove(std::uint16_t table, std::uint64_t key) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  ECSDB_RETURN_IF_ERROR(check_remove(table, key));
  working_.remove_row(table, key);
  return Status::ok();
}

Result<RowId> TransactionWriter::insert_child(std::uint16_t table, Entity owner, const void* bytes) {
  static_assert(kMaxRowIndex <= 0xFFFFFFFFu);
  ECSDB_RETURN_IF_ERROR(require_txn());
  const TableInfo& info = tables_.info(table);
  if (!info.many) {
    return invalid_argument("table '" + info.table->name + "' has cardinality one; use add()");
  }
  if (info.owned) ECSDB_RETURN_IF_ERROR(check_alive(owner, "insert into", info.table));
  ECSDB_RETURN_IF_ERROR(working_.refs().check_ref_targets(table, static_cast<const std::byte*>(bytes), info.owned ? owner.bits() : 0));
  TableAux& aux = working_.aux(table);
  std::uint32_t index;
  std::uint32_t generation = 1;
  const bool from_free = !aux.free_row_ids.empty();
  if (from_free) {
    index = aux.free_row_ids.back();
    generation = storage::key_generation(working_.state().tables[table], index);
  } else {
    if (aux.next_row_index >= kMaxRowIndex) {
      return Status(StatusCode::kInternal, "table '" + info.table->name + "' is full (" + std::to_string(kMaxRowIndex) + " row ids)");
    }
    index = aux.next_row_index;
  }
  const RowId id(index, generation);
  std::byte* row = working_.insert_row(table, id.bits(), info.owned ? owner.bits() : 0);
  // The id is taken only once the row exists (insert_row may fail with nothing changed).
  if (from_free) aux.free_row_ids.pop_back();
  else ++aux.next_row_index;
  working_.undo_log().back().size = from_free ? 1 : 0;
  working_.fill_inserted_row(table, row, bytes);
  constraints_.note_references(table, id.bits());
  return id;
}

Status TransactionWriter::add_many(std::uint16_t table, const Entity* entities, std::size_t n, const std::byte* rows) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  const TableInfo& info = tables_.info(table);
  if (info.many || info.table->is_entity_table) {
    return invalid_argument("table '" + info.table->name + "' is not a component table (cardinality one)");
  }
  if (!info.uniques.empty() || !info.auto_increments.empty() || !info.refs.empty()) {
    for (std::size_t i = 0; i < n; ++i) ECSDB_RETURN_IF_ERROR(add(table, entities[i], rows + i * info.stride));
    return Status::ok();
  }
  if (n == 0) return Status::ok();
  if (n > 0xFFFFFFFFu - working_.state().tables[table].row_count) return invalid_argument("add_many: too many rows");
  TableState& t = working_.table_to_change(table);
  RegistryState& registry = working_.registry();
  // The loops below walk the batch in runs of consecutive indices inside one page of each array
  // (create_many's entities are one such run per page): a page pointer per run, not a lookup per entity.
  const std::uint32_t run_room = std::min(registry.slots.mask, t.sparse.mask) + 1;
  const auto index_run = [&](std::size_t i) {
    const std::uint32_t start = entities[i].index();
    const std::uint32_t room = run_room - (start & (run_room - 1));
    std::size_t len = 1;
    while (len < room && i + len < n && entities[i + len].index() == start + len) ++len;
    return len;
  };
  std::vector<std::uint32_t> runs;  // the batch's runs, in order (the loops below walk them again)
  std::uint32_t max_index = 0;
  for (std::size_t i = 0; i < n;) {
    const std::size_t len = index_run(i);
    runs.push_back(static_cast<std::uint32_t>(len));
    const std::uint32_t start = entities[i].index();
    // Registry slots exist up to `used`; each is dereferenced only below it.
    const std::byte* slot = start < registry.used ? registry.slots.at(start) : nullptr;
    for (std::size_t k = 0; k < len; ++k) {
      const Entity e = entities[i + k];
      const std::byte* bytes = slot + k * registry.slots.elem_size;
      const auto* s = reinterpret_cast<const EntitySlot*>(bytes);
      if (e.index() >= registry.used || !s->alive() || s->generation != e.generation()) [[unlikely]] {
        return check_alive(e, "add_many to", info.table);
      }
      // Alive with its current generation, checked above.
      if (t.live_key_has_row(e.bits(), registry)) [[unlikely]] {
        return Status(StatusCode::kAlreadyExists, entity_name(e) + " already has a '" + info.table->name + "' component");
      }
    }
    max_index = std::max(max_index, start + static_cast<std::uint32_t>(len - 1));
    i += len;
  }
  // The undo record copies the keys before the longest run of consecutive indices of one generation that
  // ends the batch (create_many's fresh entities, after its recycled ones) and names that run by its first.
  std::size_t run_start = n - 1;
  while (run_start > 0 && entities[run_start].index() != 0 &&
         entities[run_start].bits() == entities[run_start - 1].bits() + 1) {
    --run_start;
  }
  storage::WriteContext& ctx = working_.context();
  UndoLog& undo = working_.undo_log();
  const std::uint32_t first = t.row_count;
  const auto count = static_cast<std::uint32_t>(n);
  // The batch's first `in_run` entities continue the table's identity run (TableState::identity_rows): they
  // need no sparse slot while the run covers them.
  std::uint32_t in_run = 0;
  if (t.identity_rows == first) {
    while (in_run < count && entities[in_run].index() == first + in_run) ++in_run;
  }
  // Allocate first (undo record and the keys it copies; sparse pages); then change nothing
  // that can fail. Rows copied past row_count before a failure are invisible and harmless.
  static_assert(sizeof(Entity) == sizeof(std::uint64_t) && std::is_trivially_copyable_v<Entity>,
                "an Entity's bytes are its key bits");
  const auto* keys = reinterpret_cast<const std::byte*>(entities);
  undo.reserve();
  const std::size_t saved_keys = run_start == 0 ? 0 : undo.save_bytes(keys, run_start * sizeof(std::uint64_t));
  storage::grow_absent_to(t.sparse, std::uint64_t{max_index} + 1, ctx);
  for (std::size_t i = 0; const std::uint32_t len : runs) {  // copies every shared page the batch writes
    // A run of the identity prefix writes slots only where a page is present; any other run needs its page.
    if (i + len <= in_run) storage::present_slots(t, entities[i].index(), len, ctx);
    else storage::mutable_slots(t, entities[i].index(), len, ctx);
    i += len;
  }
  working_.set_dirty(true);
  // Dense columns: page-sized copies.
  auto copy_into = [&](detail::PagedArray& a, const std::byte* src) {
    storage::grow_to(a, std::uint64_t{first} + count, ctx);
    const std::uint32_t per_page = 1u << a.shift;
    for (std::uint32_t done = 0; done < count;) {
      const std::uint32_t row = first + done;
      const std::uint32_t room = per_page - (row & a.mask);
      const std::uint32_t take = std::min(room, count - done);
      std::memcpy(storage::mutable_range(a, row, take, ctx), src + std::size_t{done} * a.elem_size, std::size_t{take} * a.elem_size);
      done += take;
    }
  };
  if (info.stride != 0) copy_into(t.rows, rows);
  // Keys: the identity prefix's are implied where their page is absent (TableState::keys; every entity was
  // checked alive with its generation above); the rest are copied, their pages made present.
  storage::grow_absent_to(t.keys, std::uint64_t{first} + count, ctx);
  for (std::uint32_t done = 0; done < count;) {
    const std::uint32_t row = first + done;
    const std::uint32_t take = std::min(t.keys.mask + 1 - (row & t.keys.mask), count - done);
    if (done + take > in_run || t.keys.present(row)) {
      std::memcpy(storage::mutable_keys(t, row, take, ctx), keys + std::size_t{done} * sizeof(std::uint64_t),
                  std::size_t{take} * sizeof(std::uint64_t));
    }
    done += take;
  }
  // Nothing below allocates: every page it writes was made private above.
  t.row_count = first + count;
  for (std::uint32_t i = 0; const std::uint32_t len : runs) {
    // Private since the loop above (nothing in between copies a page): these find them so. A null `sparse`:
    // the run is in the identity prefix and its page is absent, so it has no slots to write.
    detail::SparseSlot* sparse = storage::present_slots(t, entities[i].index(), len, ctx);
    const std::uint32_t end = i + len;
    if (sparse == nullptr) {
      i = end;
      continue;
    }
    for (; i < end; ++i, ++sparse) {
      if (sparse->row != kNoRow) [[unlikely]] {  // the same entity twice in the batch: take back what was placed
        for (std::uint32_t j = 0; j < i; ++j) {
          if (detail::SparseSlot* placed = storage::present_slots(t, entities[j].index(), 1, ctx)) placed->row = kNoRow;
        }
        t.row_count = first;
        return invalid_argument("add_many: " + entity_name(entities[i]) + " appears twice");
      }
      *sparse = SparseSlot{entities[i].generation(), first + i};
    }
  }
  const std::uint32_t identity_rows_before = t.identity_rows;
  if (in_run != 0) t.identity_rows = first + in_run;
  undo.push({UndoKind::kBulkInsert, false, table, first, count, identity_rows_before, entities[run_start].bits(),
             run_start, saved_keys});
  return Status::ok();
}

Status TransactionWriter::implicit_for_each_mut(std::uint16_t table, void* ctx, RowsVisitor visit) {
  return in_transaction([&] { return pass(table, ctx, visit); });
}

Status TransactionWriter::pass(std::uint16_t table, void* visit_ctx, RowsVisitor visit) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  TableState& t = working_.table_to_change(table);
  const TableInfo& info = tables_.info(table);
  if (info.stride == 0) return Status::ok();
  working_.set_dirty(true);
  const RegistryState& registry = working_.state().registry;
  if (!info.uniques.empty() || !info.ref_columns.empty()) {
    // Indexed rows: visit a copy and write back what changed, so that the unique and reverse-reference
    // indexes follow every change (and an exception from the visitor leaves that row untouched).
    std::vector<std::byte> copy(info.stride);
    for (std::uint32_t r = 0; r < t.row_count; ++r) {
      const std::uint64_t key = storage::row_key(t, r, registry);
      std::memcpy(copy.data(), t.rows.at(r), info.stride);
      visit(visit_ctx, ChunkKeys{&key, nullptr, 0, r}, copy.data(), 1, info.stride);
      if (std::memcmp(copy.data(), t.rows.at(r), info.stride) == 0) continue;
      ECSDB_RETURN_IF_ERROR(working_.refs().check_ref_targets(table, copy.data(), storage::row_owner(t, r, registry)));
      working_.write_bytes(table, key, 0, info.stride, copy.data());
      constraints_.note_references(table, key);
    }
    return Status::ok();
  }
  UndoLog& undo = working_.undo_log();
  storage::WriteContext& ctx = working_.context();
  const std::uint32_t per_page = 1u << t.rows.shift;
  // One undo record per page (kWriteRows, ADR 0024): the rows' bytes before. Where the page is shared with
  // published versions, the copy-on-write leaves them in the page it replaces, so the record points there
  // and nothing is copied. No keys are kept: the commit finds each row's key where the row is now, following
  // the moves the records after the pass made (build_delta).
  for (std::uint32_t start = 0; start < t.row_count; start += per_page) {
    const std::uint32_t count = std::min(t.row_count, start + per_page) - start;
    const std::uint32_t page = start >> t.rows.shift;
    undo.reserve(1);
    const bool shared = storage::private_page_or_null(t.rows, page, ctx.birth) == nullptr;
    const std::byte* before = t.rows.dir->pages()[page];
    const std::size_t saved = shared ? 0 : undo.save_bytes(before, std::size_t{count} * info.stride);
    std::uint64_t seen_keys = 0;
#if defined(ECSDB_DEBUG_CHECKS)
    // Debug builds keep the keys the pass saw when a delta is due, which build_delta checks the rows' moves
    // against.
    if (sink_ != nullptr || hub_.active()) seen_keys = 1 + undo.append_space(std::size_t{count} * sizeof(std::uint64_t));
    for (std::uint32_t i = 0; seen_keys != 0 && i < count; ++i) {
      const std::uint64_t key = storage::row_key(t, start + i, registry);
      std::memcpy(undo.bytes(seen_keys - 1 + std::size_t{i} * sizeof key), &key, sizeof key);
    }
#endif
    std::byte* rows = storage::mutable_page(t.rows, page, ctx);
    assert(!shared || ctx.retired.pages.back() == before);  // the copy retired the page the record points at
    undo.push({UndoKind::kWriteRows, false, table, start, count, 0, seen_keys,
               shared ? reinterpret_cast<std::uint64_t>(before) : 0, saved});
    // Chunks inside one page of keys and one of registry slots too (ChunkKeys).
    for (std::uint32_t i = 0; i < count;) {
      const std::uint32_t r = start + i;
      const std::uint32_t n = std::min({count - i, (r | t.keys.mask) + 1 - r, (r | registry.slots.mask) + 1 - r});
      visit(visit_ctx, chunk_keys(t, registry, r), rows + std::size_t{i} * info.stride, n, info.stride);
      i += n;
    }
  }
  return Status::ok();
}

}  // namespace ecsdb::detail
