// PagePool — allocation and reuse of pages and directories. Writer thread only (no synchronisation).
//
// Freed memory goes to a free list per size and is handed out again before the system allocator is asked,
// so a steady workload (copy-on-write of the same pages every commit) allocates nothing after warm-up.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "ecsdb/detail/paged_array.hpp"

namespace ecsdb::storage {

struct PoolStats {
  std::uint64_t bytes_in_use = 0;     // pages + directories reachable or awaiting reclamation
  std::uint64_t bytes_pooled = 0;     // freed, kept for reuse
  std::uint64_t pages_allocated = 0;  // from the system allocator, ever
  std::uint64_t pages_reused = 0;     // from the free lists, ever
};

class PagePool {
 public:
  PagePool() = default;
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;
  ~PagePool();

  // A page of `bytes` data bytes (contents unspecified); returns the data pointer.
  std::byte* allocate_page(std::uint32_t bytes, std::uint64_t birth);
  void free_page(std::byte* data) noexcept;

  detail::Directory* allocate_directory(std::uint32_t capacity, std::uint64_t birth);
  void free_directory(detail::Directory* dir) noexcept;

  // Returns pooled blocks from the system allocator (large directories) to the system. Blocks carved from
  // 2 MiB slabs are reused, and released when the pool is destroyed.
  void trim() noexcept;
  // Any thread (relaxed reads of counters the writer maintains).
  PoolStats stats() const noexcept {
    return {bytes_in_use_.load(std::memory_order_relaxed), bytes_pooled_.load(std::memory_order_relaxed),
            pages_allocated_.load(std::memory_order_relaxed), pages_reused_.load(std::memory_order_relaxed)};
  }

 private:
  void* take(std::size_t total_bytes, bool& reused);
  void give(void* block, std::size_t total_bytes) noexcept;

  static constexpr std::size_t kSlabBytes = 2u << 20;
  std::unordered_map<std::size_t, std::vector<void*>> free_;  // total block bytes -> blocks
  std::vector<void*> slabs_;
  std::size_t slab_used_ = 0;                                // bytes handed out of slabs_.back()
  std::atomic<std::uint64_t> bytes_in_use_{0};
  std::atomic<std::uint64_t> bytes_pooled_{0};
  std::atomic<std::uint64_t> pages_allocated_{0};
  std::atomic<std::uint64_t> pages_reused_{0};
};

}  // namespace ecsdb::storage
