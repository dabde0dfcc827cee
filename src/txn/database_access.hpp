// Internal access to a Database's writer for the modules above txn (persist). Not part of the API.
#pragma once

#include "ecsdb/database.hpp"
#include "txn/writer_core.hpp"

namespace ecsdb::detail {

struct DatabaseAccess {
  static std::unique_ptr<Database> make(std::shared_ptr<const Schema> schema, DatabaseOptions options) {
    return std::unique_ptr<Database>(new Database(std::move(schema), std::move(options)));
  }
  static WriterCore& core(Database& db) { return *db.core_; }
  static const WriterCore& core(const Database& db) { return *db.core_; }
  static void set_persistence(Database& db, std::unique_ptr<Persistence, void (*)(Persistence*)> p) {
    db.persistence_ = std::move(p);
  }
  static Persistence* persistence(const Database& db) { return db.persistence_.get(); }
};

}  // namespace ecsdb::detail
