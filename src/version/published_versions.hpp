// PublishedVersions — publication of committed versions and reclamation of the memory they no longer share.
//
// Protocol (proof sketch in docs/concurrency.md):
//   writer publish(n):   current_.store(V_n, seq_cst); published_.store(n, seq_cst); then retire the
//                        objects only versions < n can reach, tagged n - 1, and reclaim.
//   reader pin:          e = published_.load(seq_cst); CAS a free slot 0 -> e (seq_cst);
//                        V = current_.load(seq_cst). V->number >= e, because published_ is stored after
//                        current_.
//   reader unpin:        slot.store(0, release) — orders the reader's reads before the writer's free.
//   reclaim:             m = min over slots != 0 (seq_cst loads); a batch tagged t is freed when t < m.
// A batch tagged t holds objects reachable only from versions <= t. A reader the scan saw holds a version
// >= its slot value e > t. A reader whose slot CAS the scan missed did that CAS after the scan in the
// seq_cst order, so its later load of current_ comes after the publish that retired the batch and returns
// V(t+1) or newer: V->number > t, so its version cannot reach the batch (its slot value may be older,
// which only makes later scans more conservative).
//
// Thread-safety: pin/unpin/metrics from any thread; everything else from the writer thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "ecsdb/detail/version_state.hpp"
#include "storage/cow.hpp"
#include "storage/page_pool.hpp"

namespace ecsdb::version {

struct VersionMetrics {
  std::uint64_t published = 0;             // number of the newest published version
  std::uint64_t pinned_views = 0;          // reader slots in use
  std::uint64_t oldest_pinned = 0;         // smallest pinned version number (0 when none)
  std::uint64_t retired_batches = 0;       // publishes whose garbage still waits for readers
  std::uint64_t retired_bytes = 0;         // bytes those batches hold (extra pages kept for pinned views)
  std::uint64_t reclaimed_bytes_total = 0; // bytes returned to the pool, ever
};

class PublishedVersions {
 public:
  static constexpr std::uint32_t kDefaultReaderSlots = 128;

  PublishedVersions(storage::PagePool& pool, std::uint32_t reader_slots = kDefaultReaderSlots);
  PublishedVersions(const PublishedVersions&) = delete;
  PublishedVersions& operator=(const PublishedVersions&) = delete;
  ~PublishedVersions();

  // Any thread. Blocks (yielding) only when every reader slot is taken.
  const detail::VersionState* pin(std::uint32_t& slot) noexcept;
  void unpin(std::uint32_t slot) noexcept;
  std::uint64_t published_number() const noexcept { return published_.load(std::memory_order_acquire); }

  // Writer: makes `next` the current version. `retired` holds what the writer replaced while building it.
  void publish(std::unique_ptr<detail::VersionState>&& next, storage::RetireList&& retired);
  void reclaim();
  VersionMetrics metrics() const;

 private:
  struct alignas(64) ReaderSlot {
    std::atomic<std::uint64_t> pinned{0};
  };
  struct RetiredBatch {
    std::uint64_t tag;
    std::unique_ptr<detail::VersionState> version;
    storage::RetireList objects;
    std::uint64_t bytes;
  };

  void free_batch(RetiredBatch& b) noexcept;

  storage::PagePool& pool_;
  std::unique_ptr<ReaderSlot[]> slots_;
  std::uint32_t slot_count_;
  std::atomic<const detail::VersionState*> current_{nullptr};
  std::atomic<std::uint64_t> published_{0};
  std::unique_ptr<detail::VersionState> current_owner_;  // writer-side ownership of current_
  std::deque<RetiredBatch> retired_;                        // writer only, ascending tags
  std::atomic<std::uint64_t> retired_bytes_{0};
  std::atomic<std::uint64_t> retired_batches_{0};
  std::atomic<std::uint64_t> reclaimed_bytes_total_{0};
};

}  // namespace ecsdb::version
