// Transactions submitted from many threads through the lock-free queue. Also run under TSan.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <stdexcept>
#include <thread>

#include "support/test_schema.hpp"
#include "txn/database_access.hpp"
#include "txn/write_queue.hpp"

namespace ecsdb::testing {
namespace {

struct Bank {
  std::unique_ptr<Database> db;
  std::vector<Entity> accounts;
  static constexpr std::uint32_t kAccounts = 64;
  static constexpr std::uint32_t kStart = 1000;

  explicit Bank(DatabaseOptions options = {}) {
    db = std::move(Database::open(test_schema(), options).value());
    WriterHandle& w = db->writer();
    EXPECT_TRUE(w.create_many(kAccounts, accounts).is_ok());
    for (auto e : accounts) EXPECT_TRUE(w.add(e, Health{kStart, 1}).is_ok());
  }
  // Moves `amount` from one account to another; fails (changing nothing) when funds are short.
  TransactionBody transfer(Entity from, Entity to, std::uint32_t amount) {
    return [from, to, amount](Transaction& t) -> Status {
      const Health a = *t.get<Health>(from);
      if (a.hp < amount) return Status(StatusCode::kAborted, "insufficient funds");
      ECSDB_RETURN_IF_ERROR(t.update(from, Health{a.hp - amount, 1}));
      const Health b = *t.get<Health>(to);
      return t.update(to, Health{b.hp + amount, 1});
    };
  }
  std::uint64_t total(const PinnedView& v) const {
    std::uint64_t sum = 0;
    v.each<Health>([&](Entity, const Health& h) { sum += h.hp; });
    return sum;
  }
};

TEST(QueueTest, ManyProducersEveryTicketResolvesAndTotalsHold) {
  Bank bank;
  ASSERT_TRUE(bank.db->start_writer_thread().is_ok());
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 2000;
  std::atomic<int> ok{0}, failed{0};
  std::atomic<std::uint64_t> bad_views{0};
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      PinnedView v = bank.db->pin();
      if (bank.total(v) != std::uint64_t{Bank::kAccounts} * Bank::kStart) bad_views.fetch_add(1);
    }
  });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      std::mt19937 rng(p);
      std::vector<CommitTicket> tickets;
      for (int i = 0; i < kPerProducer; ++i) {
        const Entity a = bank.accounts[rng() % Bank::kAccounts];
        const Entity b = bank.accounts[rng() % Bank::kAccounts];
        tickets.push_back(bank.db->submit(bank.transfer(a, b, rng() % 1500)));
      }
      for (auto& t : tickets) {
        const Status s = t.wait();
        if (s.is_ok()) {
          EXPECT_GT(t.version(), 0u);
          ok.fetch_add(1);
        } else {
          EXPECT_EQ(s.code(), StatusCode::kAborted);
          failed.fetch_add(1);
        }
      }
    });
  }
  for (auto& p : producers) p.join();
  stop = true;
  reader.join();
  bank.db->stop_writer_thread();
  EXPECT_EQ(ok + failed, kProducers * kPerProducer) << "no ticket lost";
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(bad_views.load(), 0u);
  EXPECT_EQ(bank.total(bank.db->pin()), std::uint64_t{Bank::kAccounts} * Bank::kStart);
  const DatabaseMetrics m = bank.db->metrics();
  EXPECT_EQ(m.submitted, std::uint64_t{kProducers} * kPerProducer);
  EXPECT_EQ(m.queue_depth, 0u);
  EXPECT_GT(m.submit_to_visible_p50_ns, 0u);
}

TEST(QueueTest, OwnerDrainsAtPublish) {
  Bank bank(DatabaseOptions{.publish_every_commits = 0});
  CommitTicket t = bank.db->submit(bank.transfer(bank.accounts[0], bank.accounts[1], 10));
  EXPECT_FALSE(t.ready()) << "nothing runs until the owner drains";
  bank.db->writer().publish();
  ASSERT_TRUE(t.ready());
  EXPECT_TRUE(t.wait().is_ok());
  EXPECT_EQ(t.version(), bank.db->published_version());
  EXPECT_EQ(bank.db->pin().get<Health>(bank.accounts[1])->hp, Bank::kStart + 10);
}

TEST(QueueTest, FailingAndThrowingBodiesChangeNothing) {
  Bank bank;
  CommitTicket fails = bank.db->submit(bank.transfer(bank.accounts[0], bank.accounts[1], 5000));
  CommitTicket throws = bank.db->submit([&](Transaction& t) -> Status {
    EXPECT_TRUE(t.update(bank.accounts[2], Health{0, 1}).is_ok());
    throw std::runtime_error("boom");
  });
  CommitTicket violates = bank.db->submit([&](Transaction& t) -> Status {
    const Entity e = t.create().value();
    return t.add(e, Follow{Entity(bank.accounts[3].index(), 9)});  // a stale generation: fails at commit
  });
  EXPECT_EQ(bank.db->writer().drain(), 3u);
  EXPECT_EQ(fails.wait().code(), StatusCode::kAborted);
  const Status s = throws.wait();
  EXPECT_EQ(s.code(), StatusCode::kAborted);
  EXPECT_NE(s.message().find("boom"), std::string::npos);
  EXPECT_EQ(violates.wait().code(), StatusCode::kConstraintViolation);
  PinnedView v = bank.db->pin();
  EXPECT_EQ(v.get<Health>(bank.accounts[2])->hp, Bank::kStart);
  EXPECT_EQ(v.entity_count(), Bank::kAccounts);
}

TEST(QueueTest, OnResolvedCallbackRunsOnceWithTheOutcome) {
  Bank bank;
  ASSERT_TRUE(bank.db->start_writer_thread().is_ok());
  std::atomic<int> calls{0};
  std::atomic<std::uint64_t> version{0};
  std::atomic<int> failures{0};
  CommitTicket ok = bank.db->submit(bank.transfer(bank.accounts[0], bank.accounts[1], 1),
                                    [&](const Status& s, std::uint64_t v) {
                                      EXPECT_TRUE(s.is_ok());
                                      version.store(v);
                                      calls.fetch_add(1);
                                    });
  CommitTicket bad = bank.db->submit(bank.transfer(bank.accounts[0], bank.accounts[1], 1u << 30),
                                     [&](const Status& s, std::uint64_t v) {
                                       EXPECT_EQ(s.code(), StatusCode::kAborted);
                                       EXPECT_EQ(v, 0u);
                                       failures.fetch_add(1);
                                     });
  EXPECT_TRUE(ok.wait().is_ok());
  EXPECT_FALSE(bad.wait().is_ok());
  bank.db->stop_writer_thread();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(failures.load(), 1);
  EXPECT_EQ(version.load(), ok.version());
}

TEST(QueueTest, StopDrainsWhatIsQueued) {
  Bank bank;
  ASSERT_TRUE(bank.db->start_writer_thread().is_ok());
  std::vector<CommitTicket> tickets;
  for (int i = 0; i < 100; ++i) tickets.push_back(bank.db->submit(bank.transfer(bank.accounts[0], bank.accounts[1], 1)));
  bank.db->stop_writer_thread();
  for (auto& t : tickets) EXPECT_TRUE(t.ready());
  EXPECT_EQ(bank.db->pin().get<Health>(bank.accounts[1])->hp, Bank::kStart + 100);
}


// A producer pre-empted between its exchange and its link must not hold the writer: drain() publishes
// and resolves what it could take, and picks the late node up once it is linked.
TEST(QueueLivenessTest, APreemptedProducerDoesNotStallTheBatch) {
  auto db = std::move(Database::open(test_schema()).value());
  const Entity e = db->writer().create().value();
  ASSERT_TRUE(db->writer().add(e, Health{0, 0}).is_ok());
  std::vector<CommitTicket> early;
  for (std::uint32_t i = 1; i <= 3; ++i) {
    early.push_back(db->submit([e, i](Transaction& t) { return t.set(e, &Health::hp, i); }));
  }
  auto late = std::make_shared<detail::QueuedTransaction>();
  late->body = [e](Transaction& t) { return t.set(e, &Health::hp, 99u); };
  late->submitted = std::chrono::steady_clock::now();
  late->self = late;
  CommitTicket late_ticket(late);
  detail::WriteQueue& queue = detail::DatabaseAccess::core(*db).queue_for_testing();
  detail::QueuedTransaction* prev = queue.begin_push(late.get());  // ...and the producer is pre-empted

  // Before the fix this call never returned. The node pushed last before the half-done one cannot be
  // detached until the link is made (the queue's design), so 2 of the 3 run now.
  EXPECT_EQ(db->writer().drain(), 2u);
  EXPECT_TRUE(early[0].ready());
  EXPECT_TRUE(early[1].ready());
  EXPECT_EQ(db->pin().get<Health>(e)->hp, 2u);
  EXPECT_FALSE(late_ticket.ready());

  detail::WriteQueue::link(prev, late.get());  // the producer runs again
  EXPECT_EQ(db->writer().drain(), 2u);
  ASSERT_TRUE(early[2].wait().is_ok());
  ASSERT_TRUE(late_ticket.wait().is_ok());
  EXPECT_EQ(db->pin().get<Health>(e)->hp, 99u);
}

// With default options (no writer thread, a publish per commit) queued transactions run at the owner's
// next commit: a ticket never waits for an explicit drain().
TEST(QueueLivenessTest, OwnerCommitsRunQueuedTransactions) {
  auto db = std::move(Database::open(test_schema()).value());
  const Entity e = db->writer().create().value();
  ASSERT_TRUE(db->writer().add(e, Health{0, 0}).is_ok());
  CommitTicket ticket;
  std::thread producer([&] { ticket = db->submit([e](Transaction& t) { return t.set(e, &Health::max_hp, 5u); }); });
  producer.join();
  ASSERT_TRUE(db->writer().set(e, &Health::hp, 1u).is_ok());  // the owner's next commit (implicit)
  EXPECT_TRUE(ticket.ready());
  EXPECT_TRUE(ticket.wait().is_ok());
  EXPECT_EQ(db->pin().get<Health>(e)->max_hp, 5u);
}

// While the background writer thread runs, the owner's handle is refused loudly instead of racing it.
TEST(QueueLivenessTest, WriterHandleIsRefusedWhileTheWriterThreadRuns) {
  auto db = std::move(Database::open(test_schema()).value());
  const Entity e = db->writer().create().value();
  ASSERT_TRUE(db->writer().add(e, Health{0, 0}).is_ok());
  ASSERT_TRUE(db->start_writer_thread().is_ok());
  const Status direct = db->writer().set(e, &Health::hp, 1u);
  EXPECT_EQ(direct.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(direct.message().find("writer thread"), std::string::npos) << direct.message();
  Transaction t = db->writer().begin();
  EXPECT_FALSE(t.active());
  EXPECT_EQ(t.commit().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(db->writer().create().has_value());
  // Submitting still works, and the handle is usable again once the thread stops.
  EXPECT_TRUE(db->submit([e](Transaction& tx) { return tx.set(e, &Health::hp, 2u); }).wait().is_ok());
  db->stop_writer_thread();
  EXPECT_TRUE(db->writer().set(e, &Health::hp, 3u).is_ok());
  EXPECT_EQ(db->pin().get<Health>(e)->hp, 3u);
}
}  // namespace
}  // namespace ecsdb::testing

namespace ecsdb::testing {
namespace {

TEST(OptimisticTest, ChangedReadFailsWithConflictUnchangedCommits) {
  Bank bank;
  const Entity a = bank.accounts[0];
  ReadSet reads;
  std::uint32_t seen = 0;
  {
    PinnedView view = bank.db->pin();
    seen = reads.read<Health>(view, a)->hp;
  }
  // Someone else changes the row after our read.
  ASSERT_TRUE(bank.db->writer().update(a, Health{seen + 1, 1}).is_ok());
  CommitTicket stale = bank.db->submit(
      [&](Transaction& t) { return t.update(a, Health{seen * 2, 1}); }, std::move(reads));
  ReadSet fresh_reads;
  {
    PinnedView view = bank.db->pin();
    fresh_reads.read<Health>(view, a);
  }
  CommitTicket fresh = bank.db->submit(
      [&](Transaction& t) { return t.update(a, Health{7, 1}); }, std::move(fresh_reads));
  bank.db->writer().drain();
  const Status s = stale.wait();
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_NE(s.message().find("changed since it was read"), std::string::npos) << s.message();
  EXPECT_TRUE(fresh.wait().is_ok());
  EXPECT_EQ(bank.db->pin().get<Health>(a)->hp, 7u);
}


}  // namespace
}  // namespace ecsdb::testing

#include "support/fault_injection_file_system.hpp"

namespace ecsdb::testing {
namespace {

// The WAL flush thread, the writer thread, producers and readers together (run under TSan in CI): every
// ticket resolves after its record is durable, and a crash loses nothing that was acknowledged.
TEST(DurableQueueTest, GroupCommitUnderConcurrentProducersAndReaders) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  DatabaseOptions o;
  o.data_dir = "/data";
  o.file_system = fs;
  o.durability = Durability::kSync;
  o.wal_segment_bytes = 256 * 1024;
  o.snapshot_every_wal_bytes = 0;
  std::vector<Entity> accounts;
  std::uint64_t acked_total = 0;
  {
    Bank bank(o);

    accounts = bank.accounts;
    ASSERT_TRUE(bank.db->start_writer_thread().is_ok());
    std::atomic<bool> stop{false};
    std::thread reader([&] {
      while (!stop.load()) {
        PinnedView v = bank.db->pin();
        EXPECT_EQ(bank.total(v), std::uint64_t{Bank::kAccounts} * Bank::kStart);
      }
    });
    std::vector<std::thread> producers;
    std::atomic<std::uint64_t> ok{0};
    for (int p = 0; p < 3; ++p) {
      producers.emplace_back([&, p] {
        std::mt19937 rng(p + 100);
        std::vector<CommitTicket> tickets;
        for (int i = 0; i < 300; ++i) {
          tickets.push_back(bank.db->submit(bank.transfer(bank.accounts[rng() % Bank::kAccounts],
                                                          bank.accounts[rng() % Bank::kAccounts], rng() % 100)));
        }
        for (auto& t : tickets) {
          if (t.wait().is_ok()) ok.fetch_add(1);
        }
      });
    }
    for (auto& t : producers) t.join();
    stop = true;
    reader.join();
    acked_total = ok.load();
    EXPECT_GT(acked_total, 0u);
    EXPECT_TRUE(bank.db->health().is_ok());
    fs->simulate_crash();  // every acknowledged transfer must survive
  }
  auto db = std::move(Database::open(test_schema(), o).value());
  std::uint64_t sum = 0;
  db->pin().each<Health>([&](Entity, const Health& h) { sum += h.hp; });
  EXPECT_EQ(sum, std::uint64_t{Bank::kAccounts} * Bank::kStart) << "no transfer half-applied after the crash";
}


// Snapshots from one thread and waits for their retention from another, while producers commit through the
// writer thread (TSan in CI): the maintenance thread retires covered segments and old snapshots under
// live logging, and a crash afterwards still recovers a consistent bank from what is left.
TEST(DurableQueueTest, SnapshotsAndBackgroundRetentionUnderConcurrentCommits) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  DatabaseOptions o;
  o.data_dir = "/data";
  o.file_system = fs;
  o.durability = Durability::kSync;
  o.wal_segment_bytes = 64 * 1024;  // segments fill and roll while the snapshots run
  o.snapshot_every_wal_bytes = 0;
  o.keep_snapshots = 1;
  o.wal_retention = WalRetention::kDelete;
  {
    Bank bank(o);
    ASSERT_TRUE(bank.db->start_writer_thread().is_ok());
    std::atomic<bool> stop{false}, produced{false};
    std::atomic<int> snapshots{0};
    std::thread snapshotter([&] {  // snapshots for as long as the producers run
      while (!produced.load() || snapshots.load() < 3) {
        EXPECT_TRUE(bank.db->snapshot().is_ok());
        snapshots.fetch_add(1);
      }
    });
    std::thread waiter([&] {
      while (!stop.load()) {
        EXPECT_TRUE(bank.db->wait_for_retention().is_ok());
        std::this_thread::yield();
      }
    });
    std::vector<std::thread> producers;
    for (int p = 0; p < 2; ++p) {
      producers.emplace_back([&, p] {
        std::mt19937 rng(p + 200);
        std::vector<CommitTicket> tickets;
        for (int i = 0; i < 300; ++i) {
          tickets.push_back(bank.db->submit(bank.transfer(bank.accounts[rng() % Bank::kAccounts],
                                                          bank.accounts[rng() % Bank::kAccounts], rng() % 100)));
        }
        for (auto& t : tickets) t.wait().ignore();
      });
    }
    for (auto& t : producers) t.join();
    produced = true;
    snapshotter.join();
    stop = true;
    waiter.join();
    ASSERT_TRUE(bank.db->snapshot().is_ok());
    ASSERT_TRUE(bank.db->wait_for_retention().is_ok());
    EXPECT_EQ(fs->list("/data/snapshots").value().size(), 1u) << "keep_snapshots = 1";
    EXPECT_EQ(fs->list("/data/wal").value().size(), 1u) << "an idle log rolled; every covered segment retired";
    EXPECT_TRUE(fs->list("/data/archive").value().empty()) << "kDelete archives nothing";
    EXPECT_TRUE(bank.db->health().is_ok());
    fs->simulate_crash();
  }
  auto db = std::move(Database::open(test_schema(), o).value());
  std::uint64_t sum = 0;
  db->pin().each<Health>([&](Entity, const Health& h) { sum += h.hp; });
  EXPECT_EQ(sum, std::uint64_t{Bank::kAccounts} * Bank::kStart);
}

}  // namespace
}  // namespace ecsdb::testing
