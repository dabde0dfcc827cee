// UniqueIndex — for every unique field, how many rows of the working version hold each value. Every row
// change keeps it exact (rollback included), so that commit checks uniqueness without a scan: a value a
// transaction counts a second time is recorded as a suspect, and commit checks only the suspects. Owner
// thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/reserve_more.hpp"
#include "txn/writer_schema.hpp"

namespace ecsdb::detail {

// Heterogeneous lookup: the unique index is probed with views of row bytes, without allocating.
struct UniqueValueHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view v) const noexcept { return std::hash<std::string_view>{}(v); }
};
// Value -> rows holding it. Entries whose count drops to 0 stay until a commit sweeps them, so that a
// rollback re-counting a value never allocates.
using UniqueCounts = std::unordered_map<std::string, std::uint32_t, UniqueValueHash, std::equal_to<>>;

class UniqueIndex {
 public:
  // A value counted twice by the open transaction (field `unique` of TableInfo::uniques of `table`).
  struct Suspect { std::uint16_t table; std::uint16_t unique; std::string value; std::uint64_t key; };

  explicit UniqueIndex(const WriterSchema& tables);

  // Adds (+1) or removes (-1) the row's values in the unique index. -1 never allocates; +1 either adds
  // every value or, when an allocation fails, none (and rethrows). `suspects`: record values counted
  // twice for the commit check (rollback re-adds values without recording them, and without allocating).
  void index_row(std::uint16_t table, const std::byte* row, int delta, bool suspects = true);
  // Calls f(table, unique, value, count) for each value some row holds (count != 0), in no set order.
  template <class F>
  void for_each_value(F&& f) const {
    for (std::size_t table = 0; table < per_table_.size(); ++table) {
      for (std::size_t u = 0; u < per_table_[table].counts.size(); ++u) {
        for (const auto& [value, count] : per_table_[table].counts[u]) {
          if (count != 0) f(static_cast<std::uint16_t>(table), u, std::string_view(value), count);
        }
      }
    }
  }
  // After a commit: drops the zero counts of a field once they outnumber its live values.
  void sweep();
  // The first suspect whose value more than one row still holds, or nullptr (the commit check).
  const Suspect* first_duplicate() const;
  // The transaction ended. Frees the list's buffer when a bulk load grew it past kKeptScratchBytes.
  void clear_suspects() noexcept {
    suspects_.clear();
    base::release_if_over(suspects_, base::kKeptScratchBytes);
  }

 private:
  struct TableCounts {
    std::vector<UniqueCounts> counts;   // per unique field
    std::vector<std::uint32_t> live;    // non-zero entries per field
  };

  const WriterSchema& tables_;
  std::vector<TableCounts> per_table_;
  std::vector<Suspect> suspects_;
};

}  // namespace ecsdb::detail
