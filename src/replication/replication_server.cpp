// ReplicationServer: an Asio TCP listener and one ReplicaSession per client (docs/replication.md).
//
// Threads: the network threads (the server's own, or `ecsdb serve`'s) run the sessions, each on its strand;
// the DeltaHub thread hands each published version to every session (posted to its strand, never blocking);
// the database's writer thread resolves client writes (the answer is posted back to the strand). A session
// never blocks a network thread except to pin a durable view for a durable-only client's full sync (at most
// one group commit).
#include "ecsdb/replication_server.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_set>

#include <boost/asio.hpp>
#include <spdlog/spdlog.h>

#include "base/latency_histogram.hpp"
#include "replication/change_set.hpp"
#include "replication/compression.hpp"
#include "replication/delta_hub.hpp"
#include "replication/frame_transport.hpp"
#include "replication/protocol.hpp"
#include "storage/field_codec.hpp"

namespace ecsdb {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using replication::FrameType;

namespace {

using Bytes = std::vector<std::byte>;
std::shared_ptr<const std::string> to_message(const Bytes& b) {
  return std::make_shared<const std::string>(reinterpret_cast<const char*>(b.data()), b.size());
}

// A client write's fields as committed, to tell the client when another commit changed them before the
// version holding its write reached it.
struct WriteWatch {
  std::uint64_t request_id;
  std::uint64_t version;
  std::uint16_t table;
  std::uint64_t key;
  std::uint64_t mask;
  std::vector<std::byte> row;  // a row image holding the written fields at their offsets
};

}  // namespace

// The replication listener's connections.
class TcpTransport final : public replication::FrameTransport {
 public:
  explicit TcpTransport(tcp::socket socket) : socket_(std::move(socket)) {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    const auto ep = socket_.remote_endpoint(ec);
    remote_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  net::any_io_executor executor() override { return socket_.get_executor(); }
  void read(ReadHandler handler) override {
    socket_.async_read_some(net::buffer(in_), [this, handler = std::move(handler)](boost::system::error_code ec, std::size_t n) {
      handler(ec, std::span<const std::byte>(reinterpret_cast<const std::byte*>(in_.data()), n));
    });
  }
  void write(std::shared_ptr<const std::string> frame, WriteHandler handler) override {
    const auto bytes = net::buffer(*frame);
    net::async_write(socket_, bytes, [frame = std::move(frame), handler = std::move(handler)](boost::system::error_code ec, std::size_t n) {
      handler(ec, n);
    });
  }
  void close() override {
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }
  std::string remote() const override { return remote_; }
  const char* kind() const override { return "tcp"; }

 private:
  tcp::socket socket_;  // on a strand (accepted with make_strand)
  std::array<char, std::size_t{64} << 10> in_{};
  std::string remote_;
};

class ReplicaSession;

struct ReplicationServer::Impl : std::enable_shared_from_this<ReplicationServer::Impl> {
  Impl(Database& d, ReplicationOptions o, net::io_context* shared)
      : db(d), options(std::move(o)), own_context(shared == nullptr ? std::make_unique<net::io_context>() : nullptr),
        io(shared != nullptr ? *shared : *own_context), acceptor(io), hub(options.ring_versions) {}

  Database& db;
  const ReplicationOptions options;
  std::unique_ptr<net::io_context> own_context;
  net::io_context& io;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  tcp::acceptor acceptor;
  replication::DeltaHub hub;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> next_id{1};
  const std::uint64_t epoch = std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32);

  mutable std::mutex mu;
  std::vector<std::weak_ptr<ReplicaSession>> sessions;

  std::atomic<std::uint64_t> connections_total{0};
  struct Counters {
    std::atomic<std::uint64_t> frames_sent{0}, bytes_sent{0}, bytes_uncompressed{0}, full_syncs{0}, resumes{0}, resubscribes{0},
        coalesced{0}, writes_committed{0}, writes_rejected{0}, overwritten{0}, refused{0};
  } counters;

  void accept();
  void adopt(std::unique_ptr<replication::FrameTransport> transport);
  std::size_t live_sessions();
};

class ReplicaSession : public replication::DeltaListener, public std::enable_shared_from_this<ReplicaSession> {
 public:
  ReplicaSession(std::shared_ptr<ReplicationServer::Impl> server, std::unique_ptr<replication::FrameTransport> transport,
                 std::uint64_t id)
      : server_(std::move(server)),
        db_(server_->db),
        schema_(db_.schema()),
        transport_(std::move(transport)),
        strand_(transport_->executor()),
        timer_(strand_),
        tick_timer_(strand_),
        reader_(server_->options.max_client_frame_bytes),
        id_(id),
        connected_at_(std::chrono::steady_clock::now()),
        address_(transport_->remote()) {}

  void start() {
    auto self = shared_from_this();
    net::dispatch(strand_, [self] {
      self->timer_.expires_after(std::chrono::milliseconds(self->server_->options.hello_timeout_ms));
      self->timer_.async_wait([self](boost::system::error_code ec) {
        if (!ec && !self->live_) self->close_with(StatusCode::kDeadlineExceeded, "no HELLO within the time limit");
      });
      self->read();
    });
  }

  // Hub thread.
  void on_delta(std::shared_ptr<const replication::HubDelta> d) override {
    net::post(strand_, [self = shared_from_this(), d = std::move(d)]() mutable { self->queue(std::move(d)); });
  }
  void on_lost() override {
    net::post(strand_, [self = shared_from_this()] {
      if (self->live_) self->begin_sync(true);
    });
  }

  void shutdown(const std::string& reason) {
    net::post(strand_, [self = shared_from_this(), reason] { self->close_with(StatusCode::kUnavailable, reason); });
  }

  ReplicationClientInfo info() const {
    std::lock_guard lock(info_mu_);
    return info_;
  }

 private:
  // ---- input ----
  void read() {
    auto self = shared_from_this();
    transport_->read([self](boost::system::error_code ec, std::span<const std::byte> bytes) {
      if (ec) {
        self->closed(ec == net::error::eof ? "client closed" : ec.message());
        return;
      }
      self->reader_.feed(bytes);
      for (;;) {
        if (self->closed_ || self->closing_) return;
        auto frame = self->reader_.next();
        if (!frame) return self->refuse(frame.status().message());
        if (!*frame) break;
        self->handle(**frame);
      }
      if (!self->closed_ && !self->closing_) self->read();
    });
  }

  void handle(const replication::FrameReader::Frame& f) {
    const auto type = static_cast<FrameType>(f.type);
    if (!live_ && type != FrameType::kHello) return refuse(std::string("expected HELLO, got ") + replication::frame_type_name(f.type));
    switch (type) {
      case FrameType::kHello: {
        if (live_) return refuse("HELLO sent twice");
        auto m = replication::decode_hello(f.payload);
        if (!m) return refuse(m.status().message());
        return hello(std::move(*m));
      }
      case FrameType::kAck: {
        auto v = replication::decode_ack(f.payload);
        if (!v) return refuse(v.status().message());
        acked_ = std::max(acked_, std::min(*v, sent_));
        return update_info();
      }
      case FrameType::kSubscribe: {
        auto sub = replication::decode_subscribe(f.payload);
        if (!sub) return refuse(sub.status().message());
        return subscribe(*sub);
      }
      case FrameType::kWrite: {
        auto w = replication::decode_write(f.payload, schema_);
        if (!w) return refuse(w.status().message());
        return write(std::move(*w));
      }
      default:
        return refuse(std::string("unexpected frame type ") + std::to_string(f.type) + " (" +
                      replication::frame_type_name(f.type) + ") from a client");
    }
  }

  struct Resolved {
    std::vector<bool> wanted;
    replication::TableFilters filters;
  };
  // The tables (by id) and compiled filters of a subscription; an error names the table or filter.
  Result<Resolved> resolve(const std::vector<std::string>& names, const std::vector<SubscriptionFilter>& filters) const {
    std::vector<bool> wanted(schema_.tables.size(), false);
    auto readable = [&](const std::string& name) {
      return access_.read_tables.empty() || std::find(access_.read_tables.begin(), access_.read_tables.end(), name) != access_.read_tables.end();
    };
    if (names.empty()) {
      for (const Table& t : schema_.tables) wanted[t.id] = !t.is_entity_table && readable(t.name);
    } else {
      for (const std::string& n : names) {
        const Table* t = schema_.find_table(n);
        if (t == nullptr) return Status(StatusCode::kNotFound, "unknown table '" + n + "'");
        if (!readable(n)) return Status(StatusCode::kPermissionDenied, "token '" + access_.name + "' may not read table '" + n + "'");
        wanted[t->id] = !t->is_entity_table;
      }
    }
    auto compiled = replication::TableFilters::compile(schema_, wanted, filters, server_->options);
    if (!compiled) return compiled.status();
    return Resolved{std::move(wanted), std::move(*compiled)};
  }

  void set_tables(std::vector<bool> wanted) {
    wanted_ = std::move(wanted);
    table_names_.clear();
    for (const Table& t : schema_.tables) {
      if (wanted_[t.id]) table_names_.push_back(t.name);
    }
    std::lock_guard lock(info_mu_);
    info_.tables = table_names_;
  }

  void hello(replication::Hello m) {
    if (m.protocol != replication::kProtocolVersion) {
      return close_with(StatusCode::kInvalidArgument, "protocol version " + std::to_string(m.protocol) +
                                                          " is not supported (this server speaks " +
                                                          std::to_string(replication::kProtocolVersion) + ")");
    }
    if (server_->options.authenticate) {
      auto a = server_->options.authenticate(m.token);
      if (!a) {
        server_->counters.refused.fetch_add(1);
        return close_with(StatusCode::kPermissionDenied, m.token.empty() ? "a token is required" : "unknown token");
      }
      access_ = std::move(*a);
    } else {
      access_.name = "anonymous";
      access_.write = true;
    }
    if (m.layout_hash != 0 && m.layout_hash != schema_.layout_hash()) {
      return close_with(StatusCode::kFailedPrecondition,
                        "schema mismatch: the client's layout hash differs from the server's (schema '" +
                            schema_.database + "' version " + schema_.version + "); connect without a schema to take the server's");
    }
    auto resolved = resolve(m.tables, m.filters);
    if (!resolved) {
      if (resolved.status().code() == StatusCode::kPermissionDenied) server_->counters.refused.fetch_add(1);
      return close_with(resolved.status().code(), resolved.status().message());
    }
    filter_count_ = m.filters.size();
    changes_.emplace(schema_, resolved->wanted, std::move(resolved->filters));
    set_tables(std::move(resolved->wanted));
    durable_only_ = (m.flags & replication::kHelloDurableOnly) != 0;
    if ((m.flags & replication::kHelloCompress) != 0 && server_->options.compression) {
      compressor_.emplace(server_->options.compression_level, server_->options.compress_window_log);
    }
    live_ = true;
    timer_.cancel();
    {
      std::lock_guard lock(info_mu_);
      info_.id = id_;
      info_.address = address_;
      info_.token_name = access_.name;
      info_.filters = filter_count_;
      info_.durable_only = durable_only_;
      info_.compressed = compressor_.has_value();
    }
    // Registered before the state is pinned: nothing published after the pin can be missed. A version from
    // another incarnation of the server is trusted only if it is the one this incarnation recovered to.
    const bool same_history = m.epoch == server_->epoch || m.last_version == server_->hub.start_version();
    auto replay = server_->hub.add(shared_from_this(),
                                   m.last_version == 0 || !same_history ? std::nullopt : std::optional(m.last_version));
    if (replay && durable_only_ && m.last_version > db_.durable_version()) replay.reset();
    // A filtered client's rows depend on what it held: the server does not know that across connections.
    if (replay && changes_->filtered()) replay.reset();
    write_tokens_ = server_->options.max_writes_per_second;  // a full bucket: bursts up to one second's rate
    replication::Welcome w;
    w.layout_hash = schema_.layout_hash();
    w.server_version = db_.published_version();
    w.durable_version = db_.durable_version();
    w.epoch = server_->epoch;
    w.resume = replay.has_value();
    w.schema_text = schema_.text;
    w.tables = table_names_;
    Bytes out;
    replication::encode_welcome(w, out);
    control(out);
    if (replay) {
      server_->counters.resumes.fetch_add(1);
      sent_ = acked_ = m.last_version;
      for (auto& d : *replay) queue(std::move(d));
    } else {
      begin_sync(m.last_version != 0);
    }
    if (server_->options.tick_ms != 0) arm_tick();
    spdlog::info("replication client {} ({} over {}, token '{}') connected: {} from version {}, tables [{}]", id_,
                 address_, transport_->kind(), access_.name, replay ? "resume" : "full sync", replay ? m.last_version : sync_version_,
                 fmt::join(table_names_, ","));
    write_next();
  }

  // A new subscription on a live connection. Mid-sync, the sync starts again with it; otherwise the next
  // frame carries the difference (ChangeSet::resubscribe): rows of added tables or newly matching rows as
  // inserts, rows of dropped tables or no longer matching as deletes, nothing for rows the client keeps.
  void subscribe(const replication::Subscription& sub) {
    auto resolved = resolve(sub.tables, sub.filters);
    if (!resolved) return close_with(resolved.status().code(), resolved.status().message());
    filter_count_ = sub.filters.size();
    {
      std::lock_guard lock(info_mu_);
      info_.filters = filter_count_;
    }
    if (sync_view_ != nullptr) {
      changes_.emplace(schema_, resolved->wanted, std::move(resolved->filters));
      set_tables(std::move(resolved->wanted));
      begin_sync(true);
    } else {
      fold_pending();
      changes_->resubscribe(resolved->wanted, std::move(resolved->filters));
      set_tables(std::move(resolved->wanted));
      server_->counters.resubscribes.fetch_add(1);
    }
    write_next();
  }

  // ---- full sync ----
  void begin_sync(bool reset) {
    durable_view_.reset();
    pending_.clear();
    pending_bytes_ = 0;
    changes_->clear();
    changes_->start_sync();
    if (durable_only_) {
      auto v = db_.pin_durable();
      if (!v) return close_with(v.status().code(), "cannot pin a durable view: " + v.status().message());
      sync_view_ = std::make_shared<PinnedView>(std::move(*v));
    } else {
      sync_view_ = std::make_shared<PinnedView>(db_.pin());
    }
    sync_version_ = sync_view_->version();
    sync_table_ = 0;
    sync_row_ = 0;
    sync_entity_ = 0;
    sync_entities_done_ = false;
    // A sync at version V replaces what the client had; watches of writes it covers are settled.
    std::erase_if(watches_, [&](const WriteWatch& w) { return w.version <= sync_version_; });
    server_->counters.full_syncs.fetch_add(1);
    replication::SyncBegin b{sync_version_, reset, table_names_};
    Bytes out;
    replication::encode_sync_begin(b, out);
    control(out);
  }

  // The next SYNC_CHUNK (entities first, then each subscribed table's rows), or SYNC_END.
  std::shared_ptr<const std::string> next_sync_frame() {
    const std::uint32_t limit = std::max<std::uint32_t>(1, server_->options.sync_chunk_rows);
    const detail::VersionState& s = sync_view_->state();
    Delta chunk;
    std::uint32_t rows = 0;
    if (!sync_entities_done_) {
      const detail::RegistryState& reg = s.registry;
      while (sync_entity_ < reg.used && rows < limit) {
        const auto* slot = reg.slot(sync_entity_);
        if (slot->alive()) {
          chunk.created.push_back(Entity(sync_entity_, slot->generation));
          ++rows;
        }
        ++sync_entity_;
      }
      if (sync_entity_ >= reg.used) sync_entities_done_ = true;
    }
    while (rows < limit && sync_table_ < schema_.tables.size()) {
      const Table& t = schema_.tables[sync_table_];
      const detail::TableState& ts = s.tables[t.id];
      if (!wanted_[t.id] || sync_row_ >= ts.row_count) {
        ++sync_table_;
        sync_row_ = 0;
        continue;
      }
      TableDelta& td = chunk.tables.emplace_back();
      td.table = t.id;
      const bool many = t.cardinality == Cardinality::kMany;
      const bool filtered = changes_->filtered(t.id);
      // Rows examined per chunk are bounded too: a filter that admits few rows must not make one chunk
      // walk a whole table.
      const std::uint32_t n = std::min(limit - rows, ts.row_count - sync_row_);
      for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint32_t r = sync_row_ + i;
        std::uint64_t key = 0, owner = 0;
        key = ts.key_at(r, s.registry);
        if (many) std::memcpy(&owner, ts.owners.at(r), 8);
        const std::byte* bytes = ts.stride != 0 ? ts.rows.at(r) : nullptr;
        if (filtered) {
          if (!changes_->admits(t.id, Entity::from_bits(many ? owner : key), bytes)) continue;
          changes_->hold(t.id, key);
        }
        td.inserted_keys.push_back(key);
        if (many) td.inserted_owners.push_back(owner);
        if (bytes != nullptr) td.inserted_rows.insert(td.inserted_rows.end(), bytes, bytes + ts.stride);
      }
      if (td.inserted_keys.empty()) chunk.tables.pop_back();
      sync_row_ += n;
      rows += n;
    }
    Bytes out;
    // A chunk may come out empty while rows remain (a filter admitted none of those examined): it is sent
    // all the same, so one sync never holds the strand for a whole table.
    const bool done = sync_entities_done_ && sync_table_ >= schema_.tables.size();
    if (done && chunk.created.empty() && chunk.tables.empty()) {
      replication::encode_sync_end(sync_version_, out);
      sent_ = std::max(sent_, sync_version_);
      sync_view_.reset();  // the pinned version is released as soon as the sync is out
    } else {
      replication::encode_sync_chunk(chunk, schema_, out);
    }
    return to_message(out);
  }

  // ---- deltas ----
  // A published version for this client. While it keeps up, versions queue as they are (shared frames,
  // rendered once for every client at the same version); once it falls behind (more than kMaxPending
  // versions or client_buffer_bytes queued), everything is folded into its ChangeSet, which keeps only
  // keys and field masks: memory then follows the rows changed, whatever the number of versions.
  void queue(std::shared_ptr<const replication::HubDelta> d) {
    if (closed_ || closing_ || !live_) return;
    const std::uint64_t covered = sync_view_ != nullptr ? sync_version_ : sent_;
    if (d->delta->version <= covered) return;
    // A filtered client, or one whose subscription change is not sent yet, always goes through its
    // ChangeSet: its frames are its own. While a catch-up frame waits for its view to become durable, the
    // ChangeSet must stay at that view's version: later versions wait in the queue.
    if (durable_view_ == nullptr && (!changes_->empty() || changes_->filtered() || changes_->resubscribing())) {
      fold_pending();
      if (changes_->empty()) changes_since_ns_ = d->unix_ns;
      changes_->fold(*d->delta);
      server_->counters.coalesced.fetch_add(1, std::memory_order_relaxed);
    } else {
      pending_bytes_ += replication::DeltaBacklog::delta_bytes(*d->delta);
      pending_.push_back(std::move(d));
      if (pending_.size() > kMaxPending || pending_bytes_ > server_->options.client_buffer_bytes) fold_pending();
    }
    write_next();
  }

  void fold_pending() {
    if (pending_.empty() || durable_view_ != nullptr) return;
    if (changes_->empty()) changes_since_ns_ = pending_.front()->unix_ns;
    for (const auto& p : pending_) changes_->fold(*p->delta);
    server_->counters.coalesced.fetch_add(pending_.size(), std::memory_order_relaxed);
    pending_.clear();
    pending_bytes_ = 0;
  }

  void arm_tick() {
    tick_timer_.expires_after(std::chrono::milliseconds(server_->options.tick_ms));
    tick_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->closed_) return;
      self->tick_due_ = true;
      self->write_next();
      self->arm_tick();
    });
  }

  // Retry in a millisecond: a durable-only client waiting for the log, or a catch-up frame waiting for the
  // hub to hand over the version a fresh view shows.
  void retry_soon() {
    if (durable_wait_) return;
    durable_wait_ = true;
    timer_.expires_after(std::chrono::milliseconds(1));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      self->durable_wait_ = false;
      if (!ec) self->write_next();
    });
  }

  std::shared_ptr<const std::string> next_delta_frame() {
    const bool ticking = server_->options.tick_ms != 0;
    if (ticking && !tick_due_) return nullptr;
    if (ticking && pending_.size() > 1) fold_pending();  // at most one frame per tick
    if (changes_->filtered() || changes_->resubscribing()) fold_pending();  // its frames are its own
    if (durable_view_ != nullptr || changes_->has_frame()) return next_catch_up_frame();
    if (pending_.empty()) return nullptr;
    if (durable_only_ && pending_.front()->delta->version > db_.durable_version()) {
      retry_soon();
      return nullptr;
    }
    std::shared_ptr<const replication::HubDelta> p = std::move(pending_.front());
    pending_.pop_front();
    pending_bytes_ -= std::min(pending_bytes_, replication::DeltaBacklog::delta_bytes(*p->delta));
    tick_due_ = false;
    const std::uint64_t from = sent_;
    const Delta& d = *p->delta;
    auto frame = p->message(replication::HubDelta::Format::kReplicationFrame, from, wanted_, [&] {
      Bytes out;
      replication::encode_delta_frame(from, d.version, p->unix_ns, d, schema_, wanted_, out);
      return std::string(reinterpret_cast<const char*>(out.data()), out.size());
    });
    sent_ = d.version;
    if (!watches_.empty() || writes_in_flight_ > 0) remember_sent(from, p->delta);
    check_watches();
    return frame;
  }

  // The state-based catch-up: what changed since the version sent, with the values of a view of the
  // newest version folded (so the view must be exactly that version: when the database is already ahead
  // of what the hub has handed over, wait for the hub).
  std::shared_ptr<const std::string> next_catch_up_frame() {
    // Nothing folded: a subscription change alone, at the version the client has (a DELTA from V to V).
    const std::uint64_t expected = changes_->empty() ? sent_ : changes_->version();
    std::shared_ptr<PinnedView> view = std::move(durable_view_);
    if (view == nullptr) {
      view = std::make_shared<PinnedView>(db_.pin());
      if (view->version() != expected) {
        retry_soon();
        return nullptr;
      }
    }
    // A durable-only client: the view is kept (and the ChangeSet held at its version) until the log has it.
    // Waiting for the newest version to be durable instead would never end under a steady stream of commits.
    if (durable_only_ && view->version() > db_.durable_version()) {
      durable_view_ = std::move(view);
      retry_soon();
      return nullptr;
    }
    const std::uint64_t published_ns = changes_->empty() ? base::unix_nanos() : changes_since_ns_;
    auto d = std::make_shared<Delta>(changes_->build(*view));
    view.reset();
    const std::uint64_t from = sent_;
    Bytes out;
    // The ChangeSet already chose the tables (a subscription change also deletes rows of dropped ones).
    replication::encode_delta_frame(from, d->version, published_ns, *d, schema_, {}, out);
    sent_ = d->version;
    changes_->clear();
    tick_due_ = false;
    if (!watches_.empty() || writes_in_flight_ > 0) remember_sent(from, d);
    check_watches();
    return to_message(out);
  }

  // ---- client writes ----
  void write(replication::WriteRequest w) {
    if (!access_.write) {
      server_->counters.refused.fetch_add(1);
      return close_with(StatusCode::kPermissionDenied, "token '" + access_.name + "' may not write");
    }
    if (w.ops.size() > server_->options.max_ops_per_write) {
      return reject(w.request_id, StatusCode::kInvalidArgument,
                    "a write holds at most " + std::to_string(server_->options.max_ops_per_write) + " operations");
    }
    if (!take_write_token()) {
      return reject(w.request_id, StatusCode::kResourceExhausted,
                    "write rate above " + std::to_string(server_->options.max_writes_per_second) + " per second");
    }
    for (const replication::WriteOp& op : w.ops) {
      if (op.kind == replication::WriteOpKind::kDestroy) {
        // Destroying an entity removes its rows in every table: only a token that may write them all may.
        if (access_.write_tables.empty()) continue;
        return reject(w.request_id, StatusCode::kPermissionDenied,
                      "token '" + access_.name + "' may not destroy entities: that removes rows of tables it may not write");
      }
      const Table& t = schema_.tables[op.table];
      const bool writable = access_.write_tables.empty() ||
                            std::find(access_.write_tables.begin(), access_.write_tables.end(), t.name) != access_.write_tables.end();
      if (!writable) return reject(w.request_id, StatusCode::kPermissionDenied, "token '" + access_.name + "' may not write table '" + t.name + "'");
    }
    ++writes_in_flight_;
    auto ops = std::make_shared<std::vector<replication::WriteOp>>(std::move(w.ops));
    const std::uint64_t request = w.request_id;
    auto body = [ops, access = access_, &schema = schema_](Transaction& tx) { return apply_write(tx, schema, access, *ops); };
    db_.submit(body, [self = shared_from_this(), ops, request](const Status& outcome, std::uint64_t version) {
      net::post(self->strand_, [self, ops, request, outcome, version] { self->write_resolved(request, *ops, outcome, version); });
    });
  }

  bool take_write_token() {
    const std::uint32_t rate = server_->options.max_writes_per_second;
    if (rate == 0) return true;
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - tokens_at_).count();
    tokens_at_ = now;
    write_tokens_ = std::min<double>(rate, write_tokens_ + elapsed * rate);
    if (write_tokens_ < 1) return false;
    write_tokens_ -= 1;
    return true;
  }

  // Writer thread: the operations of one client write, in order, in the body of one transaction.
  static Status apply_write(Transaction& tx, const Schema& schema, const ReplicationAccess& access,
                            const std::vector<replication::WriteOp>& ops) {
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const replication::WriteOp& op = ops[i];
      const std::string at = "operation " + std::to_string(i) + ": ";
      if (op.kind == replication::WriteOpKind::kDestroy) {
        ECSDB_RETURN_IF_ERROR(check_owner(tx, schema, access, op.key, at));
        if (Status s = tx.destroy(Entity::from_bits(op.key)); !s.is_ok()) return Status(s.code(), at + s.message());
        continue;
      }
      const Table& t = schema.tables[op.table];
      if (t.is_entity_table) return invalid_argument(at + "table '" + t.name + "' is written by creating and destroying entities");
      const bool many = t.cardinality == Cardinality::kMany;
      // Ownership is decided by the row's entity, or the owner of an inserted `many` row; other `many` rows
      // are keyed by row id and cannot be checked (refused when ownership is on).
      const std::uint64_t entity = many && op.kind != replication::WriteOpKind::kInsert ? 0 : op.key;
      if (!access.owner_field.empty() && entity == 0) {
        return Status(StatusCode::kPermissionDenied, at + "rows of '" + t.name + "' cannot be checked for ownership");
      }
      ECSDB_RETURN_IF_ERROR(check_owner(tx, schema, access, entity, at));
      Status s;
      switch (op.kind) {
        case replication::WriteOpKind::kPut:
          if (many) return invalid_argument(at + "table '" + t.name + "' has cardinality many: insert rows instead");
          s = tx.put_row(t.name, Entity::from_bits(op.key), row_values(t, ~0ull, op.bytes.data(), true));
          break;
        case replication::WriteOpKind::kInsert:
          if (!many) return invalid_argument(at + "table '" + t.name + "' has cardinality one: put its row instead");
          s = tx.insert_row(t.name, Entity::from_bits(op.key), row_values(t, ~0ull, op.bytes.data(), true)).status();
          break;
        case replication::WriteOpKind::kUpdate:
          for (auto& [field, value] : row_values(t, op.field_mask, op.bytes.data(), false)) {
            s = tx.set_field(t.name, op.key, field, value);
            if (!s.is_ok()) break;
          }
          break;
        case replication::WriteOpKind::kRemove:
          s = tx.remove_row(t.name, op.key);
          break;
        case replication::WriteOpKind::kDestroy:
          break;
      }
      if (!s.is_ok()) return Status(s.code(), at + s.message());
    }
    return Status::ok();
  }

  // The fields of `mask` as Values, from a whole row (whole_row) or from packed masked bytes.
  static Row row_values(const Table& t, std::uint64_t mask, const std::byte* bytes, bool whole_row) {
    std::vector<std::byte> image;
    const std::byte* row = bytes;
    if (!whole_row) {
      image.assign(t.stride(), std::byte{0});
      unpack_fields(t, mask, bytes, image.data());
      row = image.data();
    }
    Row values;
    for (std::uint16_t id : t.layout.row_order) {
      if ((mask & field_bit(id)) == 0) continue;
      const Field& f = t.layout.fields[id];
      values.emplace_back(f.name, storage::decode_value(f.type, row + f.offset));
    }
    return values;
  }

  // Row ownership (ReplicationAccess::owner_field "Table.field"): the entity's row in that table must name
  // the client's owner entity.
  static Status check_owner(Transaction& tx, const Schema& schema, const ReplicationAccess& access, std::uint64_t entity,
                            const std::string& at) {
    if (access.owner_field.empty()) return Status::ok();
    const auto dot = access.owner_field.find('.');
    const std::string table = access.owner_field.substr(0, dot);
    const std::string field = dot == std::string::npos ? "" : access.owner_field.substr(dot + 1);
    const Table* t = schema.find_table(table);
    if (t == nullptr || t->find_field(field) == nullptr) {
      return Status(StatusCode::kFailedPrecondition, "owner field '" + access.owner_field + "' is not in the schema");
    }
    auto row = tx.read_row(table, entity);
    const Entity e = Entity::from_bits(entity);
    const std::string who = std::to_string(e.index()) + ":" + std::to_string(e.generation());
    if (!row) return Status(StatusCode::kPermissionDenied, at + "entity " + who + " has no '" + table + "' row: not owned by '" + access.name + "'");
    for (const auto& [name, value] : *row) {
      if (name == field && value.kind == Value::Kind::kEntity && value.entity.bits() == access.owner) return Status::ok();
    }
    return Status(StatusCode::kPermissionDenied, at + "entity " + who + " is not owned by '" + access.name + "'");
  }

  void reject(std::uint64_t request, StatusCode code, const std::string& message) {
    server_->counters.writes_rejected.fetch_add(1);
    std::lock_guard lock(info_mu_);
    ++info_.writes_rejected;
    replication::WriteResult r{request, false, 0, static_cast<std::uint16_t>(code), message};
    Bytes out;
    replication::encode_write_result(r, out);
    control_.push_back(to_message(out));
    net::post(strand_, [self = shared_from_this()] { self->write_next(); });
  }

  void write_resolved(std::uint64_t request, const std::vector<replication::WriteOp>& ops, const Status& outcome,
                      std::uint64_t version) {
    --writes_in_flight_;
    if (closed_) return;
    if (!outcome.is_ok()) return reject(request, outcome.code(), outcome.message());
    server_->counters.writes_committed.fetch_add(1);
    {
      std::lock_guard lock(info_mu_);
      ++info_.writes_committed;
    }
    replication::WriteResult r{request, true, version, 0, {}};
    Bytes out;
    replication::encode_write_result(r, out);
    control_.push_back(to_message(out));
    for (const replication::WriteOp& op : ops) {
      const Table& t = schema_.tables[op.table];
      if (op.kind == replication::WriteOpKind::kUpdate) {
        WriteWatch w{request, version, op.table, op.key, op.field_mask, std::vector<std::byte>(t.stride())};
        unpack_fields(t, op.field_mask, op.bytes.data(), w.row.data());
        watches_.push_back(std::move(w));
      } else if (op.kind == replication::WriteOpKind::kPut) {
        watches_.push_back({request, version, op.table, op.key, stored_fields_mask(t), op.bytes});
      }
    }
    check_watches();
    write_next();
  }

  // Frames sent while writes are in flight, kept (a few) until their watches are checked: a write's answer
  // can come after the frame that carried it.
  void remember_sent(std::uint64_t from, std::shared_ptr<const Delta> d) {
    recent_.push_back({from, std::move(d)});
    while (recent_.size() > 16) recent_.pop_front();
  }

  // For each watched write whose version the client has been sent: did the frame that carried it hold the
  // written values? Fields that differ were overwritten by a later commit before the client saw its own.
  void check_watches() {
    for (auto it = watches_.begin(); it != watches_.end();) {
      if (it->version > sent_) {
        ++it;
        continue;
      }
      const Delta* carrier = nullptr;
      for (const auto& [from, d] : recent_) {
        if (from < it->version && it->version <= d->version) carrier = d.get();
      }
      if (carrier != nullptr) {
        const std::uint64_t differ = differing_fields(*carrier, *it);
        if (differ != 0) {
          server_->counters.overwritten.fetch_add(1);
          replication::Overwritten o{it->request_id, sent_, it->table, it->key, differ};
          Bytes out;
          replication::encode_overwritten(o, out);
          control_.push_back(to_message(out));
        }
      }
      it = watches_.erase(it);
    }
    if (watches_.empty() && writes_in_flight_ == 0) recent_.clear();
  }

  std::uint64_t differing_fields(const Delta& d, const WriteWatch& w) const {
    const TableDelta* td = d.find(w.table);
    if (td == nullptr) return 0;
    const Table& t = schema_.tables[w.table];
    if (std::find(td->deleted_keys.begin(), td->deleted_keys.end(), w.key) != td->deleted_keys.end() &&
        std::find(td->inserted_keys.begin(), td->inserted_keys.end(), w.key) == td->inserted_keys.end()) {
      return w.mask;  // removed
    }
    std::vector<std::byte> row(t.stride());
    std::uint64_t carried = 0;
    for (std::size_t i = 0; i < td->inserted_keys.size(); ++i) {
      if (td->inserted_keys[i] == w.key) {
        std::memcpy(row.data(), td->inserted_rows.data() + i * t.stride(), t.stride());
        carried = ~0ull;
      }
    }
    for (const RowUpdate& u : td->updates) {
      if (u.key == w.key) {
        unpack_fields(t, u.field_mask, td->update_bytes.data() + u.offset, row.data());
        carried |= u.field_mask;
      }
    }
    std::uint64_t differ = 0;
    for (std::uint16_t id : t.layout.row_order) {
      const Field& f = t.layout.fields[id];
      if ((w.mask & field_bit(id)) == 0 || (carried & field_bit(id)) == 0) continue;
      if (std::memcmp(row.data() + f.offset, w.row.data() + f.offset, f.type.size) != 0) differ |= field_bit(id);
    }
    return differ;
  }

  // ---- output ----
  void control(const Bytes& frame) { control_.push_back(to_message(frame)); }

  void write_next() {
    if (writing_ || closed_) return;
    std::shared_ptr<const std::string> frame;
    if (!control_.empty()) {
      frame = std::move(control_.front());
      control_.pop_front();
    } else if (closing_) {
      transport_->close();
      return closed(close_reason_);
    } else if (sync_view_ != nullptr) {
      frame = next_sync_frame();
    } else if (live_) {
      frame = next_delta_frame();
      if (!control_.empty() && frame == nullptr) return write_next();
    }
    if (frame == nullptr) return;
    const std::size_t uncompressed = frame->size();
    if (compressor_ && uncompressed >= server_->options.compress_min_bytes) {
      auto packed = std::make_shared<std::string>();
      const auto* bytes = reinterpret_cast<const std::byte*>(frame->data());
      if (Status s = compressor_->compress(std::span(bytes, frame->size()), *packed); !s.is_ok()) {
        return closed("compressing a frame: " + s.message());
      }
      frame = std::move(packed);
    }
    writing_ = true;
    transport_->write(frame, [self = shared_from_this(), uncompressed](boost::system::error_code ec, std::size_t n) {
      self->writing_ = false;
      if (ec) return self->closed(ec.message());
      self->server_->counters.frames_sent.fetch_add(1, std::memory_order_relaxed);
      self->server_->counters.bytes_sent.fetch_add(n, std::memory_order_relaxed);
      self->server_->counters.bytes_uncompressed.fetch_add(uncompressed, std::memory_order_relaxed);
      self->bytes_uncompressed_ += uncompressed;
      self->bytes_sent_ += n;
      ++self->frames_sent_;
      self->update_info();
      self->write_next();
    });
  }

  void update_info() {
    std::lock_guard lock(info_mu_);
    info_.sent_version = sent_;
    info_.acked_version = acked_;
    const std::uint64_t published = db_.published_version();
    info_.lag_versions = published > acked_ ? published - acked_ : 0;
    info_.bytes_sent = bytes_sent_;
    info_.bytes_uncompressed = bytes_uncompressed_;
    info_.frames_sent = frames_sent_;
    info_.backlog_bytes = pending_bytes_ + (changes_ ? changes_->bytes() : 0);
    info_.connected_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - connected_at_).count();
    info_.bytes_per_second = info_.connected_seconds > 0 ? static_cast<double>(bytes_sent_) / info_.connected_seconds : 0;
  }

  // A malformed, oversized or unauthorised frame: CLOSE with the reason, then the connection ends.
  void refuse(const std::string& reason) {
    server_->counters.refused.fetch_add(1);
    close_with(StatusCode::kInvalidArgument, reason);
  }

  void close_with(StatusCode code, const std::string& reason) {
    if (closed_ || closing_) return;
    spdlog::warn("replication client {} ({}): closing: {}", id_, address_, reason);
    control_.clear();
    Bytes out;
    replication::encode_close({static_cast<std::uint16_t>(code), reason}, out);
    control(out);
    closing_ = true;
    close_reason_ = reason;
    sync_view_.reset();
    durable_view_.reset();
    pending_.clear();
    write_next();
  }

  void closed(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    tick_timer_.cancel();
    sync_view_.reset();
    durable_view_.reset();
    pending_.clear();
    server_->hub.remove(this);
    transport_->close();
    if (live_) spdlog::info("replication client {} ({}) disconnected: {}", id_, address_, why);
  }

  std::shared_ptr<ReplicationServer::Impl> server_;
  Database& db_;
  const Schema& schema_;
  std::unique_ptr<replication::FrameTransport> transport_;
  net::any_io_executor strand_;  // the transport's strand: every handler of this session runs on it
  net::steady_timer timer_;
  net::steady_timer tick_timer_;
  replication::FrameReader reader_;
  static constexpr std::size_t kMaxPending = 8;
  std::deque<std::shared_ptr<const replication::HubDelta>> pending_;  // versions not sent yet, while keeping up
  std::size_t pending_bytes_ = 0;
  std::optional<replication::ChangeSet> changes_;  // fallen behind: what changed since sent_ (keys, masks)
  std::uint64_t changes_since_ns_ = 0;             // publish time of the oldest version folded
  std::shared_ptr<PinnedView> durable_view_;       // durable-only: the catch-up frame's view, until durable
  const std::uint64_t id_;
  const std::chrono::steady_clock::time_point connected_at_;
  const std::string address_;
  ReplicationAccess access_;
  std::vector<bool> wanted_;
  std::vector<std::string> table_names_;
  std::size_t filter_count_ = 0;
  bool durable_only_ = false;
  bool live_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool tick_due_ = false;
  bool durable_wait_ = false;
  std::string close_reason_;
  std::deque<std::shared_ptr<const std::string>> control_;
  std::uint64_t sent_ = 0;
  std::uint64_t acked_ = 0;
  std::uint64_t bytes_sent_ = 0;
  std::uint64_t bytes_uncompressed_ = 0;
  std::optional<replication::FrameCompressor> compressor_;  // the client asked for zstd (one stream, in frame order)
  std::uint64_t frames_sent_ = 0;
  // full sync in progress (sync_view_ set)
  std::shared_ptr<PinnedView> sync_view_;
  std::uint64_t sync_version_ = 0;
  std::size_t sync_table_ = 0;
  std::uint32_t sync_row_ = 0;
  std::uint32_t sync_entity_ = 0;
  bool sync_entities_done_ = false;
  // writes
  double write_tokens_ = 0;
  std::chrono::steady_clock::time_point tokens_at_ = std::chrono::steady_clock::now();
  std::uint32_t writes_in_flight_ = 0;
  std::vector<WriteWatch> watches_;
  std::deque<std::pair<std::uint64_t, std::shared_ptr<const Delta>>> recent_;

  mutable std::mutex info_mu_;
  ReplicationClientInfo info_;
};

void ReplicationServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(io), [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
    if (self->stopping.load()) return;
    if (!ec) self->adopt(std::make_unique<TcpTransport>(std::move(socket)));
    self->accept();
  });
}

void ReplicationServer::Impl::adopt(std::unique_ptr<replication::FrameTransport> transport) {
  if (stopping.load()) return transport->close();
  connections_total.fetch_add(1);
  if (live_sessions() >= options.max_clients) {
    // Told why before the connection closes.
    Bytes out;
    replication::encode_close({static_cast<std::uint16_t>(StatusCode::kResourceExhausted),
                               "too many replication clients (max_clients " + std::to_string(options.max_clients) + ")"},
                              out);
    auto frame = to_message(out);
    replication::FrameTransport* t = transport.get();
    t->write(frame, [transport = std::shared_ptr<replication::FrameTransport>(std::move(transport))](boost::system::error_code, std::size_t) {
      transport->close();
    });
    return;
  }
  auto s = std::make_shared<ReplicaSession>(shared_from_this(), std::move(transport), next_id.fetch_add(1));
  {
    std::lock_guard lock(mu);
    sessions.push_back(s);
  }
  s->start();
}

std::size_t ReplicationServer::Impl::live_sessions() {
  std::lock_guard lock(mu);
  std::erase_if(sessions, [](const std::weak_ptr<ReplicaSession>& w) { return w.expired(); });
  return sessions.size();
}

ReplicationServer::ReplicationServer(Database& db, ReplicationOptions options, net::io_context* shared)
    : impl_(std::make_shared<Impl>(db, std::move(options), shared)) {}

ReplicationServer::~ReplicationServer() {
  try {
    stop();
  } catch (...) {  // stop() allocates (posting to the event loop); nothing else can be done in a destructor
  }
}

Status ReplicationServer::start() {
  const std::string where = impl_->options.address + ":" + std::to_string(impl_->options.port);
  boost::system::error_code ec;
  if (!impl_->options.listen) {
    ECSDB_RETURN_IF_ERROR(impl_->hub.start(impl_->db));
    if (impl_->own_context != nullptr) {
      impl_->work.emplace(net::make_work_guard(impl_->io));
      impl_->threads.emplace_back([this] { impl_->io.run(); });
    }
    return Status::ok();
  }
  const auto address = net::ip::make_address(impl_->options.address, ec);
  if (ec) return invalid_argument("replication address '" + impl_->options.address + "': " + ec.message());
  const tcp::endpoint ep(address, impl_->options.port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status(StatusCode::kUnavailable, "cannot listen for replication on " + where + ": " + ec.message());
  ECSDB_RETURN_IF_ERROR(impl_->hub.start(impl_->db));
  impl_->accept();
  if (impl_->own_context != nullptr) {
    impl_->work.emplace(net::make_work_guard(impl_->io));
    for (std::uint32_t i = 0; i < std::max<std::uint32_t>(1, impl_->options.threads); ++i) {
      impl_->threads.emplace_back([this] { impl_->io.run(); });
    }
  }
  return Status::ok();
}

void ReplicationServer::adopt(std::unique_ptr<replication::FrameTransport> transport) { impl_->adopt(std::move(transport)); }

std::uint16_t ReplicationServer::port() const noexcept {
  try {
    boost::system::error_code ec;
    const auto ep = impl_->acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
  } catch (...) {  // local_endpoint(ec) reports through ec; Asio's signature does not say noexcept
    return 0;
  }
}

void ReplicationServer::stop() {
  if (impl_->stopping.exchange(true)) return;
  // The acceptor and sessions live on the io_context's threads: close them there, then wait for the goodbyes.
  std::promise<void> closed;
  net::post(impl_->io, [this, &closed] {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    closed.set_value();
  });
  if (impl_->own_context != nullptr || !impl_->io.stopped()) closed.get_future().wait_for(std::chrono::seconds(2));
  std::vector<std::shared_ptr<ReplicaSession>> live;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& w : impl_->sessions) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->shutdown("server shutting down");
  impl_->hub.stop();
  // Give the CLOSE frames a moment to go out, then stop our own threads.
  for (int i = 0; i < 100 && impl_->live_sessions() > 0 && !impl_->io.stopped(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  live.clear();
  if (impl_->own_context != nullptr) {
    impl_->work.reset();
    impl_->io.stop();
    for (auto& t : impl_->threads) t.join();
    impl_->threads.clear();
  }
}

std::vector<ReplicationClientInfo> ReplicationServer::clients() const {
  std::vector<ReplicationClientInfo> out;
  std::lock_guard lock(impl_->mu);
  for (const auto& w : impl_->sessions) {
    if (auto s = w.lock()) {
      ReplicationClientInfo i = s->info();
      if (i.id != 0) out.push_back(std::move(i));
    }
  }
  return out;
}

ReplicationStats ReplicationServer::stats() const {
  ReplicationStats s;
  const auto& c = impl_->counters;
  for (const ReplicationClientInfo& i : clients()) {
    ++s.clients;
    s.backlog_bytes += i.backlog_bytes;
  }
  s.connections_total = impl_->connections_total.load();
  s.frames_sent = c.frames_sent.load();
  s.bytes_sent = c.bytes_sent.load();
  s.bytes_uncompressed = c.bytes_uncompressed.load();
  s.resubscribes = c.resubscribes.load();
  s.full_syncs = c.full_syncs.load();
  s.resumes = c.resumes.load();
  s.coalesced = c.coalesced.load();
  s.writes_committed = c.writes_committed.load();
  s.writes_rejected = c.writes_rejected.load();
  s.overwritten = c.overwritten.load();
  s.refused = c.refused.load();
  return s;
}

}  // namespace ecsdb
