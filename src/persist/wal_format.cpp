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
  w.u64(0);
  w.u64(0);
  w.u64(checksum64(out));
  return out;
}

std::string decode_segment_header(std::span<const std::byte> file, SegmentHeader& out) {
  if (file.size() < kWalHeaderSize) return "file is shorter than the 64-byte header";
  if (std::memcmp(file.data(), kWalMagic, 8) != 0) return "bad magic (not an ECSDb WAL segment)";
  ByteReader r(file.subspan(8, kWalHeaderSize - 8));
  const std::uint32_t version = r.u32();
  const std::uint32_t header_size = r.u32();
  out.database_id = r.u64();
  out.first_lsn = r.u64();
  out.capacity = r.u64();
  r.u64();
  r.u64();
  const std::uint64_t stored = r.u64();
  if (stored != checksum64(file.subspan(0, 56))) return "header checksum mismatch";
  if (version != kWalFormatVersion) return "unsupported format version " + std::to_string(version);
  if (header_size != kWalHeaderSize) return "unexpected header size " + std::to_string(header_size);
  return {};
}

void append_record(std::vector<std::byte>& out, std::uint64_t lsn, std::span<const std::byte> payload) {
  const std::size_t start = out.size();
  ByteWriter w(out);
  w.u32(static_cast<std::uint32_t>(payload.size()));
  w.u32(0);
  w.u64(lsn);
  w.u64(0);  // checksum, patched below
  w.bytes(payload);
  out.resize(start + record_size(payload.size()), std::byte{0});
  const std::uint64_t sum = checksum64(std::span(out).subspan(start, 16), payload);
  w.patch_u64(start + 16, sum);
}

std::string segment_name(std::uint64_t first_lsn) { return numbered_file_name("wal-", first_lsn, ".log"); }

std::uint64_t parse_segment_name(const std::string& name) { return parse_numbered_file_name(name, "wal-", ".log"); }

}  // namespace ecsdb::persist
