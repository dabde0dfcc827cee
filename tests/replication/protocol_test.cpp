// The replication frame codec (src/replication/protocol.cpp, docs/protocol.md): encode -> decode is the
// identity on random deltas; coalescing then encoding carries the same state as applying frames one by one;
// the frame splitter finds whole frames at any split of the byte stream; malformed input is refused with a
// message naming what is wrong.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <tuple>
#include <random>

#include "replication/compression.hpp"
#include "replication/protocol.hpp"
#include "support/test_schema.hpp"

namespace ecsdb::replication {
namespace {

using testing::test_schema;

std::vector<std::byte> random_row(std::mt19937_64& rng, std::uint32_t stride) {
  std::vector<std::byte> row(stride);
  for (auto& b : row) b = static_cast<std::byte>(rng());
  return row;
}

std::uint64_t random_key(std::mt19937_64& rng) {
  return (std::uint64_t{1 + static_cast<std::uint32_t>(rng() % 5)} << 32) | (rng() % 100000);
}

// A random delta over every table of the test schema (contents need not be a valid database state: the
// codec carries bytes, it does not check them against a database).
Delta random_delta(std::mt19937_64& rng, const Schema& schema) {
  Delta d;
  for (int i = 0, n = static_cast<int>(rng() % 4); i < n; ++i) d.created.push_back(Entity::from_bits(random_key(rng)));
  for (int i = 0, n = static_cast<int>(rng() % 3); i < n; ++i) d.destroyed.push_back(Entity::from_bits(random_key(rng)));
  for (const Table& t : schema.tables) {
    if (t.is_entity_table || rng() % 3 == 0) continue;
    TableDelta td;
    td.table = t.id;
    for (int i = 0, n = static_cast<int>(rng() % 4); i < n; ++i) {
      td.inserted_keys.push_back(random_key(rng));
      if (t.cardinality == Cardinality::kMany) td.inserted_owners.push_back(random_key(rng));
      const auto row = random_row(rng, t.stride());
      td.inserted_rows.insert(td.inserted_rows.end(), row.begin(), row.end());
    }
    for (int i = 0, n = static_cast<int>(rng() % 4); i < n; ++i) {
      std::uint64_t mask = 0;
      for (std::uint16_t id : t.layout.row_order) mask |= rng() % 2 == 0 ? field_bit(id) : 0;
      const auto row = random_row(rng, t.stride());
      RowUpdate u{random_key(rng), mask, static_cast<std::uint32_t>(td.update_bytes.size()), 0};
      td.update_bytes.resize(td.update_bytes.size() + t.stride());
      u.size = pack_fields(t, mask, row.data(), td.update_bytes.data() + u.offset);
      td.update_bytes.resize(u.offset + u.size);
      td.updates.push_back(u);
    }
    for (int i = 0, n = static_cast<int>(rng() % 3); i < n; ++i) td.deleted_keys.push_back(random_key(rng));
    if (!td.empty()) d.tables.push_back(std::move(td));
  }
  return d;
}

// A table delta as sorted lists (the encoder writes keys in ascending index order, so order is not kept).
struct Normal {
  std::vector<std::tuple<std::uint32_t, std::uint64_t, std::uint64_t, std::vector<std::byte>>> inserted, updated;
  std::vector<std::uint64_t> deleted;
  bool operator==(const Normal&) const = default;
};
Normal normal(const TableDelta& t, std::uint32_t stride) {
  Normal n;
  for (std::size_t i = 0; i < t.inserted_keys.size(); ++i) {
    const auto* row = t.inserted_rows.data() + i * stride;
    n.inserted.emplace_back(static_cast<std::uint32_t>(t.inserted_keys[i]), t.inserted_keys[i],
                            t.inserted_owners.empty() ? 0 : t.inserted_owners[i], std::vector<std::byte>(row, row + stride));
  }
  for (const RowUpdate& u : t.updates) {
    const auto* b = t.update_bytes.data() + u.offset;
    n.updated.emplace_back(static_cast<std::uint32_t>(u.key), u.key, u.field_mask, std::vector<std::byte>(b, b + u.size));
  }
  n.deleted = t.deleted_keys;
  std::sort(n.inserted.begin(), n.inserted.end());
  std::sort(n.updated.begin(), n.updated.end());
  std::sort(n.deleted.begin(), n.deleted.end());
  return n;
}

void expect_same(const Delta& a, const Delta& b, const Schema& schema) {
  ASSERT_EQ(a.created.size(), b.created.size());
  for (std::size_t i = 0; i < a.created.size(); ++i) EXPECT_EQ(a.created[i].bits(), b.created[i].bits());
  ASSERT_EQ(a.destroyed.size(), b.destroyed.size());
  for (std::size_t i = 0; i < a.destroyed.size(); ++i) EXPECT_EQ(a.destroyed[i].bits(), b.destroyed[i].bits());
  ASSERT_EQ(a.tables.size(), b.tables.size());
  for (std::size_t t = 0; t < a.tables.size(); ++t) {
    EXPECT_EQ(a.tables[t].table, b.tables[t].table);
    const std::uint32_t stride = schema.tables[a.tables[t].table].stride();
    EXPECT_TRUE(normal(a.tables[t], stride) == normal(b.tables[t], stride)) << "table " << a.tables[t].table;
  }
}

// The payload of the single frame in `bytes` (checks its header).
std::span<const std::byte> payload_of(const std::vector<std::byte>& bytes, FrameType type) {
  std::uint32_t length = 0;
  std::memcpy(&length, bytes.data(), 4);
  EXPECT_EQ(length + 4, bytes.size());
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[4]), static_cast<std::uint8_t>(type));
  return std::span<const std::byte>(bytes).subspan(kFrameHeaderBytes);
}

TEST(ReplicationProtocolTest, DeltaFramesRoundTripRandomDeltas) {
  const auto schema = test_schema();
  std::mt19937_64 rng(11);
  for (int round = 0; round < 500; ++round) {
    const Delta d = random_delta(rng, *schema);
    std::vector<std::byte> bytes;
    encode_delta_frame(round, round + 1 + rng() % 3, 123456789, d, *schema, {}, bytes);
    auto decoded = decode_delta_frame(payload_of(bytes, FrameType::kDelta), *schema);
    ASSERT_TRUE(decoded.has_value()) << decoded.status().to_string();
    EXPECT_EQ(decoded->from_version, static_cast<std::uint64_t>(round));
    EXPECT_EQ(decoded->published_at_ns, 123456789u);
    expect_same(d, decoded->delta, *schema);
    if (HasFatalFailure()) return;
  }
}

TEST(ReplicationProtocolTest, TableFilterCarriesOnlySubscribedTablesButAllEntities) {
  const auto schema = test_schema();
  std::mt19937_64 rng(3);
  const std::uint16_t health = schema->find_table("health")->id;
  std::vector<bool> wanted(schema->tables.size(), false);
  wanted[health] = true;
  for (int round = 0; round < 100; ++round) {
    const Delta d = random_delta(rng, *schema);
    std::vector<std::byte> bytes;
    encode_delta_frame(1, 2, 0, d, *schema, wanted, bytes);
    auto decoded = decode_delta_frame(payload_of(bytes, FrameType::kDelta), *schema);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->delta.created.size(), d.created.size());
    EXPECT_EQ(decoded->delta.destroyed.size(), d.destroyed.size());
    for (const TableDelta& t : decoded->delta.tables) EXPECT_EQ(t.table, health);
    EXPECT_EQ(decoded->delta.tables.size(), d.find(health) != nullptr ? 1u : 0u);
  }
}

TEST(ReplicationProtocolTest, OneUpdatedFloatFieldCostsFewBytes) {
  // 10,000 entities of 100,000, one f32 field each: keys ascend, so each costs one byte of index
  // difference, one of generation, one of mask and the 4 bytes of the value.
  const auto schema = test_schema();
  const Table& t = *schema->find_table("transform");
  Delta d;
  TableDelta td;
  td.table = t.id;
  const std::uint64_t mask = field_bit(t.find_field("x")->id);
  for (std::uint32_t i = 0; i < 10000; ++i) {
    const float x = static_cast<float>(i);
    RowUpdate u{Entity(i * 10, 1).bits(), mask, static_cast<std::uint32_t>(td.update_bytes.size()), 4};
    td.update_bytes.resize(td.update_bytes.size() + 4);
    std::memcpy(td.update_bytes.data() + u.offset, &x, 4);
    td.updates.push_back(u);
  }
  d.tables.push_back(std::move(td));
  std::vector<std::byte> bytes;
  encode_delta_frame(1, 2, 0, d, *schema, {}, bytes);
  const double per_field = static_cast<double>(bytes.size()) / 10000.0;
  EXPECT_LE(per_field, 8.0) << bytes.size() << " bytes";
  EXPECT_GE(per_field, 7.0) << "the encoding changed: update docs/protocol.md's worked example";
}

TEST(ReplicationProtocolTest, ControlFramesRoundTrip) {
  std::vector<std::byte> b;
  encode_hello({kProtocolVersion, kHelloDurableOnly, 42, 7, 99, "secret", {"health", "transform"}, {}}, b);
  auto hello = decode_hello(payload_of(b, FrameType::kHello));
  ASSERT_TRUE(hello.has_value());
  EXPECT_EQ(hello->flags, kHelloDurableOnly);
  EXPECT_EQ(hello->layout_hash, 42u);
  EXPECT_EQ(hello->last_version, 7u);
  EXPECT_EQ(hello->epoch, 99u);
  EXPECT_EQ(hello->token, "secret");
  EXPECT_EQ(hello->tables, (std::vector<std::string>{"health", "transform"}));

  b.clear();
  encode_welcome({kProtocolVersion, 9, 100, 99, 1234, true, "[database]\n", {"health"}}, b);
  auto welcome = decode_welcome(payload_of(b, FrameType::kWelcome));
  ASSERT_TRUE(welcome.has_value());
  EXPECT_TRUE(welcome->resume);
  EXPECT_EQ(welcome->server_version, 100u);
  EXPECT_EQ(welcome->durable_version, 99u);
  EXPECT_EQ(welcome->epoch, 1234u);
  EXPECT_EQ(welcome->schema_text, "[database]\n");

  b.clear();
  encode_write_result({5, false, 0, static_cast<std::uint16_t>(StatusCode::kPermissionDenied), "no"}, b);
  auto result = decode_write_result(payload_of(b, FrameType::kWriteResult));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->request_id, 5u);
  EXPECT_FALSE(result->committed);
  EXPECT_EQ(result->code, static_cast<std::uint16_t>(StatusCode::kPermissionDenied));
  EXPECT_EQ(result->message, "no");

  b.clear();
  encode_close({static_cast<std::uint16_t>(StatusCode::kUnavailable), "bye"}, b);
  auto close = decode_close(payload_of(b, FrameType::kClose));
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->reason, "bye");
}

// HELLO and SUBSCRIBE carry filters in an optional trailing section: absent, every kind round-trips, and a
// bad kind, comparison or value kind is refused naming the filter.
TEST(ReplicationProtocolTest, FiltersRoundTripInHelloAndSubscribe) {
  using Op = SubscriptionFilter::Op;
  const std::vector<SubscriptionFilter> filters = {
      SubscriptionFilter::of_entities({Entity(3, 1), Entity(70000, 9)}),
      SubscriptionFilter::where("health", "hp", Op::kLt, Value::from_int(-20)),
      SubscriptionFilter::where("health", "max_hp", Op::kGe, Value::from_uint(1ull << 63)),
      SubscriptionFilter::where("transform", "x", Op::kGt, Value::from_float(0.5)),
      SubscriptionFilter::where("player", "name", Op::kEq, Value::from_string("ana")),
      SubscriptionFilter::where("follow", "target", Op::kNe, Value::from_entity(Entity(1, 2))),
      SubscriptionFilter::where("player", "online", Op::kEq, Value::from_bool(true)),
      SubscriptionFilter::custom("item", "near", {std::byte{1}, std::byte{2}}),
  };
  std::vector<std::byte> b;
  encode_hello({kProtocolVersion, 0, 0, 0, 0, "", {"health"}, filters}, b);
  auto hello = decode_hello(payload_of(b, FrameType::kHello));
  ASSERT_TRUE(hello.has_value()) << hello.status().to_string();
  EXPECT_EQ(hello->filters, filters);
  b.clear();
  encode_subscribe({{"item"}, filters}, b);
  auto sub = decode_subscribe(payload_of(b, FrameType::kSubscribe));
  ASSERT_TRUE(sub.has_value()) << sub.status().to_string();
  EXPECT_EQ(sub->tables, std::vector<std::string>{"item"});
  EXPECT_EQ(sub->filters, filters);
  // No filters: no section at all (the frame of a client that predates them).
  b.clear();
  encode_subscribe({{"item"}, {}}, b);
  EXPECT_EQ(b.size(), kFrameHeaderBytes + 1 + 1 + 4);
  // Malformed: an unknown kind, an unknown comparison, an array value, too many filters, truncation.
  const auto refused = [](std::vector<std::byte> payload, const std::string& says) {
    auto r = decode_subscribe(payload);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().message();
  };
  const auto bytes = [](std::initializer_list<int> v) {
    std::vector<std::byte> out;
    for (int x : v) out.push_back(static_cast<std::byte>(x));
    return out;
  };
  refused(bytes({0, 1, 9, 0}), "unknown kind 9");
  refused(bytes({0, 1, 2, 0, 1, 'x', 7}), "unknown comparison 7");
  refused(bytes({0, 1, 2, 0, 1, 'x', 1, static_cast<int>(Value::Kind::kArray)}), "kind");
  refused(bytes({0, 65}), "65 filters");
  refused(bytes({0, 1, 1, 0, 5, 1, 2}), "truncated");
}

TEST(ReplicationProtocolTest, WritesRoundTripAndCheckTheirTables) {
  const auto schema = test_schema();
  const Table& health = *schema->find_table("health");
  WriteRequest w;
  w.request_id = 77;
  w.base_version = 12;
  w.ops.push_back({WriteOpKind::kPut, health.id, Entity(3, 1).bits(), 0, std::vector<std::byte>(health.stride(), std::byte{1})});
  w.ops.push_back({WriteOpKind::kUpdate, health.id, Entity(3, 1).bits(), field_bit(health.find_field("hp")->id),
                   std::vector<std::byte>(4, std::byte{2})});
  w.ops.push_back({WriteOpKind::kDestroy, 0, Entity(4, 2).bits(), 0, {}});
  std::vector<std::byte> b;
  encode_write(w, b);
  auto back = decode_write(payload_of(b, FrameType::kWrite), *schema);
  ASSERT_TRUE(back.has_value()) << back.status().to_string();
  ASSERT_EQ(back->ops.size(), 3u);
  EXPECT_EQ(back->ops[0].bytes, w.ops[0].bytes);
  EXPECT_EQ(back->ops[1].bytes, w.ops[1].bytes);
  EXPECT_EQ(back->ops[2].key, Entity(4, 2).bits());

  // A mask naming a field the table does not have is refused, naming the table.
  w.ops = {{WriteOpKind::kUpdate, health.id, 1, 1ull << 40, {}}};
  b.clear();
  encode_write(w, b);
  auto bad = decode_write(payload_of(b, FrameType::kWrite), *schema);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.status().message().find("health"), std::string::npos) << bad.status().message();
}

TEST(ReplicationProtocolTest, MalformedFramesAreRefusedNeverTrusted) {
  const auto schema = test_schema();
  std::mt19937_64 rng(5);
  const Delta d = random_delta(rng, *schema);
  std::vector<std::byte> bytes;
  encode_delta_frame(1, 2, 0, d, *schema, {}, bytes);
  const auto payload = payload_of(bytes, FrameType::kDelta);
  // Every truncation fails cleanly.
  for (std::size_t n = 0; n < payload.size(); ++n) {
    EXPECT_FALSE(decode_delta_frame(payload.first(n), *schema).has_value()) << "truncated at " << n;
  }
  // Trailing bytes are refused.
  std::vector<std::byte> longer(payload.begin(), payload.end());
  longer.push_back(std::byte{0});
  EXPECT_FALSE(decode_delta_frame(longer, *schema).has_value());
  // to_version may not precede from_version (equal is a subscription change at that version).
  bytes.clear();
  encode_delta_frame(5, 4, 0, d, *schema, {}, bytes);
  auto back = decode_delta_frame(payload_of(bytes, FrameType::kDelta), *schema);
  ASSERT_FALSE(back.has_value());
  EXPECT_NE(back.status().message().find("is before from_version"), std::string::npos);
  bytes.clear();
  encode_delta_frame(5, 5, 0, d, *schema, {}, bytes);
  EXPECT_TRUE(decode_delta_frame(payload_of(bytes, FrameType::kDelta), *schema).has_value());
  // A huge count is refused before anything is allocated for it.
  std::vector<std::byte> huge(24, std::byte{0});
  huge[8] = std::byte{2};  // to_version 2
  for (int i = 0; i < 9; ++i) huge.push_back(std::byte{0xFF});
  huge.push_back(std::byte{0x01});
  EXPECT_FALSE(decode_delta_frame(huge, *schema).has_value());
  // A HELLO without the magic is not a client of ours.
  std::vector<std::byte> hello(30, std::byte{0});
  auto h = decode_hello(hello);
  ASSERT_FALSE(h.has_value());
  EXPECT_NE(h.status().message().find("magic"), std::string::npos);
}

TEST(ReplicationProtocolTest, FrameReaderFindsWholeFramesAtAnySplit) {
  const auto schema = test_schema();
  std::mt19937_64 rng(9);
  std::vector<std::byte> stream;
  std::vector<std::size_t> sizes;
  for (int i = 0; i < 50; ++i) {
    const std::size_t before = stream.size();
    encode_delta_frame(i + 1, i + 2, 0, random_delta(rng, *schema), *schema, {}, stream);
    sizes.push_back(stream.size() - before - kFrameHeaderBytes);
  }
  for (int trial = 0; trial < 20; ++trial) {
    FrameReader reader(1u << 20);
    std::size_t at = 0, frames = 0;
    while (at < stream.size()) {
      const std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + rng() % 97);
      reader.feed(std::span<const std::byte>(stream).subspan(at, n));
      at += n;
      for (;;) {
        auto f = reader.next();
        ASSERT_TRUE(f.has_value());
        if (!*f) break;
        EXPECT_EQ((*f)->type, static_cast<std::uint8_t>(FrameType::kDelta));
        EXPECT_EQ((*f)->payload.size(), sizes[frames]);
        auto decoded = decode_delta_frame((*f)->payload, *schema);
        ASSERT_TRUE(decoded.has_value());
        EXPECT_EQ(decoded->from_version, frames + 1);
        ++frames;
      }
    }
    EXPECT_EQ(frames, sizes.size());
    EXPECT_EQ(reader.buffered(), 0u);
  }
  // A frame longer than the limit is an error, before its bytes arrive.
  FrameReader small(16);
  std::vector<std::byte> header{std::byte{100}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0x85}};
  small.feed(header);
  EXPECT_FALSE(small.next().has_value());
}

}  // namespace
}  // namespace ecsdb::replication

namespace ecsdb::replication {
namespace {

std::span<const std::byte> as_bytes(const std::string& s) {
  return std::span(reinterpret_cast<const std::byte*>(s.data()), s.size());
}

// One stream: every frame decodes to itself, in order, and frames that repeat what came before shrink.
TEST(ReplicationCompressionTest, AStreamOfFramesDecodesToTheSameFrames) {
  const auto schema = test_schema();
  std::mt19937_64 rng(5);
  FrameCompressor compressor(1, 18);
  FrameDecompressor decompressor(1u << 20);
  std::size_t raw = 0, packed = 0;
  const Delta repeated = random_delta(rng, *schema);
  for (int i = 0; i < 200; ++i) {
    std::vector<std::byte> frame;
    // Half the frames repeat one delta (as the same entities changing every tick do), half are random.
    encode_delta_frame(i, i + 1, 0, i % 2 == 0 ? repeated : random_delta(rng, *schema), *schema, {}, frame);
    std::string out;
    ASSERT_TRUE(compressor.compress(frame, out).is_ok());
    std::uint32_t length = 0;
    std::memcpy(&length, out.data(), 4);
    ASSERT_EQ(length + 4, out.size());
    ASSERT_EQ(static_cast<std::uint8_t>(out[4]), static_cast<std::uint8_t>(FrameType::kCompressed));
    auto inner = decompressor.decompress(as_bytes(out).subspan(kFrameHeaderBytes));
    ASSERT_TRUE(inner.has_value()) << inner.status().to_string();
    ASSERT_EQ(inner->size(), frame.size());
    EXPECT_TRUE(std::equal(inner->begin(), inner->end(), frame.begin()));
    raw += frame.size();
    packed += out.size();
  }
  EXPECT_LT(packed * 10, raw * 8) << "the repeated frames should compress through the stream's window";
}

// The decompressed size is checked against the limit before anything is allocated, and a stream that
// decodes to more or fewer bytes than declared, garbage, or a nested COMPRESSED frame is refused.
TEST(ReplicationCompressionTest, SizeLimitsAndMalformedStreamsAreRefused) {
  std::vector<std::byte> big(1u << 16, std::byte{0});  // 64 KiB of zeros: a few dozen bytes compressed
  const auto frame_of = [](std::vector<std::byte> payload) {
    std::vector<std::byte> f(kFrameHeaderBytes);
    const auto length = static_cast<std::uint32_t>(payload.size() + 1);
    std::memcpy(f.data(), &length, 4);
    f[4] = static_cast<std::byte>(FrameType::kDelta);
    f.insert(f.end(), payload.begin(), payload.end());
    return f;
  };
  const std::vector<std::byte> bomb = frame_of(big);
  {
    FrameCompressor c(1, 18);
    std::string out;
    ASSERT_TRUE(c.compress(bomb, out).is_ok());
    EXPECT_LT(out.size(), 1000u);
    FrameDecompressor small(1024);  // the limit of a client that takes frames of at most 1 KiB
    auto r = small.decompress(as_bytes(out).subspan(kFrameHeaderBytes));
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.status().message().find("outside"), std::string::npos) << r.status().message();
  }
  {
    // The declared size lies: smaller than what the stream decodes to.
    FrameCompressor c(1, 18);
    std::string out;
    ASSERT_TRUE(c.compress(bomb, out).is_ok());
    const std::uint32_t lie = 100;
    std::memcpy(out.data() + kFrameHeaderBytes, &lie, 4);
    FrameDecompressor d(1u << 20);
    auto r = d.decompress(as_bytes(out).subspan(kFrameHeaderBytes));
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.status().message().find("more than its declared"), std::string::npos) << r.status().message();
  }
  {
    // Larger than what it decodes to.
    FrameCompressor c(1, 18);
    std::string out;
    ASSERT_TRUE(c.compress(frame_of({std::byte{1}, std::byte{2}}), out).is_ok());
    const std::uint32_t lie = 9;
    std::memcpy(out.data() + kFrameHeaderBytes, &lie, 4);
    FrameDecompressor d(1u << 20);
    auto r = d.decompress(as_bytes(out).subspan(kFrameHeaderBytes));
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.status().message().find("not the declared"), std::string::npos) << r.status().message();
  }
  {
    // A COMPRESSED frame inside another.
    FrameCompressor c(1, 18);
    std::string inner;
    ASSERT_TRUE(c.compress(frame_of({std::byte{1}}), inner).is_ok());
    std::string outer;
    FrameCompressor c2(1, 18);
    ASSERT_TRUE(c2.compress(as_bytes(inner), outer).is_ok());
    FrameDecompressor d(1u << 20);
    auto r = d.decompress(as_bytes(outer).subspan(kFrameHeaderBytes));
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.status().message().find("inside another"), std::string::npos) << r.status().message();
  }
  {
    // Garbage, and a payload shorter than its size field.
    FrameDecompressor d(1u << 20);
    std::vector<std::byte> junk = {std::byte{20}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0xde}, std::byte{0xad}};
    EXPECT_FALSE(d.decompress(junk).has_value());
    FrameDecompressor d2(1u << 20);
    EXPECT_FALSE(d2.decompress(std::span(junk).first(3)).has_value());
  }
}

}  // namespace
}  // namespace ecsdb::replication
