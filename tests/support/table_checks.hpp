// Checks of a table's internal consistency, shared by the tests that drive the writer through every path.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "ecsdb/detail/version_state.hpp"
#include "ecsdb/entity.hpp"

namespace ecsdb::testing {

// Whose sparse index a check reads. The writer's working version names no row past its row count in any
// slot. A published version may: the writer stores the slot of a later version's row in place in a page
// they share, where it reads "no row" to the published version (storage/table_ops.cpp, "Slots no view can
// see").
enum class SlotsOf : std::uint8_t { kWorkingVersion, kPublishedVersion };

// The elided sparse index (TableState::sparse, storage/table_ops.cpp) agrees with the rows: every row's
// key finds that row (through its slot, or through the identity run where the slot's page is absent),
// and no present slot names a row that holds another key. Returns the rows found through the run, so that
// a test can tell the elided path was taken.
inline std::uint32_t expect_sparse_index_matches_rows(const detail::TableState& t, const detail::RegistryState& registry,
                                                      SlotsOf whose = SlotsOf::kWorkingVersion) {
  std::uint32_t through_run = 0;
  for (std::uint32_t r = 0; r < t.row_count; ++r) {
    const std::uint64_t key = t.key_at(r, registry);
    const auto index = static_cast<std::uint32_t>(key);
    EXPECT_LT(index, t.sparse.capacity()) << "row " << r << ": the sparse index does not reach its key";
    if (index >= t.sparse.capacity()) return through_run;
    if (!t.sparse.present(index)) {
      EXPECT_LT(index, t.identity_rows) << "row " << r << ": an absent slot above the run";
      EXPECT_EQ(r, index) << "row " << r << ": an absent slot for a row off its index";
      ++through_run;
    } else {
      const auto* s = reinterpret_cast<const detail::SparseSlot*>(t.sparse.at(index));
      EXPECT_EQ(s->row, r) << "row " << r << ": its key's slot names another row";
      EXPECT_EQ(s->generation, static_cast<std::uint32_t>(key >> 32)) << "row " << r;
    }
    EXPECT_EQ(t.row_of(key, registry), r) << "row " << r;
  }
  for (std::uint32_t index = 0; index < t.sparse.capacity(); ++index) {
    if (!t.sparse.present(index)) continue;
    const auto* s = reinterpret_cast<const detail::SparseSlot*>(t.sparse.at(index));
    if (s->row == detail::kNoRow) continue;
    if (whose == SlotsOf::kPublishedVersion && s->row >= t.row_count) continue;  // reads "no row" (load_slot)
    EXPECT_LT(s->row, t.row_count) << "slot " << index << " names a row past the end";
    if (s->row >= t.row_count) continue;
    EXPECT_EQ(static_cast<std::uint32_t>(t.key_at(s->row, registry)), index) << "slot " << index << " names another key's row";
  }
  return through_run;
}

// The elided keys (TableState::keys, storage/table_ops.cpp) agree with the run: a page is absent only
// where every row of it is in the run (K2), and a key the run holds, stored or not, is its row's entity
// with the registry's generation, alive. Returns the rows whose keys are implied (not stored).
inline std::uint32_t expect_keys_match_run(const detail::TableState& t, const detail::RegistryState& registry) {
  std::uint32_t implied = 0;
  EXPECT_GE(t.keys.capacity(), t.row_count) << "the keys do not reach every row";
  for (std::uint32_t r = 0; r < t.row_count; ++r) {
    if (!t.keys.present(r)) {
      EXPECT_LT(r, t.identity_rows) << "row " << r << ": an absent key above the run";
      ++implied;
    }
    if (r >= t.identity_rows) continue;
    const std::uint64_t key = t.key_at(r, registry);
    EXPECT_EQ(static_cast<std::uint32_t>(key), r) << "row " << r << " of the run holds another index";
    EXPECT_TRUE(registry.is_alive(Entity::from_bits(key))) << "row " << r << " of the run: its entity is not alive";
  }
  return implied;
}

// Pages of the table's keys that are present.
inline std::uint32_t present_key_pages(const detail::TableState& t) {
  std::uint32_t n = 0;
  for (std::uint32_t p = 0; p < t.keys.pages; ++p) n += t.keys.dir->pages()[p] != nullptr ? 1 : 0;
  return n;
}

// Pages of the table's sparse index that are present.
inline std::uint32_t present_sparse_pages(const detail::TableState& t) {
  std::uint32_t n = 0;
  for (std::uint32_t p = 0; p < t.sparse.pages; ++p) n += t.sparse.dir->pages()[p] != nullptr ? 1 : 0;
  return n;
}

}  // namespace ecsdb::testing
