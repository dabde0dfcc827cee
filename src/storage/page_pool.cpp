#include "storage/page_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <new>

#include "base/owner_counter.hpp"
#include "base/reserve_more.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define ECSDB_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ECSDB_POOL_ASAN 1
#endif
#endif
#if defined(ECSDB_POOL_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace ecsdb::storage {

using detail::Directory;
using detail::kPageAlign;
using detail::BlockHeader;

namespace {

std::size_t directory_bytes(std::uint32_t capacity) {
  return sizeof(Directory) + sizeof(std::byte*) * capacity;
}

std::size_t round_up(std::size_t bytes) { return (bytes + kPageAlign - 1) & ~(kPageAlign - 1); }

// The smallest granule (at least one cache line) that covers `bytes` with kDirtyGranules bits.
std::uint16_t granule_shift_for(std::uint32_t bytes) {
  std::uint16_t shift = 6;
  while ((static_cast<std::uint64_t>(bytes) + (1ull << shift) - 1) >> shift > detail::kDirtyGranules) ++shift;
  return shift;
}

// A pooled block belongs to nobody: under ASan any access to it outside the pool is an error report.
void poison(void* p, std::size_t n) noexcept {
#if defined(ECSDB_POOL_ASAN)
  ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}
void unpoison(void* p, std::size_t n) noexcept {
#if defined(ECSDB_POOL_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}

}  // namespace

PagePool::~PagePool() {
  for (auto& [bytes, blocks] : free_large_) {
    for (void* b : blocks) {
      unpoison(b, bytes);
      ::operator delete(b, std::align_val_t{kPageAlign});
    }
  }
  for (std::byte* slab : slabs_) {
    unpoison(slab, kSlabBytes);
    ::munmap(slab, kSlabBytes);
  }
}

PagePool::SlabHeader* PagePool::slab_of(const void* block) noexcept {
  // Slabs are mapped on kSlabBytes boundaries and blocks start after the header, never on a boundary.
  // NOLINTNEXTLINE(performance-no-int-to-ptr): address arithmetic is the point (slab alignment)
  return reinterpret_cast<SlabHeader*>(reinterpret_cast<std::uintptr_t>(block) & ~(std::uintptr_t{kSlabBytes} - 1));
}

void PagePool::adjust_idle(SlabHeader* slab, std::int64_t delta) noexcept {
  const bool was_idle = slab->idle == slab->carved;
  slab->idle = static_cast<std::uint32_t>(static_cast<std::int64_t>(slab->idle) + delta);
  const bool idle = slab->idle == slab->carved;
  if (was_idle != idle) idle ? ++idle_slabs_ : --idle_slabs_;
}

void PagePool::unlink(FreeBlock* f) noexcept {
  if (f->prev != nullptr) {
    f->prev->next = f->next;
  } else {
    free_[f->bytes / kPageAlign] = f->next;
  }
  if (f->next != nullptr) f->next->prev = f->prev;
}

void PagePool::map_slab() {
  base::reserve_more(slabs_, 1);  // the only allocation, before anything is mapped
  // Map twice the size and keep the aligned half: mmap itself only promises 4 KiB alignment.
  void* raw = ::mmap(nullptr, 2 * kSlabBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto begin = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t start = (begin + kSlabBytes - 1) & ~(std::uintptr_t{kSlabBytes} - 1);
  if (start != begin) ::munmap(raw, start - begin);
  const std::uintptr_t tail = begin + 2 * kSlabBytes - (start + kSlabBytes);
  // NOLINTBEGIN(performance-no-int-to-ptr): trimming a mapping to a kSlabBytes-aligned window
  if (tail != 0) ::munmap(reinterpret_cast<void*>(start + kSlabBytes), tail);
  auto* slab = reinterpret_cast<std::byte*>(start);
  // NOLINTEND(performance-no-int-to-ptr)
  // Small blocks share huge pages: random reads over millions of rows then miss the TLB far less often
  // than with blocks scattered over 4 KiB pages. Advice only: failure just means 4 KiB pages.
  ::madvise(slab, kSlabBytes, MADV_HUGEPAGE);
  new (slab) SlabHeader{0, 0};
  slabs_.push_back(slab);
  carving_ = slab;
  ++idle_slabs_;  // carved == idle == 0
  base::bump(bytes_mapped_, kSlabBytes);
}

void* PagePool::carve(std::size_t bytes) {
  if (carving_ == nullptr || kSlabHeaderBytes + slab_of(carving_)->carved + bytes > kSlabBytes) map_slab();
  SlabHeader* slab = slab_of(carving_);
  void* block = carving_ + kSlabHeaderBytes + slab->carved;
  const bool was_idle = slab->idle == slab->carved;
  slab->carved += static_cast<std::uint32_t>(bytes);
  if (was_idle) --idle_slabs_;
  return block;
}

void* PagePool::take(std::size_t total_bytes, bool& reused) {
  total_bytes = round_up(total_bytes);
  if (total_bytes > kLargeBlockBytes) {
    std::vector<void*>& pooled = free_large_[total_bytes];  // created here so that give() need not allocate
    if (!pooled.empty()) {
      void* block = pooled.back();
      pooled.pop_back();
      large_pooled_bytes_ -= total_bytes;
      base::drop(bytes_pooled_, total_bytes);
      unpoison(block, total_bytes);
      reused = true;
      return block;
    }
    reused = false;
    void* block = ::operator new(total_bytes, std::align_val_t{kPageAlign});
    base::bump(bytes_mapped_, total_bytes);
    return block;
  }
  FreeBlock*& head = free_[total_bytes / kPageAlign];
  if (head != nullptr) {
    FreeBlock* f = head;
    unlink(f);
    adjust_idle(slab_of(f), -static_cast<std::int64_t>(total_bytes));
    base::drop(bytes_pooled_, total_bytes);
    unpoison(f, total_bytes);
    reused = true;
    return f;
  }
  reused = false;
  return carve(total_bytes);
}

void PagePool::give(void* block, std::size_t total_bytes) noexcept {
  total_bytes = round_up(total_bytes);
  if (total_bytes > kLargeBlockBytes) {
    try {
      free_large_[total_bytes].push_back(block);
    } catch (...) {  // no room in the free list: return the block instead of pooling it
      ::operator delete(block, std::align_val_t{kPageAlign});
      base::drop(bytes_mapped_, total_bytes);
      base::bump(bytes_released_total_, total_bytes);
      return;
    }
    large_pooled_bytes_ += total_bytes;
    base::bump(bytes_pooled_, total_bytes);
    poison(block, total_bytes);
    return;
  }
  FreeBlock*& head = free_[total_bytes / kPageAlign];
  auto* f = new (block) FreeBlock{nullptr, head, total_bytes};
  if (head != nullptr) head->prev = f;
  head = f;
  adjust_idle(slab_of(block), static_cast<std::int64_t>(total_bytes));
  base::bump(bytes_pooled_, total_bytes);
  poison(reinterpret_cast<std::byte*>(block) + sizeof(FreeBlock), total_bytes - sizeof(FreeBlock));
}

namespace {

// A fresh header for a block of `bytes` data bytes: no shadow, nothing dirty.
template <typename Block>
Block* init_block(void* memory, std::uint32_t bytes, std::uint64_t birth) {
  auto* b = new (memory) Block{};
  b->birth = birth;
  b->bytes = bytes;
  b->granule_shift = granule_shift_for(bytes);
  return b;
}

}  // namespace

std::byte* PagePool::allocate_page(std::uint32_t bytes, std::uint64_t birth) {
  if (allocation_hook != nullptr) [[unlikely]] allocation_hook();
  const std::size_t total = kPageAlign + bytes;
  bool reused = false;
  void* block = take(total, reused);
  base::bump((reused ? pages_reused_ : pages_allocated_), 1);
  base::bump(bytes_in_use_, total);
  return init_block<BlockHeader>(block, bytes, birth)->data();
}

Directory* PagePool::allocate_directory(std::uint32_t capacity, std::uint64_t birth) {
  // The header records the pointer array's bytes in 32 bits: 2^29 pages (8 TiB at 16 KiB) at most.
  if (capacity >= (1u << 29)) throw std::bad_alloc();
  if (allocation_hook != nullptr) [[unlikely]] allocation_hook();
  const std::size_t total = directory_bytes(capacity);
  bool reused = false;
  void* block = take(total, reused);
  base::bump(bytes_in_use_, total);
  return init_block<Directory>(block, static_cast<std::uint32_t>(total - kPageAlign), birth);
}

void PagePool::free_block(BlockHeader* b) noexcept {
  const std::size_t total = b->total_bytes();
  base::drop(bytes_in_use_, total);
  give(b, total);
}

void PagePool::fold_before_parking(BlockHeader* b) noexcept {
  // The list links take the words of the dirty mask. The mask relates the block to its own older copy, so
  // when it has one, the mask is folded first into the nearest newer copy that is not parked (the live
  // block at the latest): that mask then covers the steps down to the older copy, whichever parked copies
  // between them the writer takes out of the chain later. A superset is always safe: a replay copies a
  // few granules more. Folding accumulates, though: a copy kept below a parked one that the writer keeps
  // reusing (no reader holds it) would make every later mask cover every write since. So once a fold
  // would mark more than an eighth of the block, the older copies are dropped instead: bringing them up
  // to date would cost nearly a whole copy.
  BlockHeader* newer = b->claimed_by;
  while (newer->parked != 0) newer = newer->claimed_by;
  std::uint64_t folded[4];
  std::uint32_t marked = 0;  // std::popcount is a libgcc call on baseline x86-64: fine here, off the common path
  for (std::uint32_t w = 0; w < 4; ++w) {
    folded[w] = newer->dirty[w] | b->dirty[w];
    marked += static_cast<std::uint32_t>(std::popcount(folded[w]));
  }
  const std::uint32_t granules = (b->bytes + (1u << b->granule_shift) - 1) >> b->granule_shift;
  if (marked * 8 <= granules) {
    std::copy_n(folded, 4, newer->dirty);
  } else {
    release_shadows(b);
  }
}

void PagePool::park(BlockHeader* b) noexcept {
  if (b->shadow != nullptr) fold_before_parking(b);  // see there
  const std::size_t total = b->total_bytes();
  b->parked = 1;
  b->park.older = parked_newest_;
  b->park.newer = nullptr;
  (parked_newest_ != nullptr ? parked_newest_->park.newer : parked_oldest_) = b;
  parked_newest_ = b;
  base::drop(bytes_in_use_, total);
  base::bump(bytes_parked_, total);
  poison(b->data(), b->bytes);  // nobody reads a parked block's data until unpark
}

void PagePool::unpark(BlockHeader* b) noexcept {
  const std::size_t total = b->total_bytes();
  (b->park.older != nullptr ? b->park.older->park.newer : parked_oldest_) = b->park.newer;
  (b->park.newer != nullptr ? b->park.newer->park.older : parked_newest_) = b->park.older;
  b->parked = 0;
  base::drop(bytes_parked_, total);
  base::bump(bytes_in_use_, total);
  unpoison(b->data(), b->bytes);
}

void PagePool::release_shadows(BlockHeader* newer) noexcept {
  BlockHeader* copy = newer->shadow;
  newer->shadow = nullptr;
  while (copy != nullptr) {
    BlockHeader* older = copy->shadow;
    copy->shadow = nullptr;
    copy->claimed_by = nullptr;
    if (copy->parked != 0) {
      unpark(copy);
      free_block(copy);
    }  // else still retired: the reclaimer frees it, now that nobody claims it
    copy = older;
  }
}

void PagePool::drop_parked_down_to(std::uint64_t bound) noexcept {
  while (parked_oldest_ != nullptr && bytes_parked_.load(std::memory_order_relaxed) > bound) {
    release_shadows(parked_oldest_->claimed_by);  // the oldest parked copy, and any older ones in its chain
  }
}

void PagePool::release_slab(std::size_t index) noexcept {
  std::byte* slab = slabs_[index];
  SlabHeader* header = slab_of(slab + kSlabHeaderBytes);
  // Every block of the slab is pooled: walk them back to back and take each off its free list.
  for (std::size_t at = kSlabHeaderBytes; at < kSlabHeaderBytes + header->carved;) {
    auto* f = reinterpret_cast<FreeBlock*>(slab + at);
    at += f->bytes;
    unlink(f);
  }
  base::drop(bytes_pooled_, header->idle);
  --idle_slabs_;
  if (carving_ == slab) carving_ = nullptr;
  unpoison(slab, kSlabBytes);
  ::munmap(slab, kSlabBytes);
  base::drop(bytes_mapped_, kSlabBytes);
  base::bump(bytes_released_total_, kSlabBytes);
  slabs_[index] = slabs_.back();
  slabs_.pop_back();
}

void PagePool::release_down_to(std::uint64_t bound) noexcept {
  drop_parked_down_to(bound);
  const auto over = [&] { return bytes_pooled_.load(std::memory_order_relaxed) > bound; };
  // Large blocks first: each goes back on its own, with no slab to empty first.
  for (auto& [bytes, blocks] : free_large_) {
    while (!blocks.empty() && over()) {
      void* block = blocks.back();
      blocks.pop_back();
      unpoison(block, bytes);
      ::operator delete(block, std::align_val_t{kPageAlign});
      large_pooled_bytes_ -= bytes;
      base::drop(bytes_pooled_, bytes);
      base::drop(bytes_mapped_, bytes);
      base::bump(bytes_released_total_, bytes);
    }
  }
  // Newest slabs first: after a spike, they are the ones the spike's blocks were cut from. The swap in
  // release_slab moves an already visited slab into the freed index, so each slab is looked at once.
  for (std::size_t i = slabs_.size(); i-- > 0 && idle_slabs_ != 0 && over();) {
    const SlabHeader* header = slab_of(slabs_[i] + kSlabHeaderBytes);
    if (header->idle == header->carved) release_slab(i);
  }
}

void PagePool::release_over_bound() noexcept {
  drop_parked_down_to(max_idle_bytes_);
  if (bytes_pooled_.load(std::memory_order_relaxed) <= max_idle_bytes_) return;
  if (large_pooled_bytes_ == 0 && idle_slabs_ == 0) return;  // all pooled bytes sit in slabs partly in use
  release_down_to(max_idle_bytes_);
}

void PagePool::trim() noexcept { release_down_to(0); }

}  // namespace ecsdb::storage
