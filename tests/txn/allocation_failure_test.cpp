// Exception safety of the writer under allocation failure, the way EnTT tests it: a throwing allocator
// fails the N-th allocation (on this thread) for every N along one transaction — its operations, its
// commit (constraints, delta, WAL record, publish, subscription delivery) — and after each failure the
// database must be exactly as before the transaction (or, when only the publish failed, exactly as after
// it), keep its indexes consistent, stay writable, and recover from its log to the same state.
//
// Its own binary: it replaces the global operator new (txn/replaced_operator_new.hpp).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "ecsdb/database.hpp"
#include "support/fault_injection_file_system.hpp"
#include "storage/page_pool.hpp"
#include "support/version_dump.hpp"
#include "txn/database_access.hpp"
#include "txn/replaced_operator_new.hpp"
#include "support/test_schema.hpp"

namespace {
thread_local std::uint64_t fail_in = 0;  // fail the allocation when this counts down to 0 (0 = off)
thread_local bool failed = false;
}  // namespace

namespace {
// The countdown every allocation point shares: operator new below, and the page pool's blocks where a test
// turns them on (PoolBlocksFail).
void allocation_point() {
  if (fail_in != 0 && --fail_in == 0) {
    failed = true;
    throw std::bad_alloc();
  }
}
}  // namespace

void* ecsdb::testing::allocation_hook(std::size_t n, std::size_t align) {
  allocation_point();
  return plain_allocate(n, align);
}

namespace ecsdb::testing {
namespace {

// While alive, every page and directory the pool hands out is an allocation point too, and the databases
// a test opens with pool_blocks_fail_options() copy every shared block into a new one (ping-pong pages
// off: a replay into a parked copy takes no block). So a writer path that copies a page after it has begun
// to change something (ADR 0011: allocate first) fails at that copy, where operator new alone would not
// see it: the pool takes blocks from its free lists without calling it.
class PoolBlocksFail {
 public:
  PoolBlocksFail() { storage::PagePool::allocation_hook = &allocation_point; }
  ~PoolBlocksFail() { storage::PagePool::allocation_hook = nullptr; }
  PoolBlocksFail(const PoolBlocksFail&) = delete;
  PoolBlocksFail& operator=(const PoolBlocksFail&) = delete;
};

DatabaseOptions pool_blocks_fail_options(bool pool_blocks_fail) {
  DatabaseOptions o;
  o.ping_pong_pages = !pool_blocks_fail;
  return o;
}

// Every table's rows in row order, and the live entities: what "unchanged" compares.
using Snapshot = std::map<std::string, std::vector<std::pair<std::uint64_t, std::vector<std::byte>>>>;

Snapshot snapshot_of(Database& db) {
  Snapshot out;
  PinnedView v = db.pin();
  for (const Table& t : db.schema().tables) {
    auto& rows = out[t.name];
    for (std::uint64_t key : v.keys(t.name).value()) {
      const std::uint32_t row = v.state().find_row_index(t.id, key);
      const auto& ts = v.state().tables[t.id];
      std::vector<std::byte> bytes;
      if (ts.stride != 0) bytes.assign(ts.rows.at(row), ts.rows.at(row) + ts.stride);
      rows.emplace_back(key, std::move(bytes));
    }
  }
  out["#entities"].emplace_back(v.entity_count(), std::vector<std::byte>{});
  return out;
}

struct World {
  bool pool_blocks_fail = false;  // ping-pong pages off: every copy takes a pool block (PoolBlocksFail)
  std::shared_ptr<FaultInjectionFileSystem> fs = std::make_shared<FaultInjectionFileSystem>();
  std::unique_ptr<Database> db;
  std::vector<Entity> e;
  std::vector<RowId> items;
  Subscription sub;
  std::vector<Entity> many;  // allocated up front: the test's own allocations must not be the ones failed
  std::vector<Health> many_health = std::vector<Health>(3, Health{5, 5});

  DatabaseOptions options() const {
    DatabaseOptions o;
    o.data_dir = "/db";
    o.file_system = fs;
    o.snapshot_every_wal_bytes = 0;
    o.wal_segment_bytes = 64 * 1024;  // the in-memory file system holds whole segments
    o.ping_pong_pages = !pool_blocks_fail;
    return o;
  }
  explicit World(bool pool_blocks = false) : pool_blocks_fail(pool_blocks) {
    many.reserve(16);
    db = std::move(Database::open(test_schema(), options()).value());
    sub = db->subscribe().value();  // deltas are built and delivered too
    Transaction t = db->writer().begin();
    for (int i = 0; i < 6; ++i) {
      e.push_back(t.create().value());
      EXPECT_TRUE(t.add(e[i], Transform{float(i), 0, 0}).is_ok());
      EXPECT_TRUE(t.add(e[i], Health{std::uint32_t(i), 100}).is_ok());
      EXPECT_TRUE(t.add(e[i], Player{std::uint32_t(i), FixedString<16>("p" + std::to_string(i))}).is_ok());
      items.push_back(t.insert_child(e[i], Item{1, 1}).value());
    }
    EXPECT_TRUE(t.add(e[1], Follow{e[2]}).is_ok());  // cascades when e[2] is destroyed
    EXPECT_TRUE(t.commit().is_ok());
    EXPECT_TRUE(db->flush().is_ok());
  }

  // The transaction under test. Returns the first non-ok status, or ok.
  Status run() {
    Transaction t = db->writer().begin();
    ECSDB_ASSIGN_OR_RETURN(const Entity fresh, t.create());
    ECSDB_RETURN_IF_ERROR(t.add(fresh, Transform{9, 9, 9}));
    ECSDB_RETURN_IF_ERROR(t.add(fresh, Health{9, 9}));
    ECSDB_RETURN_IF_ERROR(t.add(fresh, Player{9, FixedString<16>("fresh")}));
    ECSDB_RETURN_IF_ERROR(t.set(e[0], &Health::hp, 1234u));
    ECSDB_RETURN_IF_ERROR(t.update(e[3], Player{33, FixedString<16>("renamed")}));  // unique index
    ECSDB_RETURN_IF_ERROR(t.remove<Transform>(e[4]));
    ECSDB_RETURN_IF_ERROR(t.destroy(e[2]));  // its rows, its item, and e[1]'s follow (cascade)
    ECSDB_RETURN_IF_ERROR(t.insert_child(e[5], Item{7, 7}).status());
    ECSDB_RETURN_IF_ERROR(t.remove_child("item", items[0]));
    many.clear();
    ECSDB_RETURN_IF_ERROR(t.create_many(3, many));
    ECSDB_RETURN_IF_ERROR(t.add_many<Health>(many, many_health));
    return t.commit();
  }
};

// Run twice: with operator new's allocations as the failure points, then with the pool's blocks as well
// (PoolBlocksFail).
TEST(AllocationFailureTest, EveryFailingAllocationLeavesTheDatabaseUnchangedAndUsable) {
  std::uint64_t operator_new_points = 0;
  for (const bool pool_blocks_fail : {false, true}) {
    SCOPED_TRACE(pool_blocks_fail ? "operator new and pool blocks fail" : "operator new fails");
    std::optional<PoolBlocksFail> pool_hook;
    if (pool_blocks_fail) pool_hook.emplace();
    Snapshot before, after;
    {
      World w(pool_blocks_fail);
      before = snapshot_of(*w.db);
      ASSERT_TRUE(w.run().is_ok());
      after = snapshot_of(*w.db);
      ASSERT_NE(before, after);
    }
    int failures = 0, commits_kept = 0;
    for (std::uint64_t n = 1;; ++n) {
      World w(pool_blocks_fail);
      failed = false;
      fail_in = n;
      Status s;
      try {
        s = w.run();
      } catch (const std::bad_alloc&) {
        fail_in = 0;
        FAIL() << "allocation " << n << ": std::bad_alloc escaped through the API";
      }
      fail_in = 0;
      if (!failed) {  // the transaction needs fewer than n allocations: every point has been tried
        ASSERT_TRUE(s.is_ok()) << s.to_string();
        EXPECT_GT(failures, 10) << "too few allocation points to be a meaningful test";
        std::printf("%s: allocation points tried: %llu (%d failed the transaction, %d failed only the publish)\n",
                    pool_blocks_fail ? "pool blocks too" : "operator new", static_cast<unsigned long long>(n - 1),
                    failures, commits_kept);
        if (pool_blocks_fail) {
          EXPECT_GT(n - 1, operator_new_points) << "the pool's blocks were allocation points";
        } else {
          operator_new_points = n - 1;
        }
        break;
      }
      w.db->writer().publish();  // a commit whose publish failed becomes visible now
      const Snapshot now = snapshot_of(*w.db);
      if (s.is_ok()) {
        ++commits_kept;
        ASSERT_EQ(now, after) << "allocation " << n << ": committed, but the state is not the transaction's";
      } else {
        ++failures;
        ASSERT_EQ(s.code(), StatusCode::kResourceExhausted) << "allocation " << n << ": " << s.to_string();
        ASSERT_EQ(now, before) << "allocation " << n << ": a failed transaction left changes behind";
      }
      // The unique index still matches the rows: a taken name is refused, a free one accepted.
      {
        Transaction t = w.db->writer().begin();
        const Entity x = t.create().value();
        ASSERT_TRUE(t.add(x, Player{1, FixedString<16>("p1")}).is_ok());
        EXPECT_EQ(t.commit().code(), StatusCode::kConstraintViolation) << "allocation " << n;
      }
      ASSERT_TRUE(w.db->writer().add(w.db->writer().create().value(), Player{1, FixedString<16>("free")}).is_ok())
          << "allocation " << n << ": not writable after the failure";
      const Snapshot expected = snapshot_of(*w.db);
      ASSERT_TRUE(w.db->flush().is_ok());
      // And the log holds exactly that: no partial record, nothing of the failed transaction.
      w.sub = {};
      w.db.reset();
      auto reopened = Database::open(test_schema(), w.options());
      ASSERT_TRUE(reopened.has_value()) << "allocation " << n << ": " << reopened.status().to_string();
      ASSERT_EQ(snapshot_of(**reopened), expected) << "allocation " << n << ": recovery differs";
    }
  }
}


// The elided sparse index (ADR 0017): a removal inside a table's identity run installs the sparse pages
// the run gives up before it changes anything, so that a failure part-way leaves a state the undo log
// describes, and rolling back installs (allocates) nothing. Here the transaction first removes the last
// row (in the run; its page, the second, absent), then the first, which fails at each of its allocations
// in turn, from operator new and then from the pool's blocks too (PoolBlocksFail); the rollback must
// restore the rows without taking a page.
TEST(AllocationFailureTest, AFailedRemovalInTheIdentityRunRollsBackWithoutAllocating) {
  std::uint64_t operator_new_points = 0;
  for (const bool pool_blocks_fail : {false, true}) {
    SCOPED_TRACE(pool_blocks_fail ? "operator new and pool blocks fail" : "operator new fails");
    std::optional<PoolBlocksFail> pool_hook;
    if (pool_blocks_fail) pool_hook.emplace();
    std::uint64_t points = 0;
    for (std::uint64_t n = 1;; ++n) {
      auto db = std::move(Database::open(test_schema(), pool_blocks_fail_options(pool_blocks_fail)).value());
      std::vector<Entity> es;
      ASSERT_TRUE(db->writer().create_many(2100, es).is_ok());  // 16 KiB sparse pages: 2,048 slots each
      {
        const std::vector<Health> hs(es.size(), Health{1, 1});
        Transaction t = db->writer().begin();
        ASSERT_TRUE(t.add_many<Health>(es, hs).is_ok());
        ASSERT_TRUE(t.commit().is_ok());
      }
      Transaction t = db->writer().begin();
      ASSERT_TRUE(t.remove<Health>(es.back()).is_ok());
      failed = false;
      fail_in = n;
      Status s;
      try {
        s = t.remove<Health>(es.front());
      } catch (const std::bad_alloc&) {
        fail_in = 0;
        FAIL() << "allocation " << n << ": std::bad_alloc escaped through the API";
      }
      fail_in = 0;
      const std::uint64_t before_rollback = db->metrics().bytes_in_use;
      t.rollback();
      EXPECT_EQ(db->metrics().bytes_in_use, before_rollback) << "allocation " << n << ": the rollback allocated";
      db->writer().publish();
      const PinnedView v = db->pin();
      for (const Entity e : es) ASSERT_TRUE(v.has<Health>(e)) << "allocation " << n << ", entity " << e.index();
      if (!failed) break;  // the removal needed fewer than n allocations: every point has been tried
      ++points;
      ASSERT_EQ(s.code(), StatusCode::kResourceExhausted) << "allocation " << n << ": " << s.to_string();
    }
    // The pool's blocks add the sparse pages the run gives up to the points tried.
    if (pool_blocks_fail) {
      EXPECT_GT(points, operator_new_points);
    } else {
      operator_new_points = points;
    }
  }
}

// The implicit single-operation path (no log, no subscriber) changes rows without an undo log: it must
// allocate everything first, so a failure leaves nothing half done. Run twice: with operator new's
// allocations as the failure points, then with the pool's blocks as well (PoolBlocksFail).
TEST(AllocationFailureTest, ImplicitWritesAreAllOrNothing) {
  for (const bool pool_blocks_fail : {false, true}) {
    SCOPED_TRACE(pool_blocks_fail ? "operator new and pool blocks fail" : "operator new fails");
    std::optional<PoolBlocksFail> pool_hook;
    if (pool_blocks_fail) pool_hook.emplace();
    for (std::uint64_t n = 1;; ++n) {
      auto db = std::move(Database::open(test_schema(), pool_blocks_fail_options(pool_blocks_fail)).value());
      ASSERT_TRUE(db->bind<Transform>().is_ok());
      ASSERT_TRUE(db->bind<Health>().is_ok());
      std::vector<Entity> es;
      ASSERT_TRUE(db->writer().create_many(40, es).is_ok());
      for (Entity x : es) ASSERT_TRUE(db->writer().add(x, Health{1, 1}).is_ok());
      std::vector<bool> has_transform(40), has_health(40, true);
      Status s;
      failed = false;
      fail_in = n;
      for (int i = 0; i < 40 && s.is_ok(); ++i) {
        s = db->writer().add(es[i], Transform{1, 2, 3});
        if (s.is_ok()) has_transform[i] = true;
        const int victim = (i * 7) % 40;
        if (s.is_ok() && has_health[victim]) {
          s = db->writer().remove<Health>(es[victim]);
          if (s.is_ok()) has_health[victim] = false;
        }
      }
      fail_in = 0;
      if (!failed) {
        if (pool_blocks_fail) {
          // Each operation publishes, so each copies its pages and their directories into new blocks.
          EXPECT_GT(n - 1, 80u) << "the pool's blocks were allocation points";
        } else {
          // Allocations the path makes, each failed once above: n - 1. Few or none: after the first
          // publish the writer reuses dead versions' objects and keeps its buffers, and the page pool's
          // free lists are a flat array (ecsdb_hot_path_allocation_test expects none once warm); what can
          // be left is the first growth of a buffer or a new slab's entry in the pool's slab list.
          EXPECT_LE(n - 1, 8u) << "the implicit path allocates at most a few times";
        }
        break;
      }
      ASSERT_TRUE(s.is_ok() || s.code() == StatusCode::kResourceExhausted) << "allocation " << n << ": " << s.to_string();
      db->writer().publish();  // an operation whose publish failed is visible now
      PinnedView v = db->pin();
      for (int i = 0; i < 40; ++i) {
        ASSERT_EQ(v.has<Transform>(es[i]), has_transform[i]) << "allocation " << n << ", entity " << i;
        ASSERT_EQ(v.has<Health>(es[i]), has_health[i]) << "allocation " << n << ", entity " << i;
      }
      ASSERT_TRUE(db->writer().add(db->writer().create().value(), Health{2, 2}).is_ok()) << "allocation " << n;
    }
  }
}


// WriterHandle::destroy takes the same in-place path (no log, no subscriber, no reference column): the
// removals from every table and the registry's change happen all together or not at all. Run twice, as
// the test above.
TEST(AllocationFailureTest, ImplicitDestroyIsAllOrNothing) {
  for (const bool pool_blocks_fail : {false, true}) {
    SCOPED_TRACE(pool_blocks_fail ? "operator new and pool blocks fail" : "operator new fails");
    std::optional<PoolBlocksFail> pool_hook;
    if (pool_blocks_fail) pool_hook.emplace();
    for (std::uint64_t n = 1;; ++n) {
      auto db = std::move(Database::open(plain_schema(), pool_blocks_fail_options(pool_blocks_fail)).value());
      ASSERT_TRUE(db->bind<Transform>().is_ok());
      ASSERT_TRUE(db->bind<Health>().is_ok());
      std::vector<Entity> es;
      ASSERT_TRUE(db->writer().create_many(40, es).is_ok());
      for (int i = 0; i < 40; ++i) {
        const auto v = static_cast<std::uint32_t>(i);
        ASSERT_TRUE(db->writer().add(es[i], Health{v, v}).is_ok());
        if (i % 3 != 0) {
          ASSERT_TRUE(db->writer().add(es[i], Transform{float(i), 0, 0}).is_ok());
        }
      }
      std::vector<bool> alive(40, true);
      Status s;
      failed = false;
      fail_in = n;
      for (int k = 0; k < 40 && s.is_ok(); ++k) {
        const int victim = (k * 13) % 40;  // all over the tables' identity runs, not only their last rows
        s = db->writer().destroy(es[victim]);
        if (s.is_ok()) alive[victim] = false;
      }
      fail_in = 0;
      if (!failed) {
        if (pool_blocks_fail) {
          // Each destroy publishes: its table pages, the registry page and their directories are new blocks.
          EXPECT_GT(n - 1, 80u) << "the pool's blocks were allocation points";
        } else {
          // Each failed once above: the sparse and key pages a table's identity run gives up at the first
          // destroy inside it, new copies of pages and directories, the free list's first growth.
          EXPECT_LE(n - 1, 16u) << "the implicit destroy allocates at most a few times";
        }
        break;
      }
      ASSERT_TRUE(s.is_ok() || s.code() == StatusCode::kResourceExhausted) << "allocation " << n << ": " << s.to_string();
      db->writer().publish();
      const PinnedView v = db->pin();
      for (int i = 0; i < 40; ++i) {
        ASSERT_EQ(v.alive(es[i]), alive[i]) << "allocation " << n << ", entity " << i;
        const Health* h = v.get<Health>(es[i]);
        const Transform* t = v.get<Transform>(es[i]);
        ASSERT_EQ(h != nullptr, alive[i]) << "allocation " << n << ", entity " << i;
        ASSERT_EQ(t != nullptr, alive[i] && i % 3 != 0) << "allocation " << n << ", entity " << i;
        if (h != nullptr) {
          ASSERT_EQ(h->hp, static_cast<std::uint32_t>(i)) << "allocation " << n << ", entity " << i;
        }
        if (t != nullptr) {
          ASSERT_EQ(t->x, float(i)) << "allocation " << n << ", entity " << i;
        }
      }
      ASSERT_TRUE(db->writer().add(db->writer().create().value(), Health{2, 2}).is_ok()) << "allocation " << n;
    }
  }
}

// Queued transactions: whatever allocation fails during a drain (a body, a commit, the batch's publish),
// every ticket ends resolved once the owner drains again, and a ticket that says ok is visible.
TEST(AllocationFailureTest, EveryQueuedTicketResolvesAndOkMeansVisible) {
  for (const bool pool_blocks_fail : {false, true}) {
    SCOPED_TRACE(pool_blocks_fail ? "operator new and pool blocks fail" : "operator new fails");
    std::optional<PoolBlocksFail> pool_hook;
    if (pool_blocks_fail) pool_hook.emplace();
    for (std::uint64_t n = 1;; ++n) {
      auto db = std::move(Database::open(test_schema(), pool_blocks_fail_options(pool_blocks_fail)).value());
      ASSERT_TRUE(db->bind<Health>().is_ok());
      std::vector<Entity> es;
      ASSERT_TRUE(db->writer().create_many(8, es).is_ok());
      for (Entity x : es) ASSERT_TRUE(db->writer().add(x, Health{0, 0}).is_ok());
      std::vector<CommitTicket> tickets;
      for (std::uint32_t i = 0; i < 8; ++i) {
        tickets.push_back(db->submit([e = es[i], i](Transaction& t) { return t.set(e, &Health::hp, i + 1); }));
      }
      failed = false;
      fail_in = n;
      db->writer().drain();
      fail_in = 0;
      db->writer().drain();  // what the failure left behind (a batch not yet published, queued work)
      db->writer().publish();
      PinnedView v = db->pin();
      for (std::uint32_t i = 0; i < 8; ++i) {
        ASSERT_TRUE(tickets[i].ready()) << "allocation " << n << ": ticket " << i << " never resolved";
        const Status s = tickets[i].wait();
        if (s.is_ok()) {
          EXPECT_EQ(v.get<Health>(es[i])->hp, i + 1) << "allocation " << n;
          EXPECT_GE(v.version(), tickets[i].version()) << "allocation " << n;
        } else {
          EXPECT_EQ(v.get<Health>(es[i])->hp, 0u) << "allocation " << n << ": " << s.to_string();
        }
      }
      if (!failed) {
        EXPECT_GT(n, 2u);  // at least the batch's bookkeeping and the first version copy at publish
        break;
      }
    }
  }
}

// A replica's frame (WriterCore::apply_replicated, replication/replica.cpp) is applied as one commit that
// replays the server's steps exactly: row sequences, entity slots, row ids, free lists, indexes. Whichever
// allocation fails, the frame is applied whole or not at all, and the replica can take it again.
TEST(AllocationFailureTest, AReplicatedFrameIsAppliedWholeOrNotAtAll) {
  // The server's versions: a world, an entity destroyed, then a commit that takes every replay step (a row
  // removed and added again and a `many` row added and removed: row sequences; the destroyed entity's index
  // reused, off the replica's free list; a renamed player: the unique index; a follower of a destroyed
  // entity: the reverse-reference index).
  auto server = std::move(Database::open(test_schema()).value());
  Subscription sub = server->subscribe({.capacity = 16, .every_version = true}).value();
  std::vector<Entity> e;
  std::vector<RowId> items;
  {
    Transaction t = server->writer().begin();
    for (int i = 0; i < 8; ++i) {
      e.push_back(t.create().value());
      ASSERT_TRUE(t.add(e[i], Transform{float(i), 0, 0}).is_ok());
      ASSERT_TRUE(t.add(e[i], Player{std::uint32_t(i), FixedString<16>("p" + std::to_string(i))}).is_ok());
      items.push_back(t.insert_child(e[i], Item{1, 1}).value());
    }
    ASSERT_TRUE(t.add(e[1], Follow{e[2]}).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  }
  ASSERT_TRUE(server->writer().destroy(e[7]).is_ok());  // its index goes to the free list, for the next create
  {
    Transaction t = server->writer().begin();
    const Entity reused = t.create().value();
    ASSERT_EQ(reused.index(), e[7].index());
    ASSERT_TRUE(t.add(reused, Player{70, FixedString<16>("p7")}).is_ok());
    ASSERT_TRUE(t.remove<Transform>(e[4]).is_ok());
    ASSERT_TRUE(t.add(e[4], Transform{4, 4, 4}).is_ok());
    const RowId brief = t.insert_child(e[5], Item{2, 2}).value();
    ASSERT_TRUE(t.remove_child("item", brief).is_ok());
    ASSERT_TRUE(t.remove_child("item", items[0]).is_ok());
    ASSERT_TRUE(t.update(e[3], Player{33, FixedString<16>("renamed")}).is_ok());
    ASSERT_TRUE(t.destroy(e[2]).is_ok());  // and e[1]'s follow, by cascade
    ASSERT_TRUE(t.commit().is_ok());
  }
  std::vector<std::shared_ptr<const Delta>> versions;
  sub.poll(versions);
  ASSERT_EQ(versions.size(), 3u);
  const Delta& world = *versions[0];
  const Delta& destroyed = *versions[1];
  const Delta& frame = *versions[2];
  ASSERT_TRUE(std::any_of(frame.tables.begin(), frame.tables.end(), [](const TableDelta& t) { return !t.sequence.empty(); }))
      << "the frame should replay a row sequence";

  WriterDump after;  // what a replica holds once the frame is applied
  {
    auto replica = std::move(Database::open(test_schema()).value());
    detail::WriterCore& core = detail::DatabaseAccess::core(*replica);
    ASSERT_TRUE(core.apply_replicated(world, world.version).is_ok());
    ASSERT_TRUE(core.apply_replicated(destroyed, destroyed.version).is_ok());
    ASSERT_TRUE(core.apply_replicated(frame, frame.version).is_ok());
    after = dump_writer(core.working_version());
  }
  for (const bool pool_blocks_fail : {false, true}) {
    SCOPED_TRACE(pool_blocks_fail ? "operator new and pool blocks fail" : "operator new fails");
    std::optional<PoolBlocksFail> pool_hook;
    if (pool_blocks_fail) pool_hook.emplace();
    int failures = 0;
    for (std::uint64_t n = 1;; ++n) {
      auto replica = std::move(Database::open(test_schema(), pool_blocks_fail_options(pool_blocks_fail)).value());
      Subscription local = replica->subscribe().value();  // the frame is handed to the replica's subscribers too
      detail::WriterCore& core = detail::DatabaseAccess::core(*replica);
      ASSERT_TRUE(core.apply_replicated(world, world.version).is_ok());
      ASSERT_TRUE(core.apply_replicated(destroyed, destroyed.version).is_ok());
      const WriterDump before = dump_writer(core.working_version());
      failed = false;
      fail_in = n;
      Status s;
      try {
        s = core.apply_replicated(frame, frame.version);
      } catch (const std::bad_alloc&) {
        fail_in = 0;
        FAIL() << "allocation " << n << ": std::bad_alloc escaped apply_replicated";
      }
      fail_in = 0;
      if (!failed) {  // the frame needs fewer than n allocations: every point has been tried
        ASSERT_TRUE(s.is_ok()) << s.to_string();
        EXPECT_GT(failures, 10) << "too few allocation points to be a meaningful test";
        std::printf("%s: allocation points tried: %llu (%d refused the frame)\n", pool_blocks_fail ? "pool blocks too" : "operator new",
                      static_cast<unsigned long long>(n - 1), failures);
        break;
      }
      if (s.is_ok()) {  // only the publish failed: the frame is applied
        ASSERT_EQ(first_difference(after, dump_writer(core.working_version())), "") << "allocation " << n;
        continue;
      }
      ++failures;
      ASSERT_EQ(s.code(), StatusCode::kResourceExhausted) << "allocation " << n << ": " << s.to_string();
      ASSERT_EQ(first_difference(before, dump_writer(core.working_version())), "") << "allocation " << n << ": a refused frame left changes";
      const Status again = core.apply_replicated(frame, frame.version);
      ASSERT_TRUE(again.is_ok()) << "allocation " << n << ": " << again.to_string();
      ASSERT_EQ(first_difference(after, dump_writer(core.working_version())), "") << "allocation " << n;
      ASSERT_EQ(replica->pin().get<Player>(e[3])->name, FixedString<16>("renamed")) << "allocation " << n;
    }
  }
}

}  // namespace
}  // namespace ecsdb::testing
