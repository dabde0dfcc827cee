// The real file system. Every call maps to one POSIX primitive; errors carry the operation, the path and
// strerror(errno) (persist/file_system_errors.hpp), so nothing here hides which file failed.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ecsdb/file_system.hpp"
#include "persist/file_system_errors.hpp"

namespace ecsdb {
namespace {

constexpr std::uint64_t kMaxOffset = static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());

// Retries a syscall interrupted by a signal: EINTR is not a failure of the operation.
template <typename Fn>
auto retry_on_eintr(Fn fn) {
  decltype(fn()) rc;
  do {
    rc = fn();
  } while (rc == -1 && errno == EINTR);
  return rc;
}

Status check_range(std::string_view operation, const std::string& path, std::uint64_t offset, std::uint64_t size) {
  if (offset > kMaxOffset || size > kMaxOffset - offset) {
    return io_error(operation, path, EFBIG, "offset " + std::to_string(offset) + " + " + std::to_string(size));
  }
  return Status::ok();
}

// pwrite until every byte is written: short writes continue where they stopped (signals, pipes, quotas);
// a call that writes nothing without an errno would loop forever, so it is an error.
Status pwrite_all(int fd, const std::string& path, std::uint64_t offset, std::span<const std::byte> data) {
  ECSDB_RETURN_IF_ERROR(check_range("write", path, offset, data.size()));
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = retry_on_eintr([&] {
      return ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    });
    if (n < 0) return io_error("write", path, errno);
    if (n == 0) {
      return io_error("write", path, EIO,
                      "no progress after " + std::to_string(done) + " of " + std::to_string(data.size()) + " bytes");
    }
    done += static_cast<std::size_t>(n);
  }
  return Status::ok();
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path, std::uint64_t position)
      : fd_(fd), path_(std::move(path)), position_(position) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) close().ignore();  // a destructor cannot report; callers who care call close() themselves
  }
  PosixWritableFile(const PosixWritableFile&) = delete;
  PosixWritableFile& operator=(const PosixWritableFile&) = delete;

  Status append(std::span<const std::byte> data) override {
    ECSDB_RETURN_IF_ERROR(check_open("write"));
    ECSDB_RETURN_IF_ERROR(pwrite_all(fd_, path_, position_, data));
    position_ += data.size();
    return Status::ok();
  }

  Status write_at(std::uint64_t offset, std::span<const std::byte> data) override {
    ECSDB_RETURN_IF_ERROR(check_open("write"));
    return pwrite_all(fd_, path_, offset, data);
  }

  Status sync() override {
    ECSDB_RETURN_IF_ERROR(check_open("sync"));
    if (retry_on_eintr([&] { return ::fdatasync(fd_); }) != 0) return io_error("sync", path_, errno);
    return Status::ok();
  }

  // SYNC_FILE_RANGE_WRITE alone only queues the range for writeback: it neither waits nor consumes the
  // file's writeback error state (no WAIT_* flag, so no errseq advance), so the fdatasync of sync() still
  // sees and reports every error of the writes it started. Its own failure is therefore ignored.
  void start_writeback(std::uint64_t offset, std::uint64_t length) override {
    if (fd_ < 0 || length == 0 || !check_range("start_writeback", path_, offset, length).is_ok()) return;
    static_cast<void>(::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(length),
                                        SYNC_FILE_RANGE_WRITE));
  }

  Status preallocate(std::uint64_t bytes) override {
    ECSDB_RETURN_IF_ERROR(check_open("preallocate"));
    ECSDB_RETURN_IF_ERROR(check_range("preallocate", path_, 0, bytes));
    if (bytes == 0) return Status::ok();
    // posix_fallocate returns the error number instead of setting errno.
    int err;
    do {
      err = ::posix_fallocate(fd_, 0, static_cast<off_t>(bytes));
    } while (err == EINTR);
    if (err == 0) return Status::ok();
    if (err != EOPNOTSUPP && err != ENOSYS && err != EINVAL) return io_error("preallocate", path_, err);
    return fill_zeros_to(bytes);
  }

  Status close() override {
    if (fd_ < 0) return Status::ok();
    const int fd = std::exchange(fd_, -1);
    // No retry on EINTR: Linux releases the descriptor even then, and a retry could close a reused fd.
    if (::close(fd) != 0 && errno != EINTR) return io_error("close", path_, errno);
    return Status::ok();
  }

  const std::string& path() const override { return path_; }

 private:
  Status check_open(std::string_view operation) const {
    return fd_ >= 0 ? Status::ok() : io_error(operation, path_, EBADF, "file already closed");
  }

  // Fallback where the file system cannot reserve blocks: real zeros reserve them just as well.
  Status fill_zeros_to(std::uint64_t bytes) {
    struct stat st{};
    if (::fstat(fd_, &st) != 0) return io_error("preallocate", path_, errno);
    static constexpr std::size_t kChunk = std::size_t{64} * 1024;
    const std::vector<std::byte> zeros(kChunk);
    for (auto at = static_cast<std::uint64_t>(st.st_size); at < bytes;) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, bytes - at));
      ECSDB_RETURN_IF_ERROR(pwrite_all(fd_, path_, at, std::span(zeros).first(n)));
      at += n;
    }
    return Status::ok();
  }

  int fd_;
  std::string path_;
  std::uint64_t position_;  // where the next append() goes; write_at() leaves it alone
};

Result<int> open_fd(std::string_view operation, const std::string& path, int flags, mode_t mode = 0) {
  const int fd = retry_on_eintr([&] { return ::open(path.c_str(), flags | O_CLOEXEC, mode); });
  if (fd < 0) return io_error(operation, path, errno);
  return fd;
}

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> create(const std::string& path) override {
    ECSDB_ASSIGN_OR_RETURN(const int fd, open_fd("create", path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    return std::unique_ptr<WritableFile>(std::make_unique<PosixWritableFile>(fd, path, 0));
  }

  Result<std::unique_ptr<WritableFile>> open_existing(const std::string& path) override {
    ECSDB_ASSIGN_OR_RETURN(const int fd, open_fd("open", path, O_WRONLY));
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return io_error("open", path, err);
    }
    if (S_ISDIR(st.st_mode)) {  // O_WRONLY already refuses directories; kept for clarity of the message
      ::close(fd);
      return io_error("open", path, EISDIR);
    }
    return std::unique_ptr<WritableFile>(
        std::make_unique<PosixWritableFile>(fd, path, static_cast<std::uint64_t>(st.st_size)));
  }

  Result<std::vector<std::byte>> read_file(const std::string& path) override {
    ECSDB_ASSIGN_OR_RETURN(const int fd, open_fd("read", path, O_RDONLY));
    Result<std::vector<std::byte>> out = read_all(fd, path);
    ::close(fd);  // read-only: nothing a failed close could lose
    return out;
  }

  Result<std::vector<std::byte>> read_range(const std::string& path, std::uint64_t offset,
                                            std::uint64_t length) override {
    ECSDB_ASSIGN_OR_RETURN(const int fd, open_fd("read", path, O_RDONLY));
    std::vector<std::byte> out(length);
    std::uint64_t done = 0;
    while (done < length) {
      const ssize_t n = ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        ::close(fd);
        return io_error("read", path, err);
      }
      if (n == 0) break;  // end of file
      done += static_cast<std::uint64_t>(n);
    }
    ::close(fd);
    out.resize(done);
    return out;
  }

  Result<std::uint64_t> file_size(const std::string& path) override {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return io_error("stat", path, errno);
    if (S_ISDIR(st.st_mode)) return io_error("stat", path, EISDIR);
    return static_cast<std::uint64_t>(st.st_size);
  }

  Status truncate(const std::string& path, std::uint64_t size) override {
    ECSDB_RETURN_IF_ERROR(check_range("truncate", path, 0, size));
    if (retry_on_eintr([&] { return ::truncate(path.c_str(), static_cast<off_t>(size)); }) != 0) {
      return io_error("truncate", path, errno);
    }
    return Status::ok();
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return io_error("rename", from + " -> " + to, errno);
    return Status::ok();
  }

  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return io_error("remove", path, errno);
    return Status::ok();
  }

  bool exists(const std::string& path) override {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0;
  }

  Result<std::vector<std::string>> list(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return io_error("list", dir, errno);
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(d)) {
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
      errno = 0;
    }
    const int err = errno;  // readdir signals an error only through errno
    ::closedir(d);
    if (err != 0) return io_error("list", dir, err);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status create_dirs(const std::string& dir) override {
    if (dir.empty()) return io_error("mkdir", dir, ENOENT);
    // Each prefix ending before a '/' is an ancestor; the whole path is the last one.
    for (std::size_t end = dir.find('/', 1);; end = dir.find('/', end + 1)) {
      const std::string prefix = dir.substr(0, end);
      if (!prefix.empty() && prefix.back() != '/' && ::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
        return io_error("mkdir", prefix, errno);
      }
      if (end == std::string::npos) break;
    }
    struct stat st{};
    if (::stat(dir.c_str(), &st) != 0) return io_error("mkdir", dir, errno);
    if (!S_ISDIR(st.st_mode)) return io_error("mkdir", dir, ENOTDIR);
    return Status::ok();
  }

  Status sync_dir(const std::string& dir) override {
    ECSDB_ASSIGN_OR_RETURN(const int fd, open_fd("sync_dir", dir, O_RDONLY | O_DIRECTORY));
    const int rc = retry_on_eintr([&] { return ::fsync(fd); });
    const int err = errno;
    ::close(fd);
    if (rc != 0) return io_error("sync_dir", dir, err);
    return Status::ok();
  }

 private:
  static Result<std::vector<std::byte>> read_all(int fd, const std::string& path) {
    struct stat st{};
    if (::fstat(fd, &st) != 0) return io_error("read", path, errno);
    std::vector<std::byte> out;
    // The size is a hint only: the file may grow or shrink while we read, so read until EOF.
    out.resize(static_cast<std::size_t>(std::max<off_t>(st.st_size, 0)) + 1);
    std::size_t done = 0;
    for (;;) {
      if (done == out.size()) out.resize(out.size() * 2);
      const ssize_t n = retry_on_eintr([&] { return ::read(fd, out.data() + done, out.size() - done); });
      if (n < 0) return io_error("read", path, errno);
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    out.resize(done);
    return out;
  }
};

}  // namespace

std::shared_ptr<FileSystem> posix_file_system() {
  static const std::shared_ptr<FileSystem> instance = std::make_shared<PosixFileSystem>();
  return instance;
}

}  // namespace ecsdb
