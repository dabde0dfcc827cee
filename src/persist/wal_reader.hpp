// Reading the write-ahead log back: recovery, `ecsdb inspect`, point-in-time restore.
//
// scan_wal() walks the segments of a directory in LSN order and hands every valid record after `after_lsn`
// to a callback. Damage inside the last group-commit write of the newest segment (a power loss before its
// fdatasync: any subset of its sectors reached the disk) is expected: that unacknowledged tail is cut and
// reported in `notes`. Damage to data that had been synced (a bad record in an older segment, or one
// followed by a record of a later write, or one that no lost write explains), a gap in LSNs (missing
// segment) or a segment of another database is corruption: an error naming the file and offset — unless
// `truncate_at_corruption`, which stops there (everything after is dropped and reported).
// docs/durability.md has the reasoning.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ecsdb/file_system.hpp"
#include "ecsdb/schema.hpp"
#include "persist/delta_codec.hpp"

namespace ecsdb::persist {

struct SegmentSummary {
  std::string name;
  std::uint64_t first_lsn = 0;
  std::uint64_t last_lsn = 0;      // 0 when it holds no record
  std::uint64_t records = 0;
  std::uint64_t end_offset = 0;    // after the last valid record
  std::uint64_t capacity = 0;
  std::uint64_t file_size = 0;
  std::int64_t first_time_ns = 0;
  std::int64_t last_time_ns = 0;
  std::uint64_t last_version = 0;
};

struct WalScan {
  std::vector<SegmentSummary> segments;
  std::uint64_t last_lsn = 0;
  std::uint64_t last_version = 0;
  std::vector<std::string> notes;  // torn tail cut, corruption truncated...
};

struct WalScanOptions {
  std::uint64_t after_lsn = 0;          // records <= this are checked but not delivered
  std::uint64_t database_id = 0;        // 0 = accept any (inspect)
  bool truncate_at_corruption = false;
  // Make the cut durable before a writer logs again: zero what follows it, set aside segments past a
  // truncation, remove a newest segment left without records.
  bool repair = false;
  bool decode = true;                   // decode payloads (false: only checksums, for inspect)
};

using RecordCallback = std::function<Status(std::uint64_t lsn, DecodedDelta& record)>;

Result<WalScan> scan_wal(FileSystem& fs, const std::string& dir, const Schema& schema, const WalScanOptions& options,
                         const RecordCallback& on_record);

}  // namespace ecsdb::persist
