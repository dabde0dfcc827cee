#include "persist/wal_reader.hpp"

#include <algorithm>
#include <cstring>

#include "persist/byte_io.hpp"
#include "persist/wal_format.hpp"

namespace ecsdb::persist {

namespace {

struct RecordView {
  std::uint64_t lsn;
  std::span<const std::byte> payload;
  std::uint64_t size;  // including header and padding
};

// The record at `offset`, or nullopt-like (size 0) when there is none / it is invalid.
bool read_record(std::span<const std::byte> file, std::uint64_t offset, RecordView& out, bool& zero) {
  zero = false;
  if (offset + kRecordHeaderSize > file.size()) {
    // The writer rolls to a new segment when the next record does not fit, so a full segment may end in
    // 8 or 16 bytes of preallocated zeros: that is the end of its records, not a bad one.
    zero = std::all_of(file.begin() + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(offset, file.size())),
                       file.end(), [](std::byte b) { return b == std::byte{0}; });
    return false;
  }
  ByteReader r(file.subspan(offset, kRecordHeaderSize));
  const std::uint32_t length = r.u32();
  const std::uint32_t flags = r.u32();
  const std::uint64_t lsn = r.u64();
  const std::uint64_t sum = r.u64();
  if (length == 0 && flags == 0 && lsn == 0 && sum == 0) {
    zero = true;
    return false;
  }
  if (length == 0 || length > kMaxRecordPayload || flags != 0) return false;
  const std::uint64_t size = record_size(length);
  if (offset + size > file.size()) return false;
  auto payload = file.subspan(offset + kRecordHeaderSize, length);
  if (checksum64(file.subspan(offset, 16), payload) != sum) return false;
  out = {lsn, payload, size};
  return true;
}

// Whether any valid record with an LSN after `after` starts past `from` (8-byte steps).
bool valid_record_after(std::span<const std::byte> file, std::uint64_t from, std::uint64_t after) {
  for (std::uint64_t off = (from + 7) & ~std::uint64_t{7}; off + kRecordHeaderSize <= file.size(); off += 8) {
    RecordView rv;
    bool zero;
    if (read_record(file, off, rv, zero) && rv.lsn > after) return true;
  }
  return false;
}

std::string at(const std::string& name, std::uint64_t offset) {
  return name + " at offset " + std::to_string(offset);
}

}  // namespace

Result<WalScan> scan_wal(FileSystem& fs, const std::string& dir, const Schema& schema, const WalScanOptions& options,
                         const RecordCallback& on_record) {
  WalScan scan;
  ECSDB_ASSIGN_OR_RETURN(std::vector<std::string> names, fs.list(dir));
  std::vector<std::pair<std::uint64_t, std::string>> segments;
  for (const std::string& n : names) {
    if (const std::uint64_t first = parse_segment_name(n); first != 0) segments.emplace_back(first, n);
  }
  std::sort(segments.begin(), segments.end());
  std::uint64_t expected = 0;  // next LSN expected; 0 = take the first segment's
  scan.last_lsn = options.after_lsn;
  // Segments wholly before `after_lsn` (the next one starts at or before after_lsn + 1) need not be read;
  // inspect (decode = false) still walks all of them to report their ranges.
  std::size_t start = 0;
  if (options.decode) {
    while (start + 1 < segments.size() && segments[start + 1].first <= options.after_lsn + 1) ++start;
  }
  for (std::size_t si = start; si < segments.size(); ++si) {
    const auto& [first_lsn, name] = segments[si];
    const bool last_segment = si + 1 == segments.size();
    const std::string path = dir + "/" + name;
    // Segments are preallocated (mostly zeros until full): read them a window at a time and stop at the
    // first empty record instead of loading the whole capacity.
    ECSDB_ASSIGN_OR_RETURN(const std::uint64_t file_size, fs.file_size(path));
    std::vector<std::byte> file;
    auto ensure = [&](std::uint64_t n) -> Status {
      n = std::min(n, file_size);
      if (n <= file.size()) return Status::ok();
      const std::uint64_t want = std::max<std::uint64_t>(n - file.size(), std::max<std::uint64_t>(file.size(), 1 << 20));
      ECSDB_ASSIGN_OR_RETURN(std::vector<std::byte> more, fs.read_range(path, file.size(), want));
      if (more.empty()) return Status::ok();
      file.insert(file.end(), more.begin(), more.end());
      return Status::ok();
    };
    ECSDB_RETURN_IF_ERROR(ensure(kWalHeaderSize));
    SegmentHeader header;
    if (std::string why = decode_segment_header(file, header); !why.empty()) {
      ECSDB_RETURN_IF_ERROR(ensure(file_size));
      if (last_segment && options.truncate_at_corruption) {
        scan.notes.push_back("ignored unreadable last segment " + name + ": " + why);
        break;
      }
      // A crash while creating the newest segment leaves its header unwritten (zeros): nothing was
      // acknowledged in it yet, so it is a torn tail like any other.
      const bool all_zero = std::all_of(file.begin(), file.end(), [](std::byte b) { return b == std::byte{0}; });
      if (last_segment && all_zero) {
        scan.notes.push_back("removed empty segment " + name + " (crash while it was being created)");
        if (options.repair) ECSDB_RETURN_IF_ERROR(fs.remove(path));
        break;
      }
      return Status(StatusCode::kCorruption, "WAL segment " + path + ": " + why);
    }
    if (options.database_id != 0 && header.database_id != options.database_id) {
      return Status(StatusCode::kCorruption, "WAL segment " + path + " belongs to another database (id " +
                                                 std::to_string(header.database_id) + ")");
    }
    if (header.first_lsn != first_lsn) {
      return Status(StatusCode::kCorruption, "WAL segment " + path + ": header says first LSN " +
                                                 std::to_string(header.first_lsn) + ", name says " + std::to_string(first_lsn));
    }
    if (expected == 0) {
      if (first_lsn > options.after_lsn + 1) {
        return Status(StatusCode::kCorruption, "missing WAL segment: records " + std::to_string(options.after_lsn + 1) +
                                                   ".." + std::to_string(first_lsn - 1) + " are needed but the oldest segment " +
                                                   name + " starts at " + std::to_string(first_lsn));
      }
      expected = first_lsn;
    } else if (first_lsn != expected) {
      return Status(StatusCode::kCorruption, "missing WAL segment: expected one starting at LSN " +
                                                 std::to_string(expected) + ", found " + name);
    }

    SegmentSummary summary{name, first_lsn, 0, 0, kWalHeaderSize, header.capacity, file_size};
    std::uint64_t offset = kWalHeaderSize;
    bool stop_scan = false;
    for (;;) {
      RecordView rv;
      bool zero = false;
      ECSDB_RETURN_IF_ERROR(ensure(offset + kRecordHeaderSize));
      if (file.size() >= offset + kRecordHeaderSize) {
        std::uint32_t length;
        std::memcpy(&length, file.data() + offset, 4);
        if (length <= kMaxRecordPayload) ECSDB_RETURN_IF_ERROR(ensure(offset + record_size(length)));
      }
      if (!read_record(file, offset, rv, zero)) {
        if (zero) break;  // end of this segment's records
        ECSDB_RETURN_IF_ERROR(ensure(file_size));  // deciding torn tail vs corruption needs the rest
        // A bad record. At the very end of the log it is a torn write from a crash; anywhere else it is
        // corruption that must not be skipped silently.
        const bool more = !last_segment || valid_record_after(file, offset + 8, expected == 0 ? 0 : expected - 1);
        if (!more) {
          scan.notes.push_back("truncated torn tail of " + at(name, offset) + " (" +
                               std::to_string(file_size - offset) + " bytes after the last complete record)");
          if (options.repair) {
            // Zero the torn bytes so the next writer's records are not followed by garbage.
            std::uint64_t end = file.size();
            while (end > offset && file[end - 1] == std::byte{0}) --end;
            if (end > offset) {
              ECSDB_ASSIGN_OR_RETURN(auto f, fs.open_existing(path));
              std::vector<std::byte> zeros(end - offset);
              ECSDB_RETURN_IF_ERROR(f->write_at(offset, zeros));
              ECSDB_RETURN_IF_ERROR(f->sync());
              ECSDB_RETURN_IF_ERROR(f->close());
            }
          }
          break;
        }
        if (options.truncate_at_corruption) {
          scan.notes.push_back("corrupt record in " + at(name, offset) + ": log truncated there, later records dropped");
          stop_scan = true;
          break;
        }
        return Status(StatusCode::kCorruption, "corrupt WAL record in " + dir + "/" + at(name, offset) +
                                                   " (checksum or header mismatch) followed by valid records; refusing to "
                                                   "open (set recover_to_corruption to truncate the log here)");
      }
      if (rv.lsn != expected) {
        if (options.truncate_at_corruption) {
          scan.notes.push_back("unexpected LSN in " + at(name, offset) + ": log truncated there");
          stop_scan = true;
          break;
        }
        return Status(StatusCode::kCorruption, "WAL " + dir + "/" + at(name, offset) + ": record has LSN " +
                                                   std::to_string(rv.lsn) + ", expected " + std::to_string(expected));
      }
      if (options.decode && rv.lsn > options.after_lsn) {  // older records: checksum verified, not decoded
        auto decoded = decode_delta(rv.payload, schema);
        if (!decoded) {
          return Status(StatusCode::kCorruption, "WAL " + dir + "/" + at(name, offset) + ": " + decoded.status().message());
        }
        if (summary.records == 0) summary.first_time_ns = decoded->unix_time_ns;
        summary.last_time_ns = decoded->unix_time_ns;
        summary.last_version = decoded->delta.version;
        scan.last_version = decoded->delta.version;
        if (rv.lsn > options.after_lsn && on_record) ECSDB_RETURN_IF_ERROR(on_record(rv.lsn, *decoded));
      }
      summary.last_lsn = rv.lsn;
      ++summary.records;
      scan.last_lsn = std::max(scan.last_lsn, rv.lsn);
      ++expected;
      offset += rv.size;
    }
    summary.end_offset = offset;
    scan.segments.push_back(summary);
    if (stop_scan) break;
  }
  if (!scan.segments.empty()) {
    const SegmentSummary& s = scan.segments.back();
    scan.resume = WalResume{s.name, s.first_lsn, s.end_offset, s.capacity};
  }
  return scan;
}

}  // namespace ecsdb::persist
