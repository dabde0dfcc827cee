// Row operations on one table (storage/table_ops.hpp), without a database around them: the elided sparse
// index's contract with the writer's exception safety.
#include "storage/table_ops.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "support/table_checks.hpp"

namespace ecsdb::storage {
namespace {

std::uint64_t key_of(std::uint32_t index) { return (std::uint64_t{1} << 32) | index; }  // generation 1

class TableOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx_.pool = &pool_;
    ctx_.birth = 1;
    ctx_.registry = &registry_;
    init_array(registry_.slots, sizeof(detail::EntitySlot));
    init_table(t_, sizeof(std::uint64_t), /*has_owner_column=*/false);
  }
  void TearDown() override {
    destroy_table(t_, pool_);
    destroy_array(registry_.slots, pool_);
    for (std::byte* p : ctx_.retired.pages) pool_.free_page(p);
    for (detail::Directory* d : ctx_.retired.directories) pool_.free_directory(d);
    EXPECT_EQ(pool_.stats().bytes_in_use, 0u);
  }
  void append(std::uint32_t index) {
    if (index >= registry_.used) {  // entity `index` alive, generation 1: it implies the key of the run
      grow_to(registry_.slots, std::uint64_t{index} + 1, ctx_);
      *reinterpret_cast<detail::EntitySlot*>(mutable_at(registry_.slots, index, ctx_)) = detail::EntitySlot{1, 1};
      registry_.used = index + 1;
    }
    prepare_insert(t_, key_of(index), ctx_);
    const std::uint64_t value = value_of(index);
    insert_row(t_, key_of(index), key_of(index), ctx_, &value);
  }
  static std::uint64_t value_of(std::uint32_t index) { return 1000 + index; }  // the row bytes append writes
  std::uint64_t row_value(std::uint32_t row) const { return *reinterpret_cast<const std::uint64_t*>(t_.rows.at(row)); }
  // Forgets the page's dirty marks, so that a test sees which granules the next write marks.
  static void clear_dirty(const std::byte* page) {
    for (std::uint64_t& word : detail::header_of(const_cast<std::byte*>(page))->dirty) word = 0;
  }
  static bool marked(const std::byte* page, std::uint32_t byte_offset) {
    const detail::BlockHeader* h = detail::header_of(page);
    const std::uint32_t g = byte_offset >> h->granule_shift;
    return (h->dirty[g >> 6] & (1ull << (g & 63))) != 0;
  }
  void remove(std::uint32_t index) {
    prepare_remove(t_, key_of(index), Removal::kUndoable, ctx_);
    remove_row(t_, key_of(index), ctx_);
  }
  std::uint64_t blocks_taken() const { return pool_.stats().pages_allocated + pool_.stats().pages_reused; }

  PagePool pool_;
  WriteContext ctx_;
  detail::RegistryState registry_;
  detail::TableState t_;
};

// A removal inside the identity run ends the run at its row. prepare_remove must install the sparse pages
// the run gives up without lowering it (a failure later in the prepare then leaves a bound the undo log
// describes), and remove_row must then allocate nothing (the writer's "allocate, then change").
TEST_F(TableOpsTest, PrepareRemoveInstallsThePagesTheRunGivesUpAndLowersNothing) {
  for (std::uint32_t i = 0; i < 2100; ++i) append(i);  // 2,048 slots to a 16 KiB sparse page
  EXPECT_EQ(t_.identity_rows, 2100u);
  EXPECT_EQ(testing::present_sparse_pages(t_), 0u) << "appends in entity order write no slot";
  EXPECT_EQ(testing::present_key_pages(t_), 0u) << "appends in entity order store no key";

  ctx_.birth = 2;  // version 1 is published: every page is shared now
  remove(2099);  // the last row: the run loses that row only, and no page is installed
  EXPECT_EQ(t_.identity_rows, 2099u);
  EXPECT_EQ(testing::present_sparse_pages(t_), 0u);

  prepare_remove(t_, key_of(0), Removal::kUndoable, ctx_);
  EXPECT_EQ(t_.identity_rows, 2099u) << "prepare_remove changed the bound";
  EXPECT_EQ(testing::present_sparse_pages(t_), 2u) << "the pages of slots 0..2098, filled from the run";
  EXPECT_EQ(testing::present_key_pages(t_), 2u) << "the pages of keys 0..2098, filled from the run";
  testing::expect_sparse_index_matches_rows(t_, registry_);
  testing::expect_keys_match_run(t_, registry_);
  const std::uint64_t taken = blocks_taken();
  remove_row(t_, key_of(0), ctx_);
  EXPECT_EQ(blocks_taken(), taken) << "remove_row allocated after prepare_remove";
  EXPECT_EQ(t_.identity_rows, 0u) << "row 0 now holds entity 2098";
  EXPECT_EQ(t_.row_of(key_of(0), registry_), detail::kNoRow);
  EXPECT_EQ(t_.row_of(key_of(2098), registry_), 0u);
  testing::expect_sparse_index_matches_rows(t_, registry_);
  testing::expect_keys_match_run(t_, registry_);
}

// A key is left unstored only where the registry implies it: the next row of the run, with the registry's
// generation for its index. Replay places rows before it applies the commit's creates, so a key may
// continue the run while the registry still holds its index's previous generation: that key is stored, or
// the row would read as the previous entity's, and undoing the placement (a refused frame, after the
// create's undo) would not find it.
// Rows at or above shared_rows are in no version a view can read: the writer writes them in place, in the
// shared page, without copying it or its directory. A row below it is still copied before it changes, and
// the shared page keeps every byte a view of the published version reads.
TEST_F(TableOpsTest, RowsNoViewCanSeeAreWrittenInPlaceAndSeenRowsAreCopied) {
  for (std::uint32_t i = 0; i < 10; ++i) append(i);
  ctx_.birth = 2;       // version 1, with its 10 rows, is published: every page is shared now
  t_.shared_rows = 10;  // what WorkingVersion::publish_to sets after publishing it
  const detail::Directory* dir = t_.rows.dir;
  std::byte* page = t_.rows.dir->pages()[0];
  std::uint64_t published_rows[10];
  std::memcpy(published_rows, page, sizeof published_rows);
  const std::uint64_t taken = blocks_taken();

  // Row 10, past every row a view can see (entity 10 continues the run: no slot or key to write).
  const std::uint64_t value = 0xABCD'0123'4567'89EFull;
  grow_to(registry_.slots, 11, ctx_);
  *reinterpret_cast<detail::EntitySlot*>(mutable_at(registry_.slots, 10, ctx_)) = detail::EntitySlot{1, 1};
  registry_.used = 11;
  const std::uint64_t taken_by_registry = blocks_taken() - taken;
  prepare_insert(t_, key_of(10), ctx_);
  insert_row(t_, key_of(10), key_of(10), ctx_, &value);
  EXPECT_EQ(blocks_taken() - taken, taken_by_registry) << "an append past shared_rows copied a page";
  EXPECT_EQ(t_.rows.dir, dir) << "the rows directory was copied";
  EXPECT_EQ(t_.rows.dir->pages()[0], page) << "the rows page was copied";
  EXPECT_EQ(*reinterpret_cast<const std::uint64_t*>(t_.rows.at(10)), value) << "the row was not written";
  EXPECT_NE(detail::header_of(page)->dirty[0] & (1ull << (10 * 8 / 64)), 0u)
      << "the in-place write left its granule unmarked: the page's parked copy would miss it";
  EXPECT_EQ(std::memcmp(page, published_rows, sizeof published_rows), 0) << "a published row changed";

  remove(3);  // row 3 can be seen: the last row (10) moves into it in a private copy
  EXPECT_NE(t_.rows.dir->pages()[0], page) << "a row a view can see was written in the shared page";
  EXPECT_EQ(std::memcmp(page, published_rows, sizeof published_rows), 0) << "a published row changed";
  EXPECT_EQ(*reinterpret_cast<const std::uint64_t*>(t_.rows.at(3)), value);
  testing::expect_sparse_index_matches_rows(t_, registry_);
}

// A final removal (an implicit transaction's, which has no undo log) writes only the removed row's pages:
// the last row is read and moved, its pages stay shared. An undoable one makes them private as well, since
// its rollback puts the moved row back there and may not allocate.
TEST_F(TableOpsTest, AFinalRemovalLeavesTheLastRowsPageShared) {
  for (std::uint32_t i = 0; i < 2100; ++i) append(i);  // rows 0..2047 in page 0, 2048..2099 in page 1
  ctx_.birth = 2;  // version 1 is published: every page is shared now
  const std::byte* first_page = t_.rows.dir->pages()[0];
  const std::byte* last_page = t_.rows.dir->pages()[1];

  prepare_remove(t_, key_of(5), Removal::kFinal, ctx_);
  const std::uint64_t taken = blocks_taken();
  remove_row(t_, key_of(5), ctx_);
  EXPECT_EQ(blocks_taken(), taken) << "remove_row allocated after its prepare";
  EXPECT_NE(t_.rows.dir->pages()[0], first_page) << "the removed row was written in a shared page";
  EXPECT_EQ(t_.rows.dir->pages()[1], last_page) << "a final removal copied the last row's page";
  EXPECT_EQ(t_.row_of(key_of(2099), registry_), 5u);
  EXPECT_EQ(t_.key_at(5, registry_), key_of(2099)) << "the last row did not move";
  testing::expect_sparse_index_matches_rows(t_, registry_);

  // The last row itself: nothing is written but its slot, so no row page is copied at all.
  ctx_.birth = 3;
  const std::uint64_t last_key = t_.key_at(t_.row_count - 1, registry_);
  const std::byte* page_before = t_.rows.dir->pages()[1];
  prepare_remove(t_, last_key, Removal::kFinal, ctx_);
  remove_row(t_, last_key, ctx_);
  EXPECT_EQ(t_.rows.dir->pages()[1], page_before) << "removing the last row copied its page";
  EXPECT_EQ(t_.row_of(last_key, registry_), detail::kNoRow);

  prepare_remove(t_, key_of(6), Removal::kUndoable, ctx_);
  EXPECT_NE(t_.rows.dir->pages()[1], page_before) << "an undoable removal left the last row's page shared";
  remove_row(t_, key_of(6), ctx_);
  testing::expect_sparse_index_matches_rows(t_, registry_);
}

// A sparse slot that reads "no row" to every view before and after (its old and new rows kNoRow or at or
// above shared_rows) is written in place in the shared page: an insert off the run copies nothing, and a
// view's copy of the table state, sharing the page, still finds no row there. Taking the row back out
// (rollback's remove_row, unprepared) allocates nothing either. A slot a view can see is copied first.
TEST_F(TableOpsTest, ASlotNoViewCanSeeIsWrittenInPlace) {
  for (std::uint32_t i = 0; i < 10; ++i) append(i);
  append(20);  // off the run: the sparse page becomes present
  ctx_.birth = 2;  // version 1, with its 11 rows, is published: every page is shared now
  t_.shared_rows = t_.row_count;
  const detail::TableState published = t_;  // what a view of version 1 reads
  const detail::Directory* dir = t_.sparse.dir;
  const std::byte* page = t_.sparse.dir->pages()[0];
  grow_to(registry_.slots, 31, ctx_);
  *reinterpret_cast<detail::EntitySlot*>(mutable_at(registry_.slots, 30, ctx_)) = detail::EntitySlot{1, 1};
  registry_.used = 31;
  const std::uint64_t taken = blocks_taken();

  prepare_insert(t_, key_of(30), ctx_);
  insert_row(t_, key_of(30), key_of(30), ctx_);
  EXPECT_EQ(t_.sparse.dir, dir) << "the sparse directory was copied";
  EXPECT_EQ(t_.sparse.dir->pages()[0], page) << "the sparse page was copied";
  EXPECT_EQ(t_.row_of(key_of(30), registry_), 11u);
  EXPECT_EQ(published.row_of(key_of(30), registry_), detail::kNoRow) << "a view found a row of a later version";
  EXPECT_EQ(detail::find_row_in(published, registry_, key_of(30)), nullptr);
  EXPECT_NE(detail::header_of(page)->dirty[0] & (1ull << (30 * 8 / 64)), 0u)
      << "the in-place write left its granule unmarked: the page's parked copy would miss it";
  remove_row(t_, key_of(30), ctx_);  // as rollback takes an insert back: no prepare
  EXPECT_EQ(t_.row_of(key_of(30), registry_), detail::kNoRow);
  // A `many` table's row id gets its generation back the same way in a rollback: the slot has no row.
  set_key_generation(t_, 30, 7, ctx_);
  EXPECT_EQ(key_generation(t_, 30), 7u);
  EXPECT_EQ(t_.sparse.dir->pages()[0], page);
  EXPECT_EQ(blocks_taken(), taken) << "an unseen slot's insert, removal or new generation allocated";

  remove(20);  // row 10, which a view can see: its slot is copied first
  EXPECT_NE(t_.sparse.dir->pages()[0], page) << "a slot a view can see was written in the shared page";
  EXPECT_EQ(published.row_of(key_of(20), registry_), 10u) << "the published slot changed";
  testing::expect_sparse_index_matches_rows(t_, registry_);
}

// While an older, longer version may be read, shared_rows stays at its row count (ADR 0020's `max`
// rule): an insert into a row that version has is not unseen, and its slot is copied first, even in a
// sparse page nothing else touched since. Stored in place, the older version would read the new key's
// slot as a row of its own, which holds another key.
TEST_F(TableOpsTest, ASlotNamingARowAnOlderVersionHasIsCopied) {
  for (std::uint32_t i = 0; i < 10; ++i) append(i);
  append(20);
  append(30);
  append(3000);  // sparse page 1 becomes present...
  remove(3000);  // ...and keeps only slots with no row
  ctx_.birth = 2;
  t_.shared_rows = t_.row_count;  // 12: version 1 published
  const detail::TableState older = t_;  // held by a view
  remove(30);  // row 11, the last: the table shrinks (sparse page 0 is copied)
  ctx_.birth = 3;
  t_.shared_rows = std::max(t_.shared_rows, t_.row_count);  // version 1 may still be read: stays 12
  const std::byte* page = t_.sparse.dir->pages()[1];
  grow_to(registry_.slots, 3002, ctx_);
  *reinterpret_cast<detail::EntitySlot*>(mutable_at(registry_.slots, 3001, ctx_)) = detail::EntitySlot{1, 1};
  registry_.used = 3002;
  prepare_insert(t_, key_of(3001), ctx_);
  insert_row(t_, key_of(3001), key_of(3001), ctx_);
  EXPECT_EQ(t_.row_of(key_of(3001), registry_), 11u);
  EXPECT_NE(t_.sparse.dir->pages()[1], page) << "a slot naming a row an older version has was stored in place";
  EXPECT_EQ(older.row_of(key_of(3001), registry_), detail::kNoRow) << "the older version found a row of a later one";
  EXPECT_EQ(older.row_of(key_of(30), registry_), 11u);
  testing::expect_sparse_index_matches_rows(t_, registry_);
}

TEST_F(TableOpsTest, AKeyTheRegistryDoesNotImplyIsStored) {
  for (std::uint32_t i = 0; i < 6; ++i) append(i);  // registry slots 0..5, generation 1
  remove(5);
  EXPECT_EQ(t_.identity_rows, 5u);
  const std::uint64_t newer = (std::uint64_t{2} << 32) | 5;  // index 5, generation 2
  prepare_insert(t_, newer, ctx_);
  insert_row(t_, newer, newer, ctx_);
  EXPECT_EQ(t_.identity_rows, 6u) << "the key continues the run";
  EXPECT_EQ(testing::present_key_pages(t_), 1u) << "stored: the registry says generation 1";
  EXPECT_EQ(t_.row_of(newer, registry_), 5u);
  EXPECT_EQ(t_.row_of(key_of(5), registry_), detail::kNoRow);
  EXPECT_EQ(t_.key_at(5, registry_), newer);
}

// append_unseen is insert_row for an append that needs nothing allocated or copied: the row and its key at or
// above shared_rows, the key continuing the run or its page present, the slot implied by the run or one no
// view can see. It writes in place (marking the granules, for the parked copies) and leaves the table as
// insert_row would; anything else it declines with the table untouched, and insert_row takes it.
TEST_F(TableOpsTest, AppendUnseenAppendsInPlaceOrDeclinesUntouched) {
  for (std::uint32_t i = 0; i < 10; ++i) append(i);
  grow_to(registry_.slots, 41, ctx_);
  for (std::uint32_t i = 10; i < 41; ++i) {
    *reinterpret_cast<detail::EntitySlot*>(mutable_at(registry_.slots, i, ctx_)) = detail::EntitySlot{1, 1};
  }
  registry_.used = 41;
  ctx_.birth = 2;  // version 1, with its 10 rows, is published: every page is shared now
  t_.shared_rows = 10;
  const std::byte* rows_page = t_.rows.dir->pages()[0];
  clear_dirty(rows_page);
  const std::uint64_t taken = blocks_taken();
  const std::uint64_t value = 0x1111'2222'3333'4444ull;

  // Entity 10 continues the run: no key, no slot; the run grows.
  ASSERT_TRUE(append_unseen(t_, key_of(10), registry_, &value));
  EXPECT_EQ(t_.row_count, 11u);
  EXPECT_EQ(t_.identity_rows, 11u);
  EXPECT_EQ(t_.row_of(key_of(10), registry_), 10u);
  EXPECT_EQ(*reinterpret_cast<const std::uint64_t*>(t_.rows.at(10)), value);
  EXPECT_EQ(t_.rows.dir->pages()[0], rows_page) << "an unseen append copied the rows page";
  EXPECT_TRUE(marked(rows_page, 10 * 8)) << "the in-place write left its granule unmarked: the parked copy would miss it";
  EXPECT_EQ(row_value(9), value_of(9)) << "a published row changed";

  // While an older, longer version may be read (shared_rows above the row count, ADR 0020's `max` rule),
  // row 11 is one a view can see: even an append with no key or slot to write declines.
  t_.shared_rows = 20;
  const detail::TableState longer = t_;
  EXPECT_FALSE(append_unseen(t_, key_of(11), registry_, &value));
  EXPECT_EQ(t_, longer) << "a declined append changed the table";
  t_.shared_rows = 10;

  // Entity 20 is off the run, and its key's and its slot's pages are absent: installing them allocates.
  const detail::TableState before = t_;
  EXPECT_FALSE(append_unseen(t_, key_of(20), registry_, &value));
  EXPECT_EQ(t_, before) << "a declined append changed the table";
  EXPECT_EQ(blocks_taken(), taken) << "append_unseen allocated";
  append(20);  // insert_row installs the sparse page (rows stay unseen: no copy)

  // Entity 30, off the run with its slot's page present now: the slot is written in place.
  const std::byte* sparse_page = t_.sparse.dir->pages()[0];
  ctx_.birth = 3;
  t_.shared_rows = t_.row_count;  // version 2, with its 12 rows, is published
  const detail::TableState published_2 = t_;
  clear_dirty(sparse_page);
  ASSERT_TRUE(append_unseen(t_, key_of(30), registry_, &value));
  EXPECT_EQ(t_.row_of(key_of(30), registry_), 12u);
  EXPECT_EQ(t_.identity_rows, 11u) << "an append off the run moved the bound";
  EXPECT_EQ(t_.sparse.dir->pages()[0], sparse_page) << "an unseen slot's page was copied";
  EXPECT_EQ(published_2.row_of(key_of(30), registry_), detail::kNoRow) << "a view found a later version's row";
  EXPECT_TRUE(marked(sparse_page, 30 * 8)) << "the slot's in-place write left its granule unmarked";
  testing::expect_sparse_index_matches_rows(t_, registry_);
  testing::expect_keys_match_run(t_, registry_);

  // An older, longer version may still be read (shared_rows above the row count): row 13 is one it has.
  t_.shared_rows = t_.row_count + 5;
  const detail::TableState seen = t_;
  EXPECT_FALSE(append_unseen(t_, key_of(31), registry_, &value));
  EXPECT_EQ(t_, seen) << "a declined append changed the table";

  // A removal in the run makes the key pages present: the next append stores its key, in place.
  t_.shared_rows = t_.row_count;
  remove(3);  // row 3 now holds entity 30; the run ends at 3
  t_.shared_rows = t_.row_count;
  ASSERT_TRUE(append_unseen(t_, key_of(40), registry_, &value));
  EXPECT_EQ(t_.key_at(t_.row_count - 1, registry_), key_of(40));
  EXPECT_EQ(t_.row_of(key_of(40), registry_), t_.row_count - 1);
  testing::expect_sparse_index_matches_rows(t_, registry_);
  testing::expect_keys_match_run(t_, registry_);

  // A full rows page: the next row needs the array grown, which allocates.
  grow_to(registry_.slots, 2048 + 41, ctx_);
  for (std::uint32_t i = 41; i < 2048 + 41; ++i) {
    *reinterpret_cast<detail::EntitySlot*>(mutable_at(registry_.slots, i, ctx_)) = detail::EntitySlot{1, 1};
  }
  registry_.used = 2048 + 41;
  std::uint32_t next = 41;
  while (t_.row_count < t_.rows.capacity()) append(next++);
  t_.shared_rows = t_.row_count;
  const detail::TableState full = t_;
  EXPECT_FALSE(append_unseen(t_, key_of(next), registry_, &value));
  EXPECT_EQ(t_, full) << "a declined append changed the table";
}

// remove_in_place is prepare_remove(kFinal) and remove_row for a removal that needs nothing allocated or
// copied: a row at or above the run, whose writes (the moved row and key, two slots) land in pages this
// version made private already, or that no view can see. It leaves the table as remove_row would, and the
// published version's pages untouched; anything else it declines with the table untouched.
TEST_F(TableOpsTest, RemoveInPlaceWritesPrivateOrUnseenPagesOrDeclinesUntouched) {
  for (std::uint32_t i = 0; i < 10; ++i) append(i);
  for (std::uint32_t i = 20; i < 24; ++i) append(i);  // rows 10..13, off the run: stored keys and slots
  ctx_.birth = 2;  // version 1 is published: every page is shared now
  t_.shared_rows = t_.row_count;
  const detail::TableState published = t_;

  const detail::TableState shared = t_;
  EXPECT_FALSE(remove_in_place(t_, key_of(20), 10, ctx_)) << "wrote pages a view of version 1 reads";
  EXPECT_EQ(t_, shared) << "a declined removal changed the table";
  EXPECT_FALSE(remove_in_place(t_, key_of(5), 5, ctx_)) << "a removal in the run must install pages";
  EXPECT_EQ(t_, shared);

  // The rows and keys pages private, the sparse page still shared: the slots would need a copy.
  mutable_at(t_.rows, 0, ctx_);
  mutable_at(t_.keys, 12, ctx_);
  const detail::TableState slots_shared = t_;
  EXPECT_FALSE(remove_in_place(t_, key_of(20), 10, ctx_)) << "wrote a slot a view of version 1 reads";
  EXPECT_EQ(t_, slots_shared);

  remove(21);  // row 11 <- entity 23; the rows, keys and sparse pages are private to version 2 now
  const std::uint64_t taken = blocks_taken();
  clear_dirty(t_.rows.dir->pages()[0]);
  clear_dirty(t_.keys.dir->pages()[0]);
  clear_dirty(t_.sparse.dir->pages()[0]);
  ASSERT_TRUE(remove_in_place(t_, key_of(20), 10, ctx_));  // row 10 <- entity 22, the last row
  EXPECT_EQ(t_.row_count, 12u);
  EXPECT_EQ(t_.row_of(key_of(20), registry_), detail::kNoRow);
  EXPECT_EQ(t_.row_of(key_of(22), registry_), 10u);
  EXPECT_EQ(t_.key_at(10, registry_), key_of(22));
  EXPECT_EQ(row_value(10), value_of(22)) << "the last row's bytes did not move";
  EXPECT_TRUE(marked(t_.rows.dir->pages()[0], 10 * 8)) << "the moved row's granule is unmarked";
  EXPECT_TRUE(marked(t_.keys.dir->pages()[0], 10 * 8)) << "the moved key's granule is unmarked";
  EXPECT_TRUE(marked(t_.sparse.dir->pages()[0], 20 * 8)) << "the removed slot's granule is unmarked";
  EXPECT_TRUE(marked(t_.sparse.dir->pages()[0], 22 * 8)) << "the moved slot's granule is unmarked";
  ASSERT_TRUE(remove_in_place(t_, key_of(23), 11, ctx_)) << "the last row: only its slot changes";
  EXPECT_EQ(t_.row_count, 11u);
  EXPECT_EQ(t_.row_of(key_of(23), registry_), detail::kNoRow);
  EXPECT_EQ(blocks_taken(), taken) << "remove_in_place allocated";
  EXPECT_EQ(published.row_of(key_of(20), registry_), 10u) << "the published slot changed";
  EXPECT_EQ(published.row_of(key_of(21), registry_), 11u) << "the published slot changed";
  EXPECT_EQ(*reinterpret_cast<const std::uint64_t*>(published.rows.at(10)), value_of(20)) << "a published row changed";
  EXPECT_EQ(published.key_at(10, registry_), key_of(20)) << "a published key changed";
  EXPECT_EQ(t_.identity_rows, 10u);
  testing::expect_sparse_index_matches_rows(t_, registry_);
  testing::expect_keys_match_run(t_, registry_);

  // The last row's entity is the hole's index, at the end of the run: the move continues the run.
  grow_to(registry_.slots, 41, ctx_);
  for (std::uint32_t i = 10; i < 41; ++i) {
    *reinterpret_cast<detail::EntitySlot*>(mutable_at(registry_.slots, i, ctx_)) = detail::EntitySlot{1, 1};
  }
  registry_.used = 41;
  append(10);  // row 11, off the run (row 10 holds entity 22)
  ASSERT_TRUE(remove_in_place(t_, key_of(22), 10, ctx_));
  EXPECT_EQ(t_.identity_rows, 11u) << "entity 10 at row 10 continues the run";
  EXPECT_EQ(t_.row_of(key_of(10), registry_), 10u);
  testing::expect_sparse_index_matches_rows(t_, registry_);
  testing::expect_keys_match_run(t_, registry_);

  // Rows no view can see, in pages shared with version 2: removed in place without a copy.
  ctx_.birth = 3;
  t_.shared_rows = t_.row_count;
  const std::uint64_t value = 7;
  ASSERT_TRUE(append_unseen(t_, key_of(30), registry_, &value));
  const std::uint64_t other = 8;
  ASSERT_TRUE(append_unseen(t_, key_of(31), registry_, &other));
  const std::byte* rows_page = t_.rows.dir->pages()[0];
  const std::byte* sparse_page = t_.sparse.dir->pages()[0];
  clear_dirty(rows_page);
  clear_dirty(sparse_page);
  ASSERT_TRUE(remove_in_place(t_, key_of(30), 11, ctx_));
  EXPECT_EQ(t_.rows.dir->pages()[0], rows_page) << "an unseen row's page was copied";
  EXPECT_EQ(t_.sparse.dir->pages()[0], sparse_page) << "an unseen slot's page was copied";
  EXPECT_EQ(row_value(11), other) << "the last row's bytes did not move";
  EXPECT_TRUE(marked(rows_page, 11 * 8)) << "the in-place move left its granule unmarked";
  EXPECT_TRUE(marked(sparse_page, 30 * 8));
  EXPECT_TRUE(marked(sparse_page, 31 * 8));
  EXPECT_EQ(t_.row_of(key_of(31), registry_), 11u);
  EXPECT_EQ(t_.row_of(key_of(30), registry_), detail::kNoRow);
  testing::expect_sparse_index_matches_rows(t_, registry_);
  testing::expect_keys_match_run(t_, registry_);
}

// may_remove_in_place is a hint: with a few loads it turns away removals remove_in_place would decline at
// once (in the run, or seen by a view while the directory the removal writes through is still shared: the
// keys' for a removal that moves the last row, the sparse index's for a removal of the last row itself), and
// must not turn away one it would take. remove_in_place still decides.
TEST_F(TableOpsTest, MayRemoveInPlaceLooksAtTheDirectoryTheRemovalWrites) {
  for (std::uint32_t i = 0; i < 10; ++i) append(i);
  for (std::uint32_t i = 20; i < 24; ++i) append(i);  // rows 10..13, off the run
  ctx_.birth = 2;  // version 1 is published: every page and directory is shared now
  t_.shared_rows = t_.row_count;
  EXPECT_FALSE(may_remove_in_place(t_, 5, ctx_)) << "a removal in the run must install pages";
  EXPECT_FALSE(may_remove_in_place(t_, 10, ctx_));
  EXPECT_FALSE(may_remove_in_place(t_, 13, ctx_));

  mutable_at(t_.sparse, 20, ctx_);  // the sparse index's directory and page private, the keys' shared
  EXPECT_TRUE(may_remove_in_place(t_, 13, ctx_)) << "the last row's removal writes only its slot";
  EXPECT_FALSE(may_remove_in_place(t_, 10, ctx_)) << "a removal that moves the last row writes a key";
  EXPECT_FALSE(may_remove_in_place(t_, 5, ctx_));
  const std::uint64_t taken = blocks_taken();
  ASSERT_TRUE(remove_in_place(t_, key_of(23), 13, ctx_)) << "the screen let through what the removal declines";
  EXPECT_EQ(blocks_taken(), taken);
  EXPECT_EQ(t_.row_of(key_of(23), registry_), detail::kNoRow);

  mutable_at(t_.keys, 12, ctx_);
  EXPECT_TRUE(may_remove_in_place(t_, 10, ctx_));

  // Rows no view can see pass whatever their directories: version 2 is published with 13 rows, and row 13
  // is appended after it.
  ctx_.birth = 3;
  t_.shared_rows = t_.row_count;
  append(24);
  ASSERT_LT(t_.keys.dir->birth, ctx_.birth);
  ASSERT_LT(t_.sparse.dir->birth, ctx_.birth);
  EXPECT_FALSE(may_remove_in_place(t_, 12, ctx_)) << "a removal that moves the last row writes a key";
  EXPECT_TRUE(may_remove_in_place(t_, 13, ctx_)) << "no view can see row 13";
  testing::expect_sparse_index_matches_rows(t_, registry_);
  testing::expect_keys_match_run(t_, registry_);
}

}  // namespace
}  // namespace ecsdb::storage
