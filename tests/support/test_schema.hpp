// A small schema used across the storage/txn tests, with bound structs for each table.
#pragma once

#include <cstdint>
#include <memory>

#include "ecsdb/bind.hpp"
#include "ecsdb/database.hpp"
#include "ecsdb/schema.hpp"

namespace ecsdb::testing {

inline constexpr const char* kTestSchemaToml = R"(
[database]
name = "test_db"
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
name = "x"
type = "f32"
[[tables.transform.fields]]
name = "y"
type = "f32"
[[tables.transform.fields]]
name = "z"
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
default = 100

[tables.follow]
parent_table = "entities"
[[tables.follow.fields]]
name = "entity_id"
type = "u64"
foreign_key = "entities.id"
[[tables.follow.fields]]
name = "target"
type = "u64"
foreign_key = "entities.id"
on_delete = "cascade"

[tables.guard]
parent_table = "entities"
[[tables.guard.fields]]
name = "entity_id"
type = "u64"
foreign_key = "entities.id"
[[tables.guard.fields]]
name = "protects"
type = "entity"
on_delete = "restrict"

[tables.aim]
parent_table = "entities"
[[tables.aim.fields]]
name = "entity_id"
type = "u64"
foreign_key = "entities.id"
[[tables.aim.fields]]
name = "at"
type = "entity"
on_delete = "set_null"

[tables.player]
parent_table = "entities"
[[tables.player.fields]]
name = "entity_id"
type = "u64"
foreign_key = "entities.id"
[[tables.player.fields]]
name = "name"
type = "str<16>"
constraint = "unique"
[[tables.player.fields]]
name = "score"
type = "u32"

[tables.item]
parent_table = "entities"
cardinality = "many"
[[tables.item.fields]]
name = "owner"
type = "u64"
foreign_key = "entities.id"
[[tables.item.fields]]
name = "kind"
type = "u16"
[[tables.item.fields]]
name = "count"
type = "u16"
)";

struct Transform { float x, y, z; };
struct Health { std::uint32_t hp, max_hp; };
struct Follow { Entity target; };
struct Guard { Entity protects; };
struct Aim { Entity at; };
struct Player { std::uint32_t score; FixedString<16> name; };
struct Item { std::uint16_t kind, count; };

inline std::shared_ptr<const Schema> test_schema() {
  auto s = parse_schema(kTestSchemaToml, "test_schema.toml");
  if (!s) std::abort();
  return *s;
}

// The test schema's tables before the one whose TOML header is `table_header`.
inline std::shared_ptr<const Schema> test_schema_before(std::string_view table_header) {
  const std::string_view all = kTestSchemaToml;
  auto s = parse_schema(all.substr(0, all.find(table_header)), "test_schema_part.toml");
  if (!s) std::abort();
  return *s;
}
// The entities, transform and health tables alone: no reference column anywhere, so a
// WriterHandle::destroy is applied in place (TransactionWriter::implicit_destroy), not as a transaction.
inline std::shared_ptr<const Schema> plain_schema() { return test_schema_before("[tables.follow]"); }

}  // namespace ecsdb::testing

ECSDB_COMPONENT(ecsdb::testing::Transform, "transform", x, y, z)
ECSDB_COMPONENT(ecsdb::testing::Health, "health", hp, max_hp)
ECSDB_COMPONENT(ecsdb::testing::Follow, "follow", target)
ECSDB_COMPONENT(ecsdb::testing::Guard, "guard", protects)
ECSDB_COMPONENT(ecsdb::testing::Aim, "aim", at)
ECSDB_COMPONENT(ecsdb::testing::Player, "player", score, name)
ECSDB_COMPONENT(ecsdb::testing::Item, "item", kind, count)
