#include "bench/peers/kv_peers.hpp"

#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "bench/suites/bench_json.hpp"

namespace ecsdb::bench {
namespace {

constexpr std::size_t kReads = 65'536;
constexpr std::size_t kLoadBatch = 65'536;
constexpr std::uint64_t kSeed = 0x6B76'5045;

using Key = std::array<char, 8>;
struct Record {
  std::uint32_t hp;
  std::uint32_t max_hp;
};

Key key_of(std::uint64_t id) {
  Key k;
  for (int i = 7; i >= 0; --i) {
    k[static_cast<std::size_t>(i)] = static_cast<char>(id & 0xFF);
    id >>= 8;
  }
  return k;
}

std::vector<std::uint64_t> random_ids(std::size_t rows, std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint64_t> pick(0, rows - 1);
  std::vector<std::uint64_t> ids(count);
  for (auto& id : ids) id = pick(rng);
  return ids;
}

// ---- LMDB ----

Status lmdb_error(const std::string& what, int rc) {
  return Status(StatusCode::kIoError, "LMDB " + what + ": " + mdb_strerror(rc));
}

struct LmdbEnv {
  MDB_env* env = nullptr;
  ~LmdbEnv() {
    if (env != nullptr) mdb_env_close(env);
  }
};

// Aborts a transaction that was not committed.
struct LmdbTxn {
  MDB_txn* txn = nullptr;
  ~LmdbTxn() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
  int commit() {
    const int rc = mdb_txn_commit(txn);
    txn = nullptr;
    return rc;
  }
};

}  // namespace

Result<KvPeerFigures> lmdb_figures(const std::string& dir, std::size_t rows, std::size_t group, double seconds) {
  LmdbEnv e;
  if (int rc = mdb_env_create(&e.env); rc != 0) return lmdb_error("mdb_env_create", rc);
  // The map is a sparse file; 64 bytes a record is far more than LMDB's B-tree needs for 16-byte records.
  const std::size_t map = std::max<std::size_t>(std::size_t{64} << 20, rows * 64);
  if (int rc = mdb_env_set_mapsize(e.env, map); rc != 0) return lmdb_error("mdb_env_set_mapsize", rc);
  if (int rc = mdb_env_open(e.env, dir.c_str(), 0, 0644); rc != 0) return lmdb_error("mdb_env_open " + dir, rc);
  MDB_dbi dbi = 0;
  for (std::size_t first = 0; first < rows; first += kLoadBatch) {
    LmdbTxn t;
    if (int rc = mdb_txn_begin(e.env, nullptr, 0, &t.txn); rc != 0) return lmdb_error("mdb_txn_begin", rc);
    if (int rc = mdb_dbi_open(t.txn, nullptr, 0, &dbi); rc != 0) return lmdb_error("mdb_dbi_open", rc);
    for (std::size_t id = first; id < std::min(rows, first + kLoadBatch); ++id) {
      Key k = key_of(id);
      Record r{static_cast<std::uint32_t>(50 + id % 51), 100};
      MDB_val key{k.size(), k.data()};
      MDB_val val{sizeof r, &r};
      if (int rc = mdb_put(t.txn, dbi, &key, &val, MDB_APPEND); rc != 0) return lmdb_error("mdb_put (load)", rc);
    }
    if (int rc = t.commit(); rc != 0) return lmdb_error("mdb_txn_commit (load)", rc);
  }

  KvPeerFigures out;
  const std::vector<std::uint64_t> ids = random_ids(rows, std::size_t{1} << 20, kSeed);
  std::size_t next = 0;
  std::uint64_t updates = 0;
  const std::int64_t t0 = now_ns();
  const auto deadline = t0 + static_cast<std::int64_t>(seconds * 1e9);
  while (now_ns() < deadline) {
    LmdbTxn t;
    if (int rc = mdb_txn_begin(e.env, nullptr, 0, &t.txn); rc != 0) return lmdb_error("mdb_txn_begin", rc);
    for (std::size_t i = 0; i < group; ++i, next = (next + 1) % ids.size()) {
      Key k = key_of(ids[next]);
      MDB_val key{k.size(), k.data()};
      MDB_val val{};
      if (int rc = mdb_get(t.txn, dbi, &key, &val); rc != 0) return lmdb_error("mdb_get", rc);
      Record r;
      std::memcpy(&r, val.mv_data, sizeof r);
      r.hp = static_cast<std::uint32_t>(updates + i);
      MDB_val changed{sizeof r, &r};
      if (int rc = mdb_put(t.txn, dbi, &key, &changed, 0); rc != 0) return lmdb_error("mdb_put", rc);
    }
    if (int rc = t.commit(); rc != 0) return lmdb_error("mdb_txn_commit", rc);  // fdatasync: durable
    updates += group;
  }
  out.sync_tps = static_cast<double>(updates) / (static_cast<double>(now_ns() - t0) / 1e9);

  const std::vector<std::uint64_t> reads = random_ids(rows, kReads, kSeed + 1);
  LmdbTxn t;
  if (int rc = mdb_txn_begin(e.env, nullptr, MDB_RDONLY, &t.txn); rc != 0) return lmdb_error("mdb_txn_begin (read)", rc);
  std::uint64_t sum = 0;
  const std::int64_t r0 = now_ns();
  for (std::uint64_t id : reads) {
    Key k = key_of(id);
    MDB_val key{k.size(), k.data()};
    MDB_val val{};
    if (int rc = mdb_get(t.txn, dbi, &key, &val); rc != 0) return lmdb_error("mdb_get (read)", rc);
    Record r;
    std::memcpy(&r, val.mv_data, sizeof r);
    sum += r.hp;
  }
  out.read_ns = static_cast<double>(now_ns() - r0) / static_cast<double>(reads.size());
  if (sum == 0) return Status(StatusCode::kInternal, "LMDB read back no hp");  // also keeps the loop
  return out;
}

Result<KvPeerFigures> rocksdb_figures(const std::string& dir, std::size_t rows, std::size_t group, double seconds) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.error_if_exists = true;
  rocksdb::DB* raw = nullptr;
  if (rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw); !s.ok()) {
    return Status(StatusCode::kIoError, "RocksDB open " + dir + ": " + s.ToString());
  }
  const std::unique_ptr<rocksdb::DB> db(raw);
  auto fail = [](const char* what, const rocksdb::Status& s) {
    return Status(StatusCode::kIoError, std::string("RocksDB ") + what + ": " + s.ToString());
  };
  rocksdb::WriteOptions load;
  load.disableWAL = true;  // the load is set-up; made durable by the flush below
  for (std::size_t first = 0; first < rows; first += kLoadBatch) {
    rocksdb::WriteBatch batch;
    for (std::size_t id = first; id < std::min(rows, first + kLoadBatch); ++id) {
      const Key k = key_of(id);
      const Record r{static_cast<std::uint32_t>(50 + id % 51), 100};
      batch.Put(rocksdb::Slice(k.data(), k.size()), rocksdb::Slice(reinterpret_cast<const char*>(&r), sizeof r));
    }
    if (rocksdb::Status s = db->Write(load, &batch); !s.ok()) return fail("write (load)", s);
  }
  if (rocksdb::Status s = db->Flush(rocksdb::FlushOptions()); !s.ok()) return fail("flush", s);

  KvPeerFigures out;
  rocksdb::WriteOptions durable;
  durable.sync = true;  // the batch is acknowledged after the WAL's fdatasync
  const std::vector<std::uint64_t> ids = random_ids(rows, std::size_t{1} << 20, kSeed);
  std::size_t next = 0;
  std::uint64_t updates = 0;
  std::string value;
  const std::int64_t t0 = now_ns();
  const auto deadline = t0 + static_cast<std::int64_t>(seconds * 1e9);
  while (now_ns() < deadline) {
    rocksdb::WriteBatch batch;
    for (std::size_t i = 0; i < group; ++i, next = (next + 1) % ids.size()) {
      const Key k = key_of(ids[next]);
      const rocksdb::Slice key(k.data(), k.size());
      if (rocksdb::Status s = db->Get(rocksdb::ReadOptions(), key, &value); !s.ok()) return fail("get", s);
      Record r;
      std::memcpy(&r, value.data(), sizeof r);
      r.hp = static_cast<std::uint32_t>(updates + i);
      batch.Put(key, rocksdb::Slice(reinterpret_cast<const char*>(&r), sizeof r));
    }
    if (rocksdb::Status s = db->Write(durable, &batch); !s.ok()) return fail("write", s);
    updates += group;
  }
  out.sync_tps = static_cast<double>(updates) / (static_cast<double>(now_ns() - t0) / 1e9);

  const std::vector<std::uint64_t> reads = random_ids(rows, kReads, kSeed + 1);
  std::uint64_t sum = 0;
  const std::int64_t r0 = now_ns();
  for (std::uint64_t id : reads) {
    const Key k = key_of(id);
    if (rocksdb::Status s = db->Get(rocksdb::ReadOptions(), rocksdb::Slice(k.data(), k.size()), &value); !s.ok()) {
      return fail("get (read)", s);
    }
    Record r;
    std::memcpy(&r, value.data(), sizeof r);
    sum += r.hp;
  }
  out.read_ns = static_cast<double>(now_ns() - r0) / static_cast<double>(reads.size());
  if (sum == 0) return Status(StatusCode::kInternal, "RocksDB read back no hp");
  if (rocksdb::Status s = db->Close(); !s.ok()) return fail("close", s);
  return out;
}

}  // namespace ecsdb::bench
