// ecsdb/writer_handle.hpp — WriterHandle: the exclusive writer, used directly by the thread that owns it.
//
//   ecsdb::WriterHandle& w = db->writer();                 // the simulation thread owns the writer
//   ecsdb::Entity e = w.create().value();
//   w.add(e, Health{100, 100}).ignore();                   // an implicit single-operation transaction
//   w.publish();                                           // once per tick: readers see the whole tick
//
// Every method outside an explicit Transaction (begin()) is an implicit single-operation transaction.
// Commits are visible to the writer at once and to readers at the next publish (see options.hpp,
// publish_every_commits); they return without waiting for the disk (Transaction::commit(Durability) waits).
// Threads: one thread at a time (the owner, typically the simulation thread); not while the background
// writer thread runs (Database::start_writer_thread). No locks: the owner writes with no hand-off.
// Ownership: the Database owns its one WriterHandle (Database::writer()); it lives as long as the database.
// A pointer get() returns points into the writer's working version: valid until the next write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ecsdb/bind.hpp"
#include "ecsdb/detail/table_binding.hpp"
#include "ecsdb/entity.hpp"
#include "ecsdb/status.hpp"
#include "ecsdb/value.hpp"

namespace ecsdb {

class Database;
class Transaction;

namespace detail {
class WriterCore;
// A single-operation implicit transaction (WriterHandle::add/update/set/remove): applied without an undo
// log when nothing can make it fail at commit, otherwise run as begin/op/commit. WriterHandle::destroy
// does the same where the schema has no reference column (nothing to cascade or unlink).
enum class ImplicitOp : std::uint8_t { kAdd, kSet, kRemove };
Status implicit_write(WriterCore* core, ImplicitOp op, std::uint16_t table, std::uint64_t key, std::uint32_t offset,
                      std::uint32_t size, const void* bytes);
}  // namespace detail

// The exclusive writer (see the top of this file).
class WriterHandle {
 public:
  Transaction begin();
  // Makes every commit so far visible to readers (no-op when nothing changed).
  void publish();
  // Runs the transactions queued by Database::submit (all of them, in order); returns how many ran.
  std::size_t drain();

  Result<Entity> create();
  Status create_many(std::size_t n, std::vector<Entity>& out);
  Status destroy(Entity e);
  template <BoundComponent T> Status add(Entity e, const T& value);
  template <BoundComponent T> Status update(Entity e, const T& value);
  template <BoundComponent T> Status put(Entity e, const T& value);
  template <BoundComponent T> Status remove(Entity e);
  template <BoundComponent T, typename M> Status set(Entity e, M T::*member, const M& value);
  template <BoundComponent T> Result<RowId> insert_child(Entity owner, const T& value);
  Status set_field(std::string_view table, std::uint64_t key, std::string_view field, const Value& value);
  Status add_row(std::string_view table, Entity e, const Row& values);
  // The component as the writer sees it (committed, maybe not yet published).
  template <BoundComponent T> const T* get(Entity e) const;
  bool alive(Entity e) const;
  template <BoundComponent T, typename F> Status for_each_mut(F&& f);

 private:
  friend class Database;
  WriterHandle(detail::WriterCore* core, Database* db) noexcept : core_(core), db_(db) {}
  // Runs op(Transaction&) in a transaction of its own and commits it.
  template <typename Op>
  Status run(Op&& op);

  detail::WriterCore* core_;
  Database* db_;
};

}  // namespace ecsdb

// After WriterHandle: transaction.hpp ends by including database.hpp, whose Database holds a WriterHandle.
#include "ecsdb/transaction.hpp"

namespace ecsdb {

// ---- Inline implementation ----

template <typename Op>
Status WriterHandle::run(Op&& op) {
  Transaction t = begin();
  ECSDB_RETURN_IF_ERROR(op(t));
  return t.commit();
}

template <BoundComponent T>
Status WriterHandle::add(Entity e, const T& value) {
  const std::uint16_t t = detail::table_of<T>(*db_);
  if (t == detail::kNoTable) return run([&](Transaction& tx) { return tx.add(e, value); });  // reports why
  return detail::implicit_write(core_, detail::ImplicitOp::kAdd, t, e.bits(), 0, sizeof(T), &value);
}
template <BoundComponent T>
Status WriterHandle::update(Entity e, const T& value) {
  const std::uint16_t t = detail::table_of<T>(*db_);
  if (t == detail::kNoTable) return run([&](Transaction& tx) { return tx.update(e, value); });
  return detail::implicit_write(core_, detail::ImplicitOp::kSet, t, e.bits(), 0, sizeof(T), &value);
}
template <BoundComponent T>
Status WriterHandle::remove(Entity e) {
  const std::uint16_t t = detail::table_of<T>(*db_);
  if (t == detail::kNoTable) return run([&](Transaction& tx) { return tx.template remove<T>(e); });
  return detail::implicit_write(core_, detail::ImplicitOp::kRemove, t, e.bits(), 0, 0, nullptr);
}
template <BoundComponent T, typename M>
Status WriterHandle::set(Entity e, M T::*member, const M& value) {
  const std::uint16_t t = detail::table_of<T>(*db_);
  if (t == detail::kNoTable) return run([&](Transaction& tx) { return tx.set(e, member, value); });
  return detail::implicit_write(core_, detail::ImplicitOp::kSet, t, e.bits(), detail::member_offset(member), sizeof(M),
                                &value);
}

template <BoundComponent T>
Result<RowId> WriterHandle::insert_child(Entity owner, const T& value) {
  Transaction t = begin();
  ECSDB_ASSIGN_OR_RETURN(RowId id, t.insert_child(owner, value));
  ECSDB_RETURN_IF_ERROR(t.commit());
  return id;
}
template <BoundComponent T>
const T* WriterHandle::get(Entity e) const {
  const std::uint16_t t = detail::table_of<T>(*db_);
  if (t == detail::kNoTable) return nullptr;
  return reinterpret_cast<const T*>(detail::txn_get(core_, t, e.bits()));
}
template <BoundComponent T>
Status WriterHandle::put(Entity e, const T& value) {
  return run([&](Transaction& t) { return t.put(e, value); });
}
template <BoundComponent T, typename F>
Status WriterHandle::for_each_mut(F&& f) {
  const std::uint16_t t = detail::table_of<T>(*db_);
  if (t == detail::kNoTable) return run([&](Transaction& tx) { return tx.template for_each_mut<T>(f); });  // says why
  return detail::implicit_for_each_mut(core_, t, detail::visitor_context(f), detail::rows_visitor<T, F>());
}
inline Status WriterHandle::set_field(std::string_view table, std::uint64_t key, std::string_view field,
                                      const Value& value) {
  return run([&](Transaction& t) { return t.set_field(table, key, field, value); });
}
inline Status WriterHandle::add_row(std::string_view table, Entity e, const Row& values) {
  return run([&](Transaction& t) { return t.add_row(table, e, values); });
}

}  // namespace ecsdb
