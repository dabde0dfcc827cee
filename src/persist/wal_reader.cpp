#include "persist/wal_reader.hpp"

#include <algorithm>
#include <cstring>

#include "persist/byte_io.hpp"
#include "persist/wal_format.hpp"

namespace ecsdb::persist {

namespace {

struct RecordView {
  std::uint64_t lsn;
  std::uint32_t batch_index;
  std::span<const std::byte> payload;
  std::uint64_t size;  // including header and padding
};

enum class Slot { kValid, kZero, kBad };

bool all_zero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

// What lies at `offset`: a valid record (in `out`), zeros (no record), or something that is not a record.
Slot read_record(std::span<const std::byte> file, std::uint64_t offset, const SegmentHeader& segment, RecordView& out) {
  if (offset + kRecordHeaderSize > file.size()) {
    // The writer rolls to a new segment when the next record does not fit, so a full segment may end in
    // 8 or 16 bytes of preallocated zeros: that is the end of its records, not a bad one.
    return all_zero(file.subspan(std::min<std::uint64_t>(offset, file.size()))) ? Slot::kZero : Slot::kBad;
  }
  const auto header = file.subspan(offset, kRecordHeaderSize);
  if (all_zero(header)) return Slot::kZero;
  const RecordHeader h = read_record_header(header);
  if (h.length == 0 || h.length > kMaxRecordPayload) return Slot::kBad;
  const std::uint64_t size = record_size(h.length);
  if (offset + size > file.size()) return Slot::kBad;
  const auto payload = file.subspan(offset + kRecordHeaderSize, h.length);
  if (!record_checksum_ok(segment, header, payload)) return Slot::kBad;
  out = {h.lsn, h.batch_index, payload, size};
  return Slot::kValid;
}

// One past the last non-zero byte at or after `from` (== `from` when only zeros follow). Word-wise: a
// segment is mostly preallocated zeros, and this runs over all of them at every open.
std::uint64_t nonzero_end(std::span<const std::byte> file, std::uint64_t from) {
  std::uint64_t end = file.size();
  while (end > from && end % 8 != 0 && file[end - 1] == std::byte{0}) --end;
  if (end % 8 == 0) {
    while (end >= from + 8) {
      std::uint64_t word;
      std::memcpy(&word, file.data() + end - 8, 8);
      if (word != 0) break;
      end -= 8;
    }
  }
  while (end > from && file[end - 1] == std::byte{0}) --end;
  return end;
}

// The newest segment has no valid record at `offset`, where LSN `expected` would be. Returns why that
// cannot be the unsynced tail of the log, or "" when it can. After a power loss any subset of the sectors
// of the last group-commit write (never synced, so never acknowledged) may be on disk, and everything
// before that write was synced. So the log may end here unless a valid record of a LATER write follows
// (its first LSN, LSN - batch index, is past `expected`): that write was issued only after the damaged
// one had been synced, so synced data was lost. Damage inside the last write itself cannot be told from a
// lost write (a sector that never reached the disk and a sector that rotted look alike): it is cut.
std::string tail_damage(std::span<const std::byte> file, std::uint64_t offset, const SegmentHeader& segment,
                        std::uint64_t expected, std::uint64_t end) {
  // No record at `off` can carry an LSN past this (each takes at least a header): hashing only plausible
  // headers keeps a segment full of random bytes from costing a hash per 8 bytes.
  const std::uint64_t max_lsn = expected + (end - offset) / kRecordHeaderSize;
  for (std::uint64_t off = (offset + 8) & ~std::uint64_t{7}; off + kRecordHeaderSize <= end; off += 8) {
    const RecordHeader h = read_record_header(file.subspan(off, kRecordHeaderSize));
    if (h.lsn == 0 || h.lsn > max_lsn) continue;
    RecordView rv;
    if (read_record(file, off, segment, rv) != Slot::kValid) continue;
    if (rv.lsn < expected || rv.lsn - rv.batch_index > expected) {
      return "a record of a later write (LSN " + std::to_string(rv.lsn) + " at offset " + std::to_string(off) +
             ") follows it, so the damaged data had been synced";
    }
  }
  return {};
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
  std::size_t dropped_from = segments.size();  // segments from here on are past a truncation
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
      // A crash while creating the newest segment leaves its header unwritten (zeros): nothing was
      // acknowledged in it yet, so it is a torn tail like any other.
      if (last_segment && all_zero(file)) {
        scan.notes.push_back("removed empty segment " + name + " (crash while it was being created)");
        if (options.repair) ECSDB_RETURN_IF_ERROR(fs.remove(path));
        break;
      }
      if (last_segment && options.truncate_at_corruption) {
        scan.notes.push_back("ignored unreadable last segment " + name + ": " + why);
        dropped_from = si;
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
      ECSDB_RETURN_IF_ERROR(ensure(offset + kRecordHeaderSize));
      if (file.size() >= offset + kRecordHeaderSize) {
        std::uint32_t length;
        std::memcpy(&length, file.data() + offset, 4);
        if (length <= kMaxRecordPayload) ECSDB_RETURN_IF_ERROR(ensure(offset + record_size(length)));
      }
      const Slot slot = read_record(file, offset, header, rv);
      if (slot == Slot::kValid && rv.lsn == expected) {
        if (options.decode && rv.lsn > options.after_lsn) {  // older records: checksum verified, not decoded
          auto decoded = decode_delta(rv.payload, schema, header.format_version);
          if (!decoded) {
            return Status(StatusCode::kCorruption, "WAL " + dir + "/" + at(name, offset) + ": " + decoded.status().message());
          }
          if (summary.records == 0) summary.first_time_ns = decoded->unix_time_ns;
          summary.last_time_ns = decoded->unix_time_ns;
          summary.last_version = decoded->delta.version;
          scan.last_version = decoded->delta.version;
          if (on_record) ECSDB_RETURN_IF_ERROR(on_record(rv.lsn, *decoded));
        }
        summary.last_lsn = rv.lsn;
        ++summary.records;
        scan.last_lsn = std::max(scan.last_lsn, rv.lsn);
        ++expected;
        offset += rv.size;
        continue;
      }
      // No record for LSN `expected` here. Where nothing but zeros follows, this segment's records end.
      ECSDB_RETURN_IF_ERROR(ensure(file_size));
      const std::uint64_t end = nonzero_end(file, offset);
      if (slot == Slot::kZero && end <= offset) break;
      // Something follows. Every segment but the newest was synced whole before the next one was created
      // (and a tail cut at recovery is zeroed before logging resumes), so there it is corruption; in the
      // newest it may be the unsynced last write (see tail_damage).
      std::string why;
      if (slot == Slot::kValid) {
        why = "record has LSN " + std::to_string(rv.lsn) + ", expected " + std::to_string(expected);
      } else if (!last_segment) {
        why = "damaged or missing record in a segment that was complete when the next one was created";
      } else {
        why = tail_damage(file, offset, header, expected, end);
      }
      if (why.empty()) {
        scan.notes.push_back("cut the unsynced tail of the log at " + at(name, offset) + " (" +
                             std::to_string(end - offset) + " bytes of a write that never completed; LSN " +
                             std::to_string(expected) + " on were never acknowledged)");
      } else if (options.truncate_at_corruption) {
        scan.notes.push_back("corrupt WAL at " + at(name, offset) + " (" + why +
                             "): log truncated there, later records dropped");
        stop_scan = true;
      } else {
        return Status(StatusCode::kCorruption, "corrupt WAL record in " + dir + "/" + at(name, offset) + ": " + why +
                                                   "; refusing to open (set recover_to_corruption to truncate the "
                                                   "log here and lose what follows)");
      }
      if (options.repair) {
        // Zero what follows the cut, durably, before anything new is logged: no stale record may ever
        // be read after the records that replace it.
        ECSDB_ASSIGN_OR_RETURN(auto f, fs.open_existing(path));
        std::vector<std::byte> zeros(end - offset);
        ECSDB_RETURN_IF_ERROR(f->write_at(offset, zeros));
        ECSDB_RETURN_IF_ERROR(f->sync());
        ECSDB_RETURN_IF_ERROR(f->close());
      }
      break;
    }
    summary.end_offset = offset;
    scan.segments.push_back(summary);
    if (stop_scan) {
      dropped_from = si + 1;
      break;
    }
  }
  if (options.repair) {
    // Segments after a truncation hold only dropped records: set them aside (renamed, no longer read) so
    // that the records logged from now on are the only ones after the cut.
    bool changed = false;
    for (std::size_t si = dropped_from; si < segments.size(); ++si) {
      const std::string& name = segments[si].second;
      std::string aside = name + ".dropped";
      for (int n = 2; fs.exists(dir + "/" + aside); ++n) aside = name + ".dropped." + std::to_string(n);
      ECSDB_RETURN_IF_ERROR(fs.rename(dir + "/" + name, dir + "/" + aside));
      scan.notes.push_back("set aside " + name + " as " + aside + " (after the truncation point)");
      changed = true;
    }
    // A newest segment left without a record (its only write was lost) goes, so a new one can take its name.
    if (!scan.segments.empty() && scan.segments.back().records == 0) {
      ECSDB_RETURN_IF_ERROR(fs.remove(dir + "/" + scan.segments.back().name));
      scan.segments.pop_back();
      changed = true;
    }
    if (changed) ECSDB_RETURN_IF_ERROR(fs.sync_dir(dir));
    // What was replayed must be on disk before anything new is acknowledged: after a kill -9 the newest
    // segment's last write may still sit only in the page cache, and commits logged from now on (in a
    // new segment) build on it. (Older segments were synced whole before their successor existed.)
    if (!scan.segments.empty()) {
      ECSDB_ASSIGN_OR_RETURN(auto f, fs.open_existing(dir + "/" + scan.segments.back().name));
      ECSDB_RETURN_IF_ERROR(f->sync());
      ECSDB_RETURN_IF_ERROR(f->close());
    }
  }
  return scan;
}

}  // namespace ecsdb::persist
