#include "txn/commit_pipeline.hpp"

#include <chrono>
#include <string>

#include "txn/commit_sink.hpp"

namespace ecsdb::detail {

namespace {
inline void cpu_relax() noexcept { __builtin_ia32_pause(); }
void resolve(QueuedTransaction& q, Status status, std::uint64_t version) { resolve_ticket(q, std::move(status), version); }
}  // namespace

void resolve_ticket(QueuedTransaction& q, Status status, std::uint64_t version) {
  q.status = std::move(status);
  q.version = version;
  q.done.store(1, std::memory_order_seq_cst);
  if (q.sleepers.load(std::memory_order_seq_cst) != 0) q.done.notify_all();
  if (q.on_resolved) {
    // Moved out first: the callback runs once, and whatever it captured is released here, not whenever
    // the last ticket copy goes.
    OnResolved callback = std::move(q.on_resolved);
    callback(q.status, q.version);
  }
}

CommitPipeline::CommitPipeline(TransactionWriter& writer, const DatabaseOptions& options, RunTransaction run)
    : writer_(writer), options_(options), run_(std::move(run)) {}

CommitPipeline::~CommitPipeline() {
  stop_thread();
  abort_queued();
  free_released();
}

void CommitPipeline::release_batch() noexcept {
  if (batch_ok_.empty()) return;
  // Chain the batch, each node keeping its own `self` reference, then push the chain with one CAS.
  QueuedTransaction* first = nullptr;
  QueuedTransaction* last = nullptr;
  for (auto& node : batch_ok_) {
    QueuedTransaction* raw = node.get();
    raw->self = std::move(node);
    raw->next_released = first;
    if (last == nullptr) last = raw;
    first = raw;
  }
  batch_ok_.clear();
  // Release: a producer that takes the chain sees every node's writes (its outcome, its link) before it
  // frees it.
  last->next_released = released_.load(std::memory_order_relaxed);
  while (!released_.compare_exchange_weak(last->next_released, first, std::memory_order_release,
                                          std::memory_order_relaxed)) {
  }
}

void CommitPipeline::free_released() noexcept {
  // Takes the whole list at once (no pop of single nodes, so no ABA): whoever exchanges owns the chain.
  QueuedTransaction* n = released_.exchange(nullptr, std::memory_order_acquire);
  while (n != nullptr) {
    QueuedTransaction* next = n->next_released;
    n->self.reset();  // may free n: its link is read first
    n = next;
  }
}

void CommitPipeline::abort_queued() {
  // Transactions still queued will never run: tell whoever waits on their tickets.
  while (!queue_.empty()) {
    QueuedTransaction* q = queue_.pop();
    if (q == nullptr) continue;
    std::shared_ptr<QueuedTransaction> node = std::move(q->self);
    resolve_ticket(*node, Status(StatusCode::kAborted, "database closed before the transaction ran"), 0);
  }
}

CommitTicket CommitPipeline::submit(TransactionBody body, OnResolved on_resolved) {
  if (released_.load(std::memory_order_relaxed) != nullptr) free_released();
  auto node = std::make_shared<QueuedTransaction>();
  node->body = std::move(body);
  node->on_resolved = std::move(on_resolved);
  node->submitted = std::chrono::steady_clock::now();
  node->self = node;  // the queue's reference, dropped by the writer once resolved
  CommitTicket ticket(node);
  submitted_.fetch_add(1, std::memory_order_relaxed);
  queue_.push(node.get());
  // Pairs with the writer's sleeping_ store + empty() check (both seq_cst): either the writer sees this
  // push, or we see it asleep and wake it.
  if (sleeping_.load(std::memory_order_seq_cst)) {
    wake_.fetch_add(1, std::memory_order_seq_cst);
    wake_.notify_one();
  }
  return ticket;
}

void CommitPipeline::drain_if_queued() {
  // Queued transactions join the owner's publishes (here: one per commit; in tick mode
  // WriterHandle::publish drains), so their tickets resolve without a writer thread. A few plain loads
  // when the queue is empty.
  if (!writer_.thread_running() && !queue_.empty()) drain();
}

std::size_t CommitPipeline::drain() {
  if (writer_.in_transaction()) return 0;  // the owner has a transaction open: drain after it ends
  // A batch whose publish ran out of memory last time: its transactions are committed and their tickets
  // wait in batch_ok_. Publish and resolve them before taking anything new.
  if (!batch_ok_.empty()) return finish_batch(batch_ok_.size());
  // Room for every ticket of the batch up front: once a transaction has committed, keeping its ticket
  // must not fail.
  batch_ok_.reserve(options_.batch_max_transactions);
  std::size_t ran = 0;
  const auto batch_start = std::chrono::steady_clock::now();
  const auto max_delay = std::chrono::microseconds(options_.batch_max_delay_us);
  writer_.defer_publish(true);
  while (ran < options_.batch_max_transactions) {
    QueuedTransaction* raw = queue_.pop();
    if (raw == nullptr) {
      if (!queue_.empty()) {
        // A producer is between its exchange and its link, maybe pre-empted there for a whole time
        // slice. Never hold a batch hostage to it: publish and resolve what ran; its node is taken on
        // a later call. With nothing in hand, give it the CPU.
        if (ran == 0) std::this_thread::yield();
        break;
      }
      if (max_delay.count() == 0 || std::chrono::steady_clock::now() - batch_start >= max_delay) break;
      cpu_relax();
      continue;
    }
    dequeued_.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<QueuedTransaction> node = std::move(raw->self);
    ++ran;
    Status s = run_(node->body);
    node->body = nullptr;  // release captures now, not when the last ticket copy goes
    if (s.is_ok()) batch_ok_.push_back(std::move(node));
    else resolve(*node, std::move(s), 0);
  }
  writer_.defer_publish(false);
  if (ran == 0) return 0;
  return finish_batch(ran);
}

std::size_t CommitPipeline::finish_batch(std::size_t ran) {
  writer_.publish();  // may throw std::bad_alloc, changing nothing: the tickets stay in batch_ok_
  const std::uint64_t version = writer_.versions().published_number();
  const auto now = std::chrono::steady_clock::now();  // one clock read per batch, not per transaction
  for (auto& node : batch_ok_) submit_to_visible_ns_.record_owned(base::nanos_between(node->submitted, now));
  if (CommitSink* sink = writer_.sink(); sink != nullptr) {
    // Takes the tickets when they must wait for the log; resolves them here when they need not (kAsync,
    // or already durable) and leaves them in batch_ok_.
    sink->resolve_when_durable(writer_.logged_lsn(), version, std::move(batch_ok_));
  } else {
    for (auto& node : batch_ok_) resolve(*node, Status::ok(), version);
  }
  release_batch();  // whatever is left here is resolved: back to the producers (leaves batch_ok_ empty)
  batch_sizes_.record_owned(ran);
  return ran;
}

Status CommitPipeline::start_thread() {
  if (thread_.joinable()) return invalid_argument("the writer thread is already running");
  if (writer_.in_transaction()) return invalid_argument("cannot start the writer thread while a transaction is open");
  stop_.store(false);
  writer_.set_thread_running(true);
  thread_ = std::thread([this] {
    writer_.set_writer_thread(std::this_thread::get_id());
    const auto spin = std::chrono::microseconds(options_.writer_spin_us);
    // Out of memory must not kill the process: a batch that cannot start is retried shortly (each
    // transaction's own failure is already its ticket's status).
    auto drain_or_back_off = [this]() -> std::size_t {
      try {
        return drain();
      } catch (const std::bad_alloc&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return 1;
      }
    };
    while (!stop_.load(std::memory_order_acquire)) {
      if (drain_or_back_off() != 0) continue;
      const auto idle_since = std::chrono::steady_clock::now();
      while (queue_.empty() && !stop_.load(std::memory_order_relaxed) &&
             std::chrono::steady_clock::now() - idle_since < spin) {
        for (int i = 0; i < 64; ++i) cpu_relax();
      }
      if (!queue_.empty()) continue;
      sleeping_.store(true, std::memory_order_seq_cst);
      const std::uint32_t seen = wake_.load(std::memory_order_seq_cst);
      if (queue_.empty() && !stop_.load(std::memory_order_seq_cst)) wake_.wait(seen, std::memory_order_seq_cst);
      sleeping_.store(false, std::memory_order_relaxed);
    }
    while (drain_or_back_off() != 0) {
    }
  });
  return Status::ok();
}

void CommitPipeline::stop_thread() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_seq_cst);
  wake_.fetch_add(1, std::memory_order_seq_cst);
  wake_.notify_one();
  thread_.join();
  writer_.set_thread_running(false);
  writer_.set_writer_thread(std::thread::id());
}

void CommitPipeline::fill_metrics(DatabaseMetrics& m) const {
  m.submitted = submitted_.load(std::memory_order_relaxed);
  const std::uint64_t taken = dequeued_.load(std::memory_order_relaxed);
  m.queue_depth = m.submitted > taken ? m.submitted - taken : 0;
  m.submit_to_visible_p50_ns = submit_to_visible_ns_.quantile(0.5);
  m.submit_to_visible_p99_ns = submit_to_visible_ns_.quantile(0.99);
  m.submit_to_visible_count = submit_to_visible_ns_.count();
  m.submit_to_visible_sum_ns = submit_to_visible_ns_.sum();
  m.batch_size_mean = batch_sizes_.mean();
  m.batch_size_p99 = batch_sizes_.quantile(0.99);
}

}  // namespace ecsdb::detail

