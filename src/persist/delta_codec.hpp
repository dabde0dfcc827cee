// DeltaCodec — the binary encoding of a committed transaction's Delta inside a WAL record
// (docs/formats/wal.md, "payload"). Decoding validates every count and id against the schema and the
// buffer; malformed input is an error, never a crash (fuzzed by tests/fuzz/wal_record_fuzz.cpp).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ecsdb/delta.hpp"
#include "ecsdb/schema.hpp"
#include "ecsdb/status.hpp"

namespace ecsdb::persist {

// Payload version 2 (WAL format 2) adds each table's row sequence; version 1 has none.
inline constexpr std::uint32_t kDeltaPayloadVersion = 2;

void encode_delta(const Delta& d, std::int64_t unix_time_ns, const Schema& schema, std::vector<std::byte>& out);

struct DecodedDelta {
  Delta delta;
  std::int64_t unix_time_ns = 0;
};
Result<DecodedDelta> decode_delta(std::span<const std::byte> payload, const Schema& schema,
                                  std::uint32_t payload_version = kDeltaPayloadVersion);

}  // namespace ecsdb::persist
