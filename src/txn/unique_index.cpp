#include "txn/unique_index.hpp"

namespace ecsdb::detail {

UniqueIndex::UniqueIndex(const WriterSchema& tables) : tables_(tables), per_table_(tables.table_count()) {
  for (std::size_t table = 0; table < per_table_.size(); ++table) {
    const std::size_t uniques = tables_.info(static_cast<std::uint16_t>(table)).uniques.size();
    per_table_[table].counts.resize(uniques);
    per_table_[table].live.resize(uniques);
  }
}

void UniqueIndex::index_row(std::uint16_t table, const std::byte* row, int delta, bool suspects) {
  const TableInfo& info = tables_.info(table);
  TableCounts& index = per_table_[table];
  auto value_of = [&](std::size_t u) {
    return std::string_view(reinterpret_cast<const char*>(row + info.uniques[u].offset), info.uniques[u].size);
  };
  if (delta < 0) {
    for (std::size_t u = 0; u < info.uniques.size(); ++u) {
      auto it = index.counts[u].find(value_of(u));
      if (it != index.counts[u].end() && it->second != 0 && --it->second == 0) --index.live[u];
    }
    return;
  }
  std::size_t done = 0;
  try {
    for (; done < info.uniques.size(); ++done) {
      const std::string_view value = value_of(done);
      auto it = index.counts[done].find(value);
      if (it == index.counts[done].end()) it = index.counts[done].emplace(std::string(value), 0).first;
      if (suspects && it->second >= 1) {
        suspects_.push_back({table, static_cast<std::uint16_t>(done), std::string(value), 0});
      }
      if (it->second++ == 0) ++index.live[done];
    }
  } catch (...) {
    for (std::size_t u = 0; u < done; ++u) {  // all or nothing
      auto it = index.counts[u].find(value_of(u));
      if (--it->second == 0) --index.live[u];
    }
    throw;
  }
}

void UniqueIndex::sweep() {
  for (TableCounts& index : per_table_) {
    for (std::size_t u = 0; u < index.counts.size(); ++u) {
      UniqueCounts& counts = index.counts[u];
      if (counts.size() <= 2 * std::size_t{index.live[u]} + 64) continue;
      std::erase_if(counts, [](const auto& entry) { return entry.second == 0; });
    }
  }
}

const UniqueIndex::Suspect* UniqueIndex::first_duplicate() const {
  for (const Suspect& s : suspects_) {
    const auto& counts = per_table_[s.table].counts[s.unique];
    auto it = counts.find(s.value);
    if (it == counts.end() || it->second <= 1) continue;
    return &s;
  }
  return nullptr;
}

}  // namespace ecsdb::detail
