// bump / drop — change a counter that one thread owns (writes) and any thread may read.
//
// An atomic read-modify-write (`lock add` on x86) waits for every earlier store of the thread to reach the
// cache: on the writer's hot path that is the row it just wrote, usually a cache miss, so a relaxed
// fetch_add there costs a whole miss per commit. The owner needs no RMW, since nobody else writes the
// counter: a relaxed load and a relaxed store are plain moves, and readers still see whole values.
#pragma once

#include <atomic>
#include <type_traits>

namespace ecsdb::base {

template <typename T>
void bump(std::atomic<T>& counter, std::type_identity_t<T> n = 1) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

template <typename T>
void drop(std::atomic<T>& counter, std::type_identity_t<T> n) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
}

}  // namespace ecsdb::base
