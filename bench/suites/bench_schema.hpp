// The schema every benchmark runs on: the SPEC example (examples/schemas/game.toml) — transform
// {position_x, position_y, position_z: f32} and health {hp, max_hp: u32} per entity — embedded so a
// benchmark binary runs from any directory. Shared by bench/micro and bench/suites.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "ecsdb/bind.hpp"
#include "ecsdb/entity.hpp"
#include "ecsdb/schema.hpp"

namespace ecsdb::bench {

inline constexpr const char* kGameSchemaToml = R"(
[database]
name = "game_db"
version = "1.0.0"
[tables.entities]
primary_key = "id"
[[tables.entities.fields]]
name = "id"
type = "u64"
constraint = "unique"
[tables.transform]
parent_table = "entities"
[[tables.transform.fields]]
name = "entity_id"
type = "u64"
foreign_key = "entities.id"
[[tables.transform.fields]]
name = "position_x"
type = "f32"
[[tables.transform.fields]]
name = "position_y"
type = "f32"
[[tables.transform.fields]]
name = "position_z"
type = "f32"
[tables.health]
parent_table = "entities"
[[tables.health.fields]]
name = "entity_id"
type = "u64"
foreign_key = "entities.id"
[[tables.health.fields]]
name = "hp"
type = "u32"
[[tables.health.fields]]
name = "max_hp"
type = "u32"
)";

struct Transform {
  float position_x, position_y, position_z;
};
struct Health {
  std::uint32_t hp, max_hp;
};

// Deterministic row values for entity number i, shared by ECSDb, the raw baselines and the peers.
inline Transform transform_of(std::size_t i) {
  const auto f = static_cast<float>(i % 1024) / 1024.0f;
  return {f, 1.0f - f, f * 0.5f};
}
inline Health health_of(std::size_t i) { return {static_cast<std::uint32_t>(50 + i % 51), 100}; }

// The parsed schema; nullptr only if the embedded text stops parsing (a bug, reported by the caller).
std::shared_ptr<const Schema> game_schema();

// A world with references, for the on_delete and reverse-reference figures: each entity may follow
// another (cascade: a follower's row goes with its leader) and owns inventory rows (a `many` table).
inline constexpr const char* kRefsSchemaToml = R"(
[database]
name = "refs_db"
version = "1.0.0"
[tables.entities]
primary_key = "id"
[[tables.entities.fields]]
name = "id"
type = "u64"
constraint = "unique"
[tables.follow]
parent_table = "entities"
[[tables.follow.fields]]
name = "entity_id"
type = "u64"
foreign_key = "entities.id"
[[tables.follow.fields]]
name = "target"
type = "entity"
on_delete = "cascade"
[tables.inventory]
parent_table = "entities"
cardinality = "many"
[[tables.inventory.fields]]
name = "owner"
type = "u64"
foreign_key = "entities.id"
[[tables.inventory.fields]]
name = "item"
type = "u32"
)";

struct Follow {
  Entity target;
};
struct InventoryItem {
  std::uint32_t item;
};
std::shared_ptr<const Schema> refs_schema();

}  // namespace ecsdb::bench

ECSDB_COMPONENT(ecsdb::bench::Transform, "transform", position_x, position_y, position_z)
ECSDB_COMPONENT(ecsdb::bench::Health, "health", hp, max_hp)
ECSDB_COMPONENT(ecsdb::bench::Follow, "follow", target)
ECSDB_COMPONENT(ecsdb::bench::InventoryItem, "inventory", item)
