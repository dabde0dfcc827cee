// The FileSystem contract, checked against both implementations (POSIX in a temp dir, and the in-memory
// fault-injecting one), then the fault file system's durability model and injected faults.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ecsdb/file_system.hpp"
#include "persist/file_system_errors.hpp"
#include "support/fault_injection_file_system.hpp"
#include "support/temp_dir.hpp"

namespace ecsdb {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::byte> bytes(std::string_view text) {
  std::vector<std::byte> out(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<std::byte>(text[i]);
  return out;
}

std::string text(const std::vector<std::byte>& data) {
  std::string out(data.size(), '\0');
  for (std::size_t i = 0; i < data.size(); ++i) out[i] = static_cast<char>(data[i]);
  return out;
}

std::string read_text(FileSystem& fs, const std::string& path) {
  Result<std::vector<std::byte>> data = fs.read_file(path);
  EXPECT_TRUE(data.has_value()) << data.status().to_string();
  return data ? text(*data) : std::string();
}

// Writes `contents` to a new file and closes it.
void write_file(FileSystem& fs, const std::string& path, std::string_view contents, bool sync = false) {
  auto file = fs.create(path);
  ASSERT_TRUE(file.has_value()) << file.status().to_string();
  ASSERT_TRUE((*file)->append(bytes(contents)).is_ok());
  if (sync) {
    ASSERT_TRUE((*file)->sync().is_ok());
  }
  ASSERT_TRUE((*file)->close().is_ok());
}

// ---- The contract, for both implementations ----

struct FileSystemUnderTest {
  std::shared_ptr<FileSystem> fs;
  std::string root;  // an existing, empty directory
  std::unique_ptr<testing::TempDir> temp;
};

struct Implementation {
  std::string name;
  std::function<FileSystemUnderTest()> make;
};

class FileSystemContractTest : public ::testing::TestWithParam<Implementation> {
 protected:
  void SetUp() override { under_test_ = GetParam().make(); }
  FileSystem& fs() { return *under_test_.fs; }
  std::string path(std::string_view name) const { return under_test_.root + "/" + std::string(name); }

  FileSystemUnderTest under_test_;
};

TEST_P(FileSystemContractTest, AppendThenReadRoundTrips) {
  auto file = fs().create(path("a.log"));
  ASSERT_TRUE(file.has_value()) << file.status().to_string();
  EXPECT_EQ((*file)->path(), path("a.log"));
  ASSERT_TRUE((*file)->append(bytes("hello ")).is_ok());
  ASSERT_TRUE((*file)->append(bytes("world")).is_ok());
  ASSERT_TRUE((*file)->sync().is_ok());
  ASSERT_TRUE((*file)->close().is_ok());
  EXPECT_EQ(read_text(fs(), path("a.log")), "hello world");
  EXPECT_EQ(fs().file_size(path("a.log")).value(), 11U);
  EXPECT_TRUE(fs().exists(path("a.log")));
}

TEST_P(FileSystemContractTest, StartWritebackIsOnlyAHint) {
  auto file = fs().create(path("w.dat"));
  ASSERT_TRUE(file.has_value()) << file.status().to_string();
  const std::string first(3 * 4096 + 17, 'a');
  ASSERT_TRUE((*file)->append(bytes(first)).is_ok());
  (*file)->start_writeback(0, first.size());
  (*file)->start_writeback(4096, 0);  // nothing to do
  ASSERT_TRUE((*file)->append(bytes("tail")).is_ok());
  (*file)->start_writeback(first.size(), 4);
  ASSERT_TRUE((*file)->sync().is_ok());
  ASSERT_TRUE((*file)->close().is_ok());
  (*file)->start_writeback(0, 4);  // a closed file ignores it
  EXPECT_EQ(read_text(fs(), path("w.dat")), first + "tail");
}

TEST_P(FileSystemContractTest, CreateTruncatesAnExistingFile) {
  write_file(fs(), path("a"), "long old contents");
  write_file(fs(), path("a"), "new");
  EXPECT_EQ(read_text(fs(), path("a")), "new");
}

TEST_P(FileSystemContractTest, OpenExistingAppendsAtTheEnd) {
  write_file(fs(), path("a"), "abc");
  auto file = fs().open_existing(path("a"));
  ASSERT_TRUE(file.has_value()) << file.status().to_string();
  ASSERT_TRUE((*file)->append(bytes("def")).is_ok());
  ASSERT_TRUE((*file)->close().is_ok());
  EXPECT_EQ(read_text(fs(), path("a")), "abcdef");
}

TEST_P(FileSystemContractTest, WriteAtIntoPreallocatedFileKeepsTheSize) {
  auto file = fs().create(path("seg"));
  ASSERT_TRUE(file.has_value());
  ASSERT_TRUE((*file)->preallocate(64).is_ok());
  EXPECT_EQ(fs().file_size(path("seg")).value(), 64U);
  ASSERT_TRUE((*file)->write_at(10, bytes("record")).is_ok());
  ASSERT_TRUE((*file)->write_at(60, bytes("tail")).is_ok());
  ASSERT_TRUE((*file)->sync().is_ok());
  EXPECT_EQ(fs().file_size(path("seg")).value(), 64U);
  const std::string got = read_text(fs(), path("seg"));
  ASSERT_EQ(got.size(), 64U);
  EXPECT_EQ(got.substr(10, 6), "record");
  EXPECT_EQ(got.substr(60), "tail");
  EXPECT_EQ(got.substr(0, 10), std::string(10, '\0'));
  // Preallocating less than the size never shrinks the file.
  ASSERT_TRUE((*file)->preallocate(8).is_ok());
  EXPECT_EQ(fs().file_size(path("seg")).value(), 64U);
  ASSERT_TRUE((*file)->close().is_ok());
}

TEST_P(FileSystemContractTest, WriteAtLeavesTheAppendPositionAlone) {
  auto file = fs().create(path("a"));
  ASSERT_TRUE(file.has_value());
  ASSERT_TRUE((*file)->append(bytes("0123456789")).is_ok());
  ASSERT_TRUE((*file)->write_at(2, bytes("xy")).is_ok());
  ASSERT_TRUE((*file)->append(bytes("!")).is_ok());
  ASSERT_TRUE((*file)->close().is_ok());
  EXPECT_EQ(read_text(fs(), path("a")), "01xy456789!");
}

TEST_P(FileSystemContractTest, RenameReplacesTheTarget) {
  write_file(fs(), path("CURRENT.tmp"), "new");
  write_file(fs(), path("CURRENT"), "old");
  ASSERT_TRUE(fs().rename(path("CURRENT.tmp"), path("CURRENT")).is_ok());
  EXPECT_EQ(read_text(fs(), path("CURRENT")), "new");
  EXPECT_FALSE(fs().exists(path("CURRENT.tmp")));
  ASSERT_TRUE(fs().sync_dir(under_test_.root).is_ok());
}

TEST_P(FileSystemContractTest, ListIsSortedNamesWithoutDotEntries) {
  write_file(fs(), path("wal-0002.log"), "");
  write_file(fs(), path("wal-0001.log"), "");
  write_file(fs(), path("CURRENT"), "");
  ASSERT_TRUE(fs().create_dirs(path("archive")).is_ok());
  auto names = fs().list(under_test_.root);
  ASSERT_TRUE(names.has_value()) << names.status().to_string();
  EXPECT_THAT(*names, ElementsAre("CURRENT", "archive", "wal-0001.log", "wal-0002.log"));
  EXPECT_THAT(fs().list(path("archive")).value(), IsEmpty());
}

TEST_P(FileSystemContractTest, CreateDirsMakesEveryLevelAndIsIdempotent) {
  ASSERT_TRUE(fs().create_dirs(path("a/b/c")).is_ok());
  ASSERT_TRUE(fs().create_dirs(path("a/b/c")).is_ok());
  ASSERT_TRUE(fs().create_dirs(path("a/b/c/")).is_ok());
  EXPECT_TRUE(fs().exists(path("a/b")));
  write_file(fs(), path("a/b/c/f"), "x");
  EXPECT_EQ(read_text(fs(), path("a/b/c/f")), "x");
  ASSERT_TRUE(fs().sync_dir(path("a/b/c")).is_ok());
}

TEST_P(FileSystemContractTest, RemoveAndTruncate) {
  write_file(fs(), path("a"), "abcdef");
  ASSERT_TRUE(fs().truncate(path("a"), 2).is_ok());
  EXPECT_EQ(read_text(fs(), path("a")), "ab");
  ASSERT_TRUE(fs().truncate(path("a"), 4).is_ok());
  EXPECT_EQ(read_text(fs(), path("a")), std::string("ab\0\0", 4));
  ASSERT_TRUE(fs().remove(path("a")).is_ok());
  EXPECT_FALSE(fs().exists(path("a")));
}

void expect_io_error_naming(const Status& status, const std::string& path, std::string_view reason) {
  EXPECT_EQ(status.code(), StatusCode::kIoError) << status.to_string();
  EXPECT_THAT(status.message(), HasSubstr(path));
  EXPECT_THAT(status.message(), HasSubstr(reason));
}

TEST_P(FileSystemContractTest, ErrorsNameTheOperationAndThePath) {
  const std::string missing = path("missing.log");
  expect_io_error_naming(fs().read_file(missing).status(), missing, "No such file or directory");
  EXPECT_THAT(fs().read_file(missing).status().message(), HasSubstr("read " + missing));
  expect_io_error_naming(fs().open_existing(missing).status(), missing, "No such file or directory");
  expect_io_error_naming(fs().file_size(missing).status(), missing, "No such file or directory");
  expect_io_error_naming(fs().remove(missing), missing, "No such file or directory");
  expect_io_error_naming(fs().rename(missing, path("b")), missing, "No such file or directory");
  expect_io_error_naming(fs().list(path("nodir")).status(), path("nodir"), "No such file or directory");
  expect_io_error_naming(fs().create(path("nodir/f")).status(), path("nodir/f"), "No such file or directory");

  ASSERT_TRUE(fs().create_dirs(path("dir")).is_ok());
  expect_io_error_naming(fs().create(path("dir")).status(), path("dir"), "Is a directory");
  expect_io_error_naming(fs().open_existing(path("dir")).status(), path("dir"), "Is a directory");

  write_file(fs(), path("file"), "x");
  expect_io_error_naming(fs().create_dirs(path("file")), path("file"), "Not a directory");
}

TEST_P(FileSystemContractTest, ClosedFileRefusesWrites) {
  auto file = fs().create(path("a"));
  ASSERT_TRUE(file.has_value());
  ASSERT_TRUE((*file)->close().is_ok());
  ASSERT_TRUE((*file)->close().is_ok());  // idempotent
  expect_io_error_naming((*file)->append(bytes("x")), path("a"), "Bad file descriptor");
  expect_io_error_naming((*file)->sync(), path("a"), "Bad file descriptor");
}

FileSystemUnderTest make_posix() {
  auto temp = std::make_unique<testing::TempDir>("ecsdb-fs-test");
  std::string root = temp->path();
  return {posix_file_system(), std::move(root), std::move(temp)};
}

FileSystemUnderTest make_fault_injection() {
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  EXPECT_TRUE(fs->create_dirs("/db").is_ok());
  return {fs, "/db", nullptr};
}

INSTANTIATE_TEST_SUITE_P(Implementations, FileSystemContractTest,
                         ::testing::Values(Implementation{"Posix", make_posix},
                                           Implementation{"FaultInjection", make_fault_injection}),
                         [](const auto& param_info) { return param_info.param.name; });

// ---- POSIX only ----

TEST(PosixFileSystemTest, NoSpaceIsRecognisable) {
  if (!posix_file_system()->exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  auto file = posix_file_system()->open_existing("/dev/full");
  ASSERT_TRUE(file.has_value()) << file.status().to_string();
  const Status status = (*file)->append(bytes("data"));
  EXPECT_TRUE(is_no_space(status)) << status.to_string();
  EXPECT_THAT(status.message(), HasSubstr("write /dev/full: No space left on device"));
  EXPECT_FALSE(is_no_space(posix_file_system()->read_file("/nonexistent/x").status()));
}

TEST(PosixFileSystemTest, TempDirIsRemoved) {
  std::string path;
  {
    testing::TempDir temp;
    path = temp.path();
    write_file(*posix_file_system(), temp.file("f"), "x");
    ASSERT_TRUE(posix_file_system()->create_dirs(temp.file("d/e")).is_ok());
  }
  EXPECT_FALSE(posix_file_system()->exists(path));
}

// ---- Fault injection: the durability model ----

class FaultInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fs_.create_dirs("db").is_ok()); }

  std::unique_ptr<WritableFile> create(const std::string& path) {
    auto file = fs_.create(path);
    EXPECT_TRUE(file.has_value()) << file.status().to_string();
    return file ? std::move(file).value() : nullptr;
  }

  FaultInjectionFileSystem fs_;
};

TEST_F(FaultInjectionTest, CrashDropsUnsyncedData) {
  auto file = create("db/wal.log");
  ASSERT_TRUE(fs_.sync_dir("db").is_ok());
  ASSERT_TRUE(file->append(bytes("synced|")).is_ok());
  ASSERT_TRUE(file->sync().is_ok());
  ASSERT_TRUE(file->append(bytes("lost")).is_ok());
  EXPECT_EQ(text(fs_.contents("db/wal.log")), "synced|lost");
  EXPECT_EQ(text(fs_.durable_contents("db/wal.log").value()), "synced|");

  fs_.simulate_crash();
  EXPECT_EQ(read_text(fs_, "db/wal.log"), "synced|");
  // Descriptors do not survive a crash.
  const Status stale = file->append(bytes("x"));
  EXPECT_EQ(stale.code(), StatusCode::kIoError);
  EXPECT_THAT(stale.message(), HasSubstr("simulated crash"));
}

TEST_F(FaultInjectionTest, WritebackHintsAreCountedAndMakeNothingDurable) {
  auto file = create("db/snap.tmp");
  ASSERT_TRUE(fs_.sync_dir("db").is_ok());
  ASSERT_TRUE(file->append(bytes("synced|")).is_ok());
  ASSERT_TRUE(file->sync().is_ok());
  ASSERT_TRUE(file->append(bytes("hinted")).is_ok());
  file->start_writeback(7, 6);
  file->start_writeback(7, 7);  // one byte past the end
  const std::vector<WritebackHint> hints = fs_.writeback_hints();
  ASSERT_EQ(hints.size(), 2u);
  EXPECT_EQ(hints[0].path, "db/snap.tmp");
  EXPECT_EQ(hints[0].offset, 7u);
  EXPECT_EQ(hints[0].length, 6u);
  EXPECT_FALSE(hints[0].past_end);
  EXPECT_TRUE(hints[1].past_end);
  fs_.simulate_crash();
  EXPECT_EQ(read_text(fs_, "db/snap.tmp"), "synced|");
}

TEST_F(FaultInjectionTest, CrashDropsAFileWhoseDirectoryEntryWasNeverSynced) {
  auto file = create("db/new.log");
  ASSERT_TRUE(file->append(bytes("data")).is_ok());
  ASSERT_TRUE(file->sync().is_ok());  // data durable, the name is not
  EXPECT_FALSE(fs_.durable_contents("db/new.log").has_value());
  fs_.simulate_crash();
  EXPECT_FALSE(fs_.exists("db/new.log"));
  EXPECT_THAT(fs_.list("db").value(), IsEmpty());
}

TEST_F(FaultInjectionTest, CrashUndoesUnsyncedRenameAndRemove) {
  write_file(fs_, "db/CURRENT", "v1", /*sync=*/true);
  write_file(fs_, "db/old.log", "old", /*sync=*/true);
  ASSERT_TRUE(fs_.sync_dir("db").is_ok());

  write_file(fs_, "db/CURRENT.tmp", "v2", /*sync=*/true);
  ASSERT_TRUE(fs_.rename("db/CURRENT.tmp", "db/CURRENT").is_ok());
  ASSERT_TRUE(fs_.remove("db/old.log").is_ok());
  EXPECT_EQ(read_text(fs_, "db/CURRENT"), "v2");

  fs_.simulate_crash();
  EXPECT_EQ(read_text(fs_, "db/CURRENT"), "v1");
  EXPECT_EQ(read_text(fs_, "db/old.log"), "old");
  EXPECT_THAT(fs_.list("db").value(), ElementsAre("CURRENT", "old.log"));

  // The same steps with the directory synced survive.
  write_file(fs_, "db/CURRENT.tmp", "v2", /*sync=*/true);
  ASSERT_TRUE(fs_.rename("db/CURRENT.tmp", "db/CURRENT").is_ok());
  ASSERT_TRUE(fs_.remove("db/old.log").is_ok());
  ASSERT_TRUE(fs_.sync_dir("db").is_ok());
  fs_.simulate_crash();
  EXPECT_EQ(read_text(fs_, "db/CURRENT"), "v2");
  EXPECT_THAT(fs_.list("db").value(), ElementsAre("CURRENT"));
}

TEST_F(FaultInjectionTest, RenameKeepsTheSyncedDataOfTheFile) {
  // A file synced under its old name keeps that data under the new one once the directory is synced.
  auto file = create("db/a.tmp");
  ASSERT_TRUE(file->append(bytes("payload")).is_ok());
  ASSERT_TRUE(file->sync().is_ok());
  ASSERT_TRUE(fs_.rename("db/a.tmp", "db/a").is_ok());
  ASSERT_TRUE(fs_.sync_dir("db").is_ok());
  ASSERT_TRUE(file->append(bytes("+unsynced")).is_ok());  // the open handle follows the inode
  fs_.simulate_crash();
  EXPECT_EQ(read_text(fs_, "db/a"), "payload");
}

TEST_F(FaultInjectionTest, TruncateAndSizeChangesAreDurableOnlyAfterSync) {
  write_file(fs_, "db/f", "abcdef", /*sync=*/true);
  ASSERT_TRUE(fs_.sync_dir("db").is_ok());
  ASSERT_TRUE(fs_.truncate("db/f", 2).is_ok());
  fs_.simulate_crash();
  EXPECT_EQ(read_text(fs_, "db/f"), "abcdef");

  // Cut to 2, then write past the old end: the cut bytes must not reappear from the old durable image.
  ASSERT_TRUE(fs_.truncate("db/f", 2).is_ok());
  auto file = fs_.open_existing("db/f");
  ASSERT_TRUE(file.has_value());
  ASSERT_TRUE((*file)->write_at(6, bytes("Z")).is_ok());
  ASSERT_TRUE((*file)->sync().is_ok());
  fs_.simulate_crash();
  EXPECT_EQ(read_text(fs_, "db/f"), std::string("ab\0\0\0\0Z", 7));
}

TEST_F(FaultInjectionTest, PreallocatedSizeIsDurableAfterSync) {
  auto file = create("db/seg");
  ASSERT_TRUE(fs_.sync_dir("db").is_ok());
  ASSERT_TRUE(file->preallocate(32).is_ok());
  ASSERT_TRUE(file->write_at(4, bytes("rec")).is_ok());
  ASSERT_TRUE(file->sync().is_ok());
  ASSERT_TRUE(file->write_at(8, bytes("unsynced")).is_ok());
  fs_.simulate_crash();
  const std::string got = read_text(fs_, "db/seg");
  ASSERT_EQ(got.size(), 32U);
  EXPECT_EQ(got.substr(4, 3), "rec");
  EXPECT_EQ(got.substr(8, 8), std::string(8, '\0'));
}

// ---- Fault injection: injected faults ----

TEST_F(FaultInjectionTest, FailedSyncDropsTheUnsyncedDataForGood) {
  auto file = create("db/wal-0001.log");
  ASSERT_TRUE(fs_.sync_dir("db").is_ok());
  ASSERT_TRUE(file->append(bytes("AAAA")).is_ok());
  ASSERT_TRUE(file->sync().is_ok());

  fs_.fail_sync(1, false, "wal-");
  ASSERT_TRUE(file->append(bytes("BBBB")).is_ok());
  const Status failed = file->sync();
  EXPECT_EQ(failed.code(), StatusCode::kIoError);
  EXPECT_THAT(failed.message(), HasSubstr("sync db/wal-0001.log: Input/output error"));

  // Linux semantics: the next sync succeeds, yet "BBBB" was marked clean and never reaches the disk.
  ASSERT_TRUE(file->append(bytes("CCCC")).is_ok());
  ASSERT_TRUE(file->sync().is_ok());
  EXPECT_EQ(text(fs_.contents("db/wal-0001.log")), "AAAABBBBCCCC");  // the page cache still has it
  fs_.simulate_crash();
  EXPECT_EQ(read_text(fs_, "db/wal-0001.log"), std::string("AAAA\0\0\0\0CCCC", 12));

  EXPECT_EQ(fs_.counters().failed_syncs, 1U);
  EXPECT_EQ(fs_.injection_log().front(), "fail sync db/wal-0001.log");
}

TEST_F(FaultInjectionTest, FailsTheNthWriteOrEveryWriteFromIt) {
  auto file = create("db/f");
  fs_.fail_write(3);
  EXPECT_TRUE(file->append(bytes("1")).is_ok());
  EXPECT_TRUE(file->append(bytes("2")).is_ok());
  const Status third = file->append(bytes("3"));
  EXPECT_EQ(third.code(), StatusCode::kIoError);
  EXPECT_THAT(third.message(), HasSubstr("write db/f"));
  EXPECT_TRUE(file->append(bytes("4")).is_ok());
  EXPECT_EQ(text(fs_.contents("db/f")), "124");  // the failed write stored nothing

  fs_.fail_write(2, /*sticky=*/true);
  EXPECT_TRUE(file->append(bytes("5")).is_ok());
  EXPECT_FALSE(file->append(bytes("6")).is_ok());
  EXPECT_FALSE(file->write_at(0, bytes("7")).is_ok());
  fs_.clear_faults();
  EXPECT_TRUE(file->append(bytes("8")).is_ok());
  EXPECT_EQ(text(fs_.contents("db/f")), "1245" "8");
  EXPECT_EQ(fs_.counters().failed_writes, 3U);
  EXPECT_EQ(fs_.counters().writes, 8U);
}

TEST_F(FaultInjectionTest, WriteRulesCanTargetOnePath) {
  auto wal = create("db/wal.log");
  auto snapshot = create("db/snapshot.bin");
  fs_.fail_write(1, /*sticky=*/true, "snapshot");
  EXPECT_TRUE(wal->append(bytes("w")).is_ok());
  EXPECT_FALSE(snapshot->append(bytes("s")).is_ok());
  EXPECT_TRUE(wal->append(bytes("w")).is_ok());
}

TEST_F(FaultInjectionTest, ShortWriteStoresAPrefixAndFails) {
  auto file = create("db/f");
  fs_.short_write(2, 3);
  ASSERT_TRUE(file->append(bytes("head|")).is_ok());
  const Status status = file->append(bytes("record"));
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_THAT(status.message(), HasSubstr("3 of 6 bytes"));
  EXPECT_EQ(text(fs_.contents("db/f")), "head|rec");
  EXPECT_EQ(fs_.counters().short_writes, 1U);
  EXPECT_EQ(fs_.injection_log().back(), "short write db/f: 3 of 6 bytes written");
}

TEST_F(FaultInjectionTest, NoSpaceOnceTheLimitIsReached) {
  write_file(fs_, "db/other", "1234");  // counts against the limit too
  auto file = create("db/f");
  fs_.set_space_limit(10);
  ASSERT_TRUE(file->append(bytes("abcd")).is_ok());
  const Status full = file->append(bytes("efgh"));
  EXPECT_TRUE(is_no_space(full)) << full.to_string();
  EXPECT_THAT(full.message(), HasSubstr("write db/f: No space left on device"));
  EXPECT_EQ(text(fs_.contents("db/f")), "abcdef");  // what fitted was written
  EXPECT_TRUE(file->write_at(0, bytes("AB")).is_ok());  // overwriting needs no space
  EXPECT_TRUE(is_no_space(file->preallocate(64)));
  EXPECT_TRUE(is_no_space(fs_.truncate("db/other", 100)));
  EXPECT_EQ(fs_.counters().no_space, 3U);

  fs_.set_space_limit(std::nullopt);
  EXPECT_TRUE(file->append(bytes("gh")).is_ok());
}

TEST_F(FaultInjectionTest, FailedDirectorySyncLeavesEntriesUndurable) {
  write_file(fs_, "db/f", "x", /*sync=*/true);
  fs_.fail_sync_dir();
  EXPECT_THAT(fs_.sync_dir("db").message(), HasSubstr("sync_dir db: Input/output error"));
  fs_.simulate_crash();
  EXPECT_FALSE(fs_.exists("db/f"));
}

TEST_F(FaultInjectionTest, BitFlipIsVisibleNowAndAfterACrash) {
  write_file(fs_, "db/f", "AAAA", /*sync=*/true);
  ASSERT_TRUE(fs_.sync_dir("db").is_ok());
  ASSERT_TRUE(fs_.corrupt("db/f", 2, 0).is_ok());  // 'A' (0x41) -> '@' (0x40)
  EXPECT_EQ(read_text(fs_, "db/f"), "AA@A");
  fs_.simulate_crash();
  EXPECT_EQ(read_text(fs_, "db/f"), "AA@A");
  EXPECT_EQ(fs_.corrupt("db/f", 4, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fs_.corrupt("db/f", 0, 8).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fs_.corrupt("db/none", 0, 0).code(), StatusCode::kIoError);
}

TEST_F(FaultInjectionTest, TruncateDurableTearsTheTailAtTheNextCrash) {
  write_file(fs_, "db/wal", "record1record2", /*sync=*/true);
  ASSERT_TRUE(fs_.sync_dir("db").is_ok());
  ASSERT_TRUE(fs_.truncate_durable("db/wal", 10).is_ok());
  EXPECT_EQ(read_text(fs_, "db/wal"), "record1record2");
  fs_.simulate_crash();
  EXPECT_EQ(read_text(fs_, "db/wal"), "record1rec");
}

TEST_F(FaultInjectionTest, LogsEveryInjectionInOrder) {
  auto file = create("db/wal-1.log");
  fs_.fail_write(1);
  file->append(bytes("x")).ignore();
  fs_.fail_sync();
  file->sync().ignore();
  ASSERT_TRUE(fs_.corrupt("db/wal-1.log", 0, 1).is_ok() == false);  // empty file: nothing to flip
  ASSERT_TRUE(file->append(bytes("y")).is_ok());
  ASSERT_TRUE(fs_.corrupt("db/wal-1.log", 0, 1).is_ok());
  ASSERT_TRUE(fs_.truncate_durable("db/wal-1.log", 0).is_ok());
  fs_.simulate_crash();
  EXPECT_THAT(fs_.injection_log(),
              ElementsAre("fail write db/wal-1.log (write #1)", "fail sync db/wal-1.log",
                          "flip bit 1 of byte 0 in db/wal-1.log", "truncate durable db/wal-1.log to 0 bytes (was 0)",
                          "crash #1: lost unsynced data of 0 files and 1 unsynced directory entries"));
  const FaultCounters counters = fs_.counters();
  EXPECT_EQ(counters.failed_writes, 1U);
  EXPECT_EQ(counters.failed_syncs, 1U);
  EXPECT_EQ(counters.bit_flips, 1U);
  EXPECT_EQ(counters.torn_files, 1U);
  EXPECT_EQ(counters.crashes, 1U);
}

TEST_F(FaultInjectionTest, RulesCanBeSetWhileOtherThreadsWrite) {
  constexpr int kThreads = 4;
  constexpr int kWrites = 500;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto file = fs_.create("db/f" + std::to_string(t));
      ASSERT_TRUE(file.has_value());
      for (int i = 0; i < kWrites; ++i) {
        if (!(*file)->append(bytes("x")).is_ok()) failures.fetch_add(1);
        if (i % 50 == 0) (*file)->sync().ignore();
      }
    });
  }
  for (int i = 0; i < 20; ++i) fs_.fail_write(7);
  for (auto& thread : threads) thread.join();
  const FaultCounters counters = fs_.counters();
  EXPECT_EQ(counters.writes, static_cast<std::uint64_t>(kThreads * kWrites));
  EXPECT_EQ(counters.failed_writes, static_cast<std::uint64_t>(failures.load()));
  std::uint64_t stored = 0;
  for (int t = 0; t < kThreads; ++t) stored += fs_.contents("db/f" + std::to_string(t)).size();
  EXPECT_EQ(stored + counters.failed_writes, counters.writes);
}

}  // namespace
}  // namespace ecsdb
