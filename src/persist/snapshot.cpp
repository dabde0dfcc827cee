#include "persist/snapshot.hpp"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstring>
#include <vector>

#include "persist/byte_io.hpp"
#include "persist/numbered_file_name.hpp"
#include "persist/wal_format.hpp"
#include "storage/table_ops.hpp"
#include "txn/writer_core.hpp"

namespace ecsdb::persist {

namespace {

enum SectionKind : std::uint32_t { kSchema = 1, kRegistry = 2, kTable = 3, kEnd = 0xFFFFFFFFu };
constexpr std::uint32_t kHeaderSize = 64;

// Streams sections to a file through a 1 MiB buffer, hashing each section body as it goes.
class SectionWriter {
 public:
  explicit SectionWriter(WritableFile& f) : f_(f) { buf_.reserve(kBuffer); }
  Status raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    if (in_section_) XXH3_64bits_update(&state_, b, n);
    while (n > 0) {
      const std::size_t take = std::min(n, kBuffer - buf_.size());
      buf_.insert(buf_.end(), b, b + take);
      b += take;
      n -= take;
      if (buf_.size() == kBuffer) ECSDB_RETURN_IF_ERROR(drain());
    }
    return Status::ok();
  }
  Status begin(std::uint32_t kind, std::uint64_t length) {
    const std::uint32_t reserved = 0;
    ECSDB_RETURN_IF_ERROR(raw(&kind, 4));
    ECSDB_RETURN_IF_ERROR(raw(&reserved, 4));
    ECSDB_RETURN_IF_ERROR(raw(&length, 8));
    XXH3_64bits_reset(&state_);
    in_section_ = true;
    return Status::ok();
  }
  Status end() {
    in_section_ = false;
    const std::uint64_t sum = XXH3_64bits_digest(&state_);
    return raw(&sum, 8);
  }
  Status drain() {
    if (buf_.empty()) return Status::ok();
    ECSDB_RETURN_IF_ERROR(f_.append(buf_));
    written_ += buf_.size();
    buf_.clear();
    // Keep the disk writing while the rest is serialised, instead of leaving it all to the final sync:
    // the snapshot then costs about the longer of the two, not their sum.
    if (written_ - writeback_from_ >= kSnapshotWritebackBytes) {
      f_.start_writeback(writeback_from_, written_ - writeback_from_);
      writeback_from_ = written_;
    }
    return Status::ok();
  }
  std::uint64_t written() const { return written_ + buf_.size(); }

 private:
  static constexpr std::size_t kBuffer = 1 << 20;
  WritableFile& f_;
  std::vector<std::byte> buf_;
  XXH3_state_t state_{};
  bool in_section_ = false;
  std::uint64_t written_ = 0;
  std::uint64_t writeback_from_ = 0;  // start of the bytes written but not yet handed to start_writeback
};

template <typename T>
Status put(SectionWriter& w, T v) { return w.raw(&v, sizeof v); }

// Writes the first `n` elements of a paged array, page by page.
Status put_array(SectionWriter& w, const detail::PagedArray& a, std::uint32_t n) {
  if (n == 0 || a.elem_size == 0) return Status::ok();
  const std::uint32_t per_page = 1u << a.shift;
  for (std::uint32_t start = 0; start < n; start += per_page) {
    const std::uint32_t count = std::min(per_page, n - start);
    ECSDB_RETURN_IF_ERROR(w.raw(a.at(start), std::size_t{count} * a.elem_size));
  }
  return Status::ok();
}

// A table's keys in row order: a page the identity run elides (TableState::keys) is written from the
// registry, which implies it: row r holds entity r, of the registry's generation for r.
Status put_keys(SectionWriter& w, const detail::TableState& t, const detail::RegistryState& registry) {
  const std::uint32_t per_page = 1u << t.keys.shift;
  std::vector<std::uint64_t> implied;
  for (std::uint32_t start = 0; start < t.row_count; start += per_page) {
    const std::uint32_t count = std::min(per_page, t.row_count - start);
    if (t.keys.present(start)) {
      ECSDB_RETURN_IF_ERROR(w.raw(t.keys.at(start), std::size_t{count} * sizeof(std::uint64_t)));
      continue;
    }
    // A pointer step per registry slot, a directory lookup per registry page.
    assert(start + count <= t.identity_rows);  // an absent key page lies in the run (TableState::keys)
    implied.resize(count);
    for (std::uint32_t k = 0; k < count;) {
      const std::uint32_t index = start + k;
      const std::uint32_t in_page = std::min(count - k, (registry.slots.mask - (index & registry.slots.mask)) + 1);
      const std::byte* slot = registry.slots.at(index);
      for (std::uint32_t j = 0; j < in_page; ++j, slot += registry.slots.elem_size) {
        const std::uint32_t generation = reinterpret_cast<const detail::EntitySlot*>(slot)->generation;
        implied[k + j] = (std::uint64_t{generation} << 32) | (index + j);
      }
      k += in_page;
    }
    ECSDB_RETURN_IF_ERROR(w.raw(implied.data(), std::size_t{count} * sizeof(std::uint64_t)));
  }
  return Status::ok();
}

Status corrupt(const std::string& name, std::uint64_t offset, const std::string& what) {
  return Status(StatusCode::kCorruption, "snapshot " + name + " at offset " + std::to_string(offset) + ": " + what);
}

// Writes the header and every section of version `s` to `f`, then syncs and closes it.
Status write_sections(WritableFile& f, const detail::VersionState& s, const Schema& schema, SnapshotInfo& info) {
  std::vector<std::byte> header;
  ByteWriter hw(header);
  hw.raw(kSnapshotMagic, 8);
  hw.u32(kSnapshotFormatVersion);
  hw.u32(kHeaderSize);
  hw.u64(info.database_id);
  hw.u64(info.version);
  hw.u64(info.lsn);
  hw.u64(info.layout_hash);
  hw.i64(info.created_unix_ns);
  hw.u64(checksum64(header));
  SectionWriter w(f);
  ECSDB_RETURN_IF_ERROR(w.raw(header.data(), header.size()));

  ECSDB_RETURN_IF_ERROR(w.begin(kSchema, schema.text.size()));
  ECSDB_RETURN_IF_ERROR(w.raw(schema.text.data(), schema.text.size()));
  ECSDB_RETURN_IF_ERROR(w.end());

  const detail::RegistryState& reg = s.registry;
  ECSDB_RETURN_IF_ERROR(w.begin(kRegistry, 8 + 8ull * reg.used));
  ECSDB_RETURN_IF_ERROR(put<std::uint32_t>(w, reg.used));
  ECSDB_RETURN_IF_ERROR(put<std::uint32_t>(w, reg.alive));
  {
    // (generation, alive) pairs, gathered a registry page at a time: one hash update and copy per page
    // instead of two per entity, and a pointer step per slot instead of a directory lookup.
    const std::uint32_t per_page = 1u << reg.slots.shift;
    std::vector<std::uint32_t> pairs(std::size_t{2} * std::min(per_page, reg.used));
    for (std::uint32_t start = 0; start < reg.used; start += per_page) {
      const std::uint32_t count = std::min(per_page, reg.used - start);
      const std::byte* slot = reg.slots.at(start);
      for (std::size_t i = 0; i < count; ++i, slot += reg.slots.elem_size) {
        const auto* entry = reinterpret_cast<const detail::EntitySlot*>(slot);
        pairs[2 * i] = entry->generation;
        pairs[2 * i + 1] = entry->alive() ? 1 : 0;
      }
      ECSDB_RETURN_IF_ERROR(w.raw(pairs.data(), std::size_t{count} * 2 * sizeof(std::uint32_t)));
    }
  }
  ECSDB_RETURN_IF_ERROR(w.end());

  for (const Table& table : schema.tables) {
    if (table.is_entity_table) continue;
    const detail::TableState& t = s.tables[table.id];
    const bool many = table.cardinality == Cardinality::kMany;
    const std::uint64_t length = 12 + std::uint64_t{t.row_count} * (8 + (many ? 8 : 0) + t.stride);
    ECSDB_RETURN_IF_ERROR(w.begin(kTable, length));
    ECSDB_RETURN_IF_ERROR(put<std::uint16_t>(w, table.id));
    ECSDB_RETURN_IF_ERROR(put<std::uint8_t>(w, many ? 1 : 0));
    ECSDB_RETURN_IF_ERROR(put<std::uint8_t>(w, 0));
    ECSDB_RETURN_IF_ERROR(put<std::uint32_t>(w, t.stride));
    ECSDB_RETURN_IF_ERROR(put<std::uint32_t>(w, t.row_count));
    ECSDB_RETURN_IF_ERROR(put_keys(w, t, s.registry));
    if (many) ECSDB_RETURN_IF_ERROR(put_array(w, t.owners, t.row_count));
    ECSDB_RETURN_IF_ERROR(put_array(w, t.rows, t.row_count));
    ECSDB_RETURN_IF_ERROR(w.end());
  }
  ECSDB_RETURN_IF_ERROR(w.begin(kEnd, 0));
  ECSDB_RETURN_IF_ERROR(w.end());
  ECSDB_RETURN_IF_ERROR(w.drain());
  info.bytes = w.written();
  ECSDB_RETURN_IF_ERROR(f.sync());
  return f.close();
}

}  // namespace

std::string snapshot_name(std::uint64_t version) { return numbered_file_name("snap-", version, ".ecss"); }

std::uint64_t parse_snapshot_name(const std::string& name) { return parse_numbered_file_name(name, "snap-", ".ecss"); }

Result<SnapshotInfo> write_snapshot(FileSystem& fs, const std::string& dir, const PinnedView& view,
                                    std::uint64_t database_id) {
  const detail::VersionState& s = view.state();
  const Schema& schema = view.database().schema();
  SnapshotInfo info;
  info.name = snapshot_name(s.number);
  info.version = s.number;
  info.lsn = s.lsn;
  info.database_id = database_id;
  info.layout_hash = schema.layout_hash();
  info.created_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string tmp = dir + "/" + info.name + ".tmp";
  ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, fs.create(tmp));
  // On failure the partial file is removed (best effort; open removes any left behind), so that failing
  // snapshots, on a full disk above all, do not pile up partial files.
  Status written = write_sections(*f, s, schema, info);
  if (written.is_ok()) written = fs.rename(tmp, dir + "/" + info.name);
  if (!written.is_ok()) {
    f.reset();
    fs.remove(tmp).ignore();
    return written;
  }
  ECSDB_RETURN_IF_ERROR(fs.sync_dir(dir));
  return info;
}

Result<LoadedSnapshot> parse_snapshot(std::vector<std::byte> bytes, const std::string& name, const Schema* schema) {
  LoadedSnapshot out;
  out.bytes = std::move(bytes);
  const std::span<const std::byte> file(out.bytes);
  out.info.name = name;
  out.info.bytes = file.size();
  if (file.size() < kHeaderSize) return corrupt(name, 0, "shorter than its 64-byte header");
  if (std::memcmp(file.data(), kSnapshotMagic, 8) != 0) return corrupt(name, 0, "bad magic (not an ECSDb snapshot)");
  {
    ByteReader r(file.subspan(8, kHeaderSize - 8));
    const std::uint32_t version = r.u32();
    const std::uint32_t header_size = r.u32();
    out.info.database_id = r.u64();
    out.info.version = r.u64();
    out.info.lsn = r.u64();
    out.info.layout_hash = r.u64();
    out.info.created_unix_ns = r.i64();
    const std::uint64_t sum = r.u64();
    if (sum != checksum64(file.subspan(0, 56))) return corrupt(name, 0, "header checksum mismatch");
    if (version != kSnapshotFormatVersion) return corrupt(name, 8, "unsupported format version " + std::to_string(version));
    if (header_size != kHeaderSize) return corrupt(name, 12, "unexpected header size");
  }
  if (schema != nullptr && out.info.layout_hash != schema->layout_hash()) {
    return Status(StatusCode::kCorruption, "snapshot " + name + " was written with a different schema layout");
  }
  std::uint64_t offset = kHeaderSize;
  bool ended = false;
  bool have_registry = false;
  while (!ended) {
    if (offset + 16 > file.size()) return corrupt(name, offset, "truncated (no end marker)");
    ByteReader hr(file.subspan(offset, 16));
    const std::uint32_t kind = hr.u32();
    hr.u32();
    const std::uint64_t length = hr.u64();
    if (length > file.size() - offset - 16 || file.size() - offset - 16 - length < 8) {
      return corrupt(name, offset, "section length " + std::to_string(length) + " runs past the end of the file");
    }
    const auto body = file.subspan(offset + 16, length);
    std::uint64_t stored;
    std::memcpy(&stored, file.data() + offset + 16 + length, 8);
    if (stored != XXH3_64bits(body.data(), body.size())) {
      return corrupt(name, offset, "checksum mismatch in section of kind " + std::to_string(kind));
    }
    ByteReader r(body);
    switch (kind) {
      case kSchema:
        out.schema_text.assign(reinterpret_cast<const char*>(body.data()), body.size());
        break;
      case kRegistry: {
        out.registry_used = r.u32();
        r.u32();
        if (!r.can_read(out.registry_used, 8)) return corrupt(name, offset, "registry section too short");
        out.registry_slots = r.bytes(8ull * out.registry_used);
        have_registry = true;
        break;
      }
      case kTable: {
        LoadedSnapshot::TableRows t{};
        t.table = r.u16();
        t.many = r.u8() != 0;
        r.u8();
        t.stride = r.u32();
        t.rows = r.u32();
        if (!r.ok()) return corrupt(name, offset, "table section too short");
        if (schema != nullptr) {
          if (t.table >= schema->tables.size()) return corrupt(name, offset, "unknown table id " + std::to_string(t.table));
          const Table& table = schema->tables[t.table];
          if (table.layout.stride != t.stride || (table.cardinality == Cardinality::kMany) != t.many) {
            return corrupt(name, offset, "table '" + table.name + "' does not match the schema layout");
          }
        }
        if (!r.can_read(t.rows, 8ull + (t.many ? 8 : 0) + t.stride)) return corrupt(name, offset, "table section too short");
        t.keys = r.bytes(8ull * t.rows);
        if (t.many) t.owners = r.bytes(8ull * t.rows);
        t.data = r.bytes(std::uint64_t{t.rows} * t.stride);
        if (r.remaining() != 0) return corrupt(name, offset, "table section has trailing bytes");
        out.tables.push_back(t);
        break;
      }
      case kEnd: ended = true; break;
      default: return corrupt(name, offset, "unknown section kind " + std::to_string(kind));
    }
    offset += 16 + length + 8;
  }
  if (!have_registry) return corrupt(name, offset, "no registry section");
  if (offset != file.size()) return corrupt(name, offset, "bytes after the end marker");
  return out;
}

Result<LoadedSnapshot> read_snapshot(FileSystem& fs, const std::string& path, const Schema* schema) {
  ECSDB_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, fs.read_file(path));
  return parse_snapshot(std::move(bytes), path, schema);
}

Status apply_snapshot(const LoadedSnapshot& snap, detail::WriterCore& core) {
  ECSDB_RETURN_IF_ERROR(core.load_registry(snap.registry_used, snap.registry_slots.data()));
  // Keys, owners and rows point into the file buffer (not necessarily aligned): load_rows copies them.
  // It also refuses a key beyond the registry before sizing anything for it (a damaged key could
  // otherwise ask for gigabytes).
  for (const auto& t : snap.tables) {
    ECSDB_RETURN_IF_ERROR(core.load_rows(t.table, t.rows, t.keys.data(), t.many ? t.owners.data() : nullptr,
                                         t.data.data()));
  }
  return Status::ok();
}

}  // namespace ecsdb::persist
