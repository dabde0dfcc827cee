// Shared set-up of the libFuzzer targets (built by scripts/run-fuzz.sh with clang, not by CMake).
//
// The on-disk formats carry a checksum over every record and section, so random mutations almost never
// get past the first check. Each target therefore reads its first input byte as a mode: even = the bytes
// exactly as given (what a damaged file looks like), odd = the harness first recomputes every checksum the
// structure lets it find, so the mutations reach the decoders behind the checksums (what a buggy writer,
// or a collision, would hand them). libpng's fuzzer skips its CRCs for the same reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "ecsdb/database.hpp"
#include "support/test_schema.hpp"
#include "txn/database_access.hpp"

namespace ecsdb::fuzz {

// The test schema, parsed once (parsing TOML on every input would dominate the run).
inline const std::shared_ptr<const Schema>& schema() {
  static const std::shared_ptr<const Schema> s = testing::test_schema();
  return s;
}

// A fresh in-memory database with the test schema: the target of a decoded snapshot or WAL record.
inline std::unique_ptr<Database> fresh_database() {
  DatabaseOptions o;
  o.durability = Durability::kMemory;
  auto db = Database::open(schema(), o);
  if (!db) __builtin_trap();  // the harness itself is broken: fail loudly
  return std::move(*db);
}

inline bool fix_checksums(const std::uint8_t* data, std::size_t size) { return size > 0 && (data[0] & 1) != 0; }

}  // namespace ecsdb::fuzz
