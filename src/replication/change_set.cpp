#include "replication/change_set.hpp"

#include <algorithm>
#include <cstring>

namespace ecsdb::replication {

ChangeSet::ChangeSet(const Schema& schema, std::vector<bool> tables, TableFilters filters)
    : schema_(schema),
      subscribed_(tables),
      tracked_(std::move(tables)),
      filters_(std::move(filters)),
      all_fields_(schema.tables.size(), 0),
      rows_(schema.tables.size()),
      held_(schema.tables.size()) {
  for (const Table& t : schema.tables) all_fields_[t.id] = stored_fields_mask(t);
}

void ChangeSet::insert(std::uint16_t table, std::uint64_t key) {
  auto [it, fresh] = rows_[table].try_emplace(key, RowChange{false, all_fields_[table]});
  if (!fresh) it->second.mask = all_fields_[table];  // deleted earlier in the range and back: a whole row
}

void ChangeSet::remove(std::uint16_t table, std::uint64_t key) {
  // The first change decides whether the row was there. A row that was not and goes again leaves nothing
  // to send (and no entry: short-lived rows do not accumulate while a client lags).
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
    if (t.table >= tracked_.size() || !tracked_[t.table]) continue;
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
  for (const auto& h : held_) n += h.size() * 24;
  return n;
}

void ChangeSet::clear() {
  entities_.clear();
  for (auto& r : rows_) r.clear();
  version_ = 0;
}

void ChangeSet::adopt_next() {
  if (next_) {
    subscribed_ = std::move(next_->tables);
    filters_ = std::move(next_->filters);
    next_.reset();
  }
  tracked_ = subscribed_;
}

void ChangeSet::start_sync() {
  adopt_next();
  for (auto& h : held_) h.clear();
}

void ChangeSet::resubscribe(std::vector<bool> tables, TableFilters filters) {
  for (std::size_t t = 0; t < tracked_.size(); ++t) tracked_[t] = subscribed_[t] || tables[t];
  next_ = Next{std::move(tables), std::move(filters)};
}

Delta ChangeSet::build(const PinnedView& view) {
  Delta d;
  d.version = view.version();
  const detail::VersionState& s = view.state();
  for (const auto& [bits, net] : entities_) {
    if (net > 0) d.created.push_back(Entity::from_bits(bits));
    if (net < 0) d.destroyed.push_back(Entity::from_bits(bits));
  }
  // Ascending ids: the key lists of a frame cost about a byte per key when they ascend (docs/protocol.md).
  auto by_bits = [](Entity a, Entity b) { return a.index() < b.index(); };
  std::sort(d.created.begin(), d.created.end(), by_bits);
  std::sort(d.destroyed.begin(), d.destroyed.end(), by_bits);
  for (const Table& table : schema_.tables) {
    const bool before = subscribed_[table.id];
    const bool after = next_ ? next_->tables[table.id] : before;
    if (!before && !after) continue;
    // A subscription change re-examines every row of a table it adds, drops or (re)filters.
    const bool full_scan = next_ && (before != after || filters_.filtered(table.id) || next_->filters.filtered(table.id));
    build_table(table, s, full_scan, d);
  }
  // Every table whose filtering changed was scanned and its held set rebuilt (empty when no longer filtered).
  adopt_next();
  return d;
}

// One table's part of build(): for each candidate row, whether the client holds it (before) and whether it
// should (after), then delete, insert the whole row, or send its changed fields.
void ChangeSet::build_table(const Table& table, const detail::VersionState& s, bool full_scan, Delta& d) {
  const bool before = subscribed_[table.id];
  const bool after = next_ ? next_->tables[table.id] : before;
  const TableFilters& filters_after = next_ ? next_->filters : filters_;
  const bool filtered_before = filters_.filtered(table.id);
  const bool filtered_after = filters_after.filtered(table.id);
  const auto& changes = rows_[table.id];
  auto& held = held_[table.id];
  const detail::TableState& ts = s.tables[table.id];

  std::vector<std::uint64_t> keys;
  keys.reserve(changes.size() + (full_scan ? ts.row_count + held.size() : 0));
  for (const auto& [key, change] : changes) keys.push_back(key);
  if (full_scan) {
    for (std::uint32_t r = 0; r < ts.row_count; ++r) {
      keys.push_back(ts.key_at(r, s.registry));
    }
    keys.insert(keys.end(), held.begin(), held.end());
  }
  if (keys.empty()) return;
  std::sort(keys.begin(), keys.end(), [](std::uint64_t a, std::uint64_t b) {
    return static_cast<std::uint32_t>(a) != static_cast<std::uint32_t>(b) ? static_cast<std::uint32_t>(a) < static_cast<std::uint32_t>(b) : a < b;
  });
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());

  const bool many = table.cardinality == Cardinality::kMany;
  const std::uint32_t stride = table.stride();
  std::unordered_set<std::uint64_t> held_after;  // a full scan of a filtered table rebuilds the held set
  TableDelta td;
  td.table = table.id;
  for (std::uint64_t key : keys) {
    const std::uint32_t row = s.find_row_index(table.id, key);
    const bool exists = row != detail::kNoRow;
    const auto change = changes.find(key);
    bool holds = false;  // the client has the row
    if (before) holds = filtered_before ? held.contains(key) : change != changes.end() ? change->second.existed : exists;
    bool wants = after && exists;  // the client should have it
    Entity entity;
    std::uint64_t owner = 0;
    if (exists) {
      if (many) std::memcpy(&owner, ts.owners.at(row), 8);
      entity = many ? Entity::from_bits(owner) : Entity::from_bits(key);
      if (wants && filtered_after) wants = filters_after.admits(table.id, entity, stride != 0 ? ts.rows.at(row) : nullptr);
    }
    if (holds && !wants) {
      td.deleted_keys.push_back(key);
    } else if (!holds && wants) {
      td.inserted_keys.push_back(key);
      if (many) td.inserted_owners.push_back(owner);
      if (stride != 0) td.inserted_rows.insert(td.inserted_rows.end(), ts.rows.at(row), ts.rows.at(row) + stride);
    } else if (holds && wants && change != changes.end() && change->second.mask != 0 && stride != 0) {
      RowUpdate u{key, change->second.mask, static_cast<std::uint32_t>(td.update_bytes.size()), 0};
      td.update_bytes.resize(td.update_bytes.size() + stride);
      u.size = pack_fields(table, change->second.mask, ts.rows.at(row), td.update_bytes.data() + u.offset);
      td.update_bytes.resize(u.offset + u.size);
      td.updates.push_back(u);
    }
    if (filtered_after) {
      if (full_scan) {
        if (wants) held_after.insert(key);
      } else if (wants) {
        held.insert(key);
      } else {
        held.erase(key);
      }
    }
  }
  if (full_scan) held = std::move(held_after);
  if (!td.empty()) d.tables.push_back(std::move(td));
}

}  // namespace ecsdb::replication
