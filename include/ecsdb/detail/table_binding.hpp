// ecsdb/detail/table_binding.hpp — how a bound C++ type finds its table. Internal.
//
// Every C++ type used with the typed API gets a process-wide index (type_index<T>, taken on first use);
// Database keeps one atomic slot per index holding the table the type is bound to, so a typed call finds
// its table with one acquire load (Database::table_of). kNoTable is the answer for a type that is not
// bound (or is bound to a table of the other cardinality). Thread-safe: indexes are taken atomically.
#pragma once

#include <cstdint>

namespace ecsdb {
class Database;
}  // namespace ecsdb

namespace ecsdb::detail {

std::uint32_t next_type_index() noexcept;
template <typename T>
inline const std::uint32_t type_index = next_type_index();
inline constexpr std::uint32_t kMaxBoundTypes = 1024;
inline constexpr std::uint16_t kNoTable = 0xFFFF;

// db.table_of<T>(), for the handles whose headers come before Database's (pinned_view.hpp,
// read_set.hpp, transaction.hpp, writer_handle.hpp). Defined at the end of database.hpp, which each of those
// headers includes last.
template <typename T>
std::uint16_t table_of(const Database& db) noexcept;

}  // namespace ecsdb::detail
