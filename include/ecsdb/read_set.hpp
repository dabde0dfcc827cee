// ecsdb/read_set.hpp — ReadSet: the rows a client read from a pinned view, for optimistic transactions.
//
//   ecsdb::ReadSet reads;
//   const Health* h = reads.read<Health>(view, e);           // reads through the view and records it
//   db->submit([=](ecsdb::Transaction& t) { ... }, std::move(reads));
//
// Submitted with a transaction (Database::submit(body, reads)), it is validated by the writer just before
// the body runs: if any recorded row changed (or appeared/disappeared) since it was read, the transaction
// fails with StatusCode::kConflict and changes nothing — serializable for the rows read. Validation compares
// the row bytes read with the current ones (no per-row version counters, so no memory cost per row).
// Ownership: a ReadSet owns copies of the bytes it recorded, so it does not keep the view pinned and may
// outlive it; the pointer read() returns is the view's, valid only while that view is pinned.
// Threads: a plain value; one thread at a time fills it, then it is moved into submit().
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ecsdb/bind.hpp"
#include "ecsdb/detail/table_binding.hpp"
#include "ecsdb/entity.hpp"

namespace ecsdb {

class PinnedView;

// Rows read from a pinned view, validated before an optimistic transaction runs (see the top of this file).
class ReadSet {
 public:
  // Reads T of `e` through `view` and records it (its bytes, or its absence).
  template <BoundComponent T>
  const T* read(const PinnedView& view, Entity e);
  void record(std::uint16_t table, std::uint64_t key, const std::byte* row_or_null, std::uint32_t size);
  bool empty() const noexcept { return entries_.empty(); }

 private:
  friend class Transaction;
  struct Entry {
    std::uint16_t table;
    std::uint64_t key;
    bool present;
    std::uint32_t offset;
    std::uint32_t size;
  };
  std::vector<Entry> entries_;
  std::vector<std::byte> bytes_;
};

}  // namespace ecsdb

// After ReadSet: pinned_view.hpp ends by including database.hpp, whose Database names ReadSet.
#include "ecsdb/pinned_view.hpp"

namespace ecsdb {

template <BoundComponent T>
const T* ReadSet::read(const PinnedView& view, Entity e) {
  const T* row = view.get<T>(e);
  record(detail::table_of<T>(view.database()), e.bits(), reinterpret_cast<const std::byte*>(row), sizeof(T));
  return row;
}

}  // namespace ecsdb
