#include "replication/delta_hub.hpp"

#include <chrono>

#include "base/latency_histogram.hpp"

namespace ecsdb::replication {

Status DeltaHub::start(Database& db) {
  db_ = &db;
  ECSDB_ASSIGN_OR_RETURN(sub_, db.subscribe({.capacity = 65536, .every_version = true}));
  {
    base::MutexLock lock(mu_);
    ring_base_ = db.published_version();
    latest_ = ring_base_;
  }
  start_version_ = ring_base_;
  stop_.store(false);
  thread_ = std::thread([this] { run(); });
  return Status::ok();
}

void DeltaHub::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  sub_ = Subscription();
}

HubDelta::HubDelta(std::shared_ptr<const Delta> d)
    : delta(std::move(d)),
      at(std::chrono::steady_clock::now()),
      unix_ns(base::unix_nanos()) {}

std::shared_ptr<const std::string> HubDelta::message(Format format, std::uint64_t from, const std::vector<bool>& tables,
                                                     const std::function<std::string()>& render) const {
  {
    base::MutexLock lock(mu_);
    for (const Rendered& r : rendered_) {
      if (r.format == format && r.from == from && r.tables == tables) return r.text;
    }
  }
  auto text = std::make_shared<const std::string>(render());  // outside the lock: other renders go on
  base::MutexLock lock(mu_);
  rendered_.push_back({format, from, tables, text});
  return text;
}

std::size_t DeltaBacklog::delta_bytes(const Delta& d) noexcept {
  std::size_t n = 64 + 8 * (d.created.size() + d.destroyed.size());
  for (const TableDelta& t : d.tables) {
    n += t.inserted_rows.size() + t.update_bytes.size() + 24 * (t.inserted_keys.size() + t.updates.size() + t.deleted_keys.size());
  }
  return n;
}

std::size_t DeltaBacklog::push(std::shared_ptr<const HubDelta> d, std::uint64_t sent, const Schema& schema) {
  if (d->delta->version <= sent) return 0;
  pending_bytes_ += delta_bytes(*d->delta);
  pending_.push_back(std::move(d));
  return pending_bytes_ > coalesce_at_ ? coalesce(schema) : 0;
}

void DeltaBacklog::clear() {
  pending_.clear();
  pending_bytes_ = 0;
  coalesced_.reset();
  coalesced_bytes_ = 0;
  coalesce_at_ = buffer_bytes_;
}

std::size_t DeltaBacklog::coalesce(const Schema& schema) {
  if (coalesced_ == nullptr) coalesced_unix_ns_ = pending_.front()->unix_ns;
  std::vector<std::shared_ptr<Delta>> level;
  level.reserve(pending_.size());
  for (const auto& p : pending_) level.push_back(std::make_shared<Delta>(*p->delta));
  const std::size_t folded = pending_.size() - (coalesced_ == nullptr ? 1 : 0);
  pending_.clear();
  pending_bytes_ = 0;
  while (level.size() > 1) {
    std::vector<std::shared_ptr<Delta>> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) {
      level[i]->merge(*level[i + 1], schema);
      next.push_back(std::move(level[i]));
    }
    if (level.size() % 2 == 1) next.push_back(std::move(level.back()));
    level.swap(next);
  }
  if (coalesced_ == nullptr) coalesced_ = std::move(level.front());
  else coalesced_->merge(*level.front(), schema);
  coalesced_bytes_ = delta_bytes(*coalesced_);
  coalesce_at_ = std::max(buffer_bytes_, 2 * coalesced_bytes_);
  return folded;
}

std::uint64_t DeltaBacklog::next_version() const noexcept {
  if (coalesced_ != nullptr) return coalesced_->version;
  return pending_.empty() ? 0 : pending_.front()->delta->version;
}

std::optional<DeltaBacklog::Item> DeltaBacklog::pop(std::uint64_t sent) {
  if (coalesced_ != nullptr) {
    Item item{nullptr, std::move(coalesced_), coalesced_unix_ns_};
    coalesced_bytes_ = 0;
    coalesce_at_ = buffer_bytes_;
    return item;
  }
  while (!pending_.empty() && pending_.front()->delta->version <= sent) {
    pending_bytes_ -= std::min(pending_bytes_, delta_bytes(*pending_.front()->delta));
    pending_.pop_front();
  }
  if (pending_.empty()) return std::nullopt;
  Item item{std::move(pending_.front()), nullptr, 0};
  item.unix_ns = item.shared->unix_ns;
  pending_.pop_front();
  pending_bytes_ -= std::min(pending_bytes_, delta_bytes(*item.shared->delta));
  return item;
}

std::optional<DeltaBacklog::Item> DeltaBacklog::pop_all(std::uint64_t sent, const Schema& schema) {
  while (!pending_.empty() && pending_.front()->delta->version <= sent) {
    pending_bytes_ -= std::min(pending_bytes_, delta_bytes(*pending_.front()->delta));
    pending_.pop_front();
  }
  if (pending_.size() + (coalesced_ != nullptr ? 1 : 0) > 1) coalesce(schema);
  return pop(sent);
}

std::size_t DeltaBacklog::bytes() const noexcept { return pending_bytes_ + coalesced_bytes_; }

std::optional<std::vector<std::shared_ptr<const HubDelta>>> DeltaHub::add(const std::shared_ptr<DeltaListener>& l,
                                                                           std::optional<std::uint64_t> since) {
  base::MutexLock lock(mu_);
  listeners_.emplace_back(l.get(), l);
  // Older than the ring, or newer than anything published (a client from another server's history): state.
  if (!since || *since < ring_base_ || *since > latest_) return std::nullopt;
  std::vector<std::shared_ptr<const HubDelta>> replay;
  for (const auto& d : ring_) {
    if (d->delta->version > *since) replay.push_back(d);
  }
  return replay;
}

void DeltaHub::remove(const DeltaListener* l) {
  base::MutexLock lock(mu_);
  // By address, never by lock(): a shared_ptr made here could be the last one, and its destructor would
  // call remove() again under this lock.
  std::erase_if(listeners_, [l](const Listener& x) { return x.first == l || x.second.expired(); });
}

std::vector<std::shared_ptr<DeltaListener>> DeltaHub::live_listeners() {
  std::vector<std::shared_ptr<DeltaListener>> live;
  live.reserve(listeners_.size());
  for (const auto& [address, weak] : listeners_) {
    if (auto l = weak.lock()) live.push_back(std::move(l));
  }
  return live;
}

void DeltaHub::dispatch(std::shared_ptr<const Delta> delta) {
  auto d = std::make_shared<const HubDelta>(std::move(delta));
  std::vector<std::shared_ptr<DeltaListener>> live;
  {
    // The ring and the listeners taken together: a listener added before this point gets `d` from here,
    // one added after it from the ring (DeltaHub::add), never both.
    base::MutexLock lock(mu_);
    latest_ = std::max(latest_, d->delta->version);
    ring_.push_back(d);
    ring_bytes_ += DeltaBacklog::delta_bytes(*d->delta);
    while (ring_.size() > ring_capacity_ || (ring_bytes_ > ring_bytes_limit_ && ring_.size() > 1)) {
      ring_base_ = ring_.front()->delta->version;
      ring_bytes_ -= std::min(ring_bytes_, DeltaBacklog::delta_bytes(*ring_.front()->delta));
      ring_.pop_front();
    }
    live = live_listeners();
  }
  // Outside the lock: dropping the last reference to a listener runs its destructor, which removes it
  // from this hub (DeltaHub::remove takes the lock).
  for (const auto& l : live) l->on_delta(d);
}

void DeltaHub::run() {
  std::vector<std::shared_ptr<const Delta>> batch;
  while (!stop_.load(std::memory_order_acquire)) {
    if (!sub_.wait_for(std::chrono::milliseconds(50))) continue;
    batch.clear();
    sub_.poll(batch);
    if (sub_.take_lost()) {
      // The ring now has a hole: nobody may resume across it.
      std::vector<std::shared_ptr<DeltaListener>> live;
      {
        base::MutexLock lock(mu_);
        ring_.clear();
        ring_bytes_ = 0;
        ring_base_ = db_->published_version();
        latest_ = ring_base_;
        live = live_listeners();
      }
      for (const auto& l : live) l->on_lost();
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

}  // namespace ecsdb::replication
