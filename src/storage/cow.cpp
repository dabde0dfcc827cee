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
    pool.release_shadow(a.dir->pages()[p]);
    pool.free_page(a.dir->pages()[p]);
  }
  pool.free_directory(a.dir);
  a.dir = nullptr;
  a.pages = 0;
}

// Exception safety: every function here allocates before it changes anything (the retire lists are grown
// first), so a std::bad_alloc leaves the array as it was, or grown/copied but with the same content.
Directory* own_directory(PagedArray& a, WriteContext& ctx) {
  Directory* old = a.dir;
  base::reserve_more(ctx.retired.directories, 1);
  Directory* d = ctx.pool->allocate_directory(old->capacity, ctx.birth);
  std::copy_n(old->pages(), a.pages, d->pages());
  ctx.retired.directories.push_back(old);
  a.dir = d;
  return d;
}

namespace {

// Brings the parked shadow of `live` up to date: copies the granules of `live` marked dirty (written while
// `live` was built, so missing from the shadow). Returns the bytes copied.
std::uint64_t replay_into(std::byte* shadow, const std::byte* live, std::uint32_t bytes) noexcept {
  const detail::PageHeader* h = detail::header_of(live);
  const std::uint32_t granule = 1u << h->granule_shift;
  std::uint32_t dirty = 0;
  for (const std::uint64_t word : h->dirty) dirty += static_cast<std::uint32_t>(std::popcount(word));
  if (std::uint64_t{dirty} * granule >= bytes / 2) {  // mostly written: one sequential copy is faster
    std::memcpy(shadow, live, bytes);
    return bytes;
  }
  std::uint64_t copied = 0;
  for (std::uint32_t w = 0; w < 4; ++w) {
    for (std::uint64_t word = h->dirty[w]; word != 0; word &= word - 1) {
      const std::uint32_t offset = (w * 64 + static_cast<std::uint32_t>(std::countr_zero(word))) << h->granule_shift;
      if (offset >= bytes) break;
      const std::uint32_t n = std::min(granule, bytes - offset);
      std::memcpy(shadow + offset, live + offset, n);
      copied += n;
    }
  }
  return copied;
}

}  // namespace

std::byte* copy_page(PagedArray& a, std::uint32_t page, WriteContext& ctx) {
  std::byte* old = a.dir->pages()[page];
  detail::PageHeader* old_header = detail::header_of(old);
  const std::uint32_t bytes = a.page_bytes();
  base::reserve_more(ctx.retired.pages, 1);
  std::byte* fresh = old_header->shadow;
  if (fresh != nullptr && detail::header_of(fresh)->parked != 0) {
    // Ping-pong: the shadow equals `old` but for the granules written while `old` was built, and no view
    // can reach it (it is parked), so it becomes the private copy after a replay of those granules.
    ctx.pool->unpark(fresh);
    ctx.bytes_copied += replay_into(fresh, old, bytes);
    ++ctx.pages_replayed;
#if defined(ECSDB_VERIFY_REPLAY)
    if (std::memcmp(fresh, old, bytes) != 0) {
      std::fprintf(stderr, "ecsdb: ping-pong replay of a %u-byte page differs from the page: a write skipped "
                   "its dirty mark (storage/cow.hpp)\n", bytes);
      std::abort();
    }
#endif
  } else {
    // No shadow, or one some view may still read: a fresh page and a whole copy. The old shadow is left to
    // the reclaimer (unclaimed, so that it is freed rather than parked).
    fresh = ctx.pool->allocate_page(bytes, ctx.birth);
    ctx.pool->release_shadow(old);
    std::memcpy(fresh, old, bytes);
    ctx.bytes_copied += bytes;
  }
  detail::PageHeader* h = detail::header_of(fresh);
  h->birth = ctx.birth;
  h->claimed_by = nullptr;
  for (std::uint64_t& word : h->dirty) word = 0;
  if (ctx.ping_pong) {
    h->shadow = old;
    old_header->claimed_by = fresh;  // `old` is retired and becomes the shadow of its copy
  } else {
    h->shadow = nullptr;  // `old` is retired unclaimed: the reclaimer frees it
  }
  a.dir->pages()[page] = fresh;
  ctx.retired.pages.push_back(old);
  ++ctx.pages_copied;
  return fresh;
}

void grow_to(PagedArray& a, std::uint64_t n, WriteContext& ctx, const void* fill) {
  assert(a.elem_size != 0);
  const std::uint64_t per_page = 1ull << a.shift;
  const auto needed = static_cast<std::uint32_t>((n + per_page - 1) / per_page);
  if (needed <= a.pages) return;

  // Directory: private and big enough (exponential growth so appends cost O(1) amortised).
  if (a.dir == nullptr || a.dir->capacity < needed) {
    std::uint32_t capacity = a.dir == nullptr ? 4 : a.dir->capacity;
    while (capacity < needed) capacity *= 2;
    base::reserve_more(ctx.retired.directories, 1);
    Directory* d = ctx.pool->allocate_directory(capacity, ctx.birth);
    if (a.dir != nullptr) {
      std::copy_n(a.dir->pages(), a.pages, d->pages());
      if (a.dir->birth == ctx.birth) ctx.pool->free_directory(a.dir);  // never published
      else ctx.retired.directories.push_back(a.dir);
    }
    a.dir = d;
  } else if (a.dir->birth != ctx.birth) {
    own_directory(a, ctx);
  }

  const std::uint32_t bytes = a.page_bytes();
  for (std::uint32_t p = a.pages; p < needed; ++p) {
    std::byte* page = ctx.pool->allocate_page(bytes, ctx.birth);
    if (fill == nullptr) {
      std::memset(page, 0, bytes);
    } else {
      for (std::uint32_t off = 0; off < bytes; off += a.elem_size) std::memcpy(page + off, fill, a.elem_size);
    }
    a.dir->pages()[p] = page;
    a.pages = p + 1;  // page by page: an allocation failure leaves the pages made so far in use
  }
}

}  // namespace ecsdb::storage
