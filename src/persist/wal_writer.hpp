// WalWriter — the write-ahead log: the writer hands it each committed transaction's encoded delta (no I/O
// on the writer thread); everything pending is written with one write per segment and one fdatasync
// (group commit), then durability is reported. Who writes a batch:
//  * a thread that waits for durability (flush(), commit(Durability::kSync), pin_durable(), a snapshot)
//    while no one is writing: it writes the pending batch itself, so a lone durable commit costs one
//    write and one fdatasync and no thread hand-off;
//  * the flush thread: at once when a sync-mode ticket starts waiting, and otherwise it polls every
//    flush_interval() (1 ms in kSync mode, async_flush_ms in kAsync) while records arrive. append() does
//    not wake it, except after it fell asleep from idleness: on the development VM that wake-up cost a
//    lone committer 20-50 us, more than its commit.
// Whichever thread writes a batch owns the segment meanwhile (writing_).
//
// Every run starts a fresh segment (never continues one that recovery read), with a fresh random salt that
// seeds its record checksums: a record verifies only in the segment, and so the run, that wrote it.
//
// Failure model: a failed write or fdatasync POISONS the log. It never retries and never acknowledges the
// affected commits: waiting tickets fail with the I/O error, later commits are refused (the database is
// read-only until reopened, and recovery decides what survived). See docs/durability.md.
//
// Thread-safety: append/resolve_when_durable from the writer thread; wait_durable/durable_lsn/metrics
// from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/latency_histogram.hpp"
#include "base/mutex.hpp"
#include "ecsdb/database.hpp"
#include "ecsdb/file_system.hpp"
#include "persist/wal_format.hpp"
#include "txn/commit_sink.hpp"
#include "txn/write_queue.hpp"

namespace ecsdb::persist {

struct WalWriterOptions {
  Durability mode = Durability::kSync;
  std::uint32_t async_flush_ms = 10;
  std::uint64_t segment_bytes = 64ull << 20;
};

class WalWriter final : public detail::CommitSink {
 public:
  WalWriter(std::shared_ptr<FileSystem> fs, std::string dir, const Schema& schema, std::uint64_t database_id,
            WalWriterOptions options, std::uint64_t last_lsn, std::uint64_t last_version);
  ~WalWriter() override;  // flushes what is pending, then stops

  Status start();

  Status append(const Delta& delta, std::uint64_t lsn, std::uint64_t version) override;
  void resolve_when_durable(std::uint64_t lsn, std::uint64_t version,
                            std::vector<std::shared_ptr<detail::QueuedTransaction>>&& tickets) override;
  Status wait_durable(std::uint64_t lsn) override;
  std::uint64_t durable_lsn() const noexcept override { return durable_lsn_.load(std::memory_order_acquire); }

  std::uint64_t durable_record_version() const noexcept override {
    return durable_version_.load(std::memory_order_acquire);
  }
  std::uint64_t bytes_appended() const noexcept { return bytes_appended_.load(std::memory_order_relaxed); }
  // A snapshot that covers this log was written, or one failed; a retention run after a snapshot ended
  // (Persistence, one snapshot at a time): reported in fill_metrics.
  void note_snapshot(std::uint64_t duration_ns, std::uint64_t version) noexcept;
  void note_snapshot_failed() noexcept;
  void note_retention(bool ok) noexcept;
  void fill_metrics(DatabaseMetrics& m) const override;
  Status error() const;
  // First LSN of the segment being written (0 before the first record): compaction never retires it.
  std::uint64_t current_segment_first_lsn() const;
  // After a snapshot covering every record up to `covered_lsn`: when that is all the log holds and the
  // flush thread is idle, start a fresh segment now so the covered one can be retired (recovery then
  // reads nothing the snapshot already holds). A no-op otherwise. The segment is created without mu_
  // held (the flush thread waits meanwhile; the writer thread's append() never does).
  Status roll_if_covered(std::uint64_t covered_lsn);

 private:
  struct Pending {
    std::uint64_t lsn;
    std::uint64_t version;
    std::size_t offset;  // into pending_bytes_
    std::size_t size;
  };
  struct Waiting {
    std::uint64_t lsn;
    std::uint64_t version;
    std::vector<std::shared_ptr<detail::QueuedTransaction>> tickets;
  };

  struct NewSegment {
    std::unique_ptr<WritableFile> file;
    std::uint64_t salt;
  };

  void run();
  // Takes everything pending and writes it as one batch, then records durability or poisons the log and
  // resolves what it settled. Called with mu_ held (through the caller's MutexLock), it releases mu_
  // during the I/O and the wake-ups (writing_ set: this thread owns the segment) and holds it again on
  // return. Requires !writing_, !rolling_, and pending_ not empty.
  // noexcept: an exception from the write (out of memory, std::random_device) poisons the log like a failed
  // write; only a second failure while poisoning terminates (writing_ must never stay set).
  void write_pending() noexcept ECSDB_REQUIRES(mu_);
  // How often the flush thread polls while records arrive: the longest a record nobody waits for stays
  // unwritten. kSync: 1 ms (or less, by async_flush_ms); kAsync: async_flush_ms; 0: at every record.
  std::chrono::milliseconds flush_interval() const noexcept {
    const std::chrono::milliseconds configured(options_.async_flush_ms);
    return options_.mode == Durability::kSync ? std::min(configured, std::chrono::milliseconds(1)) : configured;
  }
  // Polls that find no new record before the flush thread sleeps until append() wakes it (100 ms in
  // kSync mode at the default interval): an idle database costs no periodic wake-ups.
  static constexpr int kIdlePollsBeforeSleep = 100;
  Status write_batch(std::vector<std::byte>& bytes, const std::vector<Pending>& records);
  Status open_segment(std::uint64_t first_lsn);
  Result<NewSegment> create_segment(std::uint64_t first_lsn, std::uint64_t capacity);
  // Bytes of a new segment: the configured size, but room for the header and one page at least.
  std::uint64_t segment_capacity() const noexcept {
    return std::max<std::uint64_t>(options_.segment_bytes, kWalHeaderSize + 4096);
  }
  void adopt_segment(std::unique_ptr<WritableFile> f, std::uint64_t first_lsn, std::uint64_t capacity,
                     std::uint64_t salt);
  // Moves the tickets to resolve out of waiting_ (mu_ held); they are resolved after unlocking, so
  // append() on the writer thread never waits behind ticket wake-ups.
  std::vector<Waiting> take_durable_locked(std::uint64_t lsn) ECSDB_REQUIRES(mu_);
  static void resolve_all(std::vector<Waiting>& done, const Status& s);

  std::shared_ptr<FileSystem> fs_;
  std::string dir_;
  const Schema& schema_;
  std::uint64_t database_id_;
  WalWriterOptions options_;

  mutable base::Mutex mu_;
  base::CondVar work_cv_;     // flush thread waits for its interval, a waiting ticket, or stop
  base::CondVar segment_cv_;  // flush thread waits for another thread to finish with the segment
  base::CondVar durable_cv_;  // wait_durable waits for progress
  std::vector<std::byte> pending_bytes_ ECSDB_GUARDED_BY(mu_);
  std::vector<Pending> pending_ ECSDB_GUARDED_BY(mu_);
  std::deque<Waiting> waiting_ ECSDB_GUARDED_BY(mu_);
  bool stop_ ECSDB_GUARDED_BY(mu_) = false;
  bool writing_ ECSDB_GUARDED_BY(mu_) = false;  // a thread is inside write_batch (owns the segment)
  bool rolling_ ECSDB_GUARDED_BY(mu_) = false;  // roll_if_covered is creating a segment (owns the segment)
  Status poisoned_ ECSDB_GUARDED_BY(mu_);
  std::uint64_t appended_records_ ECSDB_GUARDED_BY(mu_) = 0;  // ever: run() tells idle polls by it
  bool flusher_asleep_ ECSDB_GUARDED_BY(mu_) = false;  // run() sleeps until append() wakes it

  // The segment and the batch being written: owned by the thread that set writing_, or by
  // roll_if_covered while it holds mu_ with no one writing:
  std::vector<std::byte> batch_bytes_;
  std::vector<Pending> batch_records_;
  std::unique_ptr<WritableFile> segment_;
  std::uint64_t segment_first_lsn_ = 0;
  std::uint64_t segment_offset_ = 0;
  std::uint64_t segment_capacity_ = 0;
  std::uint64_t segment_salt_ = 0;
  std::atomic<std::uint64_t> live_first_lsn_{0};  // segment_first_lsn_, readable from other threads

  std::atomic<std::uint64_t> durable_lsn_{0};
  std::atomic<std::uint64_t> durable_version_{0};
  std::atomic<std::uint64_t> bytes_appended_{0};
  base::LatencyHistogram sync_ns_;  // the flush thread's fdatasyncs
  std::atomic<std::uint64_t> snapshots_{0};
  std::atomic<std::uint64_t> last_snapshot_ns_{0};
  std::atomic<std::uint64_t> last_snapshot_version_{0};
  std::atomic<std::uint64_t> snapshot_failures_{0};
  std::atomic<std::uint64_t> retention_failures_{0};
  std::atomic<bool> snapshot_failing_{false};
  std::atomic<bool> retention_failing_{false};
  std::vector<std::byte> scratch_;  // writer thread: encoding buffer
  std::thread thread_;
};

}  // namespace ecsdb::persist
