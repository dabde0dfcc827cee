#include "bench/suites/txn_suite.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/peers/sqlite_peer.hpp"
#ifdef ECSDB_BENCH_HAVE_FLECS
#include "bench/peers/flecs_peer.h"
#endif
#include "bench/suites/bench_json.hpp"
#include "bench/suites/bench_schema.hpp"
#include "ecsdb/database.hpp"

namespace ecsdb::bench {
namespace {

// Figures timed with their own share of the budget (groups measured in one loop count once).
constexpr int kTimedGroups = 17;
// Random-read batch: large enough that the sample stream itself does not fit in L2 with the rows.
constexpr std::size_t kReadBatch = std::size_t{1} << 20;
constexpr std::size_t kUnpinnedReadBatch = std::size_t{1} << 18;
constexpr std::size_t kUpdateBatch = std::size_t{1} << 17;
constexpr std::size_t kInsertBatch = std::size_t{1} << 16;
// Publishing after every commit copies a page per random write; fewer ops keep that figure in budget.
constexpr std::size_t kPublishEachDivisor = 8;
constexpr std::size_t kSqliteBatch = std::size_t{1} << 16;
constexpr float kScanThreshold = 1.5f;
constexpr float kStep = 0.001f;  // what the update scans add to every position_x
constexpr std::uint64_t kSeed = 0x5EED'ECDB;

// Keeps `value` (and the work that produced it) from being optimised away, at no run-time cost.
template <typename T>
inline void keep(const T& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

// Repeats one measurement until its share of the budget is spent, within [min, max] repetitions.
class Repeater {
 public:
  explicit Repeater(const TxnSuiteOptions& o)
      : slice_ns_(static_cast<std::int64_t>(o.seconds * 1e9 / kTimedGroups)),
        min_(std::max(1, o.min_repetitions)),
        max_(std::max(min_, o.max_repetitions)) {}

  // Calls rep() (which records its own samples); stops at the first error.
  template <typename Rep>
  Status run(Rep&& rep) const {
    const std::int64_t start = now_ns();
    for (int i = 0; i < max_; ++i) {
      ECSDB_RETURN_IF_ERROR(rep());
      if (i + 1 >= min_ && now_ns() - start >= slice_ns_) break;
    }
    return Status::ok();
  }

 private:
  std::int64_t slice_ns_;
  int min_;
  int max_;
};

// Publishes once every `every` writes — a game tick that commits each change at once but shows readers
// one consistent state per frame. every == 0: the database publishes by itself (publish_every_commits).
class Tick {
 public:
  Tick(WriterHandle& writer, std::uint32_t every) : writer_(writer), every_(every) {}
  void op() {
    if (every_ != 0 && ++ops_ == every_) {
      ops_ = 0;
      writer_.publish();
    }
  }
  void finish() { writer_.publish(); }

 private:
  WriterHandle& writer_;
  std::uint32_t every_;
  std::uint32_t ops_ = 0;
};

double per_op(std::int64_t start_ns, std::size_t ops) {
  return static_cast<double>(now_ns() - start_ns) / static_cast<double>(std::max<std::size_t>(ops, 1));
}

// GB/s (10^9 bytes a second) at which this thread reads memory that is in no cache: the median, over
// `repeat`'s samples, of one pass summing a 256 MiB buffer of u64 (more than any last-level cache) with
// four independent sums, so that the loads, not the adds, set the pace.
Result<double> stream_read_gbps(const Repeater& repeat) {
  constexpr std::size_t kBytes = std::size_t{256} << 20;
  std::vector<std::uint64_t> buffer(kBytes / sizeof(std::uint64_t));
  std::iota(buffer.begin(), buffer.end(), std::uint64_t{0});  // every page faulted in before the timing
  std::vector<double> gbps;
  ECSDB_RETURN_IF_ERROR(repeat.run([&] {
    std::uint64_t a = 0, b = 0, c = 0, d = 0;
    const std::int64_t t0 = now_ns();
    for (std::size_t i = 0; i < buffer.size(); i += 4) {
      a += buffer[i];
      b += buffer[i + 1];
      c += buffer[i + 2];
      d += buffer[i + 3];
    }
    gbps.push_back(static_cast<double>(kBytes) / static_cast<double>(std::max<std::int64_t>(now_ns() - t0, 1)));
    keep(a + b + c + d);
    return Status::ok();
  }));
  return median(gbps);
}

// N entities, each with a transform and a health row, in one transaction, then published.
Status populate(Database& db, std::size_t n, std::vector<Entity>& out) {
  Transaction t = db.writer().begin();
  ECSDB_RETURN_IF_ERROR(t.create_many(n, out));
  for (std::size_t i = 0; i < n; ++i) {
    ECSDB_RETURN_IF_ERROR(t.add(out[i], transform_of(i)));
    ECSDB_RETURN_IF_ERROR(t.add(out[i], health_of(i)));
  }
  ECSDB_RETURN_IF_ERROR(t.commit());
  db.writer().publish();
  return Status::ok();
}

std::vector<Entity> random_sample(const std::vector<Entity>& from, std::size_t count, std::mt19937_64& rng) {
  std::uniform_int_distribution<std::size_t> pick(0, from.size() - 1);
  std::vector<Entity> sample(count);
  for (Entity& e : sample) e = from[pick(rng)];
  return sample;
}

struct WriteSamples {
  std::vector<double> create, insert, update_field, remove, destroy;
};

// One repetition of the single-operation write figures on `db`: create `batch` entities one implicit
// transaction each, give them a transform (one untimed transaction), then time add<Health> (insert),
// remove<Health> (delete) and destroy, one implicit transaction each — which also returns the database
// to its starting size for the next repetition.
Status write_repetition(Database& db, std::size_t batch, std::uint32_t tick_ops, WriteSamples& s,
                        std::vector<Entity>& fresh) {
  WriterHandle& w = db.writer();
  fresh.clear();
  {
    Tick tick(w, tick_ops);
    const std::int64_t t0 = now_ns();
    for (std::size_t i = 0; i < batch; ++i) {
      Result<Entity> e = w.create();
      if (!e) return e.status();
      fresh.push_back(*e);
      tick.op();
    }
    tick.finish();
    s.create.push_back(per_op(t0, batch));
  }
  {
    Transaction t = w.begin();
    for (std::size_t i = 0; i < batch; ++i) ECSDB_RETURN_IF_ERROR(t.add(fresh[i], transform_of(i)));
    ECSDB_RETURN_IF_ERROR(t.commit());
    w.publish();
  }
  auto timed = [&](std::vector<double>& into, auto&& op) -> Status {
    Tick tick(w, tick_ops);
    const std::int64_t t0 = now_ns();
    for (std::size_t i = 0; i < batch; ++i) {
      ECSDB_RETURN_IF_ERROR(op(i));
      tick.op();
    }
    tick.finish();
    into.push_back(per_op(t0, batch));
    return Status::ok();
  };
  ECSDB_RETURN_IF_ERROR(timed(s.insert, [&](std::size_t i) { return w.add(fresh[i], health_of(i)); }));
  ECSDB_RETURN_IF_ERROR(timed(s.remove, [&](std::size_t i) { return w.remove<Health>(fresh[i]); }));
  return timed(s.destroy, [&](std::size_t i) { return w.destroy(fresh[i]); });
}

Status update_repetition(Database& db, const std::vector<Entity>& sample, std::uint32_t tick_ops,
                         std::vector<double>& into) {
  WriterHandle& w = db.writer();
  Tick tick(w, tick_ops);
  const std::int64_t t0 = now_ns();
  std::uint32_t v = static_cast<std::uint32_t>(into.size());
  for (Entity e : sample) {
    ECSDB_RETURN_IF_ERROR(w.set(e, &Health::hp, ++v));
    tick.op();
  }
  tick.finish();
  into.push_back(per_op(t0, sample.size()));
  return Status::ok();
}

// Transactions per second submitted by `producers` threads (each keeps submitting its share without
// waiting), counted from the common start until every ticket resolved. The writer thread must run.
double queue_tps(Database& db, const std::vector<Entity>& sample, int producers) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  std::vector<CommitTicket> last(static_cast<std::size_t>(producers));
  const std::size_t share = sample.size() / static_cast<std::size_t>(producers);
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const std::size_t begin = static_cast<std::size_t>(p) * share;
      CommitTicket ticket;
      for (std::size_t i = begin; i < begin + share; ++i) {
        const Entity e = sample[i];
        const auto hp = static_cast<std::uint32_t>(i);
        ticket = db.submit([e, hp](Transaction& t) { return t.set(e, &Health::hp, hp); });
      }
      last[static_cast<std::size_t>(p)] = ticket;
    });
  }
  const std::int64_t t0 = now_ns();
  go.store(true, std::memory_order_release);
  for (std::thread& t : threads) t.join();
  for (const CommitTicket& t : last) t.wait().ignore();  // in order: the last ticket implies the others
  const double seconds = static_cast<double>(now_ns() - t0) / 1e9;
  return static_cast<double>(share * static_cast<std::size_t>(producers)) / seconds;
}

Status queue_figures(Database& db, const std::vector<Entity>& sample, const Repeater& repeat,
                     nlohmann::json& results) {
  ECSDB_RETURN_IF_ERROR(db.start_writer_thread());
  std::vector<double> tps1, tps2, tps4, tps8, visible_us;
  Status s = repeat.run([&] {
    tps1.push_back(queue_tps(db, sample, 1));
    return Status::ok();
  });
  for (auto [producers, out] : {std::pair{2, &tps2}, std::pair{4, &tps4}, std::pair{8, &tps8}}) {
    if (!s.is_ok()) break;
    s = repeat.run([&, producers = producers, out = out] {
      out->push_back(queue_tps(db, sample, producers));
      return Status::ok();
    });
  }
  if (s.is_ok()) {
    // Sequential round trips: submit, wait for the ticket, then for the version to be readable.
    const std::size_t rounds = std::min<std::size_t>(sample.size(), 2000);
    for (std::size_t i = 0; i < rounds && s.is_ok(); ++i) {
      const Entity e = sample[i];
      const std::int64_t t0 = now_ns();
      CommitTicket ticket = db.submit([e](Transaction& t) { return t.set(e, &Health::hp, 7u); });
      s = ticket.wait();
      while (s.is_ok() && db.published_version() < ticket.version()) std::this_thread::yield();
      visible_us.push_back(static_cast<double>(now_ns() - t0) / 1e3);
    }
  }
  db.stop_writer_thread();
  ECSDB_RETURN_IF_ERROR(s);
  results["queue_tps_1"] = figure(median(tps1), "tps");
  results["queue_tps_2"] = figure(median(tps2), "tps");
  results["queue_tps_4"] = figure(median(tps4), "tps");
  results["queue_tps_8"] = figure(median(tps8), "tps");
  results["commit_publish_us"] = figure(percentile(visible_us, 50), "us");
  results["commit_publish_p99_us"] = figure(percentile(visible_us, 99), "us");
  return Status::ok();
}

// One reader-scaling measurement: `readers` threads read and scan through views they re-pin every
// kReadsPerPin reads, while the calling thread (the writer) commits ticks of `tick_ops` random one-field
// updates and publishes each. Readers do a fixed amount of work; the writer ticks until they are done.
struct ScalingSample {
  double read_ns = 0;          // per random read, median over the readers
  double scan_ns_per_row = 0;  // per row of each<Transform>, median over the readers
  double tick_us = 0;          // the writer's median tick (updates + publish) while they ran
  double tick_kb_copied = 0;   // bytes its page copies and replays moved, per tick (KB)
};

ScalingSample measure_scaling(Database& db, const std::vector<Entity>& read_sample,
                              const std::vector<Entity>& update_sample, std::uint32_t readers,
                              std::uint32_t tick_ops) {
  constexpr std::size_t kReadsPerPin = 4096;
  constexpr std::size_t kReadsPerReader = std::size_t{1} << 19;
  // Enough scans that the median is a scan no other thread pre-empted: with more threads than cores, one
  // scan in a few waits out a scheduler tick (2 scans made the median bimodal on a 2-vCPU VM).
  constexpr int kScansPerReader = 8;
  std::atomic<bool> go{false};
  std::atomic<std::uint32_t> running{readers};
  std::vector<double> read_ns(readers), scan_ns(readers);
  std::vector<std::thread> threads;
  threads.reserve(readers);
  for (std::uint32_t r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      std::uint64_t sum = 0;
      const std::size_t offset = static_cast<std::size_t>(r) * 7919;  // each reader its own stream of ids
      const std::int64_t t0 = now_ns();
      for (std::size_t done = 0; done < kReadsPerReader; done += kReadsPerPin) {
        const PinnedView view = db.pin();
        for (std::size_t i = done; i < done + kReadsPerPin; ++i) {
          const Health* h = view.get<Health>(read_sample[(offset + i) % read_sample.size()]);
          sum += h != nullptr ? h->hp : 0;
        }
      }
      read_ns[r] = per_op(t0, kReadsPerReader);
      std::vector<double> scans;
      for (int s = 0; s < kScansPerReader; ++s) {
        const PinnedView view = db.pin();
        const std::int64_t s0 = now_ns();
        view.each<Transform>([&](Entity, const Transform& t) {
          sum += (t.position_x + t.position_y + t.position_z) > kScanThreshold;
        });
        scans.push_back(per_op(s0, view.count<Transform>()));
      }
      scan_ns[r] = median(std::move(scans));
      keep(sum);
      running.fetch_sub(1, std::memory_order_release);
    });
  }
  WriterHandle& w = db.writer();
  std::vector<double> ticks;
  std::size_t next = 0;
  std::uint32_t value = 0;
  go.store(true, std::memory_order_release);
  // With no readers, the same number of ticks as a typical run with them, for the baseline.
  const std::size_t min_ticks = readers == 0 ? 64 : 0;
  const std::uint64_t copied_before = db.metrics().bytes_copied_total;
  while (running.load(std::memory_order_acquire) != 0 || ticks.size() < min_ticks) {
    const std::int64_t t0 = now_ns();
    for (std::uint32_t i = 0; i < tick_ops; ++i) {
      w.set(update_sample[next], &Health::hp, ++value).ignore();  // the entities exist: cannot fail
      next = (next + 1) % update_sample.size();
    }
    w.publish();
    ticks.push_back(static_cast<double>(now_ns() - t0) / 1e3);
  }
  const std::uint64_t copied = db.metrics().bytes_copied_total - copied_before;
  for (std::thread& t : threads) t.join();
  return {median(read_ns), median(scan_ns), median(ticks), static_cast<double>(copied) / 1e3 / static_cast<double>(ticks.size())};
}

// read_ns / scan_ns_per_row with 1, 2, 4, ... up to `max_readers` reader threads while the writer commits
// ticks, and the writer's tick with no reader (the baseline of its figures).
Status reader_scaling_figures(Database& db, const std::vector<Entity>& read_sample,
                              const std::vector<Entity>& update_sample, const TxnSuiteOptions& options,
                              const Repeater& repeat, nlohmann::json& results) {
  std::vector<std::uint32_t> counts{0};
  for (std::uint32_t t = 1; t < options.reader_threads; t *= 2) counts.push_back(t);
  if (options.reader_threads >= 1) counts.push_back(options.reader_threads);
  for (std::uint32_t readers : counts) {
    std::vector<double> read, scan, tick, tick_kb;
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      const ScalingSample s = measure_scaling(db, read_sample, update_sample, readers, options.tick_ops);
      read.push_back(s.read_ns);
      scan.push_back(s.scan_ns_per_row);
      tick.push_back(s.tick_us);
      tick_kb.push_back(s.tick_kb_copied);
      return Status::ok();
    }));
    const std::string t = std::to_string(readers);
    results["writer_tick_us_threads_" + t] =
        figure(median(tick), "us", readers == 0 ? std::string_view{} : std::string_view{"writer_tick_us_threads_0"});
    results["writer_tick_kb_copied_threads_" + t] = figure(
        median(tick_kb), "KB", readers == 0 ? std::string_view{} : std::string_view{"writer_tick_kb_copied_threads_0"});
    if (readers == 0) continue;
    const double read_ns = median(read);
    results["read_ns_threads_" + t] = figure(read_ns, "ns", "read_ns");
    results["read_mops_threads_" + t] = figure(read_ns > 0 ? readers * 1e3 / read_ns : 0, "Mops/s");
    results["scan_ns_per_row_threads_" + t] = figure(median(scan), "ns/row", "scan_ns_per_row");
  }
  return Status::ok();
}

#ifdef ECSDB_BENCH_HAVE_FLECS
// The ECS peer: the same world, reads, field updates, component add/remove, creation and scans in flecs.
// Entity numbers are ECSDb's entity indexes (both worlds were filled in the same order).
template <typename Say>
Status flecs_figures(std::size_t n, const std::vector<Entity>& read_sample, const std::vector<Entity>& update_sample,
                     std::size_t write_batch, const Repeater& repeat, Say&& say, nlohmann::json& results) {
  say("populating flecs");
  const std::uint64_t rss_before = resident_bytes();
  struct PeerDeleter {
    void operator()(flecs_peer* p) const { flecs_peer_destroy(p); }
  };
  const std::unique_ptr<flecs_peer, PeerDeleter> peer(flecs_peer_create(n));
  const std::uint64_t rss_after = resident_bytes();
  results["flecs_memory_bytes"] = figure(static_cast<double>(rss_after > rss_before ? rss_after - rss_before : 0), "bytes");
  auto numbers = [n](const std::vector<Entity>& sample) {
    std::vector<std::uint32_t> out(sample.size());
    for (std::size_t i = 0; i < sample.size(); ++i) out[i] = static_cast<std::uint32_t>(sample[i].index() % n);
    return out;
  };
  say("flecs reads, writes and scans");
  const std::vector<std::uint32_t> reads = numbers(read_sample);
  const std::vector<std::uint32_t> updates = numbers(update_sample);
  std::vector<double> read, set, create, remove, add, destroy, scan, scan2, for_each_mut_times;
  ECSDB_RETURN_IF_ERROR(repeat.run([&] {
    const std::int64_t t0 = now_ns();
    keep(flecs_peer_read_hp(peer.get(), reads.data(), reads.size()));
    read.push_back(per_op(t0, reads.size()));
    return Status::ok();
  }));
  std::uint32_t value = 0;
  ECSDB_RETURN_IF_ERROR(repeat.run([&] {
    const std::int64_t t0 = now_ns();
    flecs_peer_set_hp(peer.get(), updates.data(), updates.size(), value);
    set.push_back(per_op(t0, updates.size()));
    value += static_cast<std::uint32_t>(updates.size());
    return Status::ok();
  }));
  ECSDB_RETURN_IF_ERROR(repeat.run([&] {
    std::int64_t t0 = now_ns();
    flecs_peer_create_many(peer.get(), write_batch);
    create.push_back(per_op(t0, write_batch));
    t0 = now_ns();
    flecs_peer_remove_health_created(peer.get());
    remove.push_back(per_op(t0, write_batch));
    t0 = now_ns();
    flecs_peer_add_health_created(peer.get());
    add.push_back(per_op(t0, write_batch));
    t0 = now_ns();
    flecs_peer_delete_created(peer.get());
    destroy.push_back(per_op(t0, write_batch));
    return Status::ok();
  }));
  ECSDB_RETURN_IF_ERROR(repeat.run([&] {
    std::size_t rows = 0;
    std::int64_t t0 = now_ns();
    keep(flecs_peer_scan(peer.get(), kScanThreshold, &rows));
    scan.push_back(per_op(t0, rows));
    t0 = now_ns();
    keep(flecs_peer_scan2(peer.get(), kScanThreshold, &rows));
    scan2.push_back(per_op(t0, rows));
    t0 = now_ns();
    flecs_peer_move_all(peer.get(), kStep, &rows);
    for_each_mut_times.push_back(per_op(t0, rows));
    return Status::ok();
  }));
  results["flecs_read_ns"] = figure(median(read), "ns", "raw_read_ns");
  results["flecs_set_ns"] = figure(median(set), "ns", "sqlite_update_ns");
  results["flecs_create_ns"] = figure(median(create), "ns");
  results["flecs_remove_ns"] = figure(median(remove), "ns", "sqlite_delete_ns");
  results["flecs_add_ns"] = figure(median(add), "ns", "sqlite_insert_ns");
  results["flecs_delete_ns"] = figure(median(destroy), "ns");
  results["flecs_scan_ns_per_row"] = figure(median(scan), "ns/row", "raw_scan_ns_per_row");
  results["flecs_scan2_ns_per_row"] = figure(median(scan2), "ns/row", "raw_scan2_ns_per_row");
  results["flecs_for_each_mut_ns_per_row"] = figure(median(for_each_mut_times), "ns/row", "raw_for_each_mut_ns_per_row");
  return Status::ok();
}
#endif

}  // namespace

Result<nlohmann::json> run_txn_suite(const TxnSuiteOptions& options) {
  auto say = [&](std::string_view line) {
    if (options.progress) options.progress(line);
  };
  const std::size_t n = std::max<std::size_t>(options.entities, 1);
  const Repeater repeat(options);
  std::mt19937_64 rng(kSeed);
  nlohmann::json results = nlohmann::json::object();

  std::shared_ptr<const Schema> schema = game_schema();
  if (schema == nullptr) return Status(StatusCode::kInternal, "the embedded benchmark schema does not parse");

  // ---- set-up: the batched-publish database, measured for memory right after it is filled ----
  say("populating ECSDb (batched publish)");
  std::vector<Entity> entities;
  // Touch the id vector before the first RSS reading so its pages are not counted as database memory.
  entities.assign(n, Entity{});
  entities.clear();
  const std::uint64_t rss_before = resident_bytes();
  ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db,
                         Database::open(schema, DatabaseOptions{.publish_every_commits = 0,
                                                                .page_bytes = options.page_bytes,
                                                                .ping_pong_pages = options.ping_pong_pages}));
  ECSDB_RETURN_IF_ERROR(populate(*db, n, entities));
  const std::uint64_t rss_after = resident_bytes();
  {
    const Table* transform = schema->find_table("transform");
    const Table* health = schema->find_table("health");
    const double raw_bytes = static_cast<double>(n) * (transform->stride() + health->stride());
    const double in_use = static_cast<double>(db->metrics().bytes_in_use);
    results["memory_overhead_pct"] = figure((in_use - raw_bytes) / raw_bytes * 100.0, "%");
    const double rss = static_cast<double>(rss_after > rss_before ? rss_after - rss_before : 0);
    results["memory_rss_overhead_pct"] = figure((rss - raw_bytes) / raw_bytes * 100.0, "%");
    results["raw_packed_bytes"] = figure(raw_bytes, "bytes");
    results["bytes_in_use"] = figure(in_use, "bytes");
  }

  // The raw baseline: the same rows, in the same order, in plain vectors.
  std::vector<Transform> raw_transforms(n);
  std::vector<Health> raw_health(n);
  for (std::size_t i = 0; i < n; ++i) {
    raw_transforms[i] = transform_of(i);
    raw_health[i] = health_of(i);
  }

  // ---- reads ----
  say("random reads");
  const std::vector<Entity> read_sample = random_sample(entities, std::min(n * 4, kReadBatch), rng);
  std::vector<double> read, raw_read, read_unpinned;
  {
    PinnedView view = db->pin();
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      std::uint64_t sum = 0;
      const std::int64_t t0 = now_ns();
      for (Entity e : read_sample) {
        const Health* h = view.get<Health>(e);
        sum += h != nullptr ? h->hp : 0;
      }
      read.push_back(per_op(t0, read_sample.size()));
      keep(sum);
      return Status::ok();
    }));
  }
  // The same reads through a Reader: the table resolved once, its descriptors held across the loop.
  std::vector<double> read_reader;
  {
    PinnedView view = db->pin();
    const auto health = view.reader<Health>();
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      std::uint64_t sum = 0;
      const std::int64_t t0 = now_ns();
      for (Entity e : read_sample) {
        const Health* h = health.get(e);
        sum += h != nullptr ? h->hp : 0;
      }
      read_reader.push_back(per_op(t0, read_sample.size()));
      keep(sum);
      return Status::ok();
    }));
  }
  ECSDB_RETURN_IF_ERROR(repeat.run([&] {
    std::uint64_t sum = 0;
    const Health* rows = raw_health.data();
    const std::int64_t t0 = now_ns();
    for (Entity e : read_sample) sum += rows[e.index()].hp;
    raw_read.push_back(per_op(t0, read_sample.size()));
    keep(sum);
    return Status::ok();
  }));
  // The floor of a checked read: the same random rows, each beside its entity's generation loaded from an
  // array of its own (4 bytes per entity) and compared with the handle's. Any read that validates an
  // entity handle (ECSDb's registry slot, flecs's entity index) takes these two independent cache misses
  // where raw_read_ns takes one; docs/benchmarks.md shows what the second one costs on a shared VM.
  std::vector<double> raw_checked_read;
  {
    std::vector<std::uint32_t> raw_generations(n);
    for (Entity e : entities) raw_generations[e.index()] = e.generation();
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      std::uint64_t sum = 0;
      const Health* rows = raw_health.data();
      const std::uint32_t* generations = raw_generations.data();
      const std::int64_t t0 = now_ns();
      for (Entity e : read_sample) {
        const std::uint32_t i = e.index();
        sum += generations[i] == e.generation() ? rows[i].hp : 0;
      }
      raw_checked_read.push_back(per_op(t0, read_sample.size()));
      keep(sum);
      return Status::ok();
    }));
  }
  {
    const std::size_t count = std::min(read_sample.size(), kUnpinnedReadBatch);
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      std::uint64_t sum = 0;
      const std::int64_t t0 = now_ns();
      for (std::size_t i = 0; i < count; ++i) {
        const PinnedView view = db->pin();
        const Health* h = view.get<Health>(read_sample[i]);
        sum += h != nullptr ? h->hp : 0;
      }
      read_unpinned.push_back(per_op(t0, count));
      keep(sum);
      return Status::ok();
    }));
  }
  std::vector<double> read_many;
  {
    PinnedView view = db->pin();
    constexpr std::size_t kWave = 256;
    std::vector<const Health*> out(kWave);
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      std::uint64_t sum = 0;
      const std::int64_t t0 = now_ns();
      for (std::size_t i = 0; i + kWave <= read_sample.size(); i += kWave) {
        view.get_many<Health>(std::span<const Entity>(read_sample.data() + i, kWave), out);
        for (const Health* h : out) sum += h != nullptr ? h->hp : 0;
      }
      read_many.push_back(per_op(t0, read_sample.size() / kWave * kWave));
      keep(sum);
      return Status::ok();
    }));
  }
  results["read_many_ns"] = figure(median(read_many), "ns", "raw_read_ns");
  results["read_ns"] = figure(median(read), "ns", "raw_read_ns");
  results["read_reader_ns"] = figure(median(read_reader), "ns", "raw_read_ns");
  results["raw_read_ns"] = figure(median(raw_read), "ns");
  results["raw_checked_read_ns"] = figure(median(raw_checked_read), "ns", "raw_read_ns");
  results["read_unpinned_ns"] = figure(median(read_unpinned), "ns", "raw_read_ns");

  // ---- scans: a "system" that filters on the position and sums health ----
  say("scans");
  std::vector<double> scan, raw_scan, scan2, query2, raw_scan2;
  {
    const PinnedView view = db->pin();
    const std::size_t rows = view.count<Transform>();
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      std::uint64_t hits = 0;
      const std::int64_t t0 = now_ns();
      view.each<Transform>([&](Entity, const Transform& t) {
        hits += (t.position_x + t.position_y + t.position_z) > kScanThreshold;
      });
      scan.push_back(per_op(t0, rows));
      keep(hits);
      return Status::ok();
    }));
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      std::uint64_t hits = 0;
      const std::int64_t t0 = now_ns();
      for (const Transform& t : raw_transforms) hits += (t.position_x + t.position_y + t.position_z) > kScanThreshold;
      raw_scan.push_back(per_op(t0, raw_transforms.size()));
      keep(hits);
      return Status::ok();
    }));
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      std::uint64_t sum = 0;
      const std::int64_t t0 = now_ns();
      view.each<Transform, Health>([&](Entity, const Transform& t, const Health& h) {
        sum += (t.position_x + t.position_y + t.position_z) > kScanThreshold ? h.hp : 0;
      });
      scan2.push_back(per_op(t0, rows));
      keep(sum);
      return Status::ok();
    }));
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      std::uint64_t sum = 0;
      const std::int64_t t0 = now_ns();
      for (auto [e, t, h] : view.query<Transform, Health>()) {
        sum += (t.position_x + t.position_y + t.position_z) > kScanThreshold ? h.hp : 0;
      }
      query2.push_back(per_op(t0, rows));
      keep(sum);
      return Status::ok();
    }));
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      std::uint64_t sum = 0;
      const std::int64_t t0 = now_ns();
      for (std::size_t i = 0; i < n; ++i) {
        const Transform& t = raw_transforms[i];
        sum += (t.position_x + t.position_y + t.position_z) > kScanThreshold ? raw_health[i].hp : 0;
      }
      raw_scan2.push_back(per_op(t0, n));
      keep(sum);
      return Status::ok();
    }));
  }
  results["scan_ns_per_row"] = figure(median(scan), "ns/row", "raw_scan_ns_per_row");
  results["raw_scan_ns_per_row"] = figure(median(raw_scan), "ns/row");

  // ---- a system that moves every entity: one pass of writes over a column per tick (for_each_mut) ----
  say("for_each_mut");
  std::vector<double> for_each_mut_times, raw_for_each_mut;
  {
    WriterHandle& w = db->writer();
    const std::size_t rows = db->pin().count<Transform>();
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      const std::int64_t t0 = now_ns();
      Status moved = w.for_each_mut<Transform>([](Entity, Transform& t) { t.position_x += kStep; });
      if (!moved.is_ok()) return moved;
      w.publish();
      for_each_mut_times.push_back(per_op(t0, rows));
      return Status::ok();
    }));
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      const std::int64_t t0 = now_ns();
      for (Transform& t : raw_transforms) t.position_x += kStep;
      keep(raw_transforms[raw_transforms.size() / 2].position_x);
      raw_for_each_mut.push_back(per_op(t0, raw_transforms.size()));
      return Status::ok();
    }));
  }
  results["for_each_mut_ns_per_row"] = figure(median(for_each_mut_times), "ns/row", "raw_for_each_mut_ns_per_row");
  results["raw_for_each_mut_ns_per_row"] = figure(median(raw_for_each_mut), "ns/row");
  results["scan2_ns_per_row"] = figure(median(scan2), "ns/row", "raw_scan2_ns_per_row");
  results["query2_ns_per_row"] = figure(median(query2), "ns/row", "raw_scan2_ns_per_row");
  results["raw_scan2_ns_per_row"] = figure(median(raw_scan2), "ns/row");

  // ---- the memory-bandwidth floor of those scans: the bytes of a row's columns at the rate this machine
  // streams memory from no cache. At sizes whose columns fit in the last-level cache a scan can beat it. ----
  say("memory bandwidth");
  {
    ECSDB_ASSIGN_OR_RETURN(const double gbps, stream_read_gbps(repeat));
    results["membw_gbps"] = figure(gbps, "GB/s");
    results["membw_scan_ns_per_row"] = figure(static_cast<double>(sizeof(Transform)) / gbps, "ns/row");
    results["membw_scan2_ns_per_row"] = figure(static_cast<double>(sizeof(Transform) + sizeof(Health)) / gbps, "ns/row");
  }

  // ---- reader scaling: readers on their own threads while the writer commits ticks ----
  say("reader scaling");
  {
    std::mt19937_64 scaling_rng(kSeed + 1);
    const std::vector<Entity> tick_sample = random_sample(entities, std::min(n * 4, kUpdateBatch), scaling_rng);
    ECSDB_RETURN_IF_ERROR(reader_scaling_figures(*db, read_sample, tick_sample, options, repeat, results));
  }

  // ---- SQLite peer: same rows, same random ids, same run ----
  say("populating SQLite");
  SqlitePeer sqlite;
  sqlite.bulk_insert(0, static_cast<std::int64_t>(n));
  const std::vector<Entity> update_sample = random_sample(entities, std::min(n * 4, kUpdateBatch), rng);
  const std::size_t write_batch = std::clamp<std::size_t>(n / 8, 1, kInsertBatch);
  say("SQLite reads and writes");
  std::vector<double> sqlite_insert, sqlite_update, sqlite_read, sqlite_delete;
  {
    const std::size_t count = std::min(read_sample.size(), kSqliteBatch);
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      std::uint64_t sum = 0;
      const std::int64_t t0 = now_ns();
      for (std::size_t i = 0; i < count; ++i) sum += sqlite.read_hp(read_sample[i].index());
      sqlite_read.push_back(per_op(t0, count));
      keep(sum);
      return Status::ok();
    }));
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      std::uint32_t v = 0;
      const std::int64_t t0 = now_ns();
      for (Entity e : update_sample) sqlite.update_hp(e.index(), ++v);
      sqlite_update.push_back(per_op(t0, update_sample.size()));
      return Status::ok();
    }));
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      const auto first = static_cast<std::int64_t>(n);
      const auto count64 = static_cast<std::int64_t>(write_batch);
      std::int64_t t0 = now_ns();
      for (std::int64_t id = first; id < first + count64; ++id) sqlite.insert(id, 100, 100);
      sqlite_insert.push_back(per_op(t0, write_batch));
      t0 = now_ns();
      for (std::int64_t id = first; id < first + count64; ++id) sqlite.remove(id);
      sqlite_delete.push_back(per_op(t0, write_batch));
      return Status::ok();
    }));
  }
  results["sqlite_insert_ns"] = figure(median(sqlite_insert), "ns");
  results["sqlite_update_ns"] = figure(median(sqlite_update), "ns");
  results["sqlite_read_ns"] = figure(median(sqlite_read), "ns");
  results["sqlite_delete_ns"] = figure(median(sqlite_delete), "ns");

  // ---- ECSDb writes, batched publish (one publish per tick of tick_ops writes) ----
  say("ECSDb writes, publish per tick");
  std::vector<Entity> fresh;
  fresh.reserve(write_batch);
  {
    WriteSamples s;
    ECSDB_RETURN_IF_ERROR(repeat.run([&] { return write_repetition(*db, write_batch, options.tick_ops, s, fresh); }));
    ECSDB_RETURN_IF_ERROR(repeat.run([&] { return update_repetition(*db, update_sample, options.tick_ops, s.update_field); }));
    results["create_ns"] = figure(median(s.create), "ns");
    results["insert_ns"] = figure(median(s.insert), "ns", "sqlite_insert_ns");
    results["update_field_ns"] = figure(median(s.update_field), "ns", "sqlite_update_ns");
    results["delete_ns"] = figure(median(s.remove), "ns", "sqlite_delete_ns");
    results["destroy_ns"] = figure(median(s.destroy), "ns");
  }
  db.reset();  // frees its pages before the second database is filled

#ifdef ECSDB_BENCH_HAVE_FLECS
  ECSDB_RETURN_IF_ERROR(flecs_figures(n, read_sample, update_sample, write_batch, repeat, say, results));
#endif

  // ---- ECSDb writes, publish after every commit (the default options) ----
  say("populating ECSDb (publish every commit)");
  ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db_each,
                         Database::open(schema, DatabaseOptions{.publish_every_commits = 1,
                                                                .page_bytes = options.page_bytes,
                                                                .ping_pong_pages = options.ping_pong_pages}));
  entities.clear();
  ECSDB_RETURN_IF_ERROR(populate(*db_each, n, entities));
  say("ECSDb writes, publish every commit");
  {
    WriteSamples s;
    const std::size_t batch = std::max<std::size_t>(write_batch / kPublishEachDivisor, 1);
    const std::vector<Entity> sample(update_sample.begin(),
                                     update_sample.begin() + static_cast<std::ptrdiff_t>(
                                         std::max<std::size_t>(update_sample.size() / kPublishEachDivisor, 1)));
    ECSDB_RETURN_IF_ERROR(repeat.run([&] { return write_repetition(*db_each, batch, 0, s, fresh); }));
    ECSDB_RETURN_IF_ERROR(repeat.run([&] { return update_repetition(*db_each, sample, 0, s.update_field); }));
    results["create_publish_each_ns"] = figure(median(s.create), "ns");
    results["insert_publish_each_ns"] = figure(median(s.insert), "ns", "sqlite_insert_ns");
    results["update_field_publish_each_ns"] = figure(median(s.update_field), "ns", "sqlite_update_ns");
    results["delete_publish_each_ns"] = figure(median(s.remove), "ns", "sqlite_delete_ns");
    results["destroy_publish_each_ns"] = figure(median(s.destroy), "ns");
  }

  say("queue (submit + writer thread)");
  ECSDB_RETURN_IF_ERROR(queue_figures(*db_each, update_sample, repeat, results));

  // ---- bulk insert: the whole world in one transaction (create_many + add_many), vs raw vectors ----
  say("bulk insert");
  {
    std::vector<Transform> transforms(n);
    std::vector<Health> healths(n);
    for (std::size_t i = 0; i < n; ++i) {
      transforms[i] = transform_of(i);
      healths[i] = health_of(i);
    }
    std::vector<double> bulk, raw_bulk;
    // A named lambda: written inside the macro's argument, its own ECSDB_RETURN_IF_ERRORs would shadow the
    // macro's status variable (-Wshadow).
    const auto bulk_load = [&]() -> Status {
      ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> bulk_db,
                             Database::open(schema, DatabaseOptions{.publish_every_commits = 0,
                                                                    .page_bytes = options.page_bytes, .ping_pong_pages = options.ping_pong_pages}));
      std::vector<Entity> ids;
      const std::int64_t t0 = now_ns();
      Transaction t = bulk_db->writer().begin();
      ECSDB_RETURN_IF_ERROR(t.create_many(n, ids));
      ECSDB_RETURN_IF_ERROR(t.add_many<Transform>(ids, transforms));
      ECSDB_RETURN_IF_ERROR(t.add_many<Health>(ids, healths));
      ECSDB_RETURN_IF_ERROR(t.commit());
      bulk_db->writer().publish();
      bulk.push_back(static_cast<double>(now_ns() - t0) / 1e6);
      return Status::ok();
    };
    ECSDB_RETURN_IF_ERROR(repeat.run(bulk_load));
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      const std::int64_t t0 = now_ns();
      std::vector<std::uint64_t> ids;
      std::vector<Transform> ts;
      std::vector<Health> hs;
      for (std::size_t i = 0; i < n; ++i) {
        ids.push_back(i);
        ts.push_back(transforms[i]);
        hs.push_back(healths[i]);
      }
      keep(ids.data());
      keep(ts.data());
      keep(hs.data());
      raw_bulk.push_back(static_cast<double>(now_ns() - t0) / 1e6);
      return Status::ok();
    }));
    results["bulk_insert_ms"] = figure(median(bulk), "ms", "raw_bulk_insert_ms");
    results["raw_bulk_insert_ms"] = figure(median(raw_bulk), "ms");
  }

  // ---- churn: pages copied and memory kept while 1%, 10%, 100% of rows change in one commit and a view
  // pinned before it is still held (the worst case for copy-on-write) ----
  say("churn");
  for (const auto& [pct, label] : {std::pair{1, "1"}, std::pair{10, "10"}, std::pair{100, "100"}}) {
    const std::size_t changes = std::max<std::size_t>(1, n * static_cast<std::size_t>(pct) / 100);
    const std::vector<Entity> sample = random_sample(entities, changes, rng);
    const DatabaseMetrics before = db_each->metrics();
    PinnedView held = db_each->pin();
    Transaction t = db_each->writer().begin();
    std::uint32_t v = 0;
    for (Entity e : sample) {
      if (t.get<Health>(e) != nullptr) ECSDB_RETURN_IF_ERROR(t.set(e, &Health::hp, ++v));  // skip destroyed
    }
    ECSDB_RETURN_IF_ERROR(t.commit());
    db_each->writer().publish();
    const DatabaseMetrics after = db_each->metrics();
    const double table_bytes = static_cast<double>(n) * schema->find_table("health")->stride();
    results[std::string("churn_") + label + "pct_pages_copied"] =
        figure(static_cast<double>(after.pages_copied_total - before.pages_copied_total), "pages");
    results[std::string("churn_") + label + "pct_extra_memory_pct"] =
        figure(static_cast<double>(after.retired_bytes) / table_bytes * 100.0, "%");
  }

  // ---- references: destroying an entity that others follow and that owns inventory rows (cascade and
  // owned-row cleanup through the reverse-reference index), and "who references X" from a view, against
  // a scan of the referencing tables (what answering it cost before the index) ----
  say("references");
  {
    const std::size_t m = std::min<std::size_t>(n, 200'000);
    DatabaseOptions o;
    o.publish_every_commits = 0;
    o.page_bytes = options.page_bytes;
    o.ping_pong_pages = options.ping_pong_pages;
    ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> rdb, Database::open(refs_schema(), o));
    WriterHandle& w = rdb->writer();
    std::vector<Entity> people;
    {
      Transaction t = w.begin();
      ECSDB_RETURN_IF_ERROR(t.create_many(m, people));
      for (std::size_t i = 0; i < m; ++i) {
        ECSDB_RETURN_IF_ERROR(t.add(people[i], Follow{people[(i * 7919 + 1) % m]}));
        for (std::uint32_t k = 0; k < 4; ++k) ECSDB_RETURN_IF_ERROR(t.insert_child(people[i], InventoryItem{k}).status());
      }
      ECSDB_RETURN_IF_ERROR(t.commit());
      w.publish();
    }
    std::vector<double> reverse, reverse_scan, destroy;
    const std::uint16_t follow_id = rdb->table_of<Follow>();
    const std::uint16_t inventory_id = rdb->child_table_of<InventoryItem>();
    ECSDB_RETURN_IF_ERROR(repeat.run([&] {
      const std::vector<Entity> sample = random_sample(people, 256, rng);
      PinnedView v = rdb->pin();
      std::size_t found = 0;
      std::int64_t t0 = now_ns();
      for (Entity e : sample) found += v.referencing(e).size();
      reverse.push_back(per_op(t0, sample.size()) / 1e3);
      const auto& follow = v.state().tables[follow_id];
      const auto& inventory = v.state().tables[inventory_id];
      std::size_t scanned = 0;
      t0 = now_ns();
      for (std::size_t s = 0; s < 8; ++s) {  // a scan is slow: 8 samples are enough
        const std::uint64_t target = sample[s].bits();
        for (std::uint32_t r = 0; r < follow.row_count; ++r) {
          std::uint64_t value;
          std::memcpy(&value, follow.rows.at(r), 8);
          scanned += value == target;
        }
        for (std::uint32_t r = 0; r < inventory.row_count; ++r) {
          std::uint64_t owner;
          std::memcpy(&owner, inventory.owners.at(r), 8);
          scanned += owner == target;
        }
      }
      reverse_scan.push_back(per_op(t0, 8) / 1e3);
      keep(found);
      keep(scanned);
      return Status::ok();
    }));
    // Destroys of random live entities (each with 4 inventory rows and, on average, one follower whose
    // follow row cascades), in ticks of tick_ops; the entities stay destroyed (m is large). The first tick
    // after the load copies every page it writes into fresh memory (at 200k: 2,404 pages, 39 MB, for 1,023
    // destroys: ADR 0016's first write since the load); the second still copies ~460 pages whole; from the
    // third on nearly every copy is a replay. The first tick is a figure of its own; kWarmTicks more are
    // untimed, so that destroy_with_refs_ns is the steady state, as the other write figures are (with 3
    // samples its median had landed on the second or third tick, 10x the steady time). A named lambda, like
    // bulk_load above.
    constexpr int kWarmTicks = 3;
    std::vector<double> first_tick;
    const auto destroy_tick = [&](std::vector<double>* into) {
      std::vector<Entity> victims;
      for (Entity e : random_sample(people, 1024, rng)) {
        if (w.alive(e)) victims.push_back(e);
      }
      Tick tick(w, options.tick_ops);
      const std::int64_t t0 = now_ns();
      for (Entity e : victims) {
        if (!w.alive(e)) continue;  // a repeat in the sample
        ECSDB_RETURN_IF_ERROR(w.destroy(e));
        tick.op();
      }
      tick.finish();
      if (into != nullptr) into->push_back(per_op(t0, victims.size()));
      return Status::ok();
    };
    ECSDB_RETURN_IF_ERROR(destroy_tick(&first_tick));
    for (int i = 0; i < kWarmTicks; ++i) ECSDB_RETURN_IF_ERROR(destroy_tick(nullptr));
    ECSDB_RETURN_IF_ERROR(repeat.run([&] { return destroy_tick(&destroy); }));
    results["destroy_with_refs_first_tick_ns"] = figure(first_tick.front(), "ns");
    // Baseline: the plain destroy of the same run, so that bench-check compares the cascade by a ratio.
    results["destroy_with_refs_ns"] = figure(median(destroy), "ns", "destroy_ns");
    results["reverse_ref_us"] = figure(median(reverse), "us", "reverse_ref_scan_us");
    results["reverse_ref_scan_us"] = figure(median(reverse_scan), "us");
  }

  nlohmann::json out;
  out["machine"] = machine_json();
  out["config"] = {{"suite", "txn"}, {"entities", n}, {"seconds", options.seconds}, {"tick_ops", options.tick_ops}, {"page_bytes", options.page_bytes},
                   {"ping_pong_pages", options.ping_pong_pages},
                   {"reader_threads", options.reader_threads}};
  out["results"] = std::move(results);
  return out;
}

}  // namespace ecsdb::bench
