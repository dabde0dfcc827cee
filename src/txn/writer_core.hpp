// WriterCore — the single writer as the rest of the code sees it (Database, WriterHandle, Transaction,
// persist): the writer's transaction API (TransactionWriter, which it is) with the commit pipeline on
// top (CommitPipeline: Database::submit's queue, batches, tickets and the background writer thread).
// It only joins the two: queued bodies run as Transactions on this writer, and queued transactions join
// the publishes that follow the owner's commits. Not thread-safe except where a member says otherwise.
//
// Inside txn, layers run one way (DESIGN.md §3), each only using those below it:
//   WriterCore
//   CommitPipeline                                               queue, batches, tickets, writer thread
//   TransactionWriter                                            begin, operations, commit, publish
//   rollback · ConstraintChecker · build_delta · RecoveryLoader  on the working version
//   WorkingVersion (+ RefIndexUpkeep, UniqueIndex, UndoLog)     rows, indexes, undo records
//   WriterSchema                                                 per-table facts from the schema
#pragma once

#include <cstddef>
#include <memory>

#include "ecsdb/database.hpp"
#include "txn/commit_pipeline.hpp"
#include "txn/transaction_writer.hpp"
#include "txn/write_queue.hpp"

namespace ecsdb::detail {

class WriterCore : public TransactionWriter {
 public:
  WriterCore(std::shared_ptr<const Schema> schema, const DatabaseOptions& options);
  ~WriterCore() override;

  // ---- queue (Database::submit) ----
  void set_database(Database* db) noexcept { db_ = db; }
  CommitTicket submit(TransactionBody body, OnResolved on_resolved = {}) {  // any thread
    return pipeline_.submit(std::move(body), std::move(on_resolved));
  }
  std::size_t drain() { return pipeline_.drain(); }     // writer: runs one batch, publishes, resolves
  Status start_thread() { return pipeline_.start_thread(); }
  void stop_thread() { pipeline_.stop_thread(); }
  WriteQueue& queue_for_testing() noexcept { return pipeline_.queue_for_testing(); }
  void fill_queue_metrics(DatabaseMetrics& m) const;

 protected:
  void after_commit_publish() override { pipeline_.drain_if_queued(); }

 private:
  // One queued body as a transaction of this writer, the way Database::submit promises: ok commits it,
  // an error (or an exception) rolls it back.
  Status run_queued(TransactionBody& body);

  Database* db_ = nullptr;
  CommitPipeline pipeline_;
};

}  // namespace ecsdb::detail
