#include "entity/registry_ops.hpp"

#include <cassert>

namespace ecsdb::entity {

using detail::EntitySlot;
using detail::RegistryState;

namespace {
EntitySlot* mutable_slot(RegistryState& r, std::uint32_t index, storage::WriteContext& ctx) {
  return reinterpret_cast<EntitySlot*>(storage::mutable_at(r.slots, index, ctx));
}
std::uint32_t next_generation(std::uint32_t g) { return g + 1 == 0 ? 1 : g + 1; }
}  // namespace

void init_registry(RegistryState& r, std::uint32_t page_bytes) {
  r = RegistryState{};
  storage::init_array(r.slots, sizeof(EntitySlot), page_bytes);
}

void destroy_registry(RegistryState& r, storage::PagePool& pool) noexcept { storage::destroy_array(r.slots, pool); }

Entity create_entity(RegistryState& r, std::vector<std::uint32_t>& free_list, storage::WriteContext& ctx) {
  std::uint32_t index;
  if (!free_list.empty()) {
    index = free_list.back();
    free_list.pop_back();
  } else {
    index = r.used;
    if (index >= r.slots.capacity()) storage::grow_to(r.slots, std::uint64_t{index} + 1, ctx);
    ++r.used;
    mutable_slot(r, index, ctx)->generation = 1;
  }
  EntitySlot* s = mutable_slot(r, index, ctx);
  s->set_alive(true);
  ++r.alive;
  return Entity(index, s->generation);
}

void prepare_create(RegistryState& r, const std::vector<std::uint32_t>& free_list, storage::WriteContext& ctx) {
  const std::uint32_t index = free_list.empty() ? r.used : free_list.back();
  if (index >= r.slots.capacity()) storage::grow_to(r.slots, std::uint64_t{index} + 1, ctx);
  storage::make_private_at(r.slots, index, ctx);
}

void destroy_entity(RegistryState& r, Entity e, std::vector<std::uint32_t>& free_list,
                    storage::WriteContext& ctx) {
  assert(r.is_alive(e));
  EntitySlot* s = mutable_slot(r, e.index(), ctx);
  s->set_alive(false);
  s->generation = next_generation(s->generation);
  --r.alive;
  free_list.push_back(e.index());
}

void uncreate_entity(RegistryState& r, Entity e, bool fresh, std::vector<std::uint32_t>& free_list,
                     storage::WriteContext& ctx) {
  assert(r.is_alive(e));
  mutable_slot(r, e.index(), ctx)->set_alive(false);  // the generation is what it was before create
  --r.alive;
  if (fresh) {
    assert(e.index() + 1 == r.used);
    --r.used;
  } else {
    free_list.push_back(e.index());
  }
}

void undestroy_entity(RegistryState& r, Entity e, std::vector<std::uint32_t>& free_list,
                      storage::WriteContext& ctx) {
  assert(!free_list.empty() && free_list.back() == e.index());
  free_list.pop_back();
  EntitySlot* s = mutable_slot(r, e.index(), ctx);
  s->set_alive(true);
  s->generation = e.generation();
  ++r.alive;
}

}  // namespace ecsdb::entity

namespace ecsdb::entity {

void restore_slot(RegistryState& r, std::uint32_t index, std::uint32_t generation, bool alive,
                  storage::WriteContext& ctx) {
  if (index >= r.used) {
    if (index >= r.slots.capacity()) storage::grow_to(r.slots, std::uint64_t{index} + 1, ctx);
    for (std::uint32_t i = r.used; i <= index; ++i) mutable_slot(r, i, ctx)->generation = 1;
    r.used = index + 1;
  }
  EntitySlot* s = mutable_slot(r, index, ctx);
  if (s->alive()) --r.alive;
  s->generation = generation == 0 ? 1 : generation;
  s->set_alive(alive);
  if (alive) ++r.alive;
}

}  // namespace ecsdb::entity
