#include "storage/cow.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdio>
#include <cstdlib>

#include "base/reserve_more.hpp"

namespace ecsdb::storage {

using detail::Directory;
using detail::PagedArray;

void init_array(PagedArray& a, std::uint32_t elem_size, std::uint32_t page_bytes) {
  a = PagedArray{};
  a.elem_size = elem_size;
  a.shift = elem_size == 0 ? 0 : detail::page_shift_for(elem_size, page_bytes);
  a.mask = (1u << a.shift) - 1;
}

void destroy_array(PagedArray& a, PagePool& pool) noexcept {
  if (a.dir == nullptr) return;
  for (std::uint32_t p = 0; p < a.pages; ++p) {
    std::byte* page = a.dir->pages()[p];
    if (page == nullptr) continue;  // absent (grow_absent_to)
    pool.release_shadows(detail::header_of(page));
    pool.free_page(page);
  }
  pool.release_shadows(a.dir);
  pool.free_directory(a.dir);
  a.dir = nullptr;
  a.pages = 0;
}

namespace {

using detail::BlockHeader;

// Older copies a live block keeps (its shadow chain). Views that hold k versions keep k copies of every page
// they read from being reused; with k < kMaxShadows the writer still finds a parked one. Memory: parked
// copies are bounded by the pool's max_idle_bytes; held copies are held by views whether chained or not.
constexpr int kMaxShadows = 4;

// Copies the granules that `stale` marks from `from` to `to` (the data of two copies of a block), within
// the first `used` bytes; returns the bytes copied. kWhole64: every granule is 64 bytes and lies wholly in
// the block (replay_into says when), so each copy has a constant size, a few moves, where a size known only
// at run time is a call that tests it.
template <bool kWhole64>
std::uint64_t replay_marked(std::byte* to, const std::byte* from, const std::uint64_t* stale, std::uint32_t shift,
                            std::uint32_t used) noexcept {
  if constexpr (kWhole64) shift = 6;
  std::uint64_t copied = 0;
  for (std::uint32_t w = 0; w < 4; ++w) {
    for (std::uint64_t word = stale[w]; word != 0; word &= word - 1) {
      const std::uint32_t offset = (w * 64 + static_cast<std::uint32_t>(std::countr_zero(word))) << shift;
      if (offset >= used) return copied;  // the bits go up in order: the rest lie past the end too
      const std::uint32_t n = std::min(1u << shift, used - offset);
      std::memcpy(to + offset, from + offset, kWhole64 ? 64 : n);
      copied += n;
    }
  }
  return copied;
}

// The general case (any granule size, a last granule cut short by `used`), out of line so that the common
// case, inlined into replay_into, keeps its few registers (no saves around a memcpy call).
[[gnu::noinline]] std::uint64_t replay_granules(std::byte* to, const std::byte* from, const std::uint64_t* stale,
                                                std::uint32_t shift, std::uint32_t used) noexcept {
  return replay_marked<false>(to, from, stale, shift, used);
}

// Brings a parked copy of `live` up to date: copies the granules of `live` that `stale` marks (written since
// the copy was live), within the first `used` bytes. Returns the bytes copied.
std::uint64_t replay_into(BlockHeader* copy, const BlockHeader* live, const std::uint64_t* stale,
                          std::uint32_t used) noexcept {
  std::byte* to = copy->data();
  const std::byte* from = live->data();
  // Written whole (mutable_page): one sequential copy. (std::popcount would be a libgcc call on baseline
  // x86-64, too slow for every copy, so partly written blocks are not weighed; their granules are copied
  // one by one.)
  if ((stale[0] & stale[1] & stale[2] & stale[3]) == ~0ull) {
    std::memcpy(to, from, used);
    return used;
  }
  // A page of the default 16 KiB, and a directory of up to 2,048 pages, has 64-byte granules. In a block of
  // a multiple of 64 bytes every granule is whole; the bytes of a directory's last granule that lie past
  // `used` are slots not in use, copied harmlessly (a slot is set, and marked, before it is read: set_page).
  if (live->granule_shift == 6 && (live->bytes & 63) == 0) [[likely]] {
    return replay_marked<true>(to, from, stale, 6, used);
  }
  return replay_granules(to, from, stale, live->granule_shift, used);
}

// A private copy, for version ctx.birth, of the shared block `old`, whose first `used` data bytes matter.
//
// `old`'s older copies form its shadow chain (old->shadow, its shadow, ...; at most kMaxShadows), each
// equal to the next newer one but for the granules that newer one's `dirty` marks. The newest *parked*
// copy in the chain (no view can reach it) is brought up to date by replaying the union of the dirty masks
// of the copies newer than it, and becomes the private copy; it leaves the chain (its own mask was folded
// into a newer copy's when it was parked, so the copies older than it stay related). With none parked
// (every copy may still be read by some view), a block from `allocate()` gets a whole copy and the chain
// grows by one, up to kMaxShadows. So a reader that holds each view across a tick or two still leaves the
// writer a parked copy to replay into (ADR 0016), where a single shadow would be held every time.
//
// With ping-pong on, `old` becomes the copy's first shadow. The caller retires `old`. Exception safety:
// allocate() is the only call that can throw, before anything changes.
template <typename Allocate>
BlockHeader* private_copy(BlockHeader* old, std::uint32_t used, WriteContext& ctx, bool& replayed, Allocate allocate) {
  // What the chosen copy misses: `old`'s mask when it is the first shadow (the common case, no view holds
  // it), else the union of the masks of every copy above it.
  const std::uint64_t* stale = old->dirty;
  std::uint64_t merged[4];
  BlockHeader* fresh = old->shadow;
  BlockHeader* newer = old;  // the copy whose shadow `fresh` is
  if (fresh != nullptr && fresh->parked == 0) {
    std::copy_n(old->dirty, 4, merged);
    stale = merged;
    do {
      for (int w = 0; w < 4; ++w) merged[w] |= fresh->dirty[w];
      newer = fresh;
      fresh = fresh->shadow;
    } while (fresh != nullptr && fresh->parked == 0);
  }
  replayed = fresh != nullptr;
  if (replayed) {
    // The parked copy equals `old` but for `stale`, and no view can reach it, so it becomes the private
    // copy after a replay.
    BlockHeader* older = fresh->shadow;
    if (older != nullptr) {
      __builtin_prefetch(older);  // written below; a different page, usually a cache miss
    }
    ctx.pool->unpark(fresh);
    ctx.bytes_copied += replay_into(fresh, old, stale, used);
#if defined(ECSDB_VERIFY_REPLAY)
    if (std::memcmp(fresh->data(), old->data(), used) != 0) {
      std::fprintf(stderr, "ecsdb: ping-pong replay of a %u-byte block differs from the block: a write skipped "
                   "its dirty mark (storage/cow.hpp), or a shadow chain lost one (storage/cow.cpp)\n", used);
      std::abort();
    }
#endif
    // Out of the chain; `newer`'s mask already covers the step to `older` (PagePool::park folded it).
    newer->shadow = older;
    if (older != nullptr) older->claimed_by = newer;
  } else {
    // Every older copy may still be read by a view: a fresh block and a whole copy. The chain keeps its
    // newest kMaxShadows - 1 copies below `old`; an older one is left to the reclaimer (unclaimed, so that
    // it is freed rather than parked).
    fresh = allocate();
    BlockHeader* last_kept = old;
    for (int kept = 1; kept < kMaxShadows && last_kept->shadow != nullptr; ++kept) last_kept = last_kept->shadow;
    ctx.pool->release_shadows(last_kept);
    std::memcpy(fresh->data(), old->data(), used);
    ctx.bytes_copied += used;
  }
  fresh->birth = ctx.birth;
  fresh->claimed_by = nullptr;
  // Four stores (a loop here becomes a memset call).
  fresh->dirty[0] = 0;
  fresh->dirty[1] = 0;
  fresh->dirty[2] = 0;
  fresh->dirty[3] = 0;
  if (ctx.ping_pong) {
    fresh->shadow = old;
    old->claimed_by = fresh;  // `old` is retired and becomes the newest copy in the chain of its copy
  } else {
    fresh->shadow = nullptr;  // `old` is retired unclaimed: the reclaimer frees it (it has no chain either)
  }
  return fresh;
}

// Points slot `page` of the private directory `d` at `data`, marking the slot for the next replay.
inline void set_page(Directory* d, std::uint32_t page, std::byte* data) noexcept {
  d->pages()[page] = data;
  mark_dirty(d, page * static_cast<std::uint32_t>(sizeof(std::byte*)), sizeof(std::byte*));
}

}  // namespace

// Exception safety: every function here allocates before it changes anything (the retire lists are grown
// first), so a std::bad_alloc leaves the array as it was, or grown/copied but with the same content.
Directory* own_directory(PagedArray& a, WriteContext& ctx) {
  Directory* old = a.dir;
  base::reserve_more(ctx.retired.directories, 1);
  bool replayed = false;
  auto* d = static_cast<Directory*>(
      private_copy(old, a.pages * static_cast<std::uint32_t>(sizeof(std::byte*)), ctx, replayed,
                   [&] { return ctx.pool->allocate_directory(old->capacity(), ctx.birth); }));
  ctx.retired.directories.push_back(old);
  a.dir = d;
  return d;
}

std::byte* copy_page(PagedArray& a, std::uint32_t page, WriteContext& ctx) {
  BlockHeader* old = detail::header_of(a.dir->pages()[page]);
  const std::uint32_t bytes = a.page_bytes();
  base::reserve_more(ctx.retired.pages, 1);
  bool replayed = false;
  BlockHeader* fresh = private_copy(old, bytes, ctx, replayed,
                                    [&] { return detail::header_of(ctx.pool->allocate_page(bytes, ctx.birth)); });
  set_page(a.dir, page, fresh->data());
  ctx.retired.pages.push_back(old->data());
  ++ctx.pages_copied;
  if (replayed) ++ctx.pages_replayed;
  return fresh->data();
}

namespace {

// Makes a.dir private and able to point at `needed` pages (exponential growth, so appends cost O(1)
// amortised). Allocates before it changes anything.
void reserve_directory(PagedArray& a, std::uint32_t needed, WriteContext& ctx) {
  if (a.dir == nullptr || a.dir->capacity() < needed) {
    std::uint32_t capacity = a.dir == nullptr ? 4 : a.dir->capacity();
    while (capacity < needed) capacity *= 2;
    base::reserve_more(ctx.retired.directories, 1);
    Directory* d = ctx.pool->allocate_directory(capacity, ctx.birth);
    if (a.dir != nullptr) {
      std::copy_n(a.dir->pages(), a.pages, d->pages());
      ctx.pool->release_shadows(a.dir);  // a bigger directory has no older copies to alternate with
      if (a.dir->birth == ctx.birth) ctx.pool->free_directory(a.dir);  // never published
      else ctx.retired.directories.push_back(a.dir);
    }
    a.dir = d;
  } else if (a.dir->birth != ctx.birth) {
    own_directory(a, ctx);
  }
}

std::uint32_t pages_for(const PagedArray& a, std::uint64_t n) noexcept {
  const std::uint64_t per_page = 1ull << a.shift;
  return static_cast<std::uint32_t>((n + per_page - 1) / per_page);
}

}  // namespace

void grow_to(PagedArray& a, std::uint64_t n, WriteContext& ctx, const void* fill) {
  assert(a.elem_size != 0);
  const std::uint32_t needed = pages_for(a, n);
  if (needed <= a.pages) return;
  reserve_directory(a, needed, ctx);
  const std::uint32_t bytes = a.page_bytes();
  for (std::uint32_t p = a.pages; p < needed; ++p) {
    std::byte* page = ctx.pool->allocate_page(bytes, ctx.birth);
    if (fill == nullptr) {
      std::memset(page, 0, bytes);
    } else {
      // One element, then the filled prefix doubled: page-sized copies instead of one per element (a
      // page holds whole elements, so every copy continues the pattern where the last one stopped).
      std::memcpy(page, fill, a.elem_size);
      for (std::uint32_t filled = a.elem_size; filled < bytes; filled *= 2) {
        std::memcpy(page + filled, page, std::min(filled, bytes - filled));
      }
    }
    set_page(a.dir, p, page);
    a.pages = p + 1;  // page by page: an allocation failure leaves the pages made so far in use
  }
}

void grow_absent_to(PagedArray& a, std::uint64_t n, WriteContext& ctx) {
  assert(a.elem_size != 0);
  const std::uint32_t needed = pages_for(a, n);
  if (needed <= a.pages) return;
  reserve_directory(a, needed, ctx);
  for (std::uint32_t p = a.pages; p < needed; ++p) set_page(a.dir, p, nullptr);
  a.pages = needed;
}

std::byte* install_page(PagedArray& a, std::uint32_t page, WriteContext& ctx) {
  assert(page < a.pages && a.dir->pages()[page] == nullptr);
  if (a.dir->birth != ctx.birth) own_directory(a, ctx);
  std::byte* data = ctx.pool->allocate_page(a.page_bytes(), ctx.birth);
  set_page(a.dir, page, data);
  return data;
}

}  // namespace ecsdb::storage
