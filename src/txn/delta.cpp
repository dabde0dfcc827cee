#include "ecsdb/delta.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace ecsdb {

bool Delta::empty() const noexcept {
  if (!created.empty() || !destroyed.empty()) return false;
  return std::all_of(tables.begin(), tables.end(), [](const TableDelta& t) { return t.empty(); });
}

const TableDelta* Delta::find(std::uint16_t table) const noexcept {
  for (const TableDelta& t : tables) {
    if (t.table == table) return &t;
  }
  return nullptr;
}

std::uint32_t pack_fields(const Table& table, std::uint64_t mask, const std::byte* row, std::byte* out) {
  std::uint32_t n = 0;
  for (std::uint16_t id : table.layout.row_order) {
    const Field& f = table.layout.fields[id];
    if ((mask & field_bit(f.id)) == 0) continue;
    std::memcpy(out + n, row + f.offset, f.type.size);
    n += f.type.size;
  }
  return n;
}

std::uint64_t stored_fields_mask(const Table& table) noexcept {
  std::uint64_t m = 0;
  for (const Field& f : table.layout.fields) {
    if (f.stored) m |= field_bit(f.id);
  }
  return m;
}

void unpack_fields(const Table& table, std::uint64_t mask, const std::byte* packed, std::byte* row) {
  std::uint32_t n = 0;
  for (std::uint16_t id : table.layout.row_order) {
    const Field& f = table.layout.fields[id];
    if ((mask & field_bit(f.id)) == 0) continue;
    std::memcpy(row + f.offset, packed + n, f.type.size);
    n += f.type.size;
  }
}

namespace {

enum class Kind : std::uint8_t { kInsert, kUpdate, kDelete };
struct Entry {
  Kind kind;
  std::uint64_t owner = 0;
  std::uint64_t mask = 0;
  std::vector<std::byte> row;  // row image; for updates only masked fields are meaningful
};

void merge_table(TableDelta& into, const TableDelta& later, const Table& table) {
  const std::uint32_t stride = table.layout.stride;
  std::vector<std::uint64_t> order;
  std::unordered_map<std::uint64_t, Entry> entries;
  auto add = [&](std::uint64_t key, Entry e) {
    if (entries.emplace(key, std::move(e)).second) order.push_back(key);
  };
  for (std::size_t i = 0; i < into.inserted_keys.size(); ++i) {
    Entry e{Kind::kInsert, into.inserted_owners.empty() ? 0 : into.inserted_owners[i], stored_fields_mask(table),
            std::vector<std::byte>(into.inserted_rows.begin() + static_cast<std::ptrdiff_t>(i * stride),
                                   into.inserted_rows.begin() + static_cast<std::ptrdiff_t>((i + 1) * stride))};
    add(into.inserted_keys[i], std::move(e));
  }
  for (const RowUpdate& u : into.updates) {
    Entry e{Kind::kUpdate, 0, u.field_mask, std::vector<std::byte>(stride)};
    unpack_fields(table, u.field_mask, into.update_bytes.data() + u.offset, e.row.data());
    add(u.key, std::move(e));
  }
  for (std::uint64_t key : into.deleted_keys) add(key, Entry{Kind::kDelete, 0, 0, {}});

  for (std::size_t i = 0; i < later.inserted_keys.size(); ++i) {
    const std::uint64_t key = later.inserted_keys[i];
    std::vector<std::byte> row(later.inserted_rows.begin() + static_cast<std::ptrdiff_t>(i * stride),
                               later.inserted_rows.begin() + static_cast<std::ptrdiff_t>((i + 1) * stride));
    const std::uint64_t owner = later.inserted_owners.empty() ? 0 : later.inserted_owners[i];
    auto it = entries.find(key);
    if (it == entries.end()) {
      add(key, Entry{Kind::kInsert, owner, stored_fields_mask(table), std::move(row)});
    } else {
      // Deleted then re-inserted under the same key: the row was replaced as a whole.
      it->second = Entry{it->second.kind == Kind::kDelete ? Kind::kUpdate : it->second.kind, owner,
                         stored_fields_mask(table), std::move(row)};
    }
  }
  for (const RowUpdate& u : later.updates) {
    auto it = entries.find(u.key);
    if (it == entries.end()) {
      Entry e{Kind::kUpdate, 0, u.field_mask, std::vector<std::byte>(stride)};
      unpack_fields(table, u.field_mask, later.update_bytes.data() + u.offset, e.row.data());
      add(u.key, std::move(e));
    } else if (it->second.kind != Kind::kDelete) {
      it->second.mask |= u.field_mask;
      unpack_fields(table, u.field_mask, later.update_bytes.data() + u.offset, it->second.row.data());
    }
  }
  for (std::uint64_t key : later.deleted_keys) {
    auto it = entries.find(key);
    if (it == entries.end()) {
      add(key, Entry{Kind::kDelete, 0, 0, {}});
    } else if (it->second.kind == Kind::kInsert) {
      entries.erase(it);  // inserted and deleted within the span: nothing happened
    } else {
      it->second = Entry{Kind::kDelete, 0, 0, {}};
    }
  }

  TableDelta out;  // (no sequence: see TableDelta::sequence)
  out.table = into.table;
  const bool owners = !into.inserted_owners.empty() || !later.inserted_owners.empty();
  std::vector<std::byte> packed(stride);
  for (std::uint64_t key : order) {
    auto it = entries.find(key);
    if (it == entries.end()) continue;
    const Entry& e = it->second;
    switch (e.kind) {
      case Kind::kInsert:
        out.inserted_keys.push_back(key);
        if (owners) out.inserted_owners.push_back(e.owner);
        out.inserted_rows.insert(out.inserted_rows.end(), e.row.begin(), e.row.end());
        break;
      case Kind::kUpdate: {
        const std::uint32_t n = pack_fields(table, e.mask, e.row.data(), packed.data());
        out.updates.push_back({key, e.mask, static_cast<std::uint32_t>(out.update_bytes.size()), n});
        out.update_bytes.insert(out.update_bytes.end(), packed.begin(), packed.begin() + n);
        break;
      }
      case Kind::kDelete: out.deleted_keys.push_back(key); break;
    }
  }
  into = std::move(out);
}

}  // namespace

void Delta::merge(const Delta& later, const Schema& schema) {
  if (first_commit == 0) first_commit = later.first_commit;
  last_commit = std::max(last_commit, later.last_commit);
  version = std::max(version, later.version);
  for (Entity e : later.created) created.push_back(e);
  for (Entity e : later.destroyed) {
    auto it = std::find(created.begin(), created.end(), e);
    if (it != created.end()) created.erase(it);
    else destroyed.push_back(e);
  }
  for (const TableDelta& lt : later.tables) {
    auto it = std::find_if(tables.begin(), tables.end(), [&](const TableDelta& t) { return t.table == lt.table; });
    if (it == tables.end()) {
      TableDelta fresh;
      fresh.table = lt.table;
      tables.push_back(std::move(fresh));
      it = tables.end() - 1;
    }
    merge_table(*it, lt, schema.tables[lt.table]);
  }
  std::erase_if(tables, [](const TableDelta& t) { return t.empty(); });
  std::sort(tables.begin(), tables.end(), [](const TableDelta& a, const TableDelta& b) { return a.table < b.table; });
}

}  // namespace ecsdb
