// Fuzz target: the replication protocol's frame decoders (replication/protocol.cpp), both the server's
// (HELLO, ACK, SUBSCRIBE, WRITE) and the client's (WELCOME, SYNC_*, DELTA, WRITE_RESULT, OVERWRITTEN,
// CLOSE), and the frame splitter. Input: a byte stream as it would arrive on a connection. Contract under
// test: every frame is decoded or refused with an error, never a crash, a sanitizer report or an allocation
// sized by the sender; a decoded DELTA re-encodes to a frame that decodes to the same sizes.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz_support.hpp"
#include "replication/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ecsdb;
  using namespace ecsdb::replication;
  const Schema& schema = *fuzz::schema();
  FrameReader reader(1u << 20);
  reader.feed(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size));
  for (int frames = 0; frames < 64; ++frames) {
    auto next = reader.next();
    if (!next || !*next) break;
    const std::span<const std::byte> p = (*next)->payload;
    switch (static_cast<FrameType>((*next)->type)) {
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
  return 0;
}
