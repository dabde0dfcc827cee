// Fuzz target: a snapshot file through parse_snapshot (persist/snapshot.cpp) and, when it parses, loaded
// into a fresh database's writer the way recovery does (apply_snapshot, finish_load, publish).
// Odd first byte: the header checksum, layout hash and every section checksum are recomputed first (see
// fuzz_support.hpp), so the section decoders and the loader see the mutations.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <xxhash.h>

#include "fuzz_support.hpp"
#include "persist/snapshot.hpp"
#include "persist/wal_format.hpp"

namespace {

constexpr std::size_t kHeaderSize = 64;  // docs/formats/snapshot.md

// Walks header + sections as the parser will and rewrites each checksum that fits in the buffer.
void recompute_checksums(std::vector<std::byte>& f) {
  if (f.size() < kHeaderSize) return;
  const std::uint64_t layout = ecsdb::fuzz::schema()->layout_hash();
  std::memcpy(f.data() + 40, &layout, 8);
  const std::uint64_t header_sum = ecsdb::persist::checksum64(std::span<const std::byte>(f).subspan(0, 56));
  std::memcpy(f.data() + 56, &header_sum, 8);
  std::uint64_t offset = kHeaderSize;
  while (offset + 16 <= f.size()) {
    std::uint64_t length;
    std::memcpy(&length, f.data() + offset + 8, 8);
    if (length > f.size() - offset - 16 || f.size() - offset - 16 - length < 8) return;
    const std::uint64_t sum = XXH3_64bits(f.data() + offset + 16, length);
    std::memcpy(f.data() + offset + 16 + length, &sum, 8);
    offset += 16 + length + 8;
  }
}

// Known issue (reported, see tests/fuzz/README.md): a `many` table row with a huge RowId index makes the
// loader size that table's index for it (up to 32 GiB) before anything can refuse it. Such inputs are
// skipped so the other paths keep being fuzzed; delete this filter once the loader bounds row ids.
constexpr std::uint32_t kMaxRowIndex = 1u << 20;

bool has_huge_row_id(const ecsdb::persist::LoadedSnapshot& snap) {
  for (const auto& t : snap.tables) {
    for (std::uint32_t i = 0; i < t.rows && t.many; ++i) {
      std::uint64_t key;
      std::memcpy(&key, t.keys.data() + 8ull * i, 8);
      if (static_cast<std::uint32_t>(key) >= kMaxRowIndex) return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ecsdb;
  if (size == 0) return 0;
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data) + 1, reinterpret_cast<const std::byte*>(data) + size);
  if (fuzz::fix_checksums(data, size)) recompute_checksums(bytes);
  auto snap = persist::parse_snapshot(std::move(bytes), "fuzz", fuzz::schema().get());
  if (!snap || has_huge_row_id(*snap)) return 0;
  auto db = fuzz::fresh_database();
  detail::WriterCore& core = detail::DatabaseAccess::core(*db);
  if (persist::apply_snapshot(*snap, core).is_ok()) {
    core.finish_load();
    core.resume_after(snap->info.lsn, snap->info.version);
  }
  return 0;
}
