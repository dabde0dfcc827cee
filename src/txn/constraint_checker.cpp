#include "txn/constraint_checker.hpp"

#include "base/reserve_more.hpp"
#include "storage/field_codec.hpp"

namespace ecsdb::detail {

void ConstraintChecker::prepare_destroy() {
  if (tables_.has_refs()) base::reserve_more(destroyed_, 1);
}

void ConstraintChecker::note_destroyed(Entity e) {
  if (tables_.has_refs()) destroyed_.push_back(e);
}

void ConstraintChecker::note_references(std::uint16_t table, std::uint64_t key) {
  if (!tables_.info(table).refs.empty()) touched_refs_.emplace_back(table, key);
}

void ConstraintChecker::clear() noexcept {
  touched_refs_.clear();
  destroyed_.clear();
  base::release_if_over(touched_refs_, base::kKeptScratchBytes);
  base::release_if_over(destroyed_, base::kKeptScratchBytes);
}

Status ConstraintChecker::apply_on_delete() {
  if (destroyed_.empty()) return Status::ok();
  const VersionState& v = working_.state();
  RefIndexUpkeep refs = working_.refs();
  // Rows that reference a destroyed entity, found through the reverse-reference index: the cost follows
  // the references, not the table sizes. Destroyed entities are handled in order; a cascade destroys
  // rows, never entities, so the list does not grow while it is walked.
  std::vector<Entity> gone;
  gone.swap(destroyed_);
  std::vector<std::uint64_t> keys;
  for (const Entity target : gone) {
    for (std::size_t column = 0; column < tables_.ref_columns().size(); ++column) {
      const auto c = static_cast<std::uint16_t>(column);
      const RefColumn& col = tables_.ref_columns()[c];
      if (col.owner) continue;  // owned rows went with their owner (destroy)
      keys.clear();
      refs.referrers(c, target, keys);
      const TableInfo& info = tables_.info(col.table);
      for (std::uint64_t key : keys) {
        if (v.find_row_index(col.table, key) == kNoRow) continue;  // cascaded away already
        switch (col.field->on_delete) {
          case OnDelete::kRestrict:
            return constraint_violation("cannot destroy " + entity_name(target) + ": table '" + info.table->name +
                                        "', " + tables_.describe_key(col.table, key) + ", field '" + col.field->name +
                                        "' references it (on_delete = \"restrict\")");
          case OnDelete::kSetNull: {
            const std::uint64_t zero = 0;
            working_.write_bytes(col.table, key, col.offset, sizeof zero, &zero);
            note_references(col.table, key);
            break;
          }
          case OnDelete::kCascade: working_.remove_row(col.table, key); break;
        }
      }
    }
  }
  return Status::ok();
}

Status ConstraintChecker::check() const {
  const VersionState& v = working_.state();
  for (const auto& [table, key] : touched_refs_) {
    const std::byte* row = v.find_row(table, key);
    if (row == nullptr) continue;  // removed later in the transaction
    for (const auto& ref : tables_.info(table).refs) {
      const std::uint64_t target = load_ref(row, ref.offset);
      if (target == 0 || v.registry.is_alive(Entity::from_bits(target))) continue;
      return constraint_violation("table '" + tables_.info(table).table->name + "', " + tables_.describe_key(table, key) +
                                  ", field '" + ref.field->name + "': references " +
                                  entity_name(Entity::from_bits(target)) +
                                  ", which is not alive (foreign key entities.id)");
    }
  }
  if (const UniqueIndex::Suspect* s = working_.unique_index().first_duplicate(); s != nullptr) {
    const Field& f = *tables_.info(s->table).uniques[s->unique].field;
    return constraint_violation("table '" + tables_.info(s->table).table->name + "', field '" + f.name +
                                "': value " + storage::decode_value(f.type, reinterpret_cast<const std::byte*>(s->value.data())).to_string() +
                                " is not unique (constraint = \"unique\")");
  }
  return Status::ok();
}

}  // namespace ecsdb::detail
