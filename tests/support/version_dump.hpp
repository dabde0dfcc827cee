// Everything a version holds, exactly: the registry's slots (generation and flags), each table's rows in
// row order with their keys and owners and its identity run, and each reverse-reference list in list
// order; and (dump_writer) what the writer keeps beside its working version: the free lists, row-id
// counters and unique-index counts. For tests that expect an operation that failed to have changed nothing.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "ecsdb/detail/version_state.hpp"
#include "txn/working_version.hpp"

namespace ecsdb::testing {

struct VersionDump {
  struct Table {
    std::uint32_t identity_rows = 0;
    std::vector<std::uint64_t> keys;
    std::vector<std::uint64_t> owners;
    std::vector<std::byte> rows;
    // `many` tables: the generation of each row id with no row (what the next id handed out at that
    // index carries), where it is not 0.
    std::map<std::uint32_t, std::uint32_t> free_generations;
    bool operator==(const Table&) const = default;
  };
  std::uint32_t used = 0;
  std::uint32_t alive = 0;
  std::vector<std::uint32_t> slots;  // per slot below `used`: its generation, then its flags
  std::vector<Table> tables;
  // Per reference column: target entity index -> the keys of the rows referencing it, in list order.
  std::vector<std::map<std::uint32_t, std::vector<std::uint64_t>>> refs;
  bool operator==(const VersionDump&) const = default;
};

inline VersionDump dump_version(const detail::VersionState& v) {
  VersionDump d;
  d.used = v.registry.used;
  d.alive = v.registry.alive;
  const std::size_t words = v.registry.slots.elem_size / 4;
  for (std::uint32_t i = 0; i < v.registry.used; ++i) {
    const std::size_t at = d.slots.size();
    d.slots.resize(at + words);
    std::memcpy(d.slots.data() + at, v.registry.slots.at(i), words * 4);
  }
  for (const detail::TableState& t : v.tables) {
    VersionDump::Table& out = d.tables.emplace_back();
    out.identity_rows = t.identity_rows;
    for (std::uint32_t r = 0; r < t.row_count; ++r) {
      out.keys.push_back(t.key_at(r, v.registry));
      if (t.owners.elem_size != 0 && t.owners.capacity() > r) {
        std::uint64_t owner = 0;
        std::memcpy(&owner, t.owners.at(r), sizeof owner);
        out.owners.push_back(owner);
      }
      if (t.stride != 0) out.rows.insert(out.rows.end(), t.rows.at(r), t.rows.at(r) + t.stride);
    }
    if (t.owners.capacity() != 0) {  // only `many` tables store owners
      for (std::uint32_t index = 0; index < t.sparse.capacity(); ++index) {
        if (!t.sparse.present(index)) continue;
        const auto* slot = reinterpret_cast<const detail::SparseSlot*>(t.sparse.at(index));
        if (slot->row == detail::kNoRow && slot->generation != 0) out.free_generations[index] = slot->generation;
      }
    }
  }
  for (const detail::RefIndexState& column : v.refs) {
    auto& lists = d.refs.emplace_back();
    for (std::uint32_t target = 0; target < column.heads.capacity(); ++target) {
      for (std::uint64_t key = column.head(target); key != 0; key = column.next(key)) lists[target].push_back(key);
    }
  }
  return d;
}

// Where two dumps first differ, in words ("" when they are equal).
inline std::string first_difference(const VersionDump& a, const VersionDump& b) {
  if (a.used != b.used) return "registry used " + std::to_string(a.used) + " vs " + std::to_string(b.used);
  if (a.alive != b.alive) return "registry alive " + std::to_string(a.alive) + " vs " + std::to_string(b.alive);
  if (a.slots != b.slots) {
    const std::size_t words = a.used == 0 ? 1 : a.slots.size() / a.used;
    for (std::size_t i = 0; i < a.slots.size(); ++i) {
      if (a.slots[i] != b.slots[i]) return "registry slot " + std::to_string(i / words) + ", word " + std::to_string(i % words);
    }
  }
  for (std::size_t t = 0; t < a.tables.size() && t < b.tables.size(); ++t) {
    const VersionDump::Table& x = a.tables[t];
    const VersionDump::Table& y = b.tables[t];
    const std::string where = "table " + std::to_string(t) + ": ";
    if (x.keys.size() != y.keys.size()) return where + std::to_string(x.keys.size()) + " rows vs " + std::to_string(y.keys.size());
    for (std::size_t r = 0; r < x.keys.size(); ++r) {
      if (x.keys[r] != y.keys[r]) return where + "the key of row " + std::to_string(r);
    }
    if (x.owners != y.owners) return where + "owners";
    if (x.rows != y.rows) return where + "row bytes";
    if (x.free_generations != y.free_generations) return where + "generations of free row ids";
    if (x.identity_rows != y.identity_rows) {
      return where + "identity_rows " + std::to_string(x.identity_rows) + " vs " + std::to_string(y.identity_rows);
    }
  }
  for (std::size_t c = 0; c < a.refs.size() && c < b.refs.size(); ++c) {
    if (a.refs[c] != b.refs[c]) return "reverse-reference lists of column " + std::to_string(c);
  }
  return a == b ? "" : "table or column counts";
}

struct WriterDump {
  VersionDump version;
  std::vector<std::uint32_t> free_entities;
  std::vector<std::vector<std::uint32_t>> free_row_ids;  // per table
  std::vector<std::uint32_t> next_row_index;             // per table
  std::map<std::tuple<std::uint16_t, std::size_t, std::string>, std::uint32_t> unique_counts;
  bool operator==(const WriterDump&) const = default;
};

inline WriterDump dump_writer(const detail::WorkingVersion& w) {
  WriterDump d;
  d.version = dump_version(w.state());
  d.free_entities = w.free_entities();
  for (std::uint16_t t = 0; t < w.state().tables.size(); ++t) {
    d.free_row_ids.push_back(w.aux(t).free_row_ids);
    d.next_row_index.push_back(w.aux(t).next_row_index);
  }
  w.unique_index().for_each_value([&](std::uint16_t table, std::size_t unique, std::string_view value, std::uint32_t count) {
    d.unique_counts[{table, unique, std::string(value)}] = count;
  });
  return d;
}

inline std::string first_difference(const WriterDump& a, const WriterDump& b) {
  if (std::string v = first_difference(a.version, b.version); !v.empty()) return v;
  if (a.free_entities != b.free_entities) return "the entity free list";
  if (a.free_row_ids != b.free_row_ids) return "a table's free row ids";
  if (a.next_row_index != b.next_row_index) return "a table's next row id";
  if (a.unique_counts != b.unique_counts) return "the unique index";
  return "";
}

}  // namespace ecsdb::testing
