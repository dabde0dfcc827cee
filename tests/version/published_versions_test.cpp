// The reclaimer on its own: a toy writer copies pages of one PagedArray copy-on-write, the way WriterCore
// does, and publishes through PublishedVersions. A reference model of the lifetimes (a retired object is
// reachable from versions [birth, tag]) says exactly which bytes must still be retired after every step;
// the reclaimer must match it byte for byte — keeping less would be a use-after-free (reported by ASan:
// the pool poisons freed blocks), keeping more a leak of the kind issue 10 describes.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "storage/cow.hpp"
#include "storage/page_pool.hpp"
#include "version/published_versions.hpp"

namespace ecsdb::version {
namespace {

using detail::VersionState;

constexpr std::uint32_t kPages = 8;
constexpr std::uint64_t kPerPage = 2048;  // u64 elements of a 16 KiB page
constexpr std::uint64_t kElements = kPages * kPerPage;

class ToyWriter {
 public:
  explicit ToyWriter(std::uint32_t reader_slots) : versions_(pool_, reader_slots) {
    working_ = std::make_unique<VersionState>();
    working_->tables.resize(1);
    storage::init_array(rows(), sizeof(std::uint64_t));
    ctx_.pool = &pool_;
    ctx_.birth = 1;
    working_->number = 1;
    storage::grow_to(rows(), kElements, ctx_);
    values_.assign(kElements, 0);
    publish();
  }
  ~ToyWriter() {
    storage::destroy_array(rows(), pool_);
    for (std::byte* p : ctx_.retired.pages) pool_.free_page(p);
    for (detail::Directory* d : ctx_.retired.directories) pool_.free_directory(d);
  }

  void set(std::uint64_t i, std::uint64_t value) {
    std::memcpy(storage::mutable_at(rows(), i, ctx_), &value, sizeof value);
    values_[i] = value;
  }

  // As WriterCore::publish, plus the model's bookkeeping of what this publish retires.
  // What the last publish() said: no view can read any version older than the one it published.
  bool sole_version() const { return sole_version_; }
  void publish() {
    const std::uint64_t tag = versions_.published_number();
    for (std::byte* p : ctx_.retired.pages) {
      model_.push_back({detail::header_of(p)->birth, tag, detail::kPageAlign + detail::header_of(p)->bytes});
    }
    for (detail::Directory* d : ctx_.retired.directories) {
      model_.push_back({d->birth, tag, sizeof(detail::Directory) + 8ull * d->capacity()});
    }
    auto next = std::make_unique<VersionState>(*working_);
    snapshots_[working_->number] = values_;
    sole_version_ = versions_.publish(std::move(working_), std::move(ctx_.retired));
    ctx_.retired = {};
    working_ = std::move(next);
    ctx_.birth += 1;
    working_->number = ctx_.birth;
  }

  Pin pin() {
    Pin p = versions_.pin();
    pins_.push_back(p);
    return p;
  }
  void unpin_at(std::size_t k) {
    versions_.unpin(pins_[k].slot);
    pins_.erase(pins_.begin() + static_cast<std::ptrdiff_t>(k));
  }
  const std::vector<Pin>& pins() const { return pins_; }

  // Bytes the model says must still be retired (and drops what no pin reaches: it never comes back).
  std::uint64_t expected_retired_bytes() {
    std::erase_if(model_, [&](const Lifetime& l) {
      return std::none_of(pins_.begin(), pins_.end(), [&](const Pin& p) {
        return p.state->number >= l.birth && p.state->number <= l.tag;
      });
    });
    std::uint64_t bytes = 0;
    for (const Lifetime& l : model_) bytes += l.bytes;
    return bytes;
  }

  // Every held pin still reads the values its version had.
  void check_pins() const {
    for (const Pin& p : pins_) {
      const std::vector<std::uint64_t>& want = snapshots_.at(p.state->number);
      const detail::PagedArray& a = p.state->tables[0].rows;
      for (std::uint64_t i = 0; i < kElements; i += 97) {
        std::uint64_t got = 0;
        std::memcpy(&got, a.at(i), sizeof got);
        ASSERT_EQ(got, want[i]) << "version " << p.state->number << ", element " << i;
      }
    }
  }

  PublishedVersions& versions() { return versions_; }
  storage::PagePool& pool() { return pool_; }

 private:
  struct Lifetime {
    std::uint64_t birth;
    std::uint64_t tag;
    std::uint64_t bytes;
  };
  detail::PagedArray& rows() { return working_->tables[0].rows; }

  storage::PagePool pool_;
  PublishedVersions versions_;
  std::unique_ptr<VersionState> working_;
  bool sole_version_ = false;
  storage::WriteContext ctx_;
  std::vector<std::uint64_t> values_;
  std::map<std::uint64_t, std::vector<std::uint64_t>> snapshots_;  // version -> values
  std::vector<Pin> pins_;
  std::vector<Lifetime> model_;
};

constexpr std::uint64_t kPageBytes = detail::kPageAlign + kPerPage * 8;

TEST(PublishedVersionsTest, AHeldVersionKeepsItsOwnPageNotTheIntermediateOnes) {
  ToyWriter w(4);
  w.pin();  // version 1
  for (std::uint64_t v = 0; v < 1000; ++v) {
    w.set(5, v);
    w.publish();
  }
  const VersionMetrics m = w.versions().metrics();
  // Version 1's page 0 and its directory; every later copy of page 0 was visible to one version only.
  EXPECT_EQ(m.retired_bytes, kPageBytes + sizeof(detail::Directory) + 8 * 8);
  EXPECT_EQ(m.retired_batches, 1u);
  EXPECT_EQ(m.retired_bytes, w.expected_retired_bytes());
  w.check_pins();
}

// With no view pinned and nothing waiting, a publish frees what it retires at once, without a batch (the
// fast path of PublishedVersions::publish): the replaced page and directory are parked for the next copy,
// and nothing stays retired. With a view pinned, the same publish keeps a batch for it.
TEST(PublishedVersionsTest, APublishNobodyCanSeeBehindFreesItsGarbageAtOnce) {
  ToyWriter w(4);
  w.set(3, 1);
  w.publish();  // retires version 1's page 0 and directory: nothing pins version 1
  EXPECT_TRUE(w.sole_version());
  VersionMetrics m = w.versions().metrics();
  EXPECT_EQ(m.retired_batches, 0u);
  EXPECT_EQ(m.retired_bytes, 0u);
  const std::uint64_t one_copy = kPageBytes + sizeof(detail::Directory) + 8 * 8;
  EXPECT_EQ(m.reclaimed_bytes_total, one_copy);
  EXPECT_EQ(w.pool().stats().bytes_parked, one_copy) << "both were shadows of live copies: parked, not freed";

  w.pin();  // version 2
  w.set(3, 2);
  w.publish();
  EXPECT_FALSE(w.sole_version()) << "a view holds version 2";
  m = w.versions().metrics();
  EXPECT_EQ(m.retired_batches, 1u) << "version 2 is pinned: its page and directory wait in a batch";
  EXPECT_EQ(m.retired_bytes, one_copy);
  EXPECT_EQ(m.retired_bytes, w.expected_retired_bytes());
  w.check_pins();

  // Released, the batch goes at the next publish, with what that publish retires (nothing waits then).
  w.unpin_at(0);
  w.set(3, 3);
  w.publish();
  EXPECT_TRUE(w.sole_version());
  m = w.versions().metrics();
  EXPECT_EQ(m.retired_batches, 0u);
  EXPECT_EQ(m.retired_bytes, 0u);
  EXPECT_EQ(m.reclaimed_bytes_total, 3 * one_copy);
}

TEST(PublishedVersionsTest, ObjectsBornAfterTheLargestPinBelowTheirTagAreFreed) {
  ToyWriter w(8);
  // Page 0 is copied at every version; page 1 only at version 3; views pin versions 2 and 5.
  for (std::uint64_t v = 2; v <= 7; ++v) {
    w.set(0, v);
    if (v == 3) w.set(kPerPage, v);
    w.publish();  // publishes version v
    if (v == 2 || v == 5) w.pin();
  }
  EXPECT_EQ(w.versions().metrics().retired_bytes, w.expected_retired_bytes());
  w.check_pins();
  // Releasing version 5 frees its copy of page 0 but not page 1's original, which version 2 still reaches.
  w.unpin_at(1);
  w.set(0, 8);
  w.publish();
  EXPECT_EQ(w.versions().metrics().retired_bytes, w.expected_retired_bytes());
  w.check_pins();
  w.unpin_at(0);
  w.versions().reclaim();
  EXPECT_EQ(w.versions().metrics().retired_bytes, 0u);
  EXPECT_EQ(w.versions().metrics().retired_batches, 0u);
}

// Random publishes, pins and releases, with more pins than slots so that the overflow path is exercised:
// after every reclaim the retired bytes equal the model's, and every held pin reads its own values.
void run_random_workload(std::uint32_t reader_slots, std::uint32_t max_pins, unsigned seed) {
  ToyWriter w(reader_slots);
  std::mt19937 rng(seed);
  for (int step = 0; step < 3000; ++step) {
    const unsigned r = rng() % 100;
    if (r < 45) {
      const int writes = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < writes; ++k) w.set(rng() % kElements, rng());
      w.publish();
    } else if (r < 75) {
      if (w.pins().size() < max_pins) w.pin();
    } else if (r < 97) {
      if (!w.pins().empty()) w.unpin_at(rng() % w.pins().size());
    } else {
      w.versions().reclaim();
    }
    if (r < 45 || r >= 97) {
      ASSERT_EQ(w.versions().metrics().retired_bytes, w.expected_retired_bytes()) << "step " << step;
    }
    if (step % 50 == 0) w.check_pins();
  }
  const VersionMetrics m = w.versions().metrics();
  EXPECT_EQ(m.pinned_views, w.pins().size());
  while (!w.pins().empty()) w.unpin_at(0);
  w.versions().reclaim();
  EXPECT_EQ(w.versions().metrics().retired_bytes, 0u);
}

TEST(PublishedVersionsTest, RandomPinsMatchTheLifetimeModel) { run_random_workload(16, 12, 1); }

TEST(PublishedVersionsTest, RandomPinsPastTheSlotsMatchTheLifetimeModel) {
  run_random_workload(2, 24, 2);
  run_random_workload(1, 40, 3);
}

TEST(PublishedVersionsTest, PinsPastTheSlotsGoToTheOverflowAndAreCounted) {
  ToyWriter w(2);
  for (int i = 0; i < 10; ++i) {
    w.set(static_cast<std::uint64_t>(i), 1);
    w.publish();
    w.pin();
  }
  VersionMetrics m = w.versions().metrics();
  EXPECT_EQ(m.pinned_views, 10u);
  EXPECT_EQ(m.overflow_views, 8u);
  EXPECT_EQ(m.overflow_pins_total, 8u);
  EXPECT_EQ(m.oldest_pinned, w.pins().front().state->number);
  std::size_t in_slots = 0;
  for (const Pin& p : w.pins()) in_slots += p.slot < 2 ? 1 : 0;
  EXPECT_EQ(in_slots, 2u);
  // Overflow entries are reused once released.
  w.unpin_at(5);
  w.pin();
  m = w.versions().metrics();
  EXPECT_EQ(m.overflow_views, 8u);
  EXPECT_EQ(m.overflow_pins_total, 9u);
  w.check_pins();
}

std::atomic<std::uint64_t> g_fake_now_ms{1000};
std::uint64_t fake_clock_ms() noexcept { return g_fake_now_ms.load(); }

TEST(PublishedVersionsTest, ViewAgesAreReportedFromTheStamps) {
  ToyWriter w(1);
  w.versions().track_view_ages(100, &fake_clock_ms);
  g_fake_now_ms = 1000;
  const Pin slot_pin = w.pin();
  EXPECT_EQ(slot_pin.pinned_at_ms, 1000u);
  g_fake_now_ms = 1050;
  const Pin overflow_pin = w.pin();
  EXPECT_GE(overflow_pin.slot, 1u) << "the only slot is taken";
  g_fake_now_ms = 1120;
  VersionMetrics m = w.versions().metrics();
  EXPECT_EQ(m.oldest_view_age_ms, 120u);
  EXPECT_EQ(m.views_over_max_age, 1u);
  g_fake_now_ms = 1300;
  m = w.versions().metrics();
  EXPECT_EQ(m.views_over_max_age, 2u) << "the overflow pin is aged too";
}

}  // namespace
}  // namespace ecsdb::version
