// PagePool — allocation and reuse of pages and directories. Writer thread only (no synchronisation), except
// stats(), which any thread may read.
//
// Freed memory goes to a free list per block size and is handed out again before new memory is mapped, so a
// steady workload (copy-on-write of the same pages every commit) allocates nothing after warm-up. Blocks up
// to kSlabBytes / 8 are cut from 2 MiB slabs mapped on 2 MiB boundaries (the kernel may back them with one
// huge page: far fewer TLB misses on random reads); larger ones (directories of very large arrays) come from
// the system allocator one by one.
//
// Returning memory after a spike: idle memory (pooled blocks) above max_idle_bytes goes back to the system
// when release_idle() runs (the reclaimer calls it after freeing): large blocks first, then whole slabs
// none of whose blocks is in use (munmap). A slab with one block still in use stays mapped, so after a
// spike the pool keeps at most max_idle_bytes plus the free blocks of slabs that are partly in use.
//
// Parked blocks (ping-pong copies, ADR 0016): a retired page or directory that is an older copy of a live one
// (in its shadow chain) is not freed when no view can reach it any more, but parked here, so that the
// writer's next copy of the live block can reuse it and replay a few granules instead of copying the whole
// block. Parked blocks have their own bound of max_idle_bytes: release_idle() drops the oldest beyond it
// into the free lists (with any older copies in their chains), so idle memory (pooled + parked) stays
// under twice max_idle_bytes; trim() drops them all.
//
// Under AddressSanitizer a pooled block is poisoned (all but the free-list link at its start), so a read
// through a page freed too early is reported where it happens.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "ecsdb/detail/paged_array.hpp"

namespace ecsdb::storage {

struct PoolStats {
  std::uint64_t bytes_in_use = 0;          // pages + directories reachable or awaiting reclamation
  std::uint64_t bytes_pooled = 0;          // freed, kept for reuse
  std::uint64_t bytes_parked = 0;          // parked shadows of live pages, kept for ping-pong reuse
  std::uint64_t bytes_mapped = 0;          // slabs mapped + large blocks held (in use or pooled)
  std::uint64_t bytes_released_total = 0;  // returned to the system by release_idle/trim, ever
  std::uint64_t pages_allocated = 0;       // pages not found in the free lists, ever
  std::uint64_t pages_reused = 0;          // pages from the free lists, ever
};

class PagePool {
 public:
  static constexpr std::size_t kSlabBytes = 2u << 20;
  static constexpr std::size_t kLargeBlockBytes = kSlabBytes / 8;  // bigger blocks bypass the slabs
  static constexpr std::uint64_t kDefaultMaxIdleBytes = 64ull << 20;

  explicit PagePool(std::uint64_t max_idle_bytes = kDefaultMaxIdleBytes) noexcept : max_idle_bytes_(max_idle_bytes) {}
  // Test seam, null outside tests: called at the start of every allocate_page and allocate_directory,
  // whether the block then comes from a free list or from a new slab, and may throw std::bad_alloc. A pool
  // with free blocks never fails, so without it a writer path that takes a block after it has begun to
  // change something (ADR 0011: allocate first) would pass every test until the day the pool must map a
  // slab and cannot. Set it before any database exists, and reset it after (one process-wide pointer).
  static inline void (*allocation_hook)() = nullptr;
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;
  ~PagePool();

  // A page of `bytes` data bytes (contents unspecified); returns the data pointer. Throws std::bad_alloc.
  std::byte* allocate_page(std::uint32_t bytes, std::uint64_t birth);
  void free_page(std::byte* data) noexcept { free_block(detail::header_of(data)); }

  detail::Directory* allocate_directory(std::uint32_t capacity, std::uint64_t birth);
  void free_directory(detail::Directory* dir) noexcept { free_block(dir); }

  // A page or directory.
  void free_block(detail::BlockHeader* b) noexcept;

  // A retired block in a shadow chain (REQUIRES claimed_by != null) that no view can reach any more: keep
  // it for the writer's next copy of its live block (see the file comment). Reclaimer only. Its dirty mask
  // words become the list links, so when it has an older copy the mask is first folded into the nearest
  // newer copy that is not parked, or, past an eighth of the block, the older copies are released instead.
  void park(detail::BlockHeader* b) noexcept;
  // Takes a parked block off the parked list, for the writer to write (storage/cow.cpp takes it out of its
  // chain) or for release_shadows to free.
  void unpark(detail::BlockHeader* b) noexcept;
  // Cuts the shadow chain below `newer` (a live block, or a copy in a chain): each older copy that is parked
  // goes to the free lists; one still retired (waiting for readers) is unclaimed, so that the reclaimer
  // frees it. For a live block that goes, and for dropping copies the writer will not reuse.
  void release_shadows(detail::BlockHeader* newer) noexcept;

  // Idle bytes the pool may keep for reuse before release_idle() returns memory to the system.
  void set_max_idle_bytes(std::uint64_t bytes) noexcept { max_idle_bytes_ = bytes; }
  std::uint64_t max_idle_bytes() const noexcept { return max_idle_bytes_; }
  // Brings pooled bytes down towards max_idle_bytes by returning large blocks, then slabs with no block in
  // use, and parked bytes by dropping the oldest parked blocks. Two comparisons when there is nothing to
  // return: the reclaimer calls it at every publish.
  void release_idle() noexcept {
    if (bytes_parked_.load(std::memory_order_relaxed) > max_idle_bytes_ ||
        bytes_pooled_.load(std::memory_order_relaxed) > max_idle_bytes_) [[unlikely]] {
      release_over_bound();
    }
  }
  // Returns everything release_idle() can, whatever the bound.
  void trim() noexcept;

  PoolStats stats() const noexcept {
    return {bytes_in_use_.load(std::memory_order_relaxed), bytes_pooled_.load(std::memory_order_relaxed),
            bytes_parked_.load(std::memory_order_relaxed), bytes_mapped_.load(std::memory_order_relaxed), bytes_released_total_.load(std::memory_order_relaxed),
            pages_allocated_.load(std::memory_order_relaxed), pages_reused_.load(std::memory_order_relaxed)};
  }

 private:
  // At the start of every pooled slab block, inside the kPageAlign-byte header that pages and directories
  // begin with (the rest of the block is poisoned under ASan).
  struct FreeBlock {
    FreeBlock* prev;
    FreeBlock* next;
    std::size_t bytes;
  };
  static_assert(sizeof(FreeBlock) <= detail::kPageAlign);
  // At the start of every slab, in the first kPageAlign bytes; blocks follow it back to back.
  struct SlabHeader {
    std::uint32_t carved;  // bytes cut into blocks so far
    std::uint32_t idle;    // bytes of those blocks now pooled; idle == carved: nothing in use
  };
  static constexpr std::size_t kSlabHeaderBytes = detail::kPageAlign;
  static_assert(sizeof(SlabHeader) <= kSlabHeaderBytes);

  void release_over_bound() noexcept;
  // park()'s rare half: a block with an older copy has its mask folded into a newer copy's first.
  void fold_before_parking(detail::BlockHeader* b) noexcept;
  void* take(std::size_t total_bytes, bool& reused);
  void give(void* block, std::size_t total_bytes) noexcept;
  void* carve(std::size_t bytes);
  void map_slab();
  void release_slab(std::size_t index) noexcept;
  void release_down_to(std::uint64_t bound) noexcept;
  void drop_parked_down_to(std::uint64_t bound) noexcept;
  void unlink(FreeBlock* f) noexcept;
  static SlabHeader* slab_of(const void* block) noexcept;
  void adjust_idle(SlabHeader* slab, std::int64_t delta) noexcept;

  std::uint64_t max_idle_bytes_;
  // Slab blocks are multiples of kPageAlign up to kLargeBlockBytes: one list head per size, indexed by
  // bytes / kPageAlign (a flat array: the hash map it replaces cost ~7% of a publish-per-commit insert).
  std::array<FreeBlock*, kLargeBlockBytes / detail::kPageAlign + 1> free_{};
  std::unordered_map<std::size_t, std::vector<void*>> free_large_;  // large block bytes -> blocks
  std::uint64_t large_pooled_bytes_ = 0;
  std::vector<std::byte*> slabs_;        // every mapped slab
  std::byte* carving_ = nullptr;         // slab new blocks are cut from (null: map one)
  std::size_t idle_slabs_ = 0;           // slabs with no block in use
  detail::BlockHeader* parked_oldest_ = nullptr;  // parked list (through the block headers), oldest first
  detail::BlockHeader* parked_newest_ = nullptr;
  std::atomic<std::uint64_t> bytes_in_use_{0};
  std::atomic<std::uint64_t> bytes_pooled_{0};
  std::atomic<std::uint64_t> bytes_parked_{0};
  std::atomic<std::uint64_t> bytes_mapped_{0};
  std::atomic<std::uint64_t> bytes_released_total_{0};
  std::atomic<std::uint64_t> pages_allocated_{0};
  std::atomic<std::uint64_t> pages_reused_{0};
};

}  // namespace ecsdb::storage
