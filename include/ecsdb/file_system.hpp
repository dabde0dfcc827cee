// ecsdb/file_system.hpp — the one seam all persistence I/O goes through (WAL, snapshots, archive).
//
// PosixFileSystem is the real one. Tests use FaultInjectionFileSystem (tests/support, in the ecsdb_testing
// library, which the product does not link) to fail or shorten writes, fail fsync, report ENOSPC, drop
// unsynced data on a simulated crash and flip bits.
// Every error names the path and the operation. Implementations must be thread-safe for distinct files.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ecsdb/status.hpp"

namespace ecsdb {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes all of `data` at the current end (a short write is reported as an error, never ignored).
  virtual Status append(std::span<const std::byte> data) = 0;
  // Writes at an absolute offset (WAL segments are preallocated, so records overwrite zeros).
  virtual Status write_at(std::uint64_t offset, std::span<const std::byte> data) = 0;
  // fdatasync: data (and the size, if it changed) reaches stable storage.
  virtual Status sync() = 0;
  // A hint: start writing bytes [offset, offset + length), already written, to storage now, without
  // waiting for it to finish (it may still block briefly, on a full device queue), so that a long
  // sequential write (a snapshot) keeps the disk busy while it is produced and the sync() at its end has
  // little left to do. It guarantees nothing: only sync() makes data durable, and reports any error of the
  // writeback this started. The default does nothing.
  virtual void start_writeback(std::uint64_t offset, std::uint64_t length) {
    static_cast<void>(offset);
    static_cast<void>(length);
  }
  // Reserves `bytes` (zero-filled) so later writes inside do not change the file size.
  virtual Status preallocate(std::uint64_t bytes) = 0;
  virtual Status close() = 0;
  virtual const std::string& path() const = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Creates (or truncates) a file for writing.
  virtual Result<std::unique_ptr<WritableFile>> create(const std::string& path) = 0;
  // Opens an existing file for writing at `offset` (appends continue there).
  virtual Result<std::unique_ptr<WritableFile>> open_existing(const std::string& path) = 0;
  virtual Result<std::vector<std::byte>> read_file(const std::string& path) = 0;
  // Up to `length` bytes from `offset` (fewer at the end of the file). The default reads the whole file;
  // implementations override it with a positioned read (WAL recovery reads preallocated segments
  // incrementally instead of loading their zeros).
  virtual Result<std::vector<std::byte>> read_range(const std::string& path, std::uint64_t offset,
                                                    std::uint64_t length) {
    ECSDB_ASSIGN_OR_RETURN(std::vector<std::byte> all, read_file(path));
    if (offset >= all.size()) return std::vector<std::byte>{};
    const std::uint64_t n = std::min<std::uint64_t>(length, all.size() - offset);
    return std::vector<std::byte>(all.begin() + static_cast<std::ptrdiff_t>(offset),
                                  all.begin() + static_cast<std::ptrdiff_t>(offset + n));
  }
  virtual Result<std::uint64_t> file_size(const std::string& path) = 0;
  virtual Status truncate(const std::string& path, std::uint64_t size) = 0;
  // Atomic replace (POSIX rename).
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status remove(const std::string& path) = 0;
  virtual bool exists(const std::string& path) = 0;
  // File names (not paths) in `dir`, sorted.
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;
  virtual Status create_dirs(const std::string& dir) = 0;
  // fsync of a directory, so created/renamed/removed entries are durable.
  virtual Status sync_dir(const std::string& dir) = 0;
};

// The real file system (POSIX: open/pwrite/fdatasync/fallocate/rename).
std::shared_ptr<FileSystem> posix_file_system();

}  // namespace ecsdb
