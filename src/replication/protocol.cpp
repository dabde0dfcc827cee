#include "replication/protocol.hpp"

#include <algorithm>
#include <cstring>

#include "persist/byte_io.hpp"

namespace ecsdb::replication {

using persist::ByteReader;
using persist::ByteWriter;

const char* frame_type_name(std::uint8_t type) noexcept {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kHello: return "HELLO";
    case FrameType::kAck: return "ACK";
    case FrameType::kSubscribe: return "SUBSCRIBE";
    case FrameType::kWrite: return "WRITE";
    case FrameType::kWelcome: return "WELCOME";
    case FrameType::kSyncBegin: return "SYNC_BEGIN";
    case FrameType::kSyncChunk: return "SYNC_CHUNK";
    case FrameType::kSyncEnd: return "SYNC_END";
    case FrameType::kDelta: return "DELTA";
    case FrameType::kWriteResult: return "WRITE_RESULT";
    case FrameType::kOverwritten: return "OVERWRITTEN";
    case FrameType::kCompressed: return "COMPRESSED";
    case FrameType::kClose: return "CLOSE";
  }
  return "unknown";
}

namespace {

constexpr std::size_t kMaxNameBytes = 256;  // a table, field or filter name (and a filter's string value)

Status malformed(const char* frame, const std::string& what) {
  return Status(StatusCode::kInvalidArgument, std::string("malformed ") + frame + " frame: " + what);
}

void put_string(ByteWriter& w, std::string_view s) {
  w.varint(s.size());
  w.raw(s.data(), s.size());
}

std::string get_string(ByteReader& r, std::size_t max) {
  const std::uint64_t n = r.varint();
  if (n > max || !r.can_read(n, 1)) {
    r.fail();
    return {};
  }
  const auto b = r.bytes(n);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

void put_names(ByteWriter& w, const std::vector<std::string>& names) {
  w.varint(names.size());
  for (const std::string& n : names) put_string(w, n);
}

std::vector<std::string> get_names(ByteReader& r, const DecodeLimits& limits) {
  const std::uint64_t n = r.varint();
  if (n > limits.max_tables || !r.can_read(n, 1)) {
    r.fail();
    return {};
  }
  std::vector<std::string> names;
  names.reserve(n);
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) names.push_back(get_string(r, kMaxNameBytes));
  return names;
}

// Keys (Entity or RowId bits: generation << 32 | index) as a list: each index as the zigzag difference from
// the previous one (lists are mostly ascending, so most take one byte), then the generation.
class KeyWriter {
 public:
  explicit KeyWriter(ByteWriter& w) : w_(w) {}
  void key(std::uint64_t k) {
    const auto index = static_cast<std::int64_t>(static_cast<std::uint32_t>(k));
    const std::int64_t diff = index - previous_;
    previous_ = index;
    w_.varint(static_cast<std::uint64_t>(diff << 1) ^ static_cast<std::uint64_t>(diff >> 63));
    w_.varint(k >> 32);
  }

 private:
  ByteWriter& w_;
  std::int64_t previous_ = 0;
};

class KeyReader {
 public:
  explicit KeyReader(ByteReader& r) : r_(r) {}
  std::uint64_t key() {
    const std::uint64_t z = r_.varint();
    // previous + zigzag-decoded difference, in unsigned (modular) arithmetic: a sender's difference may be
    // anything, and a result outside 0..2^32-1 (a negative one wraps to a huge value) is refused.
    const std::uint64_t index = static_cast<std::uint64_t>(previous_) + ((z >> 1) ^ (~(z & 1) + 1));
    const std::uint64_t generation = r_.varint();
    if (index > 0xFFFFFFFFull || generation > 0xFFFFFFFFull) {
      r_.fail();
      return 0;
    }
    previous_ = static_cast<std::int64_t>(index);
    return generation << 32 | index;
  }

 private:
  ByteReader& r_;
  std::int64_t previous_ = 0;
};

std::uint32_t masked_size(const Table& t, std::uint64_t mask) {
  std::uint32_t n = 0;
  for (std::uint16_t id : t.layout.row_order) {
    if ((mask & field_bit(id)) != 0) n += t.layout.fields[id].type.size;
  }
  return n;
}

bool is_many(const Table& t) { return t.cardinality == Cardinality::kMany; }

void write_keys(ByteWriter& w, const std::vector<std::uint64_t>& keys) {
  w.varint(keys.size());
  KeyWriter k(w);
  for (std::uint64_t key : keys) k.key(key);
}

// Reads a counted key list; every key costs at least 2 bytes, so the count is checked before allocating.
bool read_keys(ByteReader& r, std::vector<std::uint64_t>& keys) {
  const std::uint64_t n = r.varint();
  if (!r.can_read(n, 2)) return false;
  keys.resize(n);
  KeyReader k(r);
  for (auto& key : keys) key = k.key();
  return r.ok();
}

// Positions 0..n-1 ordered by the index part of keys[i]: updates and deletes are written in that order (the
// order carries no meaning there), so each key's index costs a byte or two instead of up to five.
template <typename KeyOf>
std::vector<std::uint32_t> ascending(std::size_t n, KeyOf key_of) {
  std::vector<std::uint32_t> order(n);
  for (std::uint32_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return static_cast<std::uint32_t>(key_of(a)) < static_cast<std::uint32_t>(key_of(b));
  });
  return order;
}

void write_table(ByteWriter& w, const Table& table, const TableDelta& t) {
  const std::uint32_t stride = table.stride();
  w.varint(t.table);
  // Inserted rows keep their order: a replica appends them as the server did, so a full sync (and a
  // delta that only inserts) gives the server's row order.
  write_keys(w, t.inserted_keys);
  if (is_many(table)) {
    KeyWriter owners(w);
    for (std::size_t i = 0; i < t.inserted_keys.size(); ++i) owners.key(t.inserted_owners.empty() ? 0 : t.inserted_owners[i]);
  }
  w.raw(t.inserted_rows.data(), t.inserted_keys.size() * stride);
  w.varint(t.updates.size());
  KeyWriter keys(w);
  for (std::uint32_t i : ascending(t.updates.size(), [&](std::uint32_t k) { return t.updates[k].key; })) {
    const RowUpdate& u = t.updates[i];
    keys.key(u.key);
    w.varint(u.field_mask);
    w.raw(t.update_bytes.data() + u.offset, u.size);
  }
  const auto deleted = ascending(t.deleted_keys.size(), [&](std::uint32_t i) { return t.deleted_keys[i]; });
  w.varint(deleted.size());
  KeyWriter deleted_keys(w);
  for (std::uint32_t i : deleted) deleted_keys.key(t.deleted_keys[i]);
}

Status read_table(ByteReader& r, const Schema& schema, std::uint64_t previous_table, TableDelta& t, const char* frame) {
  const std::uint64_t id = r.varint();
  if (!r.ok()) return malformed(frame, "truncated table header");
  if (id >= schema.tables.size()) return malformed(frame, "unknown table id " + std::to_string(id));
  if (id <= previous_table && previous_table != UINT64_MAX) return malformed(frame, "table ids must ascend (table id " + std::to_string(id) + ")");
  const Table& table = schema.tables[id];
  const std::uint32_t stride = table.stride();
  t.table = static_cast<std::uint16_t>(id);
  if (!read_keys(r, t.inserted_keys)) return malformed(frame, "truncated inserted keys of table '" + table.name + "'");
  const std::size_t n = t.inserted_keys.size();
  if (is_many(table)) {
    if (!r.can_read(n, 2)) return malformed(frame, "truncated owners of table '" + table.name + "'");
    t.inserted_owners.resize(n);
    KeyReader owners(r);
    for (auto& o : t.inserted_owners) o = owners.key();
  }
  if (!r.can_read(n, stride)) return malformed(frame, "truncated inserted rows of table '" + table.name + "'");
  const auto rows = r.bytes(n * stride);
  t.inserted_rows.assign(rows.begin(), rows.end());
  const std::uint64_t updates = r.varint();
  if (!r.can_read(updates, 3)) return malformed(frame, "truncated updates of table '" + table.name + "'");
  t.updates.resize(updates);
  const std::uint64_t valid = stored_fields_mask(table);
  KeyReader keys(r);
  for (RowUpdate& u : t.updates) {
    u.key = keys.key();
    u.field_mask = r.varint();
    if (!r.ok()) return malformed(frame, "truncated update of table '" + table.name + "'");
    if ((u.field_mask & ~valid) != 0) {
      return malformed(frame, "update of table '" + table.name + "' names fields it does not have (mask " +
                                  std::to_string(u.field_mask) + ")");
    }
    u.size = masked_size(table, u.field_mask);
    u.offset = static_cast<std::uint32_t>(t.update_bytes.size());
    const auto bytes = r.bytes(u.size);
    if (!r.ok()) return malformed(frame, "truncated update bytes of table '" + table.name + "'");
    t.update_bytes.insert(t.update_bytes.end(), bytes.begin(), bytes.end());
  }
  if (!read_keys(r, t.deleted_keys)) return malformed(frame, "truncated deleted keys of table '" + table.name + "'");
  return Status::ok();
}

void write_body(ByteWriter& w, const Delta& d, const Schema& schema, const std::vector<bool>& tables) {
  std::vector<std::uint64_t> keys;
  keys.reserve(std::max(d.created.size(), d.destroyed.size()));
  for (Entity e : d.created) keys.push_back(e.bits());
  write_keys(w, keys);
  keys.clear();
  for (Entity e : d.destroyed) keys.push_back(e.bits());
  write_keys(w, keys);
  auto wanted = [&](std::uint16_t id) { return tables.empty() || (id < tables.size() && tables[id]); };
  std::size_t count = 0;
  for (const TableDelta& t : d.tables) count += wanted(t.table) && !t.empty() ? 1 : 0;
  w.varint(count);
  for (const TableDelta& t : d.tables) {
    if (wanted(t.table) && !t.empty()) write_table(w, schema.tables[t.table], t);
  }
}

Result<Delta> read_body(ByteReader& r, const Schema& schema, const char* frame) {
  Delta d;
  std::vector<std::uint64_t> keys;
  if (!read_keys(r, keys)) return malformed(frame, "truncated created entities");
  d.created.reserve(keys.size());
  for (std::uint64_t k : keys) d.created.push_back(Entity::from_bits(k));
  if (!read_keys(r, keys)) return malformed(frame, "truncated destroyed entities");
  d.destroyed.reserve(keys.size());
  for (std::uint64_t k : keys) d.destroyed.push_back(Entity::from_bits(k));
  const std::uint64_t tables = r.varint();
  if (!r.ok() || tables > schema.tables.size()) return malformed(frame, "bad table count " + std::to_string(tables));
  d.tables.resize(tables);
  std::uint64_t previous = UINT64_MAX;
  for (TableDelta& t : d.tables) {
    ECSDB_RETURN_IF_ERROR(read_table(r, schema, previous, t, frame));
    previous = t.table;
  }
  return d;
}

template <typename F>
auto finish_decode(ByteReader& r, const char* frame, F&& value) -> Result<std::decay_t<decltype(value())>> {
  auto v = value();
  if (!r.ok()) return malformed(frame, "truncated");
  if (r.remaining() != 0) return malformed(frame, std::to_string(r.remaining()) + " bytes after the end");
  return v;
}

// The optional filter section after the tables of HELLO and SUBSCRIBE (docs/protocol.md, "Filters"): absent
// (no bytes left) and a count of 0 both mean no filters.
void put_filters(ByteWriter& w, const std::vector<SubscriptionFilter>& filters) {
  if (filters.empty()) return;
  w.varint(filters.size());
  for (const SubscriptionFilter& f : filters) {
    w.u8(static_cast<std::uint8_t>(f.kind));
    put_string(w, f.table);
    switch (f.kind) {
      case SubscriptionFilter::Kind::kEntities:
        w.varint(f.entities.size());
        for (Entity e : f.entities) w.u64(e.bits());
        break;
      case SubscriptionFilter::Kind::kField: {
        put_string(w, f.field);
        w.u8(static_cast<std::uint8_t>(f.op));
        w.u8(static_cast<std::uint8_t>(f.value.kind));
        switch (f.value.kind) {
          case Value::Kind::kBool: w.u64(f.value.boolean ? 1 : 0); break;
          case Value::Kind::kInt: w.i64(f.value.integer); break;
          case Value::Kind::kUInt: w.u64(f.value.uinteger); break;
          case Value::Kind::kFloat: w.raw(&f.value.floating, 8); break;
          case Value::Kind::kEntity: w.u64(f.value.entity.bits()); break;
          case Value::Kind::kString: put_string(w, f.value.string); break;
          default: break;  // refused by the decoder
        }
        break;
      }
      case SubscriptionFilter::Kind::kCustom:
        put_string(w, f.name);
        w.varint(f.params.size());
        w.bytes(f.params);
        break;
    }
  }
}

std::vector<SubscriptionFilter> get_filters(ByteReader& r, const DecodeLimits& limits, const char* frame, Status& error) {
  std::vector<SubscriptionFilter> out;
  if (r.remaining() == 0) return out;
  const std::uint64_t n = r.varint();
  if (n > limits.max_filters) {
    error = malformed(frame, std::to_string(n) + " filters (at most " + std::to_string(limits.max_filters) + ")");
    return out;
  }
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    SubscriptionFilter f;
    const std::uint8_t kind = r.u8();
    f.table = get_string(r, kMaxNameBytes);
    const std::string at = "filter " + std::to_string(i) + ": ";
    switch (static_cast<SubscriptionFilter::Kind>(kind)) {
      case SubscriptionFilter::Kind::kEntities: {
        f.kind = SubscriptionFilter::Kind::kEntities;
        const std::uint64_t count = r.varint();
        if (!r.can_read(count, 8)) {
          r.fail();
          break;
        }
        f.entities.reserve(count);
        for (std::uint64_t k = 0; k < count; ++k) f.entities.push_back(Entity::from_bits(r.u64()));
        break;
      }
      case SubscriptionFilter::Kind::kField: {
        f.kind = SubscriptionFilter::Kind::kField;
        f.field = get_string(r, kMaxNameBytes);
        const std::uint8_t op = r.u8();
        if (op < 1 || op > 6) {
          error = malformed(frame, at + "unknown comparison " + std::to_string(op));
          return out;
        }
        f.op = static_cast<SubscriptionFilter::Op>(op);
        f.value.kind = static_cast<Value::Kind>(r.u8());
        switch (f.value.kind) {
          case Value::Kind::kBool: f.value.boolean = r.u64() != 0; break;
          case Value::Kind::kInt: f.value.integer = r.i64(); break;
          case Value::Kind::kUInt: f.value.uinteger = r.u64(); break;
          case Value::Kind::kFloat: {
            const std::uint64_t bits = r.u64();
            std::memcpy(&f.value.floating, &bits, 8);
            break;
          }
          case Value::Kind::kEntity: f.value.entity = Entity::from_bits(r.u64()); break;
          case Value::Kind::kString: f.value.string = get_string(r, kMaxNameBytes); break;
          default:
            error = malformed(frame, at + "a value of kind " + std::to_string(static_cast<int>(f.value.kind)) +
                                         " (numbers, bools, entities and strings only)");
            return out;
        }
        break;
      }
      case SubscriptionFilter::Kind::kCustom: {
        f.kind = SubscriptionFilter::Kind::kCustom;
        f.name = get_string(r, kMaxNameBytes);
        const std::uint64_t count = r.varint();
        if (!r.can_read(count, 1)) {
          r.fail();
          break;
        }
        const auto b = r.bytes(count);
        f.params.assign(b.begin(), b.end());
        break;
      }
      default:
        error = malformed(frame, at + "unknown kind " + std::to_string(kind));
        return out;
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

std::size_t begin_frame(std::vector<std::byte>& out, FrameType type) {
  const std::size_t start = out.size();
  ByteWriter w(out);
  w.u32(0);
  w.u8(static_cast<std::uint8_t>(type));
  return start;
}

void finish_frame(std::vector<std::byte>& out, std::size_t frame_start) {
  ByteWriter(out).patch_u32(frame_start, static_cast<std::uint32_t>(out.size() - frame_start - 4));
}

void encode_hello(const Hello& m, std::vector<std::byte>& out) {
  const std::size_t f = begin_frame(out, FrameType::kHello);
  ByteWriter w(out);
  w.u32(kMagic);
  w.u16(m.protocol);
  w.u16(m.flags);
  w.u64(m.layout_hash);
  w.u64(m.last_version);
  w.u64(m.epoch);
  put_string(w, m.token);
  put_names(w, m.tables);
  put_filters(w, m.filters);
  finish_frame(out, f);
}

Result<Hello> decode_hello(std::span<const std::byte> payload, const DecodeLimits& limits) {
  ByteReader r(payload);
  if (r.u32() != kMagic) return malformed("HELLO", "bad magic (not an ECSDb replication client?)");
  Hello m;
  m.protocol = r.u16();
  m.flags = r.u16();
  m.layout_hash = r.u64();
  m.last_version = r.u64();
  m.epoch = r.u64();
  m.token = get_string(r, limits.max_token_bytes);
  m.tables = get_names(r, limits);
  Status error;
  if (r.ok()) m.filters = get_filters(r, limits, "HELLO", error);
  if (!error.is_ok()) return error;
  return finish_decode(r, "HELLO", [&] { return std::move(m); });
}

void encode_ack(std::uint64_t version, std::vector<std::byte>& out) {
  const std::size_t f = begin_frame(out, FrameType::kAck);
  ByteWriter(out).u64(version);
  finish_frame(out, f);
}

Result<std::uint64_t> decode_ack(std::span<const std::byte> payload) {
  ByteReader r(payload);
  return finish_decode(r, "ACK", [&] { return r.u64(); });
}

void encode_subscribe(const Subscription& m, std::vector<std::byte>& out) {
  const std::size_t f = begin_frame(out, FrameType::kSubscribe);
  ByteWriter w(out);
  put_names(w, m.tables);
  put_filters(w, m.filters);
  finish_frame(out, f);
}

Result<Subscription> decode_subscribe(std::span<const std::byte> payload, const DecodeLimits& limits) {
  ByteReader r(payload);
  Subscription m;
  m.tables = get_names(r, limits);
  Status error;
  if (r.ok()) m.filters = get_filters(r, limits, "SUBSCRIBE", error);
  if (!error.is_ok()) return error;
  return finish_decode(r, "SUBSCRIBE", [&] { return std::move(m); });
}

void encode_welcome(const Welcome& m, std::vector<std::byte>& out) {
  const std::size_t f = begin_frame(out, FrameType::kWelcome);
  ByteWriter w(out);
  w.u16(m.protocol);
  w.u64(m.layout_hash);
  w.u64(m.server_version);
  w.u64(m.durable_version);
  w.u64(m.epoch);
  w.u8(m.resume ? 1 : 0);
  put_string(w, m.schema_text);
  put_names(w, m.tables);
  finish_frame(out, f);
}

Result<Welcome> decode_welcome(std::span<const std::byte> payload, const DecodeLimits& limits) {
  ByteReader r(payload);
  Welcome m;
  m.protocol = r.u16();
  m.layout_hash = r.u64();
  m.server_version = r.u64();
  m.durable_version = r.u64();
  m.epoch = r.u64();
  m.resume = r.u8() != 0;
  m.schema_text = get_string(r, limits.max_frame_bytes);
  m.tables = get_names(r, limits);
  return finish_decode(r, "WELCOME", [&] { return std::move(m); });
}

void encode_sync_begin(const SyncBegin& m, std::vector<std::byte>& out) {
  const std::size_t f = begin_frame(out, FrameType::kSyncBegin);
  ByteWriter w(out);
  w.u64(m.version);
  w.u8(m.reset ? 1 : 0);
  put_names(w, m.tables);
  finish_frame(out, f);
}

Result<SyncBegin> decode_sync_begin(std::span<const std::byte> payload, const DecodeLimits& limits) {
  ByteReader r(payload);
  SyncBegin m;
  m.version = r.u64();
  m.reset = r.u8() != 0;
  m.tables = get_names(r, limits);
  return finish_decode(r, "SYNC_BEGIN", [&] { return std::move(m); });
}

void encode_sync_end(std::uint64_t version, std::vector<std::byte>& out) {
  const std::size_t f = begin_frame(out, FrameType::kSyncEnd);
  ByteWriter(out).u64(version);
  finish_frame(out, f);
}

Result<std::uint64_t> decode_sync_end(std::span<const std::byte> payload) {
  ByteReader r(payload);
  return finish_decode(r, "SYNC_END", [&] { return r.u64(); });
}

void encode_write_result(const WriteResult& m, std::vector<std::byte>& out) {
  const std::size_t f = begin_frame(out, FrameType::kWriteResult);
  ByteWriter w(out);
  w.u64(m.request_id);
  w.u8(m.committed ? 1 : 0);
  w.u64(m.version);
  w.u16(m.code);
  put_string(w, m.message);
  finish_frame(out, f);
}

Result<WriteResult> decode_write_result(std::span<const std::byte> payload) {
  ByteReader r(payload);
  WriteResult m;
  m.request_id = r.u64();
  m.committed = r.u8() != 0;
  m.version = r.u64();
  m.code = r.u16();
  m.message = get_string(r, std::size_t{64} << 10);
  return finish_decode(r, "WRITE_RESULT", [&] { return std::move(m); });
}

void encode_overwritten(const Overwritten& m, std::vector<std::byte>& out) {
  const std::size_t f = begin_frame(out, FrameType::kOverwritten);
  ByteWriter w(out);
  w.u64(m.request_id);
  w.u64(m.version);
  w.u16(m.table);
  w.u64(m.key);
  w.u64(m.field_mask);
  finish_frame(out, f);
}

Result<Overwritten> decode_overwritten(std::span<const std::byte> payload) {
  ByteReader r(payload);
  Overwritten m;
  m.request_id = r.u64();
  m.version = r.u64();
  m.table = r.u16();
  m.key = r.u64();
  m.field_mask = r.u64();
  return finish_decode(r, "OVERWRITTEN", [&] { return m; });
}

void encode_close(const CloseFrame& m, std::vector<std::byte>& out) {
  const std::size_t f = begin_frame(out, FrameType::kClose);
  ByteWriter w(out);
  w.u16(m.code);
  put_string(w, m.reason);
  finish_frame(out, f);
}

Result<CloseFrame> decode_close(std::span<const std::byte> payload) {
  ByteReader r(payload);
  CloseFrame m;
  m.code = r.u16();
  m.reason = get_string(r, std::size_t{64} << 10);
  return finish_decode(r, "CLOSE", [&] { return std::move(m); });
}

void encode_delta_body(const Delta& d, const Schema& schema, const std::vector<bool>& tables, std::vector<std::byte>& out) {
  ByteWriter w(out);
  write_body(w, d, schema, tables);
}

Result<Delta> decode_delta_body(std::span<const std::byte> body, const Schema& schema) {
  ByteReader r(body);
  auto d = read_body(r, schema, "delta");
  if (!d) return d.status();
  if (r.remaining() != 0) return malformed("delta", std::to_string(r.remaining()) + " bytes after the end");
  return d;
}

void encode_delta_frame(std::uint64_t from, std::uint64_t to, std::uint64_t published_at_ns, const Delta& d,
                        const Schema& schema, const std::vector<bool>& tables, std::vector<std::byte>& out) {
  const std::size_t f = begin_frame(out, FrameType::kDelta);
  ByteWriter w(out);
  w.u64(from);
  w.u64(to);
  w.u64(published_at_ns);
  write_body(w, d, schema, tables);
  finish_frame(out, f);
}

Result<DeltaFrame> decode_delta_frame(std::span<const std::byte> payload, const Schema& schema) {
  ByteReader r(payload);
  DeltaFrame m;
  m.from_version = r.u64();
  m.to_version = r.u64();
  m.published_at_ns = r.u64();
  if (!r.ok()) return malformed("DELTA", "truncated header");
  // to = from: a subscription change at that version (rows selected or dropped, no new version).
  if (m.to_version < m.from_version) {
    return malformed("DELTA", "to_version " + std::to_string(m.to_version) + " is before from_version " +
                                  std::to_string(m.from_version));
  }
  auto d = read_body(r, schema, "DELTA");
  if (!d) return d.status();
  if (r.remaining() != 0) return malformed("DELTA", std::to_string(r.remaining()) + " bytes after the end");
  m.delta = std::move(*d);
  m.delta.version = m.to_version;
  return m;
}

void encode_sync_chunk(const Delta& d, const Schema& schema, std::vector<std::byte>& out) {
  const std::size_t f = begin_frame(out, FrameType::kSyncChunk);
  ByteWriter w(out);
  write_body(w, d, schema, {});
  finish_frame(out, f);
}

Result<Delta> decode_sync_chunk(std::span<const std::byte> payload, const Schema& schema) {
  ByteReader r(payload);
  auto d = read_body(r, schema, "SYNC_CHUNK");
  if (!d) return d.status();
  if (r.remaining() != 0) return malformed("SYNC_CHUNK", std::to_string(r.remaining()) + " bytes after the end");
  if (!d->destroyed.empty()) return malformed("SYNC_CHUNK", "a sync chunk destroys nothing");
  for (const TableDelta& t : d->tables) {
    if (!t.updates.empty() || !t.deleted_keys.empty()) return malformed("SYNC_CHUNK", "a sync chunk only inserts rows");
  }
  return d;
}

void encode_write(const WriteRequest& m, std::vector<std::byte>& out) {
  const std::size_t f = begin_frame(out, FrameType::kWrite);
  ByteWriter w(out);
  w.u64(m.request_id);
  w.u64(m.base_version);
  w.varint(m.ops.size());
  for (const WriteOp& op : m.ops) {
    w.u8(static_cast<std::uint8_t>(op.kind));
    if (op.kind != WriteOpKind::kDestroy) w.varint(op.table);
    w.u64(op.key);
    if (op.kind == WriteOpKind::kUpdate) w.varint(op.field_mask);
    if (op.kind == WriteOpKind::kPut || op.kind == WriteOpKind::kInsert || op.kind == WriteOpKind::kUpdate) {
      w.raw(op.bytes.data(), op.bytes.size());
    }
  }
  finish_frame(out, f);
}

Result<WriteRequest> decode_write(std::span<const std::byte> payload, const Schema& schema) {
  ByteReader r(payload);
  WriteRequest m;
  m.request_id = r.u64();
  m.base_version = r.u64();
  const std::uint64_t n = r.varint();
  if (!r.can_read(n, 9)) return malformed("WRITE", "truncated operations");
  m.ops.resize(n);
  for (std::size_t i = 0; i < m.ops.size(); ++i) {
    WriteOp& op = m.ops[i];
    const std::string at = "operation " + std::to_string(i);
    const std::uint8_t kind = r.u8();
    if (kind < 1 || kind > 5) return malformed("WRITE", at + ": unknown kind " + std::to_string(kind));
    op.kind = static_cast<WriteOpKind>(kind);
    if (op.kind != WriteOpKind::kDestroy) {
      const std::uint64_t table = r.varint();
      if (!r.ok() || table >= schema.tables.size()) return malformed("WRITE", at + ": unknown table id " + std::to_string(table));
      op.table = static_cast<std::uint16_t>(table);
    }
    op.key = r.u64();
    const Table& t = schema.tables[op.table];
    std::uint32_t size = 0;
    if (op.kind == WriteOpKind::kUpdate) {
      op.field_mask = r.varint();
      if ((op.field_mask & ~stored_fields_mask(t)) != 0) {
        return malformed("WRITE", at + ": table '" + t.name + "' has no field for mask " + std::to_string(op.field_mask));
      }
      size = masked_size(t, op.field_mask);
    } else if (op.kind == WriteOpKind::kPut || op.kind == WriteOpKind::kInsert) {
      size = t.stride();
    }
    const auto bytes = r.bytes(size);
    if (!r.ok()) return malformed("WRITE", at + ": truncated");
    op.bytes.assign(bytes.begin(), bytes.end());
  }
  return finish_decode(r, "WRITE", [&] { return std::move(m); });
}

Result<std::optional<FrameReader::Frame>> FrameReader::next() {
  if (consumed_ > 0 && consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ > (1u << 20) && consumed_ * 2 > buffer_.size()) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(consumed_));
    consumed_ = 0;
  }
  const std::size_t avail = buffer_.size() - consumed_;
  if (avail < 4) return std::optional<Frame>{};
  std::uint32_t length = 0;
  std::memcpy(&length, buffer_.data() + consumed_, 4);
  if (length < 1 || length > max_) {
    return Status(StatusCode::kInvalidArgument,
                  "frame length " + std::to_string(length) + " is outside 1.." + std::to_string(max_));
  }
  if (avail < 4 + std::size_t{length}) return std::optional<Frame>{};
  const std::byte* p = buffer_.data() + consumed_ + 4;
  consumed_ += 4 + std::size_t{length};
  return std::optional<Frame>{Frame{static_cast<std::uint8_t>(p[0]), std::span<const std::byte>(p + 1, length - 1)}};
}

}  // namespace ecsdb::replication
