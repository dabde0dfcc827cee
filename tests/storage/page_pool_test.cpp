// PagePool: reuse of freed blocks, the byte counters, and returning idle memory to the system.
#include "storage/page_pool.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace ecsdb::storage {
namespace {

constexpr std::uint32_t kPageData = 16 * 1024;
constexpr std::uint64_t kBlock = detail::kPageAlign + kPageData;  // one page with its header
constexpr std::uint64_t kMiB = 1ull << 20;

TEST(PagePoolTest, AFreedPageIsHandedOutAgainWithItsBirth) {
  PagePool pool;
  std::byte* a = pool.allocate_page(kPageData, 3);
  EXPECT_EQ(detail::header_of(a)->birth, 3u);
  EXPECT_EQ(detail::header_of(a)->bytes, kPageData);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % detail::kPageAlign, 0u);
  pool.free_page(a);
  EXPECT_EQ(pool.stats().bytes_pooled, kBlock);
  EXPECT_EQ(pool.stats().bytes_in_use, 0u);
  std::byte* b = pool.allocate_page(kPageData, 4);
  EXPECT_EQ(a, b) << "a block of the same size comes from the free list";
  EXPECT_EQ(detail::header_of(b)->birth, 4u);
  EXPECT_EQ(pool.stats().pages_reused, 1u);
  EXPECT_EQ(pool.stats().pages_allocated, 1u);
  EXPECT_EQ(pool.stats().bytes_pooled, 0u);
  pool.free_page(b);
}

TEST(PagePoolTest, IdleSlabsGoBackToTheSystemAboveTheBound) {
  PagePool pool(4 * kMiB);
  std::vector<std::byte*> pages;
  for (int i = 0; i < 1024; ++i) {  // ~16 MiB: a spike
    pages.push_back(pool.allocate_page(kPageData, 1));
    std::memset(pages.back(), 0xAB, kPageData);
  }
  const PoolStats during = pool.stats();
  EXPECT_GE(during.bytes_mapped, 1024 * kBlock);
  for (std::byte* p : pages) pool.free_page(p);
  const PoolStats freed = pool.stats();
  EXPECT_EQ(freed.bytes_pooled, 1024 * kBlock) << "freeing alone keeps everything for reuse";
  EXPECT_EQ(freed.bytes_mapped, during.bytes_mapped);

  pool.release_idle();
  const PoolStats after = pool.stats();
  EXPECT_LE(after.bytes_pooled, 4 * kMiB);
  EXPECT_GT(after.bytes_pooled, 2 * kMiB) << "released only down to the bound, in whole slabs";
  EXPECT_EQ(after.bytes_mapped + after.bytes_released_total, during.bytes_mapped);
  EXPECT_GE(after.bytes_released_total, 10 * kMiB);

  // The pool still works: kept blocks are reused first, then new slabs are mapped.
  pages.clear();
  for (int i = 0; i < 1024; ++i) pages.push_back(pool.allocate_page(kPageData, 2));
  EXPECT_EQ(pool.stats().bytes_in_use, 1024 * kBlock);
  for (std::byte* p : pages) pool.free_page(p);
  pool.trim();
  EXPECT_EQ(pool.stats().bytes_pooled, 0u);
  EXPECT_EQ(pool.stats().bytes_mapped, 0u);
}

TEST(PagePoolTest, ASlabWithABlockInUseStaysMapped) {
  PagePool pool(0);
  std::vector<std::byte*> pages;
  for (int i = 0; i < 200; ++i) pages.push_back(pool.allocate_page(kPageData, 1));  // two slabs
  ASSERT_EQ(pool.stats().bytes_mapped, 2 * PagePool::kSlabBytes);
  std::byte* kept = pages[3];  // in the first slab
  std::memset(kept, 0x5A, kPageData);
  for (std::byte* p : pages) {
    if (p != kept) pool.free_page(p);
  }
  pool.release_idle();
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.bytes_mapped, PagePool::kSlabBytes) << "the second slab went back, the first holds `kept`";
  EXPECT_GT(s.bytes_pooled, 0u);
  EXPECT_EQ(static_cast<unsigned char>(kept[kPageData - 1]), 0x5Au);
  pool.free_page(kept);
  pool.release_idle();
  EXPECT_EQ(pool.stats().bytes_mapped, 0u);
  EXPECT_EQ(pool.stats().bytes_pooled, 0u);
}

TEST(PagePoolTest, NothingIsReleasedAtOrBelowTheBound) {
  PagePool pool(64 * kMiB);
  std::vector<std::byte*> pages;
  for (int i = 0; i < 300; ++i) pages.push_back(pool.allocate_page(kPageData, 1));
  for (std::byte* p : pages) pool.free_page(p);
  const PoolStats before = pool.stats();
  pool.release_idle();
  EXPECT_EQ(pool.stats().bytes_mapped, before.bytes_mapped);
  EXPECT_EQ(pool.stats().bytes_released_total, 0u);
}

TEST(PagePoolTest, LargeDirectoriesComeFromTheSystemAndGoBackFirst) {
  PagePool pool(0);
  const std::uint32_t capacity = 1u << 17;  // 1 MiB of pointers: above kLargeBlockBytes
  detail::Directory* d = pool.allocate_directory(capacity, 5);
  EXPECT_EQ(d->birth, 5u);
  EXPECT_EQ(d->capacity(), capacity);
  d->pages()[capacity - 1] = nullptr;  // the whole pointer array is addressable
  pool.free_directory(d);
  EXPECT_GT(pool.stats().bytes_pooled, 8ull * capacity);
  pool.release_idle();
  EXPECT_EQ(pool.stats().bytes_pooled, 0u);
  EXPECT_GE(pool.stats().bytes_released_total, 8ull * capacity);
}

TEST(PagePoolTest, MixedSizesShareSlabsAndAllReturn) {
  PagePool pool(0);
  std::vector<std::byte*> pages;
  std::vector<detail::Directory*> dirs;
  for (int i = 0; i < 300; ++i) {
    pages.push_back(pool.allocate_page(i % 2 == 0 ? kPageData : 4096, 1));
    dirs.push_back(pool.allocate_directory(4u << (i % 4), 1));
  }
  for (std::byte* p : pages) pool.free_page(p);
  for (detail::Directory* d : dirs) pool.free_directory(d);
  EXPECT_EQ(pool.stats().bytes_in_use, 0u);
  pool.release_idle();
  EXPECT_EQ(pool.stats().bytes_pooled, 0u) << "every slab is idle, so every one is released";
  EXPECT_EQ(pool.stats().bytes_mapped, 0u);
}

TEST(PagePoolTest, APooledPageIsPoisonedUnderAsan) {
#if defined(__SANITIZE_ADDRESS__)
  PagePool pool;
  std::byte* a = pool.allocate_page(kPageData, 1);
  EXPECT_EQ(__asan_address_is_poisoned(a), 0);
  pool.free_page(a);
  EXPECT_NE(__asan_address_is_poisoned(a), 0) << "a read through a page freed too early must be reported";
  EXPECT_NE(__asan_address_is_poisoned(a + kPageData - 1), 0);
  std::byte* b = pool.allocate_page(kPageData, 2);
  ASSERT_EQ(a, b);
  EXPECT_EQ(__asan_address_is_poisoned(b + kPageData - 1), 0);
  pool.free_page(b);
  // A directory's pointer slots too, the first one included (the pool's link lives in the header).
  detail::Directory* d = pool.allocate_directory(16, 1);
  pool.free_directory(d);
  EXPECT_NE(__asan_address_is_poisoned(&d->pages()[0]), 0);
  EXPECT_NE(__asan_address_is_poisoned(&d->pages()[15]), 0);
#else
  GTEST_SKIP() << "needs AddressSanitizer (the asan preset)";
#endif
}

}  // namespace
}  // namespace ecsdb::storage
