// The durability suite's key-value peers, LMDB and RocksDB, run on the health records of ECSDb's
// workload: key = the entity number (8 bytes, big-endian so keys sort as numbers), value = {hp, max_hp}
// (8 bytes). Both write durably: LMDB with its default flags (a commit fdatasyncs: no MDB_NOSYNC), RocksDB
// with WriteOptions::sync = true. A one-field update is what it is in a key-value store: read the record,
// change hp, write it back.
//
// "The same group size": ECSDb's durable_tps acknowledges each transaction after the fdatasync of its group
// (group commit). The peers get the same number of updates per sync — one LMDB write transaction, or one
// RocksDB WriteBatch, of `group` updates — so the comparison is sync for sync.
//
// Thread-safety: each function runs on the calling thread and owns its store for its duration.
#pragma once

#include <cstddef>
#include <string>

#include "ecsdb/status.hpp"

namespace ecsdb::bench {

struct KvPeerFigures {
  double sync_tps = 0;   // updates per second, `group` updates per durable commit
  double read_ns = 0;    // per random point read of a committed record
};

// Creates a store in the empty directory `dir` holding `rows` records, then measures durable updates of
// random records for `seconds` and 65,536 random point reads.
Result<KvPeerFigures> lmdb_figures(const std::string& dir, std::size_t rows, std::size_t group, double seconds);
Result<KvPeerFigures> rocksdb_figures(const std::string& dir, std::size_t rows, std::size_t group, double seconds);

}  // namespace ecsdb::bench
