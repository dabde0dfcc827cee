// reserve_more — room for `n` more elements, growing geometrically.
//
// The writer reserves capacity before it changes anything, so that the change itself cannot fail to
// allocate (exception safety). std::vector::reserve(size() + 1) would allocate exactly that much each
// time and turn every push into a copy of the whole vector; this doubles like push_back does.
#pragma once

#include <algorithm>
#include <cstddef>

namespace ecsdb::base {

template <typename Vector>
void reserve_more(Vector& v, std::size_t n) {
  if (v.capacity() - v.size() >= n) return;
  v.reserve(std::max(v.size() + n, 2 * v.capacity()));
}

}  // namespace ecsdb::base
