// CommitPipeline — how transactions submitted from any thread reach the single writer (DESIGN.md §2.1):
// the lock-free queue (WriteQueue), batches (run in submission order, published once per batch), tickets
// (resolved when the batch is published or, under a commit log, once it is durable) and the optional
// background writer thread. It drives the TransactionWriter as any caller would: each body runs as one
// transaction, through the `run` function it is given (WriterCore hands the body a Transaction).
//
// Threads: submit() from any thread; everything else on the thread that owns the writer (the owner's,
// or the background writer thread while it runs). fill_metrics() from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "base/latency_histogram.hpp"
#include "ecsdb/commit_ticket.hpp"
#include "ecsdb/options.hpp"
#include "txn/transaction_writer.hpp"
#include "txn/write_queue.hpp"

namespace ecsdb::detail {

class CommitPipeline {
 public:
  // Runs one queued body as a transaction on the writer (begin, body, commit or rollback); returns the
  // outcome its ticket gets (ok: committed).
  using RunTransaction = std::function<Status(TransactionBody&)>;

  CommitPipeline(TransactionWriter& writer, const DatabaseOptions& options, RunTransaction run);
  CommitPipeline(const CommitPipeline&) = delete;
  CommitPipeline& operator=(const CommitPipeline&) = delete;
  ~CommitPipeline();  // stops the thread; transactions still queued fail with kAborted

  CommitTicket submit(TransactionBody body, OnResolved on_resolved = {});  // any thread
  std::size_t drain();                                  // writer: runs one batch, publishes, resolves
  // After a publish that follows a commit: queued transactions join it when no writer thread runs.
  void drain_if_queued();
  Status start_thread();
  void stop_thread();
  // Resolves every transaction still queued with kAborted (they will never run).
  void abort_queued();
  WriteQueue& queue_for_testing() noexcept { return queue_; }
  // The queue's figures (submitted, depth, submit-to-visible latency, batch sizes). Any thread.
  void fill_metrics(DatabaseMetrics& m) const;

 private:
  // Publishes the batch in batch_ok_ (`ran` transactions ran in it) and resolves its tickets.
  std::size_t finish_batch(std::size_t ran);
  // Writer: hands the resolved batch_ok_ to the producers' side (released_) instead of freeing it here.
  void release_batch() noexcept;
  // Any thread: drops the queue's references to the nodes in released_, freeing those no ticket holds.
  void free_released() noexcept;

  TransactionWriter& writer_;
  DatabaseOptions options_;
  RunTransaction run_;
  WriteQueue queue_;
  // Two cache lines: what every submit() touches (submitted_, released_, sleeping_, wake_; the writer
  // writes released_ once per batch and sleeping_ when it goes idle), and what the writer writes on every
  // transaction (dequeued_) or alone reads (stop_). Apart, neither side's per-transaction store moves the
  // other's line.
  alignas(64) std::atomic<std::uint64_t> submitted_{0};
  // Resolved nodes the writer handed back, linked by next_released; each still holds its `self`.
  //
  // Why: a node is allocated by the producer that submits it, and its last reference usually goes on
  // the writer (the producer has moved on to its next ticket). With glibc's malloc, a free on another
  // thread than the allocating one overflows the freeing thread's small per-thread cache (7 blocks, and
  // the writer never allocates nodes) and then takes the allocating thread's arena lock, against that
  // producer's own allocations: at one producer and 1M entities that contention was about a third of the
  // queue's cost (BM_Queue_Update_Field 404 ns per transaction; 263-286 ns under jemalloc, which frees
  // across threads without that lock). Freed on the producer side, a node goes back to the arena it came
  // from when one thread submits; with several, the next submit frees every producer's handed-back nodes
  // (a batch of them, at most batch_max_transactions) — still off the writer. Up to a batch of nodes
  // stays allocated until the next submit() or the database's close.
  std::atomic<QueuedTransaction*> released_{nullptr};
  std::atomic<bool> sleeping_{false};
  std::atomic<std::uint32_t> wake_{0};
  alignas(64) std::atomic<std::uint64_t> dequeued_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::shared_ptr<QueuedTransaction>> batch_ok_;
  base::LatencyHistogram submit_to_visible_ns_;
  base::LatencyHistogram batch_sizes_;
};

}  // namespace ecsdb::detail
