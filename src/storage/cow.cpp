#include "storage/cow.hpp"

#include <algorithm>
#include <cassert>

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
  for (std::uint32_t p = 0; p < a.pages; ++p) pool.free_page(a.dir->pages()[p]);
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

std::byte* copy_page(PagedArray& a, std::uint32_t page, WriteContext& ctx) {
  std::byte* old = a.dir->pages()[page];
  const std::uint32_t bytes = a.page_bytes();
  base::reserve_more(ctx.retired.pages, 1);
  std::byte* fresh = ctx.pool->allocate_page(bytes, ctx.birth);
  std::memcpy(fresh, old, bytes);
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
