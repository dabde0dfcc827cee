#include "txn/transaction_writer.hpp"

#include "base/copy_small.hpp"
#include "base/owner_counter.hpp"
#include "base/reserve_more.hpp"
#include "entity/registry_ops.hpp"
#include "storage/table_ops.hpp"
#include "txn/delta_builder.hpp"
#include "txn/rollback.hpp"

namespace ecsdb::detail {

TransactionWriter::TransactionWriter(std::shared_ptr<const Schema> schema, const DatabaseOptions& options)
    : schema_(std::move(schema)),
      options_(options),
      tables_(*schema_),
      versions_(pool_, options.reader_slots),
      working_(tables_, pool_, options.page_bytes, options.ping_pong_pages) {
  // Version 1, empty, so that readers always have something to pin.
  publish();
}

TransactionWriter::~TransactionWriter() = default;

// ---- lifecycle ----

Status TransactionWriter::check_thread() const {
  if (writer_thread_id_.load(std::memory_order_acquire) != std::this_thread::get_id()) {
    return Status(StatusCode::kInvalidArgument,
                  "the background writer thread owns the writer (Database::start_writer_thread): write through "
                  "Database::submit, or stop the thread first");
  }
  return Status::ok();
}

Status TransactionWriter::begin() {
  ECSDB_RETURN_IF_ERROR(check_owner());
  if (in_txn_) return invalid_argument("a transaction is already open on this writer; commit or roll it back first");
  in_txn_ = true;
  dirty_at_begin_ = working_.dirty();
  return Status::ok();
}

Status TransactionWriter::require_txn() const {
  if (!in_txn_) return invalid_argument("no open transaction (it was committed or rolled back)");
  return Status::ok();
}

Status TransactionWriter::commit() {
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
  base::bump(commits_, 1);
  end_txn();
  working_.unique_index().sweep();
  ++commits_since_publish_;
  if (!suppress_publish_ && options_.publish_every_commits != 0 &&
      commits_since_publish_ >= options_.publish_every_commits) {
    publish_after_commit();
  }
  return Status::ok();
}

void TransactionWriter::publish_after_commit() noexcept {
  try {
    publish();
    after_commit_publish();
  } catch (const std::bad_alloc&) {
    // Out of memory for the new version (or for queued work): the commit stands, and readers see it at
    // the next publish that succeeds. publish() changes nothing when it fails.
  }
}

void TransactionWriter::rollback() noexcept {
  if (!in_txn_) return;
  roll_back(working_);
  end_txn();
  working_.set_dirty(dirty_at_begin_);  // content equals what it was; copied pages are harmless
  base::bump(rollbacks_, 1);
}

void TransactionWriter::end_txn() {
  working_.undo_log().clear();
  constraints_.clear();
  working_.unique_index().clear_suspects();
  scratch_bytes_.store(working_.undo_log().capacity_bytes() + constraints_.capacity_bytes(), std::memory_order_relaxed);
  in_txn_ = false;
}

void TransactionWriter::publish() {
  if (in_txn_ || !working_.dirty()) return;
  const WorkingVersion::Copies copied = working_.publish_to(versions_, commits_, logged_lsn_.load());  // strong
  pages_per_publish_.record_owned(copied.pages);
  base::bump(pages_copied_total_, copied.pages);
  base::bump(pages_replayed_total_, copied.replayed);
  base::bump(bytes_copied_total_, copied.bytes);
  commits_since_publish_ = 0;
  const std::uint64_t published = working_.context().birth - 1;
  // A subscriber that joined after some commits of this version (made with no delta) cannot be given
  // them: it is told it lost events, so it resynchronises from a view of this version or later.
  try {
    hub_.begin_version(commits_without_delta_);
    for (auto& d : pending_deltas_) d->version = published;
    if (pending_deltas_.empty() && hub_.wants_markers()) {
      auto marker = std::make_shared<Delta>();  // a version that changed nothing visible (see every_version)
      marker->version = published;
      pending_deltas_.push_back(std::move(marker));
    }
    if (!pending_deltas_.empty()) hub_.publish(pending_deltas_);
  } catch (const std::bad_alloc&) {
    hub_.mark_all_lost();  // subscribers resynchronise, as after a ring overflow
  }
  commits_without_delta_ = false;
  pending_deltas_.clear();
}

// ---- implicit transactions ----

Status TransactionWriter::implicit_write(ImplicitOp op, std::uint16_t table, std::uint64_t key, std::uint32_t offset,
                                         std::uint32_t size, const void* bytes) {
  ECSDB_RETURN_IF_ERROR(check_owner());
  const TableInfo& info = tables_.info(table);
  // Without a log or a subscriber nothing needs the undo records (no delta to build), and a table with no
  // reference or unique field cannot fail at commit once the operation itself succeeded: apply directly.
  if (!info.plain || !may_apply_in_place()) {
    return in_transaction([&] {
      switch (op) {
        case ImplicitOp::kAdd: return add(table, Entity::from_bits(key), bytes);
        case ImplicitOp::kSet: return set_bytes(table, key, offset, size, bytes);
        case ImplicitOp::kRemove: break;
      }
      return remove(table, key);
    });
  }
  const Entity e = Entity::from_bits(key);
  TableState& t = working_.table_to_change(table);
  RegistryState& registry = working_.registry();
  storage::WriteContext& ctx = working_.context();
  switch (op) {
    case ImplicitOp::kAdd: {
      ECSDB_RETURN_IF_ERROR(check_add(table, e));
      storage::prepare_insert(t, key, ctx);  // allocate first: this path has no undo log
      working_.set_dirty(true);
      storage::insert_row(t, key, key, ctx, bytes);
      break;
    }
    case ImplicitOp::kSet: {
      std::uint32_t row = kNoRow;
      ECSDB_RETURN_IF_ERROR(check_write(table, key, offset, size, &row));
      if (size != 0) base::copy_small(working_.write_row(table, row) + offset, bytes, size);
      break;
    }
    case ImplicitOp::kRemove: {
      // The row found proves the entity alive (check_write); no row: check_remove says what is wrong.
      const std::uint32_t row = t.row_of(key, registry);
      if (row == kNoRow) [[unlikely]] return check_remove(table, key);
      remove_found(t, key, row);
      break;
    }
  }
  committed_in_place();
  return Status::ok();
}

// The common case of implicit_write(kSet) alone: the owning thread, a plain table applied in place, a row
// found for the key. Everything else (a wrong thread, a transaction to run, an error to explain) goes to
// implicit_write, which checks it all again and says what is wrong. A function this small keeps the path
// of one update short, so that a tick of random updates can start the next one's cache misses while this
// one's are outstanding.
Status TransactionWriter::implicit_set(std::uint16_t table, std::uint64_t key, std::uint32_t offset,
                                       std::uint32_t size, const void* bytes) {
  const TableInfo& info = tables_.info(table);
  if (!takes_short_path(info) || offset > info.stride || size > info.stride - offset) [[unlikely]] {
    return implicit_write(ImplicitOp::kSet, table, key, offset, size, bytes);
  }
  const std::uint32_t row = writable_row(table, key, offset);
  if (row == kNoRow) [[unlikely]] return implicit_write(ImplicitOp::kSet, table, key, offset, size, bytes);
  if (size != 0) base::copy_small(working_.write_row(table, row) + offset, bytes, size);
  committed_in_place();
  return Status::ok();
}

// The common case of implicit_write(kAdd) alone, as implicit_set is of kSet: the owning thread, a plain
// table applied in place, a live entity without the component, and a row that storage::append_unseen
// appends with no allocation and no copy (a tick's adds, between publishes). Everything else goes to
// implicit_write, which checks it all again, allocates what it must and says what is wrong.
Status TransactionWriter::implicit_add(std::uint16_t table, std::uint64_t key, std::uint32_t offset,
                                       std::uint32_t size, const void* bytes) {
  const auto slow = [&] { return implicit_write(ImplicitOp::kAdd, table, key, offset, size, bytes); };
  if (!takes_short_path(tables_.info(table))) [[unlikely]] {
    return slow();
  }
  const RegistryState& registry = working_.state().registry;
  if (!registry.is_alive(Entity::from_bits(key)) || working_.state().tables[table].row_of(key, registry) != kNoRow)
      [[unlikely]] {
    return slow();  // check_add says what is wrong
  }
  if (!storage::append_unseen(working_.table_to_change(table), key, registry, bytes)) [[unlikely]] return slow();
  working_.set_dirty(true);
  committed_in_place();
  return Status::ok();
}

// The common case of implicit_write(kRemove) alone, as implicit_set is of kSet: the owning thread, a plain
// table applied in place, a row found for the key. Everything else goes to implicit_write, which checks it
// all again and says what is wrong.
Status TransactionWriter::implicit_remove(std::uint16_t table, std::uint64_t key) {
  if (!takes_short_path(tables_.info(table))) [[unlikely]] {
    return implicit_write(ImplicitOp::kRemove, table, key, 0, 0, nullptr);
  }
  TableState& t = working_.table_to_change(table);
  const std::uint32_t row = t.row_of(key, working_.state().registry);
  if (row == kNoRow) [[unlikely]] return implicit_write(ImplicitOp::kRemove, table, key, 0, 0, nullptr);
  remove_found(t, key, row);
  committed_in_place();
  return Status::ok();
}

// A removal without an undo log: a tick's removals mostly write pages an earlier one made private, and then
// one pass does it (storage::remove_in_place); otherwise prepare (allocate), then remove.
void TransactionWriter::remove_found(TableState& t, std::uint64_t key, std::uint32_t row) {
  storage::WriteContext& ctx = working_.context();
  if (storage::may_remove_in_place(t, row, ctx) && storage::remove_in_place(t, key, row, ctx)) {
    working_.set_dirty(true);
    return;
  }
  storage::prepare_remove(t, key, row, storage::Removal::kFinal, ctx);
  working_.set_dirty(true);
  storage::remove_row(t, key, row, ctx);
}

Status TransactionWriter::implicit_destroy(Entity e) {
  ECSDB_RETURN_IF_ERROR(check_owner());
  RegistryState& registry = working_.registry();
  storage::WriteContext& ctx = working_.context();
  const auto slow = [&] { return in_transaction([&] { return destroy(e); }); };
  if (!may_apply_in_place() || tables_.has_refs() || !tables_.owned_many_tables().empty() || !registry.is_alive(e)) {
    return slow();  // (a dead entity: destroy() says why)
  }
  // Allocate first (this path has no undo log): every page the removals and the registry write, and the
  // free list's room. A removal whose pages are private already (a tick's later destroys) is planned
  // instead, which tests and changes nothing (storage::plan_remove_in_place). A row in a table that is
  // not plain takes the transaction instead; the prepares so far changed nothing a reader or the rollback
  // could see.
  const std::vector<std::uint16_t>& tables = tables_.one_tables();
  for (std::size_t k = 0; k < tables.size(); ++k) {
    DestroyStep& step = destroy_steps_[k];
    step.row = working_.state().tables[tables[k]].row_of(e.bits(), registry);
    if (step.row == kNoRow) continue;
    if (!tables_.info(tables[k]).plain) return slow();
    TableState& t = working_.table_to_change(tables[k]);
    step.in_place = storage::may_remove_in_place(t, step.row, ctx) &&
                    storage::plan_remove_in_place(t, e.bits(), step.row, ctx, step.plan);
    if (!step.in_place) storage::prepare_remove(t, e.bits(), step.row, storage::Removal::kFinal, ctx);
  }
  entity::prepare_slot(registry, e.index(), ctx);
  base::reserve_more(working_.free_entities(), 1);
  // Nothing below allocates. (A removal moves rows of its own table only, and a prepare writes no row:
  // each step's row and plan still hold.)
  working_.set_dirty(true);
  for (std::size_t k = 0; k < tables.size(); ++k) {
    const DestroyStep& step = destroy_steps_[k];
    if (step.row == kNoRow) continue;
    TableState& t = working_.table_to_change(tables[k]);
    if (step.in_place) {
      storage::remove_planned(t, e.bits(), step.row, step.plan);
    } else {
      storage::remove_row(t, e.bits(), step.row, ctx);
    }
  }
  entity::destroy_entity(registry, e, working_.free_entities(), ctx);
  committed_in_place();
  return Status::ok();
}

void TransactionWriter::committed_in_place() noexcept {
  base::bump(commits_, 1);
  commits_without_delta_ = true;
  ++commits_since_publish_;
  // As commit() does: inside a drained batch (defer_publish) the batch publishes once, at its end.
  if (!suppress_publish_ && options_.publish_every_commits != 0 &&
      commits_since_publish_ >= options_.publish_every_commits) {
    publish_after_commit();
  }
}

// ---- recovery ----

Status TransactionWriter::apply_delta(const Delta& d) {
  ECSDB_RETURN_IF_ERROR(require_txn());
  ECSDB_RETURN_IF_ERROR(loader_.apply_delta(d));
  constraints_.forget_references();  // the log holds committed, checked state
  return Status::ok();
}

Status TransactionWriter::apply_replicated(const Delta& d, std::uint64_t version) {
  // Nothing to apply at a version this database already shows (a replica's first, empty sync at the
  // server's version 1 is its own empty version 1): publishing would only put the numbers out of step.
  if (d.empty() && version <= versions_.published_number()) return Status::ok();
  ECSDB_RETURN_IF_ERROR(begin());
  try {
    if (Status s = loader_.apply_delta(d); !s.is_ok()) {
      rollback();
      return s;
    }
    if (hub_.active() && !d.empty()) {
      base::reserve_more(pending_deltas_, 1);
      auto copy = std::make_shared<Delta>(d);
      copy->first_commit = copy->last_commit = commits_ + 1;
      pending_deltas_.push_back(std::move(copy));
    }
  } catch (const std::bad_alloc&) {
    rollback();
    return Status(StatusCode::kResourceExhausted, "out of memory applying version " + std::to_string(version) +
                                                      ": nothing of it was applied");
  }
  // Point of no return: nothing below fails.
  constraints_.forget_references();
  if (!hub_.active()) commits_without_delta_ = true;
  base::bump(commits_, 1);
  end_txn();
  working_.unique_index().sweep();
  working_.advance_to(version);
  working_.set_dirty(true);
  try {
    publish();
  } catch (const std::bad_alloc&) {
    // As after a commit: the version stands and readers see it at the next publish that succeeds.
  }
  return Status::ok();
}

Status TransactionWriter::load_rows(std::uint16_t table, std::uint32_t n, const std::byte* keys, const std::byte* owners,
                                    const std::byte* rows) {
  return loader_.load_rows(table, n, keys, owners, rows);
}

Status TransactionWriter::load_registry(std::uint32_t used, const std::byte* pairs) {
  return loader_.load_registry(used, pairs);
}

void TransactionWriter::finish_load() { loader_.finish_load(); }

void TransactionWriter::resume_after(std::uint64_t lsn, std::uint64_t version) {
  logged_lsn_.store(lsn);
  if (commits_.load() < lsn) commits_.store(lsn);
  // Publish the recovered state as `version` so version numbers never go backwards across restarts.
  working_.advance_to(version);
  working_.set_dirty(true);
  publish();
}

}  // namespace ecsdb::detail
