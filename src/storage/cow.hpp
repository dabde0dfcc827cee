// Copy-on-write mutation of PagedArrays by the writer. Writer thread only.
//
// The writer builds version `birth`. Anything it allocates while doing so carries that birth and is private
// (no reader can reach it until publish). Anything older is shared: it is copied before the first write,
// and the original goes to the retire list, freed by the reclaimer once no pinned view can reach it.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "ecsdb/detail/paged_array.hpp"
#include "storage/page_pool.hpp"

namespace ecsdb::storage {

struct RetireList {
  std::vector<std::byte*> pages;
  std::vector<detail::Directory*> directories;
  bool empty() const noexcept { return pages.empty() && directories.empty(); }
};

struct WriteContext {
  std::uint64_t birth = 1;       // number of the version being built
  PagePool* pool = nullptr;
  RetireList retired;            // shared objects replaced while building `birth`
  std::uint64_t pages_copied = 0;
};

// An empty array of `elem_size`-byte elements in pages of at most `page_bytes` (at least one element).
void init_array(detail::PagedArray& a, std::uint32_t elem_size, std::uint32_t page_bytes = detail::kTargetPageBytes);
// Frees every page and the directory (shared or not). Used when the whole database goes away.
void destroy_array(detail::PagedArray& a, PagePool& pool) noexcept;

// Grows `a` to hold at least `n` elements; new elements are filled with `fill` (elem_size bytes) or zeroed
// when `fill` is null.
void grow_to(detail::PagedArray& a, std::uint64_t n, WriteContext& ctx, const void* fill = nullptr);

detail::Directory* own_directory(detail::PagedArray& a, WriteContext& ctx);
std::byte* copy_page(detail::PagedArray& a, std::uint32_t page, WriteContext& ctx);

// Page `page` of `a`, private to ctx.birth (copied first if shared).
inline std::byte* mutable_page(detail::PagedArray& a, std::uint32_t page, WriteContext& ctx) {
  detail::Directory* d = a.dir->birth == ctx.birth ? a.dir : own_directory(a, ctx);
  std::byte* data = d->pages()[page];
  if (detail::header_of(data)->birth != ctx.birth) data = copy_page(a, page, ctx);
  return data;
}

// Element i of `a`, writable. REQUIRES: i < a.capacity().
inline std::byte* mutable_at(detail::PagedArray& a, std::uint64_t i, WriteContext& ctx) {
  return mutable_page(a, static_cast<std::uint32_t>(i >> a.shift), ctx) + (i & a.mask) * a.elem_size;
}

}  // namespace ecsdb::storage
