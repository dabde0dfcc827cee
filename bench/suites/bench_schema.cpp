#include "bench/suites/bench_schema.hpp"

namespace ecsdb::bench {

std::shared_ptr<const Schema> game_schema() {
  static const std::shared_ptr<const Schema> schema = [] {
    auto parsed = parse_schema(kGameSchemaToml, "bench/game.toml");
    return parsed ? *parsed : nullptr;
  }();
  return schema;
}

std::shared_ptr<const Schema> refs_schema() {
  static const std::shared_ptr<const Schema> schema = [] {
    auto parsed = parse_schema(kRefsSchemaToml, "bench/refs.toml");
    return parsed ? *parsed : nullptr;
  }();
  return schema;
}

}  // namespace ecsdb::bench
