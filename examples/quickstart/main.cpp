// quickstart — a runnable tour of the ECSDb API on examples/schemas/game.toml.
//
//   quickstart [path/to/game.toml]
//
// docs/api-guide.md quotes the code between the `// [guide:NAME]` and `// [guide:end]` markers verbatim
// (tests/integration/check_doc_snippets.py enforces it), and ctest runs this program (example_quickstart):
// every step checks what it expects, and the program exits 1 if any check failed, so the guide's code is
// not only compiled but known to do what the guide says.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "ecsdb/ecsdb.hpp"

#ifndef ECSDB_SOURCE_DIR
#define ECSDB_SOURCE_DIR "."
#endif

// [guide:bind]
namespace game {
// One struct per table, members in the table's row order: fields sorted by alignment, largest first
// (`ecsdb validate game.toml` prints it). The owner key `entity_id` is the row's key, not row bytes, so
// it is not a member.
struct Transform {
  float position_x;
  float position_y;
  float position_z;
};
struct Health {
  std::uint32_t hp;
  std::uint32_t max_hp;
};
}  // namespace game

// At global namespace scope: the table each struct is cast from, and the members that hold its fields.
ECSDB_COMPONENT(game::Transform, "transform", position_x, position_y, position_z)
ECSDB_COMPONENT(game::Health, "health", hp, max_hp)
// [guide:end]

// [guide:relations-schema]
// A second, inline schema for what game.toml does not declare: a `many` table and the three on_delete
// policies. parse_schema() takes TOML text; load_schema_file() reads a file.
constexpr std::string_view kRelationsToml = R"(
[database]
name = "relations"
version = "1.0.0"

[tables.entities]
primary_key = "id"
[[tables.entities.fields]]
name = "id"
type = "u64"
constraint = "unique"

[tables.player]                 # one row per entity; names unique across the table
parent_table = "entities"
[[tables.player.fields]]
name = "entity_id"
type = "entity"
[[tables.player.fields]]
name = "name"
type = "str<16>"
constraint = "unique"
[[tables.player.fields]]
name = "level"
type = "u32"
default = 1

[tables.inventory_item]         # several rows per entity, each with its own RowId
parent_table = "entities"
cardinality = "many"
[[tables.inventory_item.fields]]
name = "owner"
type = "entity"
[[tables.inventory_item.fields]]
name = "template_id"
type = "u32"
[[tables.inventory_item.fields]]
name = "slot"
type = "u16"
[[tables.inventory_item.fields]]
name = "count"
type = "u16"
default = 1

[tables.follow]                 # the follower's row goes when its target is destroyed
parent_table = "entities"
[[tables.follow.fields]]
name = "entity_id"
type = "entity"
[[tables.follow.fields]]
name = "target"
type = "entity"
on_delete = "cascade"

[tables.guard]                  # a protected entity cannot be destroyed while guarded
parent_table = "entities"
[[tables.guard.fields]]
name = "entity_id"
type = "entity"
[[tables.guard.fields]]
name = "protects"
type = "entity"
on_delete = "restrict"

[tables.aggro]                  # the target reference is cleared when the target is destroyed
parent_table = "entities"
[[tables.aggro.fields]]
name = "entity_id"
type = "entity"
[[tables.aggro.fields]]
name = "target"
type = "entity"
on_delete = "set_null"
)";

namespace game {
// `level` (align 4) comes before `name` (str<16>, align 1) in the row: layout order, not TOML order.
struct Player {
  std::uint32_t level;
  ecsdb::FixedString<16> name;
};
struct InventoryItem {
  std::uint32_t template_id;
  std::uint16_t slot;
  std::uint16_t count;
};
struct Follow {
  ecsdb::Entity target;
};
struct Guard {
  ecsdb::Entity protects;
};
struct Aggro {
  ecsdb::Entity target;
};
}  // namespace game

ECSDB_COMPONENT(game::Player, "player", level, name)
ECSDB_COMPONENT(game::InventoryItem, "inventory_item", template_id, slot, count)
ECSDB_COMPONENT(game::Follow, "follow", target)
ECSDB_COMPONENT(game::Guard, "guard", protects)
ECSDB_COMPONENT(game::Aggro, "aggro", target)
// [guide:end]

namespace {

using ecsdb::Entity;
using ecsdb::Status;
using ecsdb::StatusCode;
using game::Health;
using game::Transform;

int g_failures = 0;

// The tour keeps going after a failed check so one run reports every broken step; main() turns the count
// into the exit status.
void expect(bool ok, std::string_view what, std::source_location where = std::source_location::current()) {
  if (ok) return;
  ++g_failures;
  std::fprintf(stderr, "quickstart.cpp:%u: check failed: %.*s\n", static_cast<unsigned>(where.line()),
               static_cast<int>(what.size()), what.data());
}

void expect_ok(const Status& s, std::string_view what, std::source_location where = std::source_location::current()) {
  if (s.is_ok()) return;
  expect(false, std::string(what) + ": " + s.to_string(), where);
}

void section(const char* title) { std::printf("-- %s\n", title); }

// ---- entities ------------------------------------------------------------------------------------------

void tour_entities(ecsdb::Database& db) {
  section("entities and stale ids");
  ecsdb::WriterHandle& w = db.writer();
  // [guide:entities]
  Entity hero = w.create().value();              // an implicit transaction of its own
  std::vector<Entity> crowd;
  expect_ok(w.create_many(3, crowd), "create_many");
  expect_ok(w.destroy(crowd[0]), "destroy");

  // A destroyed id is stale for good: its index is recycled with a new generation, so the old id can
  // never reach the entity that reuses the slot.
  const Entity gone = crowd[0];
  expect(!w.alive(gone), "a destroyed entity is not alive");
  const Status stale = w.add(gone, Health{10, 10});
  expect(stale.code() == StatusCode::kStaleEntity, "writes through a stale id fail");
  const Entity reused = w.create().value();
  expect(reused != gone && w.alive(reused), "a new entity never equals a stale id");
  // [guide:end]
  std::printf("   hero %u v%u, stale id %u v%u -> %s\n", hero.index(), hero.generation(), gone.index(),
              gone.generation(), stale.to_string().c_str());
  expect_ok(w.destroy(hero), "destroy hero");
  expect_ok(w.destroy(crowd[1]), "destroy");
  expect_ok(w.destroy(crowd[2]), "destroy");
  expect_ok(w.destroy(reused), "destroy");
}

// ---- components ----------------------------------------------------------------------------------------

Entity tour_components(ecsdb::Database& db) {
  section("components: add, update, put, set, remove");
  ecsdb::WriterHandle& w = db.writer();
  // [guide:components]
  const Entity orc = w.create().value();
  expect_ok(w.add(orc, Transform{1.0f, 2.0f, 0.0f}), "add transform");
  expect_ok(w.add(orc, Health{100, 100}), "add health");
  // add() refuses a component the entity already has; update() refuses one it lacks; put() does either.
  expect(w.add(orc, Health{1, 1}).code() == StatusCode::kAlreadyExists, "add twice");
  expect_ok(w.update(orc, Health{80, 100}), "update");
  expect_ok(w.put(orc, Health{90, 100}), "put replaces");
  // set() writes one field, and only that field is recorded as changed (deltas, replication).
  expect_ok(w.set(orc, &Health::hp, 75u), "set one field");
  expect(w.get<Health>(orc)->hp == 75, "the writer reads its own commits");
  expect_ok(w.remove<Transform>(orc), "remove");
  expect(w.remove<Transform>(orc).code() == StatusCode::kNotFound, "remove what is absent");
  // [guide:end]
  expect_ok(w.add(orc, Transform{1.0f, 2.0f, 0.0f}), "add transform again");
  return orc;
}

// ---- transactions ---------------------------------------------------------------------------------------

void tour_transactions(ecsdb::Database& db, Entity orc) {
  section("transactions and rollback");
  ecsdb::WriterHandle& w = db.writer();
  // [guide:transaction]
  // Explicit: everything between begin() and commit() is one atomic step; it reads its own writes.
  ecsdb::Transaction t = w.begin();
  const Entity potion_seller = t.create().value();
  expect_ok(t.add(potion_seller, Health{50, 50}), "add in transaction");
  expect_ok(t.set(orc, &Health::hp, 60u), "set in transaction");
  expect(t.get<Health>(orc)->hp == 60, "a transaction reads its own writes");
  expect(!db.pin().alive(potion_seller), "readers never see an open transaction");
  expect_ok(t.commit(), "commit");
  expect(db.pin().get<Health>(orc)->hp == 60, "published at commit (publish_every_commits = 1)");
  // [guide:end]

  // [guide:rollback]
  const std::uint64_t before = db.published_version();
  {
    ecsdb::Transaction doomed = w.begin();
    expect_ok(doomed.set(orc, &Health::hp, 0u), "set");
    expect_ok(doomed.destroy(potion_seller), "destroy");
    doomed.rollback();                         // explicit
  }
  {
    ecsdb::Transaction dropped = w.begin();
    expect_ok(dropped.set(orc, &Health::hp, 0u), "set");
  }                                            // destroyed without commit(): rolled back too
  expect(w.get<Health>(orc)->hp == 60 && w.alive(potion_seller), "rollback restores everything");
  expect(db.published_version() == before, "nothing to publish after a rollback");
  // [guide:end]

  // [guide:exception]
  // An exception thrown inside a transaction unwinds through ~Transaction, which rolls it back.
  try {
    ecsdb::Transaction t2 = w.begin();
    expect_ok(t2.set(orc, &Health::hp, 1u), "set");
    throw std::runtime_error("game logic failed");
  } catch (const std::runtime_error&) {
  }
  expect(w.get<Health>(orc)->hp == 60, "an exception rolls back");
  // [guide:end]
  expect_ok(w.destroy(potion_seller), "destroy");
}

// ---- many tables and constraints --------------------------------------------------------------------------

void tour_relations() {
  section("many tables, constraints and on_delete");
  using game::Aggro;
  using game::Follow;
  using game::Guard;
  using game::InventoryItem;
  using game::Player;
  auto schema = ecsdb::parse_schema(kRelationsToml, "relations.toml");
  expect_ok(schema.status(), "parse relations schema");
  if (!schema) return;
  std::unique_ptr<ecsdb::Database> db = std::move(ecsdb::Database::open(*schema).value());
  ecsdb::WriterHandle& w = db->writer();

  // [guide:many]
  const Entity alice = w.create().value();
  const ecsdb::RowId sword = w.insert_child(alice, InventoryItem{.template_id = 7, .slot = 0, .count = 1}).value();
  const ecsdb::RowId arrows = w.insert_child(alice, InventoryItem{.template_id = 9, .slot = 1, .count = 50}).value();
  {
    ecsdb::PinnedView view = db->pin();
    const std::vector<ecsdb::RowId> items = view.children("inventory_item", alice).value();
    expect(items.size() == 2 && items[0] == sword && items[1] == arrows, "children in insertion order");
    // A row of a `many` table is keyed by its RowId (passed as the key bits).
    const ecsdb::Value count = view.read_field("inventory_item", Entity::from_bits(arrows.bits()), "count").value();
    expect(count.uinteger == 50, "read a child row by RowId");
  }
  ecsdb::Transaction t = w.begin();
  expect_ok(t.update_child(arrows, InventoryItem{.template_id = 9, .slot = 1, .count = 49}), "update_child");
  expect_ok(t.remove_child("inventory_item", sword), "remove_child");
  expect_ok(t.commit(), "commit");
  expect(db->pin().children("inventory_item", alice).value().size() == 1, "one item left");
  // [guide:end]

  // [guide:constraints]
  // Constraints are checked at commit: a failing commit changes nothing and names table, field and value.
  const Entity bob = w.create().value();
  expect_ok(w.add(alice, Player{.level = 3, .name = "alice"}), "add player");
  const Status dup = w.add(bob, Player{.level = 1, .name = "alice"});
  expect(dup.code() == StatusCode::kConstraintViolation, "unique name");
  std::printf("   %s\n", dup.to_string().c_str());

  // Inside a transaction only the state at commit counts: a swap of unique values passes.
  expect_ok(w.add(bob, Player{.level = 1, .name = "bob"}), "add player");
  ecsdb::Transaction swap = w.begin();
  expect_ok(swap.set(alice, &Player::name, ecsdb::FixedString<16>("bob")), "set");
  expect_ok(swap.set(bob, &Player::name, ecsdb::FixedString<16>("alice")), "set");
  expect_ok(swap.commit(), "swap commits");

  // A reference to a dead entity fails at commit.
  const Entity ghost = w.create().value();
  expect_ok(w.destroy(ghost), "destroy");
  expect(w.add(bob, Follow{ghost}).code() == StatusCode::kConstraintViolation, "reference to a dead entity");
  // [guide:end]

  // [guide:on-delete]
  const Entity dragon = w.create().value();
  const Entity squire = w.create().value();
  expect_ok(w.add(bob, Follow{dragon}), "follow");        // cascade
  expect_ok(w.add(squire, Guard{bob}), "guard");          // restrict
  expect_ok(w.add(alice, Aggro{dragon}), "aggro");        // set_null

  const Status refused = w.destroy(bob);
  expect(refused.code() == StatusCode::kConstraintViolation && w.alive(bob), "restrict blocks destroy");
  std::printf("   %s\n", refused.to_string().c_str());

  expect_ok(w.destroy(dragon), "destroy dragon");
  ecsdb::PinnedView view = db->pin();
  expect(!view.has<Follow>(bob), "cascade deleted bob's follow row");
  expect(view.get<Aggro>(alice)->target.is_null(), "set_null cleared alice's target");
  expect(view.children("inventory_item", alice).value().size() == 1, "owned rows are untouched");
  // Destroying an entity deletes its own components and `many` rows (the owner key cascades).
  // [guide:end]

  // [guide:referencing]
  // Who references an entity: entity-ref fields holding it and `many` rows it owns, from the
  // reverse-reference index kept in every version (no table scan).
  expect_ok(w.add(squire, Aggro{alice}), "aggro");
  for (const ecsdb::Reference& r : db->pin().referencing(alice)) {
    std::printf("   %.*s.%.*s of row %llx references alice\n", static_cast<int>(r.table.size()), r.table.data(),
                static_cast<int>(r.field.size()), r.field.data(), static_cast<unsigned long long>(r.key));
  }
  expect(db->pin().referencing(alice).size() == 2, "squire's aggro and alice's remaining item");
  // [guide:end]
  expect_ok(w.destroy(alice), "destroy alice");
  expect(db->pin().children("inventory_item", alice).value().empty(), "children die with their owner");
}

// ---- reading ------------------------------------------------------------------------------------------------

void tour_reading(ecsdb::Database& db) {
  section("reading through a pinned view");
  ecsdb::WriterHandle& w = db.writer();
  std::vector<Entity> mobs;
  expect_ok(w.create_many(10, mobs), "create_many");
  for (std::uint32_t i = 0; i < mobs.size(); ++i) {
    expect_ok(w.add(mobs[i], Transform{float(i), 0.0f, 0.0f}), "add");
    if (i % 2 == 0) expect_ok(w.add(mobs[i], Health{i, 100}), "add");
  }

  // [guide:read]
  ecsdb::PinnedView view = db.pin();                 // any thread; a consistent snapshot of every table
  const Health* h = view.get<Health>(mobs[4]);       // zero-copy: points into the pinned version
  expect(h != nullptr && h->hp == 4, "get");
  expect(view.get<Health>(mobs[3]) == nullptr && !view.has<Health>(mobs[3]), "absent component");

  std::uint64_t total_hp = 0;
  view.each<Health>([&](Entity, const Health& health) { total_hp += health.hp; });

  // Several components: entities that have all of them, driven by the smallest table.
  std::size_t wounded_movers = 0;
  for (auto [e, transform, health] : view.query<Transform, Health>()) {
    if (health.hp < health.max_hp && transform.position_x >= 0) ++wounded_movers;
  }
  expect(total_hp == 0 + 2 + 4 + 6 + 8 && wounded_movers == 5, "each and query");

  // query() is a std::ranges::forward_range of std::tuple<Entity, const T&...>: algorithms and views take it.
  const auto above_five = std::ranges::count_if(view.query<Health>(),
                                                [](const auto& row) { return std::get<1>(row).hp > 5; });
  expect(above_five == 2, "ranges over a query");
  // [guide:end]

  // [guide:lifetime]
  // A pinned version never changes: the writer copies the pages it touches, so `h` keeps pointing at the
  // old, unchanged row until `view` is destroyed. A new pin sees the new state.
  expect_ok(w.set(mobs[4], &Health::hp, 99u), "set");
  expect(h->hp == 4, "the pinned snapshot is unchanged");
  expect(db.pin().get<Health>(mobs[4])->hp == 99, "a new pin sees the commit");
  // [guide:end]
  std::printf("   %zu entities with health, version %llu pinned, %llu published\n", view.count<Health>(),
              static_cast<unsigned long long>(view.version()),
              static_cast<unsigned long long>(db.published_version()));
  for (Entity e : mobs) expect_ok(w.destroy(e), "destroy");
}

// ---- dynamic access ------------------------------------------------------------------------------------------

void tour_dynamic(ecsdb::Database& db, Entity orc) {
  section("dynamic access by name");
  ecsdb::WriterHandle& w = db.writer();
  // [guide:dynamic]
  // Tools, scripts and the HTTP API work by table and field name with ecsdb::Value; values are checked
  // against the schema type.
  expect_ok(w.set_field("transform", orc.bits(), "position_z", ecsdb::Value::from_float(5.0)), "set_field");
  const Status wrong = w.set_field("health", orc.bits(), "hp", ecsdb::Value::from_int(-1));
  expect(wrong.code() == StatusCode::kInvalidArgument, "out of range for u32");

  const Entity npc = w.create().value();
  expect_ok(w.add_row("health", npc, {{"hp", ecsdb::Value::from_uint(30)}, {"max_hp", ecsdb::Value::from_uint(30)}}),
            "add_row");

  ecsdb::PinnedView view = db.pin();
  const ecsdb::Row row = view.read_row("transform", orc).value();
  for (const auto& [field, value] : row) std::printf("   transform.%s = %s\n", field.c_str(), value.to_string().c_str());
  expect(view.read_field("health", npc, "hp").value().uinteger == 30, "read_field");
  expect(view.get<Transform>(orc)->position_z == 5.0f, "dynamic and typed access see the same bytes");
  // [guide:end]
  expect_ok(w.destroy(npc), "destroy");
}

// ---- subscriptions ------------------------------------------------------------------------------------------

void tour_subscription(ecsdb::Database& db, Entity orc) {
  section("subscriptions and deltas");
  ecsdb::WriterHandle& w = db.writer();
  // [guide:subscribe]
  ecsdb::Subscription sub = db.subscribe({.tables = {"health"}, .capacity = 256}).value();
  expect_ok(w.set(orc, &Health::hp, 42u), "set");

  std::vector<std::shared_ptr<const ecsdb::Delta>> deltas;
  sub.poll(deltas);                                  // any one thread; oldest first, in commit order
  const std::uint16_t health = db.table_id("health").value();
  const std::uint16_t hp = db.schema().find_table("health")->find_field("hp")->id;
  bool saw_hp = false;
  for (const auto& delta : deltas) {
    const ecsdb::TableDelta* changes = delta->find(health);
    if (changes == nullptr) continue;
    for (const ecsdb::RowUpdate& u : changes->updates) {
      // Only the changed fields travel: the mask names them, their bytes follow in row order.
      saw_hp |= u.key == orc.bits() && u.field_mask == ecsdb::field_bit(hp) && u.size == sizeof(std::uint32_t);
    }
  }
  expect(saw_hp, "the delta carries the one changed field");
  if (sub.take_lost()) {
    // The buffer overflowed: re-read what you mirror from db.pin(), then continue polling.
  }
  // [guide:end]
}

// ---- submitting from other threads ----------------------------------------------------------------------------

void tour_submit(ecsdb::Database& db, Entity orc) {
  section("submit from other threads");
  ecsdb::WriterHandle& w = db.writer();
  // [guide:submit]
  // A network thread cannot use the writer; it submits a transaction body and gets a ticket at once.
  std::atomic<bool> answered{false};
  Status outcome;
  std::thread network([&db, &answered, &outcome, orc] {
    ecsdb::CommitTicket ticket = db.submit([orc](ecsdb::Transaction& t) -> Status {
      const Health* h = t.get<Health>(orc);      // runs on the writer: sees every earlier commit
      if (h == nullptr) return Status(StatusCode::kNotFound, "no health");
      return t.set(orc, &Health::hp, h->max_hp);
    });
    outcome = ticket.wait();                     // blocks this thread only
    answered = true;
  });
  // The simulation thread owns the writer and runs queued bodies when it drains: a game drains (or
  // publishes, which drains first) once per tick; here we drain until the network thread has its answer.
  while (!answered.load()) {
    w.drain();
    std::this_thread::yield();
  }
  network.join();
  expect_ok(outcome, "the queued heal");
  expect(db.pin().get<Health>(orc)->hp == 100, "the heal is published");
  // [guide:end]

  // [guide:writer-thread]
  // A server without a simulation thread lets a dedicated writer thread drain the queue continuously.
  expect_ok(db.start_writer_thread(), "start writer thread");
  std::vector<ecsdb::CommitTicket> tickets;
  for (std::uint32_t i = 0; i < 100; ++i) {
    tickets.push_back(db.submit([orc, i](ecsdb::Transaction& t) { return t.set(orc, &Health::hp, i); }));
  }
  tickets.push_back(db.submit([](ecsdb::Transaction&) { return Status(StatusCode::kAborted, "changed my mind"); }));
  for (std::size_t i = 0; i + 1 < tickets.size(); ++i) expect_ok(tickets[i].wait(), "queued set");
  expect(tickets.back().wait().code() == StatusCode::kAborted, "a failing body changes nothing");
  db.stop_writer_thread();                           // drains what is queued; writer() is usable again
  expect(db.pin().get<Health>(orc)->hp == 99, "queued bodies run in submission order");
  // [guide:end]
}

// [guide:batching]
// Batching: publish once per game tick instead of once per commit, and bound how long the writer thread
// lets a batch of queued transactions grow before publishing it.
ecsdb::DatabaseOptions tick_batched_options() {
  return ecsdb::DatabaseOptions{
      .publish_every_commits = 0,     // only WriterHandle::publish() makes commits visible
      .batch_max_transactions = 1024, // queued transactions per published batch...
      .batch_max_delay_us = 500,      // ...or once the batch is 0.5 ms old and the queue is empty
  };
}
// [guide:end]

void tour_batching(const std::shared_ptr<const ecsdb::Schema>& schema) {
  section("publish once per tick");
  std::unique_ptr<ecsdb::Database> db = std::move(ecsdb::Database::open(schema, tick_batched_options()).value());
  ecsdb::WriterHandle& w = db->writer();
  // [guide:tick]
  const std::uint64_t before = db->published_version();
  const Entity a = w.create().value();
  expect_ok(w.add(a, Health{10, 10}), "add");        // committed: the writer sees it...
  expect(w.get<Health>(a) != nullptr && !db->pin().alive(a), "...readers do not, yet");
  w.publish();                                       // end of tick: one atomic step for readers
  expect(db->pin().get<Health>(a)->hp == 10 && db->published_version() == before + 1, "published");
  // [guide:end]
}

// ---- optimistic read sets ---------------------------------------------------------------------------------------

void tour_optimistic(ecsdb::Database& db, Entity orc) {
  section("optimistic transactions");
  ecsdb::WriterHandle& w = db.writer();
  // [guide:optimistic]
  // A client decides from what it read; the write must not land if that row changed meanwhile.
  ecsdb::ReadSet reads;
  std::uint32_t seen_hp = 0;
  {
    ecsdb::PinnedView view = db.pin();
    seen_hp = reads.read<Health>(view, orc)->hp;   // records the row's bytes as read
  }
  expect_ok(w.set(orc, &Health::hp, seen_hp - 1), "someone else writes first");

  auto halve = [orc, seen_hp](ecsdb::Transaction& t) { return t.set(orc, &Health::hp, seen_hp / 2); };
  ecsdb::CommitTicket stale = db.submit(halve, std::move(reads));
  w.drain();
  expect(stale.wait().code() == StatusCode::kConflict, "a changed read set fails with kConflict");
  expect(w.get<Health>(orc)->hp == seen_hp - 1, "...and changes nothing");
  // Retry: read again, decide again, submit again.
  // [guide:end]
}

// ---- metrics ------------------------------------------------------------------------------------------------------

void tour_bulk(ecsdb::Database& db) {
  section("bulk writes and batch reads");
  ecsdb::WriterHandle& w = db.writer();
  // [guide:bulk]
  std::vector<Entity> swarm;
  std::vector<Transform> positions(10000, Transform{0, 0, 0});
  ecsdb::Transaction t = w.begin();
  expect_ok(t.create_many(positions.size(), swarm), "create_many");
  expect_ok(t.add_many<Transform>(swarm, positions), "add_many");  // rows copied page by page
  expect_ok(t.commit(), "commit");
  // [guide:end]
  // [guide:get-many]
  ecsdb::PinnedView view = db.pin();
  std::vector<const Transform*> found(swarm.size());
  view.get_many<Transform>(swarm, found);  // lookups issued in waves so cache misses overlap
  expect(found[9999] != nullptr, "every swarm member has a transform");
  // [guide:end]
  // [guide:reader]
  const auto transforms = view.reader<Transform>();  // the table resolved once, for a loop of gets
  float sum_x = 0;
  for (Entity e : swarm) {
    if (const Transform* tr = transforms.get(e)) sum_x += tr->position_x;
  }
  expect(sum_x == 0 && transforms.has(swarm[0]), "a reader answers like get and has");
  // [guide:end]
}

void tour_durability(const std::shared_ptr<const ecsdb::Schema>& schema) {
  section("durability");
  const std::string dir = (std::filesystem::temp_directory_path() / "ecsdb-quickstart").string();
  std::filesystem::remove_all(dir);
  Entity hero;
  {
    // [guide:durable-open]
    ecsdb::DatabaseOptions options;
    options.data_dir = dir;                            // WAL + snapshots live here; recovered at open
    options.durability = ecsdb::Durability::kSync;     // queued transactions resolve after fdatasync
    std::unique_ptr<ecsdb::Database> db = std::move(ecsdb::Database::open(schema, options).value());
    // [guide:end]
    // [guide:durable-write]
    ecsdb::WriterHandle& w = db->writer();
    hero = w.create().value();
    expect_ok(w.add(hero, Health{75, 100}), "add");
    expect_ok(db->flush(), "flush");        // everything committed so far is on stable storage
    expect_ok(db->snapshot(), "snapshot");  // written from a pinned view; the writer keeps going
    expect_ok(db->health(), "health");      // an fsync failure would turn the database read-only
    // [guide:end]
    // [guide:acknowledged]
    // The owner's commit() returns at once (a game loop never waits for the disk); ask for more per commit.
    ecsdb::Transaction t = w.begin();
    expect_ok(t.set(hero, &Health::hp, 80u), "set");
    expect_ok(t.commit(ecsdb::Durability::kSync), "commit");  // returns once its log record is on disk
    // A reader that must only see state that survives a crash (e.g. before telling a client "saved"):
    ecsdb::PinnedView saved = db->pin_durable().value();
    expect(saved.version() <= db->durable_version(), "everything this view shows is on disk");
    // [guide:end]
  }
  // [guide:recover]
  ecsdb::DatabaseOptions options;
  options.data_dir = dir;
  std::unique_ptr<ecsdb::Database> db = std::move(ecsdb::Database::open(schema, options).value());
  for (const std::string& note : db->recovery_notes()) std::printf("   recovery: %s\n", note.c_str());
  expect(db->pin().get<Health>(hero)->hp == 80, "the hero survived the restart");
  // [guide:end]
  db.reset();
  std::filesystem::remove_all(dir);
}

void tour_metadata(ecsdb::Database& db) {
  section("schema as data");
  // [guide:metadata]
  for (const ecsdb::Row& field : db.metadata("fields").value()) {
    if (field[0].second.string == "health") {
      std::printf("   health.%s: %s at offset %s\n", field[1].second.string.c_str(),
                  field[3].second.string.c_str(), field[4].second.to_string().c_str());
    }
  }
  // [guide:end]
}

void tour_metrics(ecsdb::Database& db) {
  section("metrics");
  // [guide:metrics]
  const ecsdb::DatabaseMetrics m = db.metrics();
  std::printf("   commits %llu, rollbacks %llu, published version %llu, entities %llu\n"
              "   pinned views %llu, retired bytes %llu, bytes in use %llu, pages copied %llu\n"
              "   submitted %llu, submit->visible p50 %llu ns\n",
              static_cast<unsigned long long>(m.commits), static_cast<unsigned long long>(m.rollbacks),
              static_cast<unsigned long long>(m.published_version),
              static_cast<unsigned long long>(m.entities_alive), static_cast<unsigned long long>(m.pinned_views),
              static_cast<unsigned long long>(m.retired_bytes), static_cast<unsigned long long>(m.bytes_in_use),
              static_cast<unsigned long long>(m.pages_copied_total), static_cast<unsigned long long>(m.submitted),
              static_cast<unsigned long long>(m.submit_to_visible_p50_ns));
  expect(m.pinned_views == 0, "no view outlives its scope here");
  // [guide:end]
  expect(m.commits > 0 && m.rollbacks >= 3 && m.submitted > 100, "metrics count what the tour did");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string schema_path = argc > 1 ? argv[1] : ECSDB_SOURCE_DIR "/examples/schemas/game.toml";

  // [guide:open]
  auto schema = ecsdb::load_schema_file(schema_path);
  if (!schema) {
    // Every error of the file, one per line, as file:line:column: table 'health', field 'hp': ...
    std::fprintf(stderr, "%s\n", schema.status().to_string().c_str());
    return 2;
  }
  auto opened = ecsdb::Database::open(*schema);   // default DatabaseOptions: publish after every commit
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.status().to_string().c_str());
    return 1;
  }
  std::unique_ptr<ecsdb::Database> db = std::move(*opened);
  // [guide:end]

  // [guide:bind-check]
  // Typed calls bind on first use; binding at start-up reports a layout mismatch before the game runs.
  for (const Status& s : {db->bind<Transform>(), db->bind<Health>()}) {
    if (!s.is_ok()) {
      std::fprintf(stderr, "%s\n", s.to_string().c_str());   // binding mismatch: names the field
      return 1;
    }
  }
  // [guide:end]
  std::printf("opened %s %s from %s\n", db->schema().database.c_str(), db->schema().version.c_str(),
              schema_path.c_str());

  tour_entities(*db);
  tour_reading(*db);
  const Entity orc = tour_components(*db);
  tour_transactions(*db, orc);
  tour_relations();
  tour_dynamic(*db, orc);
  tour_subscription(*db, orc);
  tour_submit(*db, orc);
  tour_batching(*schema);
  tour_optimistic(*db, orc);
  tour_bulk(*db);
  tour_metadata(*db);
  tour_durability(*schema);
  tour_metrics(*db);

  if (g_failures != 0) {
    std::fprintf(stderr, "quickstart: %d check(s) failed\n", g_failures);
    return 1;
  }
  std::printf("quickstart: every check passed\n");
  return 0;
}
