#include "txn/writer_schema.hpp"

#include "storage/field_codec.hpp"

namespace ecsdb::detail {

namespace {

bool is_integer_type(const Type& t) {
  return (t.kind == TypeKind::kScalar && is_integer(t.scalar));
}

}  // namespace

std::string entity_name(Entity e) {
  return "entity " + std::to_string(e.index()) + "v" + std::to_string(e.generation());
}

WriterSchema::WriterSchema(const Schema& schema) {
  const auto n = static_cast<std::uint32_t>(schema.tables.size());
  infos_.resize(n);
  for (std::uint16_t id = 0; id < n; ++id) {
    const Table& table = schema.tables[id];
    TableInfo& info = infos_[id];
    info.table = &table;
    info.stride = table.layout.stride;
    info.many = table.cardinality == Cardinality::kMany;
    info.owned = !table.parent_table.empty();
    info.default_row.assign(info.stride, std::byte{0});
    for (const Field& f : table.layout.fields) {
      if (!f.stored) continue;
      storage::encode_default(f, info.default_row.data() + f.offset);
      if (f.type.kind == TypeKind::kEntityRef) info.refs.push_back({&f, f.offset});
      if (f.unique) info.uniques.push_back({&f, f.offset, f.type.size});
      if (f.auto_increment && is_integer_type(f.type)) info.auto_increments.push_back(&f);
    }
    if (!info.refs.empty()) has_refs_ = true;
    info.plain = info.refs.empty() && info.uniques.empty() && info.auto_increments.empty() && !info.many &&
                 !table.is_entity_table;
    for (const auto& ref : info.refs) {
      info.ref_columns.push_back(static_cast<std::uint16_t>(ref_columns_.size()));
      ref_columns_.push_back({id, false, ref.offset, ref.field});
    }
    if (info.many && info.owned) {
      info.ref_columns.push_back(static_cast<std::uint16_t>(ref_columns_.size()));
      ref_columns_.push_back({id, true, 0, table.owner_key});
    }
    if (table.is_entity_table) continue;
    if (!info.many) one_tables_.push_back(id);
    else if (info.owned) owned_many_tables_.push_back(id);
  }
}

bool WriterSchema::write_touches_refs(std::uint16_t table, std::uint32_t offset, std::uint32_t size) const noexcept {
  for (std::uint16_t c : infos_[table].ref_columns) {
    const RefColumn& col = ref_columns_[c];
    if (!col.owner && col.offset < offset + size && offset < col.offset + 8) return true;
  }
  return false;
}

std::string WriterSchema::describe_key(std::uint16_t table, std::uint64_t key) const {
  if (infos_[table].many) {
    return "row " + std::to_string(static_cast<std::uint32_t>(key)) + "v" + std::to_string(key >> 32);
  }
  return entity_name(Entity::from_bits(key));
}

}  // namespace ecsdb::detail
