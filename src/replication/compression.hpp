// Per-connection zstd streams for replication frames (docs/protocol.md, "COMPRESSED").
//
// A client that sets HELLO's compress flag may receive COMPRESSED frames: a u32 inner size, then the zstd
// bytes of one whole inner frame (header and payload). Each connection has one zstd stream per direction
// of compression, flushed at the end of every frame, so a frame is decodable as soon as it arrives while
// the window still holds earlier frames: the key lists that repeat from one delta to the next (the same
// entities moving every tick) cost almost nothing after the first. The stream's order is the frame order,
// so a connection compresses and decompresses its frames strictly in sequence.
//
// The decompressor refuses an inner size past its limit before allocating, and any stream that decodes to
// more or fewer bytes than declared (no zstd bomb); its window is bounded (kMaxWindowLog).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ecsdb/status.hpp"

namespace ecsdb::replication {

inline constexpr int kMaxWindowLog = 23;           // 8 MiB: the most a decompressor keeps per connection
inline constexpr std::size_t kCompressedHeaderBytes = 4;  // the COMPRESSED payload's u32 inner size

class FrameCompressor {
 public:
  // `level`: zstd's (1 = fastest); `window_log`: the history kept, 10..kMaxWindowLog.
  FrameCompressor(int level, int window_log);
  ~FrameCompressor();
  FrameCompressor(const FrameCompressor&) = delete;
  FrameCompressor& operator=(const FrameCompressor&) = delete;

  // Appends one COMPRESSED frame carrying `frame` (a whole frame) to `out`. Every call continues the
  // stream: a compressed frame must be sent, in order, once this returns.
  Status compress(std::span<const std::byte> frame, std::string& out);

 private:
  struct Stream;
  std::unique_ptr<Stream> stream_;
};

class FrameDecompressor {
 public:
  explicit FrameDecompressor(std::uint32_t max_frame_bytes);
  ~FrameDecompressor();
  FrameDecompressor(const FrameDecompressor&) = delete;
  FrameDecompressor& operator=(const FrameDecompressor&) = delete;

  // The inner frame (header and payload) of a COMPRESSED frame's payload; valid until the next call. An
  // error (malformed, past the limit, a nested COMPRESSED) leaves the stream unusable: close the connection.
  Result<std::span<const std::byte>> decompress(std::span<const std::byte> payload);

 private:
  struct Stream;
  std::uint32_t max_;
  std::unique_ptr<Stream> stream_;
  std::vector<std::byte> frame_;
};

}  // namespace ecsdb::replication
