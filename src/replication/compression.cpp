#include "replication/compression.hpp"

#include <algorithm>
#include <cstring>

#include <zstd.h>

#include "replication/protocol.hpp"

namespace ecsdb::replication {

struct FrameCompressor::Stream {
  ZSTD_CCtx* ctx = ZSTD_createCCtx();
  ~Stream() { ZSTD_freeCCtx(ctx); }
};

FrameCompressor::FrameCompressor(int level, int window_log) : stream_(std::make_unique<Stream>()) {
  ZSTD_CCtx_setParameter(stream_->ctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(stream_->ctx, ZSTD_c_windowLog, std::clamp(window_log, 10, kMaxWindowLog));
}

FrameCompressor::~FrameCompressor() = default;

Status FrameCompressor::compress(std::span<const std::byte> frame, std::string& out) {
  if (frame.size() > UINT32_MAX - kFrameHeaderBytes) return invalid_argument("a frame too large to compress");
  const std::size_t start = out.size();
  out.resize(start + kFrameHeaderBytes + kCompressedHeaderBytes + ZSTD_compressBound(frame.size()) + 16);
  out[start + 4] = static_cast<char>(FrameType::kCompressed);
  const auto inner = static_cast<std::uint32_t>(frame.size());
  std::memcpy(out.data() + start + kFrameHeaderBytes, &inner, 4);
  ZSTD_outBuffer o{out.data(), out.size(), start + kFrameHeaderBytes + kCompressedHeaderBytes};
  ZSTD_inBuffer i{frame.data(), frame.size(), 0};
  // ZSTD_e_flush: everything given so far is decodable from the bytes produced, and the stream goes on.
  for (;;) {
    const std::size_t left = ZSTD_compressStream2(stream_->ctx, &o, &i, ZSTD_e_flush);
    if (ZSTD_isError(left) != 0) return Status(StatusCode::kInternal, std::string("zstd: ") + ZSTD_getErrorName(left));
    if (left == 0) break;
    out.resize(out.size() * 2);  // rare: more than the bound was buffered inside zstd
    o.dst = out.data();
    o.size = out.size();
  }
  out.resize(o.pos);
  const auto length = static_cast<std::uint32_t>(o.pos - start - 4);
  std::memcpy(out.data() + start, &length, 4);
  return Status::ok();
}

struct FrameDecompressor::Stream {
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  ~Stream() { ZSTD_freeDCtx(ctx); }
};

FrameDecompressor::FrameDecompressor(std::uint32_t max_frame_bytes) : max_(max_frame_bytes), stream_(std::make_unique<Stream>()) {
  ZSTD_DCtx_setParameter(stream_->ctx, ZSTD_d_windowLogMax, kMaxWindowLog);
}

FrameDecompressor::~FrameDecompressor() = default;

Result<std::span<const std::byte>> FrameDecompressor::decompress(std::span<const std::byte> payload) {
  auto malformed = [](const std::string& what) { return invalid_argument("malformed COMPRESSED frame: " + what); };
  if (payload.size() < kCompressedHeaderBytes) return malformed("shorter than its size field");
  std::uint32_t inner = 0;
  std::memcpy(&inner, payload.data(), 4);
  // The inner frame obeys the same limit as any frame: checked before anything is allocated for it.
  if (inner < kFrameHeaderBytes || inner - 4 > max_) {
    return malformed("inner size " + std::to_string(inner) + " is outside " + std::to_string(kFrameHeaderBytes) + ".." +
                     std::to_string(std::uint64_t{max_} + 4));
  }
  // One byte of room past the declared size: a stream that writes into it decodes to more than it said.
  frame_.resize(std::size_t{inner} + 1);
  ZSTD_outBuffer o{frame_.data(), frame_.size(), 0};
  ZSTD_inBuffer i{payload.data() + 4, payload.size() - 4, 0};
  while (i.pos < i.size) {
    const std::size_t before_in = i.pos;
    const std::size_t before_out = o.pos;
    const std::size_t r = ZSTD_decompressStream(stream_->ctx, &o, &i);
    if (ZSTD_isError(r) != 0) return malformed(std::string("zstd: ") + ZSTD_getErrorName(r));
    if (o.pos > inner) return malformed("decodes to more than its declared " + std::to_string(inner) + " bytes");
    if (i.pos == before_in && o.pos == before_out) return malformed("zstd made no progress");
  }
  if (o.pos != inner) return malformed("decodes to " + std::to_string(o.pos) + " bytes, not the declared " + std::to_string(inner));
  std::uint32_t length = 0;
  std::memcpy(&length, frame_.data(), 4);
  if (length != inner - 4) return malformed("the inner frame's length does not match its size");
  if (static_cast<FrameType>(frame_[4]) == FrameType::kCompressed) return malformed("a COMPRESSED frame inside another");
  return std::span<const std::byte>(frame_.data(), inner);
}

}  // namespace ecsdb::replication
