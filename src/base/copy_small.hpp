// copy_small — memcpy for the few byte counts a row or a field usually has, as moves of a constant size.
//
// memcpy with a size known only at run time is a call into libc that tests the size (about 20
// instructions); the writer copies a field on every update and a row on every removal, nearly always of 4,
// 8, 12 or 16 bytes.
#pragma once

#include <cstddef>
#include <cstring>

namespace ecsdb::base {

inline void copy_small(void* to, const void* from, std::size_t size) noexcept {
  switch (size) {
    case 4: std::memcpy(to, from, 4); return;
    case 8: std::memcpy(to, from, 8); return;
    case 12: std::memcpy(to, from, 12); return;
    case 16: std::memcpy(to, from, 16); return;
    default: std::memcpy(to, from, size);
  }
}

}  // namespace ecsdb::base
