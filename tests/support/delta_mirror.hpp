// A mirror of one table built only from deltas, as a replica or a client would build it: the tests that
// check the deltas a commit produces compare it with the database.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <set>

#include "ecsdb/delta.hpp"
#include "ecsdb/schema.hpp"

namespace ecsdb::testing {

// Applies `d`'s changes to table `table` (whose rows are T, laid out as `layout`) to `mirror`, keyed by
// entity bits: inserted rows, updated fields, deleted keys. Row order (TableDelta::sequence) is not kept.
// Also checks that the delta names each key once among its inserted, updated and deleted rows.
template <typename T>
void apply_to_mirror(const Delta& d, std::uint16_t table, const Table& layout, std::map<std::uint64_t, T>& mirror) {
  const TableDelta* td = d.find(table);
  if (td == nullptr) return;
  std::set<std::uint64_t> named;
  for (const std::uint64_t k : td->inserted_keys) EXPECT_TRUE(named.insert(k).second) << "key " << k << " twice";
  for (const RowUpdate& u : td->updates) EXPECT_TRUE(named.insert(u.key).second) << "key " << u.key << " twice";
  for (const std::uint64_t k : td->deleted_keys) EXPECT_TRUE(named.insert(k).second) << "key " << k << " twice";
  for (std::size_t i = 0; i < td->inserted_keys.size(); ++i) {
    std::memcpy(&mirror[td->inserted_keys[i]], td->inserted_rows.data() + i * sizeof(T), sizeof(T));
  }
  for (const RowUpdate& u : td->updates) {
    const auto it = mirror.find(u.key);
    ASSERT_NE(it, mirror.end()) << "an update of a row the mirror does not have";
    unpack_fields(layout, u.field_mask, d.bytes_of(*td, u), reinterpret_cast<std::byte*>(&it->second));
  }
  for (const std::uint64_t k : td->deleted_keys) ASSERT_EQ(mirror.erase(k), 1u) << "a delete of a row the mirror does not have";
}

}  // namespace ecsdb::testing
