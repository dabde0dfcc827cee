#include "txn/delta_builder.hpp"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "base/copy_small.hpp"
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

template <typename Word>
Word load(const std::byte* p) noexcept {
  Word w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// Whether n bytes at a and b are equal, inline for the sizes a row or a field usually has (a memcmp call per
// row and per field was much of what comparing a pass's rows cost).
inline bool same_bytes(const std::byte* a, const std::byte* b, std::uint32_t n) noexcept {
  switch (n) {
    case 4: return load<std::uint32_t>(a) == load<std::uint32_t>(b);
    case 8: return load<std::uint64_t>(a) == load<std::uint64_t>(b);
    case 12: return load<std::uint64_t>(a) == load<std::uint64_t>(b) && load<std::uint32_t>(a + 8) == load<std::uint32_t>(b + 8);
    case 16: return load<std::uint64_t>(a) == load<std::uint64_t>(b) && load<std::uint64_t>(a + 8) == load<std::uint64_t>(b + 8);
    default: return std::memcmp(a, b, n) == 0;
  }
}

// A table's fields in row order, the order pack_fields packs them in, for the loops over a pass's rows.
struct PlannedField {
  std::uint32_t offset;
  std::uint32_t size;
  std::uint64_t bit;
  bool stored;
};
std::vector<PlannedField> plan_fields(const Table& table) {
  std::vector<PlannedField> out;
  for (const std::uint16_t id : table.layout.row_order) {
    const Field& f = table.layout.fields[id];
    out.push_back({f.offset, f.type.size, field_bit(f.id), f.stored});
  }
  return out;
}

// changed_fields, planned.
std::uint64_t changed_fields(std::span<const PlannedField> fields, const std::byte* before, const std::byte* now) noexcept {
  std::uint64_t mask = 0;
  for (const PlannedField& f : fields) {
    if (f.stored && !same_bytes(before + f.offset, now + f.offset, f.size)) mask |= f.bit;
  }
  return mask;
}

// Packs row `now`'s fields of `mask` at `out` (the bytes pack_fields would write); returns how many.
std::uint32_t pack_planned(std::span<const PlannedField> fields, std::uint64_t mask, const std::byte* now,
                           std::byte* out) noexcept {
  std::uint32_t n = 0;
  for (const PlannedField& f : fields) {
    if ((mask & f.bit) == 0) continue;
    base::copy_small(out + n, now + f.offset, f.size);
    n += f.size;
  }
  return n;
}

// Appends row `now`'s fields of `mask` to `td` as the update of `key`.
void add_update(TableDelta& td, const Table& table, std::uint32_t stride, std::uint64_t key, std::uint64_t mask,
                const std::byte* now) {
  const std::size_t at = td.update_bytes.size();
  td.update_bytes.resize(at + stride);
  const std::uint32_t n = pack_fields(table, mask, now, td.update_bytes.data() + at);
  td.update_bytes.resize(at + n);
  td.updates.push_back({key, mask, static_cast<std::uint32_t>(at), n});
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

// A row now that no row of a pass held when it ran: one inserted since.
constexpr std::uint32_t kNotPassRow = ~std::uint32_t{0};

// One for_each_mut pass (TransactionWriter::pass): its kWriteRows records, one per page of the rows it
// visited, and where those rows are now. Nothing keeps their keys: after the pass, rows move only by the
// records that follow it in its table (an insert appends; a removal moves the last row into the removed
// one's place, storage::remove_row), so following those forward says which row of the pass each row now
// was, and the entity in a row now is the one the pass saw there.
struct Pass {
  std::uint16_t table = 0;
  std::size_t first = 0;                 // its first record, in the log
  std::uint32_t rows = 0;                // it visited rows [0, rows)
  std::vector<const UndoEntry*> pages;   // the record of page j
  // (row now, the pass's row then or kNotPassRow) for each row now that is not the pass's row of the same
  // number, by row now. A pass's row never lands at or past `rows`: only the last row moves, into a lower
  // one.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> moved;

  // The pass's row that the row `now` was (kNotPassRow: none). `cursor` walks `moved` for rows asked in
  // increasing order; nullptr searches.
  std::uint32_t row_then(std::uint32_t now, std::size_t* cursor) const noexcept {
    std::size_t i;
    if (cursor != nullptr) {
      while (*cursor < moved.size() && moved[*cursor].first < now) ++*cursor;
      i = *cursor;
    } else {
      i = static_cast<std::size_t>(std::lower_bound(moved.begin(), moved.end(), std::pair{now, std::uint32_t{0}}) -
                                   moved.begin());
    }
    if (i < moved.size() && moved[i].first == now) return moved[i].second;
    return now < rows ? now : kNotPassRow;
  }
#if defined(ECSDB_DEBUG_CHECKS)
  // Aborts unless `key` is the entity the pass saw in its row `then` (the record keeps the keys in Debug
  // builds, when a delta was due at the pass): a row op that follow_moves does not follow would make a
  // row's fields compare with another's.
  void check_entity(const UndoLog& log, std::uint32_t then, std::uint32_t shift, std::uint64_t key) const {
    const UndoEntry& u = *pages[then >> shift];
    if (u.key == 0) return;
    std::uint64_t seen;
    std::memcpy(&seen, log.bytes(u.key - 1 + std::size_t{then - u.row_or_offset} * sizeof seen), sizeof seen);
    if (seen != key) {
      std::fprintf(stderr, "ecsdb: build_delta followed row %u of a pass over table %u to a row of another entity\n",
                   then, table);
      std::abort();
    }
  }
#endif
  // The bytes before the pass of its row `then` (< rows).
  const std::byte* before(const UndoLog& log, std::uint32_t then, std::uint32_t shift, std::uint32_t stride) const noexcept {
    const UndoEntry& u = *pages[then >> shift];
    return write_rows_before(log, u) + std::size_t{then - u.row_or_offset} * stride;
  }
};

// Fills p.moved by following the records after the pass in its table; `rows_now` is the table's row count
// at the commit, which the count followed must reach.
void follow_moves(const UndoLog& log, Pass& p, [[maybe_unused]] std::uint32_t rows_now) {
  std::unordered_map<std::uint32_t, std::uint32_t> then;  // row now -> the pass's row, where they differ
  const auto row_then = [&](std::uint32_t row) {
    const auto it = then.find(row);
    return it != then.end() ? it->second : row < p.rows ? row : kNotPassRow;
  };
  std::uint32_t count = p.rows;
  const auto append = [&](std::uint32_t n) {
    for (std::uint32_t r = count; r < p.rows && r < count + n; ++r) then[r] = kNotPassRow;  // after removals
    count += n;
  };
  const std::vector<UndoEntry>& entries = log.entries();
  for (std::size_t i = p.first + 1; i < entries.size(); ++i) {
    const UndoEntry& u = entries[i];
    switch (u.kind) {
      case UndoKind::kInsertRow:
      case UndoKind::kPlaceRow:
        if (u.table == p.table) append(1);
        break;
      case UndoKind::kBulkInsert:
        if (u.table == p.table) append(u.size);
        break;
      case UndoKind::kRemoveRow:
      case UndoKind::kUnplaceRow: {
        if (u.table != p.table) break;
        const std::uint32_t last = count - 1;
        if (u.row_or_offset != last) then[u.row_or_offset] = row_then(last);
        then.erase(last);
        --count;
        break;
      }
      default: break;
    }
  }
  assert(count == rows_now);
  p.moved.assign(then.begin(), then.end());
  std::sort(p.moved.begin(), p.moved.end());
}

// The transaction's passes, in the order they ran.
std::vector<Pass> find_passes(const UndoLog& log, const VersionState& v) {
  std::vector<Pass> passes;
  const std::vector<UndoEntry>& entries = log.entries();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const UndoEntry& u = entries[i];
    if (u.kind != UndoKind::kWriteRows) continue;
    if (u.row_or_offset == 0) {
      passes.emplace_back();
      passes.back().table = u.table;
      passes.back().first = i;
    }
    // The latest pass over the table: its pages are recorded in order (the rows' own page size).
    const auto p = std::find_if(passes.rbegin(), passes.rend(), [&](const Pass& q) { return q.table == u.table; });
    assert(p != passes.rend() && u.row_or_offset == p->rows &&
           (std::uint64_t{p->pages.size()} << v.tables[u.table].rows.shift) == u.row_or_offset);
    p->pages.push_back(&u);
    p->rows = u.row_or_offset + u.size;
  }
  for (Pass& p : passes) follow_moves(log, p, v.tables[p.table].row_count);
  return passes;
}

// The fields the pass `p` changed in table `id`'s row `row` now (bytes `now`), which was its row `then`, whose
// bytes before it are `before`.
std::uint64_t pass_changed([[maybe_unused]] const UndoLog& log, [[maybe_unused]] const Pass& p,
                           std::span<const PlannedField> fields, const VersionState& v, std::uint16_t id,
                           [[maybe_unused]] std::uint32_t row, [[maybe_unused]] std::uint32_t then,
                           const std::byte* before, const std::byte* now) {
  const TableState& t = v.tables[id];
#if defined(ECSDB_DEBUG_CHECKS)
  p.check_entity(log, then, t.rows.shift, storage::row_key(t, row, v.registry));
#endif
  return same_bytes(before, now, t.stride) ? 0 : changed_fields(fields, before, now);
}

// The fields of table `id`'s row `row` now that its passes changed: for each pass, those that differ between
// the row's bytes before it and now. For the rows another record touched too.
std::uint64_t pass_changes(const UndoLog& log, const std::vector<Pass>& passes, std::uint16_t id,
                           std::span<const PlannedField> fields, const VersionState& v, std::uint32_t row) {
  const TableState& t = v.tables[id];
  const std::byte* now = t.rows.at(row);
  std::uint64_t mask = 0;
  for (const Pass& p : passes) {
    if (p.table != id) continue;
    const std::uint32_t then = p.row_then(row, nullptr);
    if (then == kNotPassRow) continue;
    mask |= pass_changed(log, p, fields, v, id, row, then, p.before(log, then, t.rows.shift, t.stride), now);
  }
  return mask;
}

// Lists the rows of table `id` that its passes changed, except those in `touched` (rows now, sorted; their
// touches list them), after the updates already in the table's delta. The same comparisons as
// pass_changes, row after row: a pass's row that did not move lies in the page of the pass's record at the
// same place as in the page now.
void list_pass_rows(const UndoLog& log, const std::vector<Pass>& passes, std::uint16_t id,
                    std::span<const PlannedField> fields, const VersionState& v, std::span<const std::uint32_t> touched,
                    Delta& d) {
  const TableState& t = v.tables[id];
  struct Cursor {
    const Pass* pass;
    std::size_t moved = 0;             // Pass::row_then's cursor
    const std::byte* page = nullptr;   // the pass's bytes before of the rows in the current page
  };
  std::vector<Cursor> cursors;
  std::uint32_t end = 0;  // past every row now that a pass's row can be (Pass::moved)
  for (const Pass& p : passes) {
    if (p.table != id) continue;
    cursors.push_back({&p});
    end = std::max(end, std::min(p.rows, t.row_count));
  }
  TableDelta& td = table_delta(d, id);
  // Room for every row a pass changed, so that a pass over a million rows does not copy its updates as they
  // grow.
  td.updates.reserve(td.updates.size() + end);
  std::size_t bytes = td.update_bytes.size();  // in use; the rest is room for the packed rows, cut at the end
  td.update_bytes.resize(bytes + std::size_t{end} * t.stride);
  auto skip = touched.begin();
  const std::byte* page_now = nullptr;
  for (std::uint32_t row = 0; row < end; ++row) {
    const std::uint32_t in_page = row & t.rows.mask;
    if (in_page == 0) {
      const std::uint32_t page = row >> t.rows.shift;
      page_now = t.rows.dir->pages()[page];
      for (Cursor& c : cursors) {
        c.page = page < c.pass->pages.size() ? write_rows_before(log, *c.pass->pages[page]) : nullptr;
      }
    }
    if (skip != touched.end() && *skip == row) {
      ++skip;
      continue;
    }
    const std::byte* now = page_now + std::size_t{in_page} * t.stride;
    std::uint64_t mask = 0;
    for (Cursor& c : cursors) {
      const std::uint32_t then = c.pass->row_then(row, &c.moved);
      if (then == kNotPassRow) continue;
      const std::byte* before = then == row ? c.page + std::size_t{in_page} * t.stride
                                            : c.pass->before(log, then, t.rows.shift, t.stride);
      mask |= pass_changed(log, *c.pass, fields, v, id, row, then, before, now);
    }
    if (mask == 0) continue;
    const std::uint32_t n = pack_planned(fields, mask, now, td.update_bytes.data() + bytes);
    td.updates.push_back({storage::row_key(t, row, v.registry), mask, static_cast<std::uint32_t>(bytes), n});
    bytes += n;
  }
  td.update_bytes.resize(bytes);
  // A delta may wait long in a subscriber's queue: room for rows the passes left as they were is given
  // back (a copy of what is used) rather than kept with it.
  if (td.updates.capacity() > 2 * td.updates.size() + 1024) td.updates.shrink_to_fit();
  if (td.update_bytes.capacity() > 2 * td.update_bytes.size() + 4096) td.update_bytes.shrink_to_fit();
}

}  // namespace

void build_delta(const WorkingVersion& working, Delta& d) {
  const VersionState& v = working.state();
  const UndoLog& log = working.undo_log();
  const WriterSchema& tables = working.tables();
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
  // The passes' rows (for_each_mut). A row another record touched too takes the fields its passes changed
  // into that touch; the others, most of a pass, existed before the transaction and still exist (only a
  // record removes a row), and are listed after the touches without a touch of their own, each once however
  // many passes changed it.
  const std::vector<Pass> passes = find_passes(log, v);
  std::vector<std::uint16_t> passed;  // the tables passed over, each once
  std::vector<std::vector<PlannedField>> planned;  // their fields
  for (const Pass& p : passes) {
    if (std::find(passed.begin(), passed.end(), p.table) != passed.end()) continue;
    passed.push_back(p.table);
    planned.push_back(plan_fields(*tables.info(p.table).table));
  }
  std::vector<std::vector<std::uint32_t>> touched(passed.size());  // their rows now that touches list
  for (Touch& t : touches) {
    const auto it = std::find(passed.begin(), passed.end(), t.table);
    if (it == passed.end()) continue;
    const std::uint32_t row = v.find_row_index(t.table, t.key);
    if (row == kNoRow) continue;  // removed since: its touch says so
    const auto i = static_cast<std::size_t>(it - passed.begin());
    t.mask |= pass_changes(log, passes, t.table, planned[i], v, row);
    touched[i].push_back(row);
  }
  for (std::vector<std::uint32_t>& rows : touched) std::sort(rows.begin(), rows.end());
  // Stable: within a table, keys stay in the order the transaction first touched them.
  std::stable_sort(touches.begin(), touches.end(), [](const Touch& a, const Touch& b) { return a.table < b.table; });
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
      add_update(td, *info.table, info.stride, t.key, mask, bytes);
    }
  }
  for (std::size_t i = 0; i < passed.size(); ++i) list_pass_rows(log, passes, passed[i], planned[i], v, touched[i], d);
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
