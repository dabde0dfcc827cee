#include "txn/write_queue.hpp"

namespace ecsdb::detail {

WriteQueue::~WriteQueue() {
  while (QueuedTransaction* n = pop()) n->self.reset();
}

QueuedTransaction* WriteQueue::pop() noexcept {
  QueuedTransaction* tail = tail_;
  QueuedTransaction* next = tail->next.load(std::memory_order_acquire);
  if (tail == &stub_) {
    if (next == nullptr) return nullptr;
    tail_ = next;
    tail = next;
    next = next->next.load(std::memory_order_acquire);
  }
  if (next != nullptr) {
    tail_ = next;
    return tail;
  }
  if (tail != head_.load(std::memory_order_acquire)) return nullptr;  // a producer is mid-push
  // `tail` is the last node: put the stub behind it so that it can be detached.
  push(&stub_);
  next = tail->next.load(std::memory_order_acquire);
  if (next != nullptr) {
    tail_ = next;
    return tail;
  }
  return nullptr;
}

}  // namespace ecsdb::detail
