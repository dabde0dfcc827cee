// Fuzz target: the replication protocol's frame decoders (replication/protocol.cpp), both the server's
// (HELLO, ACK, SUBSCRIBE, WRITE) and the client's (WELCOME, SYNC_*, DELTA, WRITE_RESULT, OVERWRITTEN,
// CLOSE), COMPRESSED (zstd, one stream per input), and the frame splitter. Input: a byte stream as it would
// arrive on a connection. Contract under test: every frame is decoded or refused with an error, never a
// crash, a sanitizer report or an allocation sized by the sender; a decoded DELTA re-encodes to a frame that
// decodes to the same sizes.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz_support.hpp"
#include "replication/compression.hpp"
#include "replication/protocol.hpp"

namespace {

using namespace ecsdb;
using namespace ecsdb::replication;

void decode_one(std::uint8_t type, std::span<const std::byte> p, FrameDecompressor& zstd, int depth) {
  const Schema& schema = *fuzz::schema();
  switch (static_cast<FrameType>(type)) {
    case FrameType::kHello: (void)decode_hello(p); break;
    case FrameType::kAck: (void)decode_ack(p); break;
    case FrameType::kSubscribe: (void)decode_subscribe(p); break;
    case FrameType::kWrite: (void)decode_write(p, schema); break;
    case FrameType::kWelcome: (void)decode_welcome(p); break;
    case FrameType::kSyncBegin: (void)decode_sync_begin(p); break;
    case FrameType::kSyncChunk: (void)decode_sync_chunk(p, schema); break;
    case FrameType::kSyncEnd: (void)decode_sync_end(p); break;
    case FrameType::kWriteResult: (void)decode_write_result(p); break;
    case FrameType::kOverwritten: (void)decode_overwritten(p); break;
    case FrameType::kClose: (void)decode_close(p); break;
    case FrameType::kCompressed: {
      auto inner = zstd.decompress(p);
      if (!inner) break;
      // The decompressor refuses a nested COMPRESSED frame: reaching one here is a bug.
      if (depth > 0 || static_cast<FrameType>((*inner)[4]) == FrameType::kCompressed) __builtin_trap();
      const std::vector<std::byte> copy(inner->begin(), inner->end());  // the span dies with the next call
      decode_one(static_cast<std::uint8_t>(copy[4]), std::span(copy).subspan(kFrameHeaderBytes), zstd, depth + 1);
      break;
    }
    case FrameType::kDelta: {
      auto d = decode_delta_frame(p, schema);
      if (!d) break;
      std::vector<std::byte> again;
      encode_delta_frame(d->from_version, d->to_version, d->published_at_ns, d->delta, schema, {}, again);
      auto back = decode_delta_frame(std::span<const std::byte>(again).subspan(kFrameHeaderBytes), schema);
      if (!back || back->delta.tables.size() > d->delta.tables.size() ||
          back->delta.created.size() != d->delta.created.size()) {
        __builtin_trap();  // re-encoding a decoded frame must give the same frame back
      }
      break;
    }
    default: break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FrameReader reader(1u << 20);
  FrameDecompressor zstd(1u << 20);  // one connection's stream, as a replica keeps it
  reader.feed(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size));
  for (int frames = 0; frames < 64; ++frames) {
    auto next = reader.next();
    if (!next || !*next) break;
    decode_one((*next)->type, (*next)->payload, zstd, 0);
  }
  return 0;
}
