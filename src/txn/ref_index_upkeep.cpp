#include "txn/ref_index_upkeep.hpp"

#include <cstring>

#include "storage/ref_index.hpp"
#include "storage/table_ops.hpp"

namespace ecsdb::detail {

std::uint64_t RefIndexUpkeep::ref_target(const RefColumn& c, const std::byte* row, std::uint64_t owner) const noexcept {
  return c.owner ? owner : load_ref(row, c.offset);
}

void RefIndexUpkeep::prepare_link_row(std::uint16_t table, std::uint64_t key, const std::byte* row, std::uint64_t owner) {
  for (std::uint16_t c : tables_.info(table).ref_columns) {
    const std::uint64_t target = ref_target(tables_.ref_columns()[c], row, owner);
    if (target != 0) storage::prepare_link(working_.refs[c], target, key, ctx_);
  }
}

void RefIndexUpkeep::link_row(std::uint16_t table, std::uint64_t key, const std::byte* row, std::uint64_t owner) noexcept {
  for (std::uint16_t c : tables_.info(table).ref_columns) {
    const std::uint64_t target = ref_target(tables_.ref_columns()[c], row, owner);
    if (target != 0) storage::link(working_.refs[c], target, key, ctx_);
  }
}

void RefIndexUpkeep::prepare_unlink_row(std::uint16_t table, std::uint64_t key, const std::byte* row, std::uint64_t owner) {
  for (std::uint16_t c : tables_.info(table).ref_columns) {
    const std::uint64_t target = ref_target(tables_.ref_columns()[c], row, owner);
    if (target != 0) storage::prepare_unlink(working_.refs[c], target, key, ctx_);
  }
}

void RefIndexUpkeep::unlink_row(std::uint16_t table, std::uint64_t key, const std::byte* row, std::uint64_t owner,
                                RefLink* saved) noexcept {
  const auto& columns = tables_.info(table).ref_columns;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const std::uint64_t target = ref_target(tables_.ref_columns()[columns[i]], row, owner);
    const RefLink at = target != 0 ? storage::unlink(working_.refs[columns[i]], target, key, ctx_) : RefLink{0, 0};
    if (saved != nullptr) std::memcpy(saved + i, &at, sizeof at);
  }
}

void RefIndexUpkeep::relink_row(std::uint16_t table, std::uint64_t key, const std::byte* row, std::uint64_t owner,
                                const RefLink* saved) noexcept {
  const auto& columns = tables_.info(table).ref_columns;
  for (std::size_t i = columns.size(); i-- > 0;) {  // the reverse of unlink_row's order
    const std::uint64_t target = ref_target(tables_.ref_columns()[columns[i]], row, owner);
    if (target == 0) continue;
    RefLink at;
    std::memcpy(&at, saved + i, sizeof at);
    storage::relink(working_.refs[columns[i]], target, key, at, ctx_);
  }
}

void referrers_of(const VersionState& s, const RefColumn& col, std::uint16_t column, Entity target,
                  std::vector<std::pair<std::uint32_t, std::uint64_t>>& out) {
  const RefIndexState& r = s.refs[column];
  const TableState& t = s.tables[col.table];
  for (std::uint64_t key = r.head(target.index()); key != 0; key = r.next(key)) {
    const std::uint32_t row = s.find_row_index(col.table, key);
    const std::uint64_t value = col.owner ? storage::row_owner(t, row, s.registry) : load_ref(t.rows.at(row), col.offset);
    if (value == target.bits()) out.emplace_back(row, key);
  }
}

void RefIndexUpkeep::referrers(std::uint16_t column, Entity target, std::vector<std::uint64_t>& out) const {
  std::vector<std::pair<std::uint32_t, std::uint64_t>> found;
  referrers_of(working_, tables_.ref_columns()[column], column, target, found);
  for (const auto& [row, key] : found) out.push_back(key);
}

Status RefIndexUpkeep::link_checked_row(std::uint16_t table, std::uint64_t key, const std::byte* row,
                                        std::uint64_t owner) {
  ECSDB_RETURN_IF_ERROR(check_ref_targets(table, row, owner));
  prepare_link_row(table, key, row, owner);
  link_row(table, key, row, owner);
  return Status::ok();
}

Status RefIndexUpkeep::check_ref_targets(std::uint16_t table, const std::byte* row, std::uint64_t owner) const {
  for (std::uint16_t c : tables_.info(table).ref_columns) {
    const RefColumn& col = tables_.ref_columns()[c];
    const std::uint64_t target = ref_target(col, row, owner);
    if (target == 0 || static_cast<std::uint32_t>(target) < working_.registry.used) continue;
    return Status(StatusCode::kStaleEntity, "table '" + tables_.info(table).table->name + "', field '" +
                                                (col.field != nullptr ? col.field->name : std::string("owner")) +
                                                "': references " + entity_name(Entity::from_bits(target)) +
                                                ", which was never created");
  }
  return Status::ok();
}

}  // namespace ecsdb::detail
