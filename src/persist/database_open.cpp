// Database::open and the durability methods: defined in persist because opening a durable database runs
// recovery, and the transaction engine below must not depend on the persistence layer above it.
#include <string>

#include "ecsdb/database.hpp"
#include "persist/persistence.hpp"
#include "txn/database_access.hpp"

namespace ecsdb {

Result<std::unique_ptr<Database>> Database::open(std::shared_ptr<const Schema> schema, const DatabaseOptions& options) {
  if (schema == nullptr) return invalid_argument("Database::open: schema is null");
  if (schema->tables.size() >= detail::kNoTable) return invalid_argument("Database::open: too many tables");
  if (options.reader_slots == 0) return invalid_argument("Database::open: reader_slots must be at least 1");
  if (options.page_bytes < 512 || options.page_bytes > 65536 || (options.page_bytes & (options.page_bytes - 1)) != 0) {
    return invalid_argument("Database::open: page_bytes must be a power of two from 512 to 65536, got " +
                            std::to_string(options.page_bytes));
  }
  if (options.batch_max_transactions == 0) {
    return invalid_argument("Database::open: batch_max_transactions must be at least 1");
  }
  std::unique_ptr<Database> db = detail::DatabaseAccess::make(std::move(schema), options);
  if (!options.data_dir.empty() && options.durability != Durability::kMemory) {
    ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<detail::Persistence> p, detail::Persistence::open(*db, options));
    detail::DatabaseAccess::set_persistence(
        *db, std::unique_ptr<detail::Persistence, void (*)(detail::Persistence*)>(
                 p.release(), [](detail::Persistence* x) { delete x; }));
  }
  return db;
}

Status Database::snapshot() {
  auto* p = detail::DatabaseAccess::persistence(*this);
  if (p == nullptr) return invalid_argument("snapshot: the database has no data_dir (memory only)");
  return p->snapshot_now();
}

Status Database::wait_for_retention() {
  auto* p = detail::DatabaseAccess::persistence(*this);
  return p == nullptr ? Status::ok() : p->wait_for_retention();
}

Status Database::flush() {
  auto* p = detail::DatabaseAccess::persistence(*this);
  return p == nullptr ? Status::ok() : p->flush();
}


Status Database::health() const {
  auto* p = detail::DatabaseAccess::persistence(*this);
  return p == nullptr ? Status::ok() : p->health();
}

std::vector<std::string> Database::recovery_notes() const {
  auto* p = detail::DatabaseAccess::persistence(*this);
  return p == nullptr ? std::vector<std::string>{} : p->notes();
}

}  // namespace ecsdb
