// Copy-on-write mutation of PagedArrays by the writer. Writer thread only.
//
// The writer builds version `birth`. Anything it allocates while doing so carries that birth and is private
// (no reader can reach it until publish). Anything older is shared: it is copied before the first write,
// and the original goes to the retire list, freed by the reclaimer once no pinned view can reach it.
//
// Ping-pong blocks (ADR 0016, paged_array.hpp): the retired original of a page or directory stays the
// copy's shadow and is parked, not freed; the next copy reuses it and replays only the granules written
// since. For that, every write to a private page marks its granules dirty: mutable_at marks one element,
// mutable_range a run of elements, mutable_page the whole page (directory slots are marked here, in
// cow.cpp). make_private_at, for the steps that prepare a write, marks nothing: they write nothing. A
// write through a pointer past what was marked would be lost at the next replay, so callers write only
// what they asked for.
#pragma once

#include <cassert>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ecsdb/detail/paged_array.hpp"
#include "storage/page_pool.hpp"

namespace ecsdb::detail {
struct RegistryState;
}

namespace ecsdb::storage {

struct RetireList {
  std::vector<std::byte*> pages;
  std::vector<detail::Directory*> directories;
  bool empty() const noexcept { return pages.empty() && directories.empty(); }
};

struct WriteContext {
  std::uint64_t birth = 1;       // number of the version being built
  PagePool* pool = nullptr;
  bool ping_pong = true;         // keep a copied page's original as its shadow (ADR 0016)
  RetireList retired;            // shared objects replaced while building `birth`
  std::uint64_t pages_copied = 0;  // pages made private (full copies and replays)
  std::uint64_t pages_replayed = 0;  // of those, made from a parked shadow by replaying dirty granules
  std::uint64_t bytes_copied = 0;  // bytes those copies and replays moved
  // The registry of the version being built: it implies the keys of the rows in a table's identity run
  // (TableState::keys), which table_ops reads and writes through it.
  const detail::RegistryState* registry = nullptr;
};

// An empty array of `elem_size`-byte elements in pages of at most `page_bytes` (at least one element).
void init_array(detail::PagedArray& a, std::uint32_t elem_size, std::uint32_t page_bytes = detail::kTargetPageBytes);
// Frees every page and the directory (shared or not). Used when the whole database goes away.
void destroy_array(detail::PagedArray& a, PagePool& pool) noexcept;

// Grows `a` to hold at least `n` elements; new elements are filled with `fill` (elem_size bytes) or zeroed
// when `fill` is null.
void grow_to(detail::PagedArray& a, std::uint64_t n, WriteContext& ctx, const void* fill = nullptr);

// Absent pages: an array whose owner gives a null page a meaning (the sparse index, storage/table_ops.cpp)
// may leave directory slots null (PagedArray::present). Only that owner reads or writes such an array;
// everything here that takes a page index (private_page, mutable_at, ...) REQUIRES the page to be present.
//
// Grows `a` to hold at least `n` elements in absent pages: only the directory grows.
void grow_absent_to(detail::PagedArray& a, std::uint64_t n, WriteContext& ctx);
// Page `page` of `a` (REQUIRES: absent, page < a.pages) made present: a new page, private to ctx.birth,
// with undefined bytes for the caller to fill. Allocates before it changes anything.
std::byte* install_page(detail::PagedArray& a, std::uint32_t page, WriteContext& ctx);

detail::Directory* own_directory(detail::PagedArray& a, WriteContext& ctx);
std::byte* copy_page(detail::PagedArray& a, std::uint32_t page, WriteContext& ctx);

// Marks data bytes [offset, offset + length) of a private page or directory as written (length > 0).
inline void mark_dirty(detail::BlockHeader* h, std::uint32_t offset, std::uint32_t length) noexcept {
  const std::uint32_t first = offset >> h->granule_shift;
  const std::uint32_t last = (offset + length - 1) >> h->granule_shift;
  if ((first >> 6) == (last >> 6)) [[likely]] {  // one mask word (every element write): bits first..last at once
    h->dirty[first >> 6] |= (~0ull >> (63 - (last - first))) << (first & 63);
    return;
  }
  for (std::uint32_t g = first; g <= last; ++g) h->dirty[g >> 6] |= 1ull << (g & 63);
}

// Page `page` of `a`, private to ctx.birth (copied first if shared). Marks nothing dirty.
inline std::byte* private_page(detail::PagedArray& a, std::uint32_t page, WriteContext& ctx) {
  detail::Directory* d = a.dir->birth == ctx.birth ? a.dir : own_directory(a, ctx);
  std::byte* data = d->pages()[page];
  if (detail::header_of(data)->birth != ctx.birth) data = copy_page(a, page, ctx);
  return data;
}

// Page `page` of `a`, private, for the caller to write anywhere in it (all of it is marked dirty).
inline std::byte* mutable_page(detail::PagedArray& a, std::uint32_t page, WriteContext& ctx) {
  std::byte* data = private_page(a, page, ctx);
  for (std::uint64_t& word : detail::header_of(data)->dirty) word = ~0ull;
  return data;
}

// Elements [i, i + n) of `a` in `page` (their page), marked dirty for the caller to write.
inline std::byte* marked_elements(std::byte* page, const detail::PagedArray& a, std::uint64_t i,
                                  std::uint32_t n) noexcept {
  const auto offset = static_cast<std::uint32_t>((i & a.mask) * a.elem_size);
  mark_dirty(detail::header_of(page), offset, n * a.elem_size);
  return page + offset;
}

// Elements [i, i + n) of `a`, writable; they must lie in one page. REQUIRES: i + n <= a.capacity(), n > 0.
inline std::byte* mutable_range(detail::PagedArray& a, std::uint64_t i, std::uint32_t n, WriteContext& ctx) {
  return marked_elements(private_page(a, static_cast<std::uint32_t>(i >> a.shift), ctx), a, i, n);
}

// Element i of `a`, writable. REQUIRES: i < a.capacity().
inline std::byte* mutable_at(detail::PagedArray& a, std::uint64_t i, WriteContext& ctx) {
  return mutable_range(a, i, 1, ctx);
}

// Element i of `a`, writable where it is, whether its page is private or shared with published versions:
// only for an element no version a view can read holds (a row at or above TableState::shared_rows:
// storage/table_ops.cpp, "Rows no view can see"). No copy, and the directory stays; the element is marked
// dirty, so that the page's parked copy gets it at its next replay. REQUIRES: i < a.capacity(), its page
// present.
inline std::byte* unseen_at(detail::PagedArray& a, std::uint64_t i) noexcept {
  std::byte* page = a.dir->pages()[i >> a.shift];
  // The array's live page: never a parked copy (its bytes belong to the pool) nor a retired one.
  assert(page != nullptr && detail::header_of(page)->parked == 0 && detail::header_of(page)->claimed_by == nullptr);
  return marked_elements(page, a, i, 1);
}

// Page `page` of `a` when a write there copies nothing (it and the directory are private to `birth`
// already: an earlier write of the same version copied them), else nullptr. REQUIRES: the page present.
inline std::byte* private_page_or_null(const detail::PagedArray& a, std::uint32_t page, std::uint64_t birth) noexcept {
  // A private page is only ever in a private directory (private_page and install_page own the directory
  // first): the directory's birth is the cheap first test, one load shared by every page of the array.
  if (a.dir->birth != birth) return nullptr;
  std::byte* data = a.dir->pages()[page];
  return detail::header_of(data)->birth == birth ? data : nullptr;
}

// Element i's page made private, nothing marked dirty: what a prepare_* step calls so that the write after
// it allocates nothing. The write marks what it changes (mutable_at); a prepare changes no byte, so it has
// nothing to mark. REQUIRES: i < a.capacity(), its page present.
inline void make_private_at(detail::PagedArray& a, std::uint64_t i, WriteContext& ctx) {
  private_page(a, static_cast<std::uint32_t>(i >> a.shift), ctx);
}

}  // namespace ecsdb::storage
