// reserve_more — room for `n` more elements, growing geometrically; release_if_over — the counterpart
// that gives back a buffer one unusually large transaction grew.
//
// The writer reserves capacity before it changes anything, so that the change itself cannot fail to
// allocate (exception safety). std::vector::reserve(size() + 1) would allocate exactly that much each
// time and turn every push into a copy of the whole vector; this doubles like push_back does.
#pragma once

#include <algorithm>
#include <cstddef>

namespace ecsdb::base {

template <typename Vector>
[[gnu::noinline]] void grow_for_more(Vector& v, std::size_t n) {
  v.reserve(std::max(v.size() + n, 2 * v.capacity()));
}

// Inline where there is room (every call but the rare growth): the writer calls it on every page copy.
template <typename Vector>
inline void reserve_more(Vector& v, std::size_t n) {
  if (v.capacity() - v.size() >= n) [[likely]] return;
  grow_for_more(v, n);
}

template <typename Vector>
std::size_t capacity_bytes(const Vector& v) noexcept {
  return v.capacity() * sizeof(typename Vector::value_type);
}

// Frees `v`'s buffer when its capacity exceeds `max_bytes`, after the caller emptied it. The writer's
// scratch buffers keep their capacity from one transaction to the next (no allocation per tick), but a
// single bulk transaction of millions of changes must not leave hundreds of megabytes resident for the
// rest of the process.
template <typename Vector>
void release_if_over(Vector& v, std::size_t max_bytes) noexcept {
  if (capacity_bytes(v) > max_bytes) Vector().swap(v);
}

// What each of the writer's scratch buffers keeps between transactions (undo records, their arena, the
// constraint and unique-index lists): 8 MiB, about 200,000 undo records, several times a busy tick.
inline constexpr std::size_t kKeptScratchBytes = std::size_t{8} << 20;

}  // namespace ecsdb::base
