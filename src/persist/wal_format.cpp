#include "persist/wal_format.hpp"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <cstring>

#include "persist/byte_io.hpp"
#include "persist/numbered_file_name.hpp"

namespace ecsdb::persist {

std::uint64_t checksum64(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
  if (b.empty()) return XXH3_64bits(a.data(), a.size());
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, a.data(), a.size());
  XXH3_64bits_update(&state, b.data(), b.size());
  return XXH3_64bits_digest(&state);
}

std::vector<std::byte> encode_segment_header(const SegmentHeader& h) {
  std::vector<std::byte> out;
  ByteWriter w(out);
  w.raw(kWalMagic, 8);
  w.u32(kWalFormatVersion);
  w.u32(kWalHeaderSize);
  w.u64(h.database_id);
  w.u64(h.first_lsn);
  w.u64(h.capacity);
  w.u64(h.salt);
  w.u64(0);
  w.u64(checksum64(out));
  return out;
}

std::string decode_segment_header(std::span<const std::byte> file, SegmentHeader& out) {
  if (file.size() < kWalHeaderSize) return "file is shorter than the 64-byte header";
  if (std::memcmp(file.data(), kWalMagic, 8) != 0) return "bad magic (not an ECSDb WAL segment)";
  ByteReader r(file.subspan(8, kWalHeaderSize - 8));
  out.format_version = r.u32();
  const std::uint32_t header_size = r.u32();
  out.database_id = r.u64();
  out.first_lsn = r.u64();
  out.capacity = r.u64();
  out.salt = r.u64();
  r.u64();
  const std::uint64_t stored = r.u64();
  if (stored != checksum64(file.subspan(0, 56))) return "header checksum mismatch";
  if (out.format_version != 1 && out.format_version != kWalFormatVersion) {
    return "unsupported format version " + std::to_string(out.format_version);
  }
  if (header_size != kWalHeaderSize) return "unexpected header size " + std::to_string(header_size);
  if (out.format_version == 1) out.salt = 0;  // version 1 had reserved zeros there
  return {};
}

namespace {
// Version 2 checksum: the 16 header bytes and the payload hash, seeded with the segment salt.
std::uint64_t sealed_checksum(std::span<const std::byte> header16, std::uint64_t payload_hash, std::uint64_t salt) {
  std::byte buf[24];
  std::memcpy(buf, header16.data(), 16);
  std::memcpy(buf + 16, &payload_hash, 8);
  return XXH3_64bits_withSeed(buf, sizeof buf, salt);
}
}  // namespace

void append_record(std::vector<std::byte>& out, std::uint64_t lsn, std::span<const std::byte> payload) {
  const std::size_t start = out.size();
  ByteWriter w(out);
  w.u32(static_cast<std::uint32_t>(payload.size()));
  w.u32(0);  // batch index: seal_record
  w.u64(lsn);
  w.u64(XXH3_64bits(payload.data(), payload.size()));  // replaced by the checksum in seal_record
  w.bytes(payload);
  out.resize(start + record_size(payload.size()), std::byte{0});
}

void seal_record(std::span<std::byte> record, std::uint32_t batch_index, std::uint64_t salt) {
  std::memcpy(record.data() + 4, &batch_index, 4);
  std::uint64_t payload_hash;
  std::memcpy(&payload_hash, record.data() + 16, 8);
  const std::uint64_t sum = sealed_checksum(record.first(16), payload_hash, salt);
  std::memcpy(record.data() + 16, &sum, 8);
}

RecordHeader read_record_header(std::span<const std::byte> header) noexcept {
  RecordHeader h;
  std::memcpy(&h.length, header.data(), 4);
  std::memcpy(&h.batch_index, header.data() + 4, 4);
  std::memcpy(&h.lsn, header.data() + 8, 8);
  std::memcpy(&h.checksum, header.data() + 16, 8);
  return h;
}

std::uint64_t record_checksum(const SegmentHeader& segment, std::span<const std::byte> header,
                              std::span<const std::byte> payload) noexcept {
  if (segment.format_version == 1) return checksum64(header.first(16), payload);
  return sealed_checksum(header.first(16), XXH3_64bits(payload.data(), payload.size()), segment.salt);
}

bool record_checksum_ok(const SegmentHeader& segment, std::span<const std::byte> header,
                        std::span<const std::byte> payload) noexcept {
  const RecordHeader h = read_record_header(header);
  if (segment.format_version == 1 && h.batch_index != 0) return false;  // the flags field, always 0
  return record_checksum(segment, header, payload) == h.checksum;
}

std::string segment_name(std::uint64_t first_lsn) { return numbered_file_name("wal-", first_lsn, ".log"); }

std::uint64_t parse_segment_name(const std::string& name) { return parse_numbered_file_name(name, "wal-", ".log"); }

}  // namespace ecsdb::persist
