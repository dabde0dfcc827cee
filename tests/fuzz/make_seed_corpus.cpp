// Writes the seed corpora of the fuzz targets from real files: a small database on the in-memory
// FaultInjectionFileSystem gets transactions over every table (so every delta section appears), a snapshot
// and more transactions; its WAL segments, their record payloads and the snapshot become the seeds.
// Usage: make_seed_corpus <dir>   (creates <dir>/wal_record, <dir>/snapshot, <dir>/wal_segment)
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ecsdb/database.hpp"
#include "persist/delta_codec.hpp"
#include "persist/wal_format.hpp"
#include "replication/compression.hpp"
#include "replication/protocol.hpp"
#include "support/fault_injection_file_system.hpp"
#include "support/test_schema.hpp"

namespace {

using namespace ecsdb;
using namespace ecsdb::testing;

void check(const Status& s, const char* what) {
  if (s.is_ok()) return;
  std::fprintf(stderr, "make_seed_corpus: %s: %s\n", what, s.to_string().c_str());
  std::exit(1);
}

void write_seed(const std::filesystem::path& dir, const std::string& name, std::uint8_t mode,
                std::span<const std::byte> bytes, bool with_mode = true) {
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  if (with_mode) out.put(static_cast<char>(mode));
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void workload(Database& db, int round) {
  WriterHandle& w = db.writer();
  std::vector<Entity> es;
  check(w.create_many(6, es), "create_many");
  for (std::uint32_t i = 0; i < es.size(); ++i) {
    Transaction t = w.begin();
    check(t.add(es[i], Transform{float(i), float(round), 0}), "transform");
    check(t.add(es[i], Health{i * 10, 100}), "health");
    if (i % 2 == 0) check(t.add(es[i], Player{i, FixedString<16>(std::string("p") + char('a' + i + round))}), "player");
    if (i > 0) check(t.add(es[i], Aim{es[i - 1]}), "aim");
    if (i > 0) check(t.add(es[i], Follow{es[0]}), "follow");
    check(t.insert_child(es[i], Item{std::uint16_t(i), 1}).status(), "item");
    check(t.commit(), "commit");
  }
  check(w.set(es[1], &Health::hp, 77u), "set");
  check(w.remove<Player>(es[2]), "remove");
  check(w.destroy(es[3]), "destroy");  // set_null on Aim, cascade on Follow
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  auto fs = std::make_shared<FaultInjectionFileSystem>();
  DatabaseOptions o;
  o.data_dir = "/data";
  o.durability = Durability::kSync;
  o.file_system = fs;
  o.wal_segment_bytes = 8 * 1024;  // small: a seed is a whole segment
  o.snapshot_every_wal_bytes = 0;
  o.wal_retention = WalRetention::kDelete;
  {
    auto db = Database::open(test_schema(), o);
    check(db.status(), "open");
    workload(**db, 0);
    check((*db)->snapshot(), "snapshot");
    workload(**db, 1);
    check((*db)->flush(), "flush");
  }
  int records = 0, segments = 0, snapshots = 0;
  for (const std::string& name : fs->list("/data/wal").value()) {
    const std::vector<std::byte> file = fs->contents("/data/wal/" + name);
    // Cut the zeros after the last record (keeping one empty record header): seeds stay small.
    std::uint64_t offset = persist::kWalHeaderSize;
    while (offset + persist::kRecordHeaderSize <= file.size()) {
      std::uint32_t length;
      std::memcpy(&length, file.data() + offset, 4);
      if (length == 0) break;
      const auto payload = std::span<const std::byte>(file).subspan(offset + persist::kRecordHeaderSize, length);
      write_seed(root / "wal_record", "record-" + std::to_string(records), 0, payload, false);
      // repl_frame_fuzz: the same delta as a replication DELTA frame (and a sync chunk of its inserts).
      if (auto decoded = persist::decode_delta(payload, *test_schema())) {
        std::vector<std::byte> frame;
        replication::encode_delta_frame(records, records + 1, 0, decoded->delta, *test_schema(), {}, frame);
        write_seed(root / "repl_frame", "delta-" + std::to_string(records), 0, frame, false);
        // ...and the same frame twice through one zstd stream (the second one refers back to the first).
        replication::FrameCompressor zstd(1, 18);
        std::string packed;
        if (zstd.compress(frame, packed).is_ok() && zstd.compress(frame, packed).is_ok()) {
          const auto* bytes = reinterpret_cast<const std::byte*>(packed.data());
          write_seed(root / "repl_frame", "compressed-" + std::to_string(records), 0, std::span(bytes, packed.size()), false);
        }
      }
      ++records;
      offset += persist::record_size(length);
    }
    const auto used = std::span<const std::byte>(file).first(std::min<std::uint64_t>(offset + 24, file.size()));
    write_seed(root / "wal_segment", name + ".raw", 0, used);
    write_seed(root / "wal_segment", name + ".fixed", 1, used);
    ++segments;
  }
  for (const std::string& name : fs->list("/data/snapshots").value()) {
    const std::vector<std::byte> file = fs->contents("/data/snapshots/" + name);
    write_seed(root / "snapshot", name + ".raw", 0, file);
    write_seed(root / "snapshot", name + ".fixed", 1, file);
    ++snapshots;
  }
  // api_request_fuzz: transaction bodies (mode 0) and predicates (mode 1) as clients send them.
  const char* const api_seeds[] = {
      R"({"ops":[{"op":"create"},{"op":"add","table":"health","entity":"$0","values":{"hp":5,"max_hp":9}}]})",
      R"({"ops":[{"op":"create"},{"op":"put","table":"player","entity":"$0","values":{"name":"orc","score":"18446744073709551615"}},{"op":"set","table":"player","entity":"$0","field":"score","value":3}]})",
      R"({"ops":[{"op":"create"},{"op":"create"},{"op":"add","table":"guard","entity":"$1","values":{"protects":"$0"}},{"op":"destroy","entity":"$0"}]})",
      R"({"ops":[{"op":"create"},{"op":"add","table":"item","entity":"$0","values":{"kind":1,"count":2}},{"op":"expect","table":"health","entity":"$0","absent":true}]})",
      R"({"ops":[{"op":"update","table":"transform","entity":"1:1","values":{"x":"NaN","y":1e39}},{"op":"remove","table":"item","key":"0:1"}]})",
  };
  int api = 0;
  for (const char* seed : api_seeds) {
    const std::string_view text(seed);
    write_seed(root / "api_request", "tx-" + std::to_string(api++), 0, std::as_bytes(std::span(text.data(), text.size())));
  }
  for (const char* seed : {"hp<50", "health.hp>=10", "player.name=orc", "score!=18446744073709551615", "x<=NaN", "at=1:1"}) {
    const std::string_view text(seed);
    write_seed(root / "api_request", "where-" + std::to_string(api++), 1, std::as_bytes(std::span(text.data(), text.size())));
  }
  // repl_frame_fuzz: a handshake and a write, as a client opens a connection.
  {
    std::vector<std::byte> stream;
    replication::encode_hello({replication::kProtocolVersion, 0, test_schema()->layout_hash(), 3, 1, "token", {"health"},
                               {SubscriptionFilter::of_entities({Entity(0, 1)}, "health")}},
                              stream);
    replication::encode_ack(3, stream);
    replication::WriteRequest w{1, 3, {{replication::WriteOpKind::kPut, test_schema()->find_table("health")->id,
                                         Entity(0, 1).bits(), 0, std::vector<std::byte>(8, std::byte{1})},
                                        {replication::WriteOpKind::kDestroy, 0, Entity(1, 1).bits(), 0, {}}}};
    replication::encode_write(w, stream);
    replication::encode_subscribe({{"health", "item"},
                                   {SubscriptionFilter::where("health", "hp", SubscriptionFilter::Op::kLt, Value::from_int(20)),
                                    SubscriptionFilter::of_entities({Entity(1, 1), Entity(2, 1)}),
                                    SubscriptionFilter::custom("item", "near", {std::byte{1}})}},
                                  stream);
    write_seed(root / "repl_frame", "client", 0, stream, false);
    stream.clear();
    replication::encode_welcome({replication::kProtocolVersion, 1, 5, 5, 1, false, "[database]", {"health"}}, stream);
    replication::encode_sync_begin({5, true, {"health"}}, stream);
    replication::encode_sync_end(5, stream);
    replication::encode_write_result({1, true, 6, 0, ""}, stream);
    replication::encode_overwritten({1, 7, 2, Entity(0, 1).bits(), 2}, stream);
    replication::encode_close({4, "bye"}, stream);
    write_seed(root / "repl_frame", "server", 0, stream, false);
  }
  std::printf("make_seed_corpus: %d records, %d segments, %d snapshots, %d API requests in %s\n", records, segments,
              snapshots, api, root.c_str());
  return records > 0 && segments > 0 && snapshots > 0 ? 0 : 1;
}
