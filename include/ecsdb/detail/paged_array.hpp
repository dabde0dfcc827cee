// ecsdb/detail/paged_array.hpp — the storage unit of every versioned array: fixed-size pages behind a
// directory of page pointers. Internal; users reach it only through PinnedView and the writer.
//
// Invariants (relied on by the lock-free readers, see docs/concurrency.md):
//  * A page or directory whose `birth` is older than the version the writer is building is SHARED with
//    published versions, and no byte of it that a published version can read is written again. The
//    writer copies it first (copy-on-write) and retires the original; retired memory is freed only when no
//    pinned view can reach it. The one exception is bytes no readable version can reach: rows at or above
//    TableState::shared_rows are written in place in a shared page (ADR 0020).
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

// The header every page and every directory starts with; a page's data (or a directory's pointer array)
// starts kPageAlign bytes after it. Only the writer thread reads or writes headers (readers touch page data
// and directory slots only), so the writer may update the header of a block that published versions still
// reach.
//
// Ping-pong blocks (ADR 0016). When the writer copies a shared block X into a private block F, X is retired
// and becomes F's *shadow*: F.shadow == X and X.claimed_by == F. X keeps its own shadow, so a live block
// heads a chain of older copies (at most four, storage/cow.cpp). Once no pinned view can reach a copy, the
// reclaimer does not free it but *parks* it (PagePool::park). The next time the writer needs a private copy
// of F, it takes the newest parked copy in F's chain and replays into it only the granules that the dirty
// masks of F and of the copies between them mark, instead of copying the whole block. Invariant: each
// block's shadow holds the block's bytes except, at most, the granules the block's `dirty` mask marks. A
// parked block's mask words hold the pool's list links instead; parking first folds the mask into the
// newer copy's, when the parked block has an older copy that the mask relates it to.
struct alignas(kPageAlign) BlockHeader {
  std::uint64_t birth;           // version number being built when the writer created this block
  std::uint32_t bytes;           // data bytes (not counting the header)
  std::uint16_t granule_shift;   // a dirty bit covers 1 << granule_shift bytes (bytes >> shift <= 256)
  std::uint16_t parked;          // 1: an older copy no view can reach, waiting in the pool's parked list
  BlockHeader* shadow;           // the next older copy of this block, if kept (else null)
  BlockHeader* claimed_by;       // retired block: the next newer copy, whose shadow it is (else null)
  union {
    std::uint64_t dirty[4];      // granules in which this block may differ from its shadow (not parked)
    struct {
      BlockHeader* older;        // parked block: links of the pool's parked list (oldest first)
      BlockHeader* newer;
    } park;
  };

  // The block's whole allocation: the header and the data.
  std::size_t total_bytes() const noexcept { return kPageAlign + bytes; }
  std::byte* data() noexcept { return reinterpret_cast<std::byte*>(this) + kPageAlign; }
  const std::byte* data() const noexcept { return reinterpret_cast<const std::byte*>(this) + kPageAlign; }
};
static_assert(sizeof(BlockHeader) == kPageAlign);
inline constexpr std::uint32_t kDirtyGranules = 256;

// A directory of page pointers: a block whose data is the pointer array. The header is a whole kPageAlign
// like a page's, so that when the pool takes a freed directory back, its free-list link fits in the header
// and every pointer slot is poisoned under ASan (a read through a stale directory is reported, not served a
// link pointer).
struct Directory : BlockHeader {
  std::uint32_t capacity() const noexcept { return bytes / static_cast<std::uint32_t>(sizeof(std::byte*)); }
  std::byte** pages() noexcept { return reinterpret_cast<std::byte**>(data()); }
  std::byte* const* pages() const noexcept { return reinterpret_cast<std::byte* const*>(data()); }
};
static_assert(sizeof(Directory) == kPageAlign);

inline BlockHeader* header_of(std::byte* data) noexcept {
  return reinterpret_cast<BlockHeader*>(data - kPageAlign);
}
inline const BlockHeader* header_of(const std::byte* data) noexcept {
  return reinterpret_cast<const BlockHeader*>(data - kPageAlign);
}

struct PagedArray {
  Directory* dir = nullptr;     // null while empty
  std::uint32_t pages = 0;      // pages in use (dir->pages()[0 .. pages))
  std::uint32_t elem_size = 0;  // bytes per element
  std::uint32_t shift = 0;      // elements per page = 1 << shift
  std::uint32_t mask = 0;       // (1 << shift) - 1

  bool operator==(const PagedArray&) const = default;  // the same pages, shaped the same
  std::uint64_t capacity() const noexcept { return static_cast<std::uint64_t>(pages) << shift; }

  // REQUIRES: i < capacity().
  const std::byte* at(std::uint64_t i) const noexcept {
    return dir->pages()[i >> shift] + (i & mask) * elem_size;
  }
  // Element i as a T, found by a shift where at() multiplies by a loaded size. REQUIRES: i < capacity(), and
  // elem_size == sizeof(T) with alignof(T) dividing it: a page holds whole elements from its kPageAlign-aligned
  // start, so it is then an array of T.
  template <typename T>
  const T* element_as(std::uint64_t i) const noexcept {
    return reinterpret_cast<const T*>(dir->pages()[i >> shift]) + (i & mask);
  }
  // Whether element i's page is present: an array whose owner gives a null page a meaning (the sparse index,
  // TableState::sparse) leaves directory slots null until it needs them. REQUIRES: i < capacity().
  bool present(std::uint64_t i) const noexcept { return dir->pages()[i >> shift] != nullptr; }
  std::uint32_t page_bytes() const noexcept { return elem_size << shift; }
};

// Elements per page: the largest power of two whose page stays within `target_bytes` (at least 1).
constexpr std::uint32_t page_shift_for(std::uint32_t elem_size, std::uint32_t target_bytes = kTargetPageBytes) noexcept {
  std::uint32_t shift = 0;
  while ((static_cast<std::uint64_t>(elem_size) << (shift + 1)) <= target_bytes) ++shift;
  return shift;
}

}  // namespace ecsdb::detail
