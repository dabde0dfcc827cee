#include "server/stream_hub.hpp"

#include <chrono>

namespace ecsdb::server {

Status StreamHub::start(Database& db) {
  db_ = &db;
  ECSDB_ASSIGN_OR_RETURN(sub_, db.subscribe({.capacity = 65536}));
  {
    base::MutexLock lock(mu_);
    ring_base_ = db.published_version();
    latest_ = ring_base_;
  }
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void StreamHub::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  sub_ = Subscription();
}

std::shared_ptr<const std::string> HubDelta::message(std::uint64_t from, const std::vector<bool>& tables,
                                                     const std::function<std::string()>& render) const {
  {
    base::MutexLock lock(mu_);
    for (const Rendered& r : rendered_) {
      if (r.from == from && r.tables == tables) return r.text;
    }
  }
  auto text = std::make_shared<const std::string>(render());  // outside the lock: other renders go on
  base::MutexLock lock(mu_);
  rendered_.push_back({from, tables, text});
  return text;
}

std::optional<std::vector<std::shared_ptr<const HubDelta>>> StreamHub::add(const std::shared_ptr<StreamListener>& l,
                                                                           std::optional<std::uint64_t> since) {
  base::MutexLock lock(mu_);
  listeners_.push_back(l);
  // Older than the ring, or newer than anything published (a client from another server's history): state.
  if (!since || *since < ring_base_ || *since > latest_) return std::nullopt;
  std::vector<std::shared_ptr<const HubDelta>> replay;
  for (const auto& d : ring_) {
    if (d->delta->version > *since) replay.push_back(d);
  }
  return replay;
}

void StreamHub::remove(const StreamListener* l) {
  base::MutexLock lock(mu_);
  std::erase_if(listeners_, [l](const std::weak_ptr<StreamListener>& w) {
    auto p = w.lock();
    return p == nullptr || p.get() == l;
  });
}

void StreamHub::dispatch(std::shared_ptr<const Delta> delta) {
  auto d = std::make_shared<const HubDelta>(std::move(delta));
  base::MutexLock lock(mu_);
  latest_ = std::max(latest_, d->delta->version);
  ring_.push_back(d);
  while (ring_.size() > ring_capacity_) {
    ring_base_ = ring_.front()->delta->version;
    ring_.pop_front();
  }
  for (const auto& w : listeners_) {
    if (auto l = w.lock()) l->on_delta(d);
  }
}

void StreamHub::run() {
  std::vector<std::shared_ptr<const Delta>> batch;
  while (!stop_.load(std::memory_order_acquire)) {
    if (!sub_.wait_for(std::chrono::milliseconds(50))) continue;
    batch.clear();
    sub_.poll(batch);
    if (sub_.take_lost()) {
      // The ring now has a hole: nobody may resume across it.
      base::MutexLock lock(mu_);
      ring_.clear();
      ring_base_ = db_->published_version();
      latest_ = ring_base_;
      for (const auto& w : listeners_) {
        if (auto l = w.lock()) l->on_lost();
      }
      continue;
    }
    // One message per published version: the deltas of one version (a batch of queued transactions) merge.
    for (std::size_t i = 0; i < batch.size();) {
      std::size_t j = i + 1;
      while (j < batch.size() && batch[j]->version == batch[i]->version) ++j;
      if (j == i + 1) {
        dispatch(std::move(batch[i]));
      } else {
        auto merged = std::make_shared<Delta>(*batch[i]);
        for (std::size_t k = i + 1; k < j; ++k) merged->merge(*batch[k], db_->schema());
        dispatch(std::move(merged));
      }
      i = j;
    }
  }
}

}  // namespace ecsdb::server
