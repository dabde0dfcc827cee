// PublishedVersions — publication of committed versions, pinning by readers, and reclamation of the memory
// that no pinned version can reach any more.
//
// Lifetimes. Every retired object (page, directory, VersionState) is reachable from an interval of versions:
//   * a page or directory with `birth` b (paged_array.hpp) replaced while the writer built the version
//     after t is reachable only from versions in [b, t]: b is the version being built when it was created
//     (a lower bound on the first version that published it), and no version after t points to it;
//   * the VersionState of version t is reachable from pins of t only: [t, t].
// An object is freed as soon as no pinned version lies in its interval (not when every pin is newer than
// it): a view held while one row is updated 1,000 times keeps one page, not 1,000.
//
// Pin protocol (all seq_cst unless said; proof sketch in docs/concurrency.md):
//   writer publish(n):  current_.store(V_n); published_.store(n, release); retire the replaced objects as a batch
//                       tagged t = the previous version's number; reclaim(). Fast path (the common case of
//                       a writer that publishes often): when no batch waits and a scan, made after the two
//                       stores exactly as reclaim's, sees no pin, the objects are freed at once, no batch.
//   reader pin (slot):  e = published_.load(); CAS a free slot 0 -> e | kPinning   (C)
//                       V = current_.load()                                          (L)
//                       slot.store(V->number, release)                               (F)
//   reader unpin:       slot.store(0, release) — orders the reader's reads before the writer's frees.
//   reader pin (no free slot): under overflow_mutex_: overflow_count_.fetch_add(1) (C), V = current_.load()
//                       (L), record V->number. Unpin: under the mutex, erase, fetch_sub(1).
//   reclaim:            read every slot; "pinning e" protects every version >= e, a final v protects v
//                       exactly; if overflow_count_ != 0, read the overflow pins under the mutex.
// Invariants the proof rests on:
//   I1. V->number >= e: published_ is stored (release) after current_, and the load of e is an acquire, so L
//       (after it) sees V_e or newer.
//   I2. A reclaim scan R that does not see a pin's C (the slot still reads 0, or overflow_count_ reads 0)
//       precedes C in the single seq_cst order, so the pin's L comes after the publish that preceded R:
//       the pin holds a version newer than the tag of every batch R can free. A scan that sees C sees
//       either "pinning e" (protects [e, inf), which contains the V it will hold, by I1) or the final V.
//   I3. For a batch tagged t, a final pin <= t that a later scan sees was already final when the batch
//       was first examined (a pin that started later holds a version > t by I2, and a "pinning e <= t"
//       blocks the batch's first examination). So the largest pinned version <= t only decreases while the
//       batch waits; its objects, kept in ascending birth, are freed from the youngest end, and only a
//       batch whose largest pinned version was just released needs another look.
//   I4. A scan reads only the slots below slots_used_, a high-water mark a pin raises (seq_cst) before its
//       CAS (C) when its slot is at or past it. A scan whose load of slots_used_ does not cover slot i
//       read a value older than that raise, so the load precedes the raise, and hence C, in the seq_cst
//       order: the scan started before C, which is the case of I2 (the pin holds a version newer than
//       the tag of every batch the scan can free).
// Bound: a retired object is kept only while some pinned version can reach it, so retained memory is at
// most the sum over distinct pinned versions p of the pages of version p replaced since p was published
// (one held view: the pages changed since its pin, each once), plus, for the instant a pin is in
// progress, the batches newer than the version it started from.
//
// Thread-safety: pin/unpin/metrics/published_number from any thread; publish/reclaim/pool from the writer
// thread only; track_view_ages before any pin.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "ecsdb/detail/version_state.hpp"
#include "storage/cow.hpp"
#include "storage/page_pool.hpp"

namespace ecsdb::version {

struct VersionMetrics {
  std::uint64_t published = 0;             // number of the newest published version
  std::uint64_t published_entities = 0;    // live entities in it
  std::uint64_t pinned_views = 0;          // views held, through slots and overflow
  std::uint64_t overflow_views = 0;        // views held through the overflow path (every slot was taken)
  std::uint64_t overflow_pins_total = 0;   // pins that took the overflow path, ever
  std::uint64_t oldest_pinned = 0;         // smallest pinned version number (0 when none)
  std::uint64_t views_over_max_age = 0;    // views held longer than the age limit (0 when ages are off)
  std::uint64_t oldest_view_age_ms = 0;    // age of the oldest view (0 when ages are off)
  std::uint64_t retired_batches = 0;       // publishes whose garbage still waits for readers
  std::uint64_t retired_bytes = 0;         // bytes those batches hold (extra pages kept for pinned views)
  std::uint64_t reclaimed_bytes_total = 0; // bytes returned to the pool, ever
};

// What pin() hands to a view: the version, where the pin is recorded, and when it was taken.
struct Pin {
  const detail::VersionState* state = nullptr;
  std::uint32_t slot = 0;            // < reader slot count: a slot; otherwise an overflow entry
  std::uint64_t pinned_at_ms = 0;    // clock reading at pin time; 0 when view ages are not tracked
};

// Milliseconds on a monotonic clock.
using ClockMs = std::uint64_t (*)() noexcept;
// CLOCK_MONOTONIC_COARSE: a few ns per call, millisecond-ish resolution, enough for ages in ms.
std::uint64_t coarse_monotonic_ms() noexcept;

class PublishedVersions {
 public:
  static constexpr std::uint32_t kDefaultReaderSlots = 128;

  PublishedVersions(storage::PagePool& pool, std::uint32_t reader_slots = kDefaultReaderSlots);
  PublishedVersions(const PublishedVersions&) = delete;
  PublishedVersions& operator=(const PublishedVersions&) = delete;
  ~PublishedVersions();

  // Any thread. Wait-free through a free slot; past the slots, one short critical section on a mutex
  // shared with other overflow pins and the reclaimer (never a wait for an unpin). Terminates only if the
  // overflow table cannot grow (out of memory).
  Pin pin() noexcept;
  void unpin(std::uint32_t slot) noexcept;
  std::uint64_t published_number() const noexcept { return published_.load(std::memory_order_acquire); }
  std::uint32_t slot_count() const noexcept { return slot_count_; }

  // Before any pin: stamp each pin with clock_ms() so that metrics() can report view ages; views older than
  // max_age_ms are counted in views_over_max_age. clock_ms == nullptr turns stamping off (the default).
  void track_view_ages(std::uint64_t max_age_ms, ClockMs clock_ms) noexcept;
  ClockMs clock() const noexcept { return clock_; }

  // Writer: makes `next` the current version. `retired` holds what the writer replaced while building it;
  // its objects now belong to the reclaimer (the list is left empty). Throws std::bad_alloc only before
  // anything changes, leaving both arguments as they were. Returns true when no view can read any version
  // older than `next`, now or later (no batch is left once this publish has freed what it could), false
  // when one may.
  bool publish(std::unique_ptr<detail::VersionState>&& next, storage::RetireList&& retired);
  // Writer: frees what no pinned version can reach, then lets the pool return idle memory to the system.
  void reclaim();
  // Writer: the VersionState object of a version no view can reach any more, for the writer to build its
  // next version in (copy-assigning into it reuses its vectors, so a steady publish allocates nothing), or
  // null when there is none. The object holds its version exactly as published, `number` included: the
  // writer copies into it only what changed since (ADR 0022), so nothing here may clear or touch it.
  std::unique_ptr<detail::VersionState> reuse_state() noexcept;
  // Writer: the pool this reclaimer frees into.
  storage::PagePool& pool() noexcept { return pool_; }
  // Any thread (relaxed counters, slot loads, the overflow table under its mutex).
  VersionMetrics metrics() const;

 private:
  // Slot value: 0 = free; kPinning | e = a pin in progress that started from published version e;
  // otherwise the exact version the view holds.
  static constexpr std::uint64_t kPinning = 1ull << 63;

  struct alignas(64) ReaderSlot {
    std::atomic<std::uint64_t> pinned{0};
    std::atomic<std::uint64_t> pinned_at_ms{0};  // written before the final slot value (release)
  };
  struct OverflowPin {
    std::uint64_t version = 0;       // 0 = free entry
    std::uint64_t pinned_at_ms = 0;
    std::uint32_t next_free = 0;     // free list link (index + 1; 0 = end), so unpin never allocates
  };
  struct RetiredObject {
    std::uint64_t birth;
    void* object;                    // a page's data pointer, or a Directory*
    bool directory;
  };
  struct RetiredBatch {
    std::uint64_t tag = 0;                             // the newest version that can reach the batch
    std::unique_ptr<detail::VersionState> version;    // version `tag` itself (reachable from [tag, tag])
    std::vector<RetiredObject> objects;                // ascending birth once examined: youngest at the back
    bool live() const noexcept { return version != nullptr || !objects.empty(); }
  };

  Pin pin_overflow(std::uint64_t stamp) noexcept;
  void raise_slots_used(std::uint32_t used) noexcept;
  // Fills pins_ (sorted final pins) and returns the smallest "pinning e" (UINT64_MAX when none).
  std::uint64_t collect_pins();
  // Frees the batch's objects that no pin in pins_ can reach: those born after the largest pin <= tag.
  void examine(RetiredBatch& b) noexcept;
  void free_object(const RetiredObject& o) noexcept;
  // Parks or frees a block no pinned version reaches (free_object without the retired-bytes count).
  void release_block(detail::BlockHeader* block) noexcept;
  // Whether a scan now sees any pin, final or in progress (the fast path of publish).
  bool any_pin() const noexcept;
  // publish()'s fast path: frees `retired`, tagged `tag`, at once (REQUIRES: no batch waits, no pin seen).
  void free_retired_now(const storage::RetireList& retired, std::uint64_t tag) noexcept;
  void drop_dead_batches() noexcept;
  std::vector<RetiredBatch>::iterator batches_begin() noexcept {
    return retired_.begin() + static_cast<std::ptrdiff_t>(retired_head_);
  }
  bool no_batches() const noexcept { return retired_head_ == retired_.size(); }
  // Keep a dead version's object or a batch's emptied list for reuse (freed when kSpares are kept).
  void recycle(std::unique_ptr<detail::VersionState>&& state) noexcept;
  void recycle(std::vector<RetiredObject>&& objects) noexcept;

  storage::PagePool& pool_;
  std::unique_ptr<ReaderSlot[]> slots_;
  std::uint32_t slot_count_;
  // 1 + the highest slot index ever pinned: the scans read slots [0, slots_used_) only (I4). Raised by
  // readers the first time a thread's slot lies past it; read-mostly.
  alignas(64) std::atomic<std::uint32_t> slots_used_{0};
  std::atomic<const detail::VersionState*> current_{nullptr};
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> published_entities_{0};
  std::unique_ptr<detail::VersionState> current_owner_;  // writer-side ownership of current_

  std::uint64_t max_view_age_ms_ = 0;
  ClockMs clock_ = nullptr;

  mutable std::mutex overflow_mutex_;
  std::vector<OverflowPin> overflow_;              // guarded by overflow_mutex_
  std::uint32_t overflow_free_ = 0;                // guarded: head of the free list (index + 1)
  std::atomic<std::uint32_t> overflow_count_{0};   // pins in overflow_; changed under the mutex
  std::atomic<std::uint64_t> overflow_pins_total_{0};

  // Writer only.
  // Ascending tags; dead (empty) batches removed lazily. A vector whose first `retired_head_` entries are
  // dropped batches (compacted once they are half of it): unlike a std::deque, which frees and allocates
  // a block every dozen batches, a steady publish/reclaim cycle allocates nothing here.
  std::vector<RetiredBatch> retired_;
  std::size_t retired_head_ = 0;
  std::uint64_t settled_through_ = 0;              // batches tagged <= this have been examined
  std::size_t dead_batches_ = 0;
  std::vector<std::uint64_t> pins_;                // this scan's final pins, sorted
  std::vector<std::uint64_t> previous_pins_;       // the last scan's final pins, sorted, distinct
  // Dead versions' objects and emptied batch lists, reused so that the publish of a steady workload
  // allocates nothing (tests/txn/hot_path_allocation_test.cpp). Capacity reserved: recycling never allocates.
  static constexpr std::size_t kSpares = 4;
  std::vector<std::unique_ptr<detail::VersionState>> spare_states_;
  std::vector<std::vector<RetiredObject>> spare_lists_;

  std::atomic<std::uint64_t> retired_bytes_{0};
  std::atomic<std::uint64_t> retired_batches_{0};
  std::atomic<std::uint64_t> reclaimed_bytes_total_{0};
};

}  // namespace ecsdb::version
