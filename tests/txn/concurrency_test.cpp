// Readers pin versions while the writer commits: every pinned view must satisfy invariants that every
// transaction preserves (no torn reads, no partial transactions). Run under TSan by `make test-tsan`.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <vector>
#include <thread>

#include "support/test_schema.hpp"

namespace ecsdb::testing {
namespace {

// `n` entities with `start` health, committed in one transaction (empty when that fails).
std::vector<Entity> accounts(WriterHandle& w, std::uint32_t n, Health start) {
  std::vector<Entity> es;
  Transaction t = w.begin();
  if (!t.create_many(n, es).is_ok()) return {};
  for (auto e : es) {
    if (!t.add(e, start).is_ok()) return {};
  }
  return t.commit().is_ok() ? es : std::vector<Entity>{};
}

TEST(ConcurrencyTest, ReadersAlwaysSeeWholeTransactions) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  constexpr std::uint32_t kEntities = 256;
  constexpr std::uint32_t kTotal = 1000 * kEntities;
  const std::vector<Entity> es = accounts(w, kEntities, Health{1000, 1000});
  ASSERT_EQ(es.size(), kEntities);

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> views_checked{0};
  std::atomic<std::uint64_t> violations{0};
  auto reader = [&] {
    std::uint64_t last_version = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      PinnedView view = db->pin();
      if (view.version() < last_version) violations.fetch_add(1);  // versions never go backwards
      last_version = view.version();
      // Invariant 1: hp is conserved by every transaction (it moves between entities).
      std::uint64_t total = 0;
      view.each<Health>([&](Entity, const Health& h) {
        total += h.hp;
        // Invariant 2: both fields of a row are written together.
        if (h.max_hp != 1000) violations.fetch_add(1);
      });
      if (total != kTotal) violations.fetch_add(1);
      views_checked.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(reader);

  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    const Entity from = es[rng() % kEntities];
    const Entity to = es[rng() % kEntities];
    if (from == to) continue;
    Transaction t = w.begin();
    const Health a = *t.get<Health>(from);
    const Health b = *t.get<Health>(to);
    const std::uint32_t amount = a.hp == 0 ? 0 : rng() % a.hp;
    ASSERT_TRUE(t.update(from, Health{a.hp - amount, 1000}).is_ok());
    ASSERT_TRUE(t.update(to, Health{b.hp + amount, 1000}).is_ok());
    if (i % 10 == 0) {
      t.rollback();
    } else {
      ASSERT_TRUE(t.commit().is_ok());
    }
  }
  // Let readers observe the final state at least once.
  const std::uint64_t seen = views_checked.load();
  while (views_checked.load() < seen + 3) std::this_thread::yield();
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(violations.load(), 0u);
  EXPECT_GT(views_checked.load(), 3u);
  EXPECT_EQ(db->metrics().pinned_views, 0u);
}

// A subscriber sleeping in wait_for is woken by every publish and misses none of them, whether the
// writer delivers while it spins, while it falls asleep, or while it sleeps; with nothing published it
// times out.
TEST(ConcurrencyTest, SubscriberWaitForWakesOnEveryPublish) {
  auto db = Database::open(test_schema()).value();
  Subscription sub = db->subscribe({.tables = {"health"}, .capacity = 1 << 16}).value();
  EXPECT_FALSE(sub.wait_for(std::chrono::milliseconds(2)));
  WriterHandle& w = db->writer();
  const Entity e = w.create().value();
  ASSERT_TRUE(w.add(e, Health{0, 0}).is_ok());
  std::vector<std::shared_ptr<const Delta>> got;
  ASSERT_TRUE(sub.wait_for(std::chrono::seconds(5)));
  sub.poll(got);
  constexpr std::uint32_t kUpdates = 2000;
  std::atomic<std::size_t> received{0};
  std::thread reader([&] {
    std::vector<std::shared_ptr<const Delta>> batch;
    while (received.load() < kUpdates) {
      if (!sub.wait_for(std::chrono::seconds(5))) break;  // a missed wake-up shows as a 5 s stall, then a failure
      batch.clear();
      received.fetch_add(sub.poll(batch));
    }
  });
  std::mt19937 rng(3);
  for (std::uint32_t i = 1; i <= kUpdates; ++i) {
    ASSERT_TRUE(w.update(e, Health{i, i}).is_ok());
    if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300));  // let it fall asleep
  }
  reader.join();
  EXPECT_EQ(received.load(), kUpdates);
}

// Ticket holders that spin, fall asleep or sleep while the writer resolves their ticket are all woken:
// the writer wakes sleepers only when one announced itself, so a missed wake-up would hang a waiter here
// (the test then fails by its timeout).
TEST(ConcurrencyTest, TicketWaitersAreWokenWhetherTheySpinOrSleep) {
  auto db = Database::open(test_schema()).value();
  WriterHandle& w = db->writer();
  const Entity e = w.create().value();
  ASSERT_TRUE(w.add(e, Health{0, 0}).is_ok());
  std::mt19937 rng(11);
  for (std::uint32_t round = 1; round <= 200; ++round) {
    CommitTicket ticket = db->submit([e, round](Transaction& t) { return t.set(e, &Health::hp, round); });
    std::vector<std::thread> waiters;
    std::atomic<int> ok{0};
    for (int i = 0; i < 3; ++i) {
      waiters.emplace_back([&ticket, &ok] {
        if (ticket.wait().is_ok()) ok.fetch_add(1);
      });
    }
    // Resolve at once (waiters still spinning), a little later (falling asleep) or much later (asleep).
    const std::uint32_t delay_us = rng() % 3 == 0 ? 0 : rng() % 3 == 1 ? rng() % 200 : 2000;
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    ASSERT_EQ(w.drain(), 1u);
    for (std::thread& t : waiters) t.join();
    EXPECT_EQ(ok.load(), 3) << "round " << round;
    EXPECT_EQ(db->pin().get<Health>(e)->hp, round);
  }
}

// Several commits published as one version (a game tick, or a batch of queued transactions): a subscriber
// polling while the writer publishes must get every delta of a version in the same poll (a relay merges a
// version's deltas, and drops a later part of a version it already sent).
TEST(ConcurrencyTest, ASubscriberGetsAllDeltasOfAVersionAtOnce) {
  auto db = Database::open(test_schema(), DatabaseOptions{.publish_every_commits = 0}).value();
  Subscription sub = db->subscribe({.capacity = 1 << 16}).value();
  constexpr int kVersions = 300, kCommitsPerVersion = 20;
  std::atomic<bool> done{false};
  std::atomic<int> split{0};
  std::atomic<std::size_t> deltas{0};
  std::thread reader([&] {
    std::vector<std::shared_ptr<const Delta>> batch;
    std::uint64_t last = 0;  // version of the last delta of the previous poll
    for (;;) {
      const bool finished = done.load();
      batch.clear();
      sub.poll(batch);  // busy: polls as often as it can, to land between two deltas of a version if it may
      deltas.fetch_add(batch.size());
      if (!batch.empty() && batch.front()->version == last) split.fetch_add(1);
      if (!batch.empty()) last = batch.back()->version;
      if (finished && batch.empty()) break;
    }
  });
  WriterHandle& w = db->writer();
  for (int v = 0; v < kVersions; ++v) {
    for (int c = 0; c < kCommitsPerVersion; ++c) ASSERT_TRUE(w.create().has_value());
    w.publish();
  }
  done = true;
  reader.join();
  EXPECT_EQ(split.load(), 0) << "a version's deltas were split across two polls";
  EXPECT_EQ(deltas.load(), static_cast<std::size_t>(kVersions * kCommitsPerVersion));
}

TEST(ConcurrencyTest, LongHeldViewSurvivesManyCommits) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(2000, es).is_ok());
  for (std::uint32_t i = 0; i < es.size(); ++i) ASSERT_TRUE(w.add(es[i], Health{i, i}).is_ok());
  std::atomic<bool> done{false};
  std::atomic<bool> pinned{false};
  std::thread holder([&] {
    PinnedView view = db->pin();
    pinned = true;
    const std::uint64_t v = view.version();
    const auto health = view.reader<Health>();  // copies of the pinned version's states
    while (!done.load()) {
      for (std::uint32_t i = 0; i < es.size(); i += 25) {
        const Health* h = view.get<Health>(es[i]);
        if (h == nullptr || h->hp != i) ADD_FAILURE() << "pinned data changed";
        if (health.get(es[i]) != h) ADD_FAILURE() << "the view's reader and get disagree";
      }
    }
    EXPECT_EQ(view.version(), v);
  });
  while (!pinned.load()) std::this_thread::yield();
  for (int round = 0; round < 200; ++round) {
    for (std::uint32_t i = 0; i < es.size(); i += 50) ASSERT_TRUE(w.update(es[i], Health{0, 0}).is_ok());
  }
  done = true;
  holder.join();
}

// Many more views than reader slots, pinned and released in a scrambled order by several threads while the
// writer publishes a version per transaction: pins past the slots go through the overflow path, and the
// reclaimer frees pages between the pinned versions (interval reclamation). Every view must still see a
// whole, unchanged state — a page freed too early shows up as a wrong total here and as a data race under
// TSan (the writer reuses freed pages at once).
TEST(ConcurrencyTest, ViewsPastTheReaderSlotsStayIntactWhileTheWriterReclaims) {
  DatabaseOptions options;
  options.reader_slots = 4;
  auto db = std::move(Database::open(test_schema(), options).value());
  WriterHandle& w = db->writer();
  constexpr std::uint32_t kEntities = 3000;  // two rows pages: transfers touch one or both
  constexpr std::uint64_t kTotal = 100ull * kEntities;
  const std::vector<Entity> es = accounts(w, kEntities, Health{100, 7});
  ASSERT_EQ(es.size(), kEntities);

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> views_checked{0};
  std::atomic<std::uint64_t> violations{0};
  auto total_of = [&](const PinnedView& view) {
    std::uint64_t total = 0;
    view.each<Health>([&](Entity, const Health& h) {
      total += h.hp;
      if (h.max_hp != 7) violations.fetch_add(1);
    });
    return total;
  };
  auto reader = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<PinnedView> held;
    while (!stop.load(std::memory_order_relaxed)) {
      // Hold six views at once (more than all the slots, so this thread alone reaches the overflow path),
      // checking the older ones again as the writer moves on.
      while (held.size() < 6) held.push_back(db->pin());
      for (const PinnedView& v : held) {
        if (total_of(v) != kTotal) violations.fetch_add(1);
      }
      views_checked.fetch_add(held.size(), std::memory_order_relaxed);
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(rng() % held.size()));
      if (rng() % 3 == 0) held.erase(held.begin() + static_cast<std::ptrdiff_t>(rng() % held.size()));
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < 3; ++i) threads.emplace_back(reader, 100 + i);
  threads.emplace_back([&] {  // metrics() takes no pin: it must work with every slot taken
    while (!stop.load(std::memory_order_relaxed)) {
      const DatabaseMetrics m = db->metrics();
      if (m.pinned_views > 18) violations.fetch_add(1);  // three readers, six views each at most
      std::this_thread::yield();
    }
  });

  std::mt19937 rng(9);
  for (int i = 0; i < 1500; ++i) {
    // Every 25 transactions, let the readers check a few views: a fast writer would otherwise finish
    // before they pin anything (a progress handshake, not a timing assumption).
    if (i % 25 == 0) {
      const std::uint64_t checked = views_checked.load();
      while (views_checked.load() < checked + 6) std::this_thread::yield();
    }
    const Entity from = es[rng() % kEntities];
    const Entity to = es[rng() % kEntities];
    if (from == to) continue;
    Transaction t = w.begin();
    const Health a = *t.get<Health>(from);
    const Health b = *t.get<Health>(to);
    const std::uint32_t amount = a.hp == 0 ? 0 : rng() % (a.hp + 1);
    ASSERT_TRUE(t.update(from, Health{a.hp - amount, 7}).is_ok());
    ASSERT_TRUE(t.update(to, Health{b.hp + amount, 7}).is_ok());
    ASSERT_TRUE(t.commit().is_ok());  // publishes and reclaims
  }
  const std::uint64_t seen = views_checked.load();
  while (views_checked.load() < seen + 18) std::this_thread::yield();
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(violations.load(), 0u);
  const DatabaseMetrics m = db->metrics();
  EXPECT_EQ(m.pinned_views, 0u);
  EXPECT_GT(m.overflow_pins_total, 0u);
  const Health first = *db->pin().get<Health>(es[0]);
  ASSERT_TRUE(w.update(es[0], first).is_ok());  // one more publish, with no view held, reclaims all
  EXPECT_EQ(db->metrics().retired_bytes, 0u);
}

// The writer shrinks a table (removes the rows at its end) and regrows it (adds rows for other entities)
// with a publish per commit, while readers hold views across many of those publishes. A view of an older,
// longer version still reads the rows past the current row count, so the writer may not append into them
// in place (TableState::shared_rows, storage/table_ops.cpp "Rows no view can see"). Each view checksums its
// rows twice, publishes apart: an in-place write to a row it can see shows up as a changed checksum here
// and as a data race under TSan.
TEST(ConcurrencyTest, AppendsReuseNoRowAHeldViewCanStillSee) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  constexpr std::uint32_t kEntities = 3000;  // two rows pages of Health
  constexpr std::uint32_t kChurn = 400;      // the churn pool: entities whose rows come and go at the end
  constexpr int kRounds = 40;
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(kEntities, es).is_ok());
  for (std::uint32_t i = 0; i < kEntities - kChurn; ++i) ASSERT_TRUE(w.add(es[i], Health{i, i}).is_ok());

  std::atomic<bool> stop{false};
  std::atomic<int> round{0};              // the writer's round
  std::atomic<int> pinned_in_round{-1};   // the last round in which a reader pinned a view
  std::atomic<std::uint64_t> views_checked{0};
  std::atomic<std::uint64_t> violations{0};
  auto checksum = [](const PinnedView& view) {
    std::uint64_t sum = 0;
    view.each<Health>([&](Entity e, const Health& h) {
      sum = sum * 1'000'003 + (std::uint64_t{e.index()} << 32 | h.hp) + h.max_hp;
    });
    return sum;
  };
  auto reader = [&] {
    while (!stop.load()) {
      PinnedView view = db->pin();
      const int r = round.load();
      const std::uint64_t before = checksum(view);
      pinned_in_round.store(r);
      // Hold the view across the round's shrink and regrow of the table.
      while (!stop.load() && round.load() == r) std::this_thread::yield();
      if (checksum(view) != before) violations.fetch_add(1);
      views_checked.fetch_add(1);
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) readers.emplace_back(reader);

  // Each round starts once a reader holds a view of the table at its longest (a progress handshake, not a
  // timing assumption). The churned entities of the last round then lose their rows, last row first, so
  // that each removal only shortens the table and the rows page stays the one that view reads; and the
  // other half of the pool gains rows, with values of this round, over the same rows.
  std::uint32_t value = 1'000'000;
  for (int r = 0; r < kRounds; ++r) {
    while (pinned_in_round.load() < r) std::this_thread::yield();
    const std::uint32_t gaining = r % 2 == 0 ? kEntities - kChurn : kEntities - kChurn / 2;
    const std::uint32_t losing = r % 2 == 0 ? kEntities - kChurn / 2 : kEntities - kChurn;
    for (std::uint32_t i = kChurn / 2; r > 0 && i > 0; --i) {
      ASSERT_TRUE(w.remove<Health>(es[losing + i - 1]).is_ok());
    }
    for (std::uint32_t i = 0; i < kChurn / 2; ++i) {
      ++value;
      ASSERT_TRUE(w.add(es[gaining + i], Health{value, value}).is_ok());
    }
    round.store(r + 1);
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(violations.load(), 0u);
  EXPECT_GE(views_checked.load(), static_cast<std::uint64_t>(kRounds));
  const PinnedView view = db->pin();
  EXPECT_EQ(view.count<Health>(), kEntities - kChurn / 2);
}

// Adds of entities off the identity run, with a publish per commit: each writes its key's sparse slot in
// place, in a page the published versions share, since every view reads "no row" there before and after
// (storage/table_ops.cpp, "Slots no view can see"). Readers look the entities up meanwhile, through
// has, get and get_many: each view must find exactly its own rows (as many as its count) with their
// values. A slot store a view could read as a row shows up here as a miscount, and a store or load that
// is not atomic as a data race under TSan.
TEST(ConcurrencyTest, SlotsWrittenInPlaceReadNoRowToTheViewsThatShareThem) {
  auto db = std::move(Database::open(test_schema()).value());
  WriterHandle& w = db->writer();
  constexpr std::uint32_t kEntities = 3000;
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(kEntities, es).is_ok());
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> views_checked{0};
  std::atomic<std::uint64_t> violations{0};
  auto reader = [&] {
    std::vector<const Health*> found(es.size());
    while (!stop.load()) {
      const PinnedView view = db->pin();
      const std::size_t count = view.count<Health>();
      std::size_t has = 0;
      std::size_t got = 0;
      for (const Entity e : es) {
        has += view.has<Health>(e) ? 1 : 0;
        const Health* h = view.get<Health>(e);
        if (h != nullptr && h->hp == e.index()) ++got;
      }
      view.get_many<Health>(es, found);
      const auto many = static_cast<std::size_t>(std::count_if(found.begin(), found.end(), [](const Health* h) { return h != nullptr; }));
      if (has != count || got != count || many != count) violations.fetch_add(1);
      views_checked.fetch_add(1);
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) readers.emplace_back(reader);
  for (int round = 0; round < 3; ++round) {
    // Last index first: no add continues the run, so each needs its slot.
    for (std::uint32_t i = kEntities; i-- > 0;) ASSERT_TRUE(w.add(es[i], Health{i, 1}).is_ok());
    while (views_checked.load() < static_cast<std::uint64_t>(round + 1) * 4) std::this_thread::yield();
    for (std::uint32_t i = kEntities; i-- > 0;) ASSERT_TRUE(w.remove<Health>(es[i]).is_ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(violations.load(), 0u);
  EXPECT_GE(views_checked.load(), 12u);
}

}  // namespace
}  // namespace ecsdb::testing
