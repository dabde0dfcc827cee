// ecsdb/database.hpp — the database handle: opens a schema, hands out pinned views, the writer and the
// queue, subscriptions and durability controls.
//
//   auto schema = ecsdb::load_schema_file("game.toml");
//   auto db = ecsdb::Database::open(*schema).value();
//   ecsdb::WriterHandle& w = db->writer();              // the simulation thread owns the writer
//   ecsdb::Entity e = w.create().value();
//   w.add(e, Health{100, 100}).ignore();                // an implicit transaction
//   {
//     ecsdb::PinnedView view = db->pin();               // any thread: a consistent snapshot
//     const Health* h = view.get<Health>(e);            // zero-copy: points into the pinned version
//   }
//
// Model (DESIGN.md §2): one writer applies every mutation to a private next version, copying only the
// pages it touches; publish() makes that version visible to readers with one atomic store. Readers pin a
// version and read it without locks; everything obtained from a PinnedView stays valid and unchanged until
// the view is destroyed. Commit and publish are separate steps: a commit is atomic and visible to the
// writer at once; readers see it at the next publish, which by default follows every commit
// (DatabaseOptions::publish_every_commits) and can be batched per game tick.
//
// Ownership: open() returns the sole owner (std::unique_ptr). The Database owns the writer, the versions,
// the WAL and its threads; views, transactions and the WriterHandle borrow it and must not outlive it.
// Threads: each method says which thread may call it; most are any-thread, writer() is the owner's.
//
// This header includes the handles it hands out, each with its own header: options.hpp, pinned_view.hpp,
// read_set.hpp, transaction.hpp, writer_handle.hpp, commit_ticket.hpp (ecsdb.hpp includes every public
// header). Their members that need Database complete are defined at the end of this file.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ecsdb/bind.hpp"
#include "ecsdb/commit_ticket.hpp"
#include "ecsdb/delta.hpp"
#include "ecsdb/detail/table_binding.hpp"
#include "ecsdb/entity.hpp"
#include "ecsdb/file_system.hpp"
#include "ecsdb/options.hpp"
#include "ecsdb/pinned_view.hpp"
#include "ecsdb/read_set.hpp"
#include "ecsdb/schema.hpp"
#include "ecsdb/status.hpp"
#include "ecsdb/subscription.hpp"
#include "ecsdb/transaction.hpp"
#include "ecsdb/value.hpp"
#include "ecsdb/writer_handle.hpp"

namespace ecsdb {

namespace detail {
class WriterCore;
class Persistence;
struct DatabaseAccess;
}  // namespace detail

// The database handle (see the top of this file).
class Database {
 public:
  static Result<std::unique_ptr<Database>> open(std::shared_ptr<const Schema> schema, const DatabaseOptions& options = {});
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  const Schema& schema() const noexcept { return *schema_; }
  std::shared_ptr<const Schema> schema_ptr() const noexcept { return schema_; }

  // Any thread.
  PinnedView pin() const noexcept;
  // A view of state that survives a crash: pins the current version and, when some of its commits are
  // not durable yet, waits until they are (at most one group commit; kAsync: forces the flush). Fails
  // with the log's I/O error when the database turned read-only.
  Result<PinnedView> pin_durable() const;
  std::uint64_t published_version() const noexcept;
  DatabaseMetrics metrics() const;

  // The owner's writer. Not thread-safe: one thread at a time. Unavailable (asserts) while the
  // background writer thread runs.
  WriterHandle& writer() noexcept { return writer_; }

  // Any thread, lock-free, non-blocking: queues `body` for the writer and returns its ticket. The writer
  // runs queued bodies in submission order when the owner calls WriterHandle::drain() (or commits through
  // the handle), or continuously when the background writer thread runs.
  CommitTicket submit(TransactionBody body);
  // Optimistic form: `reads` is validated first (see ReadSet); a changed row fails it with kConflict.
  CommitTicket submit(TransactionBody body, ReadSet reads);
  // The same, and `on_resolved` is called when the ticket resolves (see OnResolved): for callers that
  // cannot block a thread on CommitTicket::wait (event loops).
  CommitTicket submit(TransactionBody body, OnResolved on_resolved);

  // Any thread: a subscription to committed changes (see subscription.hpp). Delta building costs the
  // writer nothing while no subscription exists.
  Result<Subscription> subscribe(const SubscriptionOptions& options = {});

  // ---- durability (data_dir set) ----
  // Writes a snapshot now (from a pinned view; the writer keeps going) and returns once it is durable.
  // Retention (the WAL segments it covers and snapshots beyond keep_snapshots are deleted or archived, as
  // wal_retention says) follows on a background thread, and at the latest when the database closes.
  Status snapshot();
  // Blocks until the retention of every snapshot that has returned so far has run. The error of the last
  // run if it failed, until a later run succeeds (the files stay where they were, and the next snapshot's
  // retention retries them); recovery_notes() has it too.
  Status wait_for_retention();
  // Blocks until every commit made so far is durable (in kAsync mode this forces the flush).
  Status flush();
  // Newest version whose commits are all on stable storage (== published_version() without data_dir).
  std::uint64_t durable_version() const noexcept;
  // Ok, or the I/O error that turned the database read-only (reopen to recover).
  Status health() const;
  // What recovery did at open: snapshot used, records replayed, torn tail cut, fallbacks.
  std::vector<std::string> recovery_notes() const;

  // Starts/stops a dedicated writer thread that drains the queue (for servers without a simulation
  // thread). While it runs, writer() must not be used.
  Status start_writer_thread();
  void stop_writer_thread();

  // Checks T against its table's layout (StatusCode::kBindingMismatch names the field). Typed calls bind
  // on first use; call this at start-up to get the error early.
  template <BoundComponent T>
  Status bind() const {
    return bind_type(detail::type_index<T>, ComponentTraits<T>::table, ComponentTraits<T>::fields(), sizeof(T),
                     alignof(T));
  }
  // Table id of T when T is bound to a component table (cardinality one): entity-keyed calls use it.
  // detail::kNoTable when T does not match the schema or is bound to a `many` table.
  template <BoundComponent T>
  std::uint16_t table_of() const noexcept {
    const std::uint32_t v = binding_of<T>();
    return v == 0 || (v & kManyBit) != 0 ? detail::kNoTable : static_cast<std::uint16_t>(v - 1);
  }
  // Table id of T when T is bound to a `many` table (RowId-keyed calls), else detail::kNoTable.
  template <BoundComponent T>
  std::uint16_t child_table_of() const noexcept {
    const std::uint32_t v = binding_of<T>();
    return (v & kManyBit) == 0 ? detail::kNoTable : static_cast<std::uint16_t>((v & ~kManyBit) - 1);
  }
  Result<std::uint16_t> table_id(std::string_view name) const;

  // The schema as data (metadata tables), readable like any dynamic rows: "database" (name, version,
  // layout_hash), "tables" (one row per table: name, id, cardinality, parent_table, primary_key, stride,
  // align, field_count), "fields" (one row per field: table, name, id, type, offset, size, align, stored,
  // owner_key, unique, auto_increment, deprecated, foreign_key, on_delete, default), "enums" (enum,
  // variant, value, underlying). The same schema is stored in every snapshot (docs/formats/snapshot.md).
  Result<std::vector<Row>> metadata(std::string_view table) const;

 private:
  friend class PinnedView;
  Database(std::shared_ptr<const Schema> schema, DatabaseOptions options);
  Status bind_type(std::uint32_t type_index, std::string_view table, std::span<const FieldBinding> fields,
                   std::size_t size, std::size_t align) const;
  Status check_and_bind(std::uint32_t type_index, std::string_view table, std::span<const FieldBinding> fields,
                        std::size_t size, std::size_t align) const;
  static constexpr std::uint32_t kManyBit = 1u << 16;
  // bindings_ value of T: 0 = unbound or mismatched, else table id + 1, | kManyBit for `many` tables.
  template <BoundComponent T>
  std::uint32_t binding_of() const noexcept {
    const std::uint32_t v = bindings_[detail::type_index<T>].load(std::memory_order_acquire);
    if (v != 0) [[likely]] return v;
    return bind<T>().is_ok() ? bindings_[detail::type_index<T>].load(std::memory_order_acquire) : 0;
  }
  void unpin(std::uint32_t slot) const noexcept;
  Status view_status(std::uint64_t version, std::uint64_t pinned_at_ms) const;

  std::shared_ptr<const Schema> schema_;
  DatabaseOptions options_;
  friend struct detail::DatabaseAccess;
  std::unique_ptr<detail::WriterCore> core_;
  WriterHandle writer_;
  std::unique_ptr<detail::Persistence, void (*)(detail::Persistence*)> persistence_{nullptr, nullptr};
  mutable std::unique_ptr<std::atomic<std::uint32_t>[]> bindings_;  // type index -> table id + 1
};

// ===================================================================================================
// Members of the handles declared before Database (pinned_view.hpp, read_set.hpp, transaction.hpp,
// writer_handle.hpp) whose bodies need Database complete. Each of those headers ends by including this one
// (directly or through another), so whichever of them a user includes, these are defined.

template <typename T>
std::uint16_t detail::table_of(const Database& db) noexcept {
  return db.table_of<T>();
}

inline void PinnedView::release() noexcept {
  if (db_ != nullptr) {
    db_->unpin(slot_);
    db_ = nullptr;
  }
}

template <typename T>
Result<std::uint16_t> Transaction::table_of() const {
  const std::uint16_t t = db_->table_of<T>();
  if (t != detail::kNoTable) return t;
  ECSDB_RETURN_IF_ERROR(db_->bind<T>());
  return invalid_argument("table '" + std::string(ComponentTraits<T>::table) +
                          "' has cardinality many: its rows are keyed by RowId (insert_child, update_child, "
                          "remove_child, children)");
}

template <typename T>
Result<std::uint16_t> Transaction::child_table_of() const {
  const std::uint16_t t = db_->child_table_of<T>();
  if (t != detail::kNoTable) return t;
  ECSDB_RETURN_IF_ERROR(db_->bind<T>());
  return invalid_argument("table '" + std::string(ComponentTraits<T>::table) +
                          "' has cardinality one: its rows are keyed by entity (add, update, remove)");
}

}  // namespace ecsdb
