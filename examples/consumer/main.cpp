// Built against an installed ECSDb (find_package(ECSDb CONFIG)): loads the SPEC's game schema, writes a
// few entities and reads them back through a pinned view. Exits non-zero on any failure.
#include <cstdio>

#include <ecsdb/ecsdb.hpp>

struct Transform { float position_x, position_y, position_z; };
struct Health { std::uint32_t hp, max_hp; };
ECSDB_COMPONENT(Transform, "transform", position_x, position_y, position_z)
ECSDB_COMPONENT(Health, "health", hp, max_hp)

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer SCHEMA.toml\n");
    return 2;
  }
  auto schema = ecsdb::load_schema_file(argv[1]);
  if (!schema) {
    std::fprintf(stderr, "%s\n", schema.status().to_string().c_str());
    return 2;
  }
  auto db = ecsdb::Database::open(*schema);
  if (!db) return 1;
  ecsdb::WriterHandle& w = (*db)->writer();
  if (!(*db)->bind<Transform>().is_ok() || !(*db)->bind<Health>().is_ok()) return 1;
  std::vector<ecsdb::Entity> entities;
  if (!w.create_many(100, entities).is_ok()) return 1;
  for (std::uint32_t i = 0; i < entities.size(); ++i) {
    if (!w.add(entities[i], Transform{float(i), 0, 0}).is_ok()) return 1;
    if (!w.add(entities[i], Health{i, 100}).is_ok()) return 1;
  }
  ecsdb::PinnedView view = (*db)->pin();
  std::uint64_t hp = 0;
  view.each<Transform, Health>([&](ecsdb::Entity, const Transform&, const Health& h) { hp += h.hp; });
  if (hp != 4950) {
    std::fprintf(stderr, "consumer: expected total hp 4950, got %llu\n", static_cast<unsigned long long>(hp));
    return 1;
  }
  std::printf("consumer: find_package(ECSDb) works: 100 entities, total hp %llu, version %llu\n",
              static_cast<unsigned long long>(hp), static_cast<unsigned long long>(view.version()));
  return 0;
}
