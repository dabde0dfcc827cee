// Built against an installed ECSDb with the replication_server component: serves a database with an
// embedded ReplicationServer, replicates it into an ecsdb::Replica in the same process, commits, and checks
// the replica sees the commit through a filter. Exits non-zero on any failure.
#include <chrono>
#include <cstdio>

#include <ecsdb/ecsdb.hpp>
#include <ecsdb/replica.hpp>
#include <ecsdb/replication_server.hpp>

struct Health { std::uint32_t hp, max_hp; };
ECSDB_COMPONENT(Health, "health", hp, max_hp)

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer_replication SCHEMA.toml\n");
    return 2;
  }
  auto schema = ecsdb::load_schema_file(argv[1]);
  if (!schema) {
    std::fprintf(stderr, "%s\n", schema.status().to_string().c_str());
    return 2;
  }
  auto db = ecsdb::Database::open(*schema).value();
  if (!db->bind<Health>().is_ok() || !db->start_writer_thread().is_ok()) return 1;
  ecsdb::ReplicationOptions ro;
  ro.port = 0;  // any free port
  ecsdb::ReplicationServer server(*db, ro);
  if (ecsdb::Status s = server.start(); !s.is_ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return 1;
  }
  ecsdb::ReplicaOptions o;
  o.port = server.port();
  o.tables = {"health"};
  o.filters = {ecsdb::SubscriptionFilter::where("health", "hp", ecsdb::SubscriptionFilter::Op::kGe, ecsdb::Value::from_int(50))};
  auto replica = ecsdb::Replica::connect(o);
  if (!replica) {
    std::fprintf(stderr, "%s\n", replica.status().to_string().c_str());
    return 1;
  }
  const ecsdb::Status committed = db->submit([](ecsdb::Transaction& t) -> ecsdb::Status {
    for (std::uint32_t i = 0; i < 100; ++i) {
      auto e = t.create();
      if (!e) return e.status();
      if (ecsdb::Status s = t.put(*e, Health{i, 100}); !s.is_ok()) return s;
    }
    return ecsdb::Status::ok();
  }).wait();
  if (!committed.is_ok() || !(*replica)->wait_for_version(db->published_version(), std::chrono::seconds(10))) return 1;
  std::uint64_t rows = 0, hp = 0;
  (*replica)->pin().each<Health>([&](ecsdb::Entity, const Health& h) {
    ++rows;
    hp += h.hp;
  });
  if (rows != 50 || hp != 3725) {  // hp 50..99
    std::fprintf(stderr, "consumer_replication: expected 50 rows of hp >= 50 (total 3725), got %llu (%llu)\n",
                 static_cast<unsigned long long>(rows), static_cast<unsigned long long>(hp));
    return 1;
  }
  std::printf("consumer_replication: an embedded ReplicationServer and a filtered Replica work: %llu rows, total hp %llu\n",
              static_cast<unsigned long long>(rows), static_cast<unsigned long long>(hp));
  (*replica)->close();
  server.stop();
  db->stop_writer_thread();
  return 0;
}
