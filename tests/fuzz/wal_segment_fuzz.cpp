// Fuzz target: a whole WAL segment through scan_wal (persist/wal_reader.cpp) on the in-memory
// FaultInjectionFileSystem: segment header, record framing, torn-tail vs corruption decisions, repair.
// Odd first byte: the segment header gets a valid checksum and every record found by walking the lengths
// gets a valid checksum, so the framing logic and decode_delta see the mutations.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_support.hpp"
#include "persist/wal_format.hpp"
#include "persist/wal_reader.hpp"
#include "support/fault_injection_file_system.hpp"

namespace {

using ecsdb::persist::checksum64;
using ecsdb::persist::kRecordHeaderSize;
using ecsdb::persist::kWalHeaderSize;

constexpr std::uint64_t kFirstLsn = 1;

void recompute_checksums(std::vector<std::byte>& f) {
  if (f.size() < kWalHeaderSize) return;
  std::memcpy(f.data() + 24, &kFirstLsn, 8);  // the name below says the segment starts at LSN 1
  const std::uint64_t header_sum = checksum64(std::span<const std::byte>(f).subspan(0, 56));
  std::memcpy(f.data() + 56, &header_sum, 8);
  // Records get the checksum of the format the (mutated) header names: version 1 or 2 (salted).
  ecsdb::persist::SegmentHeader header;
  if (!ecsdb::persist::decode_segment_header(f, header).empty()) header = {};
  std::uint64_t offset = kWalHeaderSize;
  while (offset + kRecordHeaderSize <= f.size()) {
    std::uint32_t length;
    std::memcpy(&length, f.data() + offset, 4);
    if (length == 0) return;
    const std::uint64_t size = ecsdb::persist::record_size(length);
    if (size > f.size() - offset) return;
    const std::span<const std::byte> all(f);
    const std::uint64_t sum =
        ecsdb::persist::record_checksum(header, all.subspan(offset, 16), all.subspan(offset + kRecordHeaderSize, length));
    std::memcpy(f.data() + offset + 16, &sum, 8);
    offset += size;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ecsdb;
  if (size == 0) return 0;
  std::vector<std::byte> segment(reinterpret_cast<const std::byte*>(data) + 1, reinterpret_cast<const std::byte*>(data) + size);
  if (fuzz::fix_checksums(data, size)) recompute_checksums(segment);
  FaultInjectionFileSystem fs;
  if (!fs.create_dirs("/wal").is_ok()) __builtin_trap();
  {
    auto f = fs.create("/wal/" + persist::segment_name(kFirstLsn));
    if (!f || !(*f)->append(segment).is_ok() || !(*f)->sync().is_ok()) __builtin_trap();
  }
  persist::WalScanOptions options;
  options.repair = (data[0] & 2) != 0;                 // recovery repairs; inspect does not
  options.truncate_at_corruption = (data[0] & 4) != 0;
  std::uint64_t records = 0;
  auto scan = persist::scan_wal(fs, "/wal", *fuzz::schema(), options,
                                [&](std::uint64_t, persist::DecodedDelta&) { ++records; return Status::ok(); });
  (void)scan;
  return 0;
}
