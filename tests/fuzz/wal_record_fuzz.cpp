// Fuzz target: one WAL record payload through decode_delta (persist/delta_codec.cpp); what decodes must
// re-encode and decode again. Payloads carry no checksum of their own (the record header's covers them),
// so every input reaches the decoder.
// Contract under test: malformed input is an error, never a crash, a sanitizer report or a huge allocation.
//
// With ECSDB_FUZZ_APPLY_DELTA=1 a decoded record is also replayed into an empty database as recovery does
// (WriterCore::apply_delta). Off by default: apply_delta trusts that the entities a record names exist, so
// a record out of its log crashes it (reported; see tests/fuzz/README.md).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "fuzz_support.hpp"
#include "persist/delta_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ecsdb;
  const std::span<const std::byte> payload(reinterpret_cast<const std::byte*>(data), size);
  auto decoded = persist::decode_delta(payload, *fuzz::schema());
  if (!decoded) return 0;
  // Re-encoding what decoded must not crash either (inspect and replication re-encode deltas).
  std::vector<std::byte> again;
  persist::encode_delta(decoded->delta, decoded->unix_time_ns, *fuzz::schema(), again);
  if (!persist::decode_delta(again, *fuzz::schema())) __builtin_trap();  // the codec disagrees with itself
  static const bool apply = std::getenv("ECSDB_FUZZ_APPLY_DELTA") != nullptr;
  if (!apply) return 0;
  auto db = fuzz::fresh_database();
  detail::WriterCore& core = detail::DatabaseAccess::core(*db);
  if (!core.begin().is_ok()) __builtin_trap();
  if (core.apply_delta(decoded->delta).is_ok()) core.commit().ignore();
  else core.rollback();
  return 0;
}
