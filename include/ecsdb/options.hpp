// ecsdb/options.hpp — how a database is opened (DatabaseOptions) and what it reports (DatabaseMetrics).
//
//   ecsdb::DatabaseOptions options;
//   options.data_dir = "save/";                  // WAL + snapshots; empty = in memory only
//   options.publish_every_commits = 0;           // readers see whole ticks: WriterHandle::publish() per tick
//   auto db = ecsdb::Database::open(schema, options);
//
// Plain values. Database::open copies the options; the caller's copy is never read again. The one shared
// member is DatabaseOptions::file_system, owned jointly with the database while it is open (it must be
// thread-safe for distinct files, see file_system.hpp). DatabaseMetrics is a snapshot returned by value by
// Database::metrics() (any thread); nothing in it refers into the database.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ecsdb/file_system.hpp"

namespace ecsdb {

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
  // The longest a logged commit that nobody waits for stays unwritten, in kAsync and in kSync mode (a sync
  // ticket, commit(Durability::kSync) and flush() have their record written at once). 0: every record is
  // written as soon as it is committed, one wake-up of the flush thread per commit.
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

  // Target size of a storage page: every table column, sparse index and the registry is paged, and the
  // first write to a page after a publish copies the whole page (copy-on-write). Smaller pages make a
  // random write copy less but lengthen the page directory, which a publish-per-commit writer copies
  // whole; ADR 0015 measures the trade-off. A power of two from 512 to 65536.
  std::uint32_t page_bytes = 16 * 1024;
  // Ping-pong pages (ADR 0016): a page's previous copy is kept (parked) once no view can read it, and the
  // next copy of the page reuses it, replaying only the cache lines written since instead of copying the
  // whole page. It makes a random write copy ~64 bytes instead of a page, and costs up to one parked copy
  // per written page, bounded by pool_max_idle_bytes (DatabaseMetrics::bytes_parked). false: every copy
  // copies the whole page and the old one is freed.
  bool ping_pong_pages = true;

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
  std::uint64_t pages_replayed_total = 0;   // of those, made by replaying a few granules into a parked copy
  std::uint64_t bytes_copied_total = 0;     // bytes those copies and replays moved, ever
  std::uint64_t bytes_in_use = 0;           // pages + directories allocated
  std::uint64_t bytes_pooled = 0;           // freed pages kept for reuse
  std::uint64_t bytes_parked = 0;           // older copies of written pages kept for ping-pong reuse
  std::uint64_t bytes_released_total = 0;   // pooled memory returned to the system, ever
  std::uint64_t writer_scratch_bytes = 0;   // undo buffers kept for the next transaction (at most ~8 MiB each)
  std::uint64_t entities_alive = 0;         // in the published version
  // Queue (Database::submit):
  std::uint64_t submitted = 0;              // transactions submitted, ever
  std::uint64_t queue_depth = 0;            // submitted but not yet taken by the writer
  std::uint64_t submit_to_visible_p50_ns = 0;
  std::uint64_t submit_to_visible_p99_ns = 0;
  std::uint64_t submit_to_visible_count = 0;     // transactions measured, and their summed latency
  std::uint64_t submit_to_visible_sum_ns = 0;
  double batch_size_mean = 0;               // transactions per published batch
  std::uint64_t batch_size_p99 = 0;
  double pages_copied_per_publish_mean = 0;
  // Durability (0 without data_dir):
  std::uint64_t wal_bytes_total = 0;        // log bytes appended, ever (this process)
  std::uint64_t wal_syncs_total = 0;        // group-commit writes ended by an fdatasync
  std::uint64_t wal_sync_p50_ns = 0;        // duration of those fdatasyncs
  std::uint64_t wal_sync_p99_ns = 0;
  std::uint64_t wal_sync_sum_ns = 0;         // summed duration of those fdatasyncs
  std::uint64_t snapshots_total = 0;        // snapshots written by this process (on demand and background)
  std::uint64_t last_snapshot_ns = 0;       // how long the last one took (pin to durable rename)
  std::uint64_t last_snapshot_version = 0;
  // Failures of background durability work. The database stays writable through them (health() is ok),
  // but while they last the log grows: a snapshot that fails leaves every segment to replay, a retention
  // run that fails leaves covered segments and old snapshots on disk (the next snapshot retries both).
  std::uint64_t snapshot_failures_total = 0;   // snapshots that failed (on demand and background), ever
  std::uint64_t retention_failures_total = 0;  // retention runs after a snapshot that failed, ever
  bool snapshot_failing = false;               // the latest snapshot failed
  bool retention_failing = false;              // the latest retention run failed
};

}  // namespace ecsdb
