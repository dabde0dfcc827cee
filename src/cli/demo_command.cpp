// `ecsdb demo`: a small game loop on the SPEC's game schema, showing the whole model at work:
//  - the simulation thread owns the writer: spawns entities, moves them every tick (for_each_mut),
//    damages some and destroys the dead, then publishes once per tick;
//  - a "network" thread submits heal transactions through the lock-free queue, drained at each publish;
//  - a reader thread pins each published version and checks a snapshot invariant;
//  - a subscription counts the deltas the ticks produce.
#include <atomic>
#include <filesystem>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "cli/commands.hpp"
#include "ecsdb/ecsdb.hpp"

namespace demo {
struct Transform {
  float position_x, position_y, position_z;
};
struct Health {
  std::uint32_t hp, max_hp;
};
}  // namespace demo

ECSDB_COMPONENT(demo::Transform, "transform", position_x, position_y, position_z)
ECSDB_COMPONENT(demo::Health, "health", hp, max_hp)

namespace ecsdb::cli {

namespace {

struct DemoOptions {
  std::string schema = "examples/schemas/game.toml";
  std::uint32_t entities = 10000;
  std::uint32_t ticks = 120;
  std::uint32_t tick_hz = 0;  // 0 = as fast as possible
  std::string data = "build/demo-data";  // recovered on the next run; "" = memory only
  bool fresh = false;                    // start from an empty data directory
};

using Clock = std::chrono::steady_clock;

int run_demo(const DemoOptions& opt) {
  using demo::Health;
  using demo::Transform;
  auto schema = load_schema_file(opt.schema);
  if (!schema) {
    std::fprintf(stderr, "%s\n", schema.status().to_string().c_str());
    return 2;
  }
  if (opt.fresh && !opt.data.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(opt.data, ec);
  }
  DatabaseOptions options;
  options.publish_every_commits = 0;
  options.data_dir = opt.data;
  options.durability = Durability::kAsync;  // a game server's usual choice: ~10 ms loss window, no stalls
  const auto open_start = Clock::now();
  auto opened = Database::open(*schema, options);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.status().to_string().c_str());
    return 1;
  }
  std::unique_ptr<Database> db = std::move(*opened);
  for (const Status& s : {db->bind<Transform>(), db->bind<Health>()}) {
    if (!s.is_ok()) {
      std::fprintf(stderr, "%s\n", s.to_string().c_str());
      return 1;
    }
  }
  WriterHandle& w = db->writer();
  auto sub = db->subscribe({.tables = {"health"}, .capacity = 1 << 16});
  if (!sub) return 1;

  std::printf("ecsdb demo: schema %s (database %s %s), %u entities, %u ticks, data %s\n", opt.schema.c_str(),
              db->schema().database.c_str(), db->schema().version.c_str(), opt.entities, opt.ticks,
              opt.data.empty() ? "(memory only)" : opt.data.c_str());
  if (!opt.data.empty()) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - open_start).count();
    std::printf("recovered %llu entities at version %llu in %.1f ms\n",
                static_cast<unsigned long long>(db->pin().entity_count()),
                static_cast<unsigned long long>(db->published_version()), ms);
    for (const std::string& note : db->recovery_notes()) std::printf("  recovery: %s\n", note.c_str());
  }

  std::mt19937 rng(42);
  auto spawn = [&](Transaction& t, std::uint32_t n) -> Status {
    for (std::uint32_t i = 0; i < n; ++i) {
      ECSDB_ASSIGN_OR_RETURN(const Entity e, t.create());
      ECSDB_RETURN_IF_ERROR(t.add(e, Transform{float(rng() % 1000), float(rng() % 1000), 0}));
      ECSDB_RETURN_IF_ERROR(t.add(e, Health{100, 100}));
    }
    return Status::ok();
  };
  const std::uint64_t existing = db->pin().entity_count();
  if (existing < opt.entities) {
    Transaction t = w.begin();
    if (Status s = spawn(t, opt.entities - static_cast<std::uint32_t>(existing)); !s.is_ok() || !(s = t.commit()).is_ok()) {
      std::fprintf(stderr, "spawn failed: %s\n", s.to_string().c_str());
      return 1;
    }
    w.publish();
  }

  // Reader: every pinned view must show each live entity with both components (spawned together).
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> views{0}, torn{0};
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      PinnedView v = db->pin();
      if (v.count<Transform>() != v.count<Health>() || v.count<Health>() != v.entity_count()) torn.fetch_add(1);
      views.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  // "Network" thread: heal requests through the queue, from a pinned view of the world.
  std::atomic<std::uint64_t> heals_ok{0}, heals_failed{0};
  std::thread network([&] {
    std::mt19937 r(7);
    while (!stop.load(std::memory_order_relaxed)) {
      std::vector<Entity> targets;
      {
        PinnedView v = db->pin();
        v.each<Health>([&](Entity e, const Health& h) {
          if (h.hp < 50 && r() % 8 == 0 && targets.size() < 32) targets.push_back(e);
        });
      }
      std::vector<CommitTicket> tickets;
      for (Entity e : targets) {
        tickets.push_back(db->submit([e](Transaction& t) -> Status {
          const Health* h = t.get<Health>(e);
          if (h == nullptr) return Status(StatusCode::kNotFound, "already dead");
          return t.set(e, &Health::hp, std::min(h->max_hp, h->hp + 25));
        }));
      }
      for (auto& t : tickets) (t.wait().is_ok() ? heals_ok : heals_failed).fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });

  std::uint64_t deltas = 0, destroyed_total = 0;
  std::vector<std::shared_ptr<const Delta>> batch;
  const auto tick_period = opt.tick_hz == 0 ? Clock::duration::zero()
                                            : std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)) / opt.tick_hz;
  const auto start = Clock::now();
  double tick_ms_sum = 0;
  int rc = 0;
  for (std::uint32_t tick = 1; tick <= opt.ticks; ++tick) {
    const auto tick_start = Clock::now();
    Transaction t = w.begin();
    // Move everyone.
    Status s = t.for_each_mut<Transform>([](Entity, Transform& tr) {
      tr.position_x += 1.0f;
      tr.position_y += 0.5f;
    });
    // Damage ~2% of the world; destroy the dead and spawn replacements.
    std::vector<Entity> dead;
    if (s.is_ok()) {
      PinnedView v = db->pin();
      v.each<Health>([&](Entity e, const Health&) {
        if (rng() % 50 != 0) return;
        const Health* h = t.get<Health>(e);
        const std::uint32_t damage = 10 + rng() % 40;
        if (h->hp <= damage) dead.push_back(e);
        else s = t.set(e, &Health::hp, h->hp - damage);
      });
    }
    for (Entity e : dead) {
      if (s.is_ok()) s = t.destroy(e);
    }
    if (s.is_ok()) s = spawn(t, static_cast<std::uint32_t>(dead.size()));
    if (s.is_ok()) s = t.commit();
    if (!s.is_ok()) {
      std::fprintf(stderr, "tick %u failed: %s\n", tick, s.to_string().c_str());
      rc = 1;
      break;
    }
    w.publish();  // readers see the whole tick at once; queued heals join it
    destroyed_total += dead.size();
    tick_ms_sum += std::chrono::duration<double, std::milli>(Clock::now() - tick_start).count();
    deltas += sub->poll(batch);
    batch.clear();
    if (tick % 20 == 0 || tick == opt.ticks) {
      PinnedView v = db->pin();
      std::uint64_t hp = 0;
      v.each<Health>([&](Entity, const Health& h) { hp += h.hp; });
      const DatabaseMetrics m = db->metrics();
      std::printf("tick %4u  version %5llu  entities %6llu  avg hp %5.1f  destroyed %5llu  heals %5llu  "
                  "deltas %5llu  tick %.2f ms  pages copied/publish %.0f\n",
                  tick, static_cast<unsigned long long>(v.version()),
                  static_cast<unsigned long long>(v.entity_count()),
                  v.entity_count() ? double(hp) / double(v.entity_count()) : 0.0,
                  static_cast<unsigned long long>(destroyed_total),
                  static_cast<unsigned long long>(heals_ok.load()), static_cast<unsigned long long>(deltas),
                  tick_ms_sum / tick, m.pages_copied_per_publish_mean);
    }
    if (tick_period != Clock::duration::zero()) std::this_thread::sleep_until(tick_start + tick_period);
  }
  stop = true;
  network.join();
  reader.join();
  w.drain();
  if (!opt.data.empty()) {
    if (Status s = db->snapshot(); !s.is_ok()) {
      std::fprintf(stderr, "snapshot failed: %s\n", s.to_string().c_str());
      rc = 1;
    } else {
      std::printf("snapshot written at version %llu; run the demo again to recover from it\n",
                  static_cast<unsigned long long>(db->published_version()));
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("done: %u ticks in %.2f s, %llu reader views checked, %llu torn, %llu heals committed, "
              "%llu refused\n",
              opt.ticks, seconds, static_cast<unsigned long long>(views.load()),
              static_cast<unsigned long long>(torn.load()), static_cast<unsigned long long>(heals_ok.load()),
              static_cast<unsigned long long>(heals_failed.load()));
  if (torn.load() != 0) {
    std::fprintf(stderr, "demo: a reader saw a partial tick\n");
    return 1;
  }
  return rc;
}

}  // namespace

void add_demo_command(CLI::App& root, int& exit_code) {
  auto opt = std::make_shared<DemoOptions>();
  CLI::App* cmd = root.add_subcommand("demo", "Run an example game loop on a schema (spawn, move, damage, destroy)");
  cmd->add_option("--schema", opt->schema, "Schema TOML file")->capture_default_str();
  cmd->add_option("--entities", opt->entities, "Entities to spawn")->capture_default_str();
  cmd->add_option("--ticks", opt->ticks, "Ticks to simulate")->capture_default_str();
  cmd->add_option("--tick-hz", opt->tick_hz, "Ticks per second (0 = as fast as possible)")->capture_default_str();
  cmd->add_option("--data", opt->data, "Data directory (WAL + snapshots), recovered on restart; \"\" = memory only")
      ->capture_default_str();
  cmd->add_flag("--fresh", opt->fresh, "Delete the data directory first");
  cmd->callback([opt, &exit_code] { exit_code = run_demo(*opt); });
}

}  // namespace ecsdb::cli
