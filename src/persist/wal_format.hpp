// Write-ahead log file format, version 2 (byte by byte in docs/formats/wal.md; version 1 is still read).
//
// Segment file `wal-<first LSN, 20 digits>.log`, preallocated to its capacity (zeros):
//   header (64 bytes): magic "ECSDBWAL" | u32 format version | u32 header size | u64 database id |
//                      u64 first LSN | u64 capacity | u64 salt | 8 reserved bytes | u64 XXH3-64 of bytes [0, 56)
//   records, each 8-byte aligned:
//                      u32 payload length (0 = no more records) | u32 batch index | u64 LSN |
//                      u64 checksum | payload | zero padding
// Version 2 record checksum: XXH3-64 seeded with the segment's salt of (the 16 header bytes before it ++
// the u64 XXH3-64 of the payload). A fresh random salt per segment, and a fresh segment for every run of
// the writer, mean a record verifies only inside the segment (and so the run) that wrote it.
// The batch index is the record's position in the group-commit write that carried it (0 = first): LSN -
// batch index is the first LSN of that write. Recovery uses it to tell an unsynced tail (damage inside the
// last write) from damage to synced data (damage followed by a record of a later write).
// LSNs are consecutive across segments: a gap means a missing segment.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ecsdb::persist {

inline constexpr char kWalMagic[8] = {'E', 'C', 'S', 'D', 'B', 'W', 'A', 'L'};
inline constexpr std::uint32_t kWalFormatVersion = 2;
inline constexpr std::uint32_t kWalHeaderSize = 64;
inline constexpr std::uint32_t kRecordHeaderSize = 24;
inline constexpr std::uint32_t kMaxRecordPayload = 1u << 30;

struct SegmentHeader {
  std::uint64_t database_id = 0;
  std::uint64_t first_lsn = 0;
  std::uint64_t capacity = 0;
  std::uint64_t salt = 0;  // version 2: seeds every record checksum of this segment
  std::uint32_t format_version = kWalFormatVersion;
};

std::uint64_t checksum64(std::span<const std::byte> a, std::span<const std::byte> b = {}) noexcept;

std::vector<std::byte> encode_segment_header(const SegmentHeader& h);
// Empty string when valid (version 1 or 2); otherwise what is wrong.
std::string decode_segment_header(std::span<const std::byte> file, SegmentHeader& out);

// Appends one record (header, payload, padding) to `out`, not yet sealed: its checksum slot holds the
// payload's hash until seal_record() knows the write batch and the segment it goes to.
void append_record(std::vector<std::byte>& out, std::uint64_t lsn, std::span<const std::byte> payload);
// Sets the batch index and the final checksum of a record appended by append_record (`record` starts at
// its header). Cheap: hashes 24 bytes, not the payload.
void seal_record(std::span<std::byte> record, std::uint32_t batch_index, std::uint64_t salt);

struct RecordHeader {
  std::uint32_t length = 0;
  std::uint32_t batch_index = 0;  // version 1: the flags field, always 0
  std::uint64_t lsn = 0;
  std::uint64_t checksum = 0;
};
RecordHeader read_record_header(std::span<const std::byte> header) noexcept;
// The checksum a record with this header and payload must carry in a segment with this header.
std::uint64_t record_checksum(const SegmentHeader& segment, std::span<const std::byte> header,
                              std::span<const std::byte> payload) noexcept;
// Whether `header` and `payload` form a valid record of a segment with this header.
bool record_checksum_ok(const SegmentHeader& segment, std::span<const std::byte> header,
                        std::span<const std::byte> payload) noexcept;

inline std::uint64_t record_size(std::size_t payload) noexcept {
  return (kRecordHeaderSize + payload + 7) & ~std::uint64_t{7};
}

std::string segment_name(std::uint64_t first_lsn);
// First LSN from a segment file name; 0 when `name` is not a segment name.
std::uint64_t parse_segment_name(const std::string& name);

}  // namespace ecsdb::persist
