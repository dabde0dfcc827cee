// Subscription filters, compiled for one client (docs/replication.md, "Filters"): for each table id, the
// row filters every row must pass. The built-in ones (an entity set, a field comparison) are here; custom
// ones come from ReplicationOptions::custom_filters. Compiling checks each filter against the schema and
// the subscription, so a bad one is refused with its index and the reason before anything is sent.
#pragma once

#include <memory>
#include <vector>

#include "ecsdb/replication_server.hpp"
#include "ecsdb/schema.hpp"

namespace ecsdb::replication {

using RowFilters = std::vector<std::shared_ptr<const RowFilter>>;  // all must admit a row

class TableFilters {
 public:
  TableFilters() = default;
  // `tables`: by table id, the subscribed tables.
  static Result<TableFilters> compile(const Schema& schema, const std::vector<bool>& tables,
                                      const std::vector<SubscriptionFilter>& filters, const ReplicationOptions& options);

  bool filtered(std::uint16_t table) const noexcept { return table < by_table_.size() && !by_table_[table].empty(); }
  bool any() const noexcept { return any_; }
  // REQUIRES: row is null or a row of `table` in its layout.
  bool admits(std::uint16_t table, Entity entity, const std::byte* row) const {
    for (const auto& f : by_table_[table]) {
      if (!f->admits(entity, row)) return false;
    }
    return true;
  }

 private:
  std::vector<RowFilters> by_table_;
  bool any_ = false;
};

}  // namespace ecsdb::replication
