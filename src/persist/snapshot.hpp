// Snapshots: the whole database at one version, written in the background from a PinnedView (the writer
// never waits) and loaded at recovery. Format byte by byte in docs/formats/snapshot.md.
//
// Written to `snap-<version>.ecss.tmp`, fdatasync'ed, renamed to `snap-<version>.ecss`, directory synced:
// a crash leaves either the old set of snapshots or the new one, never a half file under a final name.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ecsdb/database.hpp"
#include "ecsdb/file_system.hpp"

namespace ecsdb::detail { class WriterCore; }

namespace ecsdb::persist {

inline constexpr char kSnapshotMagic[8] = {'E', 'C', 'S', 'D', 'B', 'S', 'N', 'P'};
inline constexpr std::uint32_t kSnapshotFormatVersion = 1;
// The writer hands each this many bytes it has written to the disk at once (WritableFile::start_writeback),
// so that the disk writes while the rest is serialised and the final sync has little left (ADR 0019).
inline constexpr std::uint64_t kSnapshotWritebackBytes = std::uint64_t{4} << 20;

struct SnapshotInfo {
  std::string name;            // file name
  std::uint64_t version = 0;
  std::uint64_t lsn = 0;       // last WAL record the snapshot contains
  std::uint64_t database_id = 0;
  std::uint64_t layout_hash = 0;
  std::int64_t created_unix_ns = 0;
  std::uint64_t bytes = 0;
};

std::string snapshot_name(std::uint64_t version);
std::uint64_t parse_snapshot_name(const std::string& name);  // 0 when not a snapshot name

// Writes a snapshot of `view` into `dir`; returns its info.
Result<SnapshotInfo> write_snapshot(FileSystem& fs, const std::string& dir, const PinnedView& view,
                                    std::uint64_t database_id);

// A snapshot file checked end to end (every checksum, the end marker) and parsed; spans point into `bytes`.
struct LoadedSnapshot {
  SnapshotInfo info;
  std::vector<std::byte> bytes;
  std::string schema_text;
  std::uint32_t registry_used = 0;
  std::span<const std::byte> registry_slots;  // used × (u32 generation, u32 alive)
  struct TableRows {
    std::uint16_t table;
    bool many;
    std::uint32_t stride;
    std::uint32_t rows;
    std::span<const std::byte> keys, owners, data;
  };
  std::vector<TableRows> tables;
};

// Reads and verifies a snapshot file. Errors (kCorruption) name the file, the section and the offset.
// `schema` may be null (inspect): then strides are not checked against a schema.
Result<LoadedSnapshot> read_snapshot(FileSystem& fs, const std::string& path, const Schema* schema);
// Parses an in-memory snapshot (the fuzz target's entry point).
Result<LoadedSnapshot> parse_snapshot(std::vector<std::byte> bytes, const std::string& name, const Schema* schema);

// Loads a verified snapshot into an empty writer.
Status apply_snapshot(const LoadedSnapshot& snapshot, detail::WriterCore& core);

}  // namespace ecsdb::persist
