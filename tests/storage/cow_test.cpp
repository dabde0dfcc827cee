// Copy-on-write of PagedArrays (storage/cow.hpp): what is shared with published versions is copied before
// the first write and retired, what the version being built owns is written in place, and nothing leaks.
#include "storage/cow.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

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

TEST_F(CowTest, GrowFillsNewElementsAndDoublesThePrivateDirectory) {
  const std::uint64_t fill = 0x1122334455667788ull;
  grow_to(a_, 100, ctx_, &fill);
  EXPECT_EQ(a_.dir->capacity, 4u);
  EXPECT_EQ(read_u64(a_, 0), fill);
  EXPECT_EQ(read_u64(a_, 2047), fill);
  grow_to(a_, 5 * 2048, ctx_);  // five pages: the directory grows to 8, zero-filled pages
  EXPECT_EQ(a_.dir->capacity, 8u);
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
  EXPECT_EQ(a_.dir->capacity, 8u);
  EXPECT_EQ(a_.dir->birth, 2u);
  ASSERT_EQ(ctx_.retired.directories.size(), 1u);
  EXPECT_EQ(ctx_.retired.directories[0], published_dir);
  EXPECT_TRUE(ctx_.retired.pages.empty()) << "growing copies no page";
  EXPECT_TRUE(std::equal(published_dir->pages(), published_dir->pages() + 4, a_.dir->pages()));
}

}  // namespace
}  // namespace ecsdb::storage
