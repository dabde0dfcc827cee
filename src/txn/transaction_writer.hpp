// TransactionWriter — the writer's transaction API: begin, the operations, commit (on_delete actions and
// constraint checks, the delta for subscribers and the log, the record logged before the version is
// published), rollback, and publish. It works on the private next version (WorkingVersion) through the
// layers below it: rollback, ConstraintChecker, build_delta, RecoveryLoader. The commit pipeline drives it
// as any caller would; WriterCore puts the two together. Not thread-safe: the owner's thread, or the
// background writer thread while that one owns the writer.
//
// Exception safety: every operation allocates before it changes anything (see UndoEntry); when memory runs
// out, the caller rolls the whole transaction back (the public API reports kResourceExhausted).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/latency_histogram.hpp"
#include "ecsdb/delta.hpp"
#include "ecsdb/entity.hpp"
#include "ecsdb/options.hpp"
#include "ecsdb/schema.hpp"
#include "ecsdb/status.hpp"
#include "ecsdb/writer_handle.hpp"
#include "storage/page_pool.hpp"
#include "storage/table_ops.hpp"
#include "txn/commit_sink.hpp"
#include "txn/constraint_checker.hpp"
#include "txn/recovery_loader.hpp"
#include "txn/subscription_hub.hpp"
#include "txn/working_version.hpp"
#include "txn/writer_schema.hpp"
#include "version/published_versions.hpp"

namespace ecsdb::detail {

class TransactionWriter {
 public:
  TransactionWriter(std::shared_ptr<const Schema> schema, const DatabaseOptions& options);
  TransactionWriter(const TransactionWriter&) = delete;
  TransactionWriter& operator=(const TransactionWriter&) = delete;
  virtual ~TransactionWriter();

  version::PublishedVersions& versions() noexcept { return versions_; }
  const version::PublishedVersions& versions() const noexcept { return versions_; }
  const VersionState& working() const noexcept { return working_.state(); }
  // The version being built with the writer's own state beside it (free lists, counters, unique index).
  const WorkingVersion& working_version() const noexcept { return working_; }
  const TableInfo& info(std::uint16_t table) const noexcept { return tables_.info(table); }
  const Schema& schema() const noexcept { return *schema_; }

  // ---- transaction lifecycle ----
  Status begin();
  Status commit();
  void rollback() noexcept;
  bool in_transaction() const noexcept { return in_txn_; }
  void publish();

  // ---- operations (REQUIRE: in_transaction()) ----
  Result<Entity> create();
  Status create_many(std::size_t n, std::vector<Entity>& out);
  Status destroy(Entity e);
  Status add(std::uint16_t table, Entity e, const void* bytes);
  Status put(std::uint16_t table, Entity e, const void* bytes);
  Status update(std::uint16_t table, std::uint64_t key, const void* bytes);
  Status set_bytes(std::uint16_t table, std::uint64_t key, std::uint32_t offset, std::uint32_t size,
                   const void* bytes);
  Status remove(std::uint16_t table, std::uint64_t key);
  Result<RowId> insert_child(std::uint16_t table, Entity owner, const void* bytes);
  // One implicit single-operation transaction (see detail::implicit_write).
  Status implicit_write(ImplicitOp op, std::uint16_t table, std::uint64_t key, std::uint32_t offset,
                        std::uint32_t size, const void* bytes);
  // implicit_write's kSet (WriterHandle::set and update), the commonest write of a game tick, in a function
  // of its own: see its definition.
  Status implicit_set(std::uint16_t table, std::uint64_t key, std::uint32_t offset, std::uint32_t size,
                      const void* bytes);
  // implicit_write's kAdd (WriterHandle::add), likewise: see its definition.
  Status implicit_add(std::uint16_t table, std::uint64_t key, std::uint32_t offset, std::uint32_t size,
                      const void* bytes);
  // implicit_write's kRemove (WriterHandle::remove), likewise.
  Status implicit_remove(std::uint16_t table, std::uint64_t key);
  // WriterHandle::destroy: the same for a destroy, applied in place where the schema has no reference
  // column (nothing to cascade or unlink) and every table the entity has a row in is TableInfo::plain.
  Status implicit_destroy(Entity e);
  // Adds `n` rows (stride bytes each, packed) to n distinct live entities: one undo record, rows copied
  // page by page. Tables with unique, auto-increment or reference fields take the per-row path.
  Status add_many(std::uint16_t table, const Entity* entities, std::size_t n, const std::byte* rows);
  const std::byte* get(std::uint16_t table, std::uint64_t key) const noexcept {
    return working_.state().find_row(table, key);
  }
  bool has_row(std::uint16_t table, std::uint64_t key) const noexcept {
    return working_.state().find_row_index(table, key) != kNoRow;
  }
  bool alive(Entity e) const noexcept { return working_.state().registry.is_alive(e); }
  const std::vector<RefColumn>& ref_columns() const noexcept { return tables_.ref_columns(); }
  // Transaction::for_each_mut: visits every row of `table`, rows made writable a page at a time.
  Status for_each_mut(std::uint16_t table, void* ctx, RowsVisitor visit) { return pass(table, ctx, visit); }
  // WriterHandle::for_each_mut: the same pass as a transaction of its own, begun and committed here, and
  // rolled back if the visitor throws.
  Status implicit_for_each_mut(std::uint16_t table, void* ctx, RowsVisitor visit);

  // Any thread (relaxed counters).
  std::uint64_t commits() const noexcept { return commits_.load(std::memory_order_relaxed); }
  std::uint64_t rollbacks() const noexcept { return rollbacks_.load(std::memory_order_relaxed); }
  // Page copies of published versions (the version being built is not counted yet).
  std::uint64_t pages_copied() const noexcept { return pages_copied_total_.load(std::memory_order_relaxed); }
  std::uint64_t pages_replayed() const noexcept { return pages_replayed_total_.load(std::memory_order_relaxed); }
  std::uint64_t bytes_copied() const noexcept { return bytes_copied_total_.load(std::memory_order_relaxed); }
  std::uint64_t scratch_bytes() const noexcept { return scratch_bytes_.load(std::memory_order_relaxed); }
  double pages_copied_per_publish_mean() const { return pages_per_publish_.mean(); }
  const storage::PagePool& pool() const noexcept { return pool_; }

  std::string describe_key(std::uint16_t table, std::uint64_t key) const { return tables_.describe_key(table, key); }

  // ---- which thread writes ----
  // While the background writer thread runs (CommitPipeline::start_thread) it owns the writer: begin()
  // and implicit writes from any other thread fail with kInvalidArgument, so that the owner's
  // WriterHandle cannot race it. The pipeline sets these before the thread starts (running), on it (its
  // id), and after it has been joined (not running, no id).
  bool thread_running() const noexcept { return thread_running_.load(std::memory_order_acquire); }
  void set_thread_running(bool running) noexcept { thread_running_.store(running, std::memory_order_release); }
  void set_writer_thread(std::thread::id id) noexcept { writer_thread_id_.store(id, std::memory_order_release); }

  // ---- deltas ----
  SubscriptionHub& hub() noexcept { return hub_; }

  // ---- durability (persist) ----
  // Installs the commit log. Owner thread, before any transaction or writer thread.
  void set_sink(CommitSink* sink) noexcept { sink_ = sink; }
  CommitSink* sink() const noexcept { return sink_; }
  // LSN of the last commit sent to the sink. LSNs count logged commits (commits that changed nothing are
  // not logged), 1, 2, 3... without gaps, so a missing WAL segment is detectable.
  std::uint64_t logged_lsn() const noexcept { return logged_lsn_.load(std::memory_order_acquire); }
  // Recovery: applies a logged delta (REQUIRES: an open transaction; no constraint re-check needed, but
  // the ids, rows and generations are restored exactly). Commit it with commit().
  Status apply_delta(const Delta& d);
  // Recovery: loads rows in bulk into an empty table (snapshot load). `keys`/`owners` hold n u64 each and
  // `rows` n rows; none needs to be aligned (they point into a snapshot file buffer).
  Status load_rows(std::uint16_t table, std::uint32_t n, const std::byte* keys, const std::byte* owners,
                   const std::byte* rows);
  // Recovery: the whole registry of an empty writer from `used` (generation, alive) u32 pairs.
  Status load_registry(std::uint32_t used, const std::byte* pairs);
  // Recovery: rebuilds the entity and row-id free lists once everything is loaded and replayed.
  void finish_load();
  // Recovery (and a batch of queued transactions): while on, commits are not published (replay publishes
  // once, through resume_after; a batch publishes once, at its end).
  void defer_publish(bool on) noexcept { suppress_publish_ = on; }
  // Recovery: publishes the recovered state as version `version` (when it is ahead of the working one)
  // and continues LSNs after `lsn`.
  void resume_after(std::uint64_t lsn, std::uint64_t version);

  // ---- replicas (replication/replica.cpp) ----
  // Applies a delta received from a replication server as one commit (ids, generations and rows exactly
  // as the server has them, no constraint re-check: the server checked them), hands it to this database's
  // subscribers and publishes it, numbered `version` when that is ahead of the working version (a replica
  // numbers its versions like its server; they never go backwards). Owner thread, no open transaction.
  // On error (a delta that does not fit what this database holds: kCorruption; out of memory:
  // kResourceExhausted) nothing of it is applied: every step is rolled back (RecoveryLoader::apply_delta).
  Status apply_replicated(const Delta& d, std::uint64_t version);

 protected:
  // Runs after each publish that follows a commit (publish_every_commits), on the writing thread, inside
  // that publish's out-of-memory guard: WriterCore lets queued transactions join it.
  virtual void after_commit_publish() {}

 private:
  Status require_txn() const;
  // kInvalidArgument when the background writer thread runs and this is not it: the owner's
  // WriterHandle must not race it. Inline: every implicit write starts here.
  Status check_owner() const {
    if (thread_running_.load(std::memory_order_acquire)) [[unlikely]] return check_thread();
    return Status::ok();
  }
  Status check_thread() const;
  // The row of `key` in `table` that a write of the field at `offset` (REQUIRES: inside the row) goes to,
  // or kNoRow when the key has none: check_write's lookup, which it explains.
  std::uint32_t writable_row(std::uint16_t table, std::uint64_t key, std::uint32_t offset) const noexcept {
    // Tables filled in entity order keep most rows at row == entity index: start loading that row now, so
    // the miss on it overlaps the miss on the key or registry slot below instead of following it
    // (find_row, the readers' lookup, makes the same guess). A wrong guess costs only the bandwidth.
    const detail::TableState& t = working_.state().tables[table];
    const auto index = static_cast<std::uint32_t>(key);
    if (index < t.row_count && t.stride != 0) __builtin_prefetch(t.rows.at(index) + offset);
    // A row found for the key (its sparse slot, or below identity_rows the key at its index, carries the
    // key's generation) proves the entity alive (destroy removes every row of the entity before its
    // generation moves on), so the registry is read only to explain a miss.
    return t.row_of(key, working_.state().registry);
  }
  // Whether an implicit transaction may change the working version in place, without undo records:
  // none is open, and no log or subscriber needs a delta of it. Its table(s) decide the rest.
  bool may_apply_in_place() const noexcept { return !in_txn_ && sink_ == nullptr && !hub_.active(); }
  // The gate of the short paths (implicit_set, implicit_add, implicit_remove): no pipeline thread running
  // (its writes come from that thread, which implicit_write checks), a plain table, may_apply_in_place.
  // Anything else goes to implicit_write.
  bool takes_short_path(const TableInfo& info) const noexcept {
    return !thread_running_.load(std::memory_order_acquire) && info.plain && may_apply_in_place();
  }
  // `op` as one transaction: begun, and committed if it succeeds, rolled back if not or if it throws (the
  // exception goes on to the caller).
  template <typename Op>
  Status in_transaction(Op&& op) {
    ECSDB_RETURN_IF_ERROR(begin());
    struct RollBackIfThrown {
      TransactionWriter* writer;
      ~RollBackIfThrown() {
        if (writer != nullptr) writer->rollback();
      }
    } guard{this};
    Status s = op();
    guard.writer = nullptr;
    if (!s.is_ok()) {
      rollback();
      return s;
    }
    return commit();
  }
  // for_each_mut's pass.
  Status pass(std::uint16_t table, void* ctx, RowsVisitor visit);
  // Removes key's row `row` (found; its entity alive) from `t`, which table_to_change gave, with no undo log.
  void remove_found(TableState& t, std::uint64_t key, std::uint32_t row);
  // An implicit transaction applied in place: counted, and published as publish_every_commits says.
  void committed_in_place() noexcept;
  // The publish (and queue drain) that follows a commit under publish_every_commits; a failure to
  // allocate the new version never fails the commit that is already made.
  void publish_after_commit() noexcept;
  Status check_alive(Entity e, std::string_view op, const Table* table) const;
  Status check_add(std::uint16_t table, Entity e) const;
  // OK when `key` has a row in `table` (stored in *row when given) that [offset, offset + size) fits.
  Status check_write(std::uint16_t table, std::uint64_t key, std::uint32_t offset, std::uint32_t size,
                     std::uint32_t* row = nullptr) const;
  Status check_remove(std::uint16_t table, std::uint64_t key) const;
  void end_txn();

  std::shared_ptr<const Schema> schema_;
  DatabaseOptions options_;
  WriterSchema tables_;
  storage::PagePool pool_;
  version::PublishedVersions versions_;
  WorkingVersion working_;                      // after versions_ and pool_: its pages go back first

  bool in_txn_ = false;
  bool dirty_at_begin_ = false;                 // restored by rollback
  ConstraintChecker constraints_{working_};
  RecoveryLoader loader_{working_};

  SubscriptionHub hub_;
  CommitSink* sink_ = nullptr;
  std::atomic<std::uint64_t> logged_lsn_{0};  // read by other threads (durable_version, flush)
  std::vector<std::shared_ptr<Delta>> pending_deltas_;  // committed, not yet published
  // implicit_destroy's plan, one step per cardinality-one table (WriterSchema::one_tables), sized once so
  // that the destroy allocates nothing for it: the entity's row there, and how it goes.
  struct DestroyStep {
    std::uint32_t row = kNoRow;
    bool in_place = false;  // by storage::remove_planned (plan), else prepare_remove then remove_row
    storage::InPlaceRemoval plan;
  };
  std::vector<DestroyStep> destroy_steps_ = std::vector<DestroyStep>(tables_.one_tables().size());

  std::atomic<bool> thread_running_{false};
  std::atomic<std::thread::id> writer_thread_id_{};
  bool suppress_publish_ = false;
  base::LatencyHistogram pages_per_publish_;

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> rollbacks_{0};
  bool commits_without_delta_ = false;
  std::uint32_t commits_since_publish_ = 0;
  std::atomic<std::uint64_t> pages_copied_total_{0};
  std::atomic<std::uint64_t> pages_replayed_total_{0};
  std::atomic<std::uint64_t> bytes_copied_total_{0};
  std::atomic<std::uint64_t> scratch_bytes_{0};  // undo and constraint buffers kept between transactions
};

}  // namespace ecsdb::detail
