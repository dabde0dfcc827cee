#include "txn/delta_builder.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <map>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "storage/table_ops.hpp"

namespace ecsdb::detail {

namespace {

void order_rows(TableDelta& td, std::span<const std::pair<std::uint16_t, RowOp>> ops) {
  // The commit's row order is what "deletes in order, then inserts in order" reproduces when it removed
  // every row before inserting any and touched each key once; inserts are already listed in insertion
  // order (an insert is the first touch of its key), deletes are put in removal order here.
  bool simple = true;
  bool inserted = false;
  std::unordered_set<std::uint64_t> keys;
  for (const auto& [table, op] : ops) {
    if ((!op.insert && inserted) || !keys.insert(op.key).second) simple = false;
    inserted |= op.insert;
  }
  if (!simple) {
    td.sequence.reserve(ops.size());
    for (const auto& [table, op] : ops) td.sequence.push_back(op);
    return;
  }
  td.deleted_keys.clear();
  for (const auto& [table, op] : ops) {
    if (!op.insert) td.deleted_keys.push_back(op.key);
  }
}

// The bits of the stored fields of `table` whose bytes differ between rows `before` and `now`.
std::uint64_t changed_fields(const Table& table, const std::byte* before, const std::byte* now) noexcept {
  std::uint64_t mask = 0;
  for (const Field& f : table.layout.fields) {
    if (f.stored && std::memcmp(before + f.offset, now + f.offset, f.type.size) != 0) mask |= field_bit(f.id);
  }
  return mask;
}

// Whether the transaction was one for_each_mut pass on its own (TransactionWriter::implicit_for_each_mut):
// its log holds its kWriteRows records, which keep no keys, and nothing else.
bool one_pass(const UndoLog& log) noexcept {
  return !log.entries().empty() && std::all_of(log.entries().begin(), log.entries().end(), [](const UndoEntry& u) {
    return u.kind == UndoKind::kWriteRows && u.key == 0;
  });
}

// Appends row `now`'s fields of `mask` to `td` as the update of `key`.
void add_update(TableDelta& td, const Table& table, std::uint32_t stride, std::uint64_t key, std::uint64_t mask,
                const std::byte* now, std::vector<std::byte>& packed) {
  packed.resize(stride);
  const std::uint32_t n = pack_fields(table, mask, now, packed.data());
  td.updates.push_back({key, mask, static_cast<std::uint32_t>(td.update_bytes.size()), n});
  td.update_bytes.insert(td.update_bytes.end(), packed.begin(), packed.begin() + n);
}

// The TableDelta of `table` in `d`, whose tables are in table order, added there if missing.
TableDelta& table_delta(Delta& d, std::uint16_t table) {
  auto td = std::lower_bound(d.tables.begin(), d.tables.end(), table,
                             [](const TableDelta& t, std::uint16_t id) { return t.table < id; });
  if (td == d.tables.end() || td->table != table) {
    td = d.tables.insert(td, TableDelta{});
    td->table = table;
  }
  return *td;
}

// The delta of one pass: its rows did not move, so each row's key is the one at its row now, and its
// bytes before are the record's. Rows come in row order, one table, as the general path lists them.
void build_pass_delta(const WorkingVersion& working, Delta& d) {
  const VersionState& v = working.state();
  const UndoLog& log = working.undo_log();
  std::vector<std::byte> packed;
  for (const UndoEntry& u : log.entries()) {
    const Table& table = *working.tables().info(u.table).table;
    const TableState& t = v.tables[u.table];
    if (d.tables.empty() || d.tables.back().table != u.table) {
      d.tables.emplace_back();
      d.tables.back().table = u.table;
    }
    TableDelta& td = d.tables.back();
    const std::byte* before = write_rows_before(log, u);
    const std::byte* now = t.rows.at(u.row_or_offset);  // the record's rows lie in one page
    for (std::uint32_t i = 0; i < u.size; ++i, before += t.stride, now += t.stride) {
      if (std::memcmp(before, now, t.stride) == 0) continue;
      const std::uint64_t mask = changed_fields(table, before, now);
      if (mask != 0) add_update(td, table, t.stride, storage::row_key(t, u.row_or_offset + i, v.registry), mask, now, packed);
    }
  }
  std::erase_if(d.tables, [](const TableDelta& t) { return t.empty(); });
}

}  // namespace

void build_delta(const WorkingVersion& working, Delta& d) {
  const VersionState& v = working.state();
  const UndoLog& log = working.undo_log();
  const WriterSchema& tables = working.tables();
  if (one_pass(log)) {
    build_pass_delta(working, d);
    return;
  }
  struct Touch {
    std::uint16_t table;
    std::uint64_t key;
    bool existed_before;
    bool replaced = false;   // removed and inserted again: all fields changed
    std::uint64_t mask = 0;
  };
  std::vector<Touch> touches;
  std::unordered_map<std::uint64_t, std::size_t> index;  // touch_id(table, key) -> touches index
  const auto touch_id = [](std::uint16_t table, std::uint64_t key) { return key * 0x9E3779B97F4A7C15ull ^ table; };
  // The touch of (table, key) if a record made one.
  auto find_touch = [&](std::uint16_t table, std::uint64_t key) -> Touch* {
    if (touches.empty()) return nullptr;  // a transaction that is passes only: no hashing
    const auto it = index.find(touch_id(table, key));
    if (it == index.end()) return nullptr;
    if (touches[it->second].table == table && touches[it->second].key == key) return &touches[it->second];
    for (Touch& t : touches) {  // hash collision of (table, key)
      if (t.table == table && t.key == key) return &t;
    }
    return nullptr;
  };
  auto touch = [&](std::uint16_t table, std::uint64_t key, bool existed) -> Touch& {
    auto [it, fresh] = index.try_emplace(touch_id(table, key), touches.size());
    if (fresh || touches[it->second].table != table || touches[it->second].key != key) {
      if (!fresh) {  // hash collision of (table, key): fall back to a linear search
        for (std::size_t i = 0; i < touches.size(); ++i) {
          if (touches[i].table == table && touches[i].key == key) return touches[i];
        }
      }
      touches.push_back({table, key, existed});
      if (!fresh) return touches.back();
    }
    return touches[it->second];
  };
  // Row insertions and removals in the order made, per table: they decide the row order (TableDelta).
  std::vector<std::pair<std::uint16_t, RowOp>> row_ops;
  for (const UndoEntry& u : log.entries()) {
    switch (u.kind) {
      case UndoKind::kInsertRow:
      case UndoKind::kRemoveRow:
      case UndoKind::kPlaceRow:
      case UndoKind::kUnplaceRow: {
        const bool insert = u.kind == UndoKind::kInsertRow || u.kind == UndoKind::kPlaceRow;
        row_ops.push_back({u.table, RowOp{u.key, tables.info(u.table).many ? u.owner : 0, insert}});
        break;
      }
      case UndoKind::kBulkInsert:
        for (std::uint32_t i = 0; i < u.size; ++i) row_ops.push_back({u.table, RowOp{bulk_key(log, u, i), 0, true}});
        break;
      default: break;
    }
    switch (u.kind) {
      case UndoKind::kCreateEntity:
      case UndoKind::kRestoreSlot: d.created.push_back(Entity::from_bits(u.key)); break;
      case UndoKind::kBulkCreate:
        for (std::uint32_t i = 0; i < u.size; ++i) d.created.push_back(Entity(u.row_or_offset + i, 1));
        break;
      case UndoKind::kDestroyEntity: {
        const Entity e = Entity::from_bits(u.key);
        auto it = std::find(d.created.begin(), d.created.end(), e);
        if (it != d.created.end()) d.created.erase(it);
        else d.destroyed.push_back(e);
        break;
      }
      case UndoKind::kInsertRow:
      case UndoKind::kPlaceRow: {
        Touch& t = touch(u.table, u.key, false);
        if (t.existed_before) t.replaced = true;
        break;
      }
      case UndoKind::kRemoveRow:
      case UndoKind::kUnplaceRow: touch(u.table, u.key, true); break;
      case UndoKind::kBulkInsert:
        for (std::uint32_t i = 0; i < u.size; ++i) {
          Touch& t = touch(u.table, bulk_key(log, u, i), false);
          if (t.existed_before) t.replaced = true;  // removed earlier in the transaction, added again
        }
        break;
      case UndoKind::kWriteBytes: {
        Touch& t = touch(u.table, u.key, true);
        const std::byte* now = v.find_row(u.table, u.key);
        if (now == nullptr) break;
        const std::byte* before = log.bytes(u.arena_offset);  // bytes [offset, offset+size) before
        for (const Field& f : tables.info(u.table).table->layout.fields) {
          if (!f.stored || f.offset + f.type.size <= u.row_or_offset || f.offset >= u.row_or_offset + u.size) continue;
          const std::uint32_t lo = std::max(f.offset, u.row_or_offset);
          const std::uint32_t hi = std::min(f.offset + f.type.size, u.row_or_offset + u.size);
          if (std::memcmp(before + (lo - u.row_or_offset), now + lo, hi - lo) != 0) t.mask |= field_bit(f.id);
        }
        break;
      }
      // kRetireRowId, kTakeRowId: follow from the row changes recorded beside them. kWriteRows: after this
      // loop.
      case UndoKind::kRetireRowId:
      case UndoKind::kTakeRowId:
      case UndoKind::kWriteRows: break;
    }
  }
  // The passes' rows (kWriteRows with their keys: for_each_mut inside a larger transaction). A row another
  // record touched too takes the fields that differ between the pass's bytes before and the row now into
  // that touch; the others, most of a pass, existed before the transaction and still exist (only a record
  // removes a row), and are listed after the touches without a touch of their own.
  struct PassRow {
    std::uint16_t table;
    std::uint64_t key;
    std::uint64_t mask;
    const std::byte* now;
  };
  std::vector<PassRow> pass_rows;
  // A table passed over twice in one transaction must list a row both passes changed once: from a table's
  // second pass on, the rows listed are found by (table, key) and the masks joined. (Rare: one pass per
  // table lists each row once, and needs no lookup.)
  std::vector<std::uint16_t> passed;
  std::map<std::pair<std::uint16_t, std::uint64_t>, std::size_t> listed;
  bool look_up = false;
  for (const UndoEntry& u : log.entries()) {
    if (u.kind != UndoKind::kWriteRows) continue;
    if (u.row_or_offset == 0) {  // a pass's first page
      if (std::find(passed.begin(), passed.end(), u.table) == passed.end()) {
        passed.push_back(u.table);
      } else if (!look_up) {
        look_up = true;
        for (std::size_t j = 0; j < pass_rows.size(); ++j) listed.emplace(std::pair{pass_rows[j].table, pass_rows[j].key}, j);
      }
    }
    const Table& table = *tables.info(u.table).table;
    const std::uint32_t stride = v.tables[u.table].stride;
    // Kept: a pass without its keys is one on its own (one_pass) or in a transaction with no delta (commit).
    assert(u.key != 0);
    const std::byte* keys = log.bytes(u.key - 1);
    const std::byte* before = write_rows_before(log, u);
    for (std::uint32_t i = 0; i < u.size; ++i, before += stride) {
      std::uint64_t key;
      std::memcpy(&key, keys + std::size_t{i} * sizeof key, sizeof key);
      const std::byte* now = v.find_row(u.table, key);
      Touch* t = find_touch(u.table, key);
      if (now == nullptr) continue;  // removed since: its touch says so
      const std::uint64_t mask = std::memcmp(before, now, stride) == 0 ? 0 : changed_fields(table, before, now);
      if (t != nullptr) {
        t->mask |= mask;
      } else if (mask != 0) {
        if (look_up) {
          const auto [it, fresh] = listed.try_emplace(std::pair{u.table, key}, pass_rows.size());
          if (!fresh) {
            pass_rows[it->second].mask |= mask;
            continue;
          }
        }
        pass_rows.push_back({u.table, key, mask, now});
      }
    }
  }
  // Stable: within a table, keys stay in the order the transaction first touched them.
  std::stable_sort(touches.begin(), touches.end(), [](const Touch& a, const Touch& b) { return a.table < b.table; });
  std::vector<std::byte> packed;
  for (const Touch& t : touches) {
    const TableInfo& info = tables.info(t.table);
    const TableState& ts = v.tables[t.table];
    const std::uint32_t row = v.find_row_index(t.table, t.key);
    const bool exists = row != kNoRow;
    if (!t.existed_before && !exists) continue;
    if (t.existed_before && exists && !t.replaced && t.mask == 0) continue;
    // A tag component (no fields) removed and added again: present before and after, nothing to say.
    if (t.existed_before && exists && info.stride == 0) continue;
    if (d.tables.empty() || d.tables.back().table != t.table) {
      d.tables.emplace_back();
      d.tables.back().table = t.table;
    }
    TableDelta& td = d.tables.back();
    const std::byte* bytes = info.stride == 0 || !exists ? nullptr : ts.rows.at(row);
    if (!t.existed_before) {
      td.inserted_keys.push_back(t.key);
      if (info.many) td.inserted_owners.push_back(storage::row_owner(ts, row, v.registry));
      if (bytes != nullptr) td.inserted_rows.insert(td.inserted_rows.end(), bytes, bytes + info.stride);
    } else if (!exists) {
      td.deleted_keys.push_back(t.key);
    } else {
      std::uint64_t mask = t.mask;
      if (t.replaced) {
        for (const Field& f : info.table->layout.fields) if (f.stored) mask |= field_bit(f.id);
      }
      packed.resize(info.stride);
      const std::uint32_t n = pack_fields(*info.table, mask, bytes, packed.data());
      td.updates.push_back({t.key, mask, static_cast<std::uint32_t>(td.update_bytes.size()), n});
      td.update_bytes.insert(td.update_bytes.end(), packed.begin(), packed.begin() + n);
    }
  }
  for (const PassRow& r : pass_rows) {
    const TableInfo& info = tables.info(r.table);
    add_update(table_delta(d, r.table), *info.table, info.stride, r.key, r.mask, r.now, packed);
  }
  std::stable_sort(row_ops.begin(), row_ops.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto ops = row_ops.begin(); ops != row_ops.end();) {
    auto end = ops;
    while (end != row_ops.end() && end->first == ops->first) ++end;
    // (Added when missing: e.g. a tag removed and added again.)
    order_rows(table_delta(d, ops->first), std::span(&*ops, static_cast<std::size_t>(end - ops)));
    ops = end;
  }
  std::erase_if(d.tables, [](const TableDelta& t) { return t.empty(); });
}

}  // namespace ecsdb::detail
