// ecsdb/detail/paged_array.hpp — the storage unit of every versioned array: fixed-size pages behind a
// directory of page pointers. Internal; users reach it only through PinnedView and the writer.
//
// Invariants (relied on by the lock-free readers, see docs/concurrency.md):
//  * A page or directory whose `birth` is older than the version the writer is building is SHARED with
//    published versions and is never written again. The writer copies it first (copy-on-write) and
//    retires the original; retired memory is freed only when no pinned view can reach it.
//  * A published PagedArray value (dir pointer, count) is immutable, so readers need no synchronisation
//    beyond the acquire load of the version that contains it.
//  * Element i lives in page i >> shift at byte (i & mask) * elem_size; pages are 64-byte aligned and
//    elem_size is a multiple of the element's alignment, so a cast to the element type is aligned.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ecsdb::detail {

inline constexpr std::size_t kPageAlign = 64;
// The default target size of a page (DatabaseOptions::page_bytes); ADR 0015 has the measurements behind it.
inline constexpr std::uint32_t kTargetPageBytes = 16 * 1024;

// Header in front of every page's data; the data starts kPageAlign bytes after it.
struct PageHeader {
  std::uint64_t birth;   // version number being built when the writer created this page
  std::uint32_t bytes;   // data bytes (not counting the header)
};

// A directory of page pointers; the pointer array follows the header in the same allocation. The header is
// padded to kPageAlign like a page's, so that when the pool takes a freed directory back, its free-list link
// fits in the header and every pointer slot is poisoned under ASan (a read through a stale directory is
// reported, not served a link pointer).
struct alignas(kPageAlign) Directory {
  std::uint64_t birth;
  std::uint32_t capacity;  // pointer slots allocated

  std::byte** pages() noexcept { return reinterpret_cast<std::byte**>(this + 1); }
  std::byte* const* pages() const noexcept { return reinterpret_cast<std::byte* const*>(this + 1); }
};
static_assert(sizeof(Directory) == kPageAlign);

inline PageHeader* header_of(std::byte* data) noexcept {
  return reinterpret_cast<PageHeader*>(data - kPageAlign);
}
inline const PageHeader* header_of(const std::byte* data) noexcept {
  return reinterpret_cast<const PageHeader*>(data - kPageAlign);
}

struct PagedArray {
  Directory* dir = nullptr;     // null while empty
  std::uint32_t pages = 0;      // pages in use (dir->pages()[0 .. pages))
  std::uint32_t elem_size = 0;  // bytes per element
  std::uint32_t shift = 0;      // elements per page = 1 << shift
  std::uint32_t mask = 0;       // (1 << shift) - 1

  std::uint64_t capacity() const noexcept { return static_cast<std::uint64_t>(pages) << shift; }

  // REQUIRES: i < capacity().
  const std::byte* at(std::uint64_t i) const noexcept {
    return dir->pages()[i >> shift] + (i & mask) * elem_size;
  }
  std::uint32_t page_bytes() const noexcept { return elem_size << shift; }
};

// Elements per page: the largest power of two whose page stays within `target_bytes` (at least 1).
constexpr std::uint32_t page_shift_for(std::uint32_t elem_size, std::uint32_t target_bytes = kTargetPageBytes) noexcept {
  std::uint32_t shift = 0;
  while ((static_cast<std::uint64_t>(elem_size) << (shift + 1)) <= target_bytes) ++shift;
  return shift;
}

}  // namespace ecsdb::detail
