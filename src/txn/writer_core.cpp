#include "txn/writer_core.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "base/reserve_more.hpp"
#include "entity/registry_ops.hpp"
#include "storage/field_codec.hpp"
#include "storage/table_ops.hpp"
#include "txn/delta_builder.hpp"
#include "txn/rollback.hpp"

namespace ecsdb::detail {

WriterCore::WriterCore(std::shared_ptr<const Schema> schema, const DatabaseOptions& options)
    : schema_(std::move(schema)),
      options_(options),
      tables_(*schema_),
      versions_(pool_, options.reader_slots),
      working_(tables_, pool_) {
  // Version 1, empty, so that readers always have something to pin.
  publish();
}

WriterCore::~WriterCore() {
  stop_thread();
  // Transactions still queued will never run: tell whoever waits on their tickets.
  while (!queue_.empty()) {
    QueuedTransaction* q = queue_.pop();
    if (q == nullptr) continue;
    std::shared_ptr<QueuedTransaction> node = std::move(q->self);
    resolve_ticket(*node, Status(StatusCode::kAborted, "database closed before the transaction ran"), 0);
  }
}

// ---- lifecycle ----

Status WriterCore::check_owner() const {
  if (thread_running_.load(std::memory_order_acquire) &&
      writer_thread_id_.load(std::memory_order_acquire) != std::this_thread::get_id()) [[unlikely]] {
    return Status(StatusCode::kInvalidArgument,
                  "the background writer thread owns the writer (Database::start_writer_thread): write through "
                  "Database::submit, or stop the thread first");
  }
  return Status::ok();
}

Status WriterCore::begin() {
  ECSDB_RETURN_IF_ERROR(check_owner());
  if (in_txn_) return invalid_argument("a transaction is already open on this writer; commit or roll it back first");
  in_txn_ = true;
  dirty_at_begin_ = working_.dirty();
  return Status::ok();
}

Status WriterCore::require_txn() const {
  if (!in_txn_) return invalid_argument("no open transaction (it was committed or rolled back)");
  return Status::ok();
}

Status WriterCore::commit() {
  ECSDB_RETURN_IF_ERROR(require_txn());
  // Until the record is logged, any failure rolls the transaction back: a Status here, an exception
  // (std::bad_alloc) in the caller (the public API catches it, rolls back, returns kResourceExhausted).
  Status s = constraints_.apply_on_delete();
  if (s.is_ok()) s = constraints_.check();
  if (!s.is_ok()) {
    rollback();
    return s;
  }
  if (!hub_.active()) commits_without_delta_ = true;
  if (hub_.active() || sink_ != nullptr) {
    auto d = std::make_shared<Delta>();
    build_delta(working_, *d);
    d->first_commit = d->last_commit = commits_ + 1;
    d->version = working_.context().birth;
    const bool deliver = hub_.active() && !d->empty();
    if (deliver) base::reserve_more(pending_deltas_, 1);
    if (sink_ != nullptr && !d->empty()) {
      // The record is appended before the version is published; a log that cannot take it (poisoned by
      // a failed fsync) fails the transaction, which then changes nothing.
      if (Status logged = sink_->append(*d, logged_lsn_.load() + 1, working_.context().birth); !logged.is_ok()) {
        rollback();
        return logged;
      }
      logged_lsn_.fetch_add(1, std::memory_order_release);
    }
    if (deliver) pending_deltas_.push_back(std::move(d));
  }
  // Point of no return: the commit is logged (or needs no log). Nothing below may fail it.
  commits_.fetch_add(1, std::memory_order_relaxed);
  end_txn();
  working_.unique_index().sweep();
  ++commits_since_publish_;
  if (!suppress_publish_ && options_.publish_every_commits != 0 &&
      commits_since_publish_ >= options_.publish_every_commits) {
    publish_after_commit();
  }
  return Status::ok();
}

void WriterCore::publish_after_commit() noexcept {
  try {
    publish();
    drain_if_queued();
  } catch (const std::bad_alloc&) {
    // Out of memory for the new version (or for queued work): the commit stands, and readers see it at
    // the next publish that succeeds. publish() changes nothing when it fails.
  }
}

void WriterCore::drain_if_queued() {
  // Queued transactions join the owner's publishes (here: one per commit; in tick mode
  // WriterHandle::publish drains), so their tickets resolve without a writer thread. A few plain loads
  // when the queue is empty.
  if (!thread_running_.load(std::memory_order_relaxed) && !queue_.empty()) drain();
}

void WriterCore::rollback() noexcept {
  if (!in_txn_) return;
  roll_back(working_);
  end_txn();
  working_.set_dirty(dirty_at_begin_);  // content equals what it was; copied pages are harmless
  rollbacks_.fetch_add(1, std::memory_order_relaxed);
}

void WriterCore::end_txn() {
  working_.undo_log().clear();
  constraints_.clear();
  working_.unique_index().clear_suspects();
  in_txn_ = false;
}

void WriterCore::publish() {
  if (in_txn_ || !working_.dirty()) return;
  const std::uint64_t copied = working_.publish_to(versions_, commits_, logged_lsn_.load());  // strong
  pages_per_publish_.record(copied);
  pages_copied_total_.fetch_add(copied, std::memory_order_relaxed);
  commits_since_publish_ = 0;
  const std::uint64_t published = working_.context().birth - 1;
  // A subscriber that joined after some commits of this version (made with no delta) cannot be given
  // them: it is told it lost events, so it resynchronises from a view of this version or later.
  try {
    hub_.begin_version(commits_without_delta_);
    for (auto& d : pending_deltas_) {
      d->version = published;
      hub_.publish(d);
    }
  } catch (const std::bad_alloc&) {
    hub_.mark_all_lost();  // subscribers resynchronise, as after a ring overflow
  }
  commits_without_delta_ = false;
  pending_deltas_.clear();
}

// ---- helpers ----

Status WriterCore::check_alive(Entity e, std::string_view op, const Table* table) const {
  if (working_.state().registry.is_alive(e)) [[likely]] return Status::ok();
  // The message is built only on failure: this check runs on every write.
  std::string what(op);
  if (table != nullptr) what += " table '" + table->name + "'";
  return Status(StatusCode::kStaleEntity, what + ": " + entity_name(e) +
                                              " is not alive (destroyed, or a stale id from before its index was reused)");
}

// ---- operations ----

Result<Entity> WriterCore::create() {
  ECSDB_RETURN_IF_ERROR(require_txn());
  if (working_.free_entities().empty() && working_.state().registry.used == 0xFFFFFFFFu) {
    return Status(StatusCode::kInternal, "entity registry is full (2^32 - 1 indices)");
  }
  working_.undo_log().reserve();
  entity::prepare_create(working_.state().registry, working_.free_entities(), working_.context());
  working_.set_dirty(true);
  const bool fresh = working_.free_entities().empty();
  const Entity e = entity::create_entity(working_.state().registry, working_.free_entities(), working_.context());
  working_.undo_log().push({UndoKind::kCreateEntity, false, 0, 0, fresh ? 1u : 0u, e.bits(), 0, 0});
  return e;
}

Status WriterCore::create_many(std::size_t n, std::vector<Entity>& out) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  base::reserve_more(out, n);
  working_.undo_log().reserve(n);
  // Recycled indices first (one at a time: each has its own generation)...
  while (n > 0 && !working_.free_entities().empty()) {
    ECSDB_ASSIGN_OR_RETURN(const Entity e, create());
    out.push_back(e);
    --n;
  }
  if (n == 0) return Status::ok();
  // ...then fresh ones, initialised a registry page at a time.
  RegistryState& r = working_.state().registry;
  if (n > 0xFFFFFFFEull - r.used) return Status(StatusCode::kInternal, "entity registry is full (2^32 - 1 indices)");
  working_.set_dirty(true);
  const std::uint32_t first = r.used;
  const auto count = static_cast<std::uint32_t>(n);
  storage::grow_to(r.slots, std::uint64_t{first} + count, working_.context());
  const std::uint32_t per_page = 1u << r.slots.shift;
  for (std::uint32_t done = 0; done < count;) {
    const std::uint32_t index = first + done;
    const std::uint32_t take = std::min(per_page - (index & r.slots.mask), count - done);
    std::byte* slot = storage::mutable_at(r.slots, index, working_.context());
    for (std::uint32_t i = 0; i < take; ++i, slot += r.slots.elem_size) {
      auto* s = reinterpret_cast<EntitySlot*>(slot);
      s->generation = 1;
      s->alive = 1;
      std::memset(slot + sizeof(EntitySlot), 0, r.slots.elem_size - sizeof(EntitySlot));
      out.push_back(Entity(index + i, 1));
    }
    done += take;
  }
  r.used = first + count;
  r.alive += count;
  working_.undo_log().push({UndoKind::kBulkCreate, false, 0, first, count, 0, 0, 0});
  return Status::ok();
}

Status WriterCore::destroy(Entity e) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  ECSDB_RETURN_IF_ERROR(check_alive(e, "destroy", nullptr));
  for (std::uint16_t t : tables_.one_tables()) {
    if (entity::has_component_bit(working_.state().registry, e.index(), t)) working_.remove_row(t, e.bits());
  }
  // Its rows in `many` tables, from the owner columns' reverse index (no table scan).
  std::vector<std::uint64_t> children;
  for (std::uint16_t t : tables_.owned_many_tables()) {
    children.clear();
    working_.refs().referrers(tables_.info(t).ref_columns.back(), e, children);  // the owner column is the table's last
    for (std::uint64_t key : children) working_.remove_row(t, key);
  }
  working_.undo_log().reserve();
  base::reserve_more(working_.free_entities(), 1);
  constraints_.prepare_destroy();
  entity::prepare_slot(working_.state().registry, e.index(), working_.context());
  working_.set_dirty(true);
  entity::destroy_entity(working_.state().registry, e, working_.free_entities(), working_.context());
  working_.undo_log().push({UndoKind::kDestroyEntity, false, 0, 0, 0, e.bits(), 0, 0});
  constraints_.note_destroyed(e);
  return Status::ok();
}

// Preconditions of one operation, shared by transactions and the undo-free implicit path.
Status WriterCore::check_add(std::uint16_t table, Entity e) const {
  const TableInfo& info = tables_.info(table);
  if (info.many || info.table->is_entity_table) {
    return invalid_argument("table '" + info.table->name + "' is not a component table (cardinality one); " +
                            (info.many ? "use insert_child" : "entities are created with create()"));
  }
  ECSDB_RETURN_IF_ERROR(check_alive(e, "add to", info.table));
  if (working_.state().find_row_index(table, e.bits()) != kNoRow) {
    return Status(StatusCode::kAlreadyExists, entity_name(e) + " already has a '" + info.table->name +
                                                  "' component; use update() or put()");
  }
  return Status::ok();
}

Status WriterCore::check_write(std::uint16_t table, std::uint64_t key, std::uint32_t offset, std::uint32_t size) const {
  const TableInfo& info = tables_.info(table);
  if (offset > info.stride || size > info.stride - offset) {
    return invalid_argument("write of " + std::to_string(size) + " bytes at offset " + std::to_string(offset) +
                            " is outside the " + std::to_string(info.stride) + "-byte row of table '" +
                            info.table->name + "'");
  }
  if (!info.many) ECSDB_RETURN_IF_ERROR(check_alive(Entity::from_bits(key), "update", info.table));
  if (working_.state().find_row_index(table, key) == kNoRow) {
    return not_found(tables_.describe_key(table, key) + " has no row in table '" + info.table->name + "'");
  }
  return Status::ok();
}

Status WriterCore::check_remove(std::uint16_t table, std::uint64_t key) const {
  const TableInfo& info = tables_.info(table);
  if (!info.many) ECSDB_RETURN_IF_ERROR(check_alive(Entity::from_bits(key), "remove from", info.table));
  if (working_.state().find_row_index(table, key) == kNoRow) {
    return not_found(tables_.describe_key(table, key) + " has no row in table '" + info.table->name + "'");
  }
  return Status::ok();
}

Status WriterCore::add(std::uint16_t table, Entity e, const void* bytes) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  ECSDB_RETURN_IF_ERROR(check_add(table, e));
  ECSDB_RETURN_IF_ERROR(working_.refs().check_ref_targets(table, static_cast<const std::byte*>(bytes), e.bits()));
  std::byte* row = working_.insert_row(table, e.bits(), e.bits());
  working_.fill_inserted_row(table, row, bytes);
  constraints_.note_references(table, e.bits());
  return Status::ok();
}

Status WriterCore::put(std::uint16_t table, Entity e, const void* bytes) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  if (!tables_.info(table).many && working_.state().find_row_index(table, e.bits()) != kNoRow) {
    return update(table, e.bits(), bytes);
  }
  return add(table, e, bytes);
}

Status WriterCore::update(std::uint16_t table, std::uint64_t key, const void* bytes) {
  return set_bytes(table, key, 0, tables_.info(table).stride, bytes);
}

Status WriterCore::set_bytes(std::uint16_t table, std::uint64_t key, std::uint32_t offset, std::uint32_t size,
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

Status WriterCore::remove(std::uint16_t table, std::uint64_t key) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  ECSDB_RETURN_IF_ERROR(check_remove(table, key));
  working_.remove_row(table, key);
  return Status::ok();
}

Result<RowId> WriterCore::insert_child(std::uint16_t table, Entity owner, const void* bytes) {
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
  // The id is taken only once the row exists (do_insert may fail with nothing changed).
  if (from_free) aux.free_row_ids.pop_back();
  else ++aux.next_row_index;
  working_.undo_log().back().size = from_free ? 1 : 0;
  working_.fill_inserted_row(table, row, bytes);
  constraints_.note_references(table, id.bits());
  return id;
}

Status WriterCore::implicit_write(ImplicitOp op, std::uint16_t table, std::uint64_t key, std::uint32_t offset,
                                  std::uint32_t size, const void* bytes) {
  ECSDB_RETURN_IF_ERROR(check_owner());
  const TableInfo& info = tables_.info(table);
  // Without a log or a subscriber nothing needs the undo records (no delta to build), and a table with no
  // reference or unique field cannot fail at commit once the operation itself succeeded: apply directly.
  const bool direct = !in_txn_ && sink_ == nullptr && !hub_.active() && info.refs.empty() &&
                      info.uniques.empty() && info.auto_increments.empty() && !info.many &&
                      !info.table->is_entity_table;
  if (!direct) {
    ECSDB_RETURN_IF_ERROR(begin());
    Status s;
    switch (op) {
      case ImplicitOp::kAdd: s = add(table, Entity::from_bits(key), bytes); break;
      case ImplicitOp::kSet: s = set_bytes(table, key, offset, size, bytes); break;
      case ImplicitOp::kRemove: s = remove(table, key); break;
    }
    if (!s.is_ok()) {
      rollback();
      return s;
    }
    return commit();
  }
  const Entity e = Entity::from_bits(key);
  TableState& t = working_.state().tables[table];
  switch (op) {
    case ImplicitOp::kAdd: {
      ECSDB_RETURN_IF_ERROR(check_add(table, e));
      storage::prepare_insert(t, key, working_.context());  // allocate first: this path has no undo log
      entity::prepare_slot(working_.state().registry, e.index(), working_.context());
      working_.set_dirty(true);
      std::byte* row = storage::insert_row(t, key, key, working_.context());
      entity::set_component_bit(working_.state().registry, e.index(), table, true, working_.context());
      if (row != nullptr) std::memcpy(row, bytes, info.stride);
      break;
    }
    case ImplicitOp::kSet: {
      ECSDB_RETURN_IF_ERROR(check_write(table, key, offset, size));
      if (size != 0) std::memcpy(working_.write_row(table, working_.state().find_row_index(table, key)) + offset, bytes, size);
      break;
    }
    case ImplicitOp::kRemove: {
      ECSDB_RETURN_IF_ERROR(check_remove(table, key));
      storage::prepare_remove(t, key, working_.context());
      entity::prepare_slot(working_.state().registry, e.index(), working_.context());
      working_.set_dirty(true);
      storage::remove_row(t, key, working_.context());
      entity::set_component_bit(working_.state().registry, e.index(), table, false, working_.context());
      break;
    }
  }
  commits_.fetch_add(1, std::memory_order_relaxed);
  commits_without_delta_ = true;
  if (options_.publish_every_commits != 0 && ++commits_since_publish_ >= options_.publish_every_commits) {
    publish_after_commit();
  }
  return Status::ok();
}

Status WriterCore::add_many(std::uint16_t table, const Entity* entities, std::size_t n, const std::byte* rows) {
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
  std::uint32_t max_index = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ECSDB_RETURN_IF_ERROR(check_alive(entities[i], "add_many to", info.table));
    if (working_.state().find_row_index(table, entities[i].bits()) != kNoRow) {
      return Status(StatusCode::kAlreadyExists, entity_name(entities[i]) + " already has a '" + info.table->name + "' component");
    }
    max_index = std::max(max_index, entities[i].index());
  }
  TableState& t = working_.state().tables[table];
  const std::uint32_t first = t.row_count;
  const auto count = static_cast<std::uint32_t>(n);
  // Allocate first (undo record and its key copy, sparse and registry pages); then change nothing that
  // can fail. Rows copied past row_count before a failure are invisible and harmless.
  std::vector<std::uint64_t> keys(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = entities[i].bits();
  working_.undo_log().reserve();
  const std::size_t saved_keys = working_.undo_log().save_bytes(keys.data(), n * sizeof(std::uint64_t));
  const SparseSlot empty{0, kNoRow};
  if (max_index >= t.sparse.capacity()) storage::grow_to(t.sparse, std::uint64_t{max_index} + 1, working_.context(), &empty);
  for (std::uint32_t i = 0; i < count; ++i) {
    storage::mutable_at(t.sparse, entities[i].index(), working_.context());
    entity::prepare_slot(working_.state().registry, entities[i].index(), working_.context());
  }
  working_.set_dirty(true);
  // Dense columns: page-sized copies.
  auto copy_into = [&](detail::PagedArray& a, const std::byte* src) {
    storage::grow_to(a, std::uint64_t{first} + count, working_.context());
    const std::uint32_t per_page = 1u << a.shift;
    for (std::uint32_t done = 0; done < count;) {
      const std::uint32_t row = first + done;
      const std::uint32_t room = per_page - (row & a.mask);
      const std::uint32_t take = std::min(room, count - done);
      std::memcpy(storage::mutable_at(a, row, working_.context()), src + std::size_t{done} * a.elem_size, std::size_t{take} * a.elem_size);
      done += take;
    }
  };
  if (info.stride != 0) copy_into(t.rows, rows);
  copy_into(t.keys, reinterpret_cast<const std::byte*>(keys.data()));
  // Nothing below allocates.
  t.row_count = first + count;
  for (std::uint32_t i = 0; i < count; ++i) {
    auto* slot = reinterpret_cast<SparseSlot*>(storage::mutable_at(t.sparse, entities[i].index(), working_.context()));
    if (slot->row != kNoRow) {  // the same entity twice in the batch: take back what was placed
      for (std::uint32_t j = 0; j < i; ++j) {
        reinterpret_cast<SparseSlot*>(storage::mutable_at(t.sparse, entities[j].index(), working_.context()))->row = kNoRow;
        entity::set_component_bit(working_.state().registry, entities[j].index(), table, false, working_.context());
      }
      t.row_count = first;
      return invalid_argument("add_many: " + entity_name(entities[i]) + " appears twice");
    }
    *slot = SparseSlot{entities[i].generation(), first + i};
    entity::set_component_bit(working_.state().registry, entities[i].index(), table, true, working_.context());
  }
  working_.undo_log().push({UndoKind::kBulkInsert, false, table, first, count, 0, 0, saved_keys});
  return Status::ok();
}

Status WriterCore::for_each_mut(std::uint16_t table, void* visit_ctx,
                                void (*visit)(void*, std::uint64_t, std::byte*)) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  TableState& t = working_.state().tables[table];
  const TableInfo& info = tables_.info(table);
  if (info.stride == 0) return Status::ok();
  working_.set_dirty(true);
  if (!info.uniques.empty() || !info.ref_columns.empty()) {
    // Indexed rows: visit a copy and write back what changed, so that the unique and reverse-reference
    // indexes follow every change (and an exception from the visitor leaves that row untouched).
    std::vector<std::byte> copy(info.stride);
    for (std::uint32_t r = 0; r < t.row_count; ++r) {
      const std::uint64_t key = storage::row_key(t, r);
      std::memcpy(copy.data(), t.rows.at(r), info.stride);
      visit(visit_ctx, key, copy.data());
      if (std::memcmp(copy.data(), t.rows.at(r), info.stride) == 0) continue;
      ECSDB_RETURN_IF_ERROR(working_.refs().check_ref_targets(table, copy.data(), storage::row_owner(t, r)));
      working_.write_bytes(table, key, 0, info.stride, copy.data());
      constraints_.note_references(table, key);
    }
    return Status::ok();
  }
  const std::uint32_t per_page = 1u << t.rows.shift;
  for (std::uint32_t start = 0; start < t.row_count; start += per_page) {
    const std::uint32_t end = std::min(t.row_count, start + per_page);
    // Undo: the rows' bytes as they were, one record per row (keys stay put: rows do not move).
    working_.undo_log().reserve(end - start);
    for (std::uint32_t r = start; r < end; ++r) {
      const std::uint64_t key = storage::row_key(t, r);
      const std::size_t saved = working_.undo_log().save_bytes(t.rows.at(r), info.stride);
      working_.undo_log().push({UndoKind::kWriteBytes, false, table, 0, info.stride, key, 0, saved});
    }
    std::byte* row = storage::mutable_page(t.rows, start >> t.rows.shift, working_.context());
    for (std::uint32_t r = start; r < end; ++r, row += info.stride) visit(visit_ctx, storage::row_key(t, r), row);
  }
  return Status::ok();
}

}  // namespace ecsdb::detail

// ---- queue ----

namespace ecsdb::detail {

namespace {
inline void cpu_relax() noexcept { __builtin_ia32_pause(); }
std::uint64_t nanos_since(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t).count());
}
void resolve(QueuedTransaction& q, Status status, std::uint64_t version) { resolve_ticket(q, std::move(status), version); }
}  // namespace

void resolve_ticket(QueuedTransaction& q, Status status, std::uint64_t version) {
  q.status = std::move(status);
  q.version = version;
  q.done.store(1, std::memory_order_release);
  q.done.notify_all();
}

CommitTicket WriterCore::submit(TransactionBody body) {
  auto node = std::make_shared<QueuedTransaction>();
  node->body = std::move(body);
  node->submitted = std::chrono::steady_clock::now();
  node->self = node;  // the queue's reference, dropped by the writer once resolved
  CommitTicket ticket(node);
  submitted_.fetch_add(1, std::memory_order_relaxed);
  queue_.push(node.get());
  // Pairs with the writer's sleeping_ store + empty() check (both seq_cst): either the writer sees this
  // push, or we see it asleep and wake it.
  if (sleeping_.load(std::memory_order_seq_cst)) {
    wake_.fetch_add(1, std::memory_order_seq_cst);
    wake_.notify_one();
  }
  return ticket;
}

std::size_t WriterCore::drain() {
  if (in_txn_) return 0;  // the owner has a transaction open: drain after it ends
  // Room for every ticket of the batch up front: once a transaction has committed, keeping its ticket
  // must not fail.
  batch_ok_.reserve(options_.batch_max_transactions);
  std::size_t ran = 0;
  const auto batch_start = std::chrono::steady_clock::now();
  const auto max_delay = std::chrono::microseconds(options_.batch_max_delay_us);
  suppress_publish_ = true;
  while (ran < options_.batch_max_transactions) {
    QueuedTransaction* raw = queue_.pop();
    if (raw == nullptr) {
      if (!queue_.empty()) {
        // A producer is between its exchange and its link, maybe pre-empted there for a whole time
        // slice. Never hold a batch hostage to it: publish and resolve what ran; its node is taken on
        // a later call. With nothing in hand, give it the CPU.
        if (ran == 0) std::this_thread::yield();
        break;
      }
      if (max_delay.count() == 0 || std::chrono::steady_clock::now() - batch_start >= max_delay) break;
      cpu_relax();
      continue;
    }
    dequeued_.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<QueuedTransaction> node = std::move(raw->self);
    ++ran;
    Status s;
    if (Status b = begin(); !b.is_ok()) {
      s = b;
    } else {
      Transaction t(this, db_);
      try {
        s = node->body(t);
      } catch (const std::exception& e) {
        s = Status(StatusCode::kAborted, std::string("transaction body threw: ") + e.what());
      } catch (...) {
        s = Status(StatusCode::kAborted, "transaction body threw a non-standard exception");
      }
      if (s.is_ok()) {
        if (t.active()) s = t.commit();
      } else {
        t.rollback();
      }
    }
    node->body = nullptr;  // release captures now, not when the last ticket copy goes
    if (s.is_ok()) batch_ok_.push_back(std::move(node));
    else resolve(*node, std::move(s), 0);
  }
  suppress_publish_ = false;
  if (ran == 0) return 0;
  publish();
  const std::uint64_t version = versions_.published_number();
  for (auto& node : batch_ok_) submit_to_visible_ns_.record(nanos_since(node->submitted));
  if (sink_ != nullptr) {
    sink_->resolve_when_durable(logged_lsn_.load(), version, std::move(batch_ok_));
  } else {
    for (auto& node : batch_ok_) resolve(*node, Status::ok(), version);
  }
  batch_ok_.clear();
  batch_sizes_.record(ran);
  return ran;
}

Status WriterCore::start_thread() {
  if (thread_.joinable()) return invalid_argument("the writer thread is already running");
  if (in_txn_) return invalid_argument("cannot start the writer thread while a transaction is open");
  stop_.store(false);
  thread_running_.store(true, std::memory_order_release);
  thread_ = std::thread([this] {
    writer_thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
    const auto spin = std::chrono::microseconds(options_.writer_spin_us);
    // Out of memory must not kill the process: a batch that cannot start is retried shortly (each
    // transaction's own failure is already its ticket's status).
    auto drain_or_back_off = [this]() -> std::size_t {
      try {
        return drain();
      } catch (const std::bad_alloc&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return 1;
      }
    };
    while (!stop_.load(std::memory_order_acquire)) {
      if (drain_or_back_off() != 0) continue;
      const auto idle_since = std::chrono::steady_clock::now();
      while (queue_.empty() && !stop_.load(std::memory_order_relaxed) &&
             std::chrono::steady_clock::now() - idle_since < spin) {
        for (int i = 0; i < 64; ++i) cpu_relax();
      }
      if (!queue_.empty()) continue;
      sleeping_.store(true, std::memory_order_seq_cst);
      const std::uint32_t seen = wake_.load(std::memory_order_seq_cst);
      if (queue_.empty() && !stop_.load(std::memory_order_seq_cst)) wake_.wait(seen, std::memory_order_seq_cst);
      sleeping_.store(false, std::memory_order_relaxed);
    }
    while (drain_or_back_off() != 0) {
    }
  });
  return Status::ok();
}

void WriterCore::stop_thread() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_seq_cst);
  wake_.fetch_add(1, std::memory_order_seq_cst);
  wake_.notify_one();
  thread_.join();
  thread_running_.store(false, std::memory_order_release);
  writer_thread_id_.store(std::thread::id(), std::memory_order_release);
}

void WriterCore::fill_queue_metrics(DatabaseMetrics& m) const {
  m.submitted = submitted_.load(std::memory_order_relaxed);
  const std::uint64_t taken = dequeued_.load(std::memory_order_relaxed);
  m.queue_depth = m.submitted > taken ? m.submitted - taken : 0;
  m.submit_to_visible_p50_ns = submit_to_visible_ns_.quantile(0.5);
  m.submit_to_visible_p99_ns = submit_to_visible_ns_.quantile(0.99);
  m.batch_size_mean = batch_sizes_.mean();
  m.batch_size_p99 = batch_sizes_.quantile(0.99);
  m.pages_copied_per_publish_mean = pages_per_publish_.mean();
}

}  // namespace ecsdb::detail

// ---- recovery ----

namespace ecsdb::detail {

Status WriterCore::apply_delta(const Delta& d) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  ECSDB_RETURN_IF_ERROR(loader_.apply_delta(d));
  constraints_.forget_references();  // the log holds committed, checked state
  return Status::ok();
}

Status WriterCore::load_rows(std::uint16_t table, std::uint32_t n, const std::byte* keys, const std::byte* owners,
                             const std::byte* rows) {
  return loader_.load_rows(table, n, keys, owners, rows);
}

Status WriterCore::load_registry(std::uint32_t used, const std::byte* pairs) {
  return loader_.load_registry(used, pairs);
}

void WriterCore::finish_load() { loader_.finish_load(); }

void WriterCore::resume_after(std::uint64_t lsn, std::uint64_t version) {
  logged_lsn_.store(lsn);
  if (commits_.load() < lsn) commits_.store(lsn);
  // Publish the recovered state as `version` so version numbers never go backwards across restarts.
  working_.advance_to(version);
  working_.set_dirty(true);
  publish();
}

}  // namespace ecsdb::detail
