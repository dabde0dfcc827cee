#include "storage/table_ops.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace ecsdb::storage {

using detail::kNoRow;
using detail::SparseSlot;
using detail::TableState;

namespace {

constexpr SparseSlot kEmptySlot{0, kNoRow};

SparseSlot* mutable_slot(TableState& t, std::uint32_t index, WriteContext& ctx) {
  if (index >= t.sparse.capacity()) grow_to(t.sparse, std::uint64_t{index} + 1, ctx, &kEmptySlot);
  return reinterpret_cast<SparseSlot*>(mutable_at(t.sparse, index, ctx));
}

void set_u64(detail::PagedArray& a, std::uint32_t i, std::uint64_t v, WriteContext& ctx) {
  std::memcpy(mutable_at(a, i, ctx), &v, sizeof v);
}

// Every key written at a row goes through here, so that TableState::identity_rows stays a lower bound.
void set_key(TableState& t, std::uint32_t row, std::uint64_t key_bits, WriteContext& ctx) {
  set_u64(t.keys, row, key_bits, ctx);
  if (static_cast<std::uint32_t>(key_bits) != row) {
    t.identity_rows = std::min(t.identity_rows, row);
  } else if (row == t.identity_rows && t.owners.elem_size == 0) {  // owners: a `many` table's row ids
    ++t.identity_rows;
  }
}

// Makes room for one more row at the end; returns its index.
std::uint32_t append_slot(TableState& t, WriteContext& ctx) {
  const std::uint32_t row = t.row_count;
  if (t.stride != 0 && row >= t.rows.capacity()) grow_to(t.rows, std::uint64_t{row} + 1, ctx);
  if (row >= t.keys.capacity()) grow_to(t.keys, std::uint64_t{row} + 1, ctx);
  if (t.owners.elem_size != 0 && row >= t.owners.capacity()) grow_to(t.owners, std::uint64_t{row} + 1, ctx);
  ++t.row_count;
  return row;
}

void move_row(TableState& t, std::uint32_t from, std::uint32_t to, WriteContext& ctx) {
  const std::uint64_t key = row_key(t, from);
  if (t.stride != 0) std::memcpy(mutable_row(t, to, ctx), t.rows.at(from), t.stride);
  set_key(t, to, key, ctx);
  if (t.owners.elem_size != 0) set_u64(t.owners, to, row_owner(t, from), ctx);
  mutable_slot(t, static_cast<std::uint32_t>(key), ctx)->row = to;
}

}  // namespace

void prepare_insert(TableState& t, std::uint64_t key_bits, WriteContext& ctx) {
  const std::uint32_t row = t.row_count;
  if (t.stride != 0) {
    if (row >= t.rows.capacity()) grow_to(t.rows, std::uint64_t{row} + 1, ctx);
    mutable_at(t.rows, row, ctx);
  }
  if (row >= t.keys.capacity()) grow_to(t.keys, std::uint64_t{row} + 1, ctx);
  mutable_at(t.keys, row, ctx);
  if (t.owners.elem_size != 0) {
    if (row >= t.owners.capacity()) grow_to(t.owners, std::uint64_t{row} + 1, ctx);
    mutable_at(t.owners, row, ctx);
  }
  mutable_slot(t, static_cast<std::uint32_t>(key_bits), ctx);
}

void prepare_remove(TableState& t, std::uint64_t key_bits, WriteContext& ctx) {
  const std::uint32_t row = mutable_slot(t, static_cast<std::uint32_t>(key_bits), ctx)->row;
  const std::uint32_t last = t.row_count - 1;
  for (const std::uint32_t r : {row, last}) {
    if (t.stride != 0) mutable_at(t.rows, r, ctx);
    mutable_at(t.keys, r, ctx);
    if (t.owners.elem_size != 0) mutable_at(t.owners, r, ctx);
  }
  mutable_slot(t, static_cast<std::uint32_t>(row_key(t, last)), ctx);
}

void init_table(TableState& t, std::uint32_t stride, bool has_owner_column, std::uint32_t page_bytes) {
  t = TableState{};
  t.stride = stride;
  init_array(t.rows, stride, page_bytes);
  init_array(t.keys, sizeof(std::uint64_t), page_bytes);
  init_array(t.owners, has_owner_column ? sizeof(std::uint64_t) : 0, page_bytes);
  init_array(t.sparse, sizeof(SparseSlot), page_bytes);
}

void destroy_table(TableState& t, PagePool& pool) noexcept {
  destroy_array(t.rows, pool);
  destroy_array(t.keys, pool);
  destroy_array(t.owners, pool);
  destroy_array(t.sparse, pool);
}

std::byte* insert_row(TableState& t, std::uint64_t key_bits, std::uint64_t owner_bits, WriteContext& ctx) {
  const std::uint32_t row = append_slot(t, ctx);
  set_key(t, row, key_bits, ctx);
  if (t.owners.elem_size != 0) set_u64(t.owners, row, owner_bits, ctx);
  *mutable_slot(t, static_cast<std::uint32_t>(key_bits), ctx) =
      SparseSlot{static_cast<std::uint32_t>(key_bits >> 32), row};
  if (t.stride == 0) return nullptr;
  std::byte* bytes = mutable_row(t, row, ctx);
  std::memset(bytes, 0, t.stride);
  return bytes;
}

std::byte* insert_row_at(TableState& t, std::uint32_t row, std::uint64_t key_bits, std::uint64_t owner_bits,
                         WriteContext& ctx) {
  assert(row <= t.row_count);
  if (row == t.row_count) return insert_row(t, key_bits, owner_bits, ctx);
  const std::uint32_t end = append_slot(t, ctx);
  move_row(t, row, end, ctx);
  set_key(t, row, key_bits, ctx);
  if (t.owners.elem_size != 0) set_u64(t.owners, row, owner_bits, ctx);
  *mutable_slot(t, static_cast<std::uint32_t>(key_bits), ctx) =
      SparseSlot{static_cast<std::uint32_t>(key_bits >> 32), row};
  return t.stride == 0 ? nullptr : mutable_row(t, row, ctx);
}

std::uint32_t remove_row(TableState& t, std::uint64_t key_bits, WriteContext& ctx) {
  const auto index = static_cast<std::uint32_t>(key_bits);
  SparseSlot* slot = mutable_slot(t, index, ctx);
  const std::uint32_t row = slot->row;
  assert(row != kNoRow && row < t.row_count);
  slot->row = kNoRow;
  const std::uint32_t last = t.row_count - 1;
  if (row != last) move_row(t, last, row, ctx);
  --t.row_count;
  t.identity_rows = std::min(t.identity_rows, t.row_count);
  return row;
}

void set_key_generation(TableState& t, std::uint32_t index, std::uint32_t generation, WriteContext& ctx) {
  mutable_slot(t, index, ctx)->generation = generation;
}

std::uint32_t key_generation(const TableState& t, std::uint32_t index) {
  if (index >= t.sparse.capacity()) return 0;
  return reinterpret_cast<const SparseSlot*>(t.sparse.at(index))->generation;
}

}  // namespace ecsdb::storage
