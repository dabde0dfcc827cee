#include "storage/page_pool.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace ecsdb::storage {

using detail::Directory;
using detail::kPageAlign;
using detail::PageHeader;

namespace {
std::size_t directory_bytes(std::uint32_t capacity) {
  return sizeof(Directory) + sizeof(std::byte*) * capacity;
}
}  // namespace

PagePool::~PagePool() {
  trim();
  for (void* slab : slabs_) std::free(slab);
}

void* PagePool::take(std::size_t total_bytes, bool& reused) {
  total_bytes = (total_bytes + kPageAlign - 1) & ~(kPageAlign - 1);
  auto it = free_.find(total_bytes);
  if (it != free_.end() && !it->second.empty()) {
    void* block = it->second.back();
    it->second.pop_back();
    bytes_pooled_.fetch_sub(total_bytes, std::memory_order_relaxed);
    reused = true;
    return block;
  }
  reused = false;
  if (total_bytes > kSlabBytes / 8) return ::operator new(total_bytes, std::align_val_t{kPageAlign});
  // Small blocks are carved from 2 MiB slabs the kernel may back with a huge page: random reads over
  // millions of rows then miss the TLB far less often than with blocks scattered over 4 KiB pages.
  if (slab_used_ + total_bytes > kSlabBytes || slabs_.empty()) {
    void* slab = std::aligned_alloc(kSlabBytes, kSlabBytes);
    if (slab == nullptr) throw std::bad_alloc();
    ::madvise(slab, kSlabBytes, MADV_HUGEPAGE);  // advice only: failure just means 4 KiB pages
    slabs_.push_back(slab);
    slab_used_ = 0;
  }
  void* block = static_cast<std::byte*>(slabs_.back()) + slab_used_;
  slab_used_ += total_bytes;
  return block;
}

void PagePool::give(void* block, std::size_t total_bytes) noexcept {
  total_bytes = (total_bytes + kPageAlign - 1) & ~(kPageAlign - 1);
  try {
    free_[total_bytes].push_back(block);
    bytes_pooled_.fetch_add(total_bytes, std::memory_order_relaxed);
  } catch (...) {  // out of memory for the free list itself: a slab block stays unused until the end
    if (total_bytes > kSlabBytes / 8) ::operator delete(block, std::align_val_t{kPageAlign});
  }
}

std::byte* PagePool::allocate_page(std::uint32_t bytes, std::uint64_t birth) {
  const std::size_t total = kPageAlign + bytes;
  bool reused = false;
  auto* block = static_cast<std::byte*>(take(total, reused));
  (reused ? pages_reused_ : pages_allocated_).fetch_add(1, std::memory_order_relaxed);
  bytes_in_use_.fetch_add(total, std::memory_order_relaxed);
  auto* header = new (block) PageHeader{birth, bytes};
  (void)header;
  return block + kPageAlign;
}

void PagePool::free_page(std::byte* data) noexcept {
  PageHeader* header = detail::header_of(data);
  const std::size_t total = kPageAlign + header->bytes;
  bytes_in_use_.fetch_sub(total, std::memory_order_relaxed);
  give(header, total);
}

Directory* PagePool::allocate_directory(std::uint32_t capacity, std::uint64_t birth) {
  const std::size_t total = directory_bytes(capacity);
  bool reused = false;
  void* block = take(total, reused);
  bytes_in_use_.fetch_add(total, std::memory_order_relaxed);
  return new (block) Directory{birth, capacity};
}

void PagePool::free_directory(Directory* dir) noexcept {
  const std::size_t total = directory_bytes(dir->capacity);
  bytes_in_use_.fetch_sub(total, std::memory_order_relaxed);
  give(dir, total);
}

void PagePool::trim() noexcept {
  // Only blocks from the system allocator can go back; slab blocks stay pooled until the pool dies.
  for (auto& [bytes, blocks] : free_) {
    if (bytes <= kSlabBytes / 8) continue;
    for (void* b : blocks) ::operator delete(b, std::align_val_t{kPageAlign});
    bytes_pooled_.fetch_sub(bytes * blocks.size(), std::memory_order_relaxed);
    blocks.clear();
  }
}

}  // namespace ecsdb::storage
