#include "persist/persistence.hpp"

#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <random>

#include "base/latency_histogram.hpp"
#include "persist/byte_io.hpp"
#include "persist/wal_format.hpp"
#include "persist/wal_reader.hpp"
#include "txn/database_access.hpp"

namespace ecsdb::persist {

namespace {
constexpr char kIdentityMagic[8] = {'E', 'C', 'S', 'D', 'B', 'I', 'D', '1'};
}  // namespace

Result<Identity> read_identity(FileSystem& fs, const std::string& dir) {
  const std::string path = dir + "/IDENTITY";
  ECSDB_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, fs.read_file(path));
  ByteReader r(bytes);
  auto magic = r.bytes(8);
  Identity identity;
  identity.database_id = r.u64();
  identity.layout_hash = r.u64();
  const std::uint64_t sum = r.u64();
  if (!r.ok() || std::memcmp(magic.data(), kIdentityMagic, 8) != 0 || sum != checksum64(std::span(bytes).subspan(0, 24))) {
    return Status(StatusCode::kCorruption, path + ": not a valid ECSDb identity file");
  }
  return identity;
}

Status write_identity(FileSystem& fs, const std::string& dir, const Identity& identity) {
  const std::string path = dir + "/IDENTITY";
  std::vector<std::byte> bytes;
  ByteWriter w(bytes);
  w.raw(kIdentityMagic, 8);
  w.u64(identity.database_id);
  w.u64(identity.layout_hash);
  w.u64(checksum64(bytes));
  ECSDB_ASSIGN_OR_RETURN(auto f, fs.create(path + ".tmp"));
  ECSDB_RETURN_IF_ERROR(f->append(bytes));
  ECSDB_RETURN_IF_ERROR(f->sync());
  ECSDB_RETURN_IF_ERROR(f->close());
  ECSDB_RETURN_IF_ERROR(fs.rename(path + ".tmp", path));
  return fs.sync_dir(dir);
}

}  // namespace ecsdb::persist

namespace ecsdb::detail {

namespace {

Result<std::uint64_t> read_or_create_identity(FileSystem& fs, const std::string& dir, const Schema& schema) {
  if (fs.exists(dir + "/IDENTITY")) {
    ECSDB_ASSIGN_OR_RETURN(const persist::Identity identity, persist::read_identity(fs, dir));
    if (identity.layout_hash != schema.layout_hash()) {
      return Status(StatusCode::kInvalidArgument,
                    dir + " was written with a different schema layout than " + schema.source +
                        " (layout hash differs); open it with the schema it was created with");
    }
    return identity.database_id;
  }
  std::random_device rd;
  const persist::Identity identity{(std::uint64_t{rd()} << 32 | rd()) | 1, schema.layout_hash()};
  ECSDB_RETURN_IF_ERROR(persist::write_identity(fs, dir, identity));
  return identity.database_id;
}

}  // namespace

Persistence::Persistence(Database& db, const DatabaseOptions& options, std::shared_ptr<FileSystem> fs)
    : db_(db),
      options_(options),
      fs_(std::move(fs)),
      wal_dir_(options.data_dir + "/wal"),
      snap_dir_(options.data_dir + "/snapshots"),
      archive_dir_(options.data_dir + "/archive") {}

Result<std::unique_ptr<Persistence>> Persistence::open(Database& db, const DatabaseOptions& options) {
  std::shared_ptr<FileSystem> fs = options.file_system ? options.file_system : posix_file_system();
  std::unique_ptr<Persistence> p(new Persistence(db, options, std::move(fs)));
  for (const std::string& d : {options.data_dir, p->wal_dir_, p->snap_dir_, p->archive_dir_}) {
    ECSDB_RETURN_IF_ERROR(p->fs_->create_dirs(d));
  }
  ECSDB_RETURN_IF_ERROR(p->fs_->sync_dir(options.data_dir));
  ECSDB_ASSIGN_OR_RETURN(p->database_id_, read_or_create_identity(*p->fs_, options.data_dir, db.schema()));
  ECSDB_RETURN_IF_ERROR(p->recover());
  {
    base::MutexLock lock(p->mu_);
    p->recovery_notes_ = p->notes_.size();
  }
  // A read-only (point-in-time) database takes no automatic snapshots and retires nothing.
  if (p->wal_ != nullptr) p->maintenance_thread_ = std::thread([raw = p.get()] { raw->run_maintenance(); });
  return p;
}

Persistence::~Persistence() {
  {
    base::MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();  // after the retention it owes
  if (wal_ || read_only_) {
    DatabaseAccess::core(db_).set_sink(nullptr);
    wal_.reset();  // flushes pending records
  }
}

Status Persistence::recover() {
  WriterCore& core = DatabaseAccess::core(db_);
  const Schema& schema = db_.schema();
  auto note = [&](std::string s) {
    base::MutexLock lock(mu_);
    notes_.push_back(std::move(s));
  };

  // 1. Newest snapshot that verifies end to end; fall back to older ones.
  ECSDB_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->list(snap_dir_));
  std::vector<std::uint64_t> versions;
  for (const std::string& n : names) {
    if (const std::uint64_t v = persist::parse_snapshot_name(n); v != 0) versions.push_back(v);
    else if (n.ends_with(".tmp")) fs_->remove(snap_dir_ + "/" + n).ignore();  // an interrupted snapshot
  }
  std::sort(versions.rbegin(), versions.rend());
  std::uint64_t lsn = 0, version = 0;
  for (std::uint64_t v : versions) {
    const std::string path = snap_dir_ + "/" + persist::snapshot_name(v);
    auto snap = persist::read_snapshot(*fs_, path, &schema);
    if (!snap) {
      note("snapshot " + path + " is unusable (" + snap.status().message() + "); falling back to an older one");
      continue;
    }
    if (snap->info.database_id != database_id_) {
      note("snapshot " + path + " belongs to another database; ignored");
      continue;
    }
    // Point-in-time recovery starts from a snapshot taken at or before the target, never after it.
    if ((options_.recover_until_version != 0 && snap->info.version > options_.recover_until_version) ||
        (options_.recover_until_unix_ns != 0 && snap->info.created_unix_ns > options_.recover_until_unix_ns)) {
      note("snapshot " + path + " is past the recovery target; skipped");
      continue;
    }
    ECSDB_RETURN_IF_ERROR(persist::apply_snapshot(*snap, core));
    lsn = snap->info.lsn;
    version = snap->info.version;
    note("loaded snapshot " + path + " (version " + std::to_string(version) + ", LSN " + std::to_string(lsn) + ")");
    break;
  }

  // 2. Replay the WAL after the snapshot, one transaction per record, published once at the end (a publish
  // per record would copy pages for versions nobody can see).
  persist::WalScanOptions scan_options;
  scan_options.after_lsn = lsn;
  scan_options.database_id = database_id_;
  scan_options.truncate_at_corruption = options_.recover_to_corruption;
  const bool targeted = options_.recover_until_version != 0 || options_.recover_until_unix_ns != 0;
  // Point-in-time recovery is read-only: it must not cut, zero or rename anything in the directory.
  scan_options.repair = !targeted;
  std::uint64_t replayed = 0;
  std::uint64_t replayed_lsn = lsn;
  bool past_target = false;
  core.defer_publish(true);
  auto scan = persist::scan_wal(*fs_, wal_dir_, schema, scan_options, [&](std::uint64_t rec_lsn, persist::DecodedDelta& rec) -> Status {
    if (targeted && (past_target ||
                     (options_.recover_until_version != 0 && rec.delta.version > options_.recover_until_version) ||
                     (options_.recover_until_unix_ns != 0 && rec.unix_time_ns > options_.recover_until_unix_ns))) {
      past_target = true;  // keep scanning (the log is still verified) but apply nothing more
      return Status::ok();
    }
    replayed_lsn = rec_lsn;
    ECSDB_RETURN_IF_ERROR(core.begin());
    if (Status s = core.apply_delta(rec.delta); !s.is_ok()) {
      core.rollback();
      return s;
    }
    ++replayed;
    version = std::max(version, rec.delta.version);
    return core.commit();
  });
  core.defer_publish(false);
  if (!scan) return scan.status();
  for (const std::string& n : scan->notes) note(n);
  // (UINT64_MAX means "all of it, read-only": `ecsdb dump` opens a copy that way.)
  const std::uint64_t target = options_.recover_until_version;
  const std::uint64_t log_end = std::max(version, scan->last_version);
  if (target != 0 && target != std::numeric_limits<std::uint64_t>::max() && log_end < target) {
    return Status(StatusCode::kNotFound, "version " + std::to_string(target) +
                                             " is not reachable: the log ends at version " + std::to_string(log_end));
  }
  lsn = targeted ? replayed_lsn : std::max(lsn, scan->last_lsn);
  note("replayed " + std::to_string(replayed) + " WAL records; next LSN " + std::to_string(lsn + 1));
  core.finish_load();
  // The recovered state is published as the version of the last record replayed (or of the snapshot):
  // version numbers are what replicas resume from, so they must mean the same thing after a restart.
  core.resume_after(lsn, version);
  if (targeted) {
    note("point-in-time recovery to version " + std::to_string(db_.published_version()) +
         ": the database is read-only");
    read_only_ = std::make_unique<ReadOnlySink>();
    core.set_sink(read_only_.get());
    return Status::ok();
  }

  // 3. Log from here on, in a fresh segment (never inside one that recovery read: see WalWriter).
  persist::WalWriterOptions wo{options_.durability, options_.async_flush_ms, options_.wal_segment_bytes};
  wal_ = std::make_unique<persist::WalWriter>(fs_, wal_dir_, schema, database_id_, wo, lsn, db_.published_version());
  ECSDB_RETURN_IF_ERROR(wal_->start());
  core.set_sink(wal_.get());
  return Status::ok();
}

Status Persistence::snapshot_now() {
  // One at a time, the outcome recorded before the next starts: "the latest snapshot failed" must be
  // about the latest, whichever thread (the maintenance thread, a caller) finishes first. (A success is
  // recorded by write_snapshot_now, through WalWriter::note_snapshot.)
  std::lock_guard one_at_a_time(snapshot_mu_);
  Status s = write_snapshot_now();
  if (!s.is_ok() && wal_ != nullptr) wal_->note_snapshot_failed();  // read-only databases count nothing
  if (s.is_ok()) {
    // A snapshot that works (one on demand, after the disk was fixed) ends the automatic ones' pause.
    base::MutexLock lock(mu_);
    auto_failures_in_a_row_ = 0;
    auto_retry_at_ = {};
  }
  return s;
}

void Persistence::note_maintenance_failure(std::string note) {
  if (notes_.size() - recovery_notes_ >= kMaxMaintenanceNotes) {
    notes_.erase(notes_.begin() + static_cast<std::ptrdiff_t>(recovery_notes_));
  }
  notes_.push_back(std::move(note));
}

Status Persistence::write_snapshot_now() {
  const auto started = std::chrono::steady_clock::now();
  PinnedView view = db_.pin();
  if (wal_ == nullptr) {  // read-only point-in-time recovery: save the restored state, nothing to retire
    return persist::write_snapshot(*fs_, snap_dir_, view, database_id_).status();
  }
  const std::uint64_t wal_bytes = wal_->bytes_appended();
  // The snapshot must not claim records that could still be lost: wait until its LSN is durable.
  ECSDB_RETURN_IF_ERROR(wal_->wait_durable(view.state().lsn));
  ECSDB_ASSIGN_OR_RETURN(persist::SnapshotInfo info, persist::write_snapshot(*fs_, snap_dir_, view, database_id_));
  // A snapshot that covers the whole log starts a fresh segment now, before a new commit arrives (the roll
  // needs an idle log), so that retention can retire the covered one and recovery never reads it again.
  ECSDB_RETURN_IF_ERROR(wal_->roll_if_covered(info.lsn));
  wal_->note_snapshot(base::nanos_since(started), view.version());
  {
    base::MutexLock lock(mu_);
    wal_bytes_at_last_snapshot_ = wal_bytes;
    retire_lsn_ = std::max(retire_lsn_, info.lsn);
    retire_version_ = std::max(retire_version_, info.version);
    retire_pending_ = true;
  }
  cv_.notify_all();
  return Status::ok();
}

Status Persistence::wait_for_retention() {
  base::MutexLock lock(mu_);
  cv_.wait(lock, [&]() ECSDB_REQUIRES(mu_) { return !retire_pending_ && !retiring_; });
  return retire_status_;
}

Status Persistence::retire(std::uint64_t covered_lsn, std::uint64_t version) {
  // WAL segments wholly covered by the snapshot: every record LSN <= covered_lsn. A segment's last LSN is
  // the next segment's first LSN - 1; the newest segment is live and never retired.
  ECSDB_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->list(wal_dir_));
  std::vector<std::uint64_t> firsts;
  for (const std::string& n : names) {
    if (const std::uint64_t f = persist::parse_segment_name(n); f != 0) firsts.push_back(f);
  }
  std::sort(firsts.begin(), firsts.end());
  const std::uint64_t live = wal_->current_segment_first_lsn();
  bool changed = false;
  for (std::size_t i = 0; i + 1 < firsts.size(); ++i) {
    if (firsts[i] == live || firsts[i + 1] - 1 > covered_lsn) break;
    const std::string name = persist::segment_name(firsts[i]);
    const std::string from = wal_dir_ + "/" + name;
    switch (options_.wal_retention) {
      case WalRetention::kDelete: ECSDB_RETURN_IF_ERROR(fs_->remove(from)); break;
      case WalRetention::kArchive: ECSDB_RETURN_IF_ERROR(fs_->rename(from, archive_dir_ + "/" + name)); break;
      case WalRetention::kArchiveCompressed: {
        ECSDB_ASSIGN_OR_RETURN(std::vector<std::byte> raw, fs_->read_file(from));
        // Preallocated zeros after the last record compress to almost nothing.
        std::vector<std::byte> packed(ZSTD_compressBound(raw.size()));
        const std::size_t n = ZSTD_compress(packed.data(), packed.size(), raw.data(), raw.size(), 3);
        if (ZSTD_isError(n)) return Status(StatusCode::kIoError, "zstd compression of " + from + " failed");
        packed.resize(n);
        const std::string to = archive_dir_ + "/" + name + ".zst";
        ECSDB_ASSIGN_OR_RETURN(auto f, fs_->create(to + ".tmp"));
        ECSDB_RETURN_IF_ERROR(f->append(packed));
        ECSDB_RETURN_IF_ERROR(f->sync());
        ECSDB_RETURN_IF_ERROR(f->close());
        ECSDB_RETURN_IF_ERROR(fs_->rename(to + ".tmp", to));
        ECSDB_RETURN_IF_ERROR(fs_->sync_dir(archive_dir_));
        ECSDB_RETURN_IF_ERROR(fs_->remove(from));
        break;
      }
    }
    changed = true;
  }
  // Old snapshots: keep the newest `keep_snapshots`; older ones go to the archive (or away). Only those
  // older than this run's snapshot, which is durable: a newer one, written since, may be a snapshot whose
  // directory sync failed, and must not be what the durable one was pruned for.
  ECSDB_ASSIGN_OR_RETURN(std::vector<std::string> snaps, fs_->list(snap_dir_));
  std::vector<std::uint64_t> versions;
  for (const std::string& n : snaps) {
    if (const std::uint64_t v = persist::parse_snapshot_name(n); v != 0) versions.push_back(v);
  }
  std::sort(versions.rbegin(), versions.rend());
  for (std::size_t i = std::max<std::uint32_t>(options_.keep_snapshots, 1); i < versions.size(); ++i) {
    if (versions[i] >= version) continue;
    const std::string name = persist::snapshot_name(versions[i]);
    if (options_.wal_retention == WalRetention::kDelete) ECSDB_RETURN_IF_ERROR(fs_->remove(snap_dir_ + "/" + name));
    else ECSDB_RETURN_IF_ERROR(fs_->rename(snap_dir_ + "/" + name, archive_dir_ + "/" + name));
    changed = true;
  }
  if (changed) {
    ECSDB_RETURN_IF_ERROR(fs_->sync_dir(wal_dir_));
    ECSDB_RETURN_IF_ERROR(fs_->sync_dir(snap_dir_));
    ECSDB_RETURN_IF_ERROR(fs_->sync_dir(archive_dir_));
  }
  return Status::ok();
}

void Persistence::run_maintenance() {
  using namespace std::chrono;
  auto last = steady_clock::now();
  base::MutexLock lock(mu_);
  for (;;) {
    if (retire_pending_) {  // first, also when stopping: a closed database leaves no covered file behind
      const std::uint64_t covered_lsn = retire_lsn_;
      const std::uint64_t version = retire_version_;
      retire_pending_ = false;
      retiring_ = true;
      lock.unlock();
      Status s;
      {
        std::lock_guard one_at_a_time(snapshot_mu_);
        s = retire(covered_lsn, version);
      }
      lock.lock();
      retiring_ = false;
      wal_->note_retention(s.is_ok());
      if (!s.is_ok()) note_maintenance_failure("retention after a snapshot failed (the next snapshot retries it): " + s.to_string());
      retire_status_ = std::move(s);
      cv_.notify_all();
      continue;
    }
    if (stop_) break;
    const auto woken = [&]() ECSDB_REQUIRES(mu_) { return stop_ || retire_pending_; };
    if (options_.snapshot_every_seconds == 0 && options_.snapshot_every_wal_bytes == 0) {
      cv_.wait(lock, woken);  // no automatic snapshots: nothing to poll for, an idle database stays asleep
      continue;
    }
    cv_.wait_until(lock, steady_clock::now() + milliseconds(100), woken);
    if (stop_ || retire_pending_) continue;
    const bool by_time = options_.snapshot_every_seconds != 0 &&
                         steady_clock::now() - last >= seconds(options_.snapshot_every_seconds);
    const bool by_bytes = options_.snapshot_every_wal_bytes != 0 &&
                          wal_->bytes_appended() - wal_bytes_at_last_snapshot_ >= options_.snapshot_every_wal_bytes;
    if ((!by_time && !by_bytes) || steady_clock::now() < auto_retry_at_) continue;
    lock.unlock();
    const Status s = snapshot_now();
    lock.lock();
    last = steady_clock::now();
    if (s.is_ok()) continue;
    auto_failures_in_a_row_ = std::min(auto_failures_in_a_row_ + 1, 7);
    const seconds wait = std::min(seconds(std::int64_t{1} << (auto_failures_in_a_row_ - 1)), seconds(60));
    auto_retry_at_ = last + wait;
    note_maintenance_failure("background snapshot failed (next try in " + std::to_string(wait.count()) +
                             " s): " + s.to_string());
  }
}

Status Persistence::flush() {
  return wal_ == nullptr ? Status::ok() : wal_->wait_durable(DatabaseAccess::core(db_).logged_lsn());
}
Status Persistence::health() const { return wal_ == nullptr ? Status::ok() : wal_->error(); }
std::vector<std::string> Persistence::notes() const {
  base::MutexLock lock(mu_);
  return notes_;
}

}  // namespace ecsdb::detail
