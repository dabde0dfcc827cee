// SqlitePeer: the same workload as ECSDb's health table, run by SQLite, so every ECSDb figure has a
// well-known embedded database beside it (as LevelDB's db_bench_sqlite3.cc does for LevelDB).
//
// An in-memory database (":memory:") holding `health(id INTEGER PRIMARY KEY, hp INTEGER, max_hp INTEGER)`,
// driven by prepared statements only, each single-row statement in its own autocommit transaction — the
// peer of one ECSDb implicit transaction. The id is the rowid, so point reads and writes are one B-tree
// descent, SQLite's fastest path.
//
// Thread-safety: none; one thread uses a peer. Errors abort (a benchmark with a failing peer is void).
#pragma once

#include <cstdint>

struct sqlite3;
struct sqlite3_stmt;

namespace ecsdb::bench {

class SqlitePeer {
 public:
  SqlitePeer();
  SqlitePeer(const SqlitePeer&) = delete;
  SqlitePeer& operator=(const SqlitePeer&) = delete;
  ~SqlitePeer();

  // Inserts rows with ids [first, first + count) in one transaction (set-up, not a measured figure).
  void bulk_insert(std::int64_t first, std::int64_t count);

  // One autocommit statement each.
  void insert(std::int64_t id, std::uint32_t hp, std::uint32_t max_hp);
  void update_hp(std::int64_t id, std::uint32_t hp);
  void remove(std::int64_t id);
  // hp of row `id` (0 when absent).
  std::uint32_t read_hp(std::int64_t id);

  // Sum of hp over every row, in rowid order (a full scan through a prepared SELECT).
  std::uint64_t scan_sum_hp();

 private:
  void exec(const char* sql);
  sqlite3_stmt* prepare(const char* sql);
  void step_done(sqlite3_stmt* stmt);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* update_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* read_ = nullptr;
  sqlite3_stmt* scan_ = nullptr;
};

}  // namespace ecsdb::bench
