// Reading the write-ahead log back: recovery, `ecsdb inspect`, point-in-time restore.
//
// scan_wal() walks the segments of a directory in LSN order and hands every valid record after `after_lsn`
// to a callback. A torn record at the very end of the log (a crash mid-write) is expected: it is cut off
// and reported in `notes`. A bad record anywhere else, a gap in LSNs (missing segment) or a segment of
// another database is corruption: an error naming the file and offset — unless `truncate_at_corruption`,
// which stops there (everything after is dropped and reported).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ecsdb/file_system.hpp"
#include "ecsdb/schema.hpp"
#include "persist/delta_codec.hpp"
#include "persist/wal_writer.hpp"

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
  WalResume resume;                // where a writer continues
};

struct WalScanOptions {
  std::uint64_t after_lsn = 0;          // records <= this are checked but not delivered
  std::uint64_t database_id = 0;        // 0 = accept any (inspect)
  bool truncate_at_corruption = false;
  bool repair = false;                  // zero a torn tail on disk so a new writer can continue cleanly
  bool decode = true;                   // decode payloads (false: only checksums, for inspect)
};

using RecordCallback = std::function<Status(std::uint64_t lsn, DecodedDelta& record)>;

Result<WalScan> scan_wal(FileSystem& fs, const std::string& dir, const Schema& schema, const WalScanOptions& options,
                         const RecordCallback& on_record);

}  // namespace ecsdb::persist
