// A simulated game world for `ecsdb serve --simulate N` (`make demo`): N entities with a transform and
// health, moving every tick, some fighting (losing hp), the dead destroyed and replaced by new ones, the
// hurt slowly healing. Each tick is one transaction through Database::submit, like any client's, so the
// dashboard, the change stream and replicas see a live world. Needs the game schema's `transform`
// (position_x/y/z) and `health` (hp, max_hp) tables.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "ecsdb/database.hpp"

namespace ecsdb::server {

class WorldSimulation {
 public:
  WorldSimulation() = default;
  ~WorldSimulation() { stop(); }
  WorldSimulation(const WorldSimulation&) = delete;
  WorldSimulation& operator=(const WorldSimulation&) = delete;

  // Binds the components (an error names what the schema lacks), spawns entities up to `entities` (a
  // recovered world keeps its own), then ticks `hz` times a second on its own thread until stop().
  Status start(Database& db, std::uint32_t entities, std::uint32_t hz);
  // Waits for the tick in progress. Before the database's writer stops.
  void stop();

 private:
  void run(Database& db, std::uint32_t entities, std::uint32_t hz);

  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ecsdb::server
