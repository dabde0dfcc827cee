// support/fault_injection_file_system.hpp — an in-memory FileSystem that models what survives a crash and
// injects the failures real disks produce, so WAL, snapshot and recovery code can be tested against them.
//
// Durability model (what simulate_crash() keeps):
//  * File data: each file has its current bytes (what reads see: the page cache) and its durable bytes.
//    WritableFile::sync() copies the bytes written since the last sync — and the size — to durable.
//    Growth, preallocate() and truncate() change the size, which is likewise durable only after sync().
//  * Failed sync (fail_sync): returns EIO and, as Linux does, marks the written-but-unsynced bytes clean
//    without persisting them. A later successful sync() does NOT bring them back: after a crash they read
//    as the old durable bytes (zeros past the old durable end). A database that reports such data durable
//    is caught by the next crash test.
//  * Directory entries: create / rename / remove change a directory's current entries at once; they become
//    durable only when sync_dir() of that directory succeeds (so a rename between two directories needs
//    both synced). A file whose entry was never made durable disappears at a crash, however often its data
//    was synced; an unsynced rename or remove is undone.
//  * Directories themselves (create_dirs) are durable at once: the model is about files, not mkdir.
//  * simulate_crash() reverts everything to the durable state, and every WritableFile opened before it
//    fails from then on (a process does not keep its descriptors across a crash).
//  * simulate_power_loss(seed) is harsher, as a real disk is: the kernel may have written back any part
//    of the unsynced data before the power went, in any order. Each 4 KiB page holding unsynced bytes
//    reaches the durable state or not, at random (seeded); a kept page past the durable end extends it
//    (zeros in between). Then, as after a crash, unsynced directory entries are lost.
//    power_loss_at(n, seed) does that just before the n-th sync or sync_dir from now (when the most
//    unsynced data is in flight), and the file system then refuses every change (EIO, "power is off")
//    until power_on(): a dead machine writes nothing more.
//
// Faults: each rule counts matching operations from the moment it is set ("the n-th write from now",
// 1 = the next one) and may be limited to paths containing a substring. Fired faults are counted
// (counters()) and described in injection_log(), e.g. "fail sync db/wal-0000000000000001.log".
// corrupt() and truncate_durable() damage the stored bytes directly (media errors, torn writes).
//
// Paths are plain strings, normalised lexically ("a//b/./c" == "a/b/c"); a relative path lives under ".".
// "." and "/" always exist. Parent directories must exist (create_dirs), as on a real disk.
//
// Thread-safety: every method of the file system and of its WritableFiles may be called from any thread;
// one mutex serialises them (this is a test double: correctness over speed). Fault rules may be set while
// other threads do I/O. A WritableFile is used by one thread at a time, like a POSIX one.
// Ownership: the file system must outlive the WritableFiles it returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ecsdb/file_system.hpp"

namespace ecsdb {

// How many faults of each kind fired, and how many operations were seen (for crash drivers that want to
// enumerate "fail the k-th write" for every k of a workload).
struct FaultCounters {
  std::uint64_t writes = 0;           // append / write_at calls seen (including failed ones)
  std::uint64_t syncs = 0;            // WritableFile::sync calls seen
  std::uint64_t dir_syncs = 0;        // sync_dir calls seen
  std::uint64_t failed_writes = 0;    // fail_write
  std::uint64_t short_writes = 0;     // short_write
  std::uint64_t failed_syncs = 0;     // fail_sync
  std::uint64_t failed_dir_syncs = 0; // fail_sync_dir
  std::uint64_t no_space = 0;         // set_space_limit refusals (writes, preallocate, truncate)
  std::uint64_t bit_flips = 0;        // corrupt
  std::uint64_t torn_files = 0;       // truncate_durable
  std::uint64_t crashes = 0;          // simulate_crash and simulate_power_loss
  std::uint64_t pages_kept = 0;       // unsynced pages that survived a simulated power loss
  std::uint64_t pages_lost = 0;       // unsynced pages that did not
};

// One WritableFile::start_writeback call on an open file (writeback_hints()). The model makes nothing
// durable for it: only sync() does.
struct WritebackHint {
  std::string path;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool past_end = false;  // it named bytes past the file's end: a caller bug
};

class FaultInjectionFileSystem final : public FileSystem {
 public:
  FaultInjectionFileSystem();
  ~FaultInjectionFileSystem() override;
  FaultInjectionFileSystem(const FaultInjectionFileSystem&) = delete;
  FaultInjectionFileSystem& operator=(const FaultInjectionFileSystem&) = delete;

  // ---- FileSystem ----
  Result<std::unique_ptr<WritableFile>> create(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> open_existing(const std::string& path) override;
  Result<std::vector<std::byte>> read_file(const std::string& path) override;
  Result<std::uint64_t> file_size(const std::string& path) override;
  Status truncate(const std::string& path, std::uint64_t size) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  bool exists(const std::string& path) override;
  Result<std::vector<std::string>> list(const std::string& dir) override;
  Status create_dirs(const std::string& dir) override;
  Status sync_dir(const std::string& dir) override;

  // ---- Fault rules (all: `nth` counts matching operations from now, 1 = the next one; `path_contains`
  // limits the rule to paths containing it, "" = every path; `sticky` = that one and every later one) ----

  // The n-th append/write_at fails with EIO and writes nothing.
  void fail_write(std::uint64_t nth, bool sticky = false, std::string path_contains = {});
  // The n-th append/write_at writes only its first `keep_bytes` bytes (fewer if the write is shorter),
  // then fails with EIO: a torn write the caller is told about.
  void short_write(std::uint64_t nth, std::size_t keep_bytes, std::string path_contains = {});
  // The n-th WritableFile::sync fails with EIO and drops that file's unsynced bytes (see the model above).
  void fail_sync(std::uint64_t nth = 1, bool sticky = false, std::string path_contains = {});
  // The n-th sync_dir fails with EIO; that directory's entries stay as durable as they were.
  void fail_sync_dir(std::uint64_t nth = 1, bool sticky = false, std::string path_contains = {});
  // ENOSPC once the total size of all files would exceed `bytes`: a write stores what fits, then fails;
  // preallocate and growing truncate fail whole. std::nullopt removes the limit.
  void set_space_limit(std::optional<std::uint64_t> bytes);
  // Removes every rule and the space limit (counters and log are kept).
  void clear_faults();

  // ---- Damage and crashes ----

  // Flips bit `bit` (0..7) of byte `offset` of `path`, in both its current and its durable bytes (where the
  // offset exists): a media error that read_file and recovery after a crash both see.
  Status corrupt(const std::string& path, std::uint64_t offset, unsigned bit);
  // Cuts the durable bytes of `path` to `size` (a torn write: the tail never reached the disk). The current
  // bytes are untouched; the damage shows after simulate_crash().
  Status truncate_durable(const std::string& path, std::uint64_t size);
  // Power loss: everything reverts to the durable state, open WritableFiles go stale. Rules stay set.
  void simulate_crash();
  // Power loss during write-back: a random subset of the unsynced 4 KiB pages persists (see the model).
  // The power stays off (every change fails) until power_on().
  void simulate_power_loss(std::uint64_t seed);
  // simulate_power_loss(seed) just before the n-th sync or sync_dir from now (that operation fails);
  // every later change fails until power_on().
  void power_loss_at(std::uint64_t nth, std::uint64_t seed);
  void power_on();
  bool powered_off() const;
  static constexpr std::uint64_t kPageSize = 4096;

  // ---- Inspection (for tests) ----

  // Current bytes of `path` (what read_file returns); empty if it does not exist.
  std::vector<std::byte> contents(const std::string& path) const;
  // Durable bytes of `path` as it would look after a crash now; std::nullopt if its entry would be gone.
  std::optional<std::vector<std::byte>> durable_contents(const std::string& path) const;
  FaultCounters counters() const;
  // Called with the path of every successful WritableFile::sync, on the syncing thread (under this file
  // system's lock: it must not call back into it). Tests use it to see which thread made data durable.
  void on_sync(std::function<void(const std::string& path)> hook);
  // One line per injected fault, damage or crash, in order.
  std::vector<std::string> injection_log() const;
  // Every writeback hint given to an open file, in order.
  std::vector<WritebackHint> writeback_hints() const;

 private:
  class File;
  enum class Op : unsigned char { kWrite, kSync, kSyncDir };

  // One inode. Invariant: `durable` is what a crash leaves; bytes in `dirty` ranges and the size change
  // since the last sync are what sync() would add to it.
  struct Node {
    std::vector<std::byte> current;
    std::vector<std::byte> durable;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> dirty;  // [begin, end) written since the last sync
    std::uint64_t min_size_since_sync = 0;  // durable bytes at or past this were cut by a truncate
  };
  struct Dir {
    std::map<std::string, std::shared_ptr<Node>> entries;          // what list/read see now
    std::map<std::string, std::shared_ptr<Node>> durable_entries;  // as of the last sync_dir
  };
  struct Rule {
    Op op = Op::kWrite;
    std::uint64_t remaining = 1;  // matching operations until it fires (1 = the next one)
    bool sticky = false;
    bool fired = false;
    std::optional<std::size_t> keep_bytes;  // short write
    std::string path_contains;
  };

  // Private helpers require mu_ held unless marked.
  std::shared_ptr<Node> find_node(const std::string& normal_path) const;
  Dir* find_dir(const std::string& normal_dir);
  const Dir* find_dir(const std::string& normal_dir) const;
  std::optional<Rule> match_rule(Op op, const std::string& path);
  std::uint64_t used_bytes() const;
  Status check_space(std::string_view operation, const std::string& path, std::uint64_t growth);
  Status write_locked(File& file, std::uint64_t offset, std::span<const std::byte> data);
  Status sync_locked(File& file);
  Status preallocate_locked(File& file, std::uint64_t bytes);
  Status check_file(const File& file, std::string_view operation) const;
  // Counts a sync/sync_dir toward power_loss_at; fails any change once the power is off.
  Status power_check(std::string_view operation, const std::string& path, bool is_sync);
  void crash_locked(const std::string& what);
  void persist_random_pages_locked(std::uint64_t seed);
  void add_rule(Op op, std::uint64_t nth, bool sticky, std::optional<std::size_t> keep_bytes,
                std::string path_contains);  // takes mu_
  void log(std::string line);

  mutable std::mutex mu_;
  std::map<std::string, Dir> dirs_;  // normalised directory path -> its entries
  std::vector<Rule> rules_;
  std::optional<std::uint64_t> space_limit_;
  std::uint64_t epoch_ = 0;          // bumped by simulate_crash; files from an older epoch are stale
  std::uint64_t power_loss_in_ = 0;  // operations until power_loss_at fires (0 = not armed)
  std::uint64_t power_loss_seed_ = 0;
  bool powered_off_ = false;
  FaultCounters counters_;
  std::vector<std::string> log_;
  std::vector<WritebackHint> writeback_hints_;
  std::function<void(const std::string&)> on_sync_;
};

}  // namespace ecsdb
