// Persistence — owns everything durable about one open Database: recovery at open (newest valid snapshot
// + WAL replay), the WAL writer installed as the writer's CommitSink, and a maintenance thread for automatic
// snapshots and retention (WAL segments covered by a durable snapshot go to the archive or are deleted; old
// snapshots are pruned). Retention runs after snapshot_now() returns: freeing a 64 MB file costs tens of
// milliseconds on some file systems, and a snapshot is done once it is durable (docs/durability.md).
//
// Data directory layout (docs/durability.md):
//   IDENTITY            database id + schema layout hash (written once, atomically)
//   wal/wal-<lsn>.log   live WAL segments
//   snapshots/snap-<version>.ecss
//   archive/            retired WAL segments (optionally .zst) and older snapshots, for point-in-time restore
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.hpp"
#include "ecsdb/database.hpp"
#include "ecsdb/file_system.hpp"
#include "persist/snapshot.hpp"
#include "persist/wal_writer.hpp"

namespace ecsdb::persist {

// The IDENTITY file of a data directory (32 bytes, docs/durability.md): magic "ECSDBID1" | u64 database id |
// u64 schema layout hash | u64 XXH3-64 of bytes [0, 24). Shared with `ecsdb restore`, which creates one.
struct Identity {
  std::uint64_t database_id = 0;
  std::uint64_t layout_hash = 0;
};
// kCorruption naming the path when the file is not a valid identity; kNotFound-like I/O error when absent.
Result<Identity> read_identity(FileSystem& fs, const std::string& dir);
// Writes dir/IDENTITY atomically: a temporary file, fdatasync, rename, directory sync.
Status write_identity(FileSystem& fs, const std::string& dir, const Identity& identity);

}  // namespace ecsdb::persist

namespace ecsdb::detail {

class Persistence {
 public:
  // Runs recovery into `db` (empty, just constructed) and starts logging. Errors name files and offsets.
  static Result<std::unique_ptr<Persistence>> open(Database& db, const DatabaseOptions& options);
  ~Persistence();

  // Writes a durable snapshot and rolls the WAL if it covers all of it; retention follows in the background.
  Status snapshot_now();
  // Blocks until the retention of every snapshot that has returned has run; the last run's error, if any.
  Status wait_for_retention();
  Status flush();
  Status health() const;
  std::vector<std::string> notes() const;

 private:
  Persistence(Database& db, const DatabaseOptions& options, std::shared_ptr<FileSystem> fs);
  Status recover();
  // Retires the WAL segments that the durable snapshot of `version` covers (every LSN <= `covered_lsn`),
  // and snapshots older than it beyond keep_snapshots. Idempotent: what one run leaves (a crash, an I/O
  // error) the next one retires.
  Status retire(std::uint64_t covered_lsn, std::uint64_t version);
  void run_maintenance();
  // snapshot_now()'s work, under snapshot_mu_; snapshot_now() records its outcome.
  Status write_snapshot_now();
  // Keeps a failure of background work for notes(), to the newest kMaxMaintenanceNotes of them: a disk
  // that stays full for days must not grow the list by a line per retry.
  void note_maintenance_failure(std::string note) ECSDB_REQUIRES(mu_);
  static constexpr std::size_t kMaxMaintenanceNotes = 16;

  Database& db_;
  DatabaseOptions options_;
  std::shared_ptr<FileSystem> fs_;
  std::string wal_dir_, snap_dir_, archive_dir_;
  std::uint64_t database_id_ = 0;
  std::unique_ptr<persist::WalWriter> wal_;
  // Point-in-time recovery opens read-only: this sink refuses every commit.
  class ReadOnlySink final : public CommitSink {
   public:
    Status append(const Delta&, std::uint64_t, std::uint64_t) override {
      return Status(StatusCode::kInvalidArgument, "database opened for point-in-time recovery is read-only");
    }
    void resolve_when_durable(std::uint64_t, std::uint64_t version,
                              std::vector<std::shared_ptr<QueuedTransaction>>&& tickets) override {
      for (auto& t : tickets) resolve_ticket(*t, Status::ok(), version);
    }
    Status wait_durable(std::uint64_t) override { return Status::ok(); }
    // Everything a read-only database holds came from disk.
    std::uint64_t durable_lsn() const noexcept override { return std::numeric_limits<std::uint64_t>::max(); }
    std::uint64_t durable_record_version() const noexcept override { return 0; }
  };
  std::unique_ptr<ReadOnlySink> read_only_;

  mutable base::Mutex mu_;          // notes, the maintenance thread's control
  std::mutex snapshot_mu_;          // one snapshot or retention run at a time (taken before mu_, never inside)
  base::CondVar cv_;
  bool stop_ ECSDB_GUARDED_BY(mu_) = false;
  std::vector<std::string> notes_ ECSDB_GUARDED_BY(mu_);
  std::size_t recovery_notes_ ECSDB_GUARDED_BY(mu_) = 0;  // notes_ before this index are recovery's, kept
  // After a failed automatic snapshot (a full disk, a failed log), the next automatic one waits 1 s, then
  // twice as long after each further failure, up to a minute: a snapshot that cannot be written is not
  // rewritten ten times a second while the cause lasts. Any snapshot that succeeds ends the pause.
  int auto_failures_in_a_row_ ECSDB_GUARDED_BY(mu_) = 0;
  std::chrono::steady_clock::time_point auto_retry_at_ ECSDB_GUARDED_BY(mu_){};
  std::uint64_t wal_bytes_at_last_snapshot_ ECSDB_GUARDED_BY(mu_) = 0;
  // Retention the maintenance thread owes: the newest snapshot's LSN and version, set by snapshot_now().
  bool retire_pending_ ECSDB_GUARDED_BY(mu_) = false;
  bool retiring_ ECSDB_GUARDED_BY(mu_) = false;
  std::uint64_t retire_lsn_ ECSDB_GUARDED_BY(mu_) = 0;
  std::uint64_t retire_version_ ECSDB_GUARDED_BY(mu_) = 0;
  Status retire_status_ ECSDB_GUARDED_BY(mu_);
  std::thread maintenance_thread_;
};

}  // namespace ecsdb::detail
