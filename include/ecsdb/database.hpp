// ecsdb/database.hpp — the database handle, pinned read views, the writer and transactions.
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
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <functional>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "ecsdb/bind.hpp"
#include "ecsdb/delta.hpp"
#include "ecsdb/detail/version_state.hpp"
#include "ecsdb/entity.hpp"
#include "ecsdb/file_system.hpp"
#include "ecsdb/schema.hpp"
#include "ecsdb/status.hpp"
#include "ecsdb/subscription.hpp"
#include "ecsdb/value.hpp"

namespace ecsdb {

class Database;
class WriterHandle;
class Transaction;

namespace detail {
class WriterCore;
class Persistence;
struct DatabaseAccess;
std::uint32_t next_type_index() noexcept;
template <typename T>
inline const std::uint32_t type_index = next_type_index();
inline constexpr std::uint32_t kMaxBoundTypes = 1024;
inline constexpr std::uint16_t kNoTable = 0xFFFF;
// A single-operation implicit transaction (WriterHandle::add/update/set/remove): applied without an undo
// log when nothing can make it fail at commit, otherwise run as begin/op/commit.
enum class ImplicitOp : std::uint8_t { kAdd, kSet, kRemove };
Status implicit_write(WriterCore* core, ImplicitOp op, std::uint16_t table, std::uint64_t key, std::uint32_t offset,
                      std::uint32_t size, const void* bytes);
}  // namespace detail

// When a commit counts as done (DESIGN.md §2.6).
enum class Durability : std::uint8_t {
  kMemory,  // no files at all
  kAsync,   // acknowledged at publish; the log is flushed (write + fdatasync) within async_flush_ms
  kSync,    // acknowledged after fdatasync of its log record (group commit: one sync for all waiting)
};

// What happens to WAL segments once a durable snapshot covers them.
enum class WalRetention : std::uint8_t { kDelete, kArchive, kArchiveCompressed };

struct DatabaseOptions {
  // ---- persistence (docs/durability.md) ----
  // Directory of the WAL, snapshots and archive. Empty: in memory only (durability is then kMemory).
  std::string data_dir = {};
  Durability durability = Durability::kSync;
  std::uint32_t async_flush_ms = 10;
  std::uint64_t wal_segment_bytes = 64ull << 20;
  // Background snapshot triggers (0 = off); Database::snapshot() takes one on demand.
  std::uint64_t snapshot_every_wal_bytes = 256ull << 20;
  std::uint32_t snapshot_every_seconds = 0;
  std::uint32_t keep_snapshots = 2;
  WalRetention wal_retention = WalRetention::kArchive;
  // Recovery: a corrupt WAL record before the end refuses to open unless this is set, in which case the
  // log is truncated at the corruption (everything after it is lost, and reported).
  bool recover_to_corruption = false;
  // Point-in-time recovery (used by `ecsdb restore`): replay the WAL only up to this version and/or commit
  // time (0 = no limit). The database then opens READ-ONLY (commits fail) so the log after the target is
  // never overwritten; Database::snapshot() still works, to save the restored state.
  std::uint64_t recover_until_version = 0;
  std::int64_t recover_until_unix_ns = 0;
  // The file system all persistence goes through; null = the real POSIX one.
  std::shared_ptr<FileSystem> file_system = nullptr;

  // ---- writer ----
  // Publish after this many commits; 0 = only when WriterHandle::publish() is called (e.g. once per tick).
  std::uint32_t publish_every_commits = 1;
  // Views pinned at once through a reader slot (wait-free: two atomic operations and a store). Views past
  // the slots still pin, through a slower shared path (a short critical section on one mutex); they are
  // counted in DatabaseMetrics::overflow_views. Nothing ever waits for a view to be released.
  std::uint32_t reader_slots = 128;
  // Queued transactions (Database::submit) are committed in batches, each all-or-nothing on its own, and
  // published once per batch. A batch ends after this many transactions...
  std::uint32_t batch_max_transactions = 4096;
  // ...or, when > 0, once the batch is this old (µs) and the queue is empty; 0 = publish as soon as the
  // queue runs dry (lowest latency).
  std::uint32_t batch_max_delay_us = 0;
  // The background writer thread spins this long (µs) on an empty queue before sleeping: waking a
  // sleeping thread costs tens of µs, spinning briefly keeps submit->visible latency low under load.
  std::uint32_t writer_spin_us = 50;

  // ---- memory and long-held views (docs/concurrency.md, "Memory held by views") ----
  // Freed pages the pool keeps for reuse; past this, whole free 2 MiB slabs (and large blocks) go back to
  // the system after reclamation. UINT64_MAX: never return memory while the database is open.
  std::uint64_t pool_max_idle_bytes = 64ull << 20;
  // A view held longer than this (ms) is reported: DatabaseMetrics::views_over_max_age and
  // oldest_view_age_ms. 0 = view ages are not tracked (pin reads no clock, both metrics stay 0).
  std::uint32_t max_view_age_ms = 0;
  // With max_view_age_ms set: a view past that age fails PinnedView::status() and its dynamic accessors
  // (read_row, read_field, keys, children) with kAborted, naming its version and age. The typed zero-copy
  // accessors (get, each, query, ...) are not checked, and the view's pages stay valid until it is released:
  // expiry makes a forgotten view loud, it does not free its memory.
  bool invalidate_expired_views = false;
  // The clock of view ages, in ms on a monotonic clock; null = CLOCK_MONOTONIC_COARSE. Tests set their own
  // to age views without sleeping.
  std::uint64_t (*view_clock_ms)() noexcept = nullptr;
};

struct DatabaseMetrics {
  std::uint64_t commits = 0;                // transactions committed
  std::uint64_t rollbacks = 0;              // transactions rolled back (explicitly, by error or by drop)
  std::uint64_t published_version = 0;
  std::uint64_t durable_version = 0;        // newest version all of whose commits are on disk
  std::uint64_t pinned_views = 0;           // views held now (through slots and overflow)
  std::uint64_t overflow_views = 0;         // of those, pinned past the reader slots (the slower path)
  std::uint64_t overflow_pins_total = 0;    // pins that took the slower path, ever: raise reader_slots
  std::uint64_t oldest_pinned_version = 0;  // 0 when no view is pinned
  std::uint64_t views_over_max_age = 0;     // views held longer than max_view_age_ms (0 when it is 0)
  std::uint64_t oldest_view_age_ms = 0;     // how long the oldest view has been held (0 when not tracked)
  std::uint64_t retired_bytes = 0;          // old pages kept alive for pinned views
  std::uint64_t reclaimed_bytes_total = 0;
  std::uint64_t pages_copied_total = 0;     // copy-on-write page copies, ever
  std::uint64_t bytes_in_use = 0;           // pages + directories allocated
  std::uint64_t bytes_pooled = 0;           // freed pages kept for reuse
  std::uint64_t bytes_released_total = 0;   // pooled memory returned to the system, ever
  std::uint64_t entities_alive = 0;         // in the published version
  // Queue (Database::submit):
  std::uint64_t submitted = 0;              // transactions submitted, ever
  std::uint64_t queue_depth = 0;            // submitted but not yet taken by the writer
  std::uint64_t submit_to_visible_p50_ns = 0;
  std::uint64_t submit_to_visible_p99_ns = 0;
  double batch_size_mean = 0;               // transactions per published batch
  std::uint64_t batch_size_p99 = 0;
  double pages_copied_per_publish_mean = 0;
};

// A row that references an entity (PinnedView::referencing).
struct Reference {
  std::string_view table;  // names live as long as the database's schema
  std::string_view field;  // the entity-ref field, or the owner key of a `many` table
  std::uint64_t key;       // the referencing row: Entity bits (cardinality one) or RowId bits (many)
};

// ---------------------------------------------------------------------------------------------------
// PinnedView: a consistent, immutable snapshot of every table. Any thread; cheap to create (two atomic
// operations and a store, or a short critical section past DatabaseOptions::reader_slots) and to destroy
// (one store), from any thread. Pointers and references
// returned by it stay valid until it is destroyed. Hold it for a frame, not forever: it keeps alive the
// pages of its version that later versions replaced, reported in DatabaseMetrics::retired_bytes (and see
// DatabaseOptions::max_view_age_ms).
class PinnedView {
 public:
  PinnedView(PinnedView&& other) noexcept
      : db_(std::exchange(other.db_, nullptr)), state_(other.state_), slot_(other.slot_),
        pinned_at_ms_(other.pinned_at_ms_) {}
  PinnedView& operator=(PinnedView&& other) noexcept;
  PinnedView(const PinnedView&) = delete;
  PinnedView& operator=(const PinnedView&) = delete;
  ~PinnedView() { release(); }

  std::uint64_t version() const noexcept { return state_->number; }
  // Ok while the view may be used. Fails with kAborted once the view is older than max_view_age_ms when
  // DatabaseOptions::invalidate_expired_views is set (naming the version and the age), and with
  // kInvalidArgument on a released (moved-from) view. The dynamic accessors below check it first.
  Status status() const;
  bool alive(Entity e) const noexcept { return state_->registry.is_alive(e); }
  std::uint64_t entity_count() const noexcept { return state_->registry.alive; }

  // The component of `e`, or nullptr when e is stale or lacks it. T must be bound (ECSDB_COMPONENT).
  template <BoundComponent T>
  const T* get(Entity e) const noexcept;
  template <BoundComponent T>
  bool has(Entity e) const noexcept;
  template <BoundComponent T>
  std::size_t count() const noexcept;
  // Batch form of get: out[i] = get<T>(entities[i]). Lookups are issued in waves with prefetching so that
  // many cache misses overlap: use it when a system reads components of many unrelated entities (targets,
  // neighbours). REQUIRES out.size() >= entities.size().
  template <BoundComponent T>
  void get_many(std::span<const Entity> entities, std::span<const T*> out) const noexcept;

  // Calls f(Entity, const A&, const B&, ...) for every entity that has all of A, B, ...; driven by the
  // smallest of the tables.
  template <BoundComponent... T, typename F>
  void each(F&& f) const;

  // Range form: for (auto [e, t, h] : view.query<Transform, Health>()) { ... }
  template <BoundComponent... T>
  class Query;
  template <BoundComponent... T>
  Query<T...> query() const;

  // Dynamic access by name (tools, CLI, HTTP). Errors name the table, field and entity.
  Result<Row> read_row(std::string_view table, Entity e) const;
  Result<Value> read_field(std::string_view table, Entity e, std::string_view field) const;
  // Keys (Entity bits for `one` tables, RowId bits for `many`) of every row of `table`, in row order.
  Result<std::vector<std::uint64_t>> keys(std::string_view table) const;
  // Rows of a `many` table owned by `owner` (from the reverse-reference index: no table scan).
  Result<std::vector<RowId>> children(std::string_view table, Entity owner) const;
  // Every row that references `target`: entity-ref fields holding it and rows of `many` tables it owns.
  // Served by the reverse-reference index kept in every version, so the cost follows the number of
  // references, not the size of the tables.
  std::vector<Reference> referencing(Entity target) const;

  const detail::VersionState& state() const noexcept { return *state_; }
  const Database& database() const noexcept { return *db_; }

 private:
  friend class Database;
  PinnedView(const Database* db, const detail::VersionState* state, std::uint32_t slot,
             std::uint64_t pinned_at_ms) noexcept
      : db_(db), state_(state), slot_(slot), pinned_at_ms_(pinned_at_ms) {}
  void release() noexcept;
  template <typename T>
  std::uint16_t table_of() const noexcept;

  const Database* db_;
  const detail::VersionState* state_;
  std::uint32_t slot_;             // reader slot, or overflow entry past the slots
  std::uint64_t pinned_at_ms_;     // view clock at pin time (0 when ages are not tracked)
};

// ---------------------------------------------------------------------------------------------------
// ReadSet: rows a client read from a pinned view, for optimistic transactions. Submitted with a
// transaction (Database::submit(body, reads)) it is validated by the writer just before the body runs:
// if any recorded row changed (or appeared/disappeared) since it was read, the transaction fails with
// StatusCode::kConflict and changes nothing — serializable for the rows read. Validation compares the
// row bytes read with the current ones (no per-row version counters, so no memory cost per row).
class ReadSet {
 public:
  // Reads T of `e` through `view` and records it (its bytes, or its absence).
  template <BoundComponent T>
  const T* read(const PinnedView& view, Entity e);
  void record(std::uint16_t table, std::uint64_t key, const std::byte* row_or_null, std::uint32_t size);
  bool empty() const noexcept { return entries_.empty(); }

 private:
  friend class Transaction;
  struct Entry {
    std::uint16_t table;
    std::uint64_t key;
    bool present;
    std::uint32_t offset;
    std::uint32_t size;
  };
  std::vector<Entry> entries_;
  std::vector<std::byte> bytes_;
};

// ---------------------------------------------------------------------------------------------------
// Transaction: groups operations; all-or-nothing. Reads its own writes (get()). Constraints (foreign keys,
// unique, on_delete) are checked at commit(); a failing commit changes nothing and names the row, field
// and constraint. Rolled back by rollback(), by destruction without commit, and by commit() failing.
// Owner thread only. At most one transaction is open at a time.
class Transaction {
 public:
  Transaction(Transaction&& other) noexcept : core_(std::exchange(other.core_, nullptr)), db_(other.db_) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction() { if (core_ != nullptr) rollback(); }

  bool active() const noexcept { return core_ != nullptr; }
  // Commits: atomic, visible to the writer at once and to readers at the next publish. Returns without
  // waiting for the disk, in every durability mode: the owner thread (a game loop) never stalls on an
  // fdatasync. The commit is durable once Database::durable_version() reaches the version it is
  // published in, or after Database::flush().
  Status commit();
  // Commits, then with Durability::kSync also waits until this commit's log record is on disk (group
  // commit: one fdatasync serves every waiter). kAsync/kMemory: the same as commit(). A database
  // without data_dir has nothing to wait for.
  Status commit(Durability wait_for);
  void rollback() noexcept;

  Result<Entity> create();
  Status create_many(std::size_t n, std::vector<Entity>& out);
  Status destroy(Entity e);

  template <BoundComponent T> Status add(Entity e, const T& value);
  // Bulk add: values[i] to entities[i] (distinct, live, without T). Rows are copied page by page with one
  // undo record, at close to a raw copy's speed for plain components.
  template <BoundComponent T> Status add_many(std::span<const Entity> entities, std::span<const T> values);
  template <BoundComponent T> Status update(Entity e, const T& value);
  // Adds or replaces.
  template <BoundComponent T> Status put(Entity e, const T& value);
  template <BoundComponent T> Status remove(Entity e);
  // The component as this transaction sees it (own writes included); valid until the next write.
  template <BoundComponent T> const T* get(Entity e) const;
  // Sets one field (member pointer), recording only that field as changed.
  template <BoundComponent T, typename M> Status set(Entity e, M T::*member, const M& value);
  // Adds a row to a `many` table owned by `owner`.
  template <BoundComponent T> Result<RowId> insert_child(Entity owner, const T& value);
  template <BoundComponent T> Status update_child(RowId row, const T& value);
  Status remove_child(std::string_view table, RowId row);

  // Dynamic forms (values checked against the schema type).
  Status add_row(std::string_view table, Entity e, const Row& values);
  Status set_field(std::string_view table, std::uint64_t key, std::string_view field, const Value& value);
  Status remove_row(std::string_view table, std::uint64_t key);
  bool alive(Entity e) const;
  // kConflict when a row recorded in `reads` differs from what this transaction sees now.
  Status check_unchanged(const ReadSet& reads) const;

  // Mutable iteration over every row of T (copy-on-write once per touched page): f(Entity, T&).
  template <BoundComponent T, typename F> Status for_each_mut(F&& f);

 private:
  friend class WriterHandle;
  friend class detail::WriterCore;
  Transaction(detail::WriterCore* core, Database* db) noexcept : core_(core), db_(db) {}
  template <typename T> Result<std::uint16_t> table_of() const;
  template <typename T> Result<std::uint16_t> child_table_of() const;

  detail::WriterCore* core_;
  Database* db_;
};

// ---------------------------------------------------------------------------------------------------
// WriterHandle: the exclusive writer. One thread (the owner, typically the simulation thread) uses it at a
// time. Every method outside an explicit Transaction is an implicit single-operation transaction.
class WriterHandle {
 public:
  Transaction begin();
  // Makes every commit so far visible to readers (no-op when nothing changed).
  void publish();
  // Runs the transactions queued by Database::submit (all of them, in order); returns how many ran.
  std::size_t drain();

  Result<Entity> create();
  Status create_many(std::size_t n, std::vector<Entity>& out);
  Status destroy(Entity e);
  template <BoundComponent T> Status add(Entity e, const T& value);
  template <BoundComponent T> Status update(Entity e, const T& value);
  template <BoundComponent T> Status put(Entity e, const T& value) { return run([&](Transaction& t) { return t.put(e, value); }); }
  template <BoundComponent T> Status remove(Entity e);
  template <BoundComponent T, typename M> Status set(Entity e, M T::*member, const M& value);
  template <BoundComponent T> Result<RowId> insert_child(Entity owner, const T& value);
  Status set_field(std::string_view table, std::uint64_t key, std::string_view field, const Value& value) {
    return run([&](Transaction& t) { return t.set_field(table, key, field, value); });
  }
  Status add_row(std::string_view table, Entity e, const Row& values) {
    return run([&](Transaction& t) { return t.add_row(table, e, values); });
  }
  // The component as the writer sees it (committed, maybe not yet published).
  template <BoundComponent T> const T* get(Entity e) const;
  bool alive(Entity e) const;
  template <BoundComponent T, typename F> Status for_each_mut(F&& f) {
    return run([&](Transaction& t) { return t.template for_each_mut<T>(f); });
  }

 private:
  friend class Database;
  WriterHandle(detail::WriterCore* core, Database* db) noexcept : core_(core), db_(db) {}
  template <typename Op>
  Status run(Op&& op) {
    Transaction t = begin();
    ECSDB_RETURN_IF_ERROR(op(t));
    return t.commit();
  }

  detail::WriterCore* core_;
  Database* db_;
};

// ---------------------------------------------------------------------------------------------------
// CommitTicket: the outcome of a transaction submitted from any thread (Database::submit). Returned at
// once; resolved by the writer when the transaction commits (ok, with the version that contains it) or
// fails (the reason). Copyable; every copy sees the same outcome. What "resolved ok" means follows the
// database's durability mode: kSync — the commit is published AND its log record is on disk (survives a
// crash); kAsync — published (visible), on disk within async_flush_ms; kMemory — published.
namespace detail { struct QueuedTransaction; }

class CommitTicket {
 public:
  using State = detail::QueuedTransaction;
  CommitTicket() = default;
  explicit CommitTicket(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}

  bool valid() const noexcept { return state_ != nullptr; }
  bool ready() const noexcept;
  // Blocks until resolved (spins briefly, then sleeps). Returns the transaction's outcome.
  Status wait() const;
  // The published version that made the transaction visible; 0 until resolved or when it failed.
  std::uint64_t version() const noexcept;

 private:
  std::shared_ptr<State> state_;
};

// A transaction body run by the writer: return ok to commit, an error to roll back. It may run on the
// writer thread, so it must not touch PinnedViews of its caller or block.
using TransactionBody = std::function<Status(Transaction&)>;

// ---------------------------------------------------------------------------------------------------
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

  // Any thread: a subscription to committed changes (see subscription.hpp). Delta building costs the
  // writer nothing while no subscription exists.
  Result<Subscription> subscribe(const SubscriptionOptions& options = {});

  // ---- durability (data_dir set) ----
  // Writes a snapshot now (from a pinned view; the writer keeps going) and compacts the WAL it covers.
  Status snapshot();
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
// Inline implementation.

inline PinnedView& PinnedView::operator=(PinnedView&& other) noexcept {
  if (this != &other) {
    release();
    db_ = std::exchange(other.db_, nullptr);
    state_ = other.state_;
    slot_ = other.slot_;
    pinned_at_ms_ = other.pinned_at_ms_;
  }
  return *this;
}

inline void PinnedView::release() noexcept {
  if (db_ != nullptr) {
    db_->unpin(slot_);
    db_ = nullptr;
  }
}

template <typename T>
std::uint16_t PinnedView::table_of() const noexcept {
  return db_->table_of<T>();
}

template <BoundComponent T>
const T* PinnedView::get(Entity e) const noexcept {
  const std::uint16_t t = table_of<T>();
  if (t == detail::kNoTable) return nullptr;
  // The row bytes were written as a T by the writer (layout checked at bind): the cast is valid.
  return reinterpret_cast<const T*>(state_->find_row(t, e.bits()));
}

template <BoundComponent T>
void PinnedView::get_many(std::span<const Entity> entities, std::span<const T*> out) const noexcept {
  const std::uint16_t t = table_of<T>();
  if (t == detail::kNoTable) {
    for (std::size_t i = 0; i < entities.size(); ++i) out[i] = nullptr;
    return;
  }
  const detail::TableState& ts = state_->tables[t];
  constexpr std::size_t kWave = 16;
  const std::uint64_t capacity = ts.sparse.capacity();
  const detail::SparseSlot* slots[kWave];
  for (std::size_t base = 0; base < entities.size(); base += kWave) {
    const std::size_t n = entities.size() - base < kWave ? entities.size() - base : kWave;
    // Wave 1: sparse slots (prefetched; all n misses overlap).
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t index = entities[base + i].index();
      slots[i] = index < capacity ? reinterpret_cast<const detail::SparseSlot*>(ts.sparse.at(index)) : nullptr;
      if (slots[i] != nullptr) __builtin_prefetch(slots[i]);
      if (index < ts.row_count && ts.stride != 0) __builtin_prefetch(ts.rows.at(index));  // likely row
    }
    // Wave 2: rows (prefetched), resolved once the slots arrive.
    for (std::size_t i = 0; i < n; ++i) {
      const detail::SparseSlot* s = slots[i];
      const bool hit = s != nullptr && s->row != detail::kNoRow && s->generation == entities[base + i].generation();
      const std::byte* row = hit ? ts.rows.at(s->row) : nullptr;
      if (row != nullptr) __builtin_prefetch(row);
      out[base + i] = reinterpret_cast<const T*>(row);
    }
  }
}

template <BoundComponent T>
const T* ReadSet::read(const PinnedView& view, Entity e) {
  const T* row = view.get<T>(e);
  record(view.database().template table_of<T>(), e.bits(), reinterpret_cast<const std::byte*>(row), sizeof(T));
  return row;
}

template <BoundComponent T>
bool PinnedView::has(Entity e) const noexcept {
  const std::uint16_t t = table_of<T>();
  return t != detail::kNoTable && state_->find_row_index(t, e.bits()) != detail::kNoRow;
}

template <BoundComponent T>
std::size_t PinnedView::count() const noexcept {
  const std::uint16_t t = table_of<T>();
  return t == detail::kNoTable ? 0 : state_->tables[t].row_count;
}


template <BoundComponent... T, typename F>
void PinnedView::each(F&& f) const {
  static_assert(sizeof...(T) >= 1, "each<T...>() needs at least one component");
  const std::uint16_t ids[] = {table_of<T>()...};
  std::size_t driver = 0;
  for (std::size_t i = 0; i < sizeof...(T); ++i) {
    if (ids[i] == detail::kNoTable) return;
    if (state_->tables[ids[i]].row_count < state_->tables[ids[driver]].row_count) driver = i;
  }
  const detail::VersionState* s = state_;
  if constexpr (sizeof...(T) == 1) {
    // One component: walk each page's rows as a T array (compile-time stride).
    using T0 = std::tuple_element_t<0, std::tuple<T...>>;
    const detail::TableState& t = s->tables[ids[0]];
    const std::uint32_t n = t.row_count;
    const std::uint32_t chunk = std::min(1u << t.rows.shift, 1u << t.keys.shift);
    for (std::uint32_t start = 0; start < n; start += chunk) {
      const std::uint32_t count = start + chunk < n ? chunk : n - start;
      const T0* rows = reinterpret_cast<const T0*>(t.rows.at(start));
      const auto* keys = reinterpret_cast<const std::uint64_t*>(t.keys.at(start));
      for (std::uint32_t r = 0; r < count; ++r) f(Entity::from_bits(keys[r]), rows[r]);
    }
  } else {
    // Rows are visited in chunks that stay inside one page of every table involved. When another table
    // holds the same entities in the same rows for a whole chunk (tables filled together, as spawning
    // does), the chunk is walked with plain pointer increments; otherwise rows are found per entity
    // through the sparse index.
    const detail::TableState& d = s->tables[ids[driver]];
    std::uint32_t chunk = 1u << d.keys.shift;
    for (std::size_t i = 0; i < sizeof...(T); ++i) {
      const detail::TableState& t = s->tables[ids[i]];
      if (t.stride != 0) chunk = std::min(chunk, 1u << t.rows.shift);
      chunk = std::min(chunk, 1u << t.keys.shift);
    }
    const std::uint32_t n = d.row_count;
    for (std::uint32_t start = 0; start < n; start += chunk) {
      const std::uint32_t end = start + chunk < n ? start + chunk : n;
      const auto* keys = reinterpret_cast<const std::uint64_t*>(d.keys.at(start));
      bool aligned = true;
      for (std::size_t i = 0; i < sizeof...(T) && aligned; ++i) {
        const detail::TableState& t = s->tables[ids[i]];
        aligned = i == driver || (end <= t.row_count && t.stride != 0 &&
                                  std::memcmp(t.keys.at(start), keys, std::size_t{end - start} * 8) == 0);
      }
      if (aligned) {
        const std::byte* base[sizeof...(T)];
        for (std::size_t i = 0; i < sizeof...(T); ++i) base[i] = s->tables[ids[i]].rows.at(start);
        [&]<std::size_t... I>(std::index_sequence<I...>) {
          for (std::uint32_t r = 0; r < end - start; ++r) {
            f(Entity::from_bits(keys[r]),
              *reinterpret_cast<const T*>(base[I] + std::size_t{r} * sizeof(T))...);
          }
        }(std::index_sequence_for<T...>{});
        continue;
      }
      for (std::uint32_t r = start; r < end; ++r) {
        const std::uint64_t key = keys[r - start];
        const std::byte* rows[sizeof...(T)];
        bool all = true;
        for (std::size_t i = 0; i < sizeof...(T) && all; ++i) {
          rows[i] = i == driver ? d.rows.at(r) : s->find_row(ids[i], key);
          all = rows[i] != nullptr;
        }
        if (!all) continue;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
          f(Entity::from_bits(key), *reinterpret_cast<const T*>(rows[I])...);
        }(std::index_sequence_for<T...>{});
      }
    }
  }
}

template <BoundComponent... T>
class PinnedView::Query {
 public:
  using Item = std::tuple<Entity, const T&...>;

  class iterator {
   public:
    iterator(const Query* q, std::uint32_t row) : q_(q), row_(row) { settle(); }
    Item operator*() const {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return Item(Entity::from_bits(key_), *reinterpret_cast<const T*>(rows_[I])...);
      }(std::index_sequence_for<T...>{});
    }
    iterator& operator++() {
      ++row_;
      if (aligned_ && row_ < chunk_end_) {  // inside a chunk whose rows line up: just step the pointers
        key_ = keys_[row_ - chunk_start_];
        for (std::size_t i = 0; i < sizeof...(T); ++i) rows_[i] += kSizes[i];
        return *this;
      }
      settle();
      return *this;
    }
    bool operator==(const iterator& o) const noexcept { return row_ == o.row_; }

   private:
    static constexpr std::size_t kSizes[] = {sizeof(T)...};

    // Chunks stay inside one page of every table involved (Query::chunk_). A chunk is "aligned" when every
    // other table holds the same entities in the same rows there (tables filled together): its rows are
    // then walked by pointer steps, like each<A, B>, with no sparse lookups.
    void begin_chunk() {
      const detail::TableState& d = q_->state_->tables[q_->ids_[q_->driver_]];
      chunk_start_ = row_ - row_ % q_->chunk_;
      chunk_end_ = chunk_start_ + q_->chunk_ < q_->end_ ? chunk_start_ + q_->chunk_ : q_->end_;
      keys_ = reinterpret_cast<const std::uint64_t*>(d.keys.at(chunk_start_));
      aligned_ = true;
      for (std::size_t i = 0; i < sizeof...(T) && aligned_; ++i) {
        const detail::TableState& t = q_->state_->tables[q_->ids_[i]];
        aligned_ = i == q_->driver_ ||
                   (chunk_end_ <= t.row_count && t.stride != 0 &&
                    std::memcmp(t.keys.at(chunk_start_), keys_, std::size_t{chunk_end_ - chunk_start_} * 8) == 0);
      }
    }

    void settle() {
      while (row_ < q_->end_) {  // also stops at once for an unbound type (end_ == 0)
        if (row_ >= chunk_end_ || row_ < chunk_start_) begin_chunk();
        key_ = keys_[row_ - chunk_start_];
        if (aligned_) {
          for (std::size_t i = 0; i < sizeof...(T); ++i) {
            rows_[i] = q_->state_->tables[q_->ids_[i]].rows.at(row_);
          }
          return;
        }
        bool all = true;
        for (std::size_t i = 0; i < sizeof...(T) && all; ++i) {
          rows_[i] = i == q_->driver_ ? q_->state_->tables[q_->ids_[i]].rows.at(row_)
                                      : q_->state_->find_row(q_->ids_[i], key_);
          all = rows_[i] != nullptr;
        }
        if (all) return;
        ++row_;
      }
    }
    const Query* q_;
    std::uint32_t row_;
    std::uint64_t key_ = 0;
    const std::byte* rows_[sizeof...(T)] = {};
    const std::uint64_t* keys_ = nullptr;
    std::uint32_t chunk_start_ = 0;
    std::uint32_t chunk_end_ = 0;
    bool aligned_ = false;
  };

  iterator begin() const { return iterator(this, 0); }
  iterator end() const { return iterator(this, end_); }

 private:
  friend class PinnedView;
  explicit Query(const PinnedView& v) : state_(v.state_), ids_{v.table_of<T>()...} {
    for (std::size_t i = 0; i < sizeof...(T); ++i) {
      if (ids_[i] == detail::kNoTable) return;  // unbound type: empty range
      if (state_->tables[ids_[i]].row_count < state_->tables[ids_[driver_]].row_count) driver_ = i;
    }
    end_ = state_->tables[ids_[driver_]].row_count;
    chunk_ = 1u << state_->tables[ids_[driver_]].keys.shift;
    for (std::size_t i = 0; i < sizeof...(T); ++i) {
      const detail::TableState& t = state_->tables[ids_[i]];
      if (t.stride != 0) chunk_ = std::min(chunk_, 1u << t.rows.shift);
      chunk_ = std::min(chunk_, 1u << t.keys.shift);
    }
  }
  const detail::VersionState* state_;
  std::uint16_t ids_[sizeof...(T)];
  std::size_t driver_ = 0;
  std::uint32_t end_ = 0;
  std::uint32_t chunk_ = 1;
};

template <BoundComponent... T>
PinnedView::Query<T...> PinnedView::query() const {
  return Query<T...>(*this);
}

// ---- Transaction templates: thin typed wrappers over WriterCore's byte-level operations ----

namespace detail {
// Byte-level operations implemented in src/txn (WriterCore).
Status txn_add(WriterCore* c, std::uint16_t table, Entity e, const void* bytes);
Status txn_update(WriterCore* c, std::uint16_t table, std::uint64_t key, const void* bytes);
Status txn_put(WriterCore* c, std::uint16_t table, Entity e, const void* bytes);
Status txn_add_many(WriterCore* c, std::uint16_t table, const Entity* entities, std::size_t n, const void* rows);
Status txn_remove(WriterCore* c, std::uint16_t table, std::uint64_t key);
Status txn_set_bytes(WriterCore* c, std::uint16_t table, std::uint64_t key, std::uint32_t offset,
                     std::uint32_t size, const void* bytes);
Result<RowId> txn_insert_child(WriterCore* c, std::uint16_t table, Entity owner, const void* bytes);
const std::byte* txn_get(const WriterCore* c, std::uint16_t table, std::uint64_t key);
// Calls visit(ctx, key, row) for every row, rows made writable page by page.
Status txn_for_each_mut(WriterCore* c, std::uint16_t table, void* ctx,
                        void (*visit)(void* ctx, std::uint64_t key, std::byte* row));
}  // namespace detail

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

template <BoundComponent T>
Status Transaction::add(Entity e, const T& value) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  return detail::txn_add(core_, t, e, &value);
}
template <BoundComponent T>
Status Transaction::add_many(std::span<const Entity> entities, std::span<const T> values) {
  if (entities.size() != values.size()) return invalid_argument("add_many: entities and values differ in length");
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  return detail::txn_add_many(core_, t, entities.data(), entities.size(), values.data());
}
template <BoundComponent T>
Status Transaction::update(Entity e, const T& value) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  return detail::txn_update(core_, t, e.bits(), &value);
}
template <BoundComponent T>
Status Transaction::put(Entity e, const T& value) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  return detail::txn_put(core_, t, e, &value);
}
template <BoundComponent T>
Status Transaction::remove(Entity e) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  return detail::txn_remove(core_, t, e.bits());
}
template <BoundComponent T>
const T* Transaction::get(Entity e) const {
  const std::uint16_t t = db_->table_of<T>();
  if (t == detail::kNoTable) return nullptr;
  return reinterpret_cast<const T*>(detail::txn_get(core_, t, e.bits()));
}
template <BoundComponent T, typename M>
Status Transaction::set(Entity e, M T::*member, const M& value) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  // Offset of the member inside T (which equals its offset in the row, checked at bind).
  alignas(T) unsigned char storage[sizeof(T)];
  const T* probe = reinterpret_cast<const T*>(storage);
  const auto offset = static_cast<std::uint32_t>(reinterpret_cast<const unsigned char*>(&(probe->*member)) - storage);
  return detail::txn_set_bytes(core_, t, e.bits(), offset, sizeof(M), &value);
}
template <BoundComponent T>
Result<RowId> Transaction::insert_child(Entity owner, const T& value) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, child_table_of<T>());
  return detail::txn_insert_child(core_, t, owner, &value);
}
template <BoundComponent T>
Status Transaction::update_child(RowId row, const T& value) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, child_table_of<T>());
  return detail::txn_update(core_, t, row.bits(), &value);
}
template <BoundComponent T, typename F>
Status Transaction::for_each_mut(F&& f) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  auto visit = [](void* ctx, std::uint64_t key, std::byte* row) {
    (*static_cast<std::remove_reference_t<F>*>(ctx))(Entity::from_bits(key), *reinterpret_cast<T*>(row));
  };
  return detail::txn_for_each_mut(core_, t, &f, visit);
}

template <BoundComponent T>
Status WriterHandle::add(Entity e, const T& value) {
  const std::uint16_t t = db_->table_of<T>();
  if (t == detail::kNoTable) return run([&](Transaction& tx) { return tx.add(e, value); });  // reports why
  return detail::implicit_write(core_, detail::ImplicitOp::kAdd, t, e.bits(), 0, sizeof(T), &value);
}
template <BoundComponent T>
Status WriterHandle::update(Entity e, const T& value) {
  const std::uint16_t t = db_->table_of<T>();
  if (t == detail::kNoTable) return run([&](Transaction& tx) { return tx.update(e, value); });
  return detail::implicit_write(core_, detail::ImplicitOp::kSet, t, e.bits(), 0, sizeof(T), &value);
}
template <BoundComponent T>
Status WriterHandle::remove(Entity e) {
  const std::uint16_t t = db_->table_of<T>();
  if (t == detail::kNoTable) return run([&](Transaction& tx) { return tx.template remove<T>(e); });
  return detail::implicit_write(core_, detail::ImplicitOp::kRemove, t, e.bits(), 0, 0, nullptr);
}
template <BoundComponent T, typename M>
Status WriterHandle::set(Entity e, M T::*member, const M& value) {
  const std::uint16_t t = db_->table_of<T>();
  if (t == detail::kNoTable) return run([&](Transaction& tx) { return tx.set(e, member, value); });
  alignas(T) unsigned char storage[sizeof(T)];
  const T* probe = reinterpret_cast<const T*>(storage);
  const auto offset = static_cast<std::uint32_t>(reinterpret_cast<const unsigned char*>(&(probe->*member)) - storage);
  return detail::implicit_write(core_, detail::ImplicitOp::kSet, t, e.bits(), offset, sizeof(M), &value);
}

template <BoundComponent T>
Result<RowId> WriterHandle::insert_child(Entity owner, const T& value) {
  Transaction t = begin();
  ECSDB_ASSIGN_OR_RETURN(RowId id, t.insert_child(owner, value));
  ECSDB_RETURN_IF_ERROR(t.commit());
  return id;
}
template <BoundComponent T>
const T* WriterHandle::get(Entity e) const {
  const std::uint16_t t = db_->table_of<T>();
  if (t == detail::kNoTable) return nullptr;
  return reinterpret_cast<const T*>(detail::txn_get(core_, t, e.bits()));
}

}  // namespace ecsdb
