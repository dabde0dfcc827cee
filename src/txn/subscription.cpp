#include "txn/subscription_hub.hpp"

#include <algorithm>
#include <thread>

namespace ecsdb {

namespace detail {

namespace {

bool wants_key(const Subscriber& s, std::uint64_t key) {
  return s.entities.empty() || std::binary_search(s.entities.begin(), s.entities.end(), key);
}

// The part of `d` that `s` asked for; nullptr when nothing is left.
std::shared_ptr<const Delta> filter(const Subscriber& s, const std::shared_ptr<const Delta>& d) {
  const bool unfiltered = s.tables.empty() && s.entities.empty() &&
                          std::all_of(s.field_masks.begin(), s.field_masks.end(), [](std::uint64_t m) { return m == 0; });
  if (unfiltered) return d;
  auto out = std::make_shared<Delta>();
  out->first_commit = d->first_commit;
  out->last_commit = d->last_commit;
  out->version = d->version;
  for (Entity e : d->created) if (wants_key(s, e.bits())) out->created.push_back(e);
  for (Entity e : d->destroyed) if (wants_key(s, e.bits())) out->destroyed.push_back(e);
  for (const TableDelta& t : d->tables) {
    if (!s.tables.empty() && (t.table >= s.tables.size() || !s.tables[t.table])) continue;
    const std::uint64_t fields = t.table < s.field_masks.size() ? s.field_masks[t.table] : 0;
    TableDelta f;
    f.table = t.table;
    const std::size_t stride = t.inserted_keys.empty() ? 0 : t.inserted_rows.size() / t.inserted_keys.size();
    for (std::size_t i = 0; i < t.inserted_keys.size(); ++i) {
      if (!wants_key(s, t.inserted_keys[i])) continue;
      f.inserted_keys.push_back(t.inserted_keys[i]);
      if (!t.inserted_owners.empty()) f.inserted_owners.push_back(t.inserted_owners[i]);
      f.inserted_rows.insert(f.inserted_rows.end(), t.inserted_rows.begin() + static_cast<std::ptrdiff_t>(i * stride),
                             t.inserted_rows.begin() + static_cast<std::ptrdiff_t>((i + 1) * stride));
    }
    for (const RowUpdate& u : t.updates) {
      if (!wants_key(s, u.key) || (fields != 0 && (u.field_mask & fields) == 0)) continue;
      RowUpdate copy = u;
      copy.offset = static_cast<std::uint32_t>(f.update_bytes.size());
      f.update_bytes.insert(f.update_bytes.end(), t.update_bytes.begin() + u.offset,
                            t.update_bytes.begin() + u.offset + u.size);
      f.updates.push_back(copy);
    }
    for (std::uint64_t k : t.deleted_keys) if (wants_key(s, k)) f.deleted_keys.push_back(k);
    if (!f.empty()) out->tables.push_back(std::move(f));
  }
  if (out->empty()) return nullptr;
  return out;
}

}  // namespace

Result<Subscription> SubscriptionHub::subscribe(const Schema& schema, const SubscriptionOptions& options) {
  if (options.capacity == 0) return invalid_argument("subscribe: capacity must be at least 1");
  auto s = std::make_shared<Subscriber>();
  for (const std::string& name : options.tables) {
    const Table* t = schema.find_table(name);
    if (t == nullptr) return not_found("subscribe: no table named '" + name + "'");
    if (s->tables.empty()) s->tables.assign(schema.tables.size(), false);
    s->tables[t->id] = true;
  }
  for (const std::string& qualified : options.fields) {
    const auto dot = qualified.find('.');
    if (dot == std::string::npos) return invalid_argument("subscribe: field '" + qualified + "' must be written table.field");
    const Table* t = schema.find_table(qualified.substr(0, dot));
    if (t == nullptr) return not_found("subscribe: no table named '" + qualified.substr(0, dot) + "'");
    const Field* f = t->find_field(qualified.substr(dot + 1));
    if (f == nullptr) return not_found("subscribe: table '" + t->name + "' has no field '" + qualified.substr(dot + 1) + "'");
    if (s->field_masks.empty()) s->field_masks.assign(schema.tables.size(), 0);
    s->field_masks[t->id] |= field_bit(f->id);
  }
  for (Entity e : options.entities) s->entities.push_back(e.bits());
  std::sort(s->entities.begin(), s->entities.end());
  s->every_version = options.every_version;
  if (s->every_version && (!s->tables.empty() || !s->entities.empty() || !s->field_masks.empty())) {
    return invalid_argument("subscribe: every_version is for unfiltered subscriptions");
  }
  s->ring.resize(options.capacity);
  base::MutexLock lock(mu_);
  // Drop subscribers whose handle went away.
  std::erase_if(subs_, [](const std::shared_ptr<Subscriber>& x) { return x->closed.load(); });
  subs_.push_back(s);
  count_.store(subs_.size(), std::memory_order_release);
  markers_.store(static_cast<std::size_t>(std::count_if(subs_.begin(), subs_.end(), [](const auto& x) { return x->every_version; })),
                 std::memory_order_release);
  return Subscription(std::move(s));
}

void SubscriptionHub::begin_version(bool missed) {
  if (!active()) return;
  base::MutexLock lock(mu_);
  for (const auto& s : subs_) {
    if (s->fresh && missed) s->lost.store(true, std::memory_order_release);
    s->fresh = false;
  }
}

void SubscriptionHub::mark_all_lost() noexcept {
  base::MutexLock lock(mu_);
  for (auto& sub : subs_) sub->lost.store(true, std::memory_order_release);
}

void SubscriptionHub::publish(const std::vector<std::shared_ptr<Delta>>& version_deltas) {
  base::MutexLock lock(mu_);
  bool any_closed = false;
  std::vector<std::shared_ptr<const Delta>> mine;
  for (const auto& s : subs_) {
    if (s->closed.load(std::memory_order_acquire)) { any_closed = true; continue; }
    mine.clear();
    for (const auto& delta : version_deltas) {
      if (delta->empty() && !s->every_version) continue;
      if (std::shared_ptr<const Delta> d = filter(*s, delta)) mine.push_back(std::move(d));
    }
    if (mine.empty()) continue;
    // Every delta of the version goes in before `head` moves: a poll sees all of a version or none of it.
    const std::uint64_t head = s->head.load(std::memory_order_relaxed);
    const std::uint64_t tail = s->tail.load(std::memory_order_acquire);
    if (head - tail + mine.size() > s->ring.size()) {
      s->lost.store(true, std::memory_order_release);  // overflow: drop, tell the subscriber
      continue;
    }
    for (std::size_t i = 0; i < mine.size(); ++i) s->ring[(head + i) % s->ring.size()] = std::move(mine[i]);
    s->head.store(head + mine.size(), std::memory_order_seq_cst);
    if (s->sleeping.load(std::memory_order_seq_cst)) {
      std::lock_guard wake(s->wait_mu);
      s->wait_cv.notify_all();
    }
  }
  if (any_closed) {
    std::erase_if(subs_, [](const std::shared_ptr<Subscriber>& x) { return x->closed.load(); });
    count_.store(subs_.size(), std::memory_order_release);
    markers_.store(static_cast<std::size_t>(std::count_if(subs_.begin(), subs_.end(), [](const auto& x) { return x->every_version; })),
                   std::memory_order_release);
  }
}

}  // namespace detail

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    if (s_) s_->closed.store(true, std::memory_order_release);
    s_ = std::move(other.s_);
  }
  return *this;
}

Subscription::~Subscription() {
  if (s_) s_->closed.store(true, std::memory_order_release);
}

std::size_t Subscription::poll(std::vector<std::shared_ptr<const Delta>>& out) {
  if (!s_) return 0;
  const std::uint64_t head = s_->head.load(std::memory_order_acquire);
  std::uint64_t tail = s_->tail.load(std::memory_order_relaxed);
  const std::size_t n = head - tail;
  for (; tail != head; ++tail) out.push_back(std::move(s_->ring[tail % s_->ring.size()]));
  s_->tail.store(tail, std::memory_order_release);
  return n;
}

bool Subscription::wait_for(std::chrono::microseconds timeout) const {
  if (!s_) return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::uint64_t tail = s_->tail.load(std::memory_order_relaxed);
  // A short spin first: deltas often follow each other closely, and waking a sleeper costs tens of µs.
  for (int i = 0; i < 64; ++i) {
    if (s_->head.load(std::memory_order_acquire) != tail) return true;
    std::this_thread::yield();
  }
  std::unique_lock lock(s_->wait_mu);
  s_->sleeping.store(true, std::memory_order_seq_cst);
  const bool ready = s_->wait_cv.wait_until(lock, deadline, [&] { return s_->head.load(std::memory_order_seq_cst) != tail; });
  s_->sleeping.store(false, std::memory_order_relaxed);
  return ready;
}

bool Subscription::take_lost() noexcept { return s_ && s_->lost.exchange(false, std::memory_order_acq_rel); }

}  // namespace ecsdb
