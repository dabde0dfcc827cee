// End-to-end tests of the `ecsdb` tool: the real binary (ECSDB_CLI, built by this build), run through the
// shell, checked on exit code (DESIGN.md §5: 0 ok, 1 runtime error, 2 usage or validation error) and output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cli_runner.hpp"

namespace ecsdb::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int kExitOk = 0;
constexpr int kExitInvalid = 2;

// A directory of its own per test process, removed at exit: ctest runs the tests of this binary in parallel.
class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("ecsdb_cli_test_" + std::to_string(::getpid()))) {
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const TempDir& temp_dir() {
  static const TempDir dir;
  return dir;
}

CliRun run_cli(const std::vector<std::string>& args) { return testing::run_cli(ECSDB_CLI, args, temp_dir().path()); }

std::string game_schema() { return std::string(ECSDB_SOURCE_DIR) + "/examples/schemas/game.toml"; }

fs::path write_temp_file(const std::string& name, const std::string& text) {
  const fs::path path = temp_dir().path() / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(CliTest, ValidatePrintsTheTables) {
  const CliRun r = run_cli({"validate", game_schema()});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("game.toml: ok"));
  EXPECT_THAT(r.out, HasSubstr("database game_db version 1.0.0"));
  EXPECT_THAT(r.out, HasSubstr("table entities"));
  EXPECT_THAT(r.out, HasSubstr("table transform"));
  EXPECT_THAT(r.out, HasSubstr("table health"));
  EXPECT_THAT(r.out, HasSubstr("stride 12"));
}

TEST(CliTest, ValidateJsonParsesWithTheLayout) {
  const CliRun r = run_cli({"validate", "--json", game_schema()});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  const nlohmann::json doc = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded()) << "not JSON:\n" << r.out;
  EXPECT_EQ(doc.at("database"), "game_db");
  EXPECT_EQ(doc.at("version"), "1.0.0");
  ASSERT_TRUE(doc.at("tables").is_array());
  const nlohmann::json* transform = nullptr;
  const nlohmann::json* health = nullptr;
  for (const auto& t : doc.at("tables")) {
    if (t.at("name") == "transform") transform = &t;
    if (t.at("name") == "health") health = &t;
  }
  ASSERT_NE(transform, nullptr);
  ASSERT_NE(health, nullptr);
  EXPECT_EQ(transform->at("stride"), 12);
  EXPECT_EQ(transform->at("owner_key"), "entity_id");
  EXPECT_EQ(transform->at("row_order"), nlohmann::json({"position_x", "position_y", "position_z"}));
  EXPECT_EQ(health->at("stride"), 8);
}

TEST(CliTest, InvalidSchemaListsEveryErrorWithFileLineColumn) {
  // Two independent mistakes: an unknown type (line 14) and a default of the wrong kind (line 18).
  const fs::path bad = write_temp_file("two_errors.toml", R"([database]
name = "bad"
version = "1.0.0"
[tables.entities]
primary_key = "id"
[[tables.entities.fields]]
name = "id"
type = "u64"
constraint = "unique"
[tables.health]
parent_table = "entities"
[[tables.health.fields]]
name = "hp"
type = "u33"
[[tables.health.fields]]
name = "max_hp"
type = "u32"
default = "lots"
)");
  const CliRun r = run_cli({"validate", bad.string()});
  EXPECT_EQ(r.exit_code, kExitInvalid);
  const std::regex located(R"(two_errors\.toml:(\d+):(\d+): )");
  std::vector<int> lines;
  for (auto it = std::sregex_iterator(r.err.begin(), r.err.end(), located); it != std::sregex_iterator(); ++it) {
    lines.push_back(std::stoi((*it)[1]));
  }
  EXPECT_THAT(lines, ::testing::UnorderedElementsAre(14, 18)) << r.err;
  EXPECT_THAT(r.err, HasSubstr("'u33'"));
  EXPECT_THAT(r.err, HasSubstr("field 'max_hp'"));
  EXPECT_THAT(r.err, HasSubstr("2 error(s)"));

  const CliRun json = run_cli({"validate", "--json", bad.string()});
  EXPECT_EQ(json.exit_code, kExitInvalid);
  const nlohmann::json doc = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << json.out;
  EXPECT_EQ(doc.at("errors").size(), 2u);
}

TEST(CliTest, MissingFileIsAValidationError) {
  const std::string missing = (temp_dir().path() / "no_such_schema.toml").string();
  const CliRun r = run_cli({"validate", missing});
  EXPECT_EQ(r.exit_code, kExitInvalid);
  EXPECT_THAT(r.err, HasSubstr("no_such_schema.toml"));
  EXPECT_EQ(run_cli({"codegen", missing}).exit_code, kExitInvalid);
}

TEST(CliTest, CodegenPrintsABindingHeader) {
  const CliRun r = run_cli({"codegen", game_schema()});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ECSDB_COMPONENT"));
  EXPECT_THAT(r.out, HasSubstr("\"transform\""));
  EXPECT_THAT(r.out, HasSubstr("static_assert"));
}

TEST(CliTest, CodegenWritesTheOutputFile) {
  const fs::path header = temp_dir().path() / "game_components.hpp";
  const CliRun r = run_cli({"codegen", game_schema(), "-o", header.string()});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_THAT(read_text_file(header), HasSubstr("ECSDB_COMPONENT"));
  EXPECT_FALSE(fs::exists(header.string() + ".tmp")) << "the temporary file is renamed into place";
}

TEST(CliTest, DemoRunsWithoutTornReads) {
  const CliRun r = run_cli({"demo", "--schema", game_schema(), "--entities", "500", "--ticks", "10"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(" 0 torn"));
  EXPECT_THAT(r.out, HasSubstr("done: 10 ticks"));
}

TEST(CliTest, EverySubcommandHasHelp) {
  const CliRun root = run_cli({"--help"});
  ASSERT_EQ(root.exit_code, kExitOk) << root.err;
  // The subcommands CLI11 lists under "Subcommands:", so one added later is checked too.
  std::vector<std::string> subcommands;
  std::istringstream lines(root.out);
  bool in_list = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("Subcommands:", 0) == 0) {
      in_list = true;
    } else if (in_list) {
      std::istringstream words(line);
      std::string name;
      if (line.empty() || !(words >> name)) break;
      subcommands.push_back(name);
    }
  }
  EXPECT_THAT(subcommands, ::testing::IsSupersetOf({"validate", "codegen", "demo", "bench"})) << root.out;
  for (const std::string& sub : subcommands) {
    const CliRun r = run_cli({sub, "--help"});
    EXPECT_EQ(r.exit_code, kExitOk) << sub << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr("Usage")) << sub;
  }
}

TEST(CliTest, UsageErrorsExitTwo) {
  const CliRun unknown = run_cli({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, kExitInvalid);
  EXPECT_FALSE(unknown.err.empty()) << "a usage error says what was wrong";
  EXPECT_EQ(run_cli({}).exit_code, kExitInvalid) << "a subcommand is required";
  EXPECT_EQ(run_cli({"validate"}).exit_code, kExitInvalid) << "FILE is required";
  EXPECT_EQ(run_cli({"demo", "--entities", "many"}).exit_code, kExitInvalid);
}

}  // namespace
}  // namespace ecsdb::testing
