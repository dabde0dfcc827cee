#include "replication/change_set.hpp"

#include <algorithm>
#include <cstring>

namespace ecsdb::replication {

ChangeSet::ChangeSet(const Schema& schema, std::vector<bool> tables)
    : schema_(schema), tables_(std::move(tables)), all_fields_(schema.tables.size(), 0), rows_(schema.tables.size()) {
  for (const Table& t : schema.tables) all_fields_[t.id] = stored_fields_mask(t);
}

void ChangeSet::insert(std::uint16_t table, std::uint64_t key) {
  auto [it, fresh] = rows_[table].try_emplace(key, RowChange{false, all_fields_[table]});
  if (!fresh) it->second.mask = all_fields_[table];  // deleted earlier in the range and back: a whole row
}

void ChangeSet::remove(std::uint16_t table, std::uint64_t key) {
  // The first change decides whether the client has the row. A row it never had that goes again leaves
  // nothing to send (and no entry: short-lived rows do not accumulate while a client lags).
  auto [it, fresh] = rows_[table].try_emplace(key, RowChange{true, 0});
  if (!fresh && !it->second.existed) rows_[table].erase(it);
}

void ChangeSet::fold(const Delta& d) {
  version_ = d.version;
  // An id is created at most once and destroyed at most once (a recycled index comes back with a new
  // generation): +1 created since, -1 destroyed since, 0 both (nothing to send).
  for (Entity e : d.created) {
    if (++entities_[e.bits()] == 0) entities_.erase(e.bits());
  }
  for (Entity e : d.destroyed) {
    if (--entities_[e.bits()] == 0) entities_.erase(e.bits());
  }
  for (const TableDelta& t : d.tables) {
    if (t.table >= tables_.size() || !tables_[t.table]) continue;
    if (!t.sequence.empty()) {
      for (const RowOp& op : t.sequence) op.insert ? insert(t.table, op.key) : remove(t.table, op.key);
    } else {
      for (std::uint64_t key : t.deleted_keys) remove(t.table, key);
      for (std::uint64_t key : t.inserted_keys) insert(t.table, key);
    }
    auto& rows = rows_[t.table];
    for (const RowUpdate& u : t.updates) {
      auto [it, fresh] = rows.try_emplace(u.key, RowChange{true, u.field_mask});
      if (!fresh) it->second.mask |= u.field_mask;
    }
  }
}

std::size_t ChangeSet::bytes() const noexcept {
  std::size_t n = 64 + entities_.size() * 32;
  for (const auto& r : rows_) n += r.size() * 40;
  return n;
}

void ChangeSet::clear() {
  entities_.clear();
  for (auto& r : rows_) r.clear();
  version_ = 0;
}

Delta ChangeSet::build(const PinnedView& view) const {
  Delta d;
  d.version = version_;
  const detail::VersionState& s = view.state();
  for (const auto& [bits, net] : entities_) {
    if (net > 0) d.created.push_back(Entity::from_bits(bits));
    if (net < 0) d.destroyed.push_back(Entity::from_bits(bits));
  }
  // Ascending ids: the key lists of a frame cost about a byte per key when they ascend (docs/protocol.md).
  auto by_bits = [](Entity a, Entity b) { return a.index() < b.index(); };
  std::sort(d.created.begin(), d.created.end(), by_bits);
  std::sort(d.destroyed.begin(), d.destroyed.end(), by_bits);
  std::vector<std::pair<std::uint64_t, RowChange>> sorted;
  for (const Table& table : schema_.tables) {
    const auto& changes = rows_[table.id];
    if (changes.empty()) continue;
    sorted.assign(changes.begin(), changes.end());
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return static_cast<std::uint32_t>(a.first) < static_cast<std::uint32_t>(b.first); });
    const detail::TableState& ts = s.tables[table.id];
    const bool many = table.cardinality == Cardinality::kMany;
    const std::uint32_t stride = table.stride();
    TableDelta td;
    td.table = table.id;
    for (const auto& [key, change] : sorted) {
      const std::uint32_t row = s.find_row_index(table.id, key);
      const bool exists = row != detail::kNoRow;
      if (change.existed && !exists) {
        td.deleted_keys.push_back(key);
      } else if (!change.existed && exists) {
        td.inserted_keys.push_back(key);
        if (many) {
          std::uint64_t owner = 0;
          std::memcpy(&owner, ts.owners.at(row), 8);
          td.inserted_owners.push_back(owner);
        }
        if (stride != 0) td.inserted_rows.insert(td.inserted_rows.end(), ts.rows.at(row), ts.rows.at(row) + stride);
      } else if (change.existed && exists && change.mask != 0 && stride != 0) {
        RowUpdate u{key, change.mask, static_cast<std::uint32_t>(td.update_bytes.size()), 0};
        td.update_bytes.resize(td.update_bytes.size() + stride);
        u.size = pack_fields(table, change.mask, ts.rows.at(row), td.update_bytes.data() + u.offset);
        td.update_bytes.resize(u.offset + u.size);
        td.updates.push_back(u);
      }
    }
    if (!td.empty()) d.tables.push_back(std::move(td));
  }
  return d;
}

}  // namespace ecsdb::replication
