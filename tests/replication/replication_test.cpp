// Replication over real loopback TCP (docs/replication.md): replicas converge to the server after random
// transactions, through a faulty connection (cut mid-frame, delayed, duplicated and reordered frames), after
// falling far behind, and across a server restart; a slow client never makes the server buffer without
// bound; writes are committed, checked for permissions and ownership, and a write overwritten before its
// author saw it is reported to that author.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "ecsdb/replica.hpp"
#include "ecsdb/replication_server.hpp"
#include "replication/change_set.hpp"
#include "replication/protocol.hpp"
#include "txn/database_access.hpp"
#include "support/temp_dir.hpp"
#include "support/table_checks.hpp"
#include "support/test_schema.hpp"
#include "support/version_dump.hpp"

namespace ecsdb {
namespace {

using namespace std::chrono_literals;
using testing::Aim;
using testing::Follow;
using testing::Health;
using testing::Item;
using testing::Player;
using testing::Transform;

// ---- the server side ----

struct Server {
  std::unique_ptr<Database> db;
  std::unique_ptr<ReplicationServer> repl;

  static std::unique_ptr<Server> start(ReplicationOptions o = {}, DatabaseOptions d = {}, std::uint16_t port = 0) {
    auto s = std::make_unique<Server>();
    s->db = Database::open(testing::test_schema(), d).value();
    EXPECT_TRUE(s->db->start_writer_thread().is_ok());
    o.port = port;
    s->repl = std::make_unique<ReplicationServer>(*s->db, o);
    const Status started = s->repl->start();
    EXPECT_TRUE(started.is_ok()) << started.to_string();
    return s;
  }
  ~Server() {
    if (repl) repl->stop();
    repl.reset();
    if (db) db->stop_writer_thread();
  }
  std::uint16_t port() const { return repl->port(); }
};

// Random transactions through the queue: entities created and destroyed, components put and removed,
// fields set, `many` rows inserted, references made (some transactions fail a restrict: nothing changes).
class Workload {
 public:
  // `min_live`: below this many live entities, every operation creates one (a bigger world: more rows
  // survive to be updated again).
  explicit Workload(std::uint64_t seed, std::size_t min_live = 6) : rng_(seed), min_live_(min_live) {}

  void run(Database& db, int transactions) {
    for (int i = 0; i < transactions; ++i) {
      std::vector<Entity> live = live_;
      const std::uint64_t seed = rng_();
      auto body = [live, seed, min_live = min_live_](Transaction& t) -> Status {
        std::mt19937_64 rng(seed);
        std::vector<Entity> alive = live;
        const auto pick = [&] { return alive[rng() % alive.size()]; };
        for (int op = 0; op < 1 + static_cast<int>(rng() % 6); ++op) {
          Status s;
          switch (alive.size() < min_live ? 0 : rng() % 11) {
            case 0: alive.push_back(t.create().value()); break;
            case 1: s = t.put(pick(), Transform{float(rng() % 100), float(rng() % 100), float(rng() % 7)}); break;
            case 2: s = t.put(pick(), Health{static_cast<std::uint32_t>(rng() % 100), static_cast<std::uint32_t>(rng() % 300)}); break;
            case 3: s = t.put(pick(), Follow{pick()}); break;
            case 4: s = t.insert_child(pick(), Item{static_cast<std::uint16_t>(rng() % 5), 1}).status(); break;
            case 5: {
              const Entity e = pick();
              if (t.get<Health>(e) != nullptr) s = t.set(e, &Health::hp, static_cast<std::uint32_t>(rng() % 1000));
              break;
            }
            case 6: {
              const Entity e = pick();
              if (t.get<Transform>(e) != nullptr) s = t.remove<Transform>(e);
              break;
            }
            case 7: s = t.put(pick(), Aim{pick()}); break;
            case 8: {
              const Entity e = pick();
              if (t.get<Health>(e) != nullptr) s = t.set(e, &Health::max_hp, static_cast<std::uint32_t>(rng() % 1000));
              break;
            }
            default: {
              const Entity e = pick();
              s = t.destroy(e);
              std::erase(alive, e);
              break;
            }
          }
          if (!s.is_ok()) return s;
        }
        return Status::ok();
      };
      (void)db.submit(body).wait();
      refresh(db);
    }
  }

 private:
  void refresh(Database& db) {
    const PinnedView v = db.pin();
    live_.clear();
    const detail::RegistryState& reg = v.state().registry;
    for (std::uint32_t i = 0; i < reg.used; ++i) {
      if (reg.slot(i)->alive()) live_.push_back(Entity(i, reg.slot(i)->generation));
    }
  }

  std::mt19937_64 rng_;
  std::size_t min_live_;
  std::vector<Entity> live_;
};

// Everything a view holds of `tables` (empty: all): live entities, and per table its rows as
// (key, owner, bytes), order-insensitive (a replica's row order may differ from the server's).
using Rows = std::multiset<std::tuple<std::uint64_t, std::uint64_t, std::vector<std::byte>>>;
struct Contents {
  std::set<std::uint64_t> entities;
  std::map<std::string, Rows> tables;
  bool operator==(const Contents&) const = default;
};

// Which rows a filtered replica should hold (null: all).
using RowPredicate = std::function<bool(const Table&, std::uint64_t key, std::uint64_t owner, const std::byte* row)>;

Contents contents(const PinnedView& v, const Schema& schema, const std::set<std::string>& tables, const RowPredicate& keep = {}) {
  Contents c;
  const detail::VersionState& s = v.state();
  for (std::uint32_t i = 0; i < s.registry.used; ++i) {
    if (s.registry.slot(i)->alive()) c.entities.insert(Entity(i, s.registry.slot(i)->generation).bits());
  }
  for (const Table& t : schema.tables) {
    if (t.is_entity_table || (!tables.empty() && !tables.contains(t.name))) continue;
    Rows& rows = c.tables[t.name];
    const detail::TableState& ts = s.tables[t.id];
    for (std::uint32_t r = 0; r < ts.row_count; ++r) {
      const std::uint64_t key = ts.key_at(r, s.registry);
      std::uint64_t owner = 0;
      if (t.cardinality == Cardinality::kMany) std::memcpy(&owner, ts.owners.at(r), 8);
      const std::byte* row = ts.stride == 0 ? nullptr : ts.rows.at(r);
      if (keep && !keep(t, key, owner, row)) continue;
      rows.emplace(key, owner, std::vector<std::byte>(row, row + ts.stride));
    }
  }
  return c;
}

// Waits until `replica` reaches the server's version, then compares both at that version.
void expect_converged(Database& server, Replica& replica, const std::set<std::string>& tables, const std::string& who) {
  const std::uint64_t target = server.published_version();
  ASSERT_TRUE(replica.wait_for_version(target, 20s))
      << who << ": at version " << replica.version() << ", server at " << target << "; status " << replica.status().to_string();
  const PinnedView theirs = server.pin();
  const PinnedView mine = replica.pin();
  ASSERT_EQ(theirs.version(), target) << "the server moved on during the comparison";
  EXPECT_EQ(replica.version(), target) << who;
  EXPECT_EQ(mine.version(), target) << who << ": the replica publishes under the server's version numbers";
  const Contents expected = contents(theirs, server.schema(), tables);
  const Contents got = contents(mine, replica.schema(), tables);
  EXPECT_EQ(got.entities, expected.entities) << who;
  for (const auto& [name, rows] : expected.tables) EXPECT_EQ(got.tables.at(name), rows) << who << ": table " << name;
  // Tables outside the subscription stay empty.
  const Contents all = contents(mine, replica.schema(), {});
  for (const auto& [name, rows] : all.tables) {
    if (!tables.empty() && !tables.contains(name)) {
      EXPECT_TRUE(rows.empty()) << who << ": unsubscribed table " << name;
    }
  }
}

// A filtered replica: waits until it holds exactly the server's rows of `tables` that `keep` admits (a
// subscription change at an idle moment moves no version number, so the contents are what is waited for).
void expect_filtered(Database& server, Replica& replica, const std::set<std::string>& tables, const RowPredicate& keep,
                     const std::string& who) {
  const std::uint64_t target = server.published_version();
  ASSERT_TRUE(replica.wait_for_version(target, 20s))
      << who << ": at version " << replica.version() << ", server at " << target << "; status " << replica.status().to_string();
  const PinnedView theirs = server.pin();
  ASSERT_EQ(theirs.version(), target) << "the server moved on during the comparison";
  // Every table: the unsubscribed ones must be empty.
  const Contents expected = contents(theirs, server.schema(), {}, [&](const Table& t, std::uint64_t key, std::uint64_t owner, const std::byte* row) {
    return tables.contains(t.name) && (!keep || keep(t, key, owner, row));
  });
  Contents got;
  for (const auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
    got = contents(replica.pin(), replica.schema(), {});
    if (got == expected) break;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(replica.status().is_ok()) << who << ": " << replica.status().to_string();
  EXPECT_EQ(got.entities, expected.entities) << who;
  std::size_t held = 0;
  for (const auto& [name, rows] : got.tables) {
    EXPECT_EQ(rows, expected.tables.at(name)) << who << ": table " << name << (tables.contains(name) ? "" : " (unsubscribed)");
    held += rows.size();
  }
  EXPECT_GT(held, 0u) << who << ": the filters admitted nothing: the test would prove little";
}

std::unique_ptr<Replica> connect(std::uint16_t port, std::vector<std::string> tables = {}, std::string token = {},
                                 bool durable_only = false) {
  ReplicaOptions o;
  o.port = port;
  o.tables = std::move(tables);
  o.token = std::move(token);
  o.durable_only = durable_only;
  o.reconnect_min_ms = 10;
  o.reconnect_max_ms = 200;
  auto r = Replica::connect(o);
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  return r ? std::move(*r) : nullptr;
}

// The state-based catch-up: folding versions (a, b] into a ChangeSet and building the frame from a view of b
// brings a copy at a to exactly the state at b, for random transactions and random a < b.
TEST(ReplicationTest, ChangeSetCatchUpEqualsApplyingEachVersion) {
  auto server = Database::open(testing::test_schema()).value();
  ASSERT_TRUE(server->start_writer_thread().is_ok());
  auto sub = server->subscribe({.capacity = 1 << 16, .every_version = true});
  ASSERT_TRUE(sub.has_value());
  std::vector<std::shared_ptr<const Delta>> deltas;
  std::mt19937_64 rng(8);
  Workload w(8, 150);
  for (int round = 0; round < 40; ++round) {
    // A copy brought to some version a by applying each version, as a replica that keeps up does.
    auto copy = Database::open(testing::test_schema()).value();
    detail::WriterCore& core = detail::DatabaseAccess::core(*copy);
    w.run(*server, 40 + static_cast<int>(rng() % 60));
    sub->poll(deltas);
    const std::size_t a = rng() % deltas.size();
    for (std::size_t i = 0; i < a; ++i) ASSERT_TRUE(core.apply_replicated(*deltas[i], deltas[i]->version).is_ok());
    // Then (a, b] at once, from keys and masks plus the values of a view of b (the server is idle: b is now).
    replication::ChangeSet changes(server->schema(), std::vector<bool>(server->schema().tables.size(), true));
    for (std::size_t i = a; i < deltas.size(); ++i) changes.fold(*deltas[i]);
    const PinnedView now = server->pin();
    ASSERT_EQ(now.version(), changes.version());
    const Status applied = core.apply_replicated(changes.build(now), changes.version());
    ASSERT_TRUE(applied.is_ok()) << "round " << round << ": " << applied.to_string();
    const PinnedView mine = copy->pin();
    const Contents expected = contents(now, server->schema(), {});
    const Contents got = contents(mine, copy->schema(), {});
    EXPECT_EQ(got.entities, expected.entities) << "round " << round;
    for (const auto& [name, rows] : expected.tables) EXPECT_EQ(got.tables.at(name), rows) << "round " << round << ", table " << name;
    if (HasFailure()) break;
  }
  server->stop_writer_thread();
}

// Copies of `good` that a replica holding the state before it must refuse, each failing as late as its
// kind of damage allows, so that as much as possible of it is applied before the refusal.
std::vector<Delta> refused_versions_of(const Delta& good, const detail::VersionState& held) {
  std::vector<Delta> out;
  const std::uint64_t missing = Entity(held.registry.used + 1000, 1).bits();  // no table has this key
  {  // Everything applied, then an update of a row that is not there.
    Delta d = good;
    if (d.tables.empty()) d.tables.emplace_back().table = 1;
    d.tables.back().updates.push_back(RowUpdate{missing, 1, 0, 0});
    out.push_back(std::move(d));
  }
  for (std::size_t i = 0; i < good.tables.size(); ++i) {
    // A row the table's sequence places, no longer listed as inserted.
    const TableDelta& t = good.tables[i];
    if (t.sequence.empty() || t.inserted_keys.empty()) continue;
    Delta d = good;
    TableDelta& damaged = d.tables[i];
    const std::size_t stride = damaged.inserted_rows.size() / damaged.inserted_keys.size();
    damaged.inserted_keys.pop_back();
    damaged.inserted_rows.resize(damaged.inserted_rows.size() - stride);
    if (!damaged.inserted_owners.empty()) damaged.inserted_owners.pop_back();
    out.push_back(std::move(d));
  }
  for (std::size_t i = 0; i < good.tables.size(); ++i) {
    if (good.tables[i].sequence.empty()) continue;  // A table's row sequence, then a removal of a missing row.
    Delta d = good;
    d.tables[i].sequence.push_back(RowOp{missing, 0, false});
    out.push_back(std::move(d));
  }
  for (std::size_t i = 0; i < good.tables.size(); ++i) {
    // A destroy of an entity whose row the table's sequence removes and places again (not indexed yet).
    for (const RowOp& op : good.tables[i].sequence) {
      const Entity e = Entity::from_bits(op.key);
      if (!op.insert || !held.registry.is_alive(e) || held.find_row_index(good.tables[i].table, op.key) == detail::kNoRow ||
          std::find(good.destroyed.begin(), good.destroyed.end(), e) != good.destroyed.end()) {
        continue;
      }
      Delta d = good;
      d.destroyed.push_back(e);
      out.push_back(std::move(d));
      break;
    }
  }
  for (std::uint32_t i = 0; i < held.registry.used; ++i) {  // The destroys and creates, then a create of a live entity.
    const Entity e(i, held.registry.slot(i)->generation);
    if (!held.registry.is_alive(e) || std::find(good.destroyed.begin(), good.destroyed.end(), e) != good.destroyed.end()) continue;
    Delta d = good;
    d.created.push_back(e);
    out.push_back(std::move(d));
    break;
  }
  return out;
}

// A frame the replica refuses (it does not fit what the replica holds) changes nothing, however far its
// application got: every step is rolled back, so the next version publishes none of it (and the full sync
// the replica then asks for is a difference from what it really holds). Each version of a random workload
// is first offered damaged in several ways, then as it is; the replica must end exactly where a copy
// that only ever saw the good versions ends, and behave like it.
TEST(ReplicationTest, ARefusedFrameChangesNothing) {
  auto server = Database::open(testing::test_schema()).value();
  ASSERT_TRUE(server->start_writer_thread().is_ok());
  auto sub = server->subscribe({.capacity = 1 << 16, .every_version = true});
  ASSERT_TRUE(sub.has_value());
  Workload w(21, 40);
  w.run(*server, 600);
  server->stop_writer_thread();
  {  // Players (a unique name), then each one's row removed and put back in one commit (a row sequence).
    std::vector<Entity> some;
    const PinnedView v = server->pin();
    for (std::uint32_t i = 0; i < v.state().registry.used && some.size() < 4; ++i) {
      if (v.state().registry.slot(i)->alive()) some.emplace_back(i, v.state().registry.slot(i)->generation);
    }
    ASSERT_EQ(some.size(), 4u);
    Transaction named = server->writer().begin();
    for (std::uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(named.add(some[i], Player{i, FixedString<16>("p" + std::to_string(i))}).is_ok());
    ASSERT_TRUE(named.commit().is_ok());
    Transaction renamed = server->writer().begin();
    for (std::uint32_t i = 0; i < 4; ++i) {
      ASSERT_TRUE(renamed.remove<Player>(some[i]).is_ok());
      ASSERT_TRUE(renamed.add(some[i], Player{i, FixedString<16>("q" + std::to_string(i))}).is_ok());
    }
    ASSERT_TRUE(renamed.commit().is_ok());
  }
  std::vector<std::shared_ptr<const Delta>> deltas;
  sub->poll(deltas);
  ASSERT_GT(deltas.size(), 100u);

  auto replica = Database::open(testing::test_schema()).value();
  auto reference = Database::open(testing::test_schema()).value();
  detail::WriterCore& core = detail::DatabaseAccess::core(*replica);
  detail::WriterCore& reference_core = detail::DatabaseAccess::core(*reference);
  std::size_t refused = 0;
  std::size_t with_sequence = 0;
  for (const auto& good : deltas) {
    with_sequence += std::any_of(good->tables.begin(), good->tables.end(), [](const TableDelta& t) { return !t.sequence.empty(); });
    for (const Delta& bad : refused_versions_of(*good, core.working())) {
      const testing::WriterDump before = testing::dump_writer(core.working_version());
      const Status s = core.apply_replicated(bad, good->version);
      ASSERT_FALSE(s.is_ok()) << "version " << good->version << ": a damaged copy was applied";
      EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
      ASSERT_EQ(testing::first_difference(before, testing::dump_writer(core.working_version())), "")
          << "version " << good->version << ": refused with '" << s.message() << "' but changed";
      ++refused;
    }
    const Status applied = core.apply_replicated(*good, good->version);
    ASSERT_TRUE(applied.is_ok()) << "version " << good->version << ": " << applied.to_string();
    ASSERT_TRUE(reference_core.apply_replicated(*good, good->version).is_ok());
    ASSERT_EQ(testing::first_difference(testing::dump_writer(reference_core.working_version()), testing::dump_writer(core.working_version())), "")
        << "version " << good->version;
    for (const detail::TableState& t : core.working().tables) {
      testing::expect_sparse_index_matches_rows(t, core.working().registry);
      testing::expect_keys_match_run(t, core.working().registry);
    }
    if (HasFailure()) return;
  }
  EXPECT_EQ(contents(replica->pin(), replica->schema(), {}), contents(server->pin(), server->schema(), {}));
  // The proof is only as good as what it went through: refusals mid-sequence need row sequences.
  EXPECT_GT(with_sequence, 20u);
  EXPECT_GT(refused, deltas.size() + with_sequence);
  std::printf("%zu versions (%zu with row sequences), %zu damaged copies refused\n", deltas.size(), with_sequence, refused);
  // Both copies behave alike: destroying each entity in turn follows the reverse-reference lists
  // (cascades, set_null, restrict) that a step left behind would have bent.
  const std::set<std::uint64_t> entities = contents(replica->pin(), replica->schema(), {}).entities;
  for (std::uint64_t bits : entities) {
    const Status mine = replica->writer().destroy(Entity::from_bits(bits));
    const Status theirs = reference->writer().destroy(Entity::from_bits(bits));
    ASSERT_EQ(mine.code(), theirs.code()) << mine.to_string() << " vs " << theirs.to_string();
    ASSERT_EQ(contents(replica->pin(), replica->schema(), {}), contents(reference->pin(), reference->schema(), {}));
  }
}

// A row a frame's sequence places for a live entity that has none is in the identity run with its key
// implied by the registry (TableState::keys), and it is neither filled nor indexed until the frame's
// rows are applied. A frame that then destroys that entity must be refused before the destroy moves the generation
// on: otherwise a later removal in the run (here entity 3's row, taken by its own destroy) stores the
// moved-on key, and the rollback of the refused frame cannot find the placed row again (found by review:
// an assertion, or a write far out of bounds in a release build).
TEST(ReplicationTest, AFrameThatDestroysTheEntityOfARowItPlacesIsRefusedWhole) {
  auto replica = Database::open(testing::test_schema()).value();
  std::vector<Entity> es;
  ASSERT_TRUE(replica->writer().create_many(10, es).is_ok());
  for (std::uint32_t i = 0; i < 9; ++i) ASSERT_TRUE(replica->writer().add(es[i], Health{i, 100}).is_ok());
  const std::uint16_t health = detail::table_of<Health>(*replica);
  ASSERT_EQ(replica->pin().state().tables[health].identity_rows, 9u);

  Delta d;
  d.version = replica->pin().state().number + 1;
  TableDelta& t = d.tables.emplace_back();
  t.table = health;
  t.sequence.push_back(RowOp{es[9].bits(), 0, true});
  t.inserted_keys.push_back(es[9].bits());
  const Health h{9, 100};
  t.inserted_rows.resize(sizeof h);
  std::memcpy(t.inserted_rows.data(), &h, sizeof h);
  d.destroyed = {es[9], es[3]};

  detail::WriterCore& core = detail::DatabaseAccess::core(*replica);
  const testing::WriterDump before = testing::dump_writer(core.working_version());
  const Status s = core.apply_replicated(d, d.version);
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
  EXPECT_NE(s.message().find("row sequence places"), std::string::npos) << s.message();
  ASSERT_EQ(testing::first_difference(before, testing::dump_writer(core.working_version())), "");
  // The same frame without the destroy of entity 9 applies.
  d.destroyed = {es[3]};
  ASSERT_TRUE(core.apply_replicated(d, d.version).is_ok());
  const PinnedView v = replica->pin();
  EXPECT_EQ(v.get<Health>(es[3]), nullptr);
  ASSERT_NE(v.get<Health>(es[9]), nullptr);
  EXPECT_EQ(v.get<Health>(es[9])->hp, 9u);
  testing::expect_keys_match_run(v.state().tables[health], v.state().registry);
}

// A tag (a table without fields) that a commit removes and adds again is listed only in its row sequence.
// The replay accepts a placed tag row that is neither inserted nor updated only where the sequence removed
// the same key's old row first (PlacedRows::removed_old, ADR 0021). A fresh tag placed without being
// listed, or one placed for a new generation of the entity whose old tag the frame removed, is refused
// whole.
TEST(ReplicationTest, AnUnlistedPlacedTagMustReplaceTheSameKeysRow) {
  std::string toml = testing::kTestSchemaToml;
  toml += "[tables.frozen]\nparent_table = \"entities\"\n[[tables.frozen.fields]]\nname = \"entity_id\"\n"
          "type = \"u64\"\nforeign_key = \"entities.id\"\n";
  auto schema = parse_schema(toml, "tagged.toml");
  ASSERT_TRUE(schema.has_value()) << schema.status().to_string();
  auto replica = Database::open(*schema).value();
  std::vector<Entity> es;
  ASSERT_TRUE(replica->writer().create_many(3, es).is_ok());
  {
    Transaction t = replica->writer().begin();
    ASSERT_TRUE(t.add_row("frozen", es[0], Row{}).is_ok());
    ASSERT_TRUE(t.add_row("frozen", es[1], Row{}).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  }
  const std::uint16_t frozen = (*schema)->find_table("frozen")->id;
  ASSERT_EQ(replica->pin().state().tables[frozen].stride, 0u) << "a tag";
  detail::WriterCore& core = detail::DatabaseAccess::core(*replica);
  const auto frame = [&](std::vector<RowOp> sequence) {
    Delta d;
    d.version = replica->pin().state().number + 1;
    TableDelta& t = d.tables.emplace_back();
    t.table = frozen;
    t.sequence = std::move(sequence);
    return d;
  };
  const auto expect_refused = [&](const Delta& d, const char* why) {
    const testing::WriterDump before = testing::dump_writer(core.working_version());
    const Status s = core.apply_replicated(d, d.version);
    ASSERT_EQ(s.code(), StatusCode::kCorruption) << why << ": " << s.to_string();
    EXPECT_NE(s.message().find("neither inserted nor updated"), std::string::npos) << s.message();
    ASSERT_EQ(testing::first_difference(before, testing::dump_writer(core.working_version())), "") << why;
  };
  expect_refused(frame({RowOp{es[2].bits(), 0, true}}), "a fresh tag row, placed and not listed");
  {
    Delta d = frame({RowOp{es[0].bits(), 0, false}, RowOp{Entity(es[0].index(), es[0].generation() + 1).bits(), 0, true}});
    d.destroyed = {es[0]};
    d.created = {Entity(es[0].index(), es[0].generation() + 1)};
    expect_refused(d, "the old generation's tag removed, the new one's placed");
  }
  // Entity 1's tag removed and added again, which a commit lists nowhere else: applied, and still there.
  const Delta again = frame({RowOp{es[1].bits(), 0, false}, RowOp{es[1].bits(), 0, true}});
  ASSERT_TRUE(core.apply_replicated(again, again.version).is_ok());
  const std::vector<std::uint64_t> keys = replica->pin().keys("frozen").value();
  EXPECT_EQ(std::set<std::uint64_t>(keys.begin(), keys.end()), (std::set<std::uint64_t>{es[0].bits(), es[1].bits()}));
}

// ---- a faulty network between replicas and the server ----

// A TCP proxy that, on the server -> client direction, cuts connections at a random byte inside a frame,
// delays, duplicates and reorders DELTA frames, at the rates set; and can refuse connections while paused.
class FaultProxy {
 public:
  FaultProxy(std::uint16_t target, std::uint64_t seed) : target_(target), seed_(seed) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listener_, 16);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~FaultProxy() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    for (auto& t : pumps_) t.join();
  }
  std::uint16_t port() const { return port_; }

  std::atomic<int> cut_per_mille{0};        // per frame: cut the connection inside it
  std::atomic<int> duplicate_per_mille{0};  // per DELTA frame: send it twice
  std::atomic<int> reorder_per_mille{0};    // per DELTA frame: send it after the next one
  std::atomic<int> delay_per_mille{0};      // per frame: sleep up to 3 ms first
  std::atomic<bool> paused{false};          // new connections are closed at once
  // DELTA frames still to damage (uncompressed ones that create entities; needs `schema`): an update of a
  // row no one holds is added, which the replica finds only after applying the frame's creates.
  std::atomic<int> damage_deltas{0};
  std::atomic<int> damaged{0};
  std::shared_ptr<const Schema> schema;
  std::atomic<int> generation{0};           // bump to cut every open connection
  std::atomic<int> cuts{0};
  std::atomic<int> reorders{0};
  std::atomic<int> duplicates{0};

 private:
  void accept_loop() {
    for (int n = 0; !stop_; ++n) {
      const int c = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      if (paused) {
        ::close(c);
        continue;
      }
      const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(target_);
      if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(c);
        ::close(s);
        continue;
      }
      pumps_.emplace_back([this, c, s, n] { pump(c, s, seed_ + static_cast<std::uint64_t>(n)); });
    }
  }

  static bool write_all(int fd, const std::byte* p, std::size_t n) {
    while (n > 0) {
      const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  void pump(int client, int server, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const int born = generation.load();
    replication::FrameReader frames(1u << 30);
    std::vector<std::byte> held;  // a DELTA frame held back to be sent after the next one
    std::array<std::byte, 65536> buf{};
    auto chance = [&](const std::atomic<int>& per_mille) { return static_cast<int>(rng() % 1000) < per_mille.load(); };
    bool open = true;
    while (open && !stop_ && generation.load() == born) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(p, 2, 20) <= 0) continue;
      if (p[0].revents != 0) {
        const ssize_t n = ::recv(client, buf.data(), buf.size(), 0);
        open = n > 0 && write_all(server, buf.data(), static_cast<std::size_t>(n));
      }
      if (open && p[1].revents != 0) {
        const ssize_t n = ::recv(server, buf.data(), buf.size(), 0);
        if (n <= 0) break;
        frames.feed(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n)));
        for (;;) {
          auto f = frames.next();
          if (!f || !*f) break;
          const auto& frame = **f;
          std::vector<std::byte> bytes(replication::kFrameHeaderBytes + frame.payload.size());
          const auto length = static_cast<std::uint32_t>(frame.payload.size() + 1);
          std::memcpy(bytes.data(), &length, 4);
          bytes[4] = static_cast<std::byte>(frame.type);
          std::memcpy(bytes.data() + 5, frame.payload.data(), frame.payload.size());
          if (chance(delay_per_mille)) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
          if (chance(cut_per_mille)) {
            write_all(client, bytes.data(), rng() % bytes.size());  // a partial frame, then the end
            ++cuts;
            open = false;
            break;
          }
          const bool delta = frame.type == static_cast<std::uint8_t>(replication::FrameType::kDelta);
          if (delta && damage_deltas.load() > 0) damage(frame.payload, bytes);
          if (delta && held.empty() && chance(reorder_per_mille)) {
            held = std::move(bytes);
            ++reorders;
            continue;
          }
          open = write_all(client, bytes.data(), bytes.size());
          if (open && delta && chance(duplicate_per_mille)) {
            open = write_all(client, bytes.data(), bytes.size());
            ++duplicates;
          }
          if (open && !held.empty()) {
            open = write_all(client, held.data(), held.size());
            held.clear();
          }
          if (!open) break;
        }
      }
    }
    ::close(client);
    ::close(server);
  }

  // Re-encodes the DELTA frame `payload` into `bytes` with an update of a missing health row added, when
  // it creates entities.
  void damage(std::span<const std::byte> payload, std::vector<std::byte>& bytes) {
    auto f = replication::decode_delta_frame(payload, *schema);
    if (!f || f->delta.created.empty()) return;
    const Table& health = *schema->find_table("health");
    auto entry = std::find_if(f->delta.tables.begin(), f->delta.tables.end(), [&](const TableDelta& t) { return t.table >= health.id; });
    if (entry == f->delta.tables.end() || entry->table != health.id) {
      entry = f->delta.tables.insert(entry, TableDelta{});
      entry->table = health.id;
    }
    const std::vector<std::byte> zeros(health.stride());
    RowUpdate u{Entity(1u << 20, 1).bits(), stored_fields_mask(health), static_cast<std::uint32_t>(entry->update_bytes.size()), 0};
    entry->update_bytes.resize(entry->update_bytes.size() + zeros.size());
    u.size = pack_fields(health, u.field_mask, zeros.data(), entry->update_bytes.data() + u.offset);
    entry->update_bytes.resize(u.offset + u.size);
    entry->updates.push_back(u);
    bytes.clear();
    replication::encode_delta_frame(f->from_version, f->to_version, f->published_at_ns, f->delta, *schema,
                                    std::vector<bool>(schema->tables.size(), true), bytes);
    --damage_deltas;
    ++damaged;
  }

  std::uint16_t target_;
  std::uint64_t seed_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> pumps_;
};

// ---- tests ----

TEST(ReplicationTest, ReplicasConvergeAfterRandomTransactions) {
  auto server = Server::start();
  auto all = connect(server->port());
  auto some = connect(server->port(), {"health", "transform"});
  auto children = connect(server->port(), {"item", "follow"});
  ASSERT_TRUE(all && some && children);
  Workload w(1);
  w.run(*server->db, 400);
  expect_converged(*server->db, *all, {}, "all tables");
  expect_converged(*server->db, *some, {"health", "transform"}, "health+transform");
  expect_converged(*server->db, *children, {"item", "follow"}, "item+follow");
  EXPECT_EQ(all->stats().full_syncs, 1u);
  EXPECT_GT(all->stats().frames, 0u);
  // Typed zero-copy reads work on the replica as on the server.
  const PinnedView view = all->pin();
  const PinnedView truth = server->db->pin();
  std::size_t compared = 0;
  truth.each<Health>([&](Entity e, const Health& h) {
    const Health* mine = view.get<Health>(e);
    ASSERT_NE(mine, nullptr);
    EXPECT_EQ(mine->hp, h.hp);
    ++compared;
  });
  EXPECT_GT(compared, 0u);
  // A replica that joins late gets the whole state at once.
  auto late = connect(server->port());
  expect_converged(*server->db, *late, {}, "late joiner");
  EXPECT_EQ(server->repl->clients().size(), 4u);
}

// zstd is per client: one that asks gets COMPRESSED frames (smaller on the wire, the same state), one that
// does not gets plain frames, and a server with compression off declines.
TEST(ReplicationTest, CompressionIsPerClientAndChangesNothingButTheBytes) {
  auto server = Server::start();
  auto packed = connect(server->port());
  ReplicaOptions plain_options;
  plain_options.port = server->port();
  plain_options.compress = false;
  auto plain = Replica::connect(plain_options);
  ASSERT_TRUE(packed && plain.has_value());
  Workload w(4, 40);
  w.run(*server->db, 300);
  // One large version (frames under compress_min_bytes go out as they are: most of the workload's).
  ASSERT_TRUE(server->db->submit([](Transaction& t) {
    for (std::uint32_t i = 0; i < 500; ++i) {
      auto e = t.create();
      if (!e) return e.status();
      ECSDB_RETURN_IF_ERROR(t.put(*e, Health{i % 7, 100}));
    }
    return Status::ok();
  }).wait().is_ok());
  expect_converged(*server->db, *packed, {}, "compressed");
  expect_converged(*server->db, **plain, {}, "plain");
  const auto clients = server->repl->clients();
  ASSERT_EQ(clients.size(), 2u);
  for (const ReplicationClientInfo& c : clients) {
    if (c.compressed) {
      EXPECT_LT(c.bytes_sent, c.bytes_uncompressed);
    } else {
      EXPECT_EQ(c.bytes_sent, c.bytes_uncompressed);
    }
  }
  EXPECT_EQ(std::count_if(clients.begin(), clients.end(), [](const auto& c) { return c.compressed; }), 1);
  EXPECT_LT(packed->stats().bytes_received, packed->stats().bytes_uncompressed);
  EXPECT_EQ((*plain)->stats().bytes_received, (*plain)->stats().bytes_uncompressed);

  ReplicationOptions off;
  off.compression = false;
  auto no_zstd = Server::start(off);
  auto asks = connect(no_zstd->port());
  ASSERT_TRUE(asks);
  Workload w2(5);
  w2.run(*no_zstd->db, 50);
  expect_converged(*no_zstd->db, *asks, {}, "declined");
  EXPECT_FALSE(no_zstd->repl->clients().at(0).compressed);
  EXPECT_EQ(asks->stats().bytes_received, asks->stats().bytes_uncompressed);
}

std::vector<Entity> some_live_entities(Database& db, std::size_t n) {
  std::vector<Entity> out;
  const PinnedView v = db.pin();
  v.each<Health>([&](Entity e, const Health&) {
    if (out.size() < n) out.push_back(e);
  });
  return out;
}

bool holds(const std::vector<Entity>& set, std::uint64_t bits) {
  return std::any_of(set.begin(), set.end(), [&](Entity e) { return e.bits() == bits; });
}

std::uint32_t hp_of(const std::byte* row) {
  Health h{};
  std::memcpy(&h, row, sizeof h);
  return h.hp;
}

// Filters select rows, and rows move in and out of them as they change: a health row whose hp crosses the
// threshold arrives or goes; rows of other entities never arrive.
TEST(ReplicationTest, FiltersSendOnlyMatchingRowsAndFollowRowsInAndOut) {
  using Op = SubscriptionFilter::Op;
  auto server = Server::start();
  Workload w(10, 60);
  w.run(*server->db, 150);
  const std::vector<Entity> chosen = some_live_entities(*server->db, 6);
  ASSERT_EQ(chosen.size(), 6u);
  ReplicaOptions o;
  o.port = server->port();
  o.tables = {"health", "transform", "item"};
  o.filters = {SubscriptionFilter::where("health", "hp", Op::kLt, Value::from_int(50)),
               SubscriptionFilter::of_entities(chosen, "transform"), SubscriptionFilter::of_entities(chosen, "item")};
  auto r = Replica::connect(o);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  const RowPredicate keep = [&](const Table& t, std::uint64_t key, std::uint64_t owner, const std::byte* row) {
    if (t.name == "health") return hp_of(row) < 50;
    if (t.name == "transform") return holds(chosen, key);
    return holds(chosen, owner);  // item: rows owned by the chosen entities
  };
  expect_filtered(*server->db, **r, {"health", "transform", "item"}, keep, "after the sync");
  for (int round = 0; round < 4; ++round) {
    w.run(*server->db, 100);
    expect_filtered(*server->db, **r, {"health", "transform", "item"}, keep, "round " + std::to_string(round));
  }
  EXPECT_EQ((*r)->stats().full_syncs, 1u);
  EXPECT_EQ(server->repl->clients().at(0).filters, 3u);
}

// A live subscription change sends the difference in one frame: added tables' rows, rows entering or leaving
// a changed filter, deletes for dropped tables; no full sync, and rows the client keeps are not sent again.
TEST(ReplicationTest, ASubscriptionChangeSendsOnlyTheDifference) {
  using Op = SubscriptionFilter::Op;
  auto server = Server::start();
  Workload w(11, 300);
  w.run(*server->db, 200);
  ReplicaOptions o;
  o.port = server->port();
  o.tables = {"health"};
  o.compress = false;  // byte counts below are of the frames themselves
  auto r = Replica::connect(o);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  Replica& replica = **r;
  expect_converged(*server->db, replica, {"health"}, "health only");
  // What a fresh replica of health + transform receives for its sync, for comparison.
  auto fresh = connect(server->port(), {"health", "transform"});
  ASSERT_TRUE(fresh);
  expect_converged(*server->db, *fresh, {"health", "transform"}, "fresh");
  const std::uint64_t full_sync_bytes = fresh->stats().bytes_uncompressed;
  fresh.reset();

  const std::uint64_t before = replica.stats().bytes_uncompressed;
  ASSERT_TRUE(replica.set_tables({"health", "transform"}).is_ok());
  expect_filtered(*server->db, replica, {"health", "transform"}, {}, "transform added");
  const std::uint64_t change_bytes = replica.stats().bytes_uncompressed - before;
  EXPECT_LT(change_bytes * 10, full_sync_bytes * 8) << "the health rows were sent again? " << change_bytes << " vs " << full_sync_bytes;
  EXPECT_EQ(replica.stats().full_syncs, 1u);
  EXPECT_EQ(server->repl->stats().resubscribes, 1u);

  // A filter on a kept table: rows that no longer match go, nothing else moves.
  const RowPredicate high = [](const Table& t, std::uint64_t, std::uint64_t, const std::byte* row) {
    return t.name != "health" || hp_of(row) >= 50;
  };
  ASSERT_TRUE(replica.set_subscription({"health", "transform"}, {SubscriptionFilter::where("health", "hp", Op::kGe, Value::from_uint(50))}).is_ok());
  expect_filtered(*server->db, replica, {"health", "transform"}, high, "hp >= 50");
  w.run(*server->db, 100);
  expect_filtered(*server->db, replica, {"health", "transform"}, high, "hp >= 50, after more commits");
  // The other way round: rows that now match arrive.
  const RowPredicate low = [](const Table& t, std::uint64_t, std::uint64_t, const std::byte* row) {
    return t.name != "health" || hp_of(row) < 50;
  };
  ASSERT_TRUE(replica.set_subscription({"health", "transform"}, {SubscriptionFilter::where("health", "hp", Op::kLt, Value::from_uint(50))}).is_ok());
  expect_filtered(*server->db, replica, {"health", "transform"}, low, "hp < 50");
  // Dropping a table deletes its rows; the filter goes with it.
  ASSERT_TRUE(replica.set_subscription({"transform"}, {}).is_ok());
  expect_filtered(*server->db, replica, {"transform"}, {}, "health dropped");
  w.run(*server->db, 50);
  expect_converged(*server->db, replica, {"transform"}, "transform only, after more commits");
  EXPECT_EQ(replica.stats().full_syncs, 1u);
  EXPECT_EQ(server->repl->stats().resubscribes, 4u);
}

// A filter the server cannot apply is refused at HELLO with a reason naming the filter.
TEST(ReplicationTest, ABadFilterIsRefusedNamingIt) {
  using Op = SubscriptionFilter::Op;
  auto server = Server::start();
  const auto refused = [&](std::vector<std::string> tables, SubscriptionFilter f, const std::string& says) {
    ReplicaOptions o;
    o.port = server->port();
    o.tables = std::move(tables);
    o.filters = {std::move(f)};
    o.connect_timeout_ms = 5000;
    auto r = Replica::connect(o);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().message();
  };
  refused({"health"}, SubscriptionFilter::where("health", "nope", Op::kEq, Value::from_int(1)), "filter 0: table 'health' has no field 'nope'");
  refused({"health"}, SubscriptionFilter::where("health", "hp", Op::kEq, Value::from_string("x")), "compared with a string");
  refused({"health"}, SubscriptionFilter::where("transform", "x", Op::kEq, Value::from_float(1)), "'transform' is not subscribed");
  refused({"follow"}, SubscriptionFilter::where("follow", "target", Op::kLt, Value::from_entity(Entity(1, 1))), "only == and !=");
  refused({"health"}, SubscriptionFilter::custom("health", "near"), "no filter named 'near'");
}

// Interest management plugs in as a custom filter: here, entities whose index is a multiple of the
// client's parameter.
TEST(ReplicationTest, ACustomFilterSelectsRowsWithTheClientsParameters) {
  class Modulo final : public RowFilter {
   public:
    explicit Modulo(std::uint32_t m) : m_(m) {}
    bool admits(Entity e, const std::byte*) const override { return e.index() % m_ == 0; }

   private:
    std::uint32_t m_;
  };
  ReplicationOptions ro;
  ro.custom_filters["modulo"] = [](const Table&, std::span<const std::byte> params) -> Result<std::shared_ptr<const RowFilter>> {
    if (params.size() != 1 || params[0] == std::byte{0}) return invalid_argument("modulo takes one nonzero byte");
    return std::shared_ptr<const RowFilter>(std::make_shared<Modulo>(static_cast<std::uint32_t>(params[0])));
  };
  auto server = Server::start(ro);
  Workload w(12, 80);
  w.run(*server->db, 150);
  ReplicaOptions o;
  o.port = server->port();
  o.tables = {"health", "transform"};
  o.filters = {SubscriptionFilter::custom("", "modulo", {std::byte{3}})};  // every subscribed table
  auto r = Replica::connect(o);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  const RowPredicate third = [](const Table&, std::uint64_t key, std::uint64_t, const std::byte*) {
    return Entity::from_bits(key).index() % 3 == 0;
  };
  expect_filtered(*server->db, **r, {"health", "transform"}, third, "modulo 3");
  w.run(*server->db, 100);
  expect_filtered(*server->db, **r, {"health", "transform"}, third, "modulo 3, after more commits");
  // Its own error reaches the client.
  o.filters = {SubscriptionFilter::custom("", "modulo", {std::byte{0}})};
  auto bad = Replica::connect(o);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.status().message().find("modulo takes one nonzero byte"), std::string::npos) << bad.status().message();
}

TEST(ReplicationTest, ReplicaSubscribersSeeEachAppliedVersion) {
  auto server = Server::start();
  auto replica = connect(server->port(), {"health"});
  ASSERT_TRUE(replica);
  auto sub = replica->subscribe({.tables = {"health"}});
  ASSERT_TRUE(sub.has_value());
  Entity e;
  ASSERT_TRUE(server->db->submit([&e](Transaction& t) {
    auto created = t.create();
    if (!created) return created.status();
    e = *created;
    return t.put(e, Health{7, 9});
  }).wait().is_ok());
  ASSERT_TRUE(replica->wait_for_version(server->db->published_version(), 5s));
  std::vector<std::shared_ptr<const Delta>> got;
  ASSERT_TRUE(sub->wait_for(5s));
  sub->poll(got);
  ASSERT_FALSE(got.empty());
  const TableDelta* health = got.back()->find(replica->schema().find_table("health")->id);
  ASSERT_NE(health, nullptr);
  EXPECT_EQ(health->inserted_keys, std::vector<std::uint64_t>{e.bits()});
}

TEST(ReplicationTest, ConvergeThroughCutsDelaysDuplicatesAndReordering) {
  auto server = Server::start();
  FaultProxy proxy(server->port(), 42);
  auto a = connect(proxy.port());
  auto b = connect(proxy.port(), {"health", "item"});
  ASSERT_TRUE(a && b);
  proxy.cut_per_mille = 40;
  proxy.duplicate_per_mille = 100;
  proxy.reorder_per_mille = 50;
  proxy.delay_per_mille = 100;
  Workload w(2);
  // How many frames the proxy sees depends on timing: a writer faster than the clients makes the server fold
  // versions into fewer, larger frames. So the faults are counted, not assumed: the rounds go on until the
  // proxy has cut, reordered and duplicated a few times (bounded, so a proxy that never faults fails below).
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (int round = 0; round < 8 || ((proxy.cuts < 3 || proxy.reorders < 2 || proxy.duplicates < 3) && std::chrono::steady_clock::now() < deadline);
       ++round) {
    w.run(*server->db, 60);
  }
  ASSERT_GE(proxy.cuts.load(), 1) << "the proxy never cut a connection: nothing was tested";
  ASSERT_GE(proxy.reorders.load(), 1) << "the proxy never reordered a frame: nothing was tested";
  // Faults off: both must catch up with what they missed and agree with the server exactly.
  proxy.cut_per_mille = 0;
  proxy.duplicate_per_mille = 0;
  proxy.reorder_per_mille = 0;
  proxy.delay_per_mille = 0;
  w.run(*server->db, 5);
  expect_converged(*server->db, *a, {}, "a");
  expect_converged(*server->db, *b, {"health", "item"}, "b");
  EXPECT_TRUE(a->status().is_ok()) << a->status().to_string();
  EXPECT_TRUE(b->status().is_ok()) << b->status().to_string();
  // Cuts (mid-frame) and reorders (a gap) both end in a reconnect and a resume or resync.
  EXPECT_GT(a->stats().reconnects + b->stats().reconnects, 0u) << proxy.cuts.load() << " cuts";
  EXPECT_GT(a->stats().duplicates + b->stats().duplicates, 0u) << "duplicated frames were ignored";
}

// A frame the replica cannot apply (here damaged on the wire, so that it fails after its created entities
// were applied) is refused whole: the replica reconnects for a full sync, taken as a difference from what it
// holds, and converges. (Before every step of applying a frame kept an undo record, the refused frame's
// entities stayed alive in the replica's working version; the sync, diffed against the published view,
// then created them again, was refused for creating a live entity, and the replica stopped.)
TEST(ReplicationTest, AReplicaRepairsItselfAfterARefusedFrame) {
  auto server = Server::start();
  FaultProxy proxy(server->port(), 7);
  proxy.schema = testing::test_schema();
  ReplicaOptions o;
  o.port = proxy.port();
  o.compress = false;  // the proxy reads the frames
  o.reconnect_min_ms = 10;
  o.reconnect_max_ms = 200;
  auto replica = Replica::connect(o);
  ASSERT_TRUE(replica.has_value()) << replica.status().to_string();
  Workload w(31, 10);
  w.run(*server->db, 20);
  expect_converged(*server->db, **replica, {}, "before the damage");
  const std::uint64_t syncs_before = (*replica)->stats().full_syncs;
  proxy.damage_deltas = 1;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (proxy.damaged.load() == 0 && std::chrono::steady_clock::now() < deadline) w.run(*server->db, 10);
  ASSERT_EQ(proxy.damaged.load(), 1) << "no frame created entities: nothing was tested";
  w.run(*server->db, 20);
  expect_converged(*server->db, **replica, {}, "after a refused frame");
  EXPECT_TRUE((*replica)->status().is_ok()) << (*replica)->status().to_string();
  EXPECT_EQ((*replica)->stats().full_syncs, syncs_before + 1) << "the refused frame should have been repaired by one full sync";
}

TEST(ReplicationTest, ResumesWhenTheServerStillHasTheVersionsElseResyncs) {
  ReplicationOptions o;
  o.ring_versions = 64;
  auto server = Server::start(o);
  FaultProxy proxy(server->port(), 7);
  auto r = connect(proxy.port());
  ASSERT_TRUE(r);
  Workload w(3);
  w.run(*server->db, 20);
  expect_converged(*server->db, *r, {}, "before");
  // Cut, miss 10 versions, come back: resumed from its version, no second full sync.
  proxy.paused = true;
  proxy.generation++;
  std::this_thread::sleep_for(100ms);  // the proxy notices within one 20 ms poll
  w.run(*server->db, 10);
  proxy.paused = false;
  expect_converged(*server->db, *r, {}, "after a short gap");
  EXPECT_EQ(r->stats().full_syncs, 1u);
  EXPECT_GE(r->stats().resumes, 1u);
  // Miss more versions than the server keeps: a full sync brings it back.
  proxy.paused = true;
  proxy.generation++;
  std::this_thread::sleep_for(100ms);  // the proxy notices within one 20 ms poll
  w.run(*server->db, 150);
  proxy.paused = false;
  expect_converged(*server->db, *r, {}, "after a long gap");
  EXPECT_EQ(r->stats().full_syncs, 2u);
}

TEST(ReplicationTest, ASlowClientNeverMakesTheServerBufferWithoutBound) {
  ReplicationOptions o;
  o.client_buffer_bytes = 64 << 10;
  auto server = Server::start(o);
  std::vector<Entity> es;
  ASSERT_TRUE(server->db->submit([&es](Transaction& t) {
    for (int i = 0; i < 200; ++i) {
      const Entity e = t.create().value();
      ECSDB_RETURN_IF_ERROR(t.put(e, Health{0, 100}));
      es.push_back(e);
    }
    return Status::ok();
  }).wait().is_ok());
  // A client that says HELLO and then never reads.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(server->port());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  std::vector<std::byte> hello;
  replication::encode_hello({}, hello);
  ASSERT_EQ(::send(fd, hello.data(), hello.size(), 0), static_cast<ssize_t>(hello.size()));
  // 3,000 versions, each updating all 200 rows: about 20 MB of deltas if they were queued.
  std::uint64_t most = 0;
  for (std::uint32_t v = 1; v <= 3000; ++v) {
    ASSERT_TRUE(server->db->submit([&es, v](Transaction& t) {
      for (Entity e : es) ECSDB_RETURN_IF_ERROR(t.set(e, &Health::hp, v));
      return Status::ok();
    }).wait().is_ok());
    if (v % 50 == 0) most = std::max(most, server->repl->stats().backlog_bytes);
  }
  // The bound (docs/replication.md, "Bounded memory per client"): at most 8 queued versions or
  // client_buffer_bytes, then a ChangeSet of about 40 bytes per changed row (200 rows here).
  EXPECT_LT(most, 100u << 10) << "backlog grew to " << most << " bytes";
  EXPECT_GT(server->repl->stats().coalesced, 0u);
  ::close(fd);
  // Everyone else is served as usual.
  auto r = connect(server->port());
  ASSERT_TRUE(r);
  expect_converged(*server->db, *r, {}, "after the slow client");
}

ReplicationOptions with_tokens(Entity owner) {
  ReplicationOptions o;
  o.authenticate = [owner](std::string_view token) -> std::optional<ReplicationAccess> {
    if (token == "writer") return ReplicationAccess{"writer", true, {}, {}, {}, 0};
    if (token == "reader") return ReplicationAccess{"reader", false, {"health"}, {}, {}, 0};
    if (token == "player") return ReplicationAccess{"player", true, {}, {"health"}, "aim.at", owner.bits()};
    return std::nullopt;
  };
  return o;
}

TEST(ReplicationTest, WritesAreCommittedAndCheckedForPermissionsAndOwnership) {
  const Entity owner(0, 1), mine(1, 1), theirs(2, 1);
  auto server = Server::start(with_tokens(owner));
  ASSERT_TRUE(server->db->submit([&](Transaction& t) {
    for (int i = 0; i < 3; ++i) (void)t.create();
    ECSDB_RETURN_IF_ERROR(t.put(mine, Aim{owner}));
    return t.put(theirs, Aim{theirs});
  }).wait().is_ok());

  // No token, an unknown token, a table the token may not read: refused, with the reason.
  ReplicaOptions o;
  o.port = server->port();
  o.reconnect = false;
  auto anonymous = Replica::connect(o);
  ASSERT_FALSE(anonymous.has_value());
  EXPECT_EQ(anonymous.status().code(), StatusCode::kPermissionDenied) << anonymous.status().to_string();
  o.token = "reader";
  o.tables = {"transform"};
  auto not_readable = Replica::connect(o);
  ASSERT_FALSE(not_readable.has_value());
  EXPECT_NE(not_readable.status().message().find("transform"), std::string::npos) << not_readable.status().to_string();

  auto writer = connect(server->port(), {}, "writer");
  ASSERT_TRUE(writer);
  auto committed = writer->submit(ReplicaWrite().put(theirs, Health{42, 50})).wait();
  ASSERT_TRUE(committed.status.is_ok()) << committed.status.to_string();
  ASSERT_TRUE(writer->wait_for_version(committed.version, 5s));
  EXPECT_EQ(writer->pin().get<Health>(theirs)->hp, 42u) << "the replica sees its write once it has the version";
  EXPECT_EQ(server->db->pin().get<Health>(theirs)->hp, 42u);
  auto unknown = writer->submit(ReplicaWrite().put("nope", theirs, {})).wait();
  EXPECT_EQ(unknown.status.code(), StatusCode::kNotFound);
  auto dead = writer->submit(ReplicaWrite().put(Entity(99, 1), Health{1, 1})).wait();
  EXPECT_FALSE(dead.status.is_ok()) << "a write to an entity that does not exist is rejected";

  auto player = connect(server->port(), {}, "player");
  ASSERT_TRUE(player);
  EXPECT_TRUE(player->submit(ReplicaWrite().put(mine, Health{5, 5})).wait().status.is_ok());
  auto not_owned = player->submit(ReplicaWrite().put(theirs, Health{5, 5})).wait();
  EXPECT_EQ(not_owned.status.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(not_owned.status.message().find("not owned"), std::string::npos) << not_owned.status.message();
  auto not_writable = player->submit(ReplicaWrite().put(mine, Transform{1, 2, 3})).wait();
  EXPECT_EQ(not_writable.status.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(not_writable.status.message().find("transform"), std::string::npos) << not_writable.status.message();
  EXPECT_EQ(server->db->pin().get<Health>(theirs)->hp, 42u) << "rejected writes change nothing";
  EXPECT_TRUE(player->status().is_ok()) << "a rejected write keeps the connection";

  // A read-only token that writes anyway is disconnected, with the reason; the others carry on.
  auto reader = connect(server->port(), {"health"}, "reader");
  ASSERT_TRUE(reader);
  auto refused = reader->submit(ReplicaWrite().put(mine, Health{1, 1})).wait();
  EXPECT_FALSE(refused.status.is_ok());
  for (int i = 0; i < 200 && reader->status().is_ok(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(reader->status().code(), StatusCode::kPermissionDenied) << reader->status().to_string();
  EXPECT_TRUE(writer->submit(ReplicaWrite().update(mine, Health{77, 0}, field_bit(0) | field_bit(1))).wait().status.is_ok());
  EXPECT_GE(server->repl->stats().writes_rejected, 3u);
}

TEST(ReplicationTest, AWriteOverwrittenBeforeItsAuthorSawItIsReported) {
  ReplicationOptions o;
  o.tick_ms = 300;  // frames go out once per tick: both writes land in the same frame
  auto server = Server::start(o);
  const Entity e(0, 1);
  ASSERT_TRUE(server->db->submit([&](Transaction& t) {
    (void)t.create();
    return t.put(e, Health{1, 10});
  }).wait().is_ok());
  auto first = connect(server->port());
  auto second = connect(server->port());
  ASSERT_TRUE(first && second);
  const Table& health = *first->schema().find_table("health");
  const std::uint64_t hp = field_bit(health.find_field("hp")->id);
  auto a = first->submit(ReplicaWrite().update(e, Health{100, 0}, hp)).wait();
  auto b = second->submit(ReplicaWrite().update(e, Health{200, 0}, hp)).wait();
  ASSERT_TRUE(a.status.is_ok() && b.status.is_ok());
  ASSERT_LT(a.version, b.version);
  ASSERT_TRUE(first->wait_for_version(b.version, 5s));
  ASSERT_TRUE(second->wait_for_version(b.version, 5s));
  std::vector<WriteOverwritten> lost;
  for (int i = 0; i < 100 && lost.empty(); ++i) {
    lost = first->take_overwritten();
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(lost.size(), 1u) << "the first writer lost to the second";
  EXPECT_EQ(lost[0].table, "health");
  EXPECT_EQ(lost[0].key, e.bits());
  EXPECT_EQ(lost[0].field_mask, hp);
  EXPECT_EQ(first->pin().get<Health>(e)->hp, 200u) << "and it already holds the winner's value";
  std::this_thread::sleep_for(400ms);
  EXPECT_TRUE(second->take_overwritten().empty()) << "the winner is not told anything";
}

TEST(ReplicationTest, DurableOnlyReplicasSeeOnlyDurableVersions) {
  testing::TempDir dir;
  DatabaseOptions d;
  d.data_dir = dir.path();
  d.durability = Durability::kAsync;
  d.async_flush_ms = 60000;  // nothing becomes durable until flush()
  auto server = Server::start({}, d);
  auto durable = connect(server->port(), {}, {}, true);
  auto eager = connect(server->port());
  ASSERT_TRUE(durable && eager);
  const std::uint64_t before = server->db->published_version();
  Workload w(4);
  w.run(*server->db, 30);
  ASSERT_TRUE(eager->wait_for_version(server->db->published_version(), 5s));
  std::this_thread::sleep_for(50ms);
  EXPECT_LE(durable->version(), before) << "a durable-only replica got a version with unsynced commits";
  ASSERT_TRUE(server->db->flush().is_ok());
  expect_converged(*server->db, *durable, {}, "durable-only after the flush");
}

TEST(ReplicationTest, ReplicasFollowAServerRestart) {
  testing::TempDir dir;
  DatabaseOptions d;
  d.data_dir = dir.path();
  auto server = Server::start({}, d);
  const std::uint16_t port = server->port();
  auto r = connect(port);
  ASSERT_TRUE(r);
  Workload w(5);
  w.run(*server->db, 50);
  expect_converged(*server->db, *r, {}, "before the restart");
  server.reset();  // every commit was acknowledged durable (sync mode): all of it comes back
  server = Server::start({}, d, port);
  w.run(*server->db, 50);
  expect_converged(*server->db, *r, {}, "after the restart");
  EXPECT_GE(r->stats().reconnects, 1u);
  EXPECT_TRUE(r->status().is_ok());
}

}  // namespace
}  // namespace ecsdb
