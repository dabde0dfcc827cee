#include "persist/delta_codec.hpp"

#include <string>

#include "persist/byte_io.hpp"

namespace ecsdb::persist {

void encode_delta(const Delta& d, std::int64_t unix_time_ns, const Schema& schema, std::vector<std::byte>& out) {
  ByteWriter w(out);
  w.u64(d.version);
  w.i64(unix_time_ns);
  w.u32(static_cast<std::uint32_t>(d.created.size()));
  for (Entity e : d.created) w.u64(e.bits());
  w.u32(static_cast<std::uint32_t>(d.destroyed.size()));
  for (Entity e : d.destroyed) w.u64(e.bits());
  w.u32(static_cast<std::uint32_t>(d.tables.size()));
  for (const TableDelta& t : d.tables) {
    w.u16(t.table);
    w.u16(t.inserted_owners.empty() ? 0 : 1);
    w.u32(schema.tables[t.table].layout.stride);
    w.u32(static_cast<std::uint32_t>(t.inserted_keys.size()));
    for (std::uint64_t k : t.inserted_keys) w.u64(k);
    for (std::uint64_t o : t.inserted_owners) w.u64(o);
    w.bytes(t.inserted_rows);
    w.u32(static_cast<std::uint32_t>(t.updates.size()));
    for (const RowUpdate& u : t.updates) {
      w.u64(u.key);
      w.u64(u.field_mask);
      w.u32(u.size);
      w.bytes(std::span(t.update_bytes).subspan(u.offset, u.size));
    }
    w.u32(static_cast<std::uint32_t>(t.deleted_keys.size()));
    for (std::uint64_t k : t.deleted_keys) w.u64(k);
    w.u32(static_cast<std::uint32_t>(t.sequence.size()));
    for (const RowOp& op : t.sequence) {
      w.u8(op.insert ? 1 : 0);
      w.u64(op.key);
      w.u64(op.owner);
    }
  }
}

Result<DecodedDelta> decode_delta(std::span<const std::byte> payload, const Schema& schema,
                                  std::uint32_t payload_version) {
  ByteReader r(payload);
  DecodedDelta out;
  Delta& d = out.delta;
  auto bad = [&](const std::string& what) {
    return Status(StatusCode::kCorruption, "WAL payload at byte " + std::to_string(r.position()) + ": " + what);
  };
  d.version = r.u64();
  out.unix_time_ns = r.i64();
  const std::uint32_t created = r.u32();
  if (!r.can_read(created, 8)) return bad("truncated created-entity list");
  for (std::uint32_t i = 0; i < created; ++i) d.created.push_back(Entity::from_bits(r.u64()));
  const std::uint32_t destroyed = r.u32();
  if (!r.can_read(destroyed, 8)) return bad("truncated destroyed-entity list");
  for (std::uint32_t i = 0; i < destroyed; ++i) d.destroyed.push_back(Entity::from_bits(r.u64()));
  const std::uint32_t tables = r.u32();
  if (!r.ok() || tables > schema.tables.size()) return bad("table count " + std::to_string(tables) + " is impossible");
  for (std::uint32_t ti = 0; ti < tables; ++ti) {
    TableDelta t;
    t.table = r.u16();
    const bool owners = r.u16() != 0;
    const std::uint32_t stride = r.u32();
    if (!r.ok()) return bad("truncated table header");
    if (t.table >= schema.tables.size()) return bad("unknown table id " + std::to_string(t.table));
    const Table& table = schema.tables[t.table];
    if (stride != table.layout.stride) {
      return bad("table '" + table.name + "' has stride " + std::to_string(table.layout.stride) +
                 " but the record says " + std::to_string(stride));
    }
    const std::uint32_t inserted = r.u32();
    if (!r.can_read(inserted, 8u * (owners ? 2 : 1) + stride)) return bad("truncated inserts of table '" + table.name + "'");
    for (std::uint32_t i = 0; i < inserted; ++i) t.inserted_keys.push_back(r.u64());
    if (owners) {
      for (std::uint32_t i = 0; i < inserted; ++i) t.inserted_owners.push_back(r.u64());
    }
    auto rows = r.bytes(std::size_t{inserted} * stride);
    t.inserted_rows.assign(rows.begin(), rows.end());
    const std::uint32_t updates = r.u32();
    if (!r.can_read(updates, 20)) return bad("truncated updates of table '" + table.name + "'");
    for (std::uint32_t i = 0; i < updates; ++i) {
      RowUpdate u{};
      u.key = r.u64();
      u.field_mask = r.u64();
      u.size = r.u32();
      // The size must be exactly what the mask selects, or unpacking would read past the bytes.
      std::uint32_t expected = 0;
      for (const Field& f : table.layout.fields) {
        if (f.stored && (u.field_mask & field_bit(f.id)) != 0) expected += f.type.size;
      }
      if (!r.ok() || u.size != expected) return bad("update of table '" + table.name + "' has a size that does not match its field mask");
      auto b = r.bytes(u.size);
      if (!r.ok()) return bad("truncated update bytes of table '" + table.name + "'");
      u.offset = static_cast<std::uint32_t>(t.update_bytes.size());
      t.update_bytes.insert(t.update_bytes.end(), b.begin(), b.end());
      t.updates.push_back(u);
    }
    const std::uint32_t deleted = r.u32();
    if (!r.can_read(deleted, 8)) return bad("truncated deletes of table '" + table.name + "'");
    for (std::uint32_t i = 0; i < deleted; ++i) t.deleted_keys.push_back(r.u64());
    if (payload_version >= 2) {
      const std::uint32_t ops = r.u32();
      if (!r.can_read(ops, 17)) return bad("truncated row sequence of table '" + table.name + "'");
      for (std::uint32_t i = 0; i < ops; ++i) {
        const std::uint8_t kind = r.u8();
        const std::uint64_t key = r.u64();
        const std::uint64_t owner = r.u64();
        if (kind > 1) return bad("row sequence of table '" + table.name + "' has operation kind " + std::to_string(kind));
        t.sequence.push_back({key, owner, kind == 1});
      }
    }
    d.tables.push_back(std::move(t));
  }
  if (!r.ok()) return bad("truncated record");
  if (r.remaining() != 0) return bad(std::to_string(r.remaining()) + " trailing bytes");
  return out;
}

}  // namespace ecsdb::persist
