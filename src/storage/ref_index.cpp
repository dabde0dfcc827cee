#include "storage/ref_index.hpp"

#include <cstring>

namespace ecsdb::storage {

using detail::RefIndexState;
using detail::RefLink;

namespace {

std::uint32_t index_of(std::uint64_t key) { return static_cast<std::uint32_t>(key); }

void ensure(detail::PagedArray& a, std::uint32_t i, WriteContext& ctx) {
  if (i >= a.capacity()) grow_to(a, std::uint64_t{i} + 1, ctx);
  make_private_at(a, i, ctx);
}

// Only after prepare_*: the element's page is private and present, so mutable_at returns it directly.
RefLink* link_of(RefIndexState& r, std::uint64_t key, WriteContext& ctx) noexcept {
  return reinterpret_cast<RefLink*>(mutable_at(r.links, index_of(key), ctx));
}
std::uint64_t* head_of(RefIndexState& r, std::uint64_t target, WriteContext& ctx) noexcept {
  return reinterpret_cast<std::uint64_t*>(mutable_at(r.heads, index_of(target), ctx));
}

}  // namespace

void init_ref_index(RefIndexState& r, std::uint32_t page_bytes) {
  init_array(r.heads, sizeof(std::uint64_t), page_bytes);
  init_array(r.links, sizeof(RefLink), page_bytes);
}

void destroy_ref_index(RefIndexState& r, PagePool& pool) noexcept {
  destroy_array(r.heads, pool);
  destroy_array(r.links, pool);
}

void prepare_link(RefIndexState& r, std::uint64_t target, std::uint64_t key, WriteContext& ctx) {
  ensure(r.heads, index_of(target), ctx);
  ensure(r.links, index_of(key), ctx);
  const std::uint64_t head = *reinterpret_cast<const std::uint64_t*>(r.heads.at(index_of(target)));
  if (head != 0) ensure(r.links, index_of(head), ctx);
}

void link(RefIndexState& r, std::uint64_t target, std::uint64_t key, WriteContext& ctx) noexcept {
  std::uint64_t* head = head_of(r, target, ctx);
  *link_of(r, key, ctx) = RefLink{0, *head};
  if (*head != 0) link_of(r, *head, ctx)->prev = key;
  *head = key;
}

void prepare_unlink(RefIndexState& r, std::uint64_t target, std::uint64_t key, WriteContext& ctx) {
  ensure(r.links, index_of(key), ctx);
  const RefLink at = *reinterpret_cast<const RefLink*>(r.links.at(index_of(key)));
  if (at.prev != 0) ensure(r.links, index_of(at.prev), ctx);
  else ensure(r.heads, index_of(target), ctx);
  if (at.next != 0) ensure(r.links, index_of(at.next), ctx);
}

RefLink unlink(RefIndexState& r, std::uint64_t target, std::uint64_t key, WriteContext& ctx) noexcept {
  RefLink* mine = link_of(r, key, ctx);
  const RefLink at = *mine;
  if (at.prev != 0) link_of(r, at.prev, ctx)->next = at.next;
  else *head_of(r, target, ctx) = at.next;
  if (at.next != 0) link_of(r, at.next, ctx)->prev = at.prev;
  *mine = RefLink{0, 0};
  return at;
}

void relink(RefIndexState& r, std::uint64_t target, std::uint64_t key, RefLink at, WriteContext& ctx) noexcept {
  *link_of(r, key, ctx) = at;
  if (at.prev != 0) link_of(r, at.prev, ctx)->next = key;
  else *head_of(r, target, ctx) = key;
  if (at.next != 0) link_of(r, at.next, ctx)->prev = key;
}

}  // namespace ecsdb::storage
