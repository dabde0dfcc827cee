#include "version/published_versions.hpp"

#include <time.h>

#include <algorithm>
#include <limits>
#include <new>

#include "base/owner_counter.hpp"
#include "base/reserve_more.hpp"

namespace ecsdb::version {

namespace {

constexpr std::uint64_t kNone = std::numeric_limits<std::uint64_t>::max();

// Spreads threads over the slots so concurrent pins rarely contend on one cache line.
std::uint32_t preferred_slot() noexcept {
  static std::atomic<std::uint32_t> next{0};
  thread_local const std::uint32_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
}

}  // namespace

std::uint64_t coarse_monotonic_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000u;
}

PublishedVersions::PublishedVersions(storage::PagePool& pool, std::uint32_t reader_slots)
    : pool_(pool), slots_(new ReaderSlot[reader_slots]), slot_count_(reader_slots) {
  // The common scan needs no allocation; only a large overflow table makes these grow.
  pins_.reserve(reader_slots);
  previous_pins_.reserve(reader_slots);
  spare_states_.reserve(kSpares);
  spare_lists_.reserve(kSpares);
}

PublishedVersions::~PublishedVersions() {
  // The owner (Database) frees the current version's pages; here only the retired garbage remains. No view
  // may outlive the database, so every retired object goes.
  for (auto it = batches_begin(); it != retired_.end(); ++it) {
    for (const RetiredObject& o : it->objects) free_object(o);
  }
  retired_.clear();
}

void PublishedVersions::track_view_ages(std::uint64_t max_age_ms, ClockMs clock_ms) noexcept {
  max_view_age_ms_ = max_age_ms;
  clock_ = clock_ms;
}

// ---- readers ----

Pin PublishedVersions::pin() noexcept {
  const std::uint64_t stamp = clock_ != nullptr ? clock_() : 0;
  if (slot_count_ != 0) {
    std::uint32_t i = preferred_slot() % slot_count_;
    for (std::uint32_t tried = 0; tried < slot_count_; ++tried) {
      ReaderSlot& s = slots_[i];
      // A plain look first: a taken slot costs a load, not a failed CAS on another reader's cache line.
      if (s.pinned.load(std::memory_order_relaxed) == 0) {
        // Slots at or past the high-water mark are not scanned: raise it before the CAS (I4).
        // seq_cst, not relaxed: a larger value raised by another pin must be ordered before this pin's
        // CAS in the seq_cst order too, or a scan could read an older mark that misses slot i.
        if (i >= slots_used_.load(std::memory_order_seq_cst)) raise_slots_used(i + 1);
        // The order "load published_, CAS the slot, load current_" is what the proof needs (I1, I2).
        const std::uint64_t e = published_.load(std::memory_order_seq_cst);
        std::uint64_t expected = 0;
        if (s.pinned.compare_exchange_strong(expected, kPinning | e, std::memory_order_seq_cst)) {
          const detail::VersionState* v = current_.load(std::memory_order_seq_cst);
          s.pinned_at_ms.store(stamp, std::memory_order_relaxed);
          // Narrowing "pinning e" (protects every version >= e) to the version held: safe in any order,
          // since both values protect v; release so that metrics() sees the stamp with it.
          s.pinned.store(v->number, std::memory_order_release);
          return {v, i, stamp};
        }
      }
      i = i + 1 == slot_count_ ? 0 : i + 1;
    }
  }
  return pin_overflow(stamp);
}

void PublishedVersions::raise_slots_used(std::uint32_t used) noexcept {
  std::uint32_t seen = slots_used_.load(std::memory_order_seq_cst);
  while (seen < used && !slots_used_.compare_exchange_weak(seen, used, std::memory_order_seq_cst)) {
  }
}

Pin PublishedVersions::pin_overflow(std::uint64_t stamp) noexcept {
  std::lock_guard lock(overflow_mutex_);
  std::uint32_t index = 0;
  if (overflow_free_ != 0) {
    index = overflow_free_ - 1;
    overflow_free_ = overflow_[index].next_free;
  } else {
    overflow_.emplace_back();  // out of memory here terminates (pin is noexcept)
    index = static_cast<std::uint32_t>(overflow_.size() - 1);
  }
  // The count goes up before current_ is loaded (I2): a reclaimer that reads 0 ran before this increment,
  // so the version loaded next is newer than anything it frees; one that reads more takes the mutex and
  // so waits for this entry to be filled in.
  overflow_count_.fetch_add(1, std::memory_order_seq_cst);
  const detail::VersionState* v = current_.load(std::memory_order_seq_cst);
  overflow_[index] = OverflowPin{v->number, stamp, 0};
  overflow_pins_total_.fetch_add(1, std::memory_order_relaxed);
  return {v, slot_count_ + index, stamp};
}

void PublishedVersions::unpin(std::uint32_t slot) noexcept {
  if (slot < slot_count_) {
    slots_[slot].pinned.store(0, std::memory_order_release);
    return;
  }
  std::lock_guard lock(overflow_mutex_);
  const std::uint32_t index = slot - slot_count_;
  overflow_[index] = OverflowPin{0, 0, overflow_free_};
  overflow_free_ = index + 1;
  // Release (part of seq_cst): a reclaimer that reads the lower count without the mutex frees only after
  // this reader's reads.
  overflow_count_.fetch_sub(1, std::memory_order_seq_cst);
}

// ---- writer ----

bool PublishedVersions::publish(std::unique_ptr<detail::VersionState>&& next, storage::RetireList&& retired) {
  // Everything that can throw comes first, so a bad_alloc leaves the arguments and the published state as
  // they were: room for the batch below is made before the version changes, whether it is used or not.
  const std::size_t count = retired.pages.size() + retired.directories.size();
  const bool has_garbage = current_owner_ != nullptr || count != 0;
  if (has_garbage) {
    // A spare list with room for the batch's objects, taken only if the batch is built.
    if (spare_lists_.empty()) spare_lists_.emplace_back();  // within the reserved capacity
    spare_lists_.back().reserve(count);
    base::reserve_more(retired_, 1);
  }

  // Nothing below throws.
  const detail::VersionState* raw = next.get();
  std::unique_ptr<detail::VersionState> previous = std::move(current_owner_);
  current_owner_ = std::move(next);
  // current_'s store is the publish's one full barrier: seq_cst, it precedes every scan of the pins below in
  // the seq_cst order (I2, I4). published_ needs only release: a pin that loads its number (acquire) then
  // loads current_ sees raw or newer (I1). Both seq_cst were two barriers, each waiting for the commit's
  // stores to drain.
  current_.store(raw, std::memory_order_seq_cst);
  published_.store(raw->number, std::memory_order_release);
  published_entities_.store(raw->registry.alive, std::memory_order_relaxed);
  if (has_garbage) {
    // Every object here was replaced while building `raw`, so no version after the previous one reaches
    // it. (Not raw->number - 1: recovery may jump version numbers.) Without a previous version the objects
    // were never published: tag 0 makes their interval empty.
    const std::uint64_t tag = previous != nullptr ? previous->number : 0;
    if (no_batches() && !any_pin()) {
      // What reclaim() would do with this one batch, without building it: nothing older waits, and the
      // scan, after the stores above, saw no pin, so every later pin holds `raw` or newer (I2, I4).
      free_retired_now(retired, tag);
      if (previous != nullptr) recycle(std::move(previous));
    } else {
      RetiredBatch batch;
      batch.objects = std::move(spare_lists_.back());
      spare_lists_.pop_back();
      std::uint64_t bytes = 0;
      for (std::byte* p : retired.pages) {
        batch.objects.push_back({detail::header_of(p)->birth, p, false});
        bytes += detail::header_of(p)->total_bytes();
      }
      for (detail::Directory* d : retired.directories) {
        batch.objects.push_back({d->birth, d, true});
        bytes += d->total_bytes();
      }
      batch.tag = tag;
      batch.version = std::move(previous);
      retired_.push_back(std::move(batch));  // within the capacity reserved above
      base::bump(retired_bytes_, bytes);
      base::bump(retired_batches_, 1);
      reclaim();
    }
  }
  retired.pages.clear();
  retired.directories.clear();
  if (!has_garbage) reclaim();
  // Each older version's VersionState sits in the batch of its tag, which stays live while the version is
  // pinned (examine) or a pin in progress may still take it (reclaim's step 2): with no batch left, no view
  // holds or can take a version older than `raw`.
  return no_batches();
}

bool PublishedVersions::any_pin() const noexcept {
  // The loads of collect_pins, for the same reasons (I2, I4): seq_cst, after the publish's stores.
  const std::uint32_t used = slots_used_.load(std::memory_order_seq_cst);
  for (std::uint32_t i = 0; i < used; ++i) {
    if (slots_[i].pinned.load(std::memory_order_seq_cst) != 0) return true;
  }
  return overflow_count_.load(std::memory_order_seq_cst) != 0;
}

void PublishedVersions::free_retired_now(const storage::RetireList& retired, std::uint64_t tag) noexcept {
  // In the order examine() frees a batch (from its back: the directories, then the pages, each list
  // youngest first), so that a shadow chain is parked in the same order either way.
  for (auto it = retired.directories.rbegin(); it != retired.directories.rend(); ++it) release_block(*it);
  for (auto it = retired.pages.rbegin(); it != retired.pages.rend(); ++it) release_block(detail::header_of(*it));
  // This scan saw no pin: the reference for step 1 of the next reclaim is empty, and every tag up to this
  // one is settled.
  previous_pins_.clear();
  settled_through_ = std::max(settled_through_, tag);
  pool_.release_idle();
}

std::uint64_t PublishedVersions::collect_pins() {
  pins_.clear();
  std::uint64_t min_pinning = kNone;
  // Only the slots below the high-water mark can hold a pin this scan must see (I4): with a few reader
  // threads that is a few cache lines, not all reader_slots of them.
  const std::uint32_t used = slots_used_.load(std::memory_order_seq_cst);
  for (std::uint32_t i = 0; i < used; ++i) {
    const std::uint64_t v = slots_[i].pinned.load(std::memory_order_seq_cst);
    if (v == 0) continue;
    if ((v & kPinning) != 0) {
      min_pinning = std::min(min_pinning, v & ~kPinning);
    } else {
      pins_.push_back(v);
    }
  }
  if (overflow_count_.load(std::memory_order_seq_cst) != 0) {
    std::lock_guard lock(overflow_mutex_);
    for (const OverflowPin& p : overflow_) {
      if (p.version != 0) pins_.push_back(p.version);
    }
  }
  std::sort(pins_.begin(), pins_.end());
  return min_pinning;
}

void PublishedVersions::examine(RetiredBatch& b) noexcept {
  // The largest pinned version <= tag decides: objects born after it are reachable from no pinned version.
  const auto above = std::upper_bound(pins_.begin(), pins_.end(), b.tag);
  const bool pinned = above != pins_.begin();
  const std::uint64_t largest = pinned ? *(above - 1) : 0;
  while (!b.objects.empty() && (!pinned || b.objects.back().birth > largest)) {
    free_object(b.objects.back());
    b.objects.pop_back();
  }
  if (b.version != nullptr && !(pinned && largest == b.tag)) recycle(std::move(b.version));
  if (!b.live()) {
    ++dead_batches_;
    base::drop(retired_batches_, 1);
  }
}

void PublishedVersions::free_object(const RetiredObject& o) noexcept {
  auto* block = o.directory ? static_cast<detail::BlockHeader*>(static_cast<detail::Directory*>(o.object))
                            : detail::header_of(static_cast<std::byte*>(o.object));
  base::drop(retired_bytes_, block->total_bytes());
  release_block(block);
}

void PublishedVersions::release_block(detail::BlockHeader* block) noexcept {
  const std::uint64_t bytes = block->total_bytes();
  // A block claimed as the shadow of a live one is parked for the writer's next copy of it (ping-pong,
  // ADR 0016): no view reaches it any more, exactly as for a block that is freed.
  if (block->claimed_by != nullptr) pool_.park(block);
  else pool_.free_block(block);
  base::bump(reclaimed_bytes_total_, bytes);
}

void PublishedVersions::reclaim() {
  if (!no_batches()) {
    std::uint64_t min_pinning = kNone;
    try {
      min_pinning = collect_pins();
    } catch (const std::bad_alloc&) {
      return;  // freeing later is always safe
    }
    const auto by_tag = [](const RetiredBatch& b, std::uint64_t tag) { return b.tag < tag; };

    // 1. Batches examined before whose largest pinned version <= tag (q) was released: for those, and only
    //    those, that largest version is now smaller (I3). They are the tags in [q, next pin of the last scan).
    for (std::size_t k = 0; k < previous_pins_.size(); ++k) {
      const std::uint64_t q = previous_pins_[k];
      if (std::binary_search(pins_.begin(), pins_.end(), q)) continue;
      const std::uint64_t end = k + 1 < previous_pins_.size() ? previous_pins_[k + 1] : kNone;
      for (auto it = std::lower_bound(batches_begin(), retired_.end(), q, by_tag);
           it != retired_.end() && it->tag < end && it->tag <= settled_through_; ++it) {
        if (it->live()) examine(*it);
      }
    }

    // 2. Batches never examined, oldest first, up to the first that a pin still in progress may reach
    //    (its slot reads "pinning e" and it will hold some version >= e).
    for (auto it = std::upper_bound(batches_begin(), retired_.end(), settled_through_,
                                    [](std::uint64_t tag, const RetiredBatch& b) { return tag < b.tag; });
         it != retired_.end() && it->tag < min_pinning; ++it) {
      // With no pin at or before the tag everything goes, in any order: skip the sort (the common case).
      if (!pins_.empty() && pins_.front() <= it->tag) {
        std::sort(it->objects.begin(), it->objects.end(),
                  [](const RetiredObject& a, const RetiredObject& b) { return a.birth < b.birth; });
      }
      examine(*it);
      settled_through_ = it->tag;
    }
    drop_dead_batches();

    // This scan's pins become the reference for step 1 of the next one (swap: no allocation).
    previous_pins_.swap(pins_);
    previous_pins_.erase(std::unique(previous_pins_.begin(), previous_pins_.end()), previous_pins_.end());
  }
  pool_.release_idle();
}

void PublishedVersions::drop_dead_batches() noexcept {
  while (!no_batches() && !retired_[retired_head_].live()) {
    recycle(std::move(retired_[retired_head_].objects));
    ++retired_head_;
    --dead_batches_;
  }
  while (!no_batches() && !retired_.back().live()) {
    recycle(std::move(retired_.back().objects));
    retired_.pop_back();
    --dead_batches_;
  }
  if (no_batches()) {
    retired_.clear();  // keeps the capacity
    retired_head_ = 0;
  } else if (retired_head_ * 2 > retired_.size()) {
    retired_.erase(retired_.begin(), batches_begin());  // moves the live tail down; never allocates
    retired_head_ = 0;
  }
  // Dead batches between live ones stay (binary searches skip them cheaply) until they are the majority.
  const std::size_t batches = retired_.size() - retired_head_;
  if (dead_batches_ > 64 && dead_batches_ * 2 > batches) {
    retired_.erase(std::remove_if(batches_begin(), retired_.end(), [](const RetiredBatch& b) { return !b.live(); }),
                   retired_.end());
    dead_batches_ = 0;
  }
}

void PublishedVersions::recycle(std::unique_ptr<detail::VersionState>&& state) noexcept {
  if (spare_states_.size() < kSpares) {
    spare_states_.push_back(std::move(state));  // within the reserved capacity: no allocation
  } else {
    state.reset();
  }
}

void PublishedVersions::recycle(std::vector<RetiredObject>&& objects) noexcept {
  objects.clear();
  if (spare_lists_.size() < kSpares) spare_lists_.push_back(std::move(objects));
}

std::unique_ptr<detail::VersionState> PublishedVersions::reuse_state() noexcept {
  if (spare_states_.empty()) return nullptr;
  std::unique_ptr<detail::VersionState> state = std::move(spare_states_.back());
  spare_states_.pop_back();
  return state;
}

VersionMetrics PublishedVersions::metrics() const {
  VersionMetrics m;
  m.published = published_.load(std::memory_order_acquire);
  m.published_entities = published_entities_.load(std::memory_order_relaxed);
  const std::uint64_t now = clock_ != nullptr ? clock_() : 0;
  auto count_view = [&](std::uint64_t version, bool stamped, std::uint64_t pinned_at_ms) {
    ++m.pinned_views;
    m.oldest_pinned = m.oldest_pinned == 0 ? version : std::min(m.oldest_pinned, version);
    if (clock_ == nullptr || !stamped) return;
    const std::uint64_t age = now > pinned_at_ms ? now - pinned_at_ms : 0;
    m.oldest_view_age_ms = std::max(m.oldest_view_age_ms, age);
    if (max_view_age_ms_ != 0 && age > max_view_age_ms_) ++m.views_over_max_age;
  };
  const std::uint32_t used = slots_used_.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < used; ++i) {
    const std::uint64_t v = slots_[i].pinned.load(std::memory_order_acquire);
    if (v == 0) continue;
    // A pin in progress has no stamp yet; it is a few instructions old.
    const bool final = (v & kPinning) == 0;
    count_view(v & ~kPinning, final, final ? slots_[i].pinned_at_ms.load(std::memory_order_relaxed) : 0);
  }
  if (overflow_count_.load(std::memory_order_acquire) != 0) {
    std::lock_guard lock(overflow_mutex_);
    for (const OverflowPin& p : overflow_) {
      if (p.version == 0) continue;
      ++m.overflow_views;
      count_view(p.version, true, p.pinned_at_ms);
    }
  }
  m.overflow_pins_total = overflow_pins_total_.load(std::memory_order_relaxed);
  m.retired_batches = retired_batches_.load(std::memory_order_relaxed);
  m.retired_bytes = retired_bytes_.load(std::memory_order_relaxed);
  m.reclaimed_bytes_total = reclaimed_bytes_total_.load(std::memory_order_relaxed);
  return m;
}

}  // namespace ecsdb::version
