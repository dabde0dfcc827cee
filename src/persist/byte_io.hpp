// Little-endian encoding helpers for the on-disk formats (docs/formats/). Reads are bounds-checked: a
// ByteReader never reads past its end; it records the failure and returns zeros instead, so decoders check
// ok() once at the end of a record and never touch memory outside the buffer (fuzzed).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace ecsdb::persist {

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<std::byte>& out) : out_(out) {}
  void u8(std::uint8_t v) { raw(&v, 1); }
  void u16(std::uint16_t v) { raw(&v, 2); }
  void u32(std::uint32_t v) { raw(&v, 4); }
  void u64(std::uint64_t v) { raw(&v, 8); }
  void i64(std::int64_t v) { raw(&v, 8); }
  void bytes(std::span<const std::byte> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  // LEB128: 7 bits per byte, low groups first, high bit = more follows (1 byte below 128, at most 10).
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      u8(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    u8(static_cast<std::uint8_t>(v));
  }
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::size_t size() const noexcept { return out_.size(); }
  // Overwrites 4/8 bytes already written at `at` (lengths and checksums patched after the body).
  void patch_u32(std::size_t at, std::uint32_t v) { std::memcpy(out_.data() + at, &v, 4); }
  void patch_u64(std::size_t at, std::uint64_t v) { std::memcpy(out_.data() + at, &v, 8); }

 private:
  std::vector<std::byte>& out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> in) : in_(in) {}
  std::uint8_t u8() { return get<std::uint8_t>(); }
  std::uint16_t u16() { return get<std::uint16_t>(); }
  std::uint32_t u32() { return get<std::uint32_t>(); }
  std::uint64_t u64() { return get<std::uint64_t>(); }
  std::int64_t i64() { return get<std::int64_t>(); }
  // LEB128 (see ByteWriter::varint); more than 10 bytes, or bits past 64, fail.
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      const std::uint8_t b = u8();
      if (!ok_) return 0;
      if (shift == 63 && b > 1) break;
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return v;
    }
    ok_ = false;
    return 0;
  }
  void fail() noexcept { ok_ = false; }
  // A view of the next n bytes (empty and !ok() when fewer remain).
  std::span<const std::byte> bytes(std::size_t n) {
    if (!ok_ || n > remaining()) { ok_ = false; return {}; }
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  // True when `count` items of `item_size` bytes can still be read (guards allocations by counts).
  bool can_read(std::uint64_t count, std::uint64_t item_size) {
    if (item_size != 0 && count > remaining() / item_size) ok_ = false;
    return ok_;
  }
  bool ok() const noexcept { return ok_; }
  std::size_t remaining() const noexcept { return in_.size() - pos_; }
  std::size_t position() const noexcept { return pos_; }

 private:
  template <typename T>
  T get() {
    T v{};
    if (!ok_ || sizeof(T) > remaining()) { ok_ = false; return v; }
    std::memcpy(&v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace ecsdb::persist
