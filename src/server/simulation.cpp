#include "server/simulation.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include "ecsdb/ecsdb.hpp"

namespace ecsdb::server::sim {
struct Transform {
  float position_x, position_y, position_z;
};
struct Health {
  std::uint32_t hp, max_hp;
};
}  // namespace ecsdb::server::sim

ECSDB_COMPONENT(ecsdb::server::sim::Transform, "transform", position_x, position_y, position_z)
ECSDB_COMPONENT(ecsdb::server::sim::Health, "health", hp, max_hp)

namespace ecsdb::server {

using sim::Health;
using sim::Transform;

namespace {

Status spawn(Transaction& t, std::mt19937& rng, std::uint32_t n) {
  std::uniform_real_distribution<float> place(-500.0f, 500.0f);
  for (std::uint32_t i = 0; i < n; ++i) {
    auto e = t.create();
    if (!e) return e.status();
    ECSDB_RETURN_IF_ERROR(t.put(*e, Transform{place(rng), place(rng), 0.0f}));
    const std::uint32_t max_hp = 50 + static_cast<std::uint32_t>(rng() % 151);
    ECSDB_RETURN_IF_ERROR(t.put(*e, Health{max_hp, max_hp}));
  }
  return Status::ok();
}

}  // namespace

Status WorldSimulation::start(Database& db, std::uint32_t entities, std::uint32_t hz) {
  if (Status s = db.bind<Transform>(); !s.is_ok()) return Status(s.code(), "--simulate needs the game schema's transform table: " + s.message());
  if (Status s = db.bind<Health>(); !s.is_ok()) return Status(s.code(), "--simulate needs the game schema's health table: " + s.message());
  // A recovered world keeps its entities: only the missing ones are spawned.
  const std::uint64_t alive = db.pin().entity_count();
  const auto missing = static_cast<std::uint32_t>(alive < entities ? entities - alive : 0);
  auto seeded = db.submit([missing](Transaction& t) {
    std::mt19937 rng(1);
    return spawn(t, rng, missing);
  }).wait();
  if (!seeded.is_ok()) return Status(seeded.code(), "--simulate: spawning the world: " + seeded.message());
  stop_ = false;
  thread_ = std::thread([this, &db, entities, hz] { run(db, entities, hz); });
  return Status::ok();
}

void WorldSimulation::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void WorldSimulation::run(Database& db, std::uint32_t entities, std::uint32_t hz) {
  using Clock = std::chrono::steady_clock;
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)) / std::max<std::uint32_t>(hz, 1);
  std::uint64_t tick = 0;
  auto next = Clock::now();
  while (!stop_) {
    ++tick;
    const float phase = static_cast<float>(tick) * 0.05f;
    const Status s = db.submit([&db, phase, tick, entities](Transaction& t) -> Status {
      std::mt19937 rng(static_cast<std::uint32_t>(tick));
      // Everyone walks a small circle of their own.
      ECSDB_RETURN_IF_ERROR(t.for_each_mut<Transform>([phase](Entity e, Transform& tr) {
        const float a = phase + static_cast<float>(e.index() % 64) * 0.1f;
        tr.position_x += std::cos(a);
        tr.position_y += std::sin(a);
      }));
      // About 2% fight and lose hp, 1% heal; the dead are destroyed and as many newcomers spawn.
      std::vector<Entity> dead;
      std::vector<std::pair<Entity, std::uint32_t>> hp_changes;
      db.pin().each<Health>([&](Entity e, const Health& h) {
        const std::uint32_t roll = rng() % 100;
        if (roll < 2) {
          const std::uint32_t damage = 5 + rng() % 40;
          if (h.hp <= damage) dead.push_back(e);
          else hp_changes.emplace_back(e, h.hp - damage);
        } else if (roll < 3 && h.hp < h.max_hp) {
          hp_changes.emplace_back(e, std::min(h.max_hp, h.hp + 10));
        }
      });
      for (const auto& [e, hp] : hp_changes) ECSDB_RETURN_IF_ERROR(t.set(e, &Health::hp, hp));
      for (Entity e : dead) ECSDB_RETURN_IF_ERROR(t.destroy(e));
      const std::uint64_t alive = db.pin().entity_count() - dead.size();
      return spawn(t, rng, static_cast<std::uint32_t>(alive < entities ? entities - alive : 0));
    }).wait();
    if (!s.is_ok()) {
      if (s.code() != StatusCode::kUnavailable) spdlog::error("simulation: tick {} failed: {}", tick, s.to_string());
      return;  // the writer is stopping, or the world cannot go on
    }
    next += period;
    std::this_thread::sleep_until(next);
    if (Clock::now() > next + period * 10) next = Clock::now();  // fell far behind: do not try to catch up
  }
}

}  // namespace ecsdb::server
