// Mutation of the entity registry in the version being built. Writer thread only.
//
// Entity index i is alive with generation g when slot i holds generation g and its alive flag is set.
// Destroying bumps g (skipping 0, so Entity::null() is never alive) and pushes i on the free list; creation
// reuses the most recently freed index first, so hot slots stay in cache.
#pragma once

#include <cstdint>
#include <vector>

#include "ecsdb/detail/version_state.hpp"
#include "ecsdb/entity.hpp"
#include "storage/cow.hpp"

namespace ecsdb::entity {

void init_registry(detail::RegistryState& r, std::uint32_t page_bytes = detail::kTargetPageBytes);
void destroy_registry(detail::RegistryState& r, storage::PagePool& pool) noexcept;

// REQUIRES: the registry has fewer than 2^32 - 1 indices in use (checked by the caller).
Entity create_entity(detail::RegistryState& r, std::vector<std::uint32_t>& free_list, storage::WriteContext& ctx);

// Marks `e` dead and frees its index. REQUIRES: alive, no row in any cardinality-one table (the bumped
// generation would otherwise make its identity-run rows look like another entity's).
void destroy_entity(detail::RegistryState& r, Entity e, std::vector<std::uint32_t>& free_list,
                    storage::WriteContext& ctx);

// Make the registry slot that create_entity would use (or slot `index`) private and present, so that the
// create_entity / destroy_entity that follows allocates nothing (exception safety).
void prepare_create(detail::RegistryState& r, const std::vector<std::uint32_t>& free_list, storage::WriteContext& ctx);
inline void prepare_slot(detail::RegistryState& r, std::uint32_t index, storage::WriteContext& ctx) {
  storage::make_private_at(r.slots, index, ctx);
}

// Exact inverse of create_entity (rollback): `fresh` when create_entity grew the registry (index == used-1)
// rather than taking the index from the free list.
void uncreate_entity(detail::RegistryState& r, Entity e, bool fresh, std::vector<std::uint32_t>& free_list,
                     storage::WriteContext& ctx);

// Exact inverse of destroy_entity (rollback): REQUIRES e.index() is the last entry of free_list.
void undestroy_entity(detail::RegistryState& r, Entity e, std::vector<std::uint32_t>& free_list,
                      storage::WriteContext& ctx);

}  // namespace ecsdb::entity

namespace ecsdb::entity {
// Recovery: sets slot `index` to {generation, alive}, growing the registry (new slots in between are dead
// with generation 1). The free list is rebuilt afterwards by the caller.
void restore_slot(detail::RegistryState& r, std::uint32_t index, std::uint32_t generation, bool alive,
                  storage::WriteContext& ctx);
}  // namespace ecsdb::entity
