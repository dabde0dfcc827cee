#include "persist/wal_writer.hpp"

#include <chrono>
#include <limits>
#include <random>

#include "base/reserve_more.hpp"
#include "persist/delta_codec.hpp"
#include "persist/wal_format.hpp"

namespace ecsdb::persist {

WalWriter::WalWriter(std::shared_ptr<FileSystem> fs, std::string dir, const Schema& schema,
                     std::uint64_t database_id, WalWriterOptions options, std::uint64_t last_lsn,
                     std::uint64_t last_version)
    : fs_(std::move(fs)),
      dir_(std::move(dir)),
      schema_(schema),
      database_id_(database_id),
      options_(options) {
  durable_lsn_.store(last_lsn);
  durable_version_.store(last_version);
}

WalWriter::~WalWriter() {
  {
    base::MutexLock lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (segment_) segment_->close().ignore();
}

Status WalWriter::start() {
  // The first batch creates this run's first segment (the flush thread's open_segment).
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

Status WalWriter::error() const {
  base::MutexLock lock(mu_);
  return poisoned_;
}

std::uint64_t WalWriter::current_segment_first_lsn() const {
  return live_first_lsn_.load(std::memory_order_acquire);
}

Status WalWriter::roll_if_covered(std::uint64_t covered_lsn) {
  base::MutexLock lock(mu_);
  // Only when the flush thread is idle with nothing pending, and every record so far is covered: the new
  // segment then starts exactly at the next LSN and the old one can be retired at once. While rolling_
  // is set the flush thread leaves the segment alone (commits arriving meanwhile queue in pending_ and go
  // to the new segment, whose first LSN is theirs); append() never waits for this I/O.
  if (!pending_.empty() || writing_ || rolling_ || !poisoned_.is_ok()) return Status::ok();
  const std::uint64_t next = durable_lsn_.load() + 1;
  if (covered_lsn + 1 != next || segment_ == nullptr || segment_first_lsn_ == next) return Status::ok();
  rolling_ = true;
  lock.unlock();
  const std::uint64_t capacity = segment_capacity();
  auto fresh = create_segment(next, capacity);
  lock.lock();
  rolling_ = false;
  segment_cv_.notify_all();
  durable_cv_.notify_all();  // a wait_durable that found the segment taken may write now
  if (!fresh) {
    // The roll is only an optimisation and the old segment is untouched: keep logging there. The
    // half-made file must go, or it would later look like a segment with a gap before it.
    fs_->remove(dir_ + "/" + segment_name(next)).ignore();
    fs_->sync_dir(dir_).ignore();
    return Status::ok();
  }
  adopt_segment(std::move(fresh->file), next, capacity, fresh->salt);
  return Status::ok();
}

Status WalWriter::append(const Delta& delta, std::uint64_t lsn, std::uint64_t version) {
  scratch_.clear();
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  encode_delta(delta, std::chrono::duration_cast<std::chrono::nanoseconds>(now).count(), schema_, scratch_);
  if (scratch_.size() > kMaxRecordPayload) {
    return invalid_argument("transaction too large for one WAL record (" + std::to_string(scratch_.size()) + " bytes)");
  }
  std::size_t size;
  bool wake;
  {
    base::MutexLock lock(mu_);  // short: no I/O and no ticket wake-ups happen under mu_
    if (!poisoned_.is_ok()) {
      return Status(StatusCode::kIoError, "database is read-only after a write-ahead-log failure (" +
                                              poisoned_.message() + "); reopen it to recover");
    }
    const std::size_t offset = pending_bytes_.size();
    try {
      base::reserve_more(pending_, 1);
      append_record(pending_bytes_, lsn, scratch_);
    } catch (...) {
      // Never leave part of a record behind: the flush thread writes pending_bytes_ by ranges, and a
      // stray fragment between two records would read as corruption.
      pending_bytes_.resize(offset);
      throw;
    }
    size = pending_bytes_.size() - offset;
    pending_.push_back({lsn, version, offset, size});  // capacity reserved: cannot throw
    ++appended_records_;
    // No wake-up per commit while the flush thread polls (see run()): a thread that waits for this record
    // writes it itself (wait_durable), and tickets wake the flush thread when they start waiting
    // (resolve_when_durable). The wake-up cost a lone committer more than its own work.
    wake = flusher_asleep_ || flush_interval().count() == 0;
    flusher_asleep_ = false;  // one wake-up is enough: the flush thread re-checks pending_ under mu_
  }
  bytes_appended_.fetch_add(size, std::memory_order_relaxed);
  if (wake) work_cv_.notify_one();
  return Status::ok();
}

void WalWriter::resolve_when_durable(std::uint64_t lsn, std::uint64_t version,
                                     std::vector<std::shared_ptr<detail::QueuedTransaction>>&& tickets) {
  Status outcome;
  if (options_.mode == Durability::kSync) {
    base::MutexLock lock(mu_);
    if (poisoned_.is_ok() && durable_lsn_.load(std::memory_order_relaxed) < lsn) {
      // The slot first, then the tickets: if the deque cannot grow, the tickets stay with the caller
      // (its batch is retried), instead of being dropped unresolved with a moved-from temporary.
      waiting_.emplace_back();
      waiting_.back().lsn = lsn;
      waiting_.back().version = version;
      waiting_.back().tickets = std::move(tickets);
      work_cv_.notify_one();  // the flush thread writes now, not at its next interval
      return;
    }
    outcome = poisoned_;
  }
  for (auto& t : tickets) detail::resolve_ticket(*t, outcome, outcome.is_ok() ? version : 0);
}

Status WalWriter::wait_durable(std::uint64_t lsn) {
  base::MutexLock lock(mu_);
  while (durable_lsn_.load() < lsn && poisoned_.is_ok()) {
    if (!writing_ && !rolling_ && !pending_.empty()) {
      // Nobody owns the segment: write the batch on this thread. Waking the flush thread and then being
      // woken by it would add two thread hand-offs to every lone durable commit (tens of microseconds
      // each on a virtual machine, for a write plus fdatasync of a few hundred).
      write_pending();
      continue;
    }
    // The records are in a batch another thread is writing, or the segment is being rolled: wait for
    // that to end (both notify durable_cv_). What is pending then is written by the next owner, possibly
    // this thread.
    durable_cv_.wait(lock);
  }
  if (durable_lsn_.load() >= lsn) return Status::ok();
  return poisoned_;
}

void WalWriter::write_pending() noexcept {
  batch_bytes_.swap(pending_bytes_);
  batch_records_.swap(pending_);
  writing_ = true;
  mu_.unlock();
  Status s;
  try {
    s = write_batch(batch_bytes_, batch_records_);
  } catch (const std::exception& e) {
    // Out of memory, or a failure of the file system outside its Status (std::random_device for a new
    // segment's salt): what reached the file is unknown, so it counts as a failed write (poison,
    // acknowledge nothing). Poisoning itself allocates a message: a second allocation failure here
    // terminates, as any exception on the flush thread did before other threads wrote batches.
    s = Status(StatusCode::kIoError, std::string("writing the log threw: ") + e.what());
  }
  mu_.lock();
  writing_ = false;
  std::vector<Waiting> done;
  Status outcome;
  if (s.is_ok()) {
    durable_lsn_.store(batch_records_.back().lsn, std::memory_order_release);
    durable_version_.store(batch_records_.back().version, std::memory_order_release);
    done = take_durable_locked(batch_records_.back().lsn);
  } else {
    // Never retry a failed fsync: the kernel may have dropped the dirty pages, so a retry that
    // "succeeds" would claim durability for data that is gone.
    poisoned_ = Status(StatusCode::kIoError, "WAL " + segment_name(segment_first_lsn_) + ": " + s.message());
    done = take_durable_locked(std::numeric_limits<std::uint64_t>::max());
    outcome = poisoned_;
  }
  batch_bytes_.clear();
  batch_records_.clear();
  durable_cv_.notify_all();
  segment_cv_.notify_all();  // the flush thread may wait for the segment to be free again
  mu_.unlock();
  resolve_all(done, outcome);
  mu_.lock();
}

std::vector<WalWriter::Waiting> WalWriter::take_durable_locked(std::uint64_t lsn) {
  std::vector<Waiting> done;
  while (!waiting_.empty() && waiting_.front().lsn <= lsn) {
    done.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  return done;
}

void WalWriter::resolve_all(std::vector<Waiting>& done, const Status& s) {
  for (Waiting& w : done) {
    for (auto& t : w.tickets) detail::resolve_ticket(*t, s, s.is_ok() ? w.version : 0);
  }
  done.clear();
}

Result<WalWriter::NewSegment> WalWriter::create_segment(std::uint64_t first_lsn, std::uint64_t capacity) {
  ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, fs_->create(dir_ + "/" + segment_name(first_lsn)));
  // Preallocated (and synced) at creation, so each commit's fdatasync flushes data, not metadata.
  ECSDB_RETURN_IF_ERROR(f->preallocate(capacity));
  std::random_device rd;
  const std::uint64_t salt = std::uint64_t{rd()} << 32 | rd();
  SegmentHeader header;
  header.database_id = database_id_;
  header.first_lsn = first_lsn;
  header.capacity = capacity;
  header.salt = salt;
  ECSDB_RETURN_IF_ERROR(f->write_at(0, encode_segment_header(header)));
  ECSDB_RETURN_IF_ERROR(f->sync());
  ECSDB_RETURN_IF_ERROR(fs_->sync_dir(dir_));
  return NewSegment{std::move(f), salt};
}

void WalWriter::adopt_segment(std::unique_ptr<WritableFile> f, std::uint64_t first_lsn, std::uint64_t capacity,
                              std::uint64_t salt) {
  // Everything written to the old segment was synced before we got here; a failed close loses nothing.
  if (segment_) segment_->close().ignore();
  segment_ = std::move(f);
  segment_first_lsn_ = first_lsn;
  segment_offset_ = kWalHeaderSize;
  segment_capacity_ = capacity;
  segment_salt_ = salt;
  live_first_lsn_.store(first_lsn, std::memory_order_release);
}

Status WalWriter::open_segment(std::uint64_t first_lsn) {
  const std::uint64_t capacity = segment_capacity();
  ECSDB_ASSIGN_OR_RETURN(NewSegment fresh, create_segment(first_lsn, capacity));
  adopt_segment(std::move(fresh.file), first_lsn, capacity, fresh.salt);
  return Status::ok();
}

Status WalWriter::write_batch(std::vector<std::byte>& bytes, const std::vector<Pending>& records) {
  std::size_t chunk_start = 0;  // first byte of `bytes` not yet written
  std::size_t chunk_end = 0;
  std::uint64_t chunk_offset = segment_offset_;
  const std::uint64_t batch_first_lsn = records.front().lsn;
  for (const Pending& p : records) {
    if (segment_ == nullptr || segment_offset_ + p.size > segment_capacity_) {
      // Roll: write and sync what belongs to the old segment, then start a new one at this record.
      if (segment_ != nullptr && chunk_end > chunk_start) {
        ECSDB_RETURN_IF_ERROR(segment_->write_at(chunk_offset, std::span(bytes).subspan(chunk_start, chunk_end - chunk_start)));
        ECSDB_RETURN_IF_ERROR(segment_->sync());
      }
      ECSDB_RETURN_IF_ERROR(open_segment(p.lsn));
      chunk_start = chunk_end = p.offset;
      chunk_offset = segment_offset_;
    }
    // Sealed now that the write it travels in and its segment are known (recovery reads both back).
    seal_record(std::span(bytes).subspan(p.offset, p.size), static_cast<std::uint32_t>(p.lsn - batch_first_lsn),
                segment_salt_);
    chunk_end = p.offset + p.size;
    segment_offset_ += p.size;
  }
  if (chunk_end > chunk_start) {
    ECSDB_RETURN_IF_ERROR(segment_->write_at(chunk_offset, std::span(bytes).subspan(chunk_start, chunk_end - chunk_start)));
  }
  const auto sync_start = std::chrono::steady_clock::now();
  Status synced = segment_->sync();
  sync_ns_.record(base::nanos_since(sync_start));
  return synced;
}

void WalWriter::note_snapshot(std::uint64_t duration_ns, std::uint64_t version) noexcept {
  last_snapshot_ns_.store(duration_ns, std::memory_order_relaxed);
  last_snapshot_version_.store(version, std::memory_order_relaxed);
  snapshots_.fetch_add(1, std::memory_order_relaxed);
  snapshot_failing_.store(false, std::memory_order_relaxed);
}

void WalWriter::note_snapshot_failed() noexcept {
  snapshot_failures_.fetch_add(1, std::memory_order_relaxed);
  snapshot_failing_.store(true, std::memory_order_relaxed);
}

void WalWriter::note_retention(bool ok) noexcept {
  if (!ok) retention_failures_.fetch_add(1, std::memory_order_relaxed);
  retention_failing_.store(!ok, std::memory_order_relaxed);
}

void WalWriter::fill_metrics(DatabaseMetrics& m) const {
  m.wal_bytes_total = bytes_appended();
  m.wal_syncs_total = sync_ns_.count();
  m.wal_sync_p50_ns = sync_ns_.quantile(0.50);
  m.wal_sync_p99_ns = sync_ns_.quantile(0.99);
  m.wal_sync_sum_ns = sync_ns_.sum();
  m.snapshots_total = snapshots_.load(std::memory_order_relaxed);
  m.last_snapshot_ns = last_snapshot_ns_.load(std::memory_order_relaxed);
  m.last_snapshot_version = last_snapshot_version_.load(std::memory_order_relaxed);
  m.snapshot_failures_total = snapshot_failures_.load(std::memory_order_relaxed);
  m.retention_failures_total = retention_failures_.load(std::memory_order_relaxed);
  m.snapshot_failing = snapshot_failing_.load(std::memory_order_relaxed);
  m.retention_failing = retention_failing_.load(std::memory_order_relaxed);
}

void WalWriter::run() {
  const std::chrono::milliseconds interval = flush_interval();
  std::uint64_t seen = 0;  // appended_records_ at the previous poll
  int idle_polls = 0;      // polls in a row that found no new record
  base::MutexLock lock(mu_);
  for (;;) {
    // The pace: every interval while records arrive (a record nobody waits for is on disk within it),
    // at once when a ticket starts waiting or at stop; after kIdlePollsBeforeSleep empty polls, asleep
    // until append() wakes it. An interval of 0 writes each record as it arrives (append wakes it).
    if (interval.count() == 0) {
      while (!stop_ && pending_.empty()) work_cv_.wait(lock);
    } else if (idle_polls >= kIdlePollsBeforeSleep) {
      flusher_asleep_ = true;
      while (!stop_ && pending_.empty() && waiting_.empty()) work_cv_.wait(lock);
      flusher_asleep_ = false;
    } else {
      const auto deadline = std::chrono::steady_clock::now() + interval;
      while (!stop_ && waiting_.empty() && work_cv_.wait_until(lock, deadline) != std::cv_status::timeout) {
      }
    }
    // Idle means no new record, not nothing to write: under commit(kSync) the waiting callers write every
    // batch themselves, and a flush thread that slept would make each of their commits wake it. The
    // price: while commits keep arriving (at least one per 100 polls) it wakes every interval.
    idle_polls = appended_records_ == seen ? std::min(idle_polls + 1, kIdlePollsBeforeSleep) : 0;
    seen = appended_records_;
    // roll_if_covered, or a thread in wait_durable, owns the segment meanwhile.
    while (rolling_ || writing_) segment_cv_.wait(lock);
    if (pending_.empty()) {
      if (stop_) break;
      continue;
    }
    if (!poisoned_.is_ok()) break;
    write_pending();
  }
  std::vector<Waiting> rest = take_durable_locked(std::numeric_limits<std::uint64_t>::max());
  const Status outcome =
      poisoned_.is_ok() ? Status(StatusCode::kAborted, "database closed before the commit was durable") : poisoned_;
  durable_cv_.notify_all();
  lock.unlock();
  resolve_all(rest, outcome);
}

}  // namespace ecsdb::persist
