// Write-ahead log file format, version 1 (byte by byte in docs/formats/wal.md).
//
// Segment file `wal-<first LSN, 20 digits>.log`, preallocated to its capacity (zeros):
//   header (64 bytes): magic "ECSDBWAL" | u32 format version | u32 header size | u64 database id |
//                      u64 first LSN | u64 capacity | 16 reserved bytes | u64 XXH3-64 of bytes [0, 56)
//   records, each 8-byte aligned:
//                      u32 payload length (0 = no more records) | u32 flags (0) | u64 LSN |
//                      u64 XXH3-64 of (the 16 bytes before it ++ payload) | payload | zero padding
// LSNs are consecutive across segments: a gap means a missing segment.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ecsdb::persist {

inline constexpr char kWalMagic[8] = {'E', 'C', 'S', 'D', 'B', 'W', 'A', 'L'};
inline constexpr std::uint32_t kWalFormatVersion = 1;
inline constexpr std::uint32_t kWalHeaderSize = 64;
inline constexpr std::uint32_t kRecordHeaderSize = 24;
inline constexpr std::uint32_t kMaxRecordPayload = 1u << 30;

struct SegmentHeader {
  std::uint64_t database_id = 0;
  std::uint64_t first_lsn = 0;
  std::uint64_t capacity = 0;
};

std::uint64_t checksum64(std::span<const std::byte> a, std::span<const std::byte> b = {}) noexcept;

std::vector<std::byte> encode_segment_header(const SegmentHeader& h);
// Empty string when valid; otherwise what is wrong.
std::string decode_segment_header(std::span<const std::byte> file, SegmentHeader& out);

// Appends one record (header, payload, padding) to `out`.
void append_record(std::vector<std::byte>& out, std::uint64_t lsn, std::span<const std::byte> payload);
inline std::uint64_t record_size(std::size_t payload) noexcept {
  return (kRecordHeaderSize + payload + 7) & ~std::uint64_t{7};
}

std::string segment_name(std::uint64_t first_lsn);
// First LSN from a segment file name; 0 when `name` is not a segment name.
std::uint64_t parse_segment_name(const std::string& name);

}  // namespace ecsdb::persist
