// DeltaHub — one subscription to the database, fanned out to every change-stream client (the server's
// WebSocket stream) and every replication client.
//
// A hub thread polls the subscription, merges the deltas of one published version into one, keeps the
// newest few in a ring (so a client reconnecting with since=V resumes without a full state), and hands
// each to every registered client in version order. Clients never block the hub: each queues what it is
// given and coalesces when it falls behind (a stream client in a DeltaBacklog, a replication client in a
// ChangeSet, change_set.hpp). When the hub's own subscription overflows (the hub thread starved), every
// client is told to resynchronise from state.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "base/mutex.hpp"
#include "ecsdb/database.hpp"

namespace ecsdb::replication {

// One published version's delta as the hub hands it out, with the messages rendered from it so far:
// clients with the same subscription that are at the same version send the same bytes, rendered once.
class HubDelta {
 public:
  explicit HubDelta(std::shared_ptr<const Delta> d);
  const std::shared_ptr<const Delta> delta;
  const std::chrono::steady_clock::time_point at;  // when the hub received it (stream lag is measured from here)
  const std::uint64_t unix_ns;                     // the same moment on CLOCK_REALTIME (sent to replicas)

  // What a message is rendered as: the change stream's JSON or a replication DELTA frame.
  enum class Format : std::uint8_t { kStreamJson, kReplicationFrame };
  // The message for (format, from, tables) — rendered by `render` on first use. Any thread.
  std::shared_ptr<const std::string> message(Format format, std::uint64_t from, const std::vector<bool>& tables,
                                             const std::function<std::string()>& render) const;

 private:
  struct Rendered {
    Format format;
    std::uint64_t from;
    std::vector<bool> tables;
    std::shared_ptr<const std::string> text;
  };
  mutable base::Mutex mu_;
  mutable std::vector<Rendered> rendered_ ECSDB_GUARDED_BY(mu_);
};

// What one change-stream client still has to be sent, bounded. Deltas queue as they are published; once the queue holds
// more than `buffer_bytes` (or twice the coalesced delta, when that is larger) they are folded into one
// coalesced delta: the latest state of what changed since the last version sent, so memory follows the
// rows changed, not the number of versions. Delta::merge costs the size of both sides, so the queued
// deltas are merged pairwise (a balanced tree: n log n), then into the coalesced delta once; the next
// coalescing waits until the queue is twice the coalesced size again, so the total cost stays
// proportional to what was queued. Bound: the coalesced delta (at most the changed rows, S) plus a queue
// below max(buffer_bytes, 2S). Owned by one client; not thread-safe.
class DeltaBacklog {
 public:
  explicit DeltaBacklog(std::size_t buffer_bytes) : buffer_bytes_(buffer_bytes), coalesce_at_(buffer_bytes) {}

  // Queues `d` unless a state or delta already sent covers it (version <= sent). Returns how many
  // deltas coalescing folded into another (0 while the client keeps up).
  std::size_t push(std::shared_ptr<const HubDelta> d, std::uint64_t sent, const Schema& schema);
  // Drops everything (a state at a newer version replaces it).
  void clear();
  bool empty() const noexcept { return coalesced_ == nullptr && pending_.empty(); }
  // The version the next pop() would bring the client to (0 when empty).
  std::uint64_t next_version() const noexcept;
  // The next thing to send: the coalesced delta (it comes before everything still queued), or the oldest
  // queued delta newer than `sent` (shared: render it through HubDelta::message).
  struct Item {
    std::shared_ptr<const HubDelta> shared;  // exactly one of the two is set
    std::shared_ptr<Delta> coalesced;
    std::uint64_t unix_ns = 0;               // when the oldest version it carries was published
  };
  std::optional<Item> pop(std::uint64_t sent);
  // Everything queued as one item (coalescing first when more than one delta is queued): one frame per tick.
  std::optional<Item> pop_all(std::uint64_t sent, const Schema& schema);
  // Bytes held (an estimate: row bytes plus per-row bookkeeping).
  std::size_t bytes() const noexcept;
  static std::size_t delta_bytes(const Delta& d) noexcept;

 private:
  std::size_t coalesce(const Schema& schema);

  const std::size_t buffer_bytes_;
  std::deque<std::shared_ptr<const HubDelta>> pending_;
  std::size_t pending_bytes_ = 0;
  std::shared_ptr<Delta> coalesced_;
  std::size_t coalesced_bytes_ = 0;
  std::uint64_t coalesced_unix_ns_ = 0;  // publish time of the oldest version folded into coalesced_
  std::size_t coalesce_at_;
};

class DeltaListener {
 public:
  virtual ~DeltaListener() = default;
  // Hub thread, in version order; must not block (queue and return).
  virtual void on_delta(std::shared_ptr<const HubDelta> delta) = 0;
  // Hub thread: deltas were lost; send the client a fresh state.
  virtual void on_lost() = 0;
};

class DeltaHub {
 public:
  // The ring keeps the newest `ring_versions` versions, and no more than `ring_bytes` of them (big deltas:
  // a version is dropped from the ring when its bytes would pass the bound).
  explicit DeltaHub(std::size_t ring_versions = 256, std::size_t ring_bytes = 32u << 20)
      : ring_capacity_(ring_versions), ring_bytes_limit_(ring_bytes) {}
  ~DeltaHub() { stop(); }

  Status start(Database& db);
  void stop();

  // Registers a listener; then, atomically with respect to dispatch: when `since` is given and the ring
  // holds every version after it, those deltas are returned (to send first); otherwise nullopt (send a
  // state). Deltas dispatched after this call reach the listener.
  std::optional<std::vector<std::shared_ptr<const HubDelta>>> add(const std::shared_ptr<DeltaListener>& l,
                                                               std::optional<std::uint64_t> since);
  void remove(const DeltaListener* l);
  // The version published when the hub started (a restarted server's recovered version).
  std::uint64_t start_version() const noexcept { return start_version_; }

 private:
  void run();
  void dispatch(std::shared_ptr<const Delta> d);
  std::vector<std::shared_ptr<DeltaListener>> live_listeners() ECSDB_REQUIRES(mu_);

  Database* db_ = nullptr;
  Subscription sub_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  const std::size_t ring_capacity_;
  const std::size_t ring_bytes_limit_;
  std::size_t ring_bytes_ ECSDB_GUARDED_BY(mu_) = 0;
  std::uint64_t start_version_ = 0;

  base::Mutex mu_;
  using Listener = std::pair<const DeltaListener*, std::weak_ptr<DeltaListener>>;
  std::vector<Listener> listeners_ ECSDB_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<const HubDelta>> ring_ ECSDB_GUARDED_BY(mu_);
  std::uint64_t ring_base_ ECSDB_GUARDED_BY(mu_) = 0;  // the ring holds every version after this one
  std::uint64_t latest_ ECSDB_GUARDED_BY(mu_) = 0;     // newest version dispatched (or ring_base_)
};

}  // namespace ecsdb::replication
