// What a held PinnedView costs, seen through the public API: a view keeps the pages of its own version
// only, every view reads its own values however many are held, and views beyond the reader slots neither
// hang nor lose their data. Run under ASan by `make test`, where the page pool poisons freed blocks, so a
// page freed too early is reported on the read that follows.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "support/test_schema.hpp"

namespace ecsdb::testing {
namespace {

// One rows page of the health table (8-byte rows, 16 KiB pages) with its 64-byte header.
constexpr std::uint64_t kHealthPageBytes = 16 * 1024 + 64;

std::unique_ptr<Database> open_db(DatabaseOptions options = {}) {
  return std::move(Database::open(test_schema(), std::move(options)).value());
}

TEST(ViewMemoryTest, HeldViewKeepsOnlyThePagesOfItsOwnVersion) {
  auto db = open_db();
  WriterHandle& w = db->writer();
  const Entity e = w.create().value();
  ASSERT_TRUE(w.add(e, Health{7, 7}).is_ok());
  PinnedView held = db->pin();
  for (std::uint32_t i = 0; i < 1000; ++i) ASSERT_TRUE(w.update(e, Health{i, 100}).is_ok());  // 1000 publishes

  const DatabaseMetrics m = db->metrics();
  EXPECT_EQ(m.published_version, held.version() + 1000);
  // The held version's rows page and directory, not one page per intermediate version (~16 MiB).
  EXPECT_GT(m.retired_bytes, 0u) << "the held view's page must be kept";
  EXPECT_LT(m.retired_bytes, 2 * kHealthPageBytes) << "intermediate versions' pages were kept";
  ASSERT_NE(held.get<Health>(e), nullptr);
  EXPECT_EQ(held.get<Health>(e)->hp, 7u) << "the held view still reads its own value";
  EXPECT_EQ(db->pin().get<Health>(e)->hp, 999u);
}

TEST(ViewMemoryTest, ViewsAtManyVersionsEachReadTheirOwnValues) {
  auto db = open_db();
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(5000, es).is_ok());  // three rows pages of health
  {
    Transaction t = w.begin();
    for (std::uint32_t i = 0; i < es.size(); ++i) ASSERT_TRUE(t.add(es[i], Health{0, i}).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  }
  struct Held {
    PinnedView view;
    std::uint32_t round;
  };
  std::vector<Held> held;
  // Round r sets hp = r on a few rows spread over every page; a view is taken every 7th round.
  auto update_round = [&](std::uint32_t r) {
    Transaction t = w.begin();
    for (std::uint32_t i = r % 10; i < es.size(); i += 10) ASSERT_TRUE(t.update(es[i], Health{r, i}).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  };
  // The value row i has after round r (rows untouched since the first round still hold 0).
  // The value row i has after round r: rows are updated in the rounds congruent to i mod 10, and hold 0
  // before their first one.
  auto expected_hp = [](std::uint32_t i, std::uint32_t r) -> std::uint32_t {
    const std::uint32_t k = i % 10;
    return r < k ? 0 : r - (r - k) % 10;
  };
  auto check = [&](const Held& h) {
    for (std::uint32_t i = 0; i < es.size(); i += 37) {
      const Health* row = h.view.get<Health>(es[i]);
      ASSERT_NE(row, nullptr);
      ASSERT_EQ(row->hp, expected_hp(i, h.round)) << "view of round " << h.round << ", row " << i;
      ASSERT_EQ(row->max_hp, i);
    }
  };
  std::uint32_t round = 1;
  for (; round <= 120; ++round) {
    update_round(round);
    if (round % 7 == 0) held.push_back({db->pin(), round});
  }
  for (const Held& h : held) check(h);
  // Release in a scrambled order, with more rounds between releases; the survivors keep their values.
  std::mt19937 rng(11);
  std::shuffle(held.begin(), held.end(), rng);
  while (!held.empty()) {
    held.pop_back();
    update_round(round++);
    update_round(round++);
    for (const Held& h : held) check(h);
    // Each held version keeps at most its own three rows pages and directory.
    const DatabaseMetrics m = db->metrics();
    EXPECT_LE(m.retired_bytes, held.size() * 4 * kHealthPageBytes);
  }
  update_round(round++);
  EXPECT_EQ(db->metrics().retired_bytes, 0u);
}

// Issue 10: with every slot taken, pin() spun forever, and metrics() (which pinned) hung with it.
TEST(ViewMemoryTest, ViewsPastTheReaderSlotsNeitherHangNorLoseTheirData) {
  DatabaseOptions options;
  options.reader_slots = 4;
  auto db = open_db(options);
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  ASSERT_TRUE(w.create_many(3000, es).is_ok());
  for (std::uint32_t i = 0; i < es.size(); ++i) ASSERT_TRUE(w.add(es[i], Health{0, i}).is_ok());

  struct Held {
    PinnedView view;
    std::uint32_t hp;  // what every row read through the view holds
  };
  std::vector<Held> held;
  auto set_all = [&](std::uint32_t hp) {
    Transaction t = w.begin();
    for (std::uint32_t i = 0; i < es.size(); ++i) ASSERT_TRUE(t.update(es[i], Health{hp, i}).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
  };
  for (std::uint32_t k = 1; k <= 16; ++k) {  // 4x the slots, each view at its own version
    set_all(k);
    held.push_back({db->pin(), k});
  }
  DatabaseMetrics m = db->metrics();
  EXPECT_EQ(m.pinned_views, 16u);
  EXPECT_EQ(m.overflow_views, 12u);
  EXPECT_EQ(m.overflow_pins_total, 12u);
  EXPECT_EQ(m.oldest_pinned_version, held.front().view.version());
  EXPECT_EQ(m.entities_alive, es.size());

  auto check = [&](const Held& h) {
    for (std::uint32_t i = 0; i < es.size(); i += 101) {
      const Health* row = h.view.get<Health>(es[i]);
      ASSERT_NE(row, nullptr);
      ASSERT_EQ(row->hp, h.hp);
      ASSERT_EQ(row->max_hp, i);
    }
    ASSERT_TRUE(h.view.read_field("health", es[7], "hp").has_value());
  };
  std::mt19937 rng(5);
  std::shuffle(held.begin(), held.end(), rng);
  std::uint32_t next_hp = 100;
  while (!held.empty()) {
    held.pop_back();
    set_all(next_hp++);  // publish and reclaim
    for (const Held& h : held) check(h);
    m = db->metrics();
    EXPECT_EQ(m.pinned_views, held.size());
  }
  set_all(next_hp);
  m = db->metrics();
  EXPECT_EQ(m.overflow_views, 0u);
  EXPECT_EQ(m.retired_bytes, 0u);
}

std::atomic<std::uint64_t> g_now_ms{50'000};
std::uint64_t fake_clock_ms() noexcept { return g_now_ms.load(); }

TEST(ViewMemoryTest, AViewPastTheMaxAgeIsReportedAndItsDynamicAccessorsFail) {
  DatabaseOptions options;
  options.max_view_age_ms = 1000;
  options.invalidate_expired_views = true;
  options.view_clock_ms = &fake_clock_ms;
  auto db = open_db(options);
  WriterHandle& w = db->writer();
  const Entity e = w.create().value();
  ASSERT_TRUE(w.add(e, Health{3, 4}).is_ok());

  g_now_ms = 50'000;
  PinnedView view = db->pin();
  EXPECT_TRUE(view.status().is_ok());
  g_now_ms = 50'999;
  EXPECT_TRUE(view.read_row("health", e).has_value()) << "not over the age yet";
  ASSERT_TRUE(w.update(e, Health{5, 6}).is_ok());
  DatabaseMetrics m = db->metrics();
  EXPECT_EQ(m.views_over_max_age, 0u);
  EXPECT_EQ(m.oldest_view_age_ms, 999u);

  g_now_ms = 51'500;
  m = db->metrics();
  EXPECT_EQ(m.views_over_max_age, 1u);
  EXPECT_EQ(m.oldest_view_age_ms, 1500u);
  const Status s = view.status();
  EXPECT_EQ(s.code(), StatusCode::kAborted);
  EXPECT_NE(s.message().find("version " + std::to_string(view.version())), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("1500 ms"), std::string::npos) << s.message();
  EXPECT_EQ(view.read_row("health", e).status().code(), StatusCode::kAborted);
  EXPECT_EQ(view.read_field("health", e, "hp").status().code(), StatusCode::kAborted);
  EXPECT_EQ(view.keys("health").status().code(), StatusCode::kAborted);
  EXPECT_EQ(view.children("item", e).status().code(), StatusCode::kAborted);
  // Memory stays safe: the pages are still held (reclaimed only after release), typed reads still work.
  EXPECT_GT(m.retired_bytes, 0u);
  EXPECT_EQ(view.get<Health>(e)->hp, 3u);

  PinnedView fresh = db->pin();
  EXPECT_TRUE(fresh.status().is_ok()) << "a new pin starts a new age";
  EXPECT_EQ(fresh.read_field("health", e, "hp").value().uinteger, 5u);
  view = std::move(fresh);  // releases the expired view
  ASSERT_TRUE(w.update(e, Health{7, 8}).is_ok());
  m = db->metrics();
  EXPECT_EQ(m.views_over_max_age, 0u);
  EXPECT_EQ(m.pinned_views, 1u);
  EXPECT_LE(m.retired_bytes, 2 * kHealthPageBytes);
}

TEST(ViewMemoryTest, WithoutInvalidationAnOldViewIsOnlyReported) {
  DatabaseOptions options;
  options.max_view_age_ms = 10;
  options.view_clock_ms = &fake_clock_ms;
  auto db = open_db(options);
  const Entity e = db->writer().create().value();
  ASSERT_TRUE(db->writer().add(e, Health{3, 4}).is_ok());
  g_now_ms = 10'000;
  PinnedView view = db->pin();
  g_now_ms = 20'000;
  EXPECT_TRUE(view.status().is_ok());
  EXPECT_TRUE(view.read_row("health", e).has_value());
  EXPECT_EQ(db->metrics().views_over_max_age, 1u);
  EXPECT_EQ(db->metrics().oldest_view_age_ms, 10'000u);
}

TEST(ViewMemoryTest, ViewAgesAreNotTrackedByDefault) {
  auto db = open_db();
  PinnedView view = db->pin();
  EXPECT_EQ(db->metrics().oldest_view_age_ms, 0u);
  EXPECT_TRUE(view.status().is_ok());
  PinnedView moved = std::move(view);
  EXPECT_EQ(view.status().code(), StatusCode::kInvalidArgument);  // NOLINT(bugprone-use-after-move)
}

// A spike: views held at 40 successive versions of a table rewritten in full each time retire 40 copies
// of its pages; once the views go, those pages are free, and with a bound the pool returns their slabs.
DatabaseMetrics after_spike(std::uint64_t pool_max_idle_bytes) {
  DatabaseOptions options;
  options.pool_max_idle_bytes = pool_max_idle_bytes;
  auto db = open_db(options);
  WriterHandle& w = db->writer();
  std::vector<Entity> es;
  EXPECT_TRUE(w.create_many(50'000, es).is_ok());
  auto set_all = [&](std::uint32_t hp) {
    Transaction t = w.begin();
    for (const Entity e : es) EXPECT_TRUE(t.put(e, Health{hp, hp}).is_ok());
    EXPECT_TRUE(t.commit().is_ok());
  };
  set_all(0);
  {
    std::vector<PinnedView> views;
    for (std::uint32_t k = 1; k <= 40; ++k) {
      set_all(k);
      views.push_back(db->pin());
    }
    EXPECT_GT(db->metrics().retired_bytes, 39 * 25 * kHealthPageBytes);
  }
  set_all(99);  // publish: reclaims the spike
  return db->metrics();
}

TEST(ViewMemoryTest, ThePoolReturnsASpikeToTheSystemPastItsBound) {
  const DatabaseMetrics kept = after_spike(UINT64_MAX);
  const DatabaseMetrics returned = after_spike(0);
  EXPECT_EQ(kept.retired_bytes, 0u);
  EXPECT_EQ(returned.retired_bytes, 0u);
  EXPECT_GT(kept.bytes_pooled, 39 * 25 * kHealthPageBytes) << "without a bound every freed page is kept";
  EXPECT_EQ(kept.bytes_released_total, 0u);
  EXPECT_GE(returned.bytes_released_total, 8u << 20) << "whole slabs of the spike went back";
  EXPECT_LT(returned.bytes_pooled, kept.bytes_pooled / 2);
}

}  // namespace
}  // namespace ecsdb::testing
