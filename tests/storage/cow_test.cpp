// Copy-on-write of PagedArrays (storage/cow.hpp): what is shared with published versions is copied before
// the first write and retired, what the version being built owns is written in place, and nothing leaks.
#include "storage/cow.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

namespace ecsdb::storage {
namespace {

std::uint64_t read_u64(const detail::PagedArray& a, std::uint64_t i) {
  std::uint64_t v = 0;
  std::memcpy(&v, a.at(i), sizeof v);
  return v;
}
void write_u64(detail::PagedArray& a, std::uint64_t i, std::uint64_t v, WriteContext& ctx) {
  std::memcpy(mutable_at(a, i, ctx), &v, sizeof v);
}

class CowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx_.pool = &pool_;
    ctx_.birth = 1;
    init_array(a_, sizeof(std::uint64_t));
  }
  void TearDown() override {
    destroy_array(a_, pool_);
    free_retired();
    EXPECT_EQ(pool_.stats().bytes_in_use, 0u) << "every page and directory went back to the pool";
    EXPECT_EQ(pool_.stats().bytes_parked, 0u) << "no parked shadow outlives its live page";
  }
  // What the reclaimer does once no view can reach the retired objects: claimed pages are parked for
  // their live copy (ping-pong), the rest freed.
  void reclaim_retired() {
    for (std::byte* p : ctx_.retired.pages) {
      if (detail::header_of(p)->claimed_by != nullptr) pool_.park(detail::header_of(p));
      else pool_.free_page(p);
    }
    for (detail::Directory* d : ctx_.retired.directories) {
      if (d->claimed_by != nullptr) pool_.park(d);
      else pool_.free_directory(d);
    }
    ctx_.retired = {};
  }
  void free_retired() {
    for (std::byte* p : ctx_.retired.pages) pool_.free_page(p);
    for (detail::Directory* d : ctx_.retired.directories) pool_.free_directory(d);
    ctx_.retired = {};
  }
  PagePool pool_;
  WriteContext ctx_;
  detail::PagedArray a_;
};

// Shadow chains (ADR 0016): one page of 2,048 elements holding their own index, where version v writes v
// at element 100 * v (each in its own granule).
class CowChainTest : public CowTest {
 protected:
  void fill_page() {
    grow_to(a_, 2048, ctx_);
    for (std::uint64_t i = 0; i < 2048; ++i) write_u64(a_, i, i, ctx_);
  }
  // Builds version v; returns what it retired (held by a view until passed to reclaim()).
  RetireList write_version(std::uint64_t v) {
    ctx_.birth = v;
    write_u64(a_, 100 * v, v, ctx_);
    return std::exchange(ctx_.retired, {});
  }
  void expect_values(std::uint64_t last) {
    for (std::uint64_t i = 0; i < 2048; ++i) {
      const bool written = i % 100 == 0 && i / 100 >= 2 && i / 100 <= last;
      ASSERT_EQ(read_u64(a_, i), written ? i / 100 : i) << "element " << i << " after version " << last;
    }
  }
  // The views holding `r` are gone.
  void reclaim(RetireList& r) {
    ctx_.retired = std::move(r);
    reclaim_retired();
  }
  static void append(RetireList& to, const RetireList& from) {
    to.pages.insert(to.pages.end(), from.pages.begin(), from.pages.end());
    to.directories.insert(to.directories.end(), from.directories.begin(), from.directories.end());
  }
  // Still held at the end: TearDown frees them after cutting the chain.
  void free_at_teardown(const RetireList& r) { append(ctx_.retired, r); }
};

TEST_F(CowTest, ElementsAreAddressedByPowerOfTwoPages) {
  EXPECT_EQ(a_.shift, 11u) << "2048 eight-byte elements fill a 16 KiB page";
  EXPECT_EQ(a_.page_bytes(), 16u * 1024u);
  EXPECT_EQ(detail::page_shift_for(24), 9u) << "the largest power of two that fits in 16 KiB";
  EXPECT_EQ(detail::page_shift_for(20000), 0u) << "one element per page when it exceeds the target";
  grow_to(a_, 5000, ctx_);
  EXPECT_EQ(a_.pages, 3u);
  EXPECT_EQ(a_.capacity(), 3u * 2048u);
  EXPECT_EQ(a_.at(2048), a_.dir->pages()[1]);
  EXPECT_EQ(a_.at(2049), a_.dir->pages()[1] + 8);
}

// Absent pages (the elided sparse index's): growing adds directory slots only; a page installed in a
// published directory goes into a private copy of it, leaving the published one absent there; destroying
// the array frees what is present.
TEST_F(CowTest, AbsentPagesCostADirectorySlotUntilInstalled) {
  grow_absent_to(a_, 5000, ctx_);
  ASSERT_EQ(a_.pages, 3u);
  for (std::uint64_t i : {0u, 2048u, 4999u}) EXPECT_FALSE(a_.present(i));
  const std::uint64_t directory_only = pool_.stats().bytes_in_use;
  EXPECT_LT(directory_only, a_.page_bytes()) << "no page allocated";

  ctx_.birth = 2;  // version 1 is published: its directory is shared now
  const detail::Directory* published = a_.dir;
  std::byte* page = install_page(a_, 1, ctx_);
  std::memset(page, 0, a_.page_bytes());
  write_u64(a_, 2050, 7, ctx_);
  EXPECT_NE(a_.dir, published) << "the published directory is copied, not written";
  EXPECT_EQ(published->pages()[1], nullptr);
  EXPECT_TRUE(a_.present(2048));
  EXPECT_FALSE(a_.present(0));
  EXPECT_FALSE(a_.present(4096));
  EXPECT_EQ(read_u64(a_, 2050), 7u);
  EXPECT_EQ(detail::header_of(a_.dir->pages()[1])->birth, 2u);
  EXPECT_EQ(pool_.stats().bytes_in_use - directory_only, detail::kPageAlign + a_.page_bytes() + directory_only)
      << "one page and the directory's private copy";
  grow_absent_to(a_, 9000, ctx_);  // a bigger directory keeps the present page and the absent ones
  EXPECT_EQ(read_u64(a_, 2050), 7u);
  EXPECT_FALSE(a_.present(8999));
}

TEST(CowFillTest, GrowRepeatsAFillOfAnOddSizeIntoEveryElementOfEveryNewPage) {
  // 24-byte elements: 512 to a page of 12,288 bytes, which is not a power of two; the fill is copied by
  // doubling, so a pattern that slipped by a byte anywhere would show in some element.
  PagePool pool;
  WriteContext ctx;
  ctx.pool = &pool;
  ctx.birth = 1;
  detail::PagedArray a;
  init_array(a, 24);
  std::array<std::byte, 24> fill{};
  for (std::size_t i = 0; i < fill.size(); ++i) fill[i] = static_cast<std::byte>(i + 1);
  grow_to(a, 3 * 512 - 1, ctx, fill.data());
  ASSERT_EQ(a.pages, 3u);
  for (std::uint64_t i = 0; i < a.capacity(); ++i) {
    ASSERT_EQ(std::memcmp(a.at(i), fill.data(), fill.size()), 0) << "element " << i;
  }
  destroy_array(a, pool);
  EXPECT_EQ(pool.stats().bytes_in_use, 0u);
}

TEST_F(CowTest, GrowFillsNewElementsAndDoublesThePrivateDirectory) {
  const std::uint64_t fill = 0x1122334455667788ull;
  grow_to(a_, 100, ctx_, &fill);
  EXPECT_EQ(a_.dir->capacity(), 4u);
  EXPECT_EQ(read_u64(a_, 0), fill);
  EXPECT_EQ(read_u64(a_, 2047), fill);
  grow_to(a_, 5 * 2048, ctx_);  // five pages: the directory grows to 8, zero-filled pages
  EXPECT_EQ(a_.dir->capacity(), 8u);
  EXPECT_EQ(read_u64(a_, 4 * 2048 + 7), 0u);
  EXPECT_EQ(read_u64(a_, 1), fill) << "existing pages are kept";
  EXPECT_TRUE(ctx_.retired.empty()) << "a directory born in this version is freed, not retired";
}

TEST_F(CowTest, ASharedPageIsCopiedOnceAndTheOriginalRetired) {
  grow_to(a_, 3 * 2048, ctx_);
  write_u64(a_, 10, 7, ctx_);
  const detail::Directory* published_dir = a_.dir;
  std::byte* published_page = a_.dir->pages()[0];
  ctx_.birth = 2;  // version 1 is published; the writer builds version 2

  write_u64(a_, 11, 8, ctx_);
  EXPECT_NE(a_.dir, published_dir) << "the shared directory is copied before a page pointer changes";
  EXPECT_NE(a_.dir->pages()[0], published_page);
  EXPECT_EQ(a_.dir->pages()[1], published_dir->pages()[1]) << "untouched pages stay shared";
  EXPECT_EQ(detail::header_of(a_.dir->pages()[0])->birth, 2u);
  EXPECT_EQ(read_u64(a_, 10), 7u) << "the copy starts with the shared page's contents";
  EXPECT_EQ(read_u64(a_, 11), 8u);
  std::uint64_t old_value = 0;
  std::memcpy(&old_value, published_page + 11 * 8, 8);
  EXPECT_EQ(old_value, 0u) << "the published page is never written";
  ASSERT_EQ(ctx_.retired.pages.size(), 1u);
  EXPECT_EQ(ctx_.retired.pages[0], published_page);
  ASSERT_EQ(ctx_.retired.directories.size(), 1u);
  EXPECT_EQ(ctx_.retired.directories[0], published_dir);
  EXPECT_EQ(ctx_.pages_copied, 1u);

  // Private now: written in place.
  std::byte* copy = a_.dir->pages()[0];
  write_u64(a_, 12, 9, ctx_);
  EXPECT_EQ(a_.dir->pages()[0], copy);
  EXPECT_EQ(ctx_.retired.pages.size(), 1u);
  EXPECT_EQ(ctx_.pages_copied, 1u);
}

TEST_F(CowTest, GrowingASharedDirectoryRetiresIt) {
  grow_to(a_, 4 * 2048, ctx_);  // directory of capacity 4, full
  const detail::Directory* published_dir = a_.dir;
  ctx_.birth = 2;
  grow_to(a_, 5 * 2048, ctx_);
  EXPECT_EQ(a_.dir->capacity(), 8u);
  EXPECT_EQ(a_.dir->birth, 2u);
  ASSERT_EQ(ctx_.retired.directories.size(), 1u);
  EXPECT_EQ(ctx_.retired.directories[0], published_dir);
  EXPECT_TRUE(ctx_.retired.pages.empty()) << "growing copies no page";
  EXPECT_TRUE(std::equal(published_dir->pages(), published_dir->pages() + 4, a_.dir->pages()));
}


// ---- ping-pong pages (ADR 0016) ----

TEST_F(CowTest, AWriteMarksTheGranulesOfWhatItAskedFor) {
  grow_to(a_, 2048, ctx_);
  ctx_.birth = 2;
  mutable_at(a_, 10, ctx_);  // bytes 80..87: granule 1 of 64 bytes
  const detail::BlockHeader* h = detail::header_of(a_.dir->pages()[0]);
  EXPECT_EQ(h->granule_shift, 6u) << "a 16 KiB page: 256 granules of one cache line";
  EXPECT_EQ(h->dirty[0], 1ull << 1);
  mutable_range(a_, 100, 40, ctx_);  // bytes 800..1119: granules 12..17
  EXPECT_EQ(h->dirty[0], (1ull << 1) | (0x3Full << 12));
  mutable_at(a_, 2047, ctx_);  // the last granule
  EXPECT_EQ(h->dirty[3], 1ull << 63);
  mutable_page(a_, 0, ctx_);
  EXPECT_EQ(h->dirty[1] & h->dirty[2], ~0ull) << "a whole-page write marks everything";
}

TEST_F(CowTest, ASecondCopyReusesTheParkedShadowAndReplaysOnlyWhatWasWritten) {
  grow_to(a_, 2 * 2048, ctx_);
  for (std::uint64_t i = 0; i < 2 * 2048; ++i) write_u64(a_, i, i, ctx_);
  ctx_.birth = 2;
  std::byte* v1_page = a_.dir->pages()[0];
  const detail::Directory* v1_dir = a_.dir;
  write_u64(a_, 10, 1000, ctx_);  // a full copy: page 0 (and the directory) have no shadow yet
  std::byte* v2_page = a_.dir->pages()[0];
  EXPECT_EQ(detail::header_of(v2_page)->shadow, detail::header_of(v1_page));
  EXPECT_EQ(detail::header_of(v1_page)->claimed_by, detail::header_of(v2_page));
  EXPECT_EQ(ctx_.bytes_copied, 16u * 1024u + 2 * 8) << "the page, and the directory's two slots in use";
  reclaim_retired();  // no view reaches version 1 any more
  EXPECT_EQ(pool_.stats().bytes_parked, (detail::kPageAlign + 16u * 1024u) + (detail::kPageAlign + 4 * 8))
      << "version 1's page and directory (capacity 4) wait for the next copy";

  ctx_.birth = 3;
  ctx_.bytes_copied = 0;
  write_u64(a_, 2000, 5, ctx_);
  EXPECT_EQ(a_.dir->pages()[0], v1_page) << "the parked shadow is the new private copy";
  EXPECT_EQ(ctx_.pages_replayed, 1u);
  EXPECT_EQ(a_.dir, v1_dir) << "the directory alternates too";
  EXPECT_EQ(ctx_.bytes_copied, 64u + 2 * 8) << "only the granules written in version 2 were replayed";
  EXPECT_EQ(pool_.stats().bytes_parked, 0u);
  EXPECT_EQ(read_u64(a_, 10), 1000u) << "version 2's write, replayed";
  EXPECT_EQ(read_u64(a_, 2000), 5u);
  EXPECT_EQ(read_u64(a_, 11), 11u);
  EXPECT_EQ(read_u64(a_, 1999), 1999u);
  std::uint64_t v2_value = 0;
  std::memcpy(&v2_value, v2_page + 2000 * 8, 8);
  EXPECT_EQ(v2_value, 2000u) << "version 2's page is retired unchanged";
  EXPECT_EQ(detail::header_of(v1_page)->shadow, detail::header_of(v2_page)) << "and the two pages swap roles";
  EXPECT_EQ(detail::header_of(v2_page)->claimed_by, detail::header_of(v1_page));
}

// Parking reuses a block's dirty mask for the pool's list links, so it first folds the mask into the
// nearest newer copy that is not parked. Here the newer of two chained copies is parked first, so the older
// one's mask must skip it and go to the live page; the oldest copy, parked last, then needs every write.
TEST_F(CowChainTest, ParkingFoldsTheMaskIntoTheNearestNewerCopyNotParked) {
  fill_page();
  std::byte* p1 = a_.dir->pages()[0];
  RetireList r2 = write_version(2);  // held until the end: p1 stays readable
  RetireList r3 = write_version(3);
  RetireList r4 = write_version(4);  // chain: p4 -> p3 -> p2 -> p1, all whole copies
  std::byte* p2 = detail::header_of(a_.dir->pages()[0])->shadow->shadow->data();
  std::byte* p3 = detail::header_of(a_.dir->pages()[0])->shadow->data();
  reclaim(r4);  // p3 parked first: its mask goes to p4
  reclaim(r3);  // then p2, whose newer copy p3 is parked: its mask also goes to p4
  RetireList r5 = write_version(5);
  EXPECT_EQ(a_.dir->pages()[0], p3);
  expect_values(5);
  RetireList r6 = write_version(6);  // p4 is held (r5): p2 is the newest parked copy
  EXPECT_EQ(a_.dir->pages()[0], p2);
  expect_values(6);
  reclaim(r2);  // p1 parked
  RetireList r7 = write_version(7);  // p3 and p4 held: p1, which needs the writes of versions 2 to 6
  EXPECT_EQ(a_.dir->pages()[0], p1);
  expect_values(7);
  EXPECT_EQ(ctx_.pages_replayed, 3u);
  for (RetireList* r : {&r5, &r6, &r7}) free_at_teardown(*r);
}

TEST_F(CowTest, ACopyAViewMayStillReadIsNotReusedButKeptInTheChain) {
  grow_to(a_, 2048, ctx_);
  ctx_.birth = 2;
  std::byte* v1_page = a_.dir->pages()[0];
  write_u64(a_, 1, 1, ctx_);
  std::byte* v2_page = a_.dir->pages()[0];
  const RetireList held = std::exchange(ctx_.retired, {});  // a view still holds version 1
  ctx_.birth = 3;
  write_u64(a_, 2, 2, ctx_);
  std::byte* v3_page = a_.dir->pages()[0];
  EXPECT_NE(v3_page, v1_page) << "version 1's page is still readable: a fresh copy";
  EXPECT_EQ(ctx_.pages_replayed, 0u);
  EXPECT_EQ(detail::header_of(v3_page)->shadow, detail::header_of(v2_page));
  EXPECT_EQ(detail::header_of(v2_page)->shadow, detail::header_of(v1_page)) << "the held copy stays in the chain";
  EXPECT_EQ(detail::header_of(v1_page)->claimed_by, detail::header_of(v2_page));
  for (std::byte* p : held.pages) ctx_.retired.pages.push_back(p);  // TearDown frees them after the cut
  for (detail::Directory* d : held.directories) ctx_.retired.directories.push_back(d);
}

// A reader that holds each view across a tick: version 2's copy is still read when version 4 is built, but
// version 1's is parked, and the writer replays the writes of versions 2 and 3 into it.
TEST_F(CowTest, AViewHeldAcrossATickLeavesAnOlderParkedCopyThatReplaysBothTicks) {
  grow_to(a_, 2048, ctx_);
  for (std::uint64_t i = 0; i < 2048; ++i) write_u64(a_, i, i, ctx_);
  ctx_.birth = 2;
  std::byte* v1_page = a_.dir->pages()[0];
  const detail::Directory* v1_dir = a_.dir;
  write_u64(a_, 100, 1000, ctx_);  // granule 12
  std::byte* v2_page = a_.dir->pages()[0];
  RetireList retired_by_v2 = std::exchange(ctx_.retired, {});
  ctx_.birth = 3;
  write_u64(a_, 1500, 3000, ctx_);  // granule 187; version 2's page is held: a whole copy
  std::byte* v3_page = a_.dir->pages()[0];
  RetireList retired_by_v3 = std::exchange(ctx_.retired, {});
  ctx_.retired = std::move(retired_by_v2);
  reclaim_retired();  // the view moved on from version 1 to version 2: version 1's copies are parked
  ctx_.retired = std::move(retired_by_v3);  // version 2's copies are still held

  ctx_.birth = 4;
  ctx_.bytes_copied = 0;
  ctx_.pages_replayed = 0;
  write_u64(a_, 7, 77, ctx_);
  EXPECT_EQ(a_.dir->pages()[0], v1_page) << "version 1's parked page is the new private copy";
  EXPECT_EQ(ctx_.pages_replayed, 1u);
  EXPECT_EQ(a_.dir, v1_dir) << "the directory too";
  EXPECT_EQ(ctx_.bytes_copied, 2 * 64u + 8u) << "the granules written in versions 2 and 3, and the directory's slot";
  for (std::uint64_t i = 0; i < 2048; ++i) {
    const std::uint64_t want = i == 100 ? 1000 : i == 1500 ? 3000 : i == 7 ? 77 : i;
    ASSERT_EQ(read_u64(a_, i), want) << "element " << i;
  }
  EXPECT_EQ(detail::header_of(v1_page)->shadow, detail::header_of(v3_page));
  EXPECT_EQ(detail::header_of(v3_page)->shadow, detail::header_of(v2_page));
  EXPECT_EQ(detail::header_of(v2_page)->shadow, nullptr) << "version 1's page left the chain";
  EXPECT_EQ(detail::header_of(v2_page)->claimed_by, detail::header_of(v3_page));
}

// Version v writes element 100 * v (each in its own granule) and views hold every version: the chain grows
// to four older copies. Then the views go, and later ones hold a version or two again: the writer reuses
// the newest parked copy each time, from the middle of the chain, and every value survives.
TEST_F(CowChainTest, TheChainKeepsAtMostFourOlderCopiesAndReusesTheNewestParkedOne) {
  fill_page();
  const auto chain_of = [](const std::byte* live) {
    std::vector<const detail::BlockHeader*> chain;
    for (const detail::BlockHeader* b = detail::header_of(live)->shadow; b != nullptr; b = b->shadow) chain.push_back(b);
    return chain;
  };
  std::vector<std::byte*> pages{a_.dir->pages()[0]};  // pages[v - 1]: the page live after version v
  RetireList held;
  for (std::uint64_t v = 2; v <= 7; ++v) {
    RetireList r = write_version(v);
    append(held, r);
    pages.push_back(a_.dir->pages()[0]);
  }
  EXPECT_EQ(ctx_.pages_replayed, 0u);
  EXPECT_EQ(chain_of(pages[6]), (std::vector<const detail::BlockHeader*>{detail::header_of(pages[5]),
      detail::header_of(pages[4]), detail::header_of(pages[3]), detail::header_of(pages[2])}))
      << "the newest four: versions 6 down to 3";
  EXPECT_EQ(detail::header_of(pages[1])->claimed_by, nullptr) << "dropped copies are left to the reclaimer";
  EXPECT_EQ(detail::header_of(pages[0])->claimed_by, nullptr);
  ctx_.retired = std::move(held);
  reclaim_retired();  // the views go: the four chained copies are parked, the two dropped ones freed
  const std::uint64_t one_page = detail::kPageAlign + 16u * 1024u;
  const std::uint64_t directory = detail::kPageAlign + 4 * 8;
  EXPECT_EQ(pool_.stats().bytes_parked, 4 * one_page + directory)
      << "a directory of one granule keeps no older copy below a parked one: folding its mask would mark all of it";

  RetireList held_8 = write_version(8);  // a view holds version 7 from now on
  EXPECT_EQ(a_.dir->pages()[0], pages[5]) << "the newest parked copy (version 6's) is reused";
  EXPECT_EQ(pool_.stats().bytes_parked, 3 * one_page) << "the older pages stay parked";
  expect_values(8);
  RetireList held_9 = write_version(9);  // and one holds version 8 too
  EXPECT_EQ(a_.dir->pages()[0], pages[4]) << "version 5's copy, from the middle of the chain";
  expect_values(9);
  RetireList held_10 = write_version(10);
  EXPECT_EQ(a_.dir->pages()[0], pages[3]) << "version 4's copy, replaying what versions 5 to 9 wrote";
  expect_values(10);
  EXPECT_EQ(ctx_.pages_replayed, 3u);
  EXPECT_EQ(chain_of(pages[3]), (std::vector<const detail::BlockHeader*>{detail::header_of(pages[4]),
      detail::header_of(pages[5]), detail::header_of(pages[6]), detail::header_of(pages[2])}));
  for (RetireList* r : {&held_8, &held_9, &held_10}) free_at_teardown(*r);
}

// Folding masks accumulates: an older copy whose replay would cover more than an eighth of the block is
// dropped when the copy above it is parked, instead of being kept up to date.
TEST_F(CowTest, OlderCopiesAreDroppedWhenFoldingWouldMarkMoreThanAnEighthOfTheBlock) {
  grow_to(a_, 2048, ctx_);
  const auto write_version = [&](std::uint64_t v, std::uint64_t granules) {
    ctx_.birth = v;
    for (std::uint64_t g = 0; g < granules; ++g) write_u64(a_, g * 8, v, ctx_);  // one element per granule
    return std::exchange(ctx_.retired, {});
  };
  RetireList r2 = write_version(2, 16);
  RetireList r3 = write_version(3, 16);  // chain: p3 -> p2 -> p1
  std::byte* p2 = detail::header_of(a_.dir->pages()[0])->shadow->data();
  ctx_.retired = std::move(r3);
  reclaim_retired();  // p2 parked: folding its 16 granules into p3's 16 (the same ones) marks 16 of 256
  EXPECT_NE(detail::header_of(p2)->shadow, nullptr) << "an eighth: still kept";
  RetireList r4 = write_version(4, 40);  // p2 reused; chain: p4(=p2) -> p3 -> p1
  ASSERT_EQ(a_.dir->pages()[0], p2);
  std::byte* p3 = detail::header_of(p2)->shadow->data();
  ctx_.retired = std::move(r4);
  reclaim_retired();  // p3 parked: folding its 16 granules into p2's 40 would mark 40 (> 32)
  EXPECT_EQ(detail::header_of(p3)->shadow, nullptr) << "version 1's page is dropped";
  EXPECT_EQ(detail::header_of(p2)->dirty[0], (1ull << 40) - 1) << "and the live mask is left as it was: granules 0 to 39";
  ctx_.retired = std::move(r2);  // version 1's page, unclaimed now, is freed by TearDown
}

// The idle bound drops the oldest parked copy, and with it every copy older than it in its chain, even when
// the copy above it is parked too.
TEST_F(CowTest, DroppingAParkedCopyForTheIdleBoundCutsTheChainBelowIt) {
  grow_to(a_, 2048, ctx_);
  for (std::uint64_t i = 0; i < 2048; ++i) write_u64(a_, i, i, ctx_);
  ctx_.birth = 2;
  std::byte* p1 = a_.dir->pages()[0];
  write_u64(a_, 100, 2, ctx_);
  RetireList r2 = std::exchange(ctx_.retired, {});
  ctx_.birth = 3;
  std::byte* p2 = a_.dir->pages()[0];
  write_u64(a_, 200, 3, ctx_);  // chain: p3 -> p2 -> p1
  std::byte* p3 = a_.dir->pages()[0];
  RetireList r3 = std::exchange(ctx_.retired, {});
  ctx_.retired = std::move(r2);
  reclaim_retired();  // p1 parked first: the oldest
  ctx_.retired = std::move(r3);
  reclaim_retired();  // then p2 (its mask folded into p3's)
  const std::uint64_t one_page = detail::kPageAlign + 16u * 1024u;
  ASSERT_EQ(detail::header_of(p1)->parked, 1u);
  ASSERT_EQ(detail::header_of(p2)->parked, 1u);
  const std::uint64_t parked = pool_.stats().bytes_parked;
  pool_.set_max_idle_bytes(parked - 1);
  pool_.release_idle();  // p1 goes: its newer copy p2 is parked itself, and keeps its place in the chain
  EXPECT_EQ(pool_.stats().bytes_parked, parked - one_page);
  EXPECT_EQ(detail::header_of(p3)->shadow, detail::header_of(p2));
  EXPECT_EQ(detail::header_of(p2)->shadow, nullptr);
  ctx_.birth = 4;
  write_u64(a_, 300, 4, ctx_);
  EXPECT_EQ(a_.dir->pages()[0], p2) << "the remaining parked copy is reused";
  for (std::uint64_t i = 0; i < 2048; ++i) {
    const std::uint64_t want = i == 100 ? 2 : i == 200 ? 3 : i == 300 ? 4 : i;
    ASSERT_EQ(read_u64(a_, i), want) << "element " << i;
  }
}

TEST_F(CowTest, ADirectoryReplacedByALargerOneReleasesItsParkedCopies) {
  grow_to(a_, 4 * 2048, ctx_);  // a full directory of capacity 4
  ctx_.birth = 2;
  write_u64(a_, 0, 1, ctx_);  // the directory is copied: its chain holds version 1's
  const detail::Directory* v2_dir = a_.dir;
  reclaim_retired();
  const std::uint64_t directory = detail::kPageAlign + 4 * 8;
  const std::uint64_t parked = pool_.stats().bytes_parked;
  ctx_.birth = 3;
  grow_to(a_, 5 * 2048, ctx_);  // no room for a fifth page: a directory of capacity 8
  EXPECT_NE(a_.dir, v2_dir);
  EXPECT_EQ(a_.dir->shadow, nullptr);
  EXPECT_EQ(pool_.stats().bytes_parked, parked - directory) << "version 1's directory went back to the pool";
}

TEST_F(CowTest, ParkedShadowsBeyondTheIdleBoundAreDropped) {
  grow_to(a_, 4 * 2048, ctx_);
  ctx_.birth = 2;
  for (std::uint64_t page = 0; page < 4; ++page) write_u64(a_, page * 2048, 7, ctx_);
  reclaim_retired();
  const std::uint64_t one_page = detail::kPageAlign + 16u * 1024u;
  const std::uint64_t directory = detail::kPageAlign + 4 * 8;
  EXPECT_EQ(pool_.stats().bytes_parked, 4 * one_page + directory);
  pool_.set_max_idle_bytes(2 * one_page);
  pool_.release_idle();
  EXPECT_EQ(pool_.stats().bytes_parked, one_page + directory) << "oldest first (the pages were parked first)";
  int without_shadow = 0;
  for (std::uint32_t page = 0; page < 4; ++page) without_shadow += detail::header_of(a_.dir->pages()[page])->shadow == nullptr;
  EXPECT_EQ(without_shadow, 3) << "the dropped shadows' pages no longer point at them";
  EXPECT_NE(a_.dir->shadow, nullptr);
  pool_.trim();
  EXPECT_EQ(pool_.stats().bytes_parked, 0u);
}

}  // namespace
}  // namespace ecsdb::storage
