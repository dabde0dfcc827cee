// Reverse-reference index: for one column that holds entity references (an entity-ref field, or the owner
// column of a `many` table), which rows reference a given entity. Part of each version, copy-on-write like
// the rows, so readers ask "who references X" from a pinned view without locks.
//
// Layout: a doubly linked list per target entity index, threaded through the referencing rows by their
// keys (entity bits for `one` tables, RowId bits for `many`; a key is never 0).
//   heads: u64 per target entity INDEX, the key of the first referencing row (0 = none). A list holds the
//          rows whose reference has that index, of any generation: readers compare the stored value.
//   links: RefLink per referencing key INDEX: the previous and next key in its list (0 = none).
// Writer only (WriteContext), like every mutation of a version. Each prepare_* makes every page the
// following operation writes private and big enough, so that link/unlink/relink allocate nothing and
// cannot throw (the writer's exception safety, see WriterCore).
#pragma once

#include <cstdint>

#include "ecsdb/detail/version_state.hpp"
#include "storage/cow.hpp"

namespace ecsdb::storage {

void init_ref_index(detail::RefIndexState& r, std::uint32_t page_bytes = detail::kTargetPageBytes);
void destroy_ref_index(detail::RefIndexState& r, PagePool& pool) noexcept;

void prepare_link(detail::RefIndexState& r, std::uint64_t target, std::uint64_t key, WriteContext& ctx);
// Puts `key` at the head of the list of `target` (REQUIRES: prepare_link, key not linked, target != 0).
void link(detail::RefIndexState& r, std::uint64_t target, std::uint64_t key, WriteContext& ctx) noexcept;

void prepare_unlink(detail::RefIndexState& r, std::uint64_t target, std::uint64_t key, WriteContext& ctx);
// Takes `key` out of the list of `target`; returns where it was (for relink). REQUIRES: prepare_unlink.
detail::RefLink unlink(detail::RefIndexState& r, std::uint64_t target, std::uint64_t key, WriteContext& ctx) noexcept;
// Puts `key` back exactly where unlink() took it from (rollback). Writes only pages that unlink made
// private in the same version, so it allocates nothing.
void relink(detail::RefIndexState& r, std::uint64_t target, std::uint64_t key, detail::RefLink at,
            WriteContext& ctx) noexcept;

}  // namespace ecsdb::storage
