// ecsdb/transaction.hpp — Transaction: a group of writes that commits all-or-nothing.
//
//   ecsdb::Transaction t = db->writer().begin();          // the owner thread
//   ecsdb::Entity e = t.create().value();
//   t.add(e, Health{100, 100}).ignore();
//   ecsdb::Status s = t.commit();                          // checks constraints; on failure changes nothing
//
// Reads its own writes (get()). Constraints (foreign keys, unique, on_delete) are checked at commit(); a
// failing commit changes nothing and names the row, field and constraint. Rolled back by rollback(), by
// destruction without commit, by commit() failing, and by an exception thrown through it.
// Threads: owner thread only (the thread that holds WriterHandle, or the writer thread running a queued
// TransactionBody). At most one transaction is open at a time.
// Ownership: a Transaction borrows the database's writer; it is move-only and must not outlive the
// Database. A pointer get() returns points into the writer's working version: valid until the next write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ecsdb/bind.hpp"
#include "ecsdb/detail/table_binding.hpp"
#include "ecsdb/detail/version_state.hpp"
#include "ecsdb/entity.hpp"
#include "ecsdb/options.hpp"
#include "ecsdb/status.hpp"
#include "ecsdb/value.hpp"

namespace ecsdb {

class Database;
class ReadSet;
class WriterHandle;

namespace detail {
class WriterCore;
}  // namespace detail

// A group of writes, committed all-or-nothing (see the top of this file).
class Transaction {
 public:
  Transaction(Transaction&& other) noexcept : core_(std::exchange(other.core_, nullptr)), db_(other.db_) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction() { if (core_ != nullptr) rollback(); }

  bool active() const noexcept { return core_ != nullptr; }
  // Commits: atomic, visible to the writer at once and to readers at the next publish. Returns without
  // waiting for the disk, in every durability mode: the owner thread (a game loop) never stalls on an
  // fdatasync. The commit is durable once Database::durable_version() reaches the version it is
  // published in, or after Database::flush().
  Status commit();
  // Commits, then with Durability::kSync also waits until this commit's log record is on disk (group
  // commit: one fdatasync serves every waiter). kAsync/kMemory: the same as commit(). A database
  // without data_dir has nothing to wait for.
  Status commit(Durability wait_for);
  void rollback() noexcept;

  Result<Entity> create();
  Status create_many(std::size_t n, std::vector<Entity>& out);
  Status destroy(Entity e);

  template <BoundComponent T> Status add(Entity e, const T& value);
  // Bulk add: values[i] to entities[i] (distinct, live, without T). Rows are copied page by page with one
  // undo record, at close to a raw copy's speed for plain components.
  template <BoundComponent T> Status add_many(std::span<const Entity> entities, std::span<const T> values);
  template <BoundComponent T> Status update(Entity e, const T& value);
  // Adds or replaces.
  template <BoundComponent T> Status put(Entity e, const T& value);
  template <BoundComponent T> Status remove(Entity e);
  // The component as this transaction sees it (own writes included); valid until the next write.
  template <BoundComponent T> const T* get(Entity e) const;
  // Sets one field (member pointer), recording only that field as changed.
  template <BoundComponent T, typename M> Status set(Entity e, M T::*member, const M& value);
  // Adds a row to a `many` table owned by `owner`.
  template <BoundComponent T> Result<RowId> insert_child(Entity owner, const T& value);
  template <BoundComponent T> Status update_child(RowId row, const T& value);
  Status remove_child(std::string_view table, RowId row);

  // Dynamic forms (values checked against the schema type; fields not given take their default).
  // add_row on a `many` table inserts a row owned by `e` (insert_row also returns its RowId).
  Status add_row(std::string_view table, Entity e, const Row& values);
  Result<RowId> insert_row(std::string_view table, Entity owner, const Row& values);
  // Adds or replaces the whole row of `e` (a `one` table).
  Status put_row(std::string_view table, Entity e, const Row& values);
  // The row as this transaction sees it (own writes included): its stored fields, in declaration order.
  // kNotFound when the row does not exist.
  Result<Row> read_row(std::string_view table, std::uint64_t key) const;
  Status set_field(std::string_view table, std::uint64_t key, std::string_view field, const Value& value);
  Status remove_row(std::string_view table, std::uint64_t key);
  bool alive(Entity e) const;
  // kConflict when a row recorded in `reads` differs from what this transaction sees now.
  Status check_unchanged(const ReadSet& reads) const;

  // Mutable iteration over every row of T (copy-on-write once per touched page): f(Entity, T&).
  template <BoundComponent T, typename F> Status for_each_mut(F&& f);

 private:
  friend class WriterHandle;
  friend class detail::WriterCore;
  Transaction(detail::WriterCore* core, Database* db) noexcept : core_(core), db_(db) {}
  template <typename T> Result<std::uint16_t> table_of() const;
  template <typename T> Result<std::uint16_t> child_table_of() const;

  detail::WriterCore* core_;
  Database* db_;
};

// ---- Inline implementation: thin typed wrappers over WriterCore's byte-level operations. table_of<T>()
// and child_table_of<T>() are defined at the end of database.hpp: they need Database complete. ----

namespace detail {
// Byte-level operations implemented in src/txn (WriterCore).
Status txn_add(WriterCore* c, std::uint16_t table, Entity e, const void* bytes);
Status txn_update(WriterCore* c, std::uint16_t table, std::uint64_t key, const void* bytes);
Status txn_put(WriterCore* c, std::uint16_t table, Entity e, const void* bytes);
Status txn_add_many(WriterCore* c, std::uint16_t table, const Entity* entities, std::size_t n, const void* rows);
Status txn_remove(WriterCore* c, std::uint16_t table, std::uint64_t key);
Status txn_set_bytes(WriterCore* c, std::uint16_t table, std::uint64_t key, std::uint32_t offset,
                     std::uint32_t size, const void* bytes);
Result<RowId> txn_insert_child(WriterCore* c, std::uint16_t table, Entity owner, const void* bytes);
const std::byte* txn_get(const WriterCore* c, std::uint16_t table, std::uint64_t key);
// Visits rows [0, n) that start at `rows`, `stride` bytes apart, whose keys are keys[0, n).
using RowsVisitor = void (*)(void* ctx, ChunkKeys keys, std::byte* rows, std::uint32_t n, std::uint32_t stride);
// Calls visit(ctx, ...) for every row, a chunk of rows at a time (inside one page of rows, of keys and of
// registry slots), rows made writable page by page: one call per chunk, so that the caller's loop over the
// rows inlines its function, and reads no key it does not use.
Status txn_for_each_mut(WriterCore* c, std::uint16_t table, void* ctx, RowsVisitor visit);
// The same pass as a transaction of its own (WriterHandle::for_each_mut).
Status implicit_for_each_mut(WriterCore* c, std::uint16_t table, void* ctx, RowsVisitor visit);
// The RowsVisitor that calls f(Entity, T&) on each row: f is inlined into the loop over a chunk. `ctx` is
// visitor_context(f): a const f is passed without its const, and the visitor puts it back.
template <typename T, typename F>
RowsVisitor rows_visitor() noexcept {
  return [](void* ctx, ChunkKeys keys, std::byte* rows, std::uint32_t n, std::uint32_t stride) {
    auto& fn = *static_cast<std::remove_reference_t<F>*>(ctx);
    for (std::uint32_t i = 0; i < n; ++i, rows += stride) fn(Entity::from_bits(keys[i]), *reinterpret_cast<T*>(rows));
  };
}
template <typename F>
void* visitor_context(F& f) noexcept {
  return const_cast<void*>(static_cast<const void*>(std::addressof(f)));
}

// Offset of `member` inside T, which equals its offset in the row (checked at bind).
template <typename T, typename M>
std::uint32_t member_offset(M T::*member) noexcept {
  alignas(T) unsigned char storage[sizeof(T)];
  const T* probe = reinterpret_cast<const T*>(storage);
  return static_cast<std::uint32_t>(reinterpret_cast<const unsigned char*>(&(probe->*member)) - storage);
}
}  // namespace detail

template <BoundComponent T>
Status Transaction::add(Entity e, const T& value) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  return detail::txn_add(core_, t, e, &value);
}
template <BoundComponent T>
Status Transaction::add_many(std::span<const Entity> entities, std::span<const T> values) {
  if (entities.size() != values.size()) return invalid_argument("add_many: entities and values differ in length");
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  return detail::txn_add_many(core_, t, entities.data(), entities.size(), values.data());
}
template <BoundComponent T>
Status Transaction::update(Entity e, const T& value) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  return detail::txn_update(core_, t, e.bits(), &value);
}
template <BoundComponent T>
Status Transaction::put(Entity e, const T& value) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  return detail::txn_put(core_, t, e, &value);
}
template <BoundComponent T>
Status Transaction::remove(Entity e) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  return detail::txn_remove(core_, t, e.bits());
}
template <BoundComponent T>
const T* Transaction::get(Entity e) const {
  const std::uint16_t t = detail::table_of<T>(*db_);
  if (t == detail::kNoTable) return nullptr;
  return reinterpret_cast<const T*>(detail::txn_get(core_, t, e.bits()));
}
template <BoundComponent T, typename M>
Status Transaction::set(Entity e, M T::*member, const M& value) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  return detail::txn_set_bytes(core_, t, e.bits(), detail::member_offset(member), sizeof(M), &value);
}
template <BoundComponent T>
Result<RowId> Transaction::insert_child(Entity owner, const T& value) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, child_table_of<T>());
  return detail::txn_insert_child(core_, t, owner, &value);
}
template <BoundComponent T>
Status Transaction::update_child(RowId row, const T& value) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, child_table_of<T>());
  return detail::txn_update(core_, t, row.bits(), &value);
}
template <BoundComponent T, typename F>
Status Transaction::for_each_mut(F&& f) {
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, table_of<T>());
  return detail::txn_for_each_mut(core_, t, detail::visitor_context(f), detail::rows_visitor<T, F>());
}

}  // namespace ecsdb

// Defines the members above that need Database complete. Last, so that a file including only this header
// still gets a complete API.
#include "ecsdb/database.hpp"
