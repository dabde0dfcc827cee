// `ecsdb inspect`, `ecsdb dump` and `ecsdb restore`: the offline tools for a data directory
// (docs/durability.md). inspect is a checker in the spirit of redis-check-aof: it verifies every snapshot and
// WAL segment without changing a byte. dump and restore never write into the source directory either: they
// work on copies in a private temporary directory.
//
// Exit codes (DESIGN.md §5): 0 ok; 1 runtime error — including data that fails verification (inspect finds
// corruption that would refuse opening, or a snapshot that fails its checksums); 2 usage or validation error
// (bad arguments, a directory that is not a data directory, a schema that does not match).
#include <zstd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "ecsdb/database.hpp"
#include "ecsdb/schema.hpp"
#include "persist/persistence.hpp"
#include "persist/snapshot.hpp"
#include "persist/wal_format.hpp"
#include "persist/wal_reader.hpp"

namespace ecsdb::cli {

namespace {

namespace stdfs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr int kExitOk = 0;
constexpr int kExitRuntimeError = 1;
constexpr int kExitInvalid = 2;

// Usage and validation problems are the caller's (exit 2); everything else is a runtime error (exit 1).
int exit_code_of(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kSchemaError:
    case StatusCode::kBindingMismatch:
    case StatusCode::kNotFound: return kExitInvalid;
    default: return kExitRuntimeError;
  }
}

int report(std::string_view command, const Status& s) {
  std::cerr << "ecsdb " << command << ": " << s.message() << "\n";
  return exit_code_of(s);
}

std::string format_time(std::int64_t unix_ns) {
  if (unix_ns == 0) return "-";
  const std::time_t secs = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ns / 1'000'000 % 1000));
  return buf;
}

// "1700000000", "1700000000.25" (unix seconds) or "2023-11-14T22:13:20[.250]Z" (ISO-8601 UTC).
Result<std::int64_t> parse_time(const std::string& text) {
  const auto bad = [&] {
    return invalid_argument("--to-time '" + text + "': expected unix seconds or ISO-8601 UTC (2024-05-01T12:00:00Z)");
  };
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; })) {
    try {
      std::size_t used = 0;
      const long double secs = std::stold(text, &used);
      if (used != text.size() || secs <= 0) return bad();
      return static_cast<std::int64_t>(secs * 1e9L);
    } catch (const std::exception&) {
      return bad();
    }
  }
  std::tm tm{};
  int fraction_digits = 0;
  long fraction = 0;
  char tail[8] = {};
  const int n = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%7s", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec, tail);
  if (n != 7) return bad();
  std::string rest = tail;
  if (!rest.empty() && rest[0] == '.') {
    std::size_t i = 1;
    for (; i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i])) && fraction_digits < 9; ++i, ++fraction_digits) {
      fraction = fraction * 10 + (rest[i] - '0');
    }
    rest = rest.substr(i);
  }
  if (rest != "Z") return bad();
  for (int d = fraction_digits; d < 9; ++d) fraction *= 10;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const std::time_t secs = timegm(&tm);
  if (secs <= 0) return bad();
  return static_cast<std::int64_t>(secs) * 1'000'000'000 + fraction;
}

bool is_data_dir(const std::string& dir) { return stdfs::exists(stdfs::path(dir) / "IDENTITY"); }

// A fresh private directory under the system temp dir, removed when this goes out of scope.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = (stdfs::temp_directory_path() / ("ecsdb-cli-" + std::to_string(rd()) + std::to_string(rd()))).string();
    stdfs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    stdfs::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Status copy_file(FileSystem& fs, const std::string& from, const std::string& to) {
  ECSDB_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, fs.read_file(from));
  ECSDB_ASSIGN_OR_RETURN(auto f, fs.create(to));
  ECSDB_RETURN_IF_ERROR(f->append(bytes));
  ECSDB_RETURN_IF_ERROR(f->sync());
  return f->close();
}

// Writes `bytes` to `path` atomically: path.tmp, fdatasync, rename, directory sync.
Status write_file_atomic(FileSystem& fs, const std::string& path, std::span<const std::byte> bytes) {
  ECSDB_ASSIGN_OR_RETURN(auto f, fs.create(path + ".tmp"));
  ECSDB_RETURN_IF_ERROR(f->append(bytes));
  ECSDB_RETURN_IF_ERROR(f->sync());
  ECSDB_RETURN_IF_ERROR(f->close());
  ECSDB_RETURN_IF_ERROR(fs.rename(path + ".tmp", path));
  const stdfs::path parent = stdfs::absolute(stdfs::path(path)).parent_path();
  return fs.sync_dir(parent.string());
}

Result<std::vector<std::byte>> zstd_decompress(const std::string& path, std::span<const std::byte> packed) {
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  std::vector<std::byte> out;
  std::vector<std::byte> chunk(ZSTD_DStreamOutSize());
  ZSTD_inBuffer in{packed.data(), packed.size(), 0};
  std::size_t last = 1;
  while (in.pos < in.size) {
    ZSTD_outBuffer o{chunk.data(), chunk.size(), 0};
    last = ZSTD_decompressStream(ctx.get(), &o, &in);
    if (ZSTD_isError(last)) {
      return Status(StatusCode::kCorruption, path + " at compressed offset " + std::to_string(in.pos) +
                                                 ": zstd: " + ZSTD_getErrorName(last));
    }
    out.insert(out.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(o.pos));
  }
  if (last != 0) return Status(StatusCode::kCorruption, path + ": truncated zstd frame");
  return out;
}

// The schema: --schema when given, else the text stored in the newest readable snapshot of `dirs`.
Result<std::shared_ptr<const Schema>> resolve_schema(FileSystem& fs, const std::string& schema_path,
                                                     const std::vector<std::string>& snapshot_files) {
  if (!schema_path.empty()) return load_schema_file(schema_path);
  for (const std::string& path : snapshot_files) {
    auto snap = persist::read_snapshot(fs, path, nullptr);
    if (snap) return parse_schema(snap->schema_text, path);
  }
  return invalid_argument("no readable snapshot holds the schema; pass --schema FILE");
}

struct SnapshotFile {
  std::string path;
  std::uint64_t version = 0;
};

// Snapshot files of the given directories, newest version first (a version in several places: first dir wins).
std::vector<SnapshotFile> list_snapshots(FileSystem& fs, const std::vector<std::string>& dirs) {
  std::vector<SnapshotFile> out;
  for (const std::string& dir : dirs) {
    auto names = fs.list(dir);
    if (!names) continue;
    for (const std::string& n : *names) {
      const std::uint64_t v = persist::parse_snapshot_name(n);
      if (v == 0 || std::any_of(out.begin(), out.end(), [&](const SnapshotFile& s) { return s.version == v; })) continue;
      out.push_back({dir + "/" + n, v});
    }
  }
  std::sort(out.begin(), out.end(), [](const SnapshotFile& a, const SnapshotFile& b) { return a.version > b.version; });
  return out;
}

std::vector<std::string> paths_of(const std::vector<SnapshotFile>& snaps) {
  std::vector<std::string> out;
  for (const SnapshotFile& s : snaps) out.push_back(s.path);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// inspect

struct InspectArgs {
  std::string dir;
  std::string schema;
  bool json = false;
};

Json segment_json(const persist::SegmentSummary& s) {
  return {{"name", s.name},
          {"first_lsn", s.first_lsn},
          {"last_lsn", s.last_lsn},
          {"records", s.records},
          {"bytes_used", s.end_offset},
          {"capacity", s.capacity},
          {"file_size", s.file_size},
          {"first_commit", s.first_time_ns == 0 ? Json(nullptr) : Json(format_time(s.first_time_ns))},
          {"last_commit", s.last_time_ns == 0 ? Json(nullptr) : Json(format_time(s.last_time_ns))}};
}

// Builds the whole report; `failed` is set when anything fails verification.
Json inspect_dir(FileSystem& fs, const InspectArgs& args, bool& failed) {
  const std::string dir = args.dir;
  Json out;
  out["data_dir"] = dir;
  auto identity = persist::read_identity(fs, dir);
  if (identity) {
    char id[32];
    std::snprintf(id, sizeof id, "0x%016llx", static_cast<unsigned long long>(identity->database_id));
    out["database_id"] = id;
  } else {
    out["database_id"] = nullptr;
    out["identity_error"] = identity.status().message();
    failed = true;
  }
  const std::vector<SnapshotFile> snaps = list_snapshots(fs, {dir + "/snapshots"});
  auto schema = resolve_schema(fs, args.schema, paths_of(snaps));
  out["schema"] = schema ? Json((*schema)->source) : Json(nullptr);
  if (!schema) out["schema_note"] = schema.status().message() + " (WAL records are checked but not decoded)";

  // Snapshots, newest first, each verified end to end.
  Json snapshots = Json::array();
  const persist::SnapshotInfo* chosen = nullptr;
  std::vector<persist::SnapshotInfo> infos;
  infos.reserve(snaps.size());
  for (const SnapshotFile& s : snaps) {
    Json j = {{"name", stdfs::path(s.path).filename().string()}};
    auto loaded = persist::read_snapshot(fs, s.path, schema ? schema->get() : nullptr);
    if (loaded) {
      const persist::SnapshotInfo& info = loaded->info;
      j["version"] = info.version;
      j["lsn"] = info.lsn;
      j["bytes"] = info.bytes;
      j["created"] = format_time(info.created_unix_ns);
      const bool ours = identity && info.database_id == identity->database_id;
      j["status"] = ours ? "ok" : "belongs to another database";
      infos.push_back(info);
      if (ours && chosen == nullptr) chosen = &infos.back();
    } else {
      j["version"] = s.version;
      j["status"] = "error";
      j["error"] = loaded.status().message();
      failed = true;
    }
    snapshots.push_back(std::move(j));
  }
  out["snapshots"] = std::move(snapshots);

  // WAL, two read-only scans (repair = false). The listing scan checks every record of every segment
  // (decode = false walks segments a snapshot covers too); the plan scan is what recovery would do: decode
  // and replay the records after the chosen snapshot. Commit times come from the decoded records.
  const Schema empty_schema;
  const Schema& wal_schema = schema ? **schema : empty_schema;
  persist::WalScanOptions options;
  options.after_lsn = chosen != nullptr ? chosen->lsn : 0;
  options.database_id = identity ? identity->database_id : 0;
  options.repair = false;
  options.decode = false;
  auto listing = persist::scan_wal(fs, dir + "/wal", wal_schema, options, {});
  if (!listing) {
    failed = true;
    out["wal_error"] = listing.status().message();
    persist::WalScanOptions partial = options;
    partial.truncate_at_corruption = true;
    listing = persist::scan_wal(fs, dir + "/wal", wal_schema, partial, {});
  }
  options.decode = schema.has_value();
  auto scan = persist::scan_wal(fs, dir + "/wal", wal_schema, options, {});
  Json wal = Json::array();
  if (listing) {
    for (persist::SegmentSummary s : listing->segments) {
      for (const auto& decoded : scan ? scan->segments : std::vector<persist::SegmentSummary>{}) {
        if (decoded.name == s.name) {
          s.first_time_ns = decoded.first_time_ns;
          s.last_time_ns = decoded.last_time_ns;
        }
      }
      wal.push_back(segment_json(s));
    }
  }
  Json plan;
  plan["snapshot"] = chosen != nullptr ? Json(chosen->name) : Json(nullptr);
  plan["snapshot_version"] = chosen != nullptr ? chosen->version : 0;
  if (scan) {
    const std::uint64_t from = options.after_lsn + 1;
    plan["opens"] = true;
    plan["replay_first_lsn"] = from;
    plan["replay_last_lsn"] = scan->last_lsn;
    plan["replay_records"] = scan->last_lsn >= from ? scan->last_lsn - from + 1 : 0;
    if (options.decode) plan["version_after_replay"] = std::max(scan->last_version, chosen ? chosen->version : 0);
    plan["notes"] = scan->notes;
  } else {
    failed = true;
    plan["opens"] = false;
    plan["error"] = scan.status().message();
  }
  out["wal"] = std::move(wal);

  // Archive: retired segments (plain or .zst, headers checked) and older snapshots.
  Json archive = Json::array();
  if (auto names = fs.list(dir + "/archive"); names) {
    for (const std::string& n : *names) {
      const std::string path = dir + "/archive/" + n;
      Json j = {{"name", n}};
      auto bytes = fs.read_file(path);
      if (!bytes) {
        j["status"] = "error";
        j["error"] = bytes.status().message();
        failed = true;
        archive.push_back(std::move(j));
        continue;
      }
      j["bytes"] = bytes->size();
      const bool zst = n.ends_with(".log.zst");
      if (zst || persist::parse_segment_name(n) != 0) {
        std::vector<std::byte> raw;
        if (zst) {
          auto unpacked = zstd_decompress(path, *bytes);
          if (!unpacked) {
            j["status"] = "error";
            j["error"] = unpacked.status().message();
            failed = true;
            archive.push_back(std::move(j));
            continue;
          }
          raw = std::move(*unpacked);
          j["uncompressed_bytes"] = raw.size();
        } else {
          raw = std::move(*bytes);
        }
        persist::SegmentHeader h;
        if (std::string why = persist::decode_segment_header(raw, h); why.empty()) {
          j["kind"] = "wal segment";
          j["first_lsn"] = h.first_lsn;
          j["status"] = "ok";
        } else {
          j["kind"] = "wal segment";
          j["status"] = "error";
          j["error"] = path + " at offset 0: " + why;
          failed = true;
        }
      } else if (const std::uint64_t v = persist::parse_snapshot_name(n); v != 0) {
        j["kind"] = "snapshot";
        j["version"] = v;
        auto loaded = persist::read_snapshot(fs, path, schema ? schema->get() : nullptr);
        j["status"] = loaded ? "ok" : "error";
        if (!loaded) {
          j["error"] = loaded.status().message();
          failed = true;
        }
      } else {
        j["kind"] = "other";
      }
      archive.push_back(std::move(j));
    }
  }
  out["archive"] = std::move(archive);
  out["recovery_plan"] = std::move(plan);
  out["ok"] = !failed;
  return out;
}

void print_inspect(const Json& r, std::ostream& os) {
  os << "data dir " << r["data_dir"].get<std::string>() << " (database id "
     << (r["database_id"].is_null() ? std::string("?") : r["database_id"].get<std::string>()) << ")\n";
  if (r.contains("identity_error")) os << "  IDENTITY: " << r["identity_error"].get<std::string>() << "\n";
  os << "schema: " << (r["schema"].is_null() ? r.value("schema_note", std::string("-")) : r["schema"].get<std::string>())
     << "\n\nsnapshots:\n";
  if (r["snapshots"].empty()) os << "  (none)\n";
  for (const Json& s : r["snapshots"]) {
    if (s["status"] == "error") {
      os << "  " << s["name"].get<std::string>() << "  ERROR " << s["error"].get<std::string>() << "\n";
    } else {
      os << "  " << s["name"].get<std::string>() << "  version " << s["version"] << "  LSN " << s["lsn"] << "  "
         << s["bytes"] << " bytes  " << s["created"].get<std::string>() << "  " << s["status"].get<std::string>() << "\n";
    }
  }
  os << "\nwal segments:\n";
  if (r.contains("wal_error")) os << "  ERROR " << r["wal_error"].get<std::string>() << "\n";
  if (r["wal"].empty()) os << "  (none)\n";
  for (const Json& s : r["wal"]) {
    os << "  " << s["name"].get<std::string>() << "  LSN " << s["first_lsn"] << ".." << s["last_lsn"] << "  "
       << s["records"] << " records  " << s["bytes_used"] << "/" << s["capacity"] << " bytes";
    if (!s["first_commit"].is_null()) {
      os << "  " << s["first_commit"].get<std::string>() << " .. " << s["last_commit"].get<std::string>();
    }
    os << "\n";
  }
  os << "\narchive:\n";
  if (r["archive"].empty()) os << "  (empty)\n";
  for (const Json& a : r["archive"]) {
    os << "  " << a["name"].get<std::string>() << "  " << a.value("bytes", std::uint64_t{0}) << " bytes";
    if (a.contains("uncompressed_bytes")) os << " (" << a["uncompressed_bytes"] << " uncompressed)";
    if (a.contains("status")) os << "  " << a["status"].get<std::string>();
    if (a.contains("error")) os << ": " << a["error"].get<std::string>();
    os << "\n";
  }
  const Json& p = r["recovery_plan"];
  os << "\nrecovery plan:\n";
  os << "  load snapshot: " << (p["snapshot"].is_null() ? std::string("none (replay from the start)") : p["snapshot"].get<std::string>())
     << "\n";
  if (p["opens"].get<bool>()) {
    if (p["replay_records"].get<std::uint64_t>() == 0) {
      os << "  replay: nothing after LSN " << p["replay_last_lsn"];
    } else {
      os << "  replay LSN " << p["replay_first_lsn"] << ".." << p["replay_last_lsn"] << " (" << p["replay_records"]
         << " records)";
    }
    if (p.contains("version_after_replay")) os << " -> version " << p["version_after_replay"];
    os << "\n";
    for (const Json& n : p["notes"]) os << "  note: " << n.get<std::string>() << "\n";
    os << "  result: opens\n";
  } else {
    os << "  result: REFUSES TO OPEN: " << p["error"].get<std::string>() << "\n";
  }
  os << (r["ok"].get<bool>() ? "ok\n" : "verification FAILED\n");
}

int run_inspect(const InspectArgs& args) {
  if (!is_data_dir(args.dir)) return report("inspect", invalid_argument(args.dir + " is not an ECSDb data directory (no IDENTITY file)"));
  auto fs = posix_file_system();
  bool failed = false;
  const Json r = inspect_dir(*fs, args, failed);
  if (args.json) std::cout << r.dump(2) << "\n";
  else print_inspect(r, std::cout);
  return failed ? kExitRuntimeError : kExitOk;
}

// ---------------------------------------------------------------------------------------------------
// Building a recoverable copy of a data directory in a scratch directory.

Status make_layout(FileSystem& fs, const std::string& dir) {
  for (const std::string& d : {dir, dir + "/wal", dir + "/snapshots", dir + "/archive"}) {
    ECSDB_RETURN_IF_ERROR(fs.create_dirs(d));
  }
  return Status::ok();
}

struct SegmentSource {
  std::uint64_t first_lsn = 0;
  std::string path;  // may end in .zst
};

// WAL segments from `dirs` (first dir wins on duplicates), in LSN order.
std::vector<SegmentSource> list_segments(FileSystem& fs, const std::vector<std::string>& dirs) {
  std::vector<SegmentSource> out;
  for (const std::string& dir : dirs) {
    auto names = fs.list(dir);
    if (!names) continue;
    for (const std::string& n : *names) {
      const bool zst = n.ends_with(".zst");
      const std::uint64_t first = persist::parse_segment_name(zst ? n.substr(0, n.size() - 4) : n);
      if (first == 0 || std::any_of(out.begin(), out.end(), [&](const SegmentSource& s) { return s.first_lsn == first; })) continue;
      out.push_back({first, dir + "/" + n});
    }
  }
  std::sort(out.begin(), out.end(), [](const SegmentSource& a, const SegmentSource& b) { return a.first_lsn < b.first_lsn; });
  return out;
}

// Copies (decompressing) into to_dir every segment that may hold a record after `after_lsn`.
Status copy_segments(FileSystem& fs, const std::vector<SegmentSource>& segments, std::uint64_t after_lsn,
                     const std::string& to_dir) {
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i + 1 < segments.size() && segments[i + 1].first_lsn - 1 <= after_lsn) continue;  // wholly covered
    const std::string to = to_dir + "/" + persist::segment_name(segments[i].first_lsn);
    if (segments[i].path.ends_with(".zst")) {
      ECSDB_ASSIGN_OR_RETURN(std::vector<std::byte> packed, fs.read_file(segments[i].path));
      ECSDB_ASSIGN_OR_RETURN(std::vector<std::byte> raw, zstd_decompress(segments[i].path, packed));
      ECSDB_ASSIGN_OR_RETURN(auto f, fs.create(to));
      ECSDB_RETURN_IF_ERROR(f->append(raw));
      ECSDB_RETURN_IF_ERROR(f->close());
    } else {
      ECSDB_RETURN_IF_ERROR(copy_file(fs, segments[i].path, to));
    }
  }
  return Status::ok();
}

DatabaseOptions scratch_options(const std::string& dir) {
  DatabaseOptions o;
  o.data_dir = dir;
  o.durability = Durability::kSync;
  o.snapshot_every_wal_bytes = 0;
  o.snapshot_every_seconds = 0;
  o.wal_retention = WalRetention::kDelete;
  return o;
}

// ---------------------------------------------------------------------------------------------------
// dump

struct DumpArgs {
  std::string data;
  std::string out;
  std::string schema;
};

// One attempt at copying `data` into `scratch` and recovering it there, read-only, to the newest state.
Result<std::unique_ptr<Database>> recover_copy(FileSystem& fs, const DumpArgs& args, const std::string& scratch,
                                               std::shared_ptr<const Schema>& schema) {
  ECSDB_RETURN_IF_ERROR(make_layout(fs, scratch));
  ECSDB_RETURN_IF_ERROR(copy_file(fs, args.data + "/IDENTITY", scratch + "/IDENTITY"));
  const std::vector<SnapshotFile> snaps = list_snapshots(fs, {args.data + "/snapshots"});
  if (schema == nullptr) {
    ECSDB_ASSIGN_OR_RETURN(schema, resolve_schema(fs, args.schema, paths_of(snaps)));
  }
  // The newest snapshot that verifies (a concurrent compaction may move it to the archive under us).
  std::uint64_t snap_lsn = 0;
  for (const SnapshotFile& s : snaps) {
    auto loaded = persist::read_snapshot(fs, s.path, schema.get());
    if (!loaded) continue;
    ECSDB_RETURN_IF_ERROR(write_file_atomic(fs, scratch + "/snapshots/" + stdfs::path(s.path).filename().string(), loaded->bytes));
    snap_lsn = loaded->info.lsn;
    break;
  }
  ECSDB_RETURN_IF_ERROR(copy_segments(fs, list_segments(fs, {args.data + "/wal"}), snap_lsn, scratch + "/wal"));
  DatabaseOptions o = scratch_options(scratch);
  // Read-only recovery to the end of the log: nothing is appended to the copy.
  o.recover_until_version = std::numeric_limits<std::uint64_t>::max();
  return Database::open(schema, o);
}

int run_dump(const DumpArgs& args) {
  if (!is_data_dir(args.data)) return report("dump", invalid_argument(args.data + " is not an ECSDb data directory (no IDENTITY file)"));
  auto fs = posix_file_system();
  auto identity = persist::read_identity(*fs, args.data);
  if (!identity) return report("dump", identity.status());
  std::shared_ptr<const Schema> schema;
  // The source may be written meanwhile: a segment retired between our listing and our copy, or a record
  // copied half-written, makes an attempt fail; a fresh copy then sees a consistent set.
  constexpr int kAttempts = 5;
  Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    ScratchDir scratch;
    auto db = recover_copy(*fs, args, scratch.path(), schema);
    if (!db) {
      last = db.status();
      if (last.code() == StatusCode::kSchemaError || last.code() == StatusCode::kInvalidArgument) break;
      continue;
    }
    PinnedView view = (*db)->pin();
    auto info = persist::write_snapshot(*fs, scratch.path(), view, identity->database_id);
    if (!info) return report("dump", info.status());
    auto bytes = fs->read_file(scratch.path() + "/" + info->name);
    if (!bytes) return report("dump", bytes.status());
    if (Status s = write_file_atomic(*fs, args.out, *bytes); !s.is_ok()) return report("dump", s);
    std::cout << "dumped version " << info->version << " (LSN " << info->lsn << ", " << view.entity_count()
              << " entities, " << info->bytes << " bytes) to " << args.out << "\n";
    return kExitOk;
  }
  return report("dump", last);
}

// ---------------------------------------------------------------------------------------------------
// restore

struct RestoreArgs {
  std::string snapshot;
  std::string from;
  std::string out;
  std::string schema;
  std::uint64_t to_version = 0;
  std::string to_time;
};

Status require_empty_target(const std::string& dir) {
  std::error_code ec;
  if (stdfs::exists(dir, ec) && !stdfs::is_empty(dir, ec)) {
    return invalid_argument("--out " + dir + " exists and is not empty; restore creates a new data directory");
  }
  return Status::ok();
}

// The output directory of a restore (empty or absent before it): removed again unless the restore
// succeeds, so a failed restore never leaves a half-written data directory that looks usable.
class RestoreTarget {
 public:
  explicit RestoreTarget(std::string dir) : dir_(std::move(dir)) {}
  RestoreTarget(const RestoreTarget&) = delete;
  RestoreTarget& operator=(const RestoreTarget&) = delete;
  ~RestoreTarget() {
    if (done_) return;
    std::error_code ec;
    stdfs::remove_all(dir_, ec);
  }
  void keep() noexcept { done_ = true; }

 private:
  std::string dir_;
  bool done_ = false;
};

int restore_from_snapshot(const RestoreArgs& args) {
  auto fs = posix_file_system();
  if (Status s = require_empty_target(args.out); !s.is_ok()) return report("restore", s);
  auto raw = persist::read_snapshot(*fs, args.snapshot, nullptr);
  if (!raw) return report("restore", raw.status());
  auto schema = args.schema.empty() ? parse_schema(raw->schema_text, args.snapshot) : load_schema_file(args.schema);
  if (!schema) return report("restore", schema.status());
  if ((*schema)->layout_hash() != raw->info.layout_hash) {
    return report("restore", invalid_argument(args.snapshot + " was written with a different schema layout than " +
                                              (*schema)->source));
  }
  const persist::SnapshotInfo& info = raw->info;
  RestoreTarget target(args.out);
  Status s = make_layout(*fs, args.out);
  if (s.is_ok()) s = persist::write_identity(*fs, args.out, {info.database_id, info.layout_hash});
  if (s.is_ok()) s = write_file_atomic(*fs, args.out + "/snapshots/" + persist::snapshot_name(info.version), raw->bytes);
  if (!s.is_ok()) return report("restore", s);
  // Open it once: proves the new directory recovers to the snapshot's version.
  DatabaseOptions o = scratch_options(args.out);
  auto db = Database::open(*schema, o);
  if (!db) return report("restore", db.status());
  if ((*db)->published_version() != info.version) {
    return report("restore", Status(StatusCode::kInternal, args.out + " opened at version " +
                                                               std::to_string((*db)->published_version()) +
                                                               ", expected " + std::to_string(info.version)));
  }
  std::cout << "restored version " << info.version << " (" << (*db)->pin().entity_count() << " entities) from "
            << args.snapshot << " into " << args.out << "\n";
  target.keep();
  return kExitOk;
}

int restore_point_in_time(const RestoreArgs& args) {
  auto fs = posix_file_system();
  if (!is_data_dir(args.from)) return report("restore", invalid_argument(args.from + " is not an ECSDb data directory (no IDENTITY file)"));
  if (Status s = require_empty_target(args.out); !s.is_ok()) return report("restore", s);
  std::int64_t until_ns = 0;
  if (!args.to_time.empty()) {
    auto t = parse_time(args.to_time);
    if (!t) return report("restore", t.status());
    until_ns = *t;
  }
  const std::vector<SnapshotFile> snaps = list_snapshots(*fs, {args.from + "/snapshots", args.from + "/archive"});
  auto schema = resolve_schema(*fs, args.schema, paths_of(snaps));
  if (!schema) return report("restore", schema.status());

  // Newest snapshot wholly before the target: version <= V, or written no later than T.
  std::optional<persist::LoadedSnapshot> base;
  for (const SnapshotFile& s : snaps) {
    if (args.to_version != 0 && s.version > args.to_version) continue;
    auto loaded = persist::read_snapshot(*fs, s.path, schema->get());
    if (!loaded) {
      std::cerr << "ecsdb restore: skipping " << loaded.status().message() << "\n";
      continue;
    }
    if (until_ns != 0 && loaded->info.created_unix_ns > until_ns) continue;
    base = std::move(*loaded);
    break;
  }
  RestoreTarget target(args.out);
  Status s = make_layout(*fs, args.out);
  if (s.is_ok()) s = copy_file(*fs, args.from + "/IDENTITY", args.out + "/IDENTITY");
  if (s.is_ok() && base) s = write_file_atomic(*fs, args.out + "/snapshots/" + persist::snapshot_name(base->info.version), base->bytes);
  if (s.is_ok()) {
    s = copy_segments(*fs, list_segments(*fs, {args.from + "/wal", args.from + "/archive"}), base ? base->info.lsn : 0,
                      args.out + "/wal");
  }
  if (!s.is_ok()) return report("restore", s);

  std::uint64_t version = 0;
  {
    DatabaseOptions o = scratch_options(args.out);
    o.recover_until_version = args.to_version;
    o.recover_until_unix_ns = until_ns;
    auto db = Database::open(*schema, o);
    if (!db) return report("restore", db.status());
    // The published version is that of the last commit at or before the target (recovery refuses a
    // target past the end of the log): the state at --to-version V is the state after it.
    version = (*db)->published_version();
    if (Status snap = (*db)->snapshot(); !snap.is_ok()) return report("restore", snap);
  }
  // The copied log runs past the target: it must not be replayed when the new directory is opened.
  auto names = fs->list(args.out + "/wal");
  if (!names) return report("restore", names.status());
  for (const std::string& n : *names) {
    if (Status r = fs->remove(args.out + "/wal/" + n); !r.is_ok()) return report("restore", r);
  }
  for (const SnapshotFile& old : list_snapshots(*fs, {args.out + "/snapshots"})) {
    if (old.version == version) continue;
    if (Status r = fs->remove(old.path); !r.is_ok()) return report("restore", r);
  }
  if (Status r = fs->sync_dir(args.out + "/wal"); !r.is_ok()) return report("restore", r);
  if (Status r = fs->sync_dir(args.out + "/snapshots"); !r.is_ok()) return report("restore", r);
  if (args.to_version != 0 && version != args.to_version) {
    std::cout << "restored the state of version " << args.to_version << " (its last commit is in version " << version
              << ") from " << args.from << " into " << args.out << "\n";
  } else {
    std::cout << "restored version " << version << " from " << args.from << " into " << args.out << "\n";
  }
  target.keep();
  return kExitOk;
}

int run_restore(const RestoreArgs& args) {
  const bool from_snapshot = !args.snapshot.empty();
  const bool point_in_time = !args.from.empty();
  if (from_snapshot == point_in_time) {
    return report("restore", invalid_argument("give exactly one of --snapshot FILE or --from DIR"));
  }
  if (point_in_time && (args.to_version == 0) == args.to_time.empty()) {
    return report("restore", invalid_argument("--from needs exactly one of --to-version V or --to-time T"));
  }
  if (from_snapshot && (args.to_version != 0 || !args.to_time.empty())) {
    return report("restore", invalid_argument("--to-version/--to-time go with --from, not --snapshot"));
  }
  return from_snapshot ? restore_from_snapshot(args) : restore_point_in_time(args);
}

}  // namespace

void add_inspect_command(CLI::App& root, int& exit_code) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd = root.add_subcommand(
      "inspect", "Verify a data directory read-only: snapshots, WAL segments, archive and the recovery plan "
                 "(exit 1 when something fails verification)");
  cmd->add_option("dir", args->dir, "Data directory")->required();
  cmd->add_option("--schema", args->schema, "Schema TOML (default: the one stored in the newest snapshot)");
  cmd->add_flag("--json", args->json, "Print one JSON object instead of text");
  cmd->callback([args, &exit_code] { exit_code = run_inspect(*args); });
}

void add_dump_command(CLI::App& root, int& exit_code) {
  auto args = std::make_shared<DumpArgs>();
  CLI::App* cmd = root.add_subcommand(
      "dump", "Online backup: recover a copy of a data directory (which may be in use) and write its newest "
              "state as one snapshot file");
  cmd->add_option("--data", args->data, "Data directory (never modified)")->required();
  cmd->add_option("--out", args->out, "Snapshot file to write (atomically)")->required();
  cmd->add_option("--schema", args->schema, "Schema TOML (default: the one stored in the newest snapshot)");
  cmd->callback([args, &exit_code] { exit_code = run_dump(*args); });
}

void add_restore_command(CLI::App& root, int& exit_code) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* cmd = root.add_subcommand(
      "restore", "Create a new data directory from a snapshot file (--snapshot) or from another directory's "
                 "snapshots and archived WAL at a version or time (--from with --to-version/--to-time)");
  cmd->add_option("--snapshot", args->snapshot, "Snapshot file (from `ecsdb dump` or a snapshots/ directory)");
  cmd->add_option("--from", args->from, "Data directory to restore from (never modified)");
  cmd->add_option("--to-version", args->to_version, "Target version (with --from)");
  cmd->add_option("--to-time", args->to_time, "Target commit time, unix seconds or ISO-8601 UTC (with --from)");
  cmd->add_option("--out", args->out, "New data directory (must not exist or be empty)")->required();
  cmd->add_option("--schema", args->schema, "Schema TOML (default: the one stored in the snapshot)");
  cmd->callback([args, &exit_code] { exit_code = run_restore(*args); });
}

}  // namespace ecsdb::cli
