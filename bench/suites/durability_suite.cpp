#include "bench/suites/durability_suite.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/peers/kv_peers.hpp"
#include "bench/suites/bench_json.hpp"
#include "bench/suites/bench_schema.hpp"
#include "ecsdb/database.hpp"
#include "persist/snapshot.hpp"
#include "persist/wal_reader.hpp"

namespace ecsdb::bench {

struct DurabilityVelocity {
  float vx, vy, vz;
};

}  // namespace ecsdb::bench

ECSDB_COMPONENT(ecsdb::bench::DurabilityVelocity, "velocity", vx, vy, vz)

namespace ecsdb::bench {
namespace {

namespace stdfs = std::filesystem;

// The benchmark schema plus a third component, so snapshot and recovery move 3 components per entity.
constexpr const char* kVelocityToml = R"(
[tables.velocity]
parent_table = "entities"
[[tables.velocity.fields]]
name = "entity_id"
type = "u64"
foreign_key = "entities.id"
[[tables.velocity.fields]]
name = "vx"
type = "f32"
[[tables.velocity.fields]]
name = "vy"
type = "f32"
[[tables.velocity.fields]]
name = "vz"
type = "f32"
)";

// Rows touched by the throughput and latency figures (their cost does not depend on the database size).
constexpr std::size_t kSmallEntities = 100'000;
constexpr std::size_t kPopulateChunk = 65'536;  // entities per transaction when filling a durable database
constexpr int kRepetitions = 3;
constexpr int kTimedSlices = 7;  // throughput and latency figures sharing `seconds`
constexpr std::uint64_t kSeed = 0xD0AB'1E5E;

Status io_error(const std::string& what, const std::string& path) {
  return Status(StatusCode::kIoError, what + " " + path + ": " + std::strerror(errno));
}

DatabaseOptions durable_options(const std::string& dir, Durability durability) {
  DatabaseOptions o;
  o.data_dir = dir;
  o.durability = durability;
  o.snapshot_every_wal_bytes = 0;  // snapshots only when the suite asks
  o.wal_retention = WalRetention::kDelete;
  return o;
}

Status populate(Database& db, std::size_t n, bool velocity, std::vector<Entity>& out) {
  out.clear();
  for (std::size_t first = 0; first < n; first += kPopulateChunk) {
    const std::size_t count = std::min(kPopulateChunk, n - first);
    std::vector<Entity> chunk;
    Transaction t = db.writer().begin();
    ECSDB_RETURN_IF_ERROR(t.create_many(count, chunk));
    for (std::size_t i = 0; i < count; ++i) {
      ECSDB_RETURN_IF_ERROR(t.add(chunk[i], transform_of(first + i)));
      ECSDB_RETURN_IF_ERROR(t.add(chunk[i], health_of(first + i)));
      if (velocity) ECSDB_RETURN_IF_ERROR(t.add(chunk[i], DurabilityVelocity{1.0f, 0.0f, -1.0f}));
    }
    ECSDB_RETURN_IF_ERROR(t.commit());
    out.insert(out.end(), chunk.begin(), chunk.end());
  }
  db.writer().publish();
  return db.flush();
}

// Transactions per second: `threads` committers, each keeping in_flight/threads submitted transactions
// (one field update of a random entity each) waiting on their tickets, for `seconds`.
Result<double> committed_tps(Database& db, const std::vector<Entity>& entities, int threads, std::size_t in_flight,
                             double seconds) {
  const std::size_t window = std::max<std::size_t>(1, in_flight / static_cast<std::size_t>(threads));
  std::atomic<std::uint64_t> done{0};
  std::atomic<bool> failed{false};
  const std::int64_t t0 = now_ns();
  const std::int64_t deadline = t0 + static_cast<std::int64_t>(seconds * 1e9);
  std::vector<std::thread> committers;
  for (int i = 0; i < threads; ++i) {
    committers.emplace_back([&, i] {
      std::mt19937_64 rng(kSeed + static_cast<std::uint64_t>(i));
      std::uniform_int_distribution<std::size_t> pick(0, entities.size() - 1);
      std::deque<CommitTicket> pending;
      std::uint64_t local = 0;
      auto retire = [&] {
        if (!pending.front().wait().is_ok()) failed = true;
        pending.pop_front();
        ++local;
      };
      while (now_ns() < deadline) {
        if (pending.size() >= window) retire();
        const Entity e = entities[pick(rng)];
        const auto hp = static_cast<std::uint32_t>(local);
        pending.push_back(db.submit([e, hp](Transaction& t) { return t.set(e, &Health::hp, hp); }));
      }
      while (!pending.empty()) retire();
      done += local;
    });
  }
  for (std::thread& t : committers) t.join();
  if (failed) return Status(StatusCode::kInternal, "a benchmark transaction failed: " + db.health().to_string());
  return static_cast<double>(done.load()) / (static_cast<double>(now_ns() - t0) / 1e9);
}

Result<double> median_tps(Database& db, const std::vector<Entity>& entities, int threads, std::size_t in_flight,
                          double seconds) {
  std::vector<double> reps;
  for (int r = 0; r < kRepetitions; ++r) {
    ECSDB_ASSIGN_OR_RETURN(const double tps, committed_tps(db, entities, threads, in_flight, seconds / kRepetitions));
    reps.push_back(tps);
  }
  return median(reps);
}

// Bytes of WAL records in `wal_dir` (everything before the end of the last record of each segment).
Result<std::uint64_t> wal_bytes(const std::string& wal_dir, const Schema& schema) {
  persist::WalScanOptions o;
  o.decode = false;
  ECSDB_ASSIGN_OR_RETURN(persist::WalScan scan, persist::scan_wal(*posix_file_system(), wal_dir, schema, o, {}));
  std::uint64_t total = 0;
  for (const auto& s : scan.segments) total += s.end_offset;
  return total;
}

// SQLite on the same file system: WAL journal, synchronous=FULL (fsync of the WAL at every commit), the
// same one-field update per transaction. SQLite runs one writer at a time, so the `threads` committers
// share one connection behind a mutex (with a connection each they would only add busy-wait sleeps).
Result<double> sqlite_wal_full_tps(const std::string& path, std::size_t rows, int threads, double seconds) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    return Status(StatusCode::kIoError, "sqlite3_open " + path);
  }
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> guard(db, sqlite3_close);
  auto exec = [&](const char* sql) -> Status {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) == SQLITE_OK) return Status::ok();
    Status s(StatusCode::kIoError, std::string("sqlite: ") + sql + ": " + (err ? err : "?"));
    sqlite3_free(err);
    return s;
  };
  ECSDB_RETURN_IF_ERROR(exec("PRAGMA journal_mode=WAL"));
  ECSDB_RETURN_IF_ERROR(exec("PRAGMA synchronous=FULL"));
  ECSDB_RETURN_IF_ERROR(exec("CREATE TABLE health(id INTEGER PRIMARY KEY, hp INTEGER NOT NULL, max_hp INTEGER NOT NULL)"));
  ECSDB_RETURN_IF_ERROR(exec("BEGIN"));
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO health VALUES(?, ?, ?)", -1, &insert, nullptr);
  for (std::size_t i = 0; i < rows; ++i) {
    const Health h = health_of(i);
    sqlite3_bind_int64(insert, 1, static_cast<sqlite3_int64>(i));
    sqlite3_bind_int64(insert, 2, h.hp);
    sqlite3_bind_int64(insert, 3, h.max_hp);
    sqlite3_step(insert);
    sqlite3_reset(insert);
  }
  sqlite3_finalize(insert);
  ECSDB_RETURN_IF_ERROR(exec("COMMIT"));

  sqlite3_stmt* update = nullptr;
  if (sqlite3_prepare_v2(db, "UPDATE health SET hp = ? WHERE id = ?", -1, &update, nullptr) != SQLITE_OK) {
    return Status(StatusCode::kInternal, std::string("sqlite prepare: ") + sqlite3_errmsg(db));
  }
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> update_guard(update, sqlite3_finalize);
  std::mutex mu;
  std::atomic<std::uint64_t> done{0};
  std::atomic<bool> failed{false};
  std::vector<double> reps;
  for (int r = 0; r < kRepetitions; ++r) {
    done = 0;
    const std::int64_t t0 = now_ns();
    const std::int64_t deadline = t0 + static_cast<std::int64_t>(seconds / kRepetitions * 1e9);
    std::vector<std::thread> committers;
    for (int i = 0; i < threads; ++i) {
      committers.emplace_back([&, i] {
        std::mt19937_64 rng(kSeed + static_cast<std::uint64_t>(i));
        std::uniform_int_distribution<std::size_t> pick(0, rows - 1);
        std::uint64_t local = 0;
        while (now_ns() < deadline) {
          std::lock_guard lock(mu);
          sqlite3_bind_int64(update, 1, static_cast<sqlite3_int64>(local));
          sqlite3_bind_int64(update, 2, static_cast<sqlite3_int64>(pick(rng)));
          if (sqlite3_step(update) != SQLITE_DONE) failed = true;
          sqlite3_reset(update);
          ++local;
        }
        done += local;
      });
    }
    for (std::thread& t : committers) t.join();
    reps.push_back(static_cast<double>(done.load()) / (static_cast<double>(now_ns() - t0) / 1e9));
  }
  if (failed) return Status(StatusCode::kInternal, std::string("sqlite update failed: ") + sqlite3_errmsg(db));
  return median(reps);
}

// pwrite of a record at the end of a preallocated file + fdatasync: the floor for one durable commit on
// this disk. The suite takes one sample after each durable commit it times, so that both see the same disk.
class RawSyncer {
 public:
  static Result<RawSyncer> open(const std::string& path, std::size_t record_bytes) {
    RawSyncer r;
    r.fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (r.fd_ < 0) return io_error("open", path);
    r.path_ = path;
    if (::posix_fallocate(r.fd_, 0, kFileBytes) != 0 || ::fdatasync(r.fd_) != 0) return io_error("preallocate", path);
    r.record_.assign(std::max<std::size_t>(record_bytes, 1), 'x');
    return r;
  }
  RawSyncer(RawSyncer&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), path_(std::exchange(o.path_, {})), record_(std::move(o.record_)), at_(o.at_) {}
  RawSyncer& operator=(RawSyncer&&) = delete;
  ~RawSyncer() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  // µs of one pwrite + fdatasync; wraps to the file's start when the preallocated space is used up.
  Result<double> sample() {
    if (at_ + static_cast<off_t>(record_.size()) > kFileBytes) at_ = 0;
    const std::int64_t t0 = now_ns();
    if (::pwrite(fd_, record_.data(), record_.size(), at_) != static_cast<ssize_t>(record_.size()) || ::fdatasync(fd_) != 0) {
      return io_error("pwrite+fdatasync", path_);
    }
    at_ += static_cast<off_t>(record_.size());
    return static_cast<double>(now_ns() - t0) / 1e3;
  }

 private:
  static constexpr off_t kFileBytes = 64 << 20;
  RawSyncer() = default;
  int fd_ = -1;
  std::string path_;
  std::vector<char> record_;
  off_t at_ = 0;
};

// ms to write `bytes` (1 MiB writes) to a new file and fdatasync it: the floor for a snapshot this size.
// With `writeback_every` != 0, each time that many more bytes are written they are handed to the disk at
// once (sync_file_range, SYNC_FILE_RANGE_WRITE), as the snapshot writer does: the floor for that way of
// writing.
Result<double> raw_write_fsync_ms(const std::string& path, std::uint64_t bytes, std::uint64_t writeback_every = 0) {
  constexpr std::uint64_t kWrite = std::uint64_t{1} << 20;
  static_assert(persist::kSnapshotWritebackBytes % kWrite == 0, "hints fall on the ends of whole writes");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("open", path);
  const std::vector<char> chunk(kWrite, 'x');
  const std::int64_t t0 = now_ns();
  for (std::uint64_t left = bytes; left > 0;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    if (::write(fd, chunk.data(), n) != static_cast<ssize_t>(n)) {
      ::close(fd);
      return io_error("write", path);
    }
    left -= n;
    const std::uint64_t done = bytes - left;
    if (writeback_every != 0 && done % writeback_every == 0) {
      ::sync_file_range(fd, static_cast<off_t>(done - writeback_every), static_cast<off_t>(writeback_every),
                        SYNC_FILE_RANGE_WRITE);
    }
  }
  if (::fdatasync(fd) != 0) {
    ::close(fd);
    return io_error("fdatasync", path);
  }
  const double ms = static_cast<double>(now_ns() - t0) / 1e6;
  ::close(fd);
  ::unlink(path.c_str());
  return ms;
}

class SuiteDir {
 public:
  explicit SuiteDir(const std::string& parent) {
    const stdfs::path base = parent.empty() ? stdfs::temp_directory_path() : stdfs::path(parent);
    path_ = (base / ("ecsdb-bench-durability-" + std::to_string(::getpid()))).string();
    std::error_code ignored;
    stdfs::remove_all(path_, ignored);
    stdfs::create_directories(path_);
  }
  ~SuiteDir() {
    std::error_code ignored;
    stdfs::remove_all(path_, ignored);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace

Result<nlohmann::json> run_durability_suite(const DurabilitySuiteOptions& options) {
  auto say = [&](std::string_view phase) {
    if (options.progress) options.progress(phase);
  };
  ECSDB_ASSIGN_OR_RETURN(std::shared_ptr<const Schema> schema,
                         parse_schema(std::string(kGameSchemaToml) + kVelocityToml, "durability bench schema"));
  const SuiteDir dir(options.dir);
  const double slice = options.seconds / kTimedSlices;
  const std::size_t small = std::min(options.entities, kSmallEntities);
  nlohmann::json results;
  std::vector<Entity> entities;
  double durable_group = 1;  // transactions per fdatasync in durable_tps (4 committers)

  // ---- sync mode: one committer, then group commit from 1, 4 and 16 threads ----
  say("sync mode: single committer");
  {
    ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::open(schema, durable_options(dir / "sync", Durability::kSync)));
    ECSDB_RETURN_IF_ERROR(populate(*db, small, false, entities));
    std::mt19937_64 rng(kSeed);
    std::uniform_int_distribution<std::size_t> pick(0, entities.size() - 1);
    std::uint32_t written = 0;
    auto durable_set = [&]() -> Status {
      ECSDB_RETURN_IF_ERROR(db->writer().set(entities[pick(rng)], &Health::hp, written++));
      return db->flush();
    };
    // The raw baseline writes records of the WAL's size: measure it over a few commits first.
    constexpr int kSizingCommits = 32;
    ECSDB_ASSIGN_OR_RETURN(const std::uint64_t sizing_before, wal_bytes(dir / "sync/wal", *schema));
    for (int i = 0; i < kSizingCommits; ++i) ECSDB_RETURN_IF_ERROR(durable_set());
    ECSDB_ASSIGN_OR_RETURN(const std::uint64_t sizing_after, wal_bytes(dir / "sync/wal", *schema));
    const auto record_bytes = static_cast<std::size_t>((sizing_after - sizing_before) / kSizingCommits);
    say("raw pwrite + fdatasync, one after each timed commit");
    ECSDB_ASSIGN_OR_RETURN(RawSyncer raw, RawSyncer::open(dir / "raw_fdatasync", record_bytes));

    const std::uint64_t bytes_before = sizing_after;
    std::vector<double> single_us, raw_us;
    const std::int64_t deadline = now_ns() + static_cast<std::int64_t>(slice * 1e9);
    while (now_ns() < deadline || single_us.size() < 100) {
      const std::int64_t t0 = now_ns();
      ECSDB_RETURN_IF_ERROR(durable_set());
      single_us.push_back(static_cast<double>(now_ns() - t0) / 1e3);
      ECSDB_ASSIGN_OR_RETURN(const double us, raw.sample());
      raw_us.push_back(us);
    }
    ECSDB_ASSIGN_OR_RETURN(const std::uint64_t bytes_after, wal_bytes(dir / "sync/wal", *schema));
    const double per_update = static_cast<double>(bytes_after - bytes_before) / static_cast<double>(single_us.size());
    results["durable_single_p50_us"] = figure(percentile(single_us, 50), "us", "raw_fdatasync_p50_us");
    results["wal_bytes_per_update"] = figure(per_update, "bytes");
    results["raw_fdatasync_p50_us"] = figure(percentile(raw_us, 50), "us");

    ECSDB_RETURN_IF_ERROR(db->start_writer_thread());
    for (const int threads : {1, 4, 16}) {
      say("sync mode: group commit, " + std::to_string(threads) + " committer thread(s)");
      const DatabaseMetrics before = db->metrics();
      auto tps = median_tps(*db, entities, threads, options.in_flight, slice);
      if (!tps) {
        db->stop_writer_thread();
        return tps.status();
      }
      const std::string name = threads == 4 ? "durable_tps" : "durable_tps_" + std::to_string(threads);
      results[name] = figure(*tps, "tps", threads == 4 ? "sqlite_wal_full_tps" : "");
      if (threads == 4) {
        // Transactions per fdatasync: the group size the key-value peers are given below.
        const DatabaseMetrics after = db->metrics();
        const std::uint64_t syncs = std::max<std::uint64_t>(after.wal_syncs_total - before.wal_syncs_total, 1);
        durable_group = std::max<double>(1.0, static_cast<double>(after.commits - before.commits) / static_cast<double>(syncs));
        results["durable_group_size"] = figure(durable_group, "tx/sync");
      }
    }
    db->stop_writer_thread();
  }

  say("SQLite WAL, synchronous=FULL");
  ECSDB_ASSIGN_OR_RETURN(const double sqlite_tps, sqlite_wal_full_tps(dir / "sqlite.db", small, 4, slice));
  results["sqlite_wal_full_tps"] = figure(sqlite_tps, "tps");

  // Key-value peers with durable commits of as many updates as ECSDb's group commit made per fdatasync
  // (named PEER_durable_tps, so that reports put them beside durable_tps).
  {
    const auto group = static_cast<std::size_t>(durable_group + 0.5);
    say("LMDB, " + std::to_string(group) + " updates per synced commit");
    std::error_code ec;
    stdfs::create_directories(dir / "lmdb", ec);
    if (ec) return Status(StatusCode::kIoError, "create " + (dir / "lmdb") + ": " + ec.message());
    ECSDB_ASSIGN_OR_RETURN(const KvPeerFigures lmdb, lmdb_figures(dir / "lmdb", small, group, slice));
    results["lmdb_durable_tps"] = figure(lmdb.sync_tps, "tps");
    results["lmdb_read_ns"] = figure(lmdb.read_ns, "ns");
    say("RocksDB, " + std::to_string(group) + " updates per sync=true write");
    ECSDB_ASSIGN_OR_RETURN(const KvPeerFigures rocks, rocksdb_figures(dir / "rocksdb", small, group, slice));
    results["rocksdb_durable_tps"] = figure(rocks.sync_tps, "tps");
    results["rocksdb_read_ns"] = figure(rocks.read_ns, "ns");
    results["durable_tps_vs_rocksdb"] = figure(results["durable_tps"]["value"].get<double>() / std::max(rocks.sync_tps, 1.0), "x");
  }

  say("async mode: 4 committer threads");
  {
    ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::open(schema, durable_options(dir / "async", Durability::kAsync)));
    ECSDB_RETURN_IF_ERROR(populate(*db, small, false, entities));
    ECSDB_RETURN_IF_ERROR(db->start_writer_thread());
    auto tps = median_tps(*db, entities, 4, options.in_flight, slice);
    db->stop_writer_thread();
    if (!tps) return tps.status();
    results["async_tps"] = figure(*tps, "tps", "durable_tps");
  }

  // ---- snapshot and recovery at full size: entities × (transform, health, velocity) ----
  say("populating " + std::to_string(options.entities) + " entities x 3 components (sync mode)");
  const std::string big = dir / "big";
  std::vector<double> snapshot_ms, snapshot_retired_ms, raw_ms, raw_writeback_ms, recovery_ms;
  {
    // One snapshot kept: from the first timed repetition on, each one's retention deletes the segment
    // it covers and the previous snapshot, the same work every time (the untimed first snapshot retires
    // the population's segments).
    DatabaseOptions big_options = durable_options(big, Durability::kSync);
    big_options.keep_snapshots = 1;
    ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::open(schema, big_options));
    ECSDB_RETURN_IF_ERROR(populate(*db, options.entities, true, entities));
    ECSDB_RETURN_IF_ERROR(db->snapshot());
    ECSDB_RETURN_IF_ERROR(db->wait_for_retention());
    for (int r = 0; r < kRepetitions; ++r) {
      say("snapshot " + std::to_string(r + 1) + "/" + std::to_string(kRepetitions));
      // A new version each time, so each repetition writes a new file.
      ECSDB_RETURN_IF_ERROR(db->writer().set(entities[0], &Health::hp, static_cast<std::uint32_t>(r)));
      ECSDB_RETURN_IF_ERROR(db->flush());
      const std::int64_t t0 = now_ns();
      ECSDB_RETURN_IF_ERROR(db->snapshot());
      snapshot_ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
      // Retention (the covered WAL segment, the snapshot beyond keep_snapshots) runs in the background;
      // it finishes before the raw baseline starts, so that it neither slows that baseline down nor
      // goes uncounted: snapshot_retired_ms is the whole cost.
      ECSDB_RETURN_IF_ERROR(db->wait_for_retention());
      snapshot_retired_ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
      std::uint64_t bytes = 0;
      for (const auto& f : stdfs::directory_iterator(big + "/snapshots")) bytes = std::max<std::uint64_t>(bytes, f.file_size());
      ECSDB_ASSIGN_OR_RETURN(const double ms, raw_write_fsync_ms(dir / "raw_snapshot", bytes));
      raw_ms.push_back(ms);
      ECSDB_ASSIGN_OR_RETURN(const double writeback_ms,
                             raw_write_fsync_ms(dir / "raw_snapshot", bytes, persist::kSnapshotWritebackBytes));
      raw_writeback_ms.push_back(writeback_ms);
      results["snapshot_bytes"] = figure(static_cast<double>(bytes), "bytes");
    }
  }
  for (int r = 0; r < kRepetitions; ++r) {
    say("recovery " + std::to_string(r + 1) + "/" + std::to_string(kRepetitions));
    const std::int64_t t0 = now_ns();
    ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::open(schema, durable_options(big, Durability::kSync)));
    recovery_ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
    if (db->pin().entity_count() != options.entities) {
      return Status(StatusCode::kInternal, "recovery lost entities: " + std::to_string(db->pin().entity_count()));
    }
  }
  // ---- recovery with a realistic log tail: the newest snapshot plus one one-field update per entity
  // (1M records at the default size) written after it; replay publishes once at the end ----
  say("writing a WAL tail of " + std::to_string(options.entities) + " one-field updates");
  {
    DatabaseOptions o = durable_options(big, Durability::kAsync);
    o.publish_every_commits = 0;
    o.snapshot_every_wal_bytes = 0;
    ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::open(schema, o));
    std::mt19937_64 rng(0x7A11);
    for (std::size_t i = 0; i < options.entities; ++i) {
      ECSDB_RETURN_IF_ERROR(db->writer().set(entities[rng() % entities.size()], &Health::hp, static_cast<std::uint32_t>(i)));
      if (i % 1024 == 1023) db->writer().publish();
    }
    db->writer().publish();
    ECSDB_RETURN_IF_ERROR(db->flush());
  }
  std::vector<double> recovery_tail_ms;
  for (int r = 0; r < kRepetitions; ++r) {
    say("recovery with tail " + std::to_string(r + 1) + "/" + std::to_string(kRepetitions));
    const std::int64_t t0 = now_ns();
    ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::open(schema, durable_options(big, Durability::kSync)));
    recovery_tail_ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
    if (db->pin().entity_count() != options.entities) {
      return Status(StatusCode::kInternal, "recovery lost entities: " + std::to_string(db->pin().entity_count()));
    }
  }
  results["snapshot_ms"] = figure(median(snapshot_ms), "ms", "raw_write_fsync_ms");
  results["snapshot_retired_ms"] = figure(median(snapshot_retired_ms), "ms", "raw_write_fsync_ms");
  results["raw_write_fsync_ms"] = figure(median(raw_ms), "ms");
  results["raw_write_writeback_ms"] = figure(median(raw_writeback_ms), "ms");
  results["recovery_ms"] = figure(median(recovery_tail_ms), "ms");
  results["recovery_tail_records"] = figure(static_cast<double>(options.entities), "records");
  results["recovery_snapshot_only_ms"] = figure(median(recovery_ms), "ms");

  nlohmann::json out;
  out["machine"] = machine_json();
  out["config"] = {{"suite", "durability"}, {"entities", options.entities}, {"seconds", options.seconds},
                   {"in_flight", options.in_flight}, {"update_entities", small},
                   {"dir", options.dir.empty() ? stdfs::temp_directory_path().string() : options.dir}};
  out["results"] = std::move(results);
  return out;
}

}  // namespace ecsdb::bench
