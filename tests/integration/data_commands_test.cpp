// End-to-end tests of `ecsdb inspect`, `ecsdb dump` and `ecsdb restore` on a data directory written through
// the library: the real binary (ECSDB_CLI), checked on exit code, output and the restored state.
// Exit codes: inspect exits 1 when a file fails verification (corruption is a runtime finding, not a usage
// error); 2 is kept for bad arguments and directories that are not data directories.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ecsdb/database.hpp"
#include "support/cli_runner.hpp"

namespace ecsdb::testing {

struct PitHealth {
  std::uint32_t hp, max_hp;
};

}  // namespace ecsdb::testing

ECSDB_COMPONENT(ecsdb::testing::PitHealth, "health", hp, max_hp)

namespace ecsdb::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string game_schema() { return std::string(ECSDB_SOURCE_DIR) + "/examples/schemas/game.toml"; }

class DataCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("ecsdb_data_cmd_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  CliRun run_cli(const std::vector<std::string>& args) { return testing::run_cli(ECSDB_CLI, args, root_); }

  using State = std::map<std::uint64_t, std::uint32_t>;  // entity bits -> hp

  static State state_of(const Database& db) {
    State out;
    db.pin().each<PitHealth>([&](Entity e, const PitHealth& h) { out[e.bits()] = h.hp; });
    return out;
  }

  // A data dir with small segments, compressed archive, a snapshot in the middle; records the state at
  // every version in `history`.
  void build_data_dir(const fs::path& dir, std::map<std::uint64_t, State>& history) {
    auto schema = load_schema_file(game_schema());
    ASSERT_TRUE(schema) << schema.status().to_string();
    DatabaseOptions o;
    o.data_dir = dir.string();
    o.durability = Durability::kSync;
    o.wal_segment_bytes = 4096;
    o.snapshot_every_wal_bytes = 0;
    o.keep_snapshots = 1;
    o.wal_retention = WalRetention::kArchiveCompressed;
    auto db = Database::open(*schema, o);
    ASSERT_TRUE(db) << db.status().to_string();
    WriterHandle& w = (*db)->writer();
    std::vector<Entity> entities;
    for (int i = 0; i < 20; ++i) {
      auto e = w.create();
      ASSERT_TRUE(e);
      ASSERT_TRUE(w.add(*e, PitHealth{static_cast<std::uint32_t>(i), 100}).is_ok());
      entities.push_back(*e);
      history[(*db)->published_version()] = state_of(**db);
    }
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 40; ++i) {
        ASSERT_TRUE(w.set(entities[i % entities.size()], &PitHealth::hp, static_cast<std::uint32_t>(1000 * round + i)).is_ok());
        history[(*db)->published_version()] = state_of(**db);
      }
      ASSERT_TRUE((*db)->snapshot().is_ok());
    }
    // Each of the last commits synced on its own: damage to one is then followed by a later write, which
    // recovery (and inspect) must report as corruption rather than cut as an unsynced tail.
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(w.set(entities[i], &PitHealth::hp, static_cast<std::uint32_t>(5000 + i)).is_ok());
      history[(*db)->published_version()] = state_of(**db);
      ASSERT_TRUE((*db)->flush().is_ok());
    }
  }

  State open_state(const fs::path& dir, std::uint64_t* version = nullptr) {
    auto schema = load_schema_file(game_schema());
    DatabaseOptions o;
    o.data_dir = dir.string();
    o.snapshot_every_wal_bytes = 0;
    auto db = Database::open(*schema, o);
    EXPECT_TRUE(db) << db.status().to_string();
    if (!db) return {};
    if (version != nullptr) *version = (*db)->published_version();
    return state_of(**db);
  }

  fs::path root_;
};

TEST_F(DataCommandsTest, InspectListsSnapshotsSegmentsArchiveAndPlan) {
  std::map<std::uint64_t, State> history;
  const fs::path dir = root_ / "data";
  build_data_dir(dir, history);

  const CliRun text = run_cli({"inspect", dir.string()});
  ASSERT_EQ(text.exit_code, 0) << text.err << text.out;
  EXPECT_THAT(text.out, HasSubstr("snapshots:"));
  EXPECT_THAT(text.out, HasSubstr("snap-"));
  EXPECT_THAT(text.out, HasSubstr("wal-"));
  EXPECT_THAT(text.out, HasSubstr(".log.zst"));
  EXPECT_THAT(text.out, HasSubstr("result: opens"));

  const CliRun json = run_cli({"inspect", "--json", dir.string()});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json doc = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.out;
  EXPECT_TRUE(doc.at("ok").get<bool>());
  ASSERT_FALSE(doc.at("snapshots").empty());
  EXPECT_EQ(doc.at("snapshots")[0].at("status"), "ok");
  ASSERT_FALSE(doc.at("wal").empty());
  EXPECT_GT(doc.at("wal")[0].at("records").get<int>(), 0);
  EXPECT_FALSE(doc.at("archive").empty());
  EXPECT_TRUE(doc.at("recovery_plan").at("opens").get<bool>());
  EXPECT_EQ(doc.at("recovery_plan").at("version_after_replay").get<std::uint64_t>(), history.rbegin()->first);

  const CliRun usage = run_cli({"inspect", (root_ / "nowhere").string()});
  EXPECT_EQ(usage.exit_code, 2);
}

TEST_F(DataCommandsTest, DumpThenRestoreSnapshotReproducesTheState) {
  std::map<std::uint64_t, State> history;
  const fs::path dir = root_ / "data";
  build_data_dir(dir, history);
  const fs::path file = root_ / "backup.ecss";
  const CliRun dump = run_cli({"dump", "--data", dir.string(), "--out", file.string()});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_THAT(dump.out, HasSubstr("dumped version " + std::to_string(history.rbegin()->first)));
  EXPECT_FALSE(fs::exists(file.string() + ".tmp"));

  const fs::path restored = root_ / "restored";
  const CliRun restore = run_cli({"restore", "--snapshot", file.string(), "--out", restored.string()});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  std::uint64_t version = 0;
  EXPECT_EQ(open_state(restored, &version), history.rbegin()->second);
  EXPECT_EQ(version, history.rbegin()->first);

  const CliRun again = run_cli({"restore", "--snapshot", file.string(), "--out", restored.string()});
  EXPECT_EQ(again.exit_code, 2) << "restore must refuse a non-empty target";
}

TEST_F(DataCommandsTest, RestoreToVersionMatchesTheRecordedState) {
  std::map<std::uint64_t, State> history;
  const fs::path dir = root_ / "data";
  build_data_dir(dir, history);
  // Versions before the oldest snapshot kept, between snapshots, and after the last one.
  const std::uint64_t newest = history.rbegin()->first;
  std::vector<std::uint64_t> versions;
  for (const auto& [v, state] : history) versions.push_back(v);
  for (const std::uint64_t target : {versions[12], versions[70], versions[versions.size() - 4]}) {
    const fs::path out = root_ / ("pit_" + std::to_string(target));
    const CliRun r = run_cli({"restore", "--from", dir.string(), "--to-version", std::to_string(target), "--out", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
    EXPECT_TRUE(fs::is_empty(out / "wal")) << "records past the target must not survive";
    std::uint64_t version = 0;
    EXPECT_EQ(open_state(out, &version), history[target]) << "version " << target;
    EXPECT_EQ(version, target);
  }
  const CliRun beyond = run_cli({"restore", "--from", dir.string(), "--to-version", std::to_string(newest + 100),
                                 "--out", (root_ / "beyond").string()});
  EXPECT_NE(beyond.exit_code, 0);
  const CliRun both = run_cli({"restore", "--from", dir.string(), "--out", (root_ / "x").string()});
  EXPECT_EQ(both.exit_code, 2);
}

TEST_F(DataCommandsTest, BitFlipInASegmentIsReportedWithFileAndOffset) {
  std::map<std::uint64_t, State> history;
  const fs::path dir = root_ / "data";
  build_data_dir(dir, history);
  // Inspect's plan replays from the snapshot, so damage the first record of the oldest live segment.
  const nlohmann::json before = nlohmann::json::parse(run_cli({"inspect", "--json", dir.string()}).out);
  ASSERT_GE(before.at("wal").size(), 1u);
  std::string victim;
  for (const auto& s : before.at("wal")) {
    if (s.at("records").get<int>() > 1) {
      victim = s.at("name").get<std::string>();
      break;
    }
  }
  ASSERT_FALSE(victim.empty());
  {
    std::fstream f(dir / "wal" / victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(64 + 30);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x10);
    f.seekp(64 + 30);
    f.write(&c, 1);
  }
  const CliRun r = run_cli({"inspect", dir.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(victim + " at offset 64"));
  EXPECT_THAT(r.out, HasSubstr("REFUSES TO OPEN"));
  const CliRun json = run_cli({"inspect", "--json", dir.string()});
  EXPECT_EQ(json.exit_code, 1);
  const nlohmann::json doc = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_FALSE(doc.at("ok").get<bool>());
  EXPECT_THAT(doc.at("recovery_plan").at("error").get<std::string>(), HasSubstr(victim));
}

}  // namespace
}  // namespace ecsdb::testing
