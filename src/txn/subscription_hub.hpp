// SubscriptionHub — the writer's side of pub/sub: filters each published delta per subscriber and pushes
// it into the subscriber's bounded single-producer/single-consumer ring.
//
// Ring invariants: only the writer advances `head`, only the subscriber advances `tail`. The writer fills
// slot[head % cap] only while head - tail < cap (so the slot is free), then publishes it with
// head.store(release); the subscriber reads slots in [tail, head) after head.load(acquire) and hands them
// back with tail.store(release), which the writer's tail.load(acquire) pairs with.
#pragma once

#include <atomic>
#include <condition_variable>

#include "base/mutex.hpp"
#include <memory>
#include <mutex>
#include <vector>

#include "ecsdb/schema.hpp"
#include "ecsdb/subscription.hpp"

namespace ecsdb::detail {

struct Subscriber {
  // Filter, resolved against the schema at subscribe time.
  std::vector<bool> tables;                 // by table id; empty = all
  std::vector<std::uint64_t> field_masks;   // by table id; 0 = all fields
  std::vector<std::uint64_t> entities;      // sorted entity bits; empty = all
  bool every_version = false;               // also the empty markers of versions without a delta

  std::vector<std::shared_ptr<const Delta>> ring;
  std::atomic<std::uint64_t> head{0};       // next slot the writer fills
  std::atomic<std::uint64_t> tail{0};       // next slot the subscriber reads
  std::atomic<bool> lost{false};
  std::atomic<bool> closed{false};
  // Subscription::wait_for sleeps here once a short spin found nothing. The writer wakes it only when
  // `sleeping` is set: head.store and sleeping.load (writer), sleeping.store and head.load (waiter) are
  // seq_cst, so either the writer sees the sleeper or the sleeper sees the new head; the notify happens
  // under wait_mu, which the sleeper holds from its last check of head until it waits.
  std::atomic<bool> sleeping{false};
  std::mutex wait_mu;
  std::condition_variable wait_cv;
  bool fresh = true;                        // joined since the last publish (guarded by the hub's mutex)
};

class SubscriptionHub {
 public:
  Result<Subscription> subscribe(const Schema& schema, const SubscriptionOptions& options);
  bool active() const noexcept { return count_.load(std::memory_order_acquire) != 0; }
  // Writer, at each publish before its deltas: `missed` when some commit of this version was made while
  // no subscription existed (so no delta was built for it).
  void begin_version(bool missed);
  // Writer: delivers the deltas of one published version to every subscriber whose filter they pass (an
  // empty delta, the marker of a version without changes, only to every_version subscribers), all at once:
  // a subscriber never sees part of a version.
  void publish(const std::vector<std::shared_ptr<Delta>>& version_deltas);
  // True when some subscriber wants version markers.
  bool wants_markers() const noexcept { return markers_.load(std::memory_order_acquire) != 0; }
  // Writer: tells every subscriber it lost events (when a delta could not be delivered).
  void mark_all_lost() noexcept;

 private:
  base::Mutex mu_;  // subscribe/unsubscribe vs the writer's publish; never held long
  std::vector<std::shared_ptr<Subscriber>> subs_ ECSDB_GUARDED_BY(mu_);
  std::atomic<std::size_t> count_{0};
  std::atomic<std::size_t> markers_{0};  // subscribers with every_version
};

}  // namespace ecsdb::detail
