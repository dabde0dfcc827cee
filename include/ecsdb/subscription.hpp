// ecsdb/subscription.hpp — in-process pub/sub of committed changes.
//
//   auto sub = db->subscribe({.tables = {"health"}}).value();
//   std::vector<std::shared_ptr<const ecsdb::Delta>> batch;
//   sub.poll(batch);                 // any thread; oldest first, in commit order
//   if (sub.take_lost()) { /* re-read what you mirror from db->pin() */ }
//
// Deltas are delivered when the writer publishes the version that contains them, so a subscriber that
// pins a view after receiving a delta sees its changes. The writer never waits for a subscriber: each has
// a bounded buffer (`capacity` deltas); when it is full, new deltas for that subscriber are dropped and
// take_lost() reports it once, so the subscriber can resynchronise from a pinned view.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "ecsdb/delta.hpp"
#include "ecsdb/entity.hpp"

namespace ecsdb {

struct SubscriptionOptions {
  std::vector<std::string> tables = {};    // empty: every table
  std::vector<std::string> fields = {};    // "table.field"; when given, updates touching none of them are dropped
  std::vector<Entity> entities = {};       // empty: every entity (keys of `one` tables, entity events)
  std::size_t capacity = 1024;        // deltas buffered before overflow
  // Also an empty delta for each published version that changed nothing this subscription sees unfiltered
  // (e.g. a transaction whose writes cancelled out): the subscriber learns every version number. Relays
  // (replication) need it to bring clients to the exact published version. Unfiltered subscriptions only.
  bool every_version = false;
};

namespace detail { struct Subscriber; }

class Subscription {
 public:
  Subscription() = default;
  explicit Subscription(std::shared_ptr<detail::Subscriber> s) noexcept : s_(std::move(s)) {}
  Subscription(Subscription&&) noexcept = default;
  Subscription& operator=(Subscription&&) noexcept;
  ~Subscription();

  // Moves the buffered deltas, oldest first, into `out`; returns how many. Any one thread at a time.
  std::size_t poll(std::vector<std::shared_ptr<const Delta>>& out);
  // Waits up to `timeout` for at least one delta; true when one is buffered.
  bool wait_for(std::chrono::microseconds timeout) const;
  // True (once) when deltas were dropped since the last call because the buffer was full.
  bool take_lost() noexcept;
  bool active() const noexcept { return s_ != nullptr; }

 private:
  std::shared_ptr<detail::Subscriber> s_;
};

}  // namespace ecsdb
