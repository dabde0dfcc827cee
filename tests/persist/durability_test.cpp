// Durability: reopen, snapshots + compaction, crashes (fault-injecting file system), fsync failure,
// torn tails at every byte, corruption reports, snapshot fallback, missing segments.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <cstring>

#include "persist/snapshot.hpp"
#include "persist/wal_format.hpp"
#include "support/fault_injection_file_system.hpp"
#include "support/table_checks.hpp"
#include "support/temp_dir.hpp"
#include "support/test_schema.hpp"

namespace ecsdb::testing {
namespace {

DatabaseOptions durable(std::string dir, std::shared_ptr<FileSystem> fs = nullptr) {
  DatabaseOptions o;
  o.data_dir = std::move(dir);
  o.durability = Durability::kSync;
  o.file_system = std::move(fs);
  o.snapshot_every_wal_bytes = 0;  // tests take snapshots explicitly
  o.wal_segment_bytes = 256 * 1024;  // the in-memory fault file system copies whole files at each sync
  return o;
}

std::unique_ptr<Database> open_ok(const DatabaseOptions& o) {
  auto db = Database::open(test_schema(), o);
  EXPECT_TRUE(db.has_value()) << db.status().to_string();
  return db ? std::move(*db) : nullptr;
}

// hp of every entity with Health, keyed by entity bits.
std::map<std::uint64_t, std::uint32_t> health_of(Database& db) {
  std::map<std::uint64_t, std::uint32_t> out;
  db.pin().each<Health>([&](Entity e, const Health& h) { out[e.bits()] = h.hp; });
  return out;
}

TEST(DurabilityTest, ReopenRestoresEverything) {
  TempDir dir;
  std::map<std::uint64_t, std::uint32_t> before;
  Entity dead, kept;
  RowId item;
  {
    auto db = open_ok(durable(dir.path()));
    WriterHandle& w = db->writer();
    std::vector<Entity> es;
    ASSERT_TRUE(w.create_many(100, es).is_ok());
    for (std::uint32_t i = 0; i < es.size(); ++i) ASSERT_TRUE(w.add(es[i], Health{i, 100}).is_ok());
    ASSERT_TRUE(w.add(es[1], Player{7, "ann"}).is_ok());
    item = w.insert_child(es[2], Item{3, 4}).value();
    dead = es[0];
    ASSERT_TRUE(w.destroy(dead).is_ok());
    kept = w.create().value();  // reuses index 0 with a bumped generation
    ASSERT_EQ(kept.index(), dead.index());
    ASSERT_TRUE(db->flush().is_ok());
    before = health_of(*db);
  }
  auto db = open_ok(durable(dir.path()));
  PinnedView v = db->pin();
  EXPECT_EQ(health_of(*db), before);
  EXPECT_FALSE(v.alive(dead)) << "generations survive a restart: stale ids stay stale";
  EXPECT_TRUE(v.alive(kept));
  EXPECT_EQ(v.read_field("player", Entity(1, 1), "name").value().string, "ann");
  auto kids = v.children("item", Entity(2, 1)).value();
  ASSERT_EQ(kids.size(), 1u);
  EXPECT_EQ(kids[0], item);
  // Unique index rebuilt: a duplicate is still refused after recovery.
  const Entity e = db->writer().create().value();
  EXPECT_EQ(db->writer().add(e, Player{1, "ann"}).code(), StatusCode::kConstraintViolation);
}

// The snapshot loader recomputes TableState::identity_rows from the keys it loads (the joins trust it):
// the run of rows in entity order, and not one row past its end. It stores no key page the run covers
// whole (TableState::keys), and the snapshot writer writes the keys such pages imply.
TEST(DurabilityTest, SnapshotLoadRecomputesTheRunOfRowsInEntityOrder) {
  TempDir dir;
  std::map<std::uint64_t, std::uint32_t> joined;
  {
    auto db = open_ok(durable(dir.path()));
    WriterHandle& w = db->writer();
    std::vector<Entity> es;
    ASSERT_TRUE(w.create_many(3000, es).is_ok());
    for (std::uint32_t i = 0; i < es.size(); ++i) {
      ASSERT_TRUE(w.add(es[i], Transform{float(i), 0, 0}).is_ok());
      ASSERT_TRUE(w.add(es[i], Health{i, 0}).is_ok());
    }
    ASSERT_TRUE(w.remove<Health>(es[2500]).is_ok());  // the last row moves to 2500: the run ends there
    ASSERT_TRUE(db->snapshot().is_ok());
    db->pin().each<Transform, Health>([&](Entity e, const Transform& t, const Health& h) {
      EXPECT_EQ(std::uint32_t(t.x), h.hp);
      joined[e.bits()] = h.hp;
    });
  }
  auto db = open_ok(durable(dir.path()));
  const PinnedView v = db->pin();
  EXPECT_EQ(v.state().tables[detail::table_of<Transform>(*db)].identity_rows, 3000u);
  EXPECT_EQ(v.state().tables[detail::table_of<Health>(*db)].identity_rows, 2500u);
  const detail::TableState& transforms = v.state().tables[detail::table_of<Transform>(*db)];
  const detail::TableState& healths = v.state().tables[detail::table_of<Health>(*db)];
  EXPECT_EQ(present_key_pages(transforms), 0u) << "2,048 keys to a page: rows 0..2999 are all in the run";
  EXPECT_EQ(present_key_pages(healths), 1u) << "the page of rows 2048..2998 holds rows past the run";
  EXPECT_EQ(expect_keys_match_run(transforms, v.state().registry), 3000u);
  EXPECT_EQ(expect_keys_match_run(healths, v.state().registry), 2048u);
  expect_sparse_index_matches_rows(healths, v.state().registry);
  std::map<std::uint64_t, std::uint32_t> after;
  v.each<Transform, Health>([&](Entity e, const Transform& t, const Health& h) {
    EXPECT_EQ(std::uint32_t(t.x), h.hp);
    after[e.bits()] = h.hp;
  });
  EXPECT_EQ(after.size(), 2999u);
  EXPECT_EQ(after, joined);
}

// A wide world: forty tables. Which components an entity has is each table's answer (ADR 0021): destroy
// must find its rows in any of them, and recovery (from a snapshot and from the log) must restore the same
// rows. Enough entities for the registry to span several pages of the snapshot.
// Forty tables t0..t39, each a component of the entities table with one u32 field `v`.
Result<std::shared_ptr<const Schema>> forty_table_schema() {
  std::string toml;
  for (int t = 0; t < 40; ++t) {
    toml += "[tables.t" + std::to_string(t) + "]\nparent_table = \"entities\"\n";
    toml += "[[tables.t" + std::to_string(t) + ".fields]]\nname = \"entity_id\"\ntype = \"u64\"\nforeign_key = \"entities.id\"\n";
    toml += "[[tables.t" + std::to_string(t) + ".fields]]\nname = \"v\"\ntype = \"u32\"\n";
  }
  toml = "[database]\nname = \"forty\"\nversion = \"1.0.0\"\n[tables.entities]\nprimary_key = \"id\"\n[[tables.entities.fields]]\nname = \"id\"\ntype = \"u64\"\nconstraint = \"unique\"\n" + toml;
  return parse_schema(toml, "forty.toml");
}

TEST(DurabilityTest, TheComponentsOfAWorldOfFortyTablesSurviveSnapshotAndReplay) {
  auto schema = forty_table_schema();
  ASSERT_TRUE(schema.has_value()) << schema.status().to_string();
  const std::vector<std::string> a_tables = {"t0", "t29", "t30", "t31", "t32", "t39"};
  auto put = [](Transaction& t, const std::string& table, Entity e, std::uint32_t v) {
    return t.add_row(table, e, Row{{"v", Value::from_uint(v)}});
  };
  TempDir dir;
  Entity a, b, c;
  {
    auto db = std::move(Database::open(*schema, durable(dir.path())).value());
    Transaction t = db->writer().begin();
    a = t.create().value();
    b = t.create().value();
    c = t.create().value();
    for (const std::string& table : a_tables) ASSERT_TRUE(put(t, table, a, 1).is_ok()) << table;
    ASSERT_TRUE(put(t, "t31", b, 2).is_ok());
    ASSERT_TRUE(put(t, "t30", c, 3).is_ok());
    ASSERT_TRUE(put(t, "t29", c, 3).is_ok());
    std::vector<Entity> crowd;  // registry pages beyond the first (2048 slots of 8 bytes per 16 KiB page)
    ASSERT_TRUE(t.create_many(5000, crowd).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
    ASSERT_TRUE(db->writer().destroy(b).is_ok());
    EXPECT_TRUE(db->pin().keys("t31").value() == std::vector<std::uint64_t>{a.bits()}) << "b's row went with it";
    ASSERT_TRUE(db->snapshot().is_ok());
    Transaction more = db->writer().begin();
    ASSERT_TRUE(put(more, "t38", c, 4).is_ok());  // after the snapshot: replayed from the log
    ASSERT_TRUE(more.commit().is_ok());
    ASSERT_TRUE(db->flush().is_ok());
  }
  auto db = std::move(Database::open(*schema, durable(dir.path())).value());
  {
    PinnedView v = db->pin();
    EXPECT_EQ(v.entity_count(), 5002u);
    EXPECT_FALSE(v.alive(b));
    for (const std::string& table : a_tables) {
      const std::vector<std::uint64_t> keys = v.keys(table).value();
      EXPECT_TRUE(std::find(keys.begin(), keys.end(), a.bits()) != keys.end()) << table << " lost a's row";
    }
    EXPECT_TRUE(v.keys("t38").value() == std::vector<std::uint64_t>{c.bits()}) << "replayed from the log";
    EXPECT_EQ(v.keys("t29").value().size(), 2u);
    EXPECT_EQ(v.keys("t30").value().size(), 2u);
  }
  ASSERT_TRUE(db->writer().destroy(a).is_ok());
  ASSERT_TRUE(db->writer().destroy(c).is_ok());
  PinnedView v = db->pin();
  EXPECT_EQ(v.entity_count(), 5000u);
  for (int t = 0; t < 40; ++t) {
    EXPECT_TRUE(v.keys("t" + std::to_string(t)).value().empty()) << "t" << t << " kept a row of a destroyed entity";
  }
}

// A snapshot writes the keys the identity run elides from the registry (put_keys): each with its
// generation, across several registry and key pages. The log covers nothing past the snapshot, so the
// reopened world is the snapshot's alone, and a wrong key fails the load.
TEST(DurabilityTest, SnapshotWritesTheKeysTheRunImpliesWithTheirGenerations) {
  auto schema = forty_table_schema();
  ASSERT_TRUE(schema.has_value()) << schema.status().to_string();
  TempDir dir;
  std::vector<Entity> es;
  {
    auto db = std::move(Database::open(*schema, durable(dir.path())).value());
    ASSERT_TRUE(db->writer().create_many(3000, es).is_ok());
    const std::uint32_t first_generation = es[0].generation();
    for (Entity e : es) ASSERT_TRUE(db->writer().destroy(e).is_ok());
    es.clear();
    ASSERT_TRUE(db->writer().create_many(3000, es).is_ok());  // the same indices, the next generation
    std::sort(es.begin(), es.end(), [](Entity x, Entity y) { return x.index() < y.index(); });
    Transaction t = db->writer().begin();
    for (Entity e : es) ASSERT_TRUE(t.add_row("t0", e, Row{{"v", Value::from_uint(e.index() * 7)}}).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
    const PinnedView v = db->pin();
    const detail::TableState& t0 = v.state().tables[v.database().schema().find_table("t0")->id];
    ASSERT_EQ(t0.identity_rows, 3000u);
    ASSERT_EQ(present_key_pages(t0), 0u) << "every key is implied: the snapshot writes them from the registry";
    for (Entity e : es) ASSERT_EQ(e.generation(), first_generation + 1);
    ASSERT_TRUE(db->snapshot().is_ok());
  }
  auto db = Database::open(*schema, durable(dir.path()));
  ASSERT_TRUE(db.has_value()) << db.status().to_string();
  const PinnedView v = (*db)->pin();
  std::vector<std::uint64_t> expected;
  for (Entity e : es) expected.push_back(e.bits());
  EXPECT_EQ(v.keys("t0").value(), expected);
  for (Entity e : es) EXPECT_EQ(v.read_field("t0", e, "v").value().uinteger, e.index() * 7u);
}

TEST(DurabilityTest, SnapshotThenWalReplayAndCompaction) {
  TempDir dir;
  DatabaseOptions o = durable(dir.path());
  o.wal_segment_bytes = 8 * 1024;  // many small segments
  std::map<std::uint64_t, std::uint32_t> expected;
  {
    auto db = open_ok(o);
    std::vector<Entity> es;
    ASSERT_TRUE(db->writer().create_many(200, es).is_ok());
    for (std::uint32_t i = 0; i < es.size(); ++i) ASSERT_TRUE(db->writer().add(es[i], Health{i, 1}).is_ok());
    ASSERT_TRUE(db->snapshot().is_ok());
    for (std::uint32_t i = 0; i < 50; ++i) ASSERT_TRUE(db->writer().set(es[i], &Health::hp, 1000 + i).is_ok());
    ASSERT_TRUE(db->flush().is_ok());
    expected = health_of(*db);
  }
  auto fs = posix_file_system();
  auto archived = fs->list(dir.file("archive")).value();
  EXPECT_FALSE(archived.empty()) << "segments covered by the snapshot were archived";
  auto db = open_ok(o);
  EXPECT_EQ(health_of(*db), expected);
  const auto notes = db->recovery_notes();
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes[0].find("loaded snapshot"), std::string::npos) << notes[0];
}

TEST(DurabilityTest, AcknowledgedCommitsSurviveACrash) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  std::map<std::uint64_t, std::uint32_t> acked;
  {
    auto db = open_ok(durable("/data", fs));
    ASSERT_TRUE(db->start_writer_thread().is_ok());
    std::vector<CommitTicket> tickets;
    for (std::uint32_t i = 0; i < 300; ++i) {
      tickets.push_back(db->submit([i](Transaction& t) -> Status {
        ECSDB_ASSIGN_OR_RETURN(Entity e, t.create());
        return t.add(e, Health{i, 1});
      }));
    }
    for (auto& t : tickets) ASSERT_TRUE(t.wait().is_ok()) << "sync mode acknowledges after fdatasync";
    acked = health_of(*db);
    fs->simulate_crash();  // power loss right after the acknowledgements
  }
  auto db = open_ok(durable("/data", fs));
  EXPECT_EQ(health_of(*db), acked);
}

TEST(DurabilityTest, FailedFsyncMakesTheDatabaseReadOnlyAndNeverAcknowledges) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  Entity survivor;
  {
    auto db = open_ok(durable("/data", fs));
    survivor = db->writer().create().value();
    ASSERT_TRUE(db->writer().add(survivor, Health{1, 1}).is_ok());
    ASSERT_TRUE(db->flush().is_ok());
    fs->fail_sync(1, /*sticky=*/false, "wal-");
    ASSERT_TRUE(db->start_writer_thread().is_ok());
    CommitTicket t = db->submit([&](Transaction& tx) { return tx.update(survivor, Health{2, 2}); });
    const Status s = t.wait();
    EXPECT_EQ(s.code(), StatusCode::kIoError) << "the commit whose fsync failed is not acknowledged";
    EXPECT_FALSE(db->health().is_ok());
    CommitTicket later = db->submit([&](Transaction& tx) { return tx.update(survivor, Health{3, 3}); });
    EXPECT_EQ(later.wait().code(), StatusCode::kIoError) << "read-only until reopened";
    fs->simulate_crash();
  }
  fs->clear_faults();
  auto db = open_ok(durable("/data", fs));
  ASSERT_NE(db->pin().get<Health>(survivor), nullptr);
  EXPECT_EQ(db->pin().get<Health>(survivor)->hp, 1u) << "only what was durable survives";
  EXPECT_TRUE(db->writer().update(survivor, Health{4, 4}).is_ok()) << "writable again after reopen";
}

// Writes `n` single-entity commits and returns the WAL segment path and the end offset of each record.
std::vector<std::uint64_t> write_records(const std::shared_ptr<FaultInjectionFileSystem>& fs, int n, std::string* segment) {
  DatabaseOptions o = durable("/data", fs);
  o.wal_segment_bytes = 64 * 1024;
  auto db = open_ok(o);
  for (int i = 0; i < n; ++i) {  // one WAL record per entity, each synced on its own (one write each)
    Transaction t = db->writer().begin();
    const Entity e = t.create().value();
    EXPECT_TRUE(t.add(e, Health{static_cast<std::uint32_t>(i), 1}).is_ok());
    EXPECT_TRUE(t.commit().is_ok());
    EXPECT_TRUE(db->flush().is_ok());
  }
  db.reset();
  auto names = fs->list("/data/wal").value();
  EXPECT_EQ(names.size(), 1u);
  *segment = "/data/wal/" + names.back();
  // Walk the records to find where each ends.
  const auto bytes = fs->contents(*segment);
  std::vector<std::uint64_t> ends;
  std::uint64_t off = persist::kWalHeaderSize;
  for (;;) {
    std::uint32_t len;
    std::memcpy(&len, bytes.data() + off, 4);
    if (len == 0) break;
    off += persist::record_size(len);
    ends.push_back(off);
  }
  return ends;
}

TEST(DurabilityTest, TornTailAtEveryByteRecoversThePreviousRecord) {
  auto base = std::make_shared<FaultInjectionFileSystem>();
  std::string segment;
  const auto ends = write_records(base, 3, &segment);
  ASSERT_GE(ends.size(), 2u);
  const std::uint64_t last_start = ends[ends.size() - 2];
  const std::uint64_t last_end = ends.back();
  const auto original = base->contents(segment);
  for (std::uint64_t cut = last_start; cut < last_end; ++cut) {
    auto fs = std::make_shared<FaultInjectionFileSystem>();
    // Same files, with the last record cut at `cut` (zeros after, as in a preallocated segment).
    for (const std::string& name : base->list("/data").value()) (void)name;
    ASSERT_TRUE(fs->create_dirs("/data/wal").is_ok());
    ASSERT_TRUE(fs->create_dirs("/data/snapshots").is_ok());
    ASSERT_TRUE(fs->create_dirs("/data/archive").is_ok());
    auto id = base->contents("/data/IDENTITY");
    auto f1 = fs->create("/data/IDENTITY").value();
    ASSERT_TRUE(f1->append(id).is_ok());
    std::vector<std::byte> torn = original;
    std::fill(torn.begin() + static_cast<std::ptrdiff_t>(cut), torn.end(), std::byte{0});
    auto f2 = fs->create(segment).value();
    ASSERT_TRUE(f2->append(torn).is_ok());
    auto db = Database::open(test_schema(), durable("/data", fs));
    ASSERT_TRUE(db.has_value()) << "cut at " << cut << ": " << db.status().to_string();
    // Cutting only trailing zero bytes of the payload leaves the record intact (its checksum still holds).
    const bool unchanged = std::equal(torn.begin(), torn.begin() + static_cast<std::ptrdiff_t>(last_end),
                                      original.begin());
    EXPECT_EQ((*db)->pin().count<Health>(), unchanged ? ends.size() : ends.size() - 1) << "cut at " << cut;
  }
}

TEST(DurabilityTest, CorruptRecordInTheMiddleIsReportedWithFileAndOffset) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  std::string segment;
  const auto ends = write_records(fs, 5, &segment);
  ASSERT_TRUE(fs->corrupt(segment, ends[1] + 30, 3).is_ok());  // inside the third record
  auto db = Database::open(test_schema(), durable("/data", fs));
  ASSERT_FALSE(db.has_value());
  EXPECT_EQ(db.status().code(), StatusCode::kCorruption);
  EXPECT_NE(db.status().message().find(segment), std::string::npos) << db.status().message();
  EXPECT_NE(db.status().message().find("offset " + std::to_string(ends[1])), std::string::npos) << db.status().message();
  DatabaseOptions o = durable("/data", fs);
  o.recover_to_corruption = true;
  auto recovered = Database::open(test_schema(), o);
  ASSERT_TRUE(recovered.has_value()) << recovered.status().to_string();
  EXPECT_EQ((*recovered)->pin().count<Health>(), 2u) << "everything before the corruption";
}

TEST(DurabilityTest, BitFlipsInEveryRegionOfASegmentAreDetected) {
  auto base = std::make_shared<FaultInjectionFileSystem>();
  std::string segment;
  const auto ends = write_records(base, 4, &segment);
  // Header, first record header, first record payload, a middle record: each flip must be caught (an
  // error) or, in the final record, treated as a torn tail (fewer rows) — never silently accepted.
  const std::vector<std::uint64_t> offsets = {3, 20, persist::kWalHeaderSize + 2, persist::kWalHeaderSize + 28,
                                              ends[0] + 10, ends[2] + 26};
  for (std::uint64_t off : offsets) {
    auto fs = std::make_shared<FaultInjectionFileSystem>();
    ASSERT_TRUE(fs->create_dirs("/data/wal").is_ok());
    auto f1 = fs->create("/data/IDENTITY").value();
    ASSERT_TRUE(f1->append(base->contents("/data/IDENTITY")).is_ok());
    auto f2 = fs->create(segment).value();
    ASSERT_TRUE(f2->append(base->contents(segment)).is_ok());
    ASSERT_TRUE(fs->corrupt(segment, off, 1).is_ok());
    auto db = Database::open(test_schema(), durable("/data", fs));
    if (db.has_value()) {  // NOLINT(readability-braces)
      EXPECT_LT((*db)->pin().count<Health>(), ends.size()) << "flip at " << off << " went unnoticed";
    } else {
      EXPECT_EQ(db.status().code(), StatusCode::kCorruption) << db.status().to_string();
    }
  }
}

TEST(DurabilityTest, CorruptNewestSnapshotFallsBackToOlderOne) {
  TempDir dir;
  std::map<std::uint64_t, std::uint32_t> expected;
  {
    DatabaseOptions o = durable(dir.path());
    o.wal_retention = WalRetention::kArchive;
    auto db = open_ok(o);
    std::vector<Entity> es;
    ASSERT_TRUE(db->writer().create_many(20, es).is_ok());
    for (auto e : es) ASSERT_TRUE(db->writer().add(e, Health{5, 5}).is_ok());
    ASSERT_TRUE(db->snapshot().is_ok());
    ASSERT_TRUE(db->writer().set(es[0], &Health::hp, 6u).is_ok());
    ASSERT_TRUE(db->snapshot().is_ok());
    ASSERT_TRUE(db->writer().set(es[1], &Health::hp, 7u).is_ok());
    ASSERT_TRUE(db->flush().is_ok());
    expected = health_of(*db);
  }
  auto fs = posix_file_system();
  auto snaps = fs->list(dir.file("snapshots")).value();
  ASSERT_EQ(snaps.size(), 2u);
  // Flip a byte in the middle of the newest snapshot.
  const std::string newest = dir.file("snapshots") + "/" + snaps.back();
  auto bytes = fs->read_file(newest).value();
  bytes[bytes.size() / 2] ^= std::byte{0x10};
  auto f = fs->create(newest).value();
  ASSERT_TRUE(f->append(bytes).is_ok());
  ASSERT_TRUE(f->close().is_ok());
  // The older snapshot's WAL was archived, so the fallback needs it back: recovery reads only wal/, so
  // keep everything in wal/ for this case by restoring the archived segments.
  for (const std::string& n : fs->list(dir.file("archive")).value()) {
    if (n.rfind("wal-", 0) == 0) {
      ASSERT_TRUE(fs->rename(dir.file("archive") + "/" + n, dir.file("wal") + "/" + n).is_ok());
    }
  }
  auto db = open_ok(durable(dir.path()));
  EXPECT_EQ(health_of(*db), expected);
  const auto notes = db->recovery_notes();
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes[0].find("unusable"), std::string::npos) << notes[0];
}

TEST(DurabilityTest, AsyncModeLosesAtMostTheFlushWindow) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  DatabaseOptions o = durable("/data", fs);
  o.durability = Durability::kAsync;
  o.async_flush_ms = 5;
  Entity e;
  {
    auto db = open_ok(o);
    e = db->writer().create().value();
    ASSERT_TRUE(db->writer().add(e, Health{1, 1}).is_ok());
    // Commits older than the flush window are on disk without anyone asking for it.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_GE(db->durable_version(), db->published_version());
    fs->simulate_crash();
  }
  auto db = open_ok(o);
  ASSERT_NE(db->pin().get<Health>(e), nullptr) << "a commit older than async_flush_ms survives a crash";
}

TEST(DurabilityTest, FlushWritesOnTheCallingThreadWhenNoBatchIsInFlight) {
  // The async log's flush thread sleeps for a minute here, so only flush() can make these commits durable.
  // It writes and fdatasyncs them itself, on the calling thread: a lone durable commit needs no hand-off
  // to the flush thread and back.
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  DatabaseOptions o = durable("/data", fs);
  o.durability = Durability::kAsync;
  o.async_flush_ms = 60'000;
  std::mutex mu;
  std::vector<std::thread::id> wal_syncers;
  fs->on_sync([&](const std::string& path) {
    if (path.find("/wal/") == std::string::npos) return;
    const std::lock_guard lock(mu);
    wal_syncers.push_back(std::this_thread::get_id());
  });
  Entity e;
  {
    auto db = open_ok(o);
    e = db->writer().create().value();
    ASSERT_TRUE(db->writer().add(e, Health{1, 1}).is_ok());
    for (std::uint32_t hp = 2; hp <= 10; ++hp) {
      ASSERT_TRUE(db->writer().set(e, &Health::hp, hp).is_ok());
      ASSERT_TRUE(db->flush().is_ok());
      EXPECT_EQ(db->durable_version(), db->published_version());
    }
    {
      const std::lock_guard lock(mu);
      EXPECT_GE(wal_syncers.size(), 9u) << "one fdatasync per flush (the first also creates the segment)";
      for (const std::thread::id id : wal_syncers) EXPECT_EQ(id, std::this_thread::get_id());
    }
    fs->simulate_crash();
  }
  fs->on_sync(nullptr);
  auto db = open_ok(o);
  ASSERT_NE(db->pin().get<Health>(e), nullptr);
  EXPECT_EQ(db->pin().get<Health>(e)->hp, 10u) << "every flushed commit survives the crash";
}

TEST(DurabilityTest, SyncModeWritesACommitNobodyWaitsForWithinMilliseconds) {
  // The commit does not wake the flush thread; it polls every millisecond while commits arrive, and
  // after 100 ms without one it sleeps until the next commit wakes it. Both must leave no commit behind.
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  auto db = open_ok(durable("/data", fs));
  auto durable_soon = [&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (db->durable_version() < db->published_version() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return db->durable_version() >= db->published_version();
  };
  const Entity e = db->writer().create().value();
  ASSERT_TRUE(db->writer().add(e, Health{1, 1}).is_ok());
  EXPECT_TRUE(durable_soon()) << "a commit while the flush thread polls";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // idle: the flush thread falls asleep
  ASSERT_TRUE(db->writer().set(e, &Health::hp, 2u).is_ok());
  EXPECT_TRUE(durable_soon()) << "the first commit after an idle spell must wake the flush thread";
}

TEST(DurabilityTest, MissingSegmentIsAnError) {
  TempDir dir;
  DatabaseOptions o = durable(dir.path());
  o.wal_segment_bytes = 4096 + 64;
  {
    auto db = open_ok(o);
    for (int i = 0; i < 200; ++i) {
      const Entity e = db->writer().create().value();
      ASSERT_TRUE(db->writer().add(e, Health{1, 1}).is_ok());
    }
  }
  auto fs = posix_file_system();
  auto segs = fs->list(dir.file("wal")).value();
  ASSERT_GE(segs.size(), 3u);
  ASSERT_TRUE(fs->remove(dir.file("wal") + "/" + segs[1]).is_ok());
  auto db = Database::open(test_schema(), o);
  ASSERT_FALSE(db.has_value());
  EXPECT_NE(db.status().message().find("missing WAL segment"), std::string::npos) << db.status().message();
}

TEST(DurabilityTest, ReopenWithAnotherSchemaLayoutIsRefused) {
  TempDir dir;
  { auto db = open_ok(durable(dir.path())); }
  auto other = parse_schema("[database]\nname = \"x\"\nversion = \"1\"\n[tables.a]\nparent_table = \"entities\"\n"
                            "[[tables.a.fields]]\nname = \"v\"\ntype = \"u8\"\n", "other.toml").value();
  auto db = Database::open(other, durable(dir.path()));
  ASSERT_FALSE(db.has_value());
  EXPECT_NE(db.status().message().find("different schema layout"), std::string::npos) << db.status().message();
}

}  // namespace
}  // namespace ecsdb::testing

namespace ecsdb::testing {
namespace {

// Short writes and ENOSPC in the WAL: the commit is not acknowledged, the database turns read-only, and a
// reopen recovers exactly what was acknowledged before.
void expect_write_failure_is_contained(const std::function<void(FaultInjectionFileSystem&)>& inject) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  std::map<std::uint64_t, std::uint32_t> acked;
  {
    auto db = open_ok(durable("/data", fs));
    std::vector<Entity> es;
    ASSERT_TRUE(db->writer().create_many(10, es).is_ok());
    for (auto e : es) ASSERT_TRUE(db->writer().add(e, Health{1, 1}).is_ok());
    ASSERT_TRUE(db->flush().is_ok());
    acked = health_of(*db);
    inject(*fs);
    ASSERT_TRUE(db->start_writer_thread().is_ok());
    CommitTicket t = db->submit([&](Transaction& tx) { return tx.update(es[0], Health{99, 1}); });
    EXPECT_EQ(t.wait().code(), StatusCode::kIoError);
    EXPECT_EQ(db->health().code(), StatusCode::kIoError);
    fs->simulate_crash();
  }
  fs->clear_faults();
  fs->set_space_limit(std::nullopt);
  auto db = open_ok(durable("/data", fs));
  EXPECT_EQ(health_of(*db), acked);
}

TEST(DurabilityFaultTest, ShortWalWrite) {
  expect_write_failure_is_contained([](FaultInjectionFileSystem& fs) { fs.short_write(1, 10, "wal-"); });
}

TEST(DurabilityFaultTest, FailedWalWrite) {
  expect_write_failure_is_contained([](FaultInjectionFileSystem& fs) { fs.fail_write(1, true, "wal-"); });
}

TEST(DurabilityFaultTest, NoSpaceWhenRollingASegment) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  DatabaseOptions o = durable("/data", fs);
  o.wal_segment_bytes = 8 * 1024;
  std::map<std::uint64_t, std::uint32_t> acked;
  {
    auto db = open_ok(o);
    const Entity e = db->writer().create().value();
    ASSERT_TRUE(db->writer().add(e, Health{0, 0}).is_ok());
    ASSERT_TRUE(db->flush().is_ok());
    acked = health_of(*db);
    fs->set_space_limit(fs->counters().writes == 0 ? 0 : 20 * 1024);  // room for ~one more segment
    ASSERT_TRUE(db->start_writer_thread().is_ok());
    Status last;
    for (std::uint32_t i = 1; i < 2000 && last.is_ok(); ++i) {
      last = db->submit([&, i](Transaction& t) { return t.update(e, Health{i, i}); }).wait();
      if (last.is_ok()) acked = health_of(*db);
    }
    EXPECT_EQ(last.code(), StatusCode::kIoError) << "ENOSPC surfaces as an I/O error, never as success";
    fs->simulate_crash();
  }
  fs->set_space_limit(std::nullopt);
  auto db = open_ok(o);
  EXPECT_EQ(health_of(*db), acked) << "every acknowledged commit, nothing after";
}

TEST(DurabilityFaultTest, FailedSnapshotKeepsTheDatabaseAndOlderSnapshots) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  auto db = open_ok(durable("/data", fs));
  const Entity e = db->writer().create().value();
  ASSERT_TRUE(db->writer().add(e, Health{1, 1}).is_ok());
  ASSERT_TRUE(db->snapshot().is_ok());
  ASSERT_TRUE(db->writer().update(e, Health{2, 2}).is_ok());
  fs->fail_sync(1, false, "snap-");
  EXPECT_EQ(db->snapshot().code(), StatusCode::kIoError);
  EXPECT_TRUE(db->health().is_ok()) << "a failed snapshot does not poison the log";
  EXPECT_TRUE(db->writer().update(e, Health{3, 3}).is_ok());
  ASSERT_TRUE(db->flush().is_ok());
  fs->simulate_crash();
  db.reset();
  auto again = open_ok(durable("/data", fs));
  EXPECT_EQ(again->pin().get<Health>(e)->hp, 3u);
}

// A snapshot of several of the writer's 1 MiB buffers loads back whole, and a write failing in a later
// buffer fails the snapshot with the error, keeps the database writable and the older snapshot in place,
// and removes the partial file.
TEST(DurabilityFaultTest, SnapshotOfSeveralBuffersRoundTripsAndAFailedLaterWriteIsReported) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  std::map<std::uint64_t, std::uint32_t> before;
  {
    auto db = open_ok(durable("/data", fs));
    std::vector<Entity> es;
    Transaction t = db->writer().begin();
    ASSERT_TRUE(t.create_many(400000, es).is_ok());
    std::vector<Health> hs(es.size());
    for (std::uint32_t i = 0; i < hs.size(); ++i) hs[i] = Health{i, i ^ 0x5A5Au};
    ASSERT_TRUE(t.add_many<Health>(es, hs).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
    const std::size_t hints_before = fs->writeback_hints().size();
    ASSERT_TRUE(db->snapshot().is_ok());  // 400k x (8 B registry + 8 B key + 8 B row): 9 buffers
    const std::vector<std::string> names = fs->list("/data/snapshots").value();
    ASSERT_EQ(names.size(), 1u);
    EXPECT_GT(fs->read_file("/data/snapshots/" + names[0]).value().size(), std::size_t{9} << 20);
    // The snapshot hands the disk each 4 MiB it has written (start_writeback), in order, never bytes it
    // has not written yet.
    const std::vector<WritebackHint> hints = fs->writeback_hints();
    ASSERT_EQ(hints.size() - hints_before, 2u);
    for (std::size_t i = 0; i < 2; ++i) {
      const WritebackHint& h = hints[hints_before + i];
      EXPECT_EQ(h.path, "/data/snapshots/" + names[0] + ".tmp");
      EXPECT_EQ(h.offset, i * (std::uint64_t{4} << 20));
      EXPECT_EQ(h.length, std::uint64_t{4} << 20);
      EXPECT_FALSE(h.past_end);
    }
    ASSERT_TRUE(db->writer().update(es[7], Health{7, 7}).is_ok());
    fs->fail_write(2, /*sticky=*/false, "snap-");  // the second buffer of the next snapshot
    EXPECT_EQ(db->snapshot().code(), StatusCode::kIoError);
    EXPECT_TRUE(db->health().is_ok()) << "a failed snapshot does not poison the log";
    EXPECT_EQ(fs->list("/data/snapshots").value().size(), 1u) << "the older snapshot stays; the failed one's partial file is gone";
    ASSERT_TRUE(db->writer().update(es[8], Health{8, 8}).is_ok());
    ASSERT_TRUE(db->flush().is_ok());
    before = health_of(*db);
    fs->simulate_crash();
  }
  auto db = open_ok(durable("/data", fs));
  EXPECT_EQ(health_of(*db), before);
}

TEST(DurabilityFaultTest, BitFlipInEachSnapshotRegionIsDetected) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  std::string snap;
  {
    auto db = open_ok(durable("/data", fs));
    std::vector<Entity> es;
    ASSERT_TRUE(db->writer().create_many(50, es).is_ok());
    for (auto e : es) ASSERT_TRUE(db->writer().add(e, Health{1, 1}).is_ok());
    ASSERT_TRUE(db->snapshot().is_ok());
    snap = "/data/snapshots/" + fs->list("/data/snapshots").value().back();
  }
  const auto original = fs->contents(snap);
  // Header, schema section, registry section, a table section, the end marker's checksum.
  const std::vector<std::uint64_t> offsets = {9, 64 + 20, original.size() / 3, original.size() / 2,
                                              original.size() - 3};
  for (std::uint64_t off : offsets) {
    auto copy = std::make_shared<FaultInjectionFileSystem>();
    ASSERT_TRUE(copy->create_dirs("/x").is_ok());
    auto f = copy->create("/x/s.ecss").value();
    ASSERT_TRUE(f->append(original).is_ok());
    ASSERT_TRUE(copy->corrupt("/x/s.ecss", off, 4).is_ok());
    auto loaded = persist::read_snapshot(*copy, "/x/s.ecss", test_schema().get());
    ASSERT_FALSE(loaded.has_value()) << "flip at " << off << " of " << original.size() << " went unnoticed";
    EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption);
    EXPECT_NE(loaded.status().message().find("/x/s.ecss"), std::string::npos) << loaded.status().message();
  }
}

}  // namespace
}  // namespace ecsdb::testing

#include "persist/delta_codec.hpp"
#include "persist/wal_reader.hpp"

namespace ecsdb::testing {
namespace {

// A segment rolled with fewer free bytes than a record header (8 or 16 zero bytes at its end) is a clean
// end of segment, not corruption (found by the crash test).
TEST(WalReaderTest, ShortZeroTailAtSegmentEndIsNotCorruption) {
  const auto schema = test_schema();
  for (std::uint64_t slack : {8u, 16u}) {
    auto fs = std::make_shared<FaultInjectionFileSystem>();
    ASSERT_TRUE(fs->create_dirs("/wal").is_ok());
    std::vector<std::byte> payload;
    Delta d;
    d.version = 3;
    d.created.push_back(Entity(0, 1));
    persist::encode_delta(d, 0, *schema, payload);
    const std::uint64_t record = persist::record_size(payload.size());
    const std::uint64_t capacity = persist::kWalHeaderSize + 3 * record + slack;
    std::uint64_t lsn = 1;
    for (int seg = 0; seg < 2; ++seg) {
      std::vector<std::byte> file = persist::encode_segment_header({7, lsn, capacity, /*salt=*/42});
      for (int r = 0; r < 3; ++r) {
        const std::size_t at = file.size();
        persist::append_record(file, lsn++, payload);
        persist::seal_record(std::span(file).subspan(at), static_cast<std::uint32_t>(r), 42);
      }
      file.resize(capacity, std::byte{0});
      auto f = fs->create("/wal/" + persist::segment_name(lsn - 3)).value();
      ASSERT_TRUE(f->append(file).is_ok());
    }
    persist::WalScanOptions o;
    o.decode = false;
    auto scan = persist::scan_wal(*fs, "/wal", *schema, o, nullptr);
    ASSERT_TRUE(scan.has_value()) << "slack " << slack << ": " << scan.status().to_string();
    EXPECT_EQ(scan->last_lsn, 6u);
  }
}

}  // namespace
}  // namespace ecsdb::testing

namespace ecsdb::testing {
namespace {

TEST(CompactionTest, SnapshotCoveringTheWholeLogRetiresTheLiveSegment) {
  TempDir dir;
  DatabaseOptions o = durable(dir.path());
  std::map<std::uint64_t, std::uint32_t> expected;
  {
    auto db = open_ok(o);
    std::vector<Entity> es;
    ASSERT_TRUE(db->writer().create_many(100, es).is_ok());
    for (auto e : es) ASSERT_TRUE(db->writer().add(e, Health{3, 3}).is_ok());
    ASSERT_TRUE(db->snapshot().is_ok());
    expected = health_of(*db);
  }
  auto fs = posix_file_system();
  const auto wal = fs->list(dir.file("wal")).value();
  ASSERT_EQ(wal.size(), 1u);
  EXPECT_NE(wal[0], persist::segment_name(1)) << "a fresh segment was started after the snapshot";
  const auto archive = fs->list(dir.file("archive")).value();
  EXPECT_NE(std::find(archive.begin(), archive.end(), persist::segment_name(1)), archive.end());
  auto db = open_ok(o);
  EXPECT_EQ(health_of(*db), expected);
  // And the log continues in the new segment.
  const Entity e = db->writer().create().value();
  ASSERT_TRUE(db->writer().add(e, Health{9, 9}).is_ok());
  ASSERT_TRUE(db->flush().is_ok());
  db.reset();
  auto again = open_ok(o);
  EXPECT_EQ(again->pin().get<Health>(e)->hp, 9u);
}

// Retention runs after snapshot() returns. Its failure does not fail the snapshot (durable by then): the
// files it could not retire stay where they were, wait_for_retention() and recovery_notes() report it, and
// the next snapshot's retention retires them.
TEST(CompactionTest, RetentionFailureLeavesFilesForTheNextSnapshotAndNeverFailsTheSnapshot) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  DatabaseOptions o = durable("/data", fs);
  o.keep_snapshots = 1;
  o.wal_retention = WalRetention::kArchiveCompressed;  // retention writes a file: the fault below can hit it
  auto db = open_ok(o);
  const Entity e = db->writer().create().value();
  ASSERT_TRUE(db->writer().add(e, Health{1, 1}).is_ok());
  ASSERT_TRUE(db->snapshot().is_ok());
  ASSERT_TRUE(db->wait_for_retention().is_ok());
  ASSERT_EQ(fs->list("/data/wal").value().size(), 1u);

  ASSERT_TRUE(db->writer().update(e, Health{2, 2}).is_ok());
  fs->fail_write(1, /*sticky=*/true, "/data/archive/");
  EXPECT_TRUE(db->snapshot().is_ok()) << "the snapshot is durable before its retention starts";
  EXPECT_EQ(db->wait_for_retention().code(), StatusCode::kIoError);
  EXPECT_EQ(fs->list("/data/snapshots").value().size(), 2u) << "the older snapshot was not pruned";
  EXPECT_EQ(fs->list("/data/wal").value().size(), 2u) << "the covered segment stays in wal/";
  const std::vector<std::string> notes = db->recovery_notes();
  EXPECT_TRUE(std::any_of(notes.begin(), notes.end(), [](const std::string& n) {
    return n.find("retention after a snapshot failed") != std::string::npos;
  }));
  EXPECT_TRUE(db->health().is_ok()) << "a failed retention does not poison the log";
  DatabaseMetrics m = db->metrics();
  EXPECT_EQ(m.retention_failures_total, 1u);
  EXPECT_TRUE(m.retention_failing);
  EXPECT_EQ(m.snapshot_failures_total, 0u);
  EXPECT_FALSE(m.snapshot_failing);

  // A failure that lasts: every retention fails, each is counted, and the notes keep only the newest 16.
  const std::size_t notes_before = notes.size();
  for (std::uint32_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(db->writer().update(e, Health{2, 2 + i}).is_ok());
    ASSERT_TRUE(db->snapshot().is_ok());
    EXPECT_EQ(db->wait_for_retention().code(), StatusCode::kIoError);
  }
  EXPECT_EQ(db->metrics().retention_failures_total, 21u);
  const std::vector<std::string> later = db->recovery_notes();
  const auto failures = std::count_if(later.begin(), later.end(), [](const std::string& n) {
    return n.find("retention after a snapshot failed") != std::string::npos;
  });
  EXPECT_EQ(failures, 16);
  EXPECT_EQ(later.size(), notes_before - 1 + 16) << "recovery's own notes are all kept";
  EXPECT_EQ(later.front(), notes.front());
  ASSERT_TRUE(db->writer().update(e, Health{2, 2}).is_ok());

  // A crash with the leftovers in place (every snapshot since the fault, their covered segments, a partial
  // archive file)
  // recovers exactly, and the next snapshot's retention retires them.
  fs->clear_faults();
  fs->simulate_crash();
  db.reset();
  db = open_ok(o);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->pin().get<Health>(e)->hp, 2u);
  ASSERT_TRUE(db->writer().update(e, Health{3, 3}).is_ok());
  ASSERT_TRUE(db->snapshot().is_ok());
  ASSERT_TRUE(db->wait_for_retention().is_ok());
  EXPECT_FALSE(db->metrics().retention_failing);
  EXPECT_EQ(fs->list("/data/snapshots").value().size(), 1u);
  EXPECT_EQ(fs->list("/data/wal").value().size(), 1u) << "only the live segment";
  for (const std::string& n : fs->list("/data/archive").value()) {
    EXPECT_TRUE(n.ends_with(".log.zst") || n.ends_with(".ecss")) << "no partial file left: " << n;
  }
  fs->simulate_crash();
  db.reset();
  auto again = open_ok(o);
  EXPECT_EQ(again->pin().get<Health>(e)->hp, 3u);
}

TEST(CompactionTest, FailedAutomaticSnapshotsAreCountedAndRetriedAfterAGrowingPause) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  DatabaseOptions o = durable("/data", fs);
  o.snapshot_every_wal_bytes = 1;  // every commit asks for one: the maintenance thread polls every 100 ms
  auto db = open_ok(o);
  fs->fail_write(1, /*sticky=*/true, "/data/snapshots/");
  const Entity e = db->writer().create().value();
  ASSERT_TRUE(db->writer().add(e, Health{1, 1}).is_ok());
  // Without a pause between tries, 1.6 s would see about fifteen; with it, the first try and the one a
  // second later (the next would come two seconds after that).
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  DatabaseMetrics m = db->metrics();
  EXPECT_GE(m.snapshot_failures_total, 1u);
  EXPECT_LE(m.snapshot_failures_total, 3u);
  EXPECT_TRUE(m.snapshot_failing);
  EXPECT_TRUE(db->health().is_ok()) << "a failed snapshot does not poison the log";
  const std::vector<std::string> notes = db->recovery_notes();
  EXPECT_TRUE(std::any_of(notes.begin(), notes.end(), [](const std::string& n) {
    return n.find("background snapshot failed (next try in 1 s)") != std::string::npos;
  }));
  EXPECT_EQ(db->snapshot().code(), StatusCode::kIoError) << "one on demand fails too, and is counted";
  EXPECT_GE(db->metrics().snapshot_failures_total, m.snapshot_failures_total + 1);

  fs->clear_faults();
  ASSERT_TRUE(db->snapshot().is_ok());
  m = db->metrics();
  EXPECT_FALSE(m.snapshot_failing);
  // A snapshot that works ends the pause: the next commit gets its automatic snapshot at the next poll,
  // not at the end of a pause that had grown to two or four seconds.
  ASSERT_TRUE(db->writer().update(e, Health{2, 2}).is_ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
  while (db->metrics().snapshots_total == m.snapshots_total && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT(db->metrics().snapshots_total, m.snapshots_total) << "no automatic snapshot within a second";
}

}  // namespace
}  // namespace ecsdb::testing

namespace ecsdb::testing {
namespace {

TEST(ReviewRegressionTest, RemoveThenAddManyInOneTransactionIsLogged) {
  TempDir dir;
  const Entity e = [&] {
    auto db = open_ok(durable(dir.path()));
    const Entity x = db->writer().create().value();
    EXPECT_TRUE(db->writer().add(x, Health{1, 1}).is_ok());
    Transaction t = db->writer().begin();
    EXPECT_TRUE(t.remove<Health>(x).is_ok());
    const Health h{9, 9};
    EXPECT_TRUE(t.add_many<Health>(std::span(&x, 1), std::span(&h, 1)).is_ok());
    EXPECT_TRUE(t.commit().is_ok());
    EXPECT_TRUE(db->flush().is_ok());
    return x;
  }();
  auto db = open_ok(durable(dir.path()));
  ASSERT_NE(db->pin().get<Health>(e), nullptr);
  EXPECT_EQ(db->pin().get<Health>(e)->hp, 9u) << "the re-added row survives a restart";
}

TEST(ReviewRegressionTest, TagComponentRemovedAndReaddedReopens) {
  auto schema = parse_schema(R"(
[database]
name = "tags"
version = "1"
[tables.frozen]
parent_table = "entities"
[[tables.frozen.fields]]
name = "entity_id"
type = "u64"
foreign_key = "entities.id"
)", "tags.toml").value();
  TempDir dir;
  DatabaseOptions o = durable(dir.path());
  Entity e;
  {
    auto db = Database::open(schema, o).value();
    e = db->writer().create().value();
    ASSERT_TRUE(db->writer().add_row("frozen", e, {}).is_ok());
    Transaction t = db->writer().begin();
    ASSERT_TRUE(t.remove_row("frozen", e.bits()).is_ok());
    ASSERT_TRUE(t.add_row("frozen", e, {}).is_ok());
    ASSERT_TRUE(t.commit().is_ok());
    ASSERT_TRUE(db->flush().is_ok());
  }
  auto db = Database::open(schema, o);
  ASSERT_TRUE(db.has_value()) << db.status().to_string();
  EXPECT_TRUE((*db)->pin().read_row("frozen", e).has_value());
}

TEST(ReviewRegressionTest, FailedOptionalWalRollKeepsTheDatabaseWritable) {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  auto db = open_ok(durable("/data", fs));
  const Entity e = db->writer().create().value();
  ASSERT_TRUE(db->writer().add(e, Health{1, 1}).is_ok());
  ASSERT_TRUE(db->flush().is_ok());
  // The snapshot covers LSNs 1..2; the roll would create the segment starting at 3: make that fail.
  fs->fail_sync(1, false, persist::segment_name(3));
  ASSERT_TRUE(db->snapshot().is_ok());
  EXPECT_TRUE(db->health().is_ok()) << "a failed roll is not a log failure";
  EXPECT_FALSE(fs->exists("/data/wal/" + persist::segment_name(3))) << "the half-made segment is removed";
  ASSERT_TRUE(db->writer().update(e, Health{2, 2}).is_ok());
  ASSERT_TRUE(db->flush().is_ok());
  fs->simulate_crash();
  db.reset();
  auto again = open_ok(durable("/data", fs));
  EXPECT_EQ(again->pin().get<Health>(e)->hp, 2u);
}

}  // namespace
}  // namespace ecsdb::testing
