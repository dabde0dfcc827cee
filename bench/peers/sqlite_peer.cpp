#include "bench/peers/sqlite_peer.hpp"

#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <initializer_list>

namespace ecsdb::bench {
namespace {

[[noreturn]] void die(sqlite3* db, const char* what) {
  std::fprintf(stderr, "sqlite peer: %s: %s\n", what, db != nullptr ? sqlite3_errmsg(db) : "no database");
  std::abort();
}

}  // namespace

SqlitePeer::SqlitePeer() {
  if (sqlite3_open(":memory:", &db_) != SQLITE_OK) die(db_, "open");
  // No journal: an in-memory database cannot survive a crash anyway, and ECSDb's in-memory figures keep
  // no undo log either beyond the open transaction. This is SQLite's fastest honest configuration.
  exec("PRAGMA journal_mode = OFF");
  exec("PRAGMA synchronous = OFF");
  exec("CREATE TABLE health (id INTEGER PRIMARY KEY, hp INTEGER NOT NULL, max_hp INTEGER NOT NULL)");
  insert_ = prepare("INSERT INTO health (id, hp, max_hp) VALUES (?1, ?2, ?3)");
  update_ = prepare("UPDATE health SET hp = ?2 WHERE id = ?1");
  delete_ = prepare("DELETE FROM health WHERE id = ?1");
  read_ = prepare("SELECT hp FROM health WHERE id = ?1");
  scan_ = prepare("SELECT hp FROM health");
}

SqlitePeer::~SqlitePeer() {
  for (sqlite3_stmt* s : {insert_, update_, delete_, read_, scan_}) sqlite3_finalize(s);
  sqlite3_close(db_);
}

void SqlitePeer::exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite peer: %s: %s\n", sql, error != nullptr ? error : "?");
    std::abort();
  }
}

sqlite3_stmt* SqlitePeer::prepare(const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) die(db_, sql);
  return stmt;
}

void SqlitePeer::step_done(sqlite3_stmt* stmt) {
  if (sqlite3_step(stmt) != SQLITE_DONE) die(db_, "step");
  sqlite3_reset(stmt);
}

void SqlitePeer::bulk_insert(std::int64_t first, std::int64_t count) {
  exec("BEGIN");
  for (std::int64_t id = first; id < first + count; ++id) {
    sqlite3_bind_int64(insert_, 1, id);
    sqlite3_bind_int64(insert_, 2, 100);
    sqlite3_bind_int64(insert_, 3, 100);
    step_done(insert_);
  }
  exec("COMMIT");
}

void SqlitePeer::insert(std::int64_t id, std::uint32_t hp, std::uint32_t max_hp) {
  sqlite3_bind_int64(insert_, 1, id);
  sqlite3_bind_int64(insert_, 2, hp);
  sqlite3_bind_int64(insert_, 3, max_hp);
  step_done(insert_);
}

void SqlitePeer::update_hp(std::int64_t id, std::uint32_t hp) {
  sqlite3_bind_int64(update_, 1, id);
  sqlite3_bind_int64(update_, 2, hp);
  step_done(update_);
}

void SqlitePeer::remove(std::int64_t id) {
  sqlite3_bind_int64(delete_, 1, id);
  step_done(delete_);
}

std::uint32_t SqlitePeer::read_hp(std::int64_t id) {
  sqlite3_bind_int64(read_, 1, id);
  std::uint32_t hp = 0;
  const int rc = sqlite3_step(read_);
  if (rc == SQLITE_ROW) {
    hp = static_cast<std::uint32_t>(sqlite3_column_int64(read_, 0));
  } else if (rc != SQLITE_DONE) {
    die(db_, "read");
  }
  sqlite3_reset(read_);
  return hp;
}

std::uint64_t SqlitePeer::scan_sum_hp() {
  std::uint64_t sum = 0;
  int rc;
  while ((rc = sqlite3_step(scan_)) == SQLITE_ROW) sum += static_cast<std::uint64_t>(sqlite3_column_int64(scan_, 0));
  if (rc != SQLITE_DONE) die(db_, "scan");
  sqlite3_reset(scan_);
  return sum;
}

}  // namespace ecsdb::bench
