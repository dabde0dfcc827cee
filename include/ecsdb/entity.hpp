// ecsdb/entity.hpp — entity ids.
//
// An Entity is 64 bits: a 32-bit index into the registry and a 32-bit generation. Destroying an entity bumps
// the generation stored at its index, so an old id held anywhere no longer matches and every lookup through
// it fails with StatusCode::kStaleEntity instead of reaching the data of whichever entity reuses the index.
// Generations start at 1; the all-zero id is Entity::null() and is never alive.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace ecsdb {

class Entity {
 public:
  constexpr Entity() noexcept = default;
  constexpr Entity(std::uint32_t index, std::uint32_t generation) noexcept
      : bits_(static_cast<std::uint64_t>(generation) << 32 | index) {}

  static constexpr Entity from_bits(std::uint64_t bits) noexcept { Entity e; e.bits_ = bits; return e; }
  static constexpr Entity null() noexcept { return Entity(); }

  constexpr std::uint32_t index() const noexcept { return static_cast<std::uint32_t>(bits_); }
  constexpr std::uint32_t generation() const noexcept { return static_cast<std::uint32_t>(bits_ >> 32); }
  constexpr std::uint64_t bits() const noexcept { return bits_; }
  constexpr bool is_null() const noexcept { return bits_ == 0; }

  friend constexpr auto operator<=>(Entity, Entity) noexcept = default;

 private:
  std::uint64_t bits_ = 0;
};

// Identifies a row of a `cardinality = "many"` table (same index + generation scheme as Entity).
class RowId {
 public:
  constexpr RowId() noexcept = default;
  constexpr RowId(std::uint32_t index, std::uint32_t generation) noexcept
      : bits_(static_cast<std::uint64_t>(generation) << 32 | index) {}
  static constexpr RowId from_bits(std::uint64_t bits) noexcept { RowId r; r.bits_ = bits; return r; }
  constexpr std::uint32_t index() const noexcept { return static_cast<std::uint32_t>(bits_); }
  constexpr std::uint32_t generation() const noexcept { return static_cast<std::uint32_t>(bits_ >> 32); }
  constexpr std::uint64_t bits() const noexcept { return bits_; }
  constexpr bool is_null() const noexcept { return bits_ == 0; }
  friend constexpr auto operator<=>(RowId, RowId) noexcept = default;

 private:
  std::uint64_t bits_ = 0;
};

}  // namespace ecsdb

template <>
struct std::hash<ecsdb::Entity> {
  std::size_t operator()(ecsdb::Entity e) const noexcept { return std::hash<std::uint64_t>{}(e.bits()); }
};
