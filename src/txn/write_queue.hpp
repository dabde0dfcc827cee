// WriteQueue — the lock-free multi-producer, single-consumer queue of submitted transactions.
//
// An intrusive linked queue after D. Vyukov's MPSC design (our own implementation):
//  * push (any thread, wait-free): n->next = null; prev = head_.exchange(n); prev->next = n (release).
//    Between the exchange and the link the chain is briefly broken; pop then reports "nothing yet" and the
//    consumer retries, so push never waits for anyone.
//  * pop (the writer only): walks from tail_; a stub node keeps the list non-empty so that the last real
//    node can be handed out.
// Invariants: every node is reachable from tail_ by `next` links once its push completed; head_ is the
// most recently pushed node; only the consumer touches tail_. A node is owned by the queue from push until
// pop returns it. head_ exchange and the empty() loads are seq_cst so that the writer's "going to sleep"
// handshake (commit_pipeline) cannot miss a push.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "ecsdb/database.hpp"

namespace ecsdb::detail {

// A submitted transaction: queue node and ticket state in one allocation. While queued, `self` keeps it
// alive; after resolving, the writer either resets it or hands the node back to the producers
// (CommitPipeline's released list), who reset it on their next submit.
struct QueuedTransaction {
  std::atomic<QueuedTransaction*> next{nullptr};
  // The link of CommitPipeline's released list, written by the writer before the list's release push and
  // read by a producer after its acquire exchange.
  QueuedTransaction* next_released = nullptr;
  TransactionBody body;
  std::chrono::steady_clock::time_point submitted;
  std::shared_ptr<QueuedTransaction> self;
  OnResolved on_resolved;  // optional; called once, after `done` is set
  // Outcome, written by the writer before `done` is released; read by ticket holders after acquiring it.
  Status status;
  std::uint64_t version = 0;
  std::atomic<std::uint32_t> done{0};
  // Ticket holders about to sleep on `done`. The resolver wakes sleepers only when this is non-zero:
  // libstdc++ 12's notify on a 32-bit atomic makes the futex system call whenever its process-wide waiter
  // count for the address's bucket (16 buckets) is non-zero, and with a writer thread and producers
  // waiting on other atomics it was: about a tenth of the writer's time per queued transaction.
  // No wake-up is lost: a waiter raises this before it re-reads `done`, the resolver stores `done` before
  // it reads this (all seq_cst), so one of them sees the other's write.
  std::atomic<std::uint32_t> sleepers{0};
};

class WriteQueue {
 public:
  WriteQueue() noexcept : head_(&stub_), tail_(&stub_) {}
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;
  ~WriteQueue();  // releases nodes still queued

  void push(QueuedTransaction* n) noexcept { link(begin_push(n), n); }
  // The two halves of push(), apart so that tests can leave a push half done, as a producer pre-empted
  // between them does.
  QueuedTransaction* begin_push(QueuedTransaction* n) noexcept {
    n->next.store(nullptr, std::memory_order_relaxed);
    return head_.exchange(n, std::memory_order_seq_cst);
  }
  static void link(QueuedTransaction* prev, QueuedTransaction* n) noexcept {
    prev->next.store(n, std::memory_order_release);
  }

  // Consumer only. nullptr when empty or when a push is half done (check empty() to tell them apart).
  QueuedTransaction* pop() noexcept;

  // Consumer only: true when nothing is queued and no push is in progress.
  bool empty() const noexcept {
    return tail_ == &stub_ && stub_.next.load(std::memory_order_seq_cst) == nullptr &&
           head_.load(std::memory_order_seq_cst) == &stub_;
  }

 private:
  std::atomic<QueuedTransaction*> head_;
  QueuedTransaction* tail_;
  QueuedTransaction stub_;
};

}  // namespace ecsdb::detail
