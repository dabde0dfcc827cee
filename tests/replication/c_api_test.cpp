// The C ABI over the replica client (ecsdb/ecsdb_client.h), over real loopback TCP: a replica reached only
// through the C functions describes the server's schema, reads rows through views, polls for new versions,
// writes (committed, rejected, pending until the server's writer drains), reports overwritten writes, and
// answers NULL handles and bad arguments with errors instead of crashing.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ecsdb/database.hpp"
#include "ecsdb/ecsdb_client.h"
#include "ecsdb/replication_server.hpp"
#include "support/test_schema.hpp"

namespace ecsdb {
namespace {

using namespace std::chrono_literals;
using testing::Health;
using testing::Item;
using testing::Transform;

struct TestServer {
  std::unique_ptr<Database> db;
  std::unique_ptr<ReplicationServer> repl;

  // `writer_thread` false: queued transactions (client writes among them) run only when the test drains
  // db->writer().
  static std::unique_ptr<TestServer> start(ReplicationOptions o = {}, bool writer_thread = true) {
    auto s = std::make_unique<TestServer>();
    s->db = Database::open(testing::test_schema()).value();
    if (writer_thread) {
      EXPECT_TRUE(s->db->start_writer_thread().is_ok());
    }
    o.port = 0;
    s->repl = std::make_unique<ReplicationServer>(*s->db, o);
    const Status started = s->repl->start();
    EXPECT_TRUE(started.is_ok()) << started.to_string();
    return s;
  }
  ~TestServer() {
    if (repl) repl->stop();
    repl.reset();
    if (db) db->stop_writer_thread();
  }
  std::uint16_t port() const { return repl->port(); }
};

struct CloseReplica {
  void operator()(ecsdb_replica* r) const { ecsdb_replica_close(r); }
};
struct ReleaseView {
  void operator()(ecsdb_view* v) const { ecsdb_view_release(v); }
};
struct FreeWrite {
  void operator()(ecsdb_write* w) const { ecsdb_write_free(w); }
};
using ReplicaHandle = std::unique_ptr<ecsdb_replica, CloseReplica>;
using ViewHandle = std::unique_ptr<ecsdb_view, ReleaseView>;
using WriteHandle = std::unique_ptr<ecsdb_write, FreeWrite>;

struct Connected {
  int code;
  std::string error;
  ReplicaHandle replica;
};

Connected try_connect(std::uint16_t port, const char* token = nullptr, std::vector<const char*> tables = {},
                      std::uint32_t timeout_ms = 5000) {
  ecsdb_replica_options o{};
  o.host = "127.0.0.1";
  o.port = port;
  o.token = token;
  o.tables = tables.empty() ? nullptr : tables.data();
  o.table_count = tables.size();
  o.connect_timeout_ms = timeout_ms;
  char error[512];
  ecsdb_replica* r = nullptr;
  const int code = ecsdb_replica_connect(&o, &r, error, sizeof error);
  return {code, error, ReplicaHandle(r)};
}

ReplicaHandle connect(std::uint16_t port, const char* token = nullptr, std::vector<const char*> tables = {}) {
  Connected c = try_connect(port, token, std::move(tables));
  EXPECT_EQ(c.code, ECSDB_OK) << c.error;
  EXPECT_EQ(c.error, "");
  return std::move(c.replica);
}

ecsdb_field_info field_of(const ecsdb_replica* r, const char* table, const char* name) {
  ecsdb_field_info info{};
  const int t = ecsdb_replica_table(r, table);
  EXPECT_EQ(ecsdb_replica_field(r, t, ecsdb_replica_field_index(r, t, name), &info), ECSDB_OK) << table << "." << name;
  return info;
}

template <typename T>
T read_field(const void* row, const ecsdb_field_info& f) {
  T v{};
  std::memcpy(&v, static_cast<const std::byte*>(row) + f.offset, sizeof v);
  return v;
}

template <typename T>
void write_field(std::vector<std::byte>& row, const ecsdb_field_info& f, T v) {
  ASSERT_LE(f.offset + sizeof v, row.size());
  std::memcpy(row.data() + f.offset, &v, sizeof v);
}

// Submits `w` and waits for its answer: {code, version, message}.
struct Answer {
  int code;
  std::uint64_t version;
  std::string error;
};
Answer submit_and_wait(ecsdb_replica* r, const ecsdb_write* w, std::uint32_t timeout_ms = 5000) {
  const std::uint64_t request = ecsdb_replica_submit(r, w);
  EXPECT_NE(request, 0u);
  std::uint64_t version = 0;
  char error[512];
  const int code = ecsdb_replica_write_wait(r, request, timeout_ms, &version, error, sizeof error);
  return {code, version, error};
}

TEST(CApiTest, LayoutFunctionsDescribeTheServersSchema) {
  auto server = TestServer::start();
  ReplicaHandle r = connect(server->port());
  ASSERT_TRUE(r);
  const Schema& schema = server->db->schema();
  ASSERT_EQ(ecsdb_replica_table_count(r.get()), static_cast<int>(schema.tables.size()));
  for (const Table& t : schema.tables) {
    const int id = ecsdb_replica_table(r.get(), t.name.c_str());
    ASSERT_EQ(id, static_cast<int>(t.id)) << t.name;
    EXPECT_STREQ(ecsdb_replica_table_name(r.get(), id), t.name.c_str());
    EXPECT_EQ(ecsdb_replica_table_stride(r.get(), id), t.stride()) << t.name;
    EXPECT_EQ(ecsdb_replica_table_cardinality(r.get(), id),
              t.cardinality == Cardinality::kMany ? ECSDB_CARDINALITY_MANY : ECSDB_CARDINALITY_ONE) << t.name;
    ASSERT_EQ(ecsdb_replica_field_count(r.get(), id), static_cast<int>(t.layout.fields.size())) << t.name;
    for (const Field& f : t.layout.fields) {
      ecsdb_field_info info{};
      ASSERT_EQ(ecsdb_replica_field(r.get(), id, f.id, &info), ECSDB_OK);
      EXPECT_STREQ(info.name, f.name.c_str());
      EXPECT_STREQ(info.type, f.type.spelling.c_str());
      EXPECT_EQ(info.id, static_cast<int>(f.id));
      EXPECT_EQ(info.kind, static_cast<int>(f.type.kind));
      EXPECT_EQ(info.size, f.type.size);
      EXPECT_EQ(info.stored, f.stored ? 1 : 0) << t.name << "." << f.name;
      EXPECT_EQ(info.is_owner_key, f.is_owner_key ? 1 : 0) << t.name << "." << f.name;
      if (f.stored) {
        EXPECT_EQ(info.offset, f.offset) << t.name << "." << f.name;
        EXPECT_LE(info.offset + info.size, t.stride()) << t.name << "." << f.name;
      }
      EXPECT_EQ(ecsdb_replica_field_index(r.get(), id, f.name.c_str()), static_cast<int>(f.id));
    }
  }

  // Types as the schema spells them, with what a binding needs to decode them.
  const ecsdb_field_info hp = field_of(r.get(), "health", "hp");
  EXPECT_STREQ(hp.type, "u32");
  EXPECT_EQ(hp.kind, ECSDB_TYPE_SCALAR);
  EXPECT_EQ(hp.scalar, ECSDB_SCALAR_U32);
  EXPECT_EQ(hp.size, 4u);
  const ecsdb_field_info x = field_of(r.get(), "transform", "x");
  EXPECT_STREQ(x.type, "f32");
  EXPECT_EQ(x.scalar, ECSDB_SCALAR_F32);
  const ecsdb_field_info name = field_of(r.get(), "player", "name");
  EXPECT_STREQ(name.type, "str<16>");
  EXPECT_EQ(name.kind, ECSDB_TYPE_STRING);
  EXPECT_EQ(name.length, 16u);
  EXPECT_EQ(name.scalar, -1);
  const ecsdb_field_info protects = field_of(r.get(), "guard", "protects");
  EXPECT_STREQ(protects.type, "entity");
  EXPECT_EQ(protects.kind, ECSDB_TYPE_ENTITY);
  EXPECT_EQ(protects.scalar, ECSDB_SCALAR_U64);
  EXPECT_EQ(protects.size, 8u);
  const ecsdb_field_info owner = field_of(r.get(), "health", "entity_id");
  EXPECT_EQ(owner.stored, 0);
  EXPECT_EQ(owner.is_owner_key, 1);
  EXPECT_EQ(owner.offset, 0u);
  EXPECT_EQ(ecsdb_replica_table_cardinality(r.get(), ecsdb_replica_table(r.get(), "item")), ECSDB_CARDINALITY_MANY);
  EXPECT_EQ(ecsdb_replica_table_stride(r.get(), ecsdb_replica_table(r.get(), "health")), 8u);

  // Unknown names and bad ids.
  const int n = ecsdb_replica_table_count(r.get());
  const int health = ecsdb_replica_table(r.get(), "health");
  EXPECT_EQ(ecsdb_replica_table(r.get(), "helth"), -1);
  EXPECT_EQ(ecsdb_replica_table(r.get(), nullptr), -1);
  for (const int bad : {-1, n, 1000}) {
    EXPECT_EQ(ecsdb_replica_table_name(r.get(), bad), nullptr);
    EXPECT_EQ(ecsdb_replica_table_stride(r.get(), bad), 0u);
    EXPECT_EQ(ecsdb_replica_table_cardinality(r.get(), bad), -1);
    EXPECT_EQ(ecsdb_replica_field_count(r.get(), bad), -1);
    EXPECT_EQ(ecsdb_replica_field_index(r.get(), bad, "hp"), -1);
  }
  ecsdb_field_info info{};
  EXPECT_EQ(ecsdb_replica_field(r.get(), health, -1, &info), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_replica_field(r.get(), health, ecsdb_replica_field_count(r.get(), health), &info), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_replica_field(r.get(), health, 0, nullptr), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_replica_field_index(r.get(), health, "hq"), -1);
  EXPECT_EQ(ecsdb_replica_field_index(r.get(), health, nullptr), -1);
}

TEST(CApiTest, ViewsReadRowsOfTheVersionTheyPinned) {
  auto server = TestServer::start();
  std::vector<Entity> es;
  std::vector<RowId> items;
  ASSERT_TRUE(server->db->submit([&](Transaction& t) -> Status {
    for (int i = 0; i < 3; ++i) es.push_back(t.create().value());
    ECSDB_RETURN_IF_ERROR(t.put(es[0], Health{10, 100}));
    ECSDB_RETURN_IF_ERROR(t.put(es[0], Transform{1.5f, 2.5f, 3.5f}));
    ECSDB_RETURN_IF_ERROR(t.put(es[1], Health{20, 200}));
    for (std::uint16_t k = 1; k <= 2; ++k) {
      auto row = t.insert_child(es[0], Item{k, static_cast<std::uint16_t>(10 * k)});
      if (!row) return row.status();
      items.push_back(*row);
    }
    return Status::ok();
  }).wait().is_ok());
  ReplicaHandle r = connect(server->port());
  ASSERT_TRUE(r);
  const std::uint64_t target = server->db->published_version();
  ASSERT_EQ(ecsdb_replica_wait_version(r.get(), target, 5000), 1);
  EXPECT_EQ(ecsdb_replica_version(r.get()), target);

  const int health = ecsdb_replica_table(r.get(), "health");
  const int transform = ecsdb_replica_table(r.get(), "transform");
  const int item = ecsdb_replica_table(r.get(), "item");
  const ecsdb_field_info hp = field_of(r.get(), "health", "hp");
  const ecsdb_field_info max_hp = field_of(r.get(), "health", "max_hp");
  const ecsdb_field_info x = field_of(r.get(), "transform", "x");
  const ecsdb_field_info kind = field_of(r.get(), "item", "kind");
  const ecsdb_field_info count = field_of(r.get(), "item", "count");

  ViewHandle v(ecsdb_replica_pin(r.get()));
  ASSERT_TRUE(v);
  EXPECT_EQ(ecsdb_view_version(v.get()), target);
  EXPECT_EQ(ecsdb_view_entity_count(v.get()), 3u);

  // Every row, in dense order, with its key and bytes.
  std::map<std::uint64_t, std::pair<std::uint32_t, std::uint32_t>> rows;
  ASSERT_EQ(ecsdb_view_row_count(v.get(), health), 2u);
  for (std::uint32_t i = 0; i < ecsdb_view_row_count(v.get(), health); ++i) {
    std::uint64_t key = 0, owner = 1;
    const void* bytes = nullptr;
    ASSERT_EQ(ecsdb_view_row_at(v.get(), health, i, &key, &owner, &bytes), ECSDB_OK);
    EXPECT_EQ(owner, 0u) << "`one` rows are keyed by their entity: no owner";
    ASSERT_NE(bytes, nullptr);
    rows[key] = {read_field<std::uint32_t>(bytes, hp), read_field<std::uint32_t>(bytes, max_hp)};
  }
  const std::map<std::uint64_t, std::pair<std::uint32_t, std::uint32_t>> expected = {
      {es[0].bits(), {10, 100}}, {es[1].bits(), {20, 200}}};
  EXPECT_EQ(rows, expected);
  EXPECT_EQ(ecsdb_view_row_at(v.get(), health, 2, nullptr, nullptr, nullptr), ECSDB_NOT_FOUND);
  EXPECT_EQ(ecsdb_view_row_at(v.get(), health, 0, nullptr, nullptr, nullptr), ECSDB_OK) << "out pointers may be NULL";
  EXPECT_EQ(ecsdb_view_row_at(v.get(), -1, 0, nullptr, nullptr, nullptr), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_view_row_at(v.get(), 1000, 0, nullptr, nullptr, nullptr), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_view_row_count(v.get(), 1000), 0u);
  EXPECT_EQ(ecsdb_view_row_count(v.get(), -1), 0u);

  // Lookups by key: present, absent, stale, out of range, bad table.
  const void* row = ecsdb_view_get(v.get(), health, es[0].bits());
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(read_field<std::uint32_t>(row, hp), 10u);
  EXPECT_EQ(ecsdb_view_has(v.get(), health, es[0].bits()), 1);
  EXPECT_EQ(ecsdb_view_get(v.get(), health, es[2].bits()), nullptr) << "es[2] has no health";
  EXPECT_EQ(ecsdb_view_has(v.get(), health, es[2].bits()), 0);
  const Entity stale(es[0].index(), es[0].generation() + 1);
  EXPECT_EQ(ecsdb_view_get(v.get(), health, stale.bits()), nullptr);
  EXPECT_EQ(ecsdb_view_has(v.get(), health, stale.bits()), 0);
  EXPECT_EQ(ecsdb_view_get(v.get(), health, Entity(1u << 20, 1).bits()), nullptr);
  EXPECT_EQ(ecsdb_view_get(v.get(), 1000, es[0].bits()), nullptr);
  EXPECT_EQ(ecsdb_view_has(v.get(), -1, es[0].bits()), 0);
  const void* t = ecsdb_view_get(v.get(), transform, es[0].bits());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(read_field<float>(t, x), 1.5f);
  EXPECT_EQ(ecsdb_view_alive(v.get(), es[2].bits()), 1);
  EXPECT_EQ(ecsdb_view_alive(v.get(), stale.bits()), 0);
  EXPECT_EQ(ecsdb_view_alive(v.get(), Entity(999, 1).bits()), 0);

  // `many` rows: keyed by RowId, each with its owner.
  ASSERT_EQ(ecsdb_view_row_count(v.get(), item), 2u);
  std::set<std::uint64_t> item_keys;
  for (std::uint32_t i = 0; i < 2; ++i) {
    std::uint64_t key = 0, owner = 0;
    const void* bytes = nullptr;
    ASSERT_EQ(ecsdb_view_row_at(v.get(), item, i, &key, &owner, &bytes), ECSDB_OK);
    EXPECT_EQ(owner, es[0].bits());
    EXPECT_EQ(read_field<std::uint16_t>(bytes, count), 10 * read_field<std::uint16_t>(bytes, kind));
    item_keys.insert(key);
  }
  EXPECT_EQ(item_keys, (std::set<std::uint64_t>{items[0].bits(), items[1].bits()}));
  const void* first_item = ecsdb_view_get(v.get(), item, items[0].bits());
  ASSERT_NE(first_item, nullptr);
  EXPECT_EQ(read_field<std::uint16_t>(first_item, kind), 1u);

  // A view keeps its version: a later commit shows in a new view only.
  ASSERT_TRUE(server->db->submit([&](Transaction& tx) { return tx.put(es[0], Health{11, 100}); }).wait().is_ok());
  ASSERT_EQ(ecsdb_replica_wait_version(r.get(), server->db->published_version(), 5000), 1);
  ViewHandle newer(ecsdb_replica_pin(r.get()));
  EXPECT_GT(ecsdb_view_version(newer.get()), ecsdb_view_version(v.get()));
  EXPECT_EQ(read_field<std::uint32_t>(ecsdb_view_get(newer.get(), health, es[0].bits()), hp), 11u);
  EXPECT_EQ(read_field<std::uint32_t>(row, hp), 10u) << "the old view's bytes are unchanged until it is released";
  EXPECT_EQ(read_field<std::uint32_t>(ecsdb_view_get(v.get(), health, es[0].bits()), hp), 10u);
}

// Filters from C: a field comparison and an entity set at connect, then a live change of the subscription
// (only the difference arrives); a malformed filter is refused here, naming it.
TEST(CApiTest, FiltersSelectRowsAndTheSubscriptionChangesLive) {
  auto server = TestServer::start();
  std::vector<Entity> es;
  ASSERT_TRUE(server->db->submit([&](Transaction& t) -> Status {
    for (std::uint32_t i = 0; i < 6; ++i) {
      es.push_back(t.create().value());
      ECSDB_RETURN_IF_ERROR(t.put(es.back(), Health{i * 10, 100}));  // hp 0, 10, .., 50
      ECSDB_RETURN_IF_ERROR(t.put(es.back(), Transform{float(i), 0, 0}));
    }
    return Status::ok();
  }).wait().is_ok());
  const std::uint64_t ids[] = {es[4].bits(), es[5].bits()};
  ecsdb_filter filters[2]{};
  filters[0].kind = ECSDB_FILTER_FIELD;
  filters[0].table = "health";
  filters[0].field = "hp";
  filters[0].op = ECSDB_OP_LT;
  filters[0].value_kind = ECSDB_VALUE_INT;
  filters[0].int_value = 25;  // entities 0, 1, 2
  filters[1].kind = ECSDB_FILTER_ENTITIES;
  filters[1].table = "transform";
  filters[1].entities = ids;  // entities 4, 5
  filters[1].entity_count = 2;
  const char* tables[] = {"health", "transform"};
  ecsdb_replica_options o{};
  o.port = server->port();
  o.tables = tables;
  o.table_count = 2;
  o.filters = filters;
  o.filter_count = 2;
  char error[512];
  ecsdb_replica* raw = nullptr;
  ASSERT_EQ(ecsdb_replica_connect(&o, &raw, error, sizeof error), ECSDB_OK) << error;
  ReplicaHandle r(raw);
  const int health = ecsdb_replica_table(r.get(), "health");
  const int transform = ecsdb_replica_table(r.get(), "transform");
  const auto rows = [&](int table) {
    ViewHandle v(ecsdb_replica_pin(r.get()));
    std::set<std::uint64_t> keys;
    for (std::uint32_t i = 0; i < ecsdb_view_row_count(v.get(), table); ++i) {
      std::uint64_t key = 0;
      EXPECT_EQ(ecsdb_view_row_at(v.get(), table, i, &key, nullptr, nullptr), ECSDB_OK);
      keys.insert(key);
    }
    return keys;
  };
  EXPECT_EQ(rows(health), (std::set<std::uint64_t>{es[0].bits(), es[1].bits(), es[2].bits()}));
  EXPECT_EQ(rows(transform), (std::set<std::uint64_t>{es[4].bits(), es[5].bits()}));

  // Live: health rows with hp >= 25 instead, transform dropped.
  filters[0].op = ECSDB_OP_GE;
  ASSERT_EQ(ecsdb_replica_set_subscription(r.get(), tables, 1, filters, 1, error, sizeof error), ECSDB_OK) << error;
  const std::set<std::uint64_t> high{es[3].bits(), es[4].bits(), es[5].bits()};
  for (int i = 0; i < 500 && (rows(health) != high || !rows(transform).empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(rows(health), high);
  EXPECT_TRUE(rows(transform).empty());
  ecsdb_replica_stats stats{};
  ASSERT_EQ(ecsdb_replica_get_stats(r.get(), &stats), ECSDB_OK);
  EXPECT_EQ(stats.full_syncs, 1u) << "a live change is a difference, not a resync";

  // Malformed filters are refused before anything is sent.
  ecsdb_filter bad{};
  bad.kind = 9;
  EXPECT_EQ(ecsdb_replica_set_subscription(r.get(), tables, 1, &bad, 1, error, sizeof error), ECSDB_INVALID_ARGUMENT);
  EXPECT_STREQ(error, "invalid argument: filter 0: unknown kind 9");
  bad.kind = ECSDB_FILTER_FIELD;
  bad.field = "hp";
  bad.op = ECSDB_OP_EQ;
  bad.value_kind = ECSDB_VALUE_STRING;
  EXPECT_EQ(ecsdb_replica_set_subscription(r.get(), tables, 1, &bad, 1, error, sizeof error), ECSDB_INVALID_ARGUMENT);
  EXPECT_STREQ(error, "invalid argument: filter 0: no string_value");
  EXPECT_EQ(ecsdb_replica_set_subscription(r.get(), tables, 1, nullptr, 1, error, sizeof error), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_replica_status(r.get(), error, sizeof error), ECSDB_OK) << error;
}

TEST(CApiTest, AViewOutlivesItsReplica) {
  auto server = TestServer::start();
  Entity e;
  ASSERT_TRUE(server->db->submit([&](Transaction& t) -> Status {
    e = t.create().value();
    return t.put(e, Health{7, 70});
  }).wait().is_ok());
  ReplicaHandle r = connect(server->port());
  ASSERT_TRUE(r);
  const int health = ecsdb_replica_table(r.get(), "health");
  const ecsdb_field_info hp = field_of(r.get(), "health", "hp");
  ecsdb_view* v = ecsdb_replica_pin(r.get());
  ASSERT_NE(v, nullptr);
  ecsdb_replica_close(r.release());  // garbage-collected bindings may close first
  const void* row = ecsdb_view_get(v, health, e.bits());
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(read_field<std::uint32_t>(row, hp), 7u);
  ecsdb_view_release(v);  // frees the replica
}

TEST(CApiTest, PollReportsEachNewVersionOnce) {
  auto server = TestServer::start();
  ReplicaHandle r = connect(server->port());
  ASSERT_TRUE(r);
  std::uint64_t version = 0;
  EXPECT_EQ(ecsdb_replica_poll(r.get(), &version), 1) << "the first poll reports the synced state";
  EXPECT_EQ(version, ecsdb_replica_version(r.get()));
  EXPECT_EQ(ecsdb_replica_poll(r.get(), &version), 0);
  EXPECT_EQ(version, ecsdb_replica_version(r.get())) << "the version is written either way";
  const std::uint64_t before = version;

  ASSERT_TRUE(server->db->submit([](Transaction& t) { return t.create().status(); }).wait().is_ok());
  const std::uint64_t target = server->db->published_version();
  ASSERT_EQ(ecsdb_replica_wait_version(r.get(), target, 5000), 1);
  EXPECT_EQ(ecsdb_replica_poll(r.get(), &version), 1);
  EXPECT_EQ(version, target);
  EXPECT_GT(version, before);
  EXPECT_EQ(ecsdb_replica_poll(r.get(), nullptr), 0);
  EXPECT_EQ(ecsdb_replica_poll(r.get(), &version), 0);

  // Waiting for a version that does not come times out.
  EXPECT_EQ(ecsdb_replica_wait_version(r.get(), target + 100, 50), 0);

  ecsdb_replica_stats s{};
  ASSERT_EQ(ecsdb_replica_get_stats(r.get(), &s), ECSDB_OK);
  EXPECT_EQ(s.version, target);
  EXPECT_EQ(s.full_syncs, 1u);
  EXPECT_GE(s.frames, 1u);
  EXPECT_EQ(s.connected, 1);
  char error[64] = "x";
  EXPECT_EQ(ecsdb_replica_status(r.get(), error, sizeof error), ECSDB_OK);
  EXPECT_STREQ(error, "");
}

TEST(CApiTest, WritesAreCommittedOrRejectedWithTheServersReason) {
  auto server = TestServer::start();
  Entity e;
  ASSERT_TRUE(server->db->submit([&](Transaction& t) -> Status {
    e = t.create().value();
    return Status::ok();
  }).wait().is_ok());
  ReplicaHandle r = connect(server->port());
  ASSERT_TRUE(r);
  const int health = ecsdb_replica_table(r.get(), "health");
  const ecsdb_field_info hp = field_of(r.get(), "health", "hp");
  const ecsdb_field_info max_hp = field_of(r.get(), "health", "max_hp");
  std::vector<std::byte> row(ecsdb_replica_table_stride(r.get(), health));
  write_field<std::uint32_t>(row, hp, 42);
  write_field<std::uint32_t>(row, max_hp, 50);

  // A whole row: committed, then visible here once the replica has its version.
  WriteHandle w(ecsdb_write_new());
  ASSERT_TRUE(w);
  ASSERT_EQ(ecsdb_write_put(w.get(), "health", e.bits(), row.data(), row.size()), ECSDB_OK);
  const std::uint64_t request = ecsdb_replica_submit(r.get(), w.get());
  ASSERT_NE(request, 0u);
  w.reset();  // submit copied it
  std::uint64_t version = 0;
  char error[512] = "x";
  ASSERT_EQ(ecsdb_replica_write_wait(r.get(), request, 5000, &version, error, sizeof error), ECSDB_OK) << error;
  EXPECT_STREQ(error, "");
  EXPECT_GT(version, 0u);
  ASSERT_EQ(ecsdb_replica_wait_version(r.get(), version, 5000), 1);
  {
    ViewHandle v(ecsdb_replica_pin(r.get()));
    EXPECT_EQ(read_field<std::uint32_t>(ecsdb_view_get(v.get(), health, e.bits()), hp), 42u);
  }
  EXPECT_EQ(server->db->pin().get<Health>(e)->hp, 42u);
  EXPECT_EQ(ecsdb_replica_write_wait(r.get(), request, 0, &version, error, sizeof error), ECSDB_WRITE_UNKNOWN)
      << "an answered request is forgotten";
  EXPECT_EQ(ecsdb_replica_write_wait(r.get(), 987654321, 0, &version, error, sizeof error), ECSDB_WRITE_UNKNOWN);

  // One field of a row image: only that field changes.
  write_field<std::uint32_t>(row, hp, 7);
  write_field<std::uint32_t>(row, max_hp, 999);
  w.reset(ecsdb_write_new());
  ASSERT_EQ(ecsdb_write_update(w.get(), "health", e.bits(), std::uint64_t{1} << hp.id, row.data(), row.size()), ECSDB_OK);
  Answer a = submit_and_wait(r.get(), w.get());
  ASSERT_EQ(a.code, ECSDB_OK) << a.error;
  EXPECT_EQ(server->db->pin().get<Health>(e)->hp, 7u);
  EXPECT_EQ(server->db->pin().get<Health>(e)->max_hp, 50u);

  // A `many` row, inserted; then the entity destroyed with everything it owns.
  const int item = ecsdb_replica_table(r.get(), "item");
  std::vector<std::byte> item_row(ecsdb_replica_table_stride(r.get(), item));
  write_field<std::uint16_t>(item_row, field_of(r.get(), "item", "kind"), 3);
  w.reset(ecsdb_write_new());
  ASSERT_EQ(ecsdb_write_insert(w.get(), "item", e.bits(), item_row.data(), item_row.size()), ECSDB_OK);
  a = submit_and_wait(r.get(), w.get());
  ASSERT_EQ(a.code, ECSDB_OK) << a.error;
  ASSERT_EQ(ecsdb_replica_wait_version(r.get(), a.version, 5000), 1);
  {
    ViewHandle v(ecsdb_replica_pin(r.get()));
    ASSERT_EQ(ecsdb_view_row_count(v.get(), item), 1u);
    std::uint64_t owner = 0;
    ASSERT_EQ(ecsdb_view_row_at(v.get(), item, 0, nullptr, &owner, nullptr), ECSDB_OK);
    EXPECT_EQ(owner, e.bits());
  }
  w.reset(ecsdb_write_new());
  ASSERT_EQ(ecsdb_write_remove(w.get(), "health", e.bits()), ECSDB_OK);
  ASSERT_EQ(ecsdb_write_destroy(w.get(), e.bits()), ECSDB_OK);
  a = submit_and_wait(r.get(), w.get());
  ASSERT_EQ(a.code, ECSDB_OK) << a.error;
  ASSERT_EQ(ecsdb_replica_wait_version(r.get(), a.version, 5000), 1);
  {
    ViewHandle v(ecsdb_replica_pin(r.get()));
    EXPECT_EQ(ecsdb_view_alive(v.get(), e.bits()), 0);
    EXPECT_EQ(ecsdb_view_row_count(v.get(), item), 0u);
    EXPECT_EQ(ecsdb_view_row_count(v.get(), health), 0u);
  }

  // Rejected: an unknown table, a row of the wrong size, an entity that does not exist.
  w.reset(ecsdb_write_new());
  ASSERT_EQ(ecsdb_write_put(w.get(), "nope", e.bits(), row.data(), row.size()), ECSDB_OK);
  a = submit_and_wait(r.get(), w.get());
  EXPECT_EQ(a.code, ECSDB_NOT_FOUND) << a.error;
  EXPECT_NE(a.error.find("nope"), std::string::npos) << a.error;
  EXPECT_EQ(a.error.rfind("not found: ", 0), 0u) << "the message starts with the code's name: " << a.error;
  EXPECT_EQ(a.version, 0u);
  w.reset(ecsdb_write_new());
  ASSERT_EQ(ecsdb_write_put(w.get(), "health", e.bits(), row.data(), row.size() - 1), ECSDB_OK);
  a = submit_and_wait(r.get(), w.get());
  EXPECT_EQ(a.code, ECSDB_INVALID_ARGUMENT) << a.error;
  w.reset(ecsdb_write_new());
  ASSERT_EQ(ecsdb_write_put(w.get(), "health", Entity(99, 1).bits(), row.data(), row.size()), ECSDB_OK);
  a = submit_and_wait(r.get(), w.get());
  EXPECT_GT(a.code, ECSDB_OK) << "a write to an entity that does not exist is rejected: " << a.error;
  EXPECT_NE(a.error, "");

  // A forgotten request is unknown, whatever its answer.
  w.reset(ecsdb_write_new());
  ASSERT_EQ(ecsdb_write_remove(w.get(), "health", Entity(98, 1).bits()), ECSDB_OK);
  const std::uint64_t forgotten = ecsdb_replica_submit(r.get(), w.get());
  ASSERT_NE(forgotten, 0u);
  ecsdb_replica_write_forget(r.get(), forgotten);
  EXPECT_EQ(ecsdb_replica_write_wait(r.get(), forgotten, 0, nullptr, nullptr, 0), ECSDB_WRITE_UNKNOWN);
  EXPECT_EQ(ecsdb_replica_submit(r.get(), nullptr), 0u);

  // Subscribing to an unknown table is refused with the server's reason.
  const Connected unknown = try_connect(server->port(), nullptr, {"helth"});
  EXPECT_EQ(unknown.code, ECSDB_NOT_FOUND) << unknown.error;
  EXPECT_FALSE(unknown.replica);
  EXPECT_NE(unknown.error.find("helth"), std::string::npos) << unknown.error;
}

TEST(CApiTest, AWriteStaysPendingUntilTheServersWriterRunsIt) {
  auto server = TestServer::start({}, /*writer_thread=*/false);
  WriterHandle& writer = server->db->writer();
  const Entity e = writer.create().value();
  ASSERT_TRUE(writer.put(e, Health{1, 10}).is_ok());
  writer.publish();
  ReplicaHandle r = connect(server->port());
  ASSERT_TRUE(r);
  const ecsdb_field_info hp = field_of(r.get(), "health", "hp");
  std::vector<std::byte> row(ecsdb_replica_table_stride(r.get(), ecsdb_replica_table(r.get(), "health")));
  write_field<std::uint32_t>(row, hp, 5);
  WriteHandle w(ecsdb_write_new());
  ASSERT_EQ(ecsdb_write_update(w.get(), "health", e.bits(), std::uint64_t{1} << hp.id, row.data(), row.size()), ECSDB_OK);
  const std::uint64_t request = ecsdb_replica_submit(r.get(), w.get());
  ASSERT_NE(request, 0u);
  std::uint64_t version = 1;
  char error[256];
  EXPECT_EQ(ecsdb_replica_write_wait(r.get(), request, 100, &version, error, sizeof error), ECSDB_WRITE_PENDING) << error;
  EXPECT_EQ(version, 0u);
  EXPECT_EQ(ecsdb_replica_write_wait(r.get(), request, 0, &version, error, sizeof error), ECSDB_WRITE_PENDING)
      << "a timed-out request stays";
  // The owner drains the queue (the WRITE may still be on its way: drain until it ran).
  std::size_t ran = 0;
  for (int i = 0; i < 500 && ran == 0; ++i) {
    ran = writer.drain();
    writer.publish();
    if (ran == 0) std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(ran, 1u);
  ASSERT_EQ(ecsdb_replica_write_wait(r.get(), request, 5000, &version, error, sizeof error), ECSDB_OK) << error;
  EXPECT_GT(version, 0u);
  ASSERT_EQ(ecsdb_replica_wait_version(r.get(), version, 5000), 1);
  ViewHandle v(ecsdb_replica_pin(r.get()));
  EXPECT_EQ(read_field<std::uint32_t>(ecsdb_view_get(v.get(), ecsdb_replica_table(r.get(), "health"), e.bits()), hp), 5u);
}

TEST(CApiTest, TokensAreCheckedAndAReadOnlyTokensWriteIsRejected) {
  ReplicationOptions o;
  o.authenticate = [](std::string_view token) -> std::optional<ReplicationAccess> {
    if (token == "writer") return ReplicationAccess{"writer", true, {}, {}, {}, 0};
    if (token == "reader") return ReplicationAccess{"reader", false, {"health"}, {}, {}, 0};
    return std::nullopt;
  };
  auto server = TestServer::start(o);
  Entity e;
  ASSERT_TRUE(server->db->submit([&](Transaction& t) -> Status {
    e = t.create().value();
    return t.put(e, Health{1, 10});
  }).wait().is_ok());

  // No token, or a table the token may not read: refused, with the reason, and no handle.
  const Connected anonymous = try_connect(server->port());
  EXPECT_EQ(anonymous.code, ECSDB_PERMISSION_DENIED) << anonymous.error;
  EXPECT_FALSE(anonymous.replica);
  EXPECT_EQ(anonymous.error.rfind("permission denied: ", 0), 0u) << anonymous.error;
  const Connected not_readable = try_connect(server->port(), "reader", {"transform"});
  EXPECT_EQ(not_readable.code, ECSDB_PERMISSION_DENIED) << not_readable.error;
  EXPECT_NE(not_readable.error.find("transform"), std::string::npos) << not_readable.error;

  ReplicaHandle writer = connect(server->port(), "writer");
  ReplicaHandle reader = connect(server->port(), "reader", {"health"});
  ASSERT_TRUE(writer && reader);
  std::vector<std::byte> row(ecsdb_replica_table_stride(reader.get(), ecsdb_replica_table(reader.get(), "health")));
  write_field<std::uint32_t>(row, field_of(reader.get(), "health", "hp"), 99);
  WriteHandle w(ecsdb_write_new());
  ASSERT_EQ(ecsdb_write_put(w.get(), "health", e.bits(), row.data(), row.size()), ECSDB_OK);

  // The reader's write is rejected (the server disconnects it: the answer may be that connection loss).
  const Answer refused = submit_and_wait(reader.get(), w.get());
  EXPECT_GT(refused.code, ECSDB_OK) << refused.error;
  EXPECT_NE(refused.error, "");
  char error[512] = "";
  int status = ECSDB_OK;
  for (int i = 0; i < 200 && (status = ecsdb_replica_status(reader.get(), error, sizeof error)) == ECSDB_OK; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(status, ECSDB_PERMISSION_DENIED) << error;
  EXPECT_NE(std::string(error).find("reader"), std::string::npos) << error;
  EXPECT_EQ(server->db->pin().get<Health>(e)->hp, 1u) << "the rejected write changed nothing";
  {
    ViewHandle v(ecsdb_replica_pin(reader.get()));  // the local copy stays readable
    EXPECT_NE(ecsdb_view_get(v.get(), ecsdb_replica_table(reader.get(), "health"), e.bits()), nullptr);
  }

  // The writer's is committed.
  const Answer committed = submit_and_wait(writer.get(), w.get());
  EXPECT_EQ(committed.code, ECSDB_OK) << committed.error;
  EXPECT_EQ(server->db->pin().get<Health>(e)->hp, 99u);
}

TEST(CApiTest, OverwrittenWritesAreHandedOutAsTheyFit) {
  ReplicationOptions o;
  o.tick_ms = 300;  // frames go out once per tick: both writes land in the same frame
  auto server = TestServer::start(o);
  std::vector<Entity> es;
  ASSERT_TRUE(server->db->submit([&](Transaction& t) -> Status {
    for (int i = 0; i < 2; ++i) {
      es.push_back(t.create().value());
      ECSDB_RETURN_IF_ERROR(t.put(es.back(), Health{1, 10}));
    }
    return Status::ok();
  }).wait().is_ok());
  ReplicaHandle first = connect(server->port());
  ReplicaHandle second = connect(server->port());
  ASSERT_TRUE(first && second);
  const int health = ecsdb_replica_table(first.get(), "health");
  const ecsdb_field_info hp = field_of(first.get(), "health", "hp");
  const std::uint64_t hp_bit = std::uint64_t{1} << hp.id;
  std::vector<std::byte> row(ecsdb_replica_table_stride(first.get(), health));
  auto both = [&](std::uint32_t value) {
    write_field<std::uint32_t>(row, hp, value);
    WriteHandle w(ecsdb_write_new());
    for (const Entity e : es) EXPECT_EQ(ecsdb_write_update(w.get(), "health", e.bits(), hp_bit, row.data(), row.size()), ECSDB_OK);
    return w;
  };
  WriteHandle w1 = both(100);
  WriteHandle w2 = both(200);
  const std::uint64_t lost_request = ecsdb_replica_submit(first.get(), w1.get());
  std::uint64_t a = 0, b = 0;
  ASSERT_EQ(ecsdb_replica_write_wait(first.get(), lost_request, 5000, &a, nullptr, 0), ECSDB_OK);
  const Answer won = submit_and_wait(second.get(), w2.get());
  ASSERT_EQ(won.code, ECSDB_OK) << won.error;
  b = won.version;
  ASSERT_LT(a, b);
  ASSERT_EQ(ecsdb_replica_wait_version(first.get(), b, 5000), 1);
  ASSERT_EQ(ecsdb_replica_wait_version(second.get(), b, 5000), 1);

  // Two notices (one per row): counted without taking, then handed out one at a time.
  std::size_t waiting = 0;
  for (int i = 0; i < 200 && waiting < 2; ++i) {
    waiting = ecsdb_replica_take_overwritten(first.get(), nullptr, 0);
    if (waiting < 2) std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(waiting, 2u) << "the first writer lost both rows to the second";
  ecsdb_overwritten got[4] = {};
  ASSERT_EQ(ecsdb_replica_take_overwritten(first.get(), got, 1), 1u);
  EXPECT_EQ(ecsdb_replica_take_overwritten(first.get(), nullptr, 0), 1u) << "what did not fit stays";
  ASSERT_EQ(ecsdb_replica_take_overwritten(first.get(), got + 1, 3), 1u);
  EXPECT_EQ(ecsdb_replica_take_overwritten(first.get(), got, 4), 0u);
  std::set<std::uint64_t> keys;
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(got[i].request, lost_request);
    EXPECT_EQ(got[i].table, health);
    EXPECT_EQ(got[i].field_mask, hp_bit);
    EXPECT_GE(got[i].version, b);
    keys.insert(got[i].key);
  }
  EXPECT_EQ(keys, (std::set<std::uint64_t>{es[0].bits(), es[1].bits()}));
  ViewHandle v(ecsdb_replica_pin(first.get()));
  EXPECT_EQ(read_field<std::uint32_t>(ecsdb_view_get(v.get(), health, es[0].bits()), hp), 200u)
      << "and it already holds the winner's value";
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(ecsdb_replica_take_overwritten(second.get(), nullptr, 0), 0u) << "the winner is not told anything";
}

TEST(CApiTest, ConnectingToAClosedPortFailsWithAMessage) {
  std::uint16_t port = 0;
  {
    auto gone = TestServer::start();
    port = gone->port();
  }
  const auto started = std::chrono::steady_clock::now();
  const Connected c = try_connect(port, nullptr, {}, 300);
  EXPECT_TRUE(c.code == ECSDB_DEADLINE_EXCEEDED || c.code == ECSDB_UNAVAILABLE) << c.code << ": " << c.error;
  EXPECT_FALSE(c.replica);
  EXPECT_NE(c.error.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << c.error;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "connect_timeout_ms bounds the attempt";
}

TEST(CApiTest, NullHandlesAndBadArgumentsAreErrorsNotCrashes) {
  EXPECT_EQ(ecsdb_client_abi_version(), static_cast<std::uint32_t>(ECSDB_CLIENT_ABI_VERSION));
  EXPECT_STREQ(ecsdb_status_name(ECSDB_NOT_FOUND), "not found");
  EXPECT_STREQ(ecsdb_status_name(ECSDB_OK), "ok");
  EXPECT_STREQ(ecsdb_status_name(ECSDB_DEADLINE_EXCEEDED), "deadline exceeded");
  EXPECT_STREQ(ecsdb_status_name(-1), "unknown");
  EXPECT_STREQ(ecsdb_status_name(1000), "unknown");

  // Connect.
  char error[256] = "";
  ecsdb_replica* out = reinterpret_cast<ecsdb_replica*>(&error);  // any non-NULL value: it must be cleared
  EXPECT_EQ(ecsdb_replica_connect(nullptr, &out, error, sizeof error), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(out, nullptr);
  EXPECT_STRNE(error, "");
  ecsdb_replica_options o{};
  EXPECT_EQ(ecsdb_replica_connect(&o, nullptr, error, sizeof error), ECSDB_INVALID_ARGUMENT);
  o.table_count = 1;
  EXPECT_EQ(ecsdb_replica_connect(&o, &out, error, sizeof error), ECSDB_INVALID_ARGUMENT) << "table_count without tables";
  const char* null_name[] = {nullptr};
  o.tables = null_name;
  EXPECT_EQ(ecsdb_replica_connect(&o, &out, error, sizeof error), ECSDB_INVALID_ARGUMENT) << error;
  EXPECT_EQ(out, nullptr);
  EXPECT_EQ(ecsdb_replica_connect(nullptr, nullptr, nullptr, 0), ECSDB_INVALID_ARGUMENT) << "no error buffer is fine";
  char tiny[4] = "xyz";
  EXPECT_EQ(ecsdb_replica_connect(nullptr, nullptr, tiny, sizeof tiny), ECSDB_INVALID_ARGUMENT);
  EXPECT_STREQ(tiny, "inv") << "messages are truncated to fit, NUL-terminated";

  // Replica functions.
  ecsdb_replica_close(nullptr);
  EXPECT_EQ(ecsdb_replica_version(nullptr), 0u);
  EXPECT_EQ(ecsdb_replica_wait_version(nullptr, 1, 10), 0);
  std::uint64_t version = 5;
  EXPECT_EQ(ecsdb_replica_poll(nullptr, &version), 0);
  EXPECT_EQ(version, 0u);
  EXPECT_EQ(ecsdb_replica_status(nullptr, error, sizeof error), ECSDB_INVALID_ARGUMENT);
  EXPECT_STRNE(error, "");
  ecsdb_replica_stats stats{};
  EXPECT_EQ(ecsdb_replica_get_stats(nullptr, &stats), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_replica_table_count(nullptr), 0);
  EXPECT_EQ(ecsdb_replica_table(nullptr, "health"), -1);
  EXPECT_EQ(ecsdb_replica_table_name(nullptr, 0), nullptr);
  EXPECT_EQ(ecsdb_replica_table_stride(nullptr, 0), 0u);
  EXPECT_EQ(ecsdb_replica_table_cardinality(nullptr, 0), -1);
  EXPECT_EQ(ecsdb_replica_field_count(nullptr, 0), -1);
  EXPECT_EQ(ecsdb_replica_field_index(nullptr, 0, "hp"), -1);
  ecsdb_field_info info{};
  EXPECT_EQ(ecsdb_replica_field(nullptr, 0, 0, &info), ECSDB_INVALID_ARGUMENT);

  // Views.
  EXPECT_EQ(ecsdb_replica_pin(nullptr), nullptr);
  ecsdb_view_release(nullptr);
  EXPECT_EQ(ecsdb_view_version(nullptr), 0u);
  EXPECT_EQ(ecsdb_view_entity_count(nullptr), 0u);
  EXPECT_EQ(ecsdb_view_alive(nullptr, 1), 0);
  EXPECT_EQ(ecsdb_view_row_count(nullptr, 0), 0u);
  std::uint64_t key = 0;
  EXPECT_EQ(ecsdb_view_row_at(nullptr, 0, 0, &key, nullptr, nullptr), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_view_get(nullptr, 0, 1), nullptr);
  EXPECT_EQ(ecsdb_view_has(nullptr, 0, 1), 0);

  // Writes.
  ecsdb_write_free(nullptr);
  const std::byte row[8] = {};
  EXPECT_EQ(ecsdb_write_put(nullptr, "health", 1, row, sizeof row), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_write_update(nullptr, "health", 1, 1, row, sizeof row), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_write_remove(nullptr, "health", 1), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_write_destroy(nullptr, 1), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_write_insert(nullptr, "item", 1, row, sizeof row), ECSDB_INVALID_ARGUMENT);
  WriteHandle w(ecsdb_write_new());
  ASSERT_TRUE(w);
  EXPECT_EQ(ecsdb_write_put(w.get(), nullptr, 1, row, sizeof row), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_write_put(w.get(), "health", 1, nullptr, sizeof row), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_write_update(w.get(), nullptr, 1, 1, row, sizeof row), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_write_remove(w.get(), nullptr, 1), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_write_insert(w.get(), "item", 1, nullptr, 4), ECSDB_INVALID_ARGUMENT);
  EXPECT_EQ(ecsdb_replica_submit(nullptr, w.get()), 0u);
  EXPECT_EQ(ecsdb_replica_submit(nullptr, nullptr), 0u);
  EXPECT_EQ(ecsdb_replica_write_wait(nullptr, 1, 0, &version, error, sizeof error), ECSDB_INVALID_ARGUMENT);
  ecsdb_replica_write_forget(nullptr, 1);
  ecsdb_overwritten notices[2];
  EXPECT_EQ(ecsdb_replica_take_overwritten(nullptr, notices, 2), 0u);
  EXPECT_EQ(ecsdb_replica_take_overwritten(nullptr, nullptr, 0), 0u);
}

}  // namespace
}  // namespace ecsdb
