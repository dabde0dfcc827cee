// ecsdb/commit_ticket.hpp — CommitTicket: the outcome of a transaction submitted from any thread, and
// TransactionBody, what is submitted.
//
//   ecsdb::CommitTicket ticket = db->submit([e](ecsdb::Transaction& t) { return t.add(e, Health{1, 1}); });
//   ecsdb::Status s = ticket.wait();                        // or poll ticket.ready()
//
// A ticket is returned at once by Database::submit and resolved by the writer when the transaction
// commits (ok, with the version that contains it) or fails (the reason). What "resolved ok" means follows
// the database's durability mode: kSync — the commit is published AND its log record is on disk (survives a
// crash); kAsync — published (visible), on disk within async_flush_ms; kMemory — published.
// Threads: any thread may hold, copy, poll and wait on a ticket.
// Ownership: copyable; every copy shares the same outcome, which lives as long as the last copy, so a ticket
// may outlive the Database (one still queued when the database closes resolves with kAborted).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "ecsdb/status.hpp"

namespace ecsdb {

class Transaction;

namespace detail {
struct QueuedTransaction;
}  // namespace detail

// The outcome of a submitted transaction (see the top of this file).
class CommitTicket {
 public:
  using State = detail::QueuedTransaction;
  CommitTicket() = default;
  explicit CommitTicket(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}

  bool valid() const noexcept { return state_ != nullptr; }
  bool ready() const noexcept;
  // Blocks until resolved (spins briefly, then sleeps). Returns the transaction's outcome.
  Status wait() const;
  // The published version that made the transaction visible; 0 until resolved or when it failed.
  std::uint64_t version() const noexcept;

 private:
  std::shared_ptr<State> state_;
};

// A transaction body run by the writer: return ok to commit, an error to roll back. It may run on the
// writer thread, so it must not touch PinnedViews of its caller or block.
using TransactionBody = std::function<Status(Transaction&)>;

// Called once when a submitted transaction's ticket resolves, with its outcome and version (0 when it
// failed). It runs on the thread that resolves the ticket (the writer; in kSync mode the thread that wrote
// the log record: the WAL flush thread, or one waiting in flush(), commit(Durability::kSync),
// pin_durable() or a snapshot), so it must be short and must not block or submit: hand the work to your
// own executor (a server posts it to its event loop).
using OnResolved = std::function<void(const Status& outcome, std::uint64_t version)>;

}  // namespace ecsdb
