// In-memory FileSystem with a durability model and fault rules; the contract is in the header.
#include "support/fault_injection_file_system.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <random>
#include <set>
#include <utility>

#include "persist/file_system_errors.hpp"

namespace ecsdb {
namespace {

// Lexical only (no disk to ask): "a//b/./c/" -> "a/b/c", "" -> ".".
std::string normalize(const std::string& path) {
  std::string out = std::filesystem::path(path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (out.empty()) out = ".";
  return out;
}

struct SplitPath {
  std::string dir;
  std::string name;
};

SplitPath split(const std::string& normal) {
  const std::size_t slash = normal.rfind('/');
  if (slash == std::string::npos) return {".", normal};
  if (slash == 0) return {"/", normal.substr(1)};
  return {normal.substr(0, slash), normal.substr(slash + 1)};
}

std::string bytes_text(std::uint64_t n, std::uint64_t of) {
  return std::to_string(n) + " of " + std::to_string(of) + " bytes";
}

}  // namespace

class FaultInjectionFileSystem::File final : public WritableFile {
 public:
  File(FaultInjectionFileSystem* fs, std::shared_ptr<Node> node, std::string path, std::uint64_t position,
       std::uint64_t epoch)
      : fs_(fs), node_(std::move(node)), path_(std::move(path)), position_(position), epoch_(epoch) {}

  Status append(std::span<const std::byte> data) override {
    std::lock_guard lock(fs_->mu_);
    ECSDB_RETURN_IF_ERROR(fs_->write_locked(*this, position_, data));
    position_ += data.size();
    return Status::ok();
  }
  Status write_at(std::uint64_t offset, std::span<const std::byte> data) override {
    std::lock_guard lock(fs_->mu_);
    return fs_->write_locked(*this, offset, data);
  }
  Status sync() override {
    std::lock_guard lock(fs_->mu_);
    return fs_->sync_locked(*this);
  }
  // Recorded, and otherwise ignored: the model's durability changes only at sync(), as a real disk's
  // guarantee does (the hint may write data back early, which simulate_power_loss already allows). A
  // closed file ignores it, as the POSIX one does.
  void start_writeback(std::uint64_t offset, std::uint64_t length) override {
    std::lock_guard lock(fs_->mu_);
    if (closed_) return;
    fs_->writeback_hints_.push_back({path_, offset, length, offset + length > node_->current.size()});
  }
  Status preallocate(std::uint64_t bytes) override {
    std::lock_guard lock(fs_->mu_);
    return fs_->preallocate_locked(*this, bytes);
  }
  Status close() override {
    std::lock_guard lock(fs_->mu_);
    closed_ = true;
    return Status::ok();
  }
  const std::string& path() const override { return path_; }

 private:
  friend class FaultInjectionFileSystem;

  FaultInjectionFileSystem* fs_;
  std::shared_ptr<Node> node_;  // kept alive after remove/rename, like an open descriptor
  std::string path_;            // as the caller spelled it, for messages and rule matching
  std::uint64_t position_;      // where the next append() goes
  std::uint64_t epoch_;         // the file system's crash epoch when opened
  bool closed_ = false;
};

FaultInjectionFileSystem::FaultInjectionFileSystem() {
  dirs_["."];
  dirs_["/"];
}

FaultInjectionFileSystem::~FaultInjectionFileSystem() = default;

// ---- FileSystem ----

Result<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::create(const std::string& path) {
  std::lock_guard lock(mu_);
  if (powered_off_) return io_error("create", path, EIO, "injected: power is off");
  const std::string normal = normalize(path);
  if (dirs_.contains(normal)) return io_error("create", path, EISDIR);
  const auto [dir_path, name] = split(normal);
  Dir* dir = find_dir(dir_path);
  if (dir == nullptr) return io_error("create", path, ENOENT);
  std::shared_ptr<Node>& node = dir->entries[name];
  if (node == nullptr) {
    node = std::make_shared<Node>();
  } else {  // O_TRUNC keeps the inode; the cut is durable only after a sync, like any size change
    node->current.clear();
    node->dirty.clear();
    node->min_size_since_sync = 0;
  }
  return std::unique_ptr<WritableFile>(std::make_unique<File>(this, node, path, 0, epoch_));
}

Result<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::open_existing(const std::string& path) {
  std::lock_guard lock(mu_);
  const std::string normal = normalize(path);
  if (dirs_.contains(normal)) return io_error("open", path, EISDIR);
  std::shared_ptr<Node> node = find_node(normal);
  if (node == nullptr) return io_error("open", path, ENOENT);
  const std::uint64_t end = node->current.size();
  return std::unique_ptr<WritableFile>(std::make_unique<File>(this, std::move(node), path, end, epoch_));
}

Result<std::vector<std::byte>> FaultInjectionFileSystem::read_file(const std::string& path) {
  std::lock_guard lock(mu_);
  const std::string normal = normalize(path);
  if (dirs_.contains(normal)) return io_error("read", path, EISDIR);
  const std::shared_ptr<Node> node = find_node(normal);
  if (node == nullptr) return io_error("read", path, ENOENT);
  return node->current;
}

Result<std::uint64_t> FaultInjectionFileSystem::file_size(const std::string& path) {
  std::lock_guard lock(mu_);
  const std::string normal = normalize(path);
  if (dirs_.contains(normal)) return io_error("stat", path, EISDIR);
  const std::shared_ptr<Node> node = find_node(normal);
  if (node == nullptr) return io_error("stat", path, ENOENT);
  return static_cast<std::uint64_t>(node->current.size());
}

Status FaultInjectionFileSystem::truncate(const std::string& path, std::uint64_t size) {
  std::lock_guard lock(mu_);
  if (powered_off_) return io_error("truncate", path, EIO, "injected: power is off");
  const std::string normal = normalize(path);
  if (dirs_.contains(normal)) return io_error("truncate", path, EISDIR);
  const std::shared_ptr<Node> node = find_node(normal);
  if (node == nullptr) return io_error("truncate", path, ENOENT);
  const std::uint64_t old_size = node->current.size();
  if (size > old_size) ECSDB_RETURN_IF_ERROR(check_space("truncate", path, size - old_size));
  node->current.resize(size);
  node->min_size_since_sync = std::min(node->min_size_since_sync, size);
  std::erase_if(node->dirty, [&](auto& range) {
    range.second = std::min(range.second, size);
    return range.first >= range.second;
  });
  return Status::ok();
}

Status FaultInjectionFileSystem::rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  if (powered_off_) return io_error("rename", from, EIO, "injected: power is off");
  const std::string what = from + " -> " + to;
  const std::string from_normal = normalize(from);
  const std::string to_normal = normalize(to);
  if (dirs_.contains(from_normal)) return io_error("rename", what, EISDIR, "directories cannot be renamed here");
  if (dirs_.contains(to_normal)) return io_error("rename", what, EISDIR);
  const auto [from_dir_path, from_name] = split(from_normal);
  const auto [to_dir_path, to_name] = split(to_normal);
  Dir* from_dir = find_dir(from_dir_path);
  Dir* to_dir = find_dir(to_dir_path);
  if (from_dir == nullptr || !from_dir->entries.contains(from_name) || to_dir == nullptr) {
    return io_error("rename", what, ENOENT);
  }
  if (from_normal == to_normal) return Status::ok();
  // One step, so no reader ever sees the target missing: the atomic replace POSIX promises.
  to_dir->entries[to_name] = std::move(from_dir->entries[from_name]);
  from_dir->entries.erase(from_name);
  return Status::ok();
}

Status FaultInjectionFileSystem::remove(const std::string& path) {
  std::lock_guard lock(mu_);
  if (powered_off_) return io_error("remove", path, EIO, "injected: power is off");
  const std::string normal = normalize(path);
  if (dirs_.contains(normal)) return io_error("remove", path, EISDIR);
  const auto [dir_path, name] = split(normal);
  Dir* dir = find_dir(dir_path);
  if (dir == nullptr || dir->entries.erase(name) == 0) return io_error("remove", path, ENOENT);
  return Status::ok();
}

bool FaultInjectionFileSystem::exists(const std::string& path) {
  std::lock_guard lock(mu_);
  const std::string normal = normalize(path);
  return dirs_.contains(normal) || find_node(normal) != nullptr;
}

Result<std::vector<std::string>> FaultInjectionFileSystem::list(const std::string& dir) {
  std::lock_guard lock(mu_);
  const std::string normal = normalize(dir);
  const Dir* d = find_dir(normal);
  if (d == nullptr) return io_error("list", dir, find_node(normal) != nullptr ? ENOTDIR : ENOENT);
  std::vector<std::string> names;
  names.reserve(d->entries.size());
  for (const auto& entry : d->entries) names.push_back(entry.first);
  for (const auto& entry : dirs_) {
    if (entry.first == normal) continue;  // "." and "/" are their own parents
    const SplitPath child = split(entry.first);
    if (child.dir == normal) names.push_back(child.name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Status FaultInjectionFileSystem::create_dirs(const std::string& dir) {
  std::lock_guard lock(mu_);
  std::vector<std::string> missing;  // deepest first
  for (std::string d = normalize(dir); !dirs_.contains(d); d = split(d).dir) missing.push_back(d);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (find_node(*it) != nullptr) return io_error("mkdir", *it, ENOTDIR, "a file has that name");
    dirs_[*it];
  }
  return Status::ok();
}

Status FaultInjectionFileSystem::sync_dir(const std::string& dir) {
  std::lock_guard lock(mu_);
  ECSDB_RETURN_IF_ERROR(power_check("sync_dir", dir, true));
  ++counters_.dir_syncs;
  Dir* d = find_dir(normalize(dir));
  if (d == nullptr) return io_error("sync_dir", dir, ENOENT);
  if (match_rule(Op::kSyncDir, dir).has_value()) {
    ++counters_.failed_dir_syncs;
    log("fail sync_dir " + dir);
    return io_error("sync_dir", dir, EIO, "injected");
  }
  d->durable_entries = d->entries;
  return Status::ok();
}

// ---- Fault rules ----

void FaultInjectionFileSystem::fail_write(std::uint64_t nth, bool sticky, std::string path_contains) {
  add_rule(Op::kWrite, nth, sticky, std::nullopt, std::move(path_contains));
}

void FaultInjectionFileSystem::short_write(std::uint64_t nth, std::size_t keep_bytes, std::string path_contains) {
  add_rule(Op::kWrite, nth, /*sticky=*/false, keep_bytes, std::move(path_contains));
}

void FaultInjectionFileSystem::fail_sync(std::uint64_t nth, bool sticky, std::string path_contains) {
  add_rule(Op::kSync, nth, sticky, std::nullopt, std::move(path_contains));
}

void FaultInjectionFileSystem::fail_sync_dir(std::uint64_t nth, bool sticky, std::string path_contains) {
  add_rule(Op::kSyncDir, nth, sticky, std::nullopt, std::move(path_contains));
}

void FaultInjectionFileSystem::set_space_limit(std::optional<std::uint64_t> bytes) {
  std::lock_guard lock(mu_);
  space_limit_ = bytes;
}

void FaultInjectionFileSystem::clear_faults() {
  std::lock_guard lock(mu_);
  rules_.clear();
  space_limit_.reset();
}

// ---- Damage and crashes ----

Status FaultInjectionFileSystem::corrupt(const std::string& path, std::uint64_t offset, unsigned bit) {
  std::lock_guard lock(mu_);
  if (bit > 7) return invalid_argument("corrupt " + path + ": bit " + std::to_string(bit) + " is not 0..7");
  const std::shared_ptr<Node> node = find_node(normalize(path));
  if (node == nullptr) return io_error("corrupt", path, ENOENT);
  if (offset >= node->current.size() && offset >= node->durable.size()) {
    return invalid_argument("corrupt " + path + ": offset " + std::to_string(offset) + " is past the end (" +
                            std::to_string(std::max(node->current.size(), node->durable.size())) + " bytes)");
  }
  const auto mask = static_cast<std::byte>(1U << bit);
  if (offset < node->current.size()) node->current[offset] ^= mask;
  if (offset < node->durable.size()) node->durable[offset] ^= mask;
  ++counters_.bit_flips;
  log("flip bit " + std::to_string(bit) + " of byte " + std::to_string(offset) + " in " + path);
  return Status::ok();
}

Status FaultInjectionFileSystem::truncate_durable(const std::string& path, std::uint64_t size) {
  std::lock_guard lock(mu_);
  const std::shared_ptr<Node> node = find_node(normalize(path));
  if (node == nullptr) return io_error("truncate_durable", path, ENOENT);
  const std::uint64_t was = node->durable.size();
  if (size < was) node->durable.resize(size);
  ++counters_.torn_files;
  log("truncate durable " + path + " to " + std::to_string(std::min(size, was)) + " bytes (was " +
      std::to_string(was) + ")");
  return Status::ok();
}

void FaultInjectionFileSystem::simulate_crash() {
  std::lock_guard lock(mu_);
  crash_locked("crash");
}

void FaultInjectionFileSystem::simulate_power_loss(std::uint64_t seed) {
  std::lock_guard lock(mu_);
  persist_random_pages_locked(seed);
  crash_locked("power loss (seed " + std::to_string(seed) + ")");
  powered_off_ = true;
}

void FaultInjectionFileSystem::power_loss_at(std::uint64_t nth, std::uint64_t seed) {
  std::lock_guard lock(mu_);
  power_loss_in_ = std::max<std::uint64_t>(nth, 1);
  power_loss_seed_ = seed;
}

void FaultInjectionFileSystem::power_on() {
  std::lock_guard lock(mu_);
  powered_off_ = false;
  power_loss_in_ = 0;
}

bool FaultInjectionFileSystem::powered_off() const {
  std::lock_guard lock(mu_);
  return powered_off_;
}

Status FaultInjectionFileSystem::power_check(std::string_view operation, const std::string& path, bool is_sync) {
  // Armed power losses strike just before a sync: the moment when the most unsynced data is in flight.
  if (is_sync && !powered_off_ && power_loss_in_ != 0 && --power_loss_in_ == 0) {
    persist_random_pages_locked(power_loss_seed_);
    crash_locked("power loss at " + std::string(operation) + " " + path + " (seed " + std::to_string(power_loss_seed_) + ")");
    powered_off_ = true;
  }
  if (powered_off_) return io_error(operation, path, EIO, "injected: power is off");
  return Status::ok();
}

void FaultInjectionFileSystem::persist_random_pages_locked(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  // Every inode once, also those reachable only through a durable entry (removed or renamed since).
  std::set<Node*> seen;
  for (auto& [dir_path, dir] : dirs_) {
    for (auto* entries : {&dir.entries, &dir.durable_entries}) {
      for (auto& [name, node] : *entries) {
        if (!seen.insert(node.get()).second) continue;
        std::set<std::uint64_t> pages;
        for (const auto& [begin, end] : node->dirty) {
          const std::uint64_t stop = std::min<std::uint64_t>(end, node->current.size());
          for (std::uint64_t p = begin / kPageSize; p * kPageSize < stop; ++p) pages.insert(p);
        }
        for (const std::uint64_t p : pages) {
          if (rng() % 2 == 0) {
            ++counters_.pages_lost;
            continue;
          }
          ++counters_.pages_kept;
          // Only the bytes written since the last sync change: the rest of the page is already durable.
          for (const auto& [begin, end] : node->dirty) {
            const std::uint64_t lo = std::max(begin, p * kPageSize);
            const std::uint64_t hi = std::min({end, (p + 1) * kPageSize, static_cast<std::uint64_t>(node->current.size())});
            if (lo >= hi) continue;
            if (node->durable.size() < hi) node->durable.resize(hi);
            std::copy(node->current.begin() + static_cast<std::ptrdiff_t>(lo),
                      node->current.begin() + static_cast<std::ptrdiff_t>(hi),
                      node->durable.begin() + static_cast<std::ptrdiff_t>(lo));
          }
        }
      }
    }
  }
}

void FaultInjectionFileSystem::crash_locked(const std::string& what) {
  ++counters_.crashes;
  ++epoch_;
  std::uint64_t lost_entries = 0;
  std::uint64_t lost_files = 0;
  for (auto& [dir_path, dir] : dirs_) {
    for (const auto& [name, node] : dir.entries) {
      auto it = dir.durable_entries.find(name);
      if (it == dir.durable_entries.end() || it->second != node) ++lost_entries;
    }
    for (const auto& [name, node] : dir.durable_entries) {
      if (!dir.entries.contains(name)) ++lost_entries;
    }
    dir.entries = dir.durable_entries;
    for (const auto& [name, node] : dir.entries) {
      if (node->current != node->durable) ++lost_files;
      node->current = node->durable;
      node->dirty.clear();
      node->min_size_since_sync = node->durable.size();
    }
  }
  log(what + " #" + std::to_string(counters_.crashes) + ": lost unsynced data of " + std::to_string(lost_files) +
      " files and " + std::to_string(lost_entries) + " unsynced directory entries");
}

// ---- Inspection ----

std::vector<std::byte> FaultInjectionFileSystem::contents(const std::string& path) const {
  std::lock_guard lock(mu_);
  const std::shared_ptr<Node> node = find_node(normalize(path));
  return node == nullptr ? std::vector<std::byte>{} : node->current;
}

std::optional<std::vector<std::byte>> FaultInjectionFileSystem::durable_contents(const std::string& path) const {
  std::lock_guard lock(mu_);
  const SplitPath where = split(normalize(path));
  const Dir* dir = find_dir(where.dir);
  if (dir == nullptr) return std::nullopt;
  const auto it = dir->durable_entries.find(where.name);
  if (it == dir->durable_entries.end()) return std::nullopt;
  return it->second->durable;
}

void FaultInjectionFileSystem::on_sync(std::function<void(const std::string& path)> hook) {
  std::lock_guard lock(mu_);
  on_sync_ = std::move(hook);
}

FaultCounters FaultInjectionFileSystem::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

std::vector<std::string> FaultInjectionFileSystem::injection_log() const {
  std::lock_guard lock(mu_);
  return log_;
}

std::vector<WritebackHint> FaultInjectionFileSystem::writeback_hints() const {
  std::lock_guard lock(mu_);
  return writeback_hints_;
}

// ---- Helpers (mu_ held) ----

std::shared_ptr<FaultInjectionFileSystem::Node> FaultInjectionFileSystem::find_node(
    const std::string& normal_path) const {
  const SplitPath where = split(normal_path);
  const Dir* dir = find_dir(where.dir);
  if (dir == nullptr) return nullptr;
  const auto it = dir->entries.find(where.name);
  return it == dir->entries.end() ? nullptr : it->second;
}

FaultInjectionFileSystem::Dir* FaultInjectionFileSystem::find_dir(const std::string& normal_dir) {
  const auto it = dirs_.find(normal_dir);
  return it == dirs_.end() ? nullptr : &it->second;
}

const FaultInjectionFileSystem::Dir* FaultInjectionFileSystem::find_dir(const std::string& normal_dir) const {
  const auto it = dirs_.find(normal_dir);
  return it == dirs_.end() ? nullptr : &it->second;
}

// Every matching rule counts the operation (each counts "from when it was set"); the first that fires wins.
std::optional<FaultInjectionFileSystem::Rule> FaultInjectionFileSystem::match_rule(Op op, const std::string& path) {
  std::optional<Rule> firing;
  for (Rule& rule : rules_) {
    if (rule.op != op || path.find(rule.path_contains) == std::string::npos) continue;
    if (!rule.fired) {
      if (--rule.remaining > 0) continue;
      rule.fired = true;
    }
    if (!firing) firing = rule;
  }
  std::erase_if(rules_, [](const Rule& rule) { return rule.fired && !rule.sticky; });
  return firing;
}

std::uint64_t FaultInjectionFileSystem::used_bytes() const {
  std::uint64_t total = 0;
  for (const auto& [dir_path, dir] : dirs_) {
    for (const auto& [name, node] : dir.entries) total += node->current.size();
  }
  return total;
}

Status FaultInjectionFileSystem::check_space(std::string_view operation, const std::string& path,
                                             std::uint64_t growth) {
  if (!space_limit_ || growth == 0 || used_bytes() + growth <= *space_limit_) return Status::ok();
  ++counters_.no_space;
  log("no space " + std::string(operation) + " " + path + ": +" + std::to_string(growth) + " bytes over the limit of " +
      std::to_string(*space_limit_));
  return io_error(operation, path, ENOSPC, "injected");
}

Status FaultInjectionFileSystem::check_file(const File& file, std::string_view operation) const {
  if (file.closed_) return io_error(operation, file.path_, EBADF, "file already closed");
  if (file.epoch_ != epoch_) return io_error(operation, file.path_, EIO, "opened before a simulated crash");
  return Status::ok();
}

Status FaultInjectionFileSystem::write_locked(File& file, std::uint64_t offset, std::span<const std::byte> data) {
  ECSDB_RETURN_IF_ERROR(power_check("write", file.path_, false));
  ECSDB_RETURN_IF_ERROR(check_file(file, "write"));
  ++counters_.writes;
  const std::optional<Rule> rule = match_rule(Op::kWrite, file.path_);
  if (rule && !rule->keep_bytes) {
    ++counters_.failed_writes;
    log("fail write " + file.path_ + " (write #" + std::to_string(counters_.writes) + ")");
    return io_error("write", file.path_, EIO, "injected");
  }
  Node& node = *file.node_;
  std::uint64_t n = data.size();
  const bool is_short = rule && *rule->keep_bytes < n;
  if (is_short) n = *rule->keep_bytes;

  // Like a full disk: the bytes that fit are written, the rest is refused.
  bool no_space = false;
  const std::uint64_t size = node.current.size();
  if (space_limit_ && offset + n > size) {
    const std::uint64_t used = used_bytes();
    const std::uint64_t room = used < *space_limit_ ? *space_limit_ - used : 0;
    if (offset + n - size > room) {
      no_space = true;
      const std::uint64_t fit_end = size + room;
      n = fit_end > offset ? std::min<std::uint64_t>(n, fit_end - offset) : 0;
    }
  }

  if (n > 0) {
    if (offset + n > size) node.current.resize(offset + n);
    std::copy_n(data.begin(), n, node.current.begin() + static_cast<std::ptrdiff_t>(offset));
    if (!node.dirty.empty() && node.dirty.back().second == offset) {
      node.dirty.back().second = offset + n;  // appends extend one range instead of piling up
    } else {
      node.dirty.emplace_back(offset, offset + n);
    }
  }
  if (no_space) {
    ++counters_.no_space;
    log("no space write " + file.path_ + ": " + bytes_text(n, data.size()) + " written");
    return io_error("write", file.path_, ENOSPC, "injected: " + bytes_text(n, data.size()) + " written");
  }
  if (is_short) {
    ++counters_.short_writes;
    log("short write " + file.path_ + ": " + bytes_text(n, data.size()) + " written");
    return io_error("write", file.path_, EIO, "injected short write: " + bytes_text(n, data.size()) + " written");
  }
  return Status::ok();
}

Status FaultInjectionFileSystem::sync_locked(File& file) {
  ECSDB_RETURN_IF_ERROR(power_check("sync", file.path_, true));
  ECSDB_RETURN_IF_ERROR(check_file(file, "sync"));
  ++counters_.syncs;
  Node& node = *file.node_;
  if (match_rule(Op::kSync, file.path_).has_value()) {
    // Linux marks the pages clean after a failed writeback: the data is gone from the disk's point of view
    // and no later fsync will write it.
    node.dirty.clear();
    ++counters_.failed_syncs;
    log("fail sync " + file.path_);
    return io_error("sync", file.path_, EIO, "injected");
  }
  node.durable.resize(std::min<std::uint64_t>(node.durable.size(), node.min_size_since_sync));
  node.durable.resize(node.current.size());
  for (const auto& [begin, end] : node.dirty) {
    const std::uint64_t stop = std::min<std::uint64_t>(end, node.current.size());
    if (begin < stop) {
      std::copy(node.current.begin() + static_cast<std::ptrdiff_t>(begin),
                node.current.begin() + static_cast<std::ptrdiff_t>(stop),
                node.durable.begin() + static_cast<std::ptrdiff_t>(begin));
    }
  }
  node.dirty.clear();
  if (on_sync_) on_sync_(file.path_);
  node.min_size_since_sync = node.current.size();
  return Status::ok();
}

Status FaultInjectionFileSystem::preallocate_locked(File& file, std::uint64_t bytes) {
  if (powered_off_) return io_error("preallocate", file.path_, EIO, "injected: power is off");
  ECSDB_RETURN_IF_ERROR(check_file(file, "preallocate"));
  Node& node = *file.node_;
  if (bytes <= node.current.size()) return Status::ok();
  ECSDB_RETURN_IF_ERROR(check_space("preallocate", file.path_, bytes - node.current.size()));
  node.current.resize(bytes);  // zeros; durable with the size at the next sync
  return Status::ok();
}

void FaultInjectionFileSystem::add_rule(Op op, std::uint64_t nth, bool sticky, std::optional<std::size_t> keep_bytes,
                                        std::string path_contains) {
  Rule rule;
  rule.op = op;
  rule.remaining = std::max<std::uint64_t>(nth, 1);  // "the 0th write" means the next one
  rule.sticky = sticky;
  rule.keep_bytes = keep_bytes;
  rule.path_contains = std::move(path_contains);
  std::lock_guard lock(mu_);
  rules_.push_back(std::move(rule));
}

void FaultInjectionFileSystem::log(std::string line) { log_.push_back(std::move(line)); }

}  // namespace ecsdb
