// Fuzz target: one WAL record payload through decode_delta (persist/delta_codec.cpp); what decodes must
// re-encode and decode again. Payloads carry no checksum of their own (the record header's covers them),
// so every input reaches the decoder.
// Contract under test: malformed input is an error, never a crash, a sanitizer report or a huge allocation.
//
// Each decoded record is also replayed into an empty database as recovery and a replica do
// (WriterCore::apply_delta, in a transaction committed when it applies and rolled back when it is refused:
// then the writer must hold exactly what it held before, tests/support/version_dump.hpp).
// Known issue (see tests/fuzz/README.md): a record that creates an entity at a huge index grows the registry
// to it; such records (an index at or above 2^20) are not replayed, so the other paths keep being fuzzed.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_support.hpp"
#include "persist/delta_codec.hpp"
#include "support/version_dump.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ecsdb;
  const std::span<const std::byte> payload(reinterpret_cast<const std::byte*>(data), size);
  auto decoded = persist::decode_delta(payload, *fuzz::schema());
  if (!decoded) return 0;
  // Re-encoding what decoded must not crash either (inspect and replication re-encode deltas).
  std::vector<std::byte> again;
  persist::encode_delta(decoded->delta, decoded->unix_time_ns, *fuzz::schema(), again);
  if (!persist::decode_delta(again, *fuzz::schema())) __builtin_trap();  // the codec disagrees with itself
  constexpr std::uint32_t kMaxCreatedIndex = 1u << 20;
  for (const Entity e : decoded->delta.created) {
    if (e.index() >= kMaxCreatedIndex) return 0;
  }
  auto db = fuzz::fresh_database();
  detail::WriterCore& core = detail::DatabaseAccess::core(*db);
  const testing::WriterDump before = testing::dump_writer(core.working_version());
  if (!core.begin().is_ok()) __builtin_trap();
  if (core.apply_delta(decoded->delta).is_ok()) {
    core.commit().ignore();
    return 0;
  }
  core.rollback();
  if (!(testing::dump_writer(core.working_version()) == before)) __builtin_trap();  // a refused record left changes
  return 0;
}
