#include "version/published_versions.hpp"

#include <algorithm>
#include <limits>
#include <thread>

namespace ecsdb::version {

namespace {
// Spreads threads over the slots so concurrent pins rarely contend on one cache line.
std::uint32_t preferred_slot() noexcept {
  static std::atomic<std::uint32_t> next{0};
  thread_local const std::uint32_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
}
}  // namespace

PublishedVersions::PublishedVersions(storage::PagePool& pool, std::uint32_t reader_slots)
    : pool_(pool), slots_(new ReaderSlot[reader_slots]), slot_count_(reader_slots) {}

PublishedVersions::~PublishedVersions() {
  // The owner (Database) frees the current version's pages; here only the retired garbage remains.
  for (RetiredBatch& b : retired_) free_batch(b);
  retired_.clear();
}

const detail::VersionState* PublishedVersions::pin(std::uint32_t& slot) noexcept {
  std::uint32_t i = preferred_slot() % slot_count_;
  for (std::uint32_t attempts = 0;; ++attempts) {
    const std::uint64_t e = published_.load(std::memory_order_seq_cst);
    std::uint64_t expected = 0;
    if (slots_[i].pinned.compare_exchange_strong(expected, e, std::memory_order_seq_cst)) break;
    i = (i + 1) % slot_count_;
    if (attempts >= slot_count_) std::this_thread::yield();  // every slot busy: wait for an unpin
  }
  slot = i;
  return current_.load(std::memory_order_seq_cst);
}

void PublishedVersions::unpin(std::uint32_t slot) noexcept {
  slots_[slot].pinned.store(0, std::memory_order_release);
}

void PublishedVersions::publish(std::unique_ptr<detail::VersionState>&& next, storage::RetireList&& retired) {
  const std::uint64_t number = next->number;
  const detail::VersionState* raw = next.get();
  // The batch's slot is made before the switch: once readers can see `next`, nothing may fail (a
  // failure after it would free what older readers still hold).
  const bool retires = current_owner_ != nullptr || !retired.empty();
  if (retires) retired_.emplace_back();
  std::unique_ptr<detail::VersionState> previous = std::move(current_owner_);
  current_owner_ = std::move(next);
  current_.store(raw, std::memory_order_seq_cst);
  published_.store(number, std::memory_order_seq_cst);

  if (retires) {
    std::uint64_t bytes = 0;
    for (std::byte* p : retired.pages) bytes += detail::kPageAlign + detail::header_of(p)->bytes;
    for (detail::Directory* d : retired.directories) bytes += sizeof(detail::Directory) + 8ull * d->capacity;
    retired_.back() = RetiredBatch{number - 1, std::move(previous), std::move(retired), bytes};
    retired_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    retired_batches_.fetch_add(1, std::memory_order_relaxed);
  }
  reclaim();
}

void PublishedVersions::reclaim() {
  if (retired_.empty()) return;
  std::uint64_t min_pinned = std::numeric_limits<std::uint64_t>::max();
  for (std::uint32_t i = 0; i < slot_count_; ++i) {
    const std::uint64_t v = slots_[i].pinned.load(std::memory_order_seq_cst);
    if (v != 0) min_pinned = std::min(min_pinned, v);
  }
  while (!retired_.empty() && retired_.front().tag < min_pinned) {
    free_batch(retired_.front());
    retired_.pop_front();
  }
}

void PublishedVersions::free_batch(RetiredBatch& b) noexcept {
  for (std::byte* p : b.objects.pages) pool_.free_page(p);
  for (detail::Directory* d : b.objects.directories) pool_.free_directory(d);
  b.objects = {};
  b.version.reset();
  retired_bytes_.fetch_sub(b.bytes, std::memory_order_relaxed);
  retired_batches_.fetch_sub(1, std::memory_order_relaxed);
  reclaimed_bytes_total_.fetch_add(b.bytes, std::memory_order_relaxed);
}

VersionMetrics PublishedVersions::metrics() const {
  VersionMetrics m;
  m.published = published_.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < slot_count_; ++i) {
    const std::uint64_t v = slots_[i].pinned.load(std::memory_order_acquire);
    if (v == 0) continue;
    ++m.pinned_views;
    m.oldest_pinned = m.oldest_pinned == 0 ? v : std::min(m.oldest_pinned, v);
  }
  m.retired_batches = retired_batches_.load(std::memory_order_relaxed);
  m.retired_bytes = retired_bytes_.load(std::memory_order_relaxed);
  m.reclaimed_bytes_total = reclaimed_bytes_total_.load(std::memory_order_relaxed);
  return m;
}

}  // namespace ecsdb::version
