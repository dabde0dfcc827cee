// StreamHub — one subscription to the database, fanned out to every change-stream client.
//
// A hub thread polls the subscription, merges the deltas of one published version into one, keeps the
// newest few in a ring (so a client reconnecting with since=V resumes without a full state), and hands
// each to every registered client in version order. Clients never block the hub: each queues what it is
// given and coalesces when it falls behind (StreamClient in http_server.cpp). When the hub's own
// subscription overflows (the hub thread starved), every client is told to resynchronise from state.
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

namespace ecsdb::server {

// One published version's delta as the hub hands it out, with the JSON messages rendered from it so far:
// clients with the same subscription that are at the same version send the same bytes, rendered once.
class HubDelta {
 public:
  explicit HubDelta(std::shared_ptr<const Delta> d) : delta(std::move(d)), at(std::chrono::steady_clock::now()) {}
  const std::shared_ptr<const Delta> delta;
  const std::chrono::steady_clock::time_point at;  // when the hub received it (stream lag is measured from here)

  // The message for (from, tables) — rendered by `render` on first use. Any thread.
  std::shared_ptr<const std::string> message(std::uint64_t from, const std::vector<bool>& tables,
                                             const std::function<std::string()>& render) const;

 private:
  struct Rendered {
    std::uint64_t from;
    std::vector<bool> tables;
    std::shared_ptr<const std::string> text;
  };
  mutable base::Mutex mu_;
  mutable std::vector<Rendered> rendered_ ECSDB_GUARDED_BY(mu_);
};

class StreamListener {
 public:
  virtual ~StreamListener() = default;
  // Hub thread, in version order; must not block (queue and return).
  virtual void on_delta(std::shared_ptr<const HubDelta> delta) = 0;
  // Hub thread: deltas were lost; send the client a fresh state.
  virtual void on_lost() = 0;
};

class StreamHub {
 public:
  explicit StreamHub(std::size_t ring_versions = 256) : ring_capacity_(ring_versions) {}
  ~StreamHub() { stop(); }

  Status start(Database& db);
  void stop();

  // Registers a listener; then, atomically with respect to dispatch: when `since` is given and the ring
  // holds every version after it, those deltas are returned (to send first); otherwise nullopt (send a
  // state). Deltas dispatched after this call reach the listener.
  std::optional<std::vector<std::shared_ptr<const HubDelta>>> add(const std::shared_ptr<StreamListener>& l,
                                                               std::optional<std::uint64_t> since);
  void remove(const StreamListener* l);

 private:
  void run();
  void dispatch(std::shared_ptr<const Delta> d);

  Database* db_ = nullptr;
  Subscription sub_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  const std::size_t ring_capacity_;

  base::Mutex mu_;
  std::vector<std::weak_ptr<StreamListener>> listeners_ ECSDB_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<const HubDelta>> ring_ ECSDB_GUARDED_BY(mu_);
  std::uint64_t ring_base_ ECSDB_GUARDED_BY(mu_) = 0;  // the ring holds every version after this one
  std::uint64_t latest_ ECSDB_GUARDED_BY(mu_) = 0;     // newest version dispatched (or ring_base_)
};

}  // namespace ecsdb::server
