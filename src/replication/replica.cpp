// Replica: the client side of the replication protocol over a plain POSIX TCP socket (no Boost for
// embedders), one background thread that owns the connection and the local database's writer.
#include "ecsdb/replica.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "base/latency_histogram.hpp"
#include "replication/compression.hpp"
#include "replication/protocol.hpp"
#include "txn/database_access.hpp"

namespace ecsdb {

using replication::FrameType;

// ---- ReplicaWrite ----

ReplicaWrite& ReplicaWrite::put(std::string_view table, Entity e, std::span<const std::byte> row) {
  ops_.push_back({Kind::kPut, std::string(table), e.bits(), 0, {row.begin(), row.end()}});
  return *this;
}
ReplicaWrite& ReplicaWrite::update(std::string_view table, std::uint64_t key, std::uint64_t field_mask,
                                   std::span<const std::byte> row) {
  ops_.push_back({Kind::kUpdate, std::string(table), key, field_mask, {row.begin(), row.end()}});
  return *this;
}
ReplicaWrite& ReplicaWrite::remove(std::string_view table, std::uint64_t key) {
  ops_.push_back({Kind::kRemove, std::string(table), key, 0, {}});
  return *this;
}
ReplicaWrite& ReplicaWrite::destroy(Entity e) {
  ops_.push_back({Kind::kDestroy, {}, e.bits(), 0, {}});
  return *this;
}
ReplicaWrite& ReplicaWrite::insert(std::string_view table, Entity owner, std::span<const std::byte> row) {
  ops_.push_back({Kind::kInsert, std::string(table), owner.bits(), 0, {row.begin(), row.end()}});
  return *this;
}

// ---- tickets ----

struct ReplicaWriteTicket::State {
  std::uint64_t id = 0;
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  bool done = false;
  WriteOutcome outcome;

  void resolve(WriteOutcome o) {
    {
      std::lock_guard lock(mu);
      if (done) return;
      done = true;
      outcome = std::move(o);
    }
    cv.notify_all();
  }
};

std::uint64_t ReplicaWriteTicket::request_id() const noexcept { return s_ ? s_->id : 0; }
bool ReplicaWriteTicket::ready() const {
  std::lock_guard lock(s_->mu);
  return s_->done;
}
WriteOutcome ReplicaWriteTicket::wait() const {
  std::unique_lock lock(s_->mu);
  s_->cv.wait(lock, [&] { return s_->done; });
  return s_->outcome;
}
bool ReplicaWriteTicket::wait_for(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(s_->mu);
  return s_->cv.wait_for(lock, timeout, [&] { return s_->done; });
}
WriteOutcome ReplicaWriteTicket::outcome() const {
  std::lock_guard lock(s_->mu);
  return s_->outcome;
}

// ---- the connection ----

namespace {

// How a connection ended: try again (network, server restart) or stop (the server refused us for good, or
// the replica cannot apply what it was sent).
struct Ended {
  bool fatal;
  Status why;
};

bool is_fatal_close(StatusCode code) {
  return code == StatusCode::kPermissionDenied || code == StatusCode::kFailedPrecondition ||
         code == StatusCode::kInvalidArgument || code == StatusCode::kNotFound;
}

}  // namespace

struct Replica::Impl {
  explicit Impl(ReplicaOptions o) : options(std::move(o)), tables(options.tables), filters(options.filters) {
    options.database.data_dir.clear();
  }

  ReplicaOptions options;
  std::shared_ptr<const Schema> schema;
  std::unique_ptr<Database> db;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<int> fd{-1};
  std::mutex send_mu;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::atomic<std::uint64_t> version{0};
  Status status;             // guarded by mu
  bool stopped = false;      // guarded by mu
  bool first_sync = false;   // guarded by mu
  std::vector<std::string> tables;  // guarded by mu: the subscription, resent on reconnect
  std::vector<SubscriptionFilter> filters;  // guarded by mu
  // Counts subscription changes. Until a full sync that began after the last change is applied, the rows
  // held may not be what the server would resume from (a change made while disconnected, or one whose
  // difference was lost with the connection): the next connection then takes a full sync (applied as a
  // difference) instead of resuming.
  std::atomic<std::uint64_t> subscription_changes{0};
  std::uint64_t synced_changes = 0;    // subscription_changes a completed full sync covers
  std::uint64_t sync_began_changes = 0;  // subscription_changes when the sync in progress began
  bool full_sync_forced = false;       // a frame could not be applied: the next connection syncs in full
  std::unordered_map<std::uint64_t, std::shared_ptr<ReplicaWriteTicket::State>> writes;  // guarded by mu
  std::vector<WriteOverwritten> overwritten;  // guarded by mu
  std::atomic<std::uint64_t> next_request{1};

  std::atomic<std::uint64_t> frames{0}, duplicates{0}, bytes_received{0}, bytes_uncompressed{0}, full_syncs{0}, resumes{0}, reconnects{0};
  std::atomic<bool> connected{false};
  base::LatencyHistogram lag_us;
  std::uint64_t epoch = 0;  // the server incarnation our version belongs to (I/O thread only)

  // A full sync being received (I/O thread only).
  bool syncing = false;
  std::uint64_t sync_version = 0;
  Delta sync_state;
  std::vector<TableDelta> sync_tables;  // by table id

  void run();
  Ended session();
  std::optional<Ended> handle(std::uint8_t type, std::span<const std::byte> payload);
  Status apply_sync();
  bool send(const std::vector<std::byte>& frame);
  void finish(Status why);
};

namespace {

// A connected TCP socket (TCP_NODELAY) or an error naming host:port.
Result<int> connect_tcp(const std::string& host, std::uint16_t port, std::uint32_t timeout_ms) {
  const std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0) {
    return Status(StatusCode::kUnavailable, "cannot resolve " + where + ": " + ::gai_strerror(rc));
  }
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, static_cast<int>(timeout_ms)) == 1 ? 0 : -1;
      int err = rc == 0 ? 0 : ETIMEDOUT;
      socklen_t len = sizeof(err);
      if (rc == 0) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        errno = err;
        rc = -1;
      }
    }
    if (rc == 0) {
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      ::freeaddrinfo(found);
      return fd;
    }
    error = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return Status(StatusCode::kUnavailable, "cannot connect to " + where + ": " + error);
}

}  // namespace

bool Replica::Impl::send(const std::vector<std::byte>& frame) {
  std::lock_guard lock(send_mu);
  const int s = fd.load();
  if (s < 0) return false;
  std::size_t done = 0;
  while (done < frame.size()) {
    const ssize_t n = ::send(s, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{s, POLLOUT, 0};
      if (::poll(&p, 1, 1000) <= 0 && stop.load()) return false;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

void Replica::Impl::run() {
  std::uint32_t backoff = options.reconnect_min_ms;
  for (;;) {
    Ended e = session();
    if (connected.exchange(false)) backoff = options.reconnect_min_ms;
    {
      std::lock_guard lock(send_mu);
      if (int s = fd.exchange(-1); s >= 0) ::close(s);
    }
    // Writes in flight on a lost connection: the server may or may not have committed them.
    std::unordered_map<std::uint64_t, std::shared_ptr<ReplicaWriteTicket::State>> lost;
    {
      std::lock_guard lock(mu);
      lost.swap(writes);
    }
    for (auto& [id, w] : lost) {
      w->resolve({Status(StatusCode::kUnavailable, "connection lost before the answer: the write may or may not have committed (" +
                                                       e.why.message() + ")"),
                  0});
    }
    if (stop.load()) return finish(Status::ok());
    if (e.fatal || !options.reconnect) return finish(e.why);
    reconnects.fetch_add(1);
    for (std::uint32_t slept = 0; slept < backoff && !stop.load(); slept += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    backoff = std::min(options.reconnect_max_ms, backoff * 2);
  }
}

void Replica::Impl::finish(Status why) {
  {
    std::lock_guard lock(mu);
    stopped = true;
    if (status.is_ok()) status = std::move(why);
  }
  cv.notify_all();
}

Ended Replica::Impl::session() {
  auto s = connect_tcp(options.host, options.port, options.connect_timeout_ms);
  if (!s) return {false, s.status()};
  fd.store(*s);
  replication::Hello hello;
  hello.flags = (options.durable_only ? replication::kHelloDurableOnly : 0) | (options.compress ? replication::kHelloCompress : 0);
  hello.layout_hash = schema != nullptr ? schema->layout_hash() : options.schema != nullptr ? options.schema->layout_hash() : 0;
  const bool resumable = db != nullptr && synced_changes == subscription_changes.load() && !full_sync_forced;
  hello.last_version = resumable ? version.load() : 0;
  hello.epoch = epoch;
  hello.token = options.token;
  {
    std::lock_guard lock(mu);
    hello.tables = tables;
    hello.filters = filters;
  }
  std::vector<std::byte> out;
  replication::encode_hello(hello, out);
  if (!send(out)) return {false, Status(StatusCode::kUnavailable, "connection lost while sending HELLO")};
  replication::FrameReader reader(options.max_frame_bytes);
  replication::FrameDecompressor decompressor(options.max_frame_bytes);  // this connection's zstd stream
  std::array<std::byte, std::size_t{64} << 10> buffer{};
  syncing = false;
  while (!stop.load()) {
    pollfd p{fd.load(), POLLIN, 0};
    const int ready = ::poll(&p, 1, 50);
    if (ready < 0 && errno != EINTR) return {false, Status(StatusCode::kUnavailable, std::strerror(errno))};
    if (ready <= 0) continue;
    const ssize_t n = ::recv(p.fd, buffer.data(), buffer.size(), 0);
    if (n == 0) return {false, Status(StatusCode::kUnavailable, "the server closed the connection")};
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return {false, Status(StatusCode::kUnavailable, std::strerror(errno))};
    }
    bytes_received.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    reader.feed(std::span<const std::byte>(buffer.data(), static_cast<std::size_t>(n)));
    for (;;) {
      auto frame = reader.next();
      if (!frame) return {true, frame.status()};
      if (!*frame) break;
      std::uint8_t type = (*frame)->type;
      std::span<const std::byte> payload = (*frame)->payload;
      if (type == static_cast<std::uint8_t>(FrameType::kCompressed)) {
        if (!options.compress) return {true, invalid_argument("from the server: a COMPRESSED frame this replica did not ask for")};
        auto inner = decompressor.decompress(payload);
        if (!inner) return {true, Status(inner.status().code(), "from the server: " + inner.status().message())};
        type = static_cast<std::uint8_t>((*inner)[4]);
        payload = inner->subspan(replication::kFrameHeaderBytes);
      }
      bytes_uncompressed.fetch_add(replication::kFrameHeaderBytes + payload.size(), std::memory_order_relaxed);
      if (auto ended = handle(type, payload)) return *ended;
    }
  }
  return {false, Status::ok()};
}

std::optional<Ended> Replica::Impl::handle(std::uint8_t type, std::span<const std::byte> payload) {
  auto protocol_error = [](const Status& s) { return Ended{true, Status(s.code(), "from the server: " + s.message())}; };
  if (db == nullptr && type != static_cast<std::uint8_t>(FrameType::kWelcome) && type != static_cast<std::uint8_t>(FrameType::kClose)) {
    return protocol_error(invalid_argument(std::string("expected WELCOME, got ") + replication::frame_type_name(type)));
  }
  switch (static_cast<FrameType>(type)) {
    case FrameType::kWelcome: {
      auto w = replication::decode_welcome(payload);
      if (!w) return protocol_error(w.status());
      if (db == nullptr) {
        if (options.schema != nullptr) {
          schema = options.schema;
        } else {
          auto parsed = parse_schema(w->schema_text, "the server's schema");
          if (!parsed) return protocol_error(parsed.status());
          schema = *parsed;
        }
        if (schema->layout_hash() != w->layout_hash) {
          return Ended{true, Status(StatusCode::kFailedPrecondition, "schema mismatch: the server's layout differs from this replica's")};
        }
        auto opened = Database::open(schema, options.database);
        if (!opened) return Ended{true, opened.status()};
        db = std::move(*opened);
      }
      if (w->resume) resumes.fetch_add(1);
      epoch = w->epoch;
      {
        std::lock_guard lock(mu);
        tables = w->tables;
      }
      connected.store(true);
      return std::nullopt;
    }
    case FrameType::kSyncBegin: {
      auto b = replication::decode_sync_begin(payload);
      if (!b) return protocol_error(b.status());
      syncing = true;
      sync_began_changes = subscription_changes.load();
      sync_version = b->version;
      sync_state = Delta();
      sync_tables.assign(schema->tables.size(), TableDelta());
      return std::nullopt;
    }
    case FrameType::kSyncChunk: {
      if (!syncing) return protocol_error(invalid_argument("SYNC_CHUNK outside a sync"));
      auto c = replication::decode_sync_chunk(payload, *schema);
      if (!c) return protocol_error(c.status());
      sync_state.created.insert(sync_state.created.end(), c->created.begin(), c->created.end());
      for (TableDelta& t : c->tables) {
        TableDelta& into = sync_tables[t.table];
        into.inserted_keys.insert(into.inserted_keys.end(), t.inserted_keys.begin(), t.inserted_keys.end());
        into.inserted_owners.insert(into.inserted_owners.end(), t.inserted_owners.begin(), t.inserted_owners.end());
        into.inserted_rows.insert(into.inserted_rows.end(), t.inserted_rows.begin(), t.inserted_rows.end());
      }
      return std::nullopt;
    }
    case FrameType::kSyncEnd: {
      auto v = replication::decode_sync_end(payload);
      if (!v) return protocol_error(v.status());
      if (!syncing || *v != sync_version) return protocol_error(invalid_argument("SYNC_END without its SYNC_BEGIN"));
      syncing = false;
      if (Status s = apply_sync(); !s.is_ok()) return Ended{true, Status(s.code(), "applying the full sync: " + s.message())};
      synced_changes = sync_began_changes;
      full_sync_forced = false;
      full_syncs.fetch_add(1);
      std::vector<std::byte> out;
      replication::encode_ack(version.load(), out);
      send(out);
      {
        std::lock_guard lock(mu);
        first_sync = true;
      }
      cv.notify_all();
      return std::nullopt;
    }
    case FrameType::kDelta: {
      auto f = replication::decode_delta_frame(payload, *schema);
      if (!f) return protocol_error(f.status());
      const std::uint64_t have = version.load();
      // from = to = our version: a subscription change at that version (rows selected or dropped), sent
      // once; any other frame not past our version was applied already.
      const bool subscription_change = f->from_version == have && f->to_version == have;
      if (f->to_version <= have && !subscription_change) {
        duplicates.fetch_add(1);  // already applied (a replayed or duplicated frame)
        return std::nullopt;
      }
      if (f->from_version != have) {
        // A gap: something between was not received. Reconnect and resume from what we have.
        return Ended{false, Status(StatusCode::kAborted, "gap: a frame from version " + std::to_string(f->from_version) +
                                                              " while this replica is at " + std::to_string(have))};
      }
      if (Status s = detail::DatabaseAccess::core(*db).apply_replicated(f->delta, f->to_version); !s.is_ok()) {
        // The frame does not fit what this replica holds (apply_replicated changed nothing). Once, take a
        // full sync, applied as a difference: it repairs a replica whose rows and subscription disagreed.
        // A second failure in a row stops the replica.
        if (full_sync_forced) {
          return Ended{true, Status(s.code(), "applying version " + std::to_string(f->to_version) + ": " + s.message())};
        }
        full_sync_forced = true;
        return Ended{false, Status(s.code(), "applying version " + std::to_string(f->to_version) + ": " + s.message() +
                                                 " (reconnecting for a full sync)")};
      }
      version.store(f->to_version);
      frames.fetch_add(1, std::memory_order_relaxed);
      const std::uint64_t now = base::unix_nanos();
      const std::uint64_t lag = now > f->published_at_ns ? (now - f->published_at_ns) / 1000 : 0;
      lag_us.record(lag);
      if (options.on_applied) options.on_applied(f->to_version, lag);
      std::vector<std::byte> out;
      replication::encode_ack(f->to_version, out);
      send(out);
      { std::lock_guard lock(mu); }  // a waiter between its check and its wait still gets the notification
      cv.notify_all();
      return std::nullopt;
    }
    case FrameType::kWriteResult: {
      auto r = replication::decode_write_result(payload);
      if (!r) return protocol_error(r.status());
      std::shared_ptr<ReplicaWriteTicket::State> w;
      {
        std::lock_guard lock(mu);
        auto it = writes.find(r->request_id);
        if (it == writes.end()) return std::nullopt;
        w = std::move(it->second);
        writes.erase(it);
      }
      w->resolve(r->committed ? WriteOutcome{Status::ok(), r->version}
                              : WriteOutcome{Status(static_cast<StatusCode>(r->code), r->message), 0});
      return std::nullopt;
    }
    case FrameType::kOverwritten: {
      auto o = replication::decode_overwritten(payload);
      if (!o) return protocol_error(o.status());
      if (o->table >= schema->tables.size()) return protocol_error(invalid_argument("OVERWRITTEN names an unknown table"));
      std::lock_guard lock(mu);
      overwritten.push_back({o->request_id, o->version, schema->tables[o->table].name, o->key, o->field_mask});
      return std::nullopt;
    }
    case FrameType::kClose: {
      auto c = replication::decode_close(payload);
      if (!c) return protocol_error(c.status());
      const auto code = static_cast<StatusCode>(c->code);
      return Ended{is_fatal_close(code), Status(code, "the server closed the connection: " + c->reason)};
    }
    default:
      return protocol_error(invalid_argument(std::string("unexpected frame type ") + std::to_string(type)));
  }
}

// Turns the local state into the synced one with the smallest delta: entities and rows the server no longer
// has are removed, new ones inserted, changed rows updated (every field), equal rows left alone. Applied as
// one commit, so readers see either the old state or the new one.
Status Replica::Impl::apply_sync() {
  Delta d;
  // The difference from what the writer holds, which is what it is applied to: after a frame whose publish
  // ran out of memory, the published view is a version behind it. (This thread is the writer's owner.)
  const detail::VersionState& local = detail::DatabaseAccess::core(*db).working();
  std::unordered_map<std::uint32_t, std::uint32_t> server_alive;  // index -> generation
  server_alive.reserve(sync_state.created.size());
  for (Entity e : sync_state.created) server_alive.emplace(e.index(), e.generation());
  const detail::RegistryState& reg = local.registry;
  for (std::uint32_t i = 0; i < reg.used; ++i) {
    const auto* slot = reg.slot(i);
    if (!slot->alive()) continue;
    auto it = server_alive.find(i);
    if (it == server_alive.end() || it->second != slot->generation) d.destroyed.push_back(Entity(i, slot->generation));
  }
  for (Entity e : sync_state.created) {
    if (!reg.is_alive(e)) d.created.push_back(e);
  }
  for (const Table& table : schema->tables) {
    if (table.is_entity_table) continue;
    const detail::TableState& ts = local.tables[table.id];
    const TableDelta& server = sync_tables[table.id];
    const std::uint32_t stride = table.stride();
    std::unordered_map<std::uint64_t, std::size_t> theirs;  // key -> index in server's rows
    theirs.reserve(server.inserted_keys.size());
    for (std::size_t i = 0; i < server.inserted_keys.size(); ++i) theirs.emplace(server.inserted_keys[i], i);
    TableDelta td;
    td.table = table.id;
    const std::uint64_t all = stored_fields_mask(table);
    std::vector<bool> matched(server.inserted_keys.size(), false);
    for (std::uint32_t r = 0; r < ts.row_count; ++r) {
      const std::uint64_t key = ts.key_at(r, local.registry);
      auto it = theirs.find(key);
      if (it == theirs.end()) {
        td.deleted_keys.push_back(key);
        continue;
      }
      matched[it->second] = true;
      const std::byte* mine = stride == 0 ? nullptr : ts.rows.at(r);
      const std::byte* row = server.inserted_rows.data() + it->second * stride;
      if (stride != 0 && std::memcmp(mine, row, stride) != 0) {
        RowUpdate u{key, all, static_cast<std::uint32_t>(td.update_bytes.size()), 0};
        td.update_bytes.resize(td.update_bytes.size() + stride);
        u.size = pack_fields(table, all, row, td.update_bytes.data() + u.offset);
        td.update_bytes.resize(u.offset + u.size);
        td.updates.push_back(u);
      }
    }
    for (std::size_t i = 0; i < server.inserted_keys.size(); ++i) {
      if (matched[i]) continue;
      td.inserted_keys.push_back(server.inserted_keys[i]);
      if (!server.inserted_owners.empty()) td.inserted_owners.push_back(server.inserted_owners[i]);
      td.inserted_rows.insert(td.inserted_rows.end(), server.inserted_rows.begin() + static_cast<std::ptrdiff_t>(i * stride),
                              server.inserted_rows.begin() + static_cast<std::ptrdiff_t>((i + 1) * stride));
    }
    if (!td.empty()) d.tables.push_back(std::move(td));
  }
  sync_state = Delta();
  sync_tables.clear();
  ECSDB_RETURN_IF_ERROR(detail::DatabaseAccess::core(*db).apply_replicated(d, sync_version));
  // A resync to an older server version (one that lost unsynced commits in a crash) is applied too: the
  // local database's version numbers keep going up, version() follows the server.
  version.store(sync_version);
  return Status::ok();
}

// ---- Replica ----

Replica::Replica(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Replica::~Replica() { close(); }

Result<std::unique_ptr<Replica>> Replica::connect(ReplicaOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  Impl* p = impl.get();
  std::unique_ptr<Replica> replica(new Replica(std::move(impl)));
  p->thread = std::thread([p] { p->run(); });
  std::unique_lock lock(p->mu);
  const bool synced = p->cv.wait_for(lock, std::chrono::milliseconds(p->options.connect_timeout_ms),
                                     [&] { return p->first_sync || p->stopped; });
  if (p->first_sync) return replica;
  Status why = p->stopped ? p->status
                          : Status(StatusCode::kDeadlineExceeded, "no full sync from " + p->options.host + ":" +
                                                                      std::to_string(p->options.port) + " within " +
                                                                      std::to_string(p->options.connect_timeout_ms) + " ms");
  (void)synced;
  lock.unlock();
  replica->close();
  return why;
}

void Replica::close() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->stop.store(true);
  impl_->thread.join();
}

const Database& Replica::database() const noexcept { return *impl_->db; }
const Schema& Replica::schema() const noexcept { return *impl_->schema; }
PinnedView Replica::pin() const noexcept { return impl_->db->pin(); }
Result<Subscription> Replica::subscribe(const SubscriptionOptions& options) { return impl_->db->subscribe(options); }
std::uint64_t Replica::version() const noexcept { return impl_->version.load(); }

bool Replica::wait_for_version(std::uint64_t v, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->version.load() >= v || impl_->stopped; }) &&
         impl_->version.load() >= v;
}

Status Replica::set_tables(const std::vector<std::string>& tables) {
  std::vector<SubscriptionFilter> filters;
  {
    std::lock_guard lock(impl_->mu);
    filters = impl_->filters;
  }
  return set_subscription(tables, filters);
}

Status Replica::set_subscription(const std::vector<std::string>& tables, const std::vector<SubscriptionFilter>& filters) {
  for (const std::string& t : tables) {
    if (impl_->schema->find_table(t) == nullptr) return Status(StatusCode::kNotFound, "unknown table '" + t + "'");
  }
  {
    std::lock_guard lock(impl_->mu);
    impl_->tables = tables;
    impl_->filters = filters;
    impl_->subscription_changes.fetch_add(1);
  }
  std::vector<std::byte> out;
  replication::encode_subscribe({tables, filters}, out);
  if (!impl_->send(out)) return Status(StatusCode::kUnavailable, "not connected: the new subscription applies at the next connection");
  return Status::ok();
}

ReplicaWriteTicket Replica::submit(const ReplicaWrite& write) {
  auto state = std::make_shared<ReplicaWriteTicket::State>();
  state->id = impl_->next_request.fetch_add(1);
  replication::WriteRequest request;
  request.request_id = state->id;
  request.base_version = version();
  for (std::size_t i = 0; i < write.ops().size(); ++i) {
    const ReplicaWrite::Op& op = write.ops()[i];
    replication::WriteOp w;
    w.kind = static_cast<replication::WriteOpKind>(op.kind);
    w.key = op.key;
    w.field_mask = op.field_mask;
    if (op.kind != ReplicaWrite::Kind::kDestroy) {
      const Table* t = impl_->schema->find_table(op.table);
      const std::string at = "operation " + std::to_string(i) + ": ";
      if (t == nullptr) {
        state->resolve({Status(StatusCode::kNotFound, at + "unknown table '" + op.table + "'"), 0});
        return ReplicaWriteTicket(state);
      }
      w.table = t->id;
      const bool whole = op.kind == ReplicaWrite::Kind::kPut || op.kind == ReplicaWrite::Kind::kInsert;
      if ((whole || op.kind == ReplicaWrite::Kind::kUpdate) && op.bytes.size() != t->stride()) {
        state->resolve({invalid_argument(at + "table '" + t->name + "' rows are " + std::to_string(t->stride()) +
                                         " bytes, not " + std::to_string(op.bytes.size())),
                        0});
        return ReplicaWriteTicket(state);
      }
      if (op.kind == ReplicaWrite::Kind::kUpdate) {
        w.field_mask &= stored_fields_mask(*t);
        w.bytes.resize(t->stride());
        w.bytes.resize(pack_fields(*t, w.field_mask, op.bytes.data(), w.bytes.data()));
      } else {
        w.bytes = op.bytes;
      }
    }
    request.ops.push_back(std::move(w));
  }
  {
    std::lock_guard lock(impl_->mu);
    impl_->writes.emplace(state->id, state);
  }
  std::vector<std::byte> out;
  replication::encode_write(request, out);
  if (!impl_->send(out)) {
    {
      std::lock_guard lock(impl_->mu);
      impl_->writes.erase(state->id);
    }
    state->resolve({Status(StatusCode::kUnavailable, "not connected to the server"), 0});
  }
  return ReplicaWriteTicket(state);
}

std::vector<WriteOverwritten> Replica::take_overwritten() {
  std::lock_guard lock(impl_->mu);
  return std::exchange(impl_->overwritten, {});
}

ReplicaStats Replica::stats() const {
  ReplicaStats s;
  s.version = impl_->version.load();
  s.frames = impl_->frames.load();
  s.duplicates = impl_->duplicates.load();
  s.bytes_received = impl_->bytes_received.load();
  s.bytes_uncompressed = impl_->bytes_uncompressed.load();
  s.full_syncs = impl_->full_syncs.load();
  s.resumes = impl_->resumes.load();
  s.reconnects = impl_->reconnects.load();
  s.lag_p50_us = impl_->lag_us.quantile(0.5);
  s.lag_p99_us = impl_->lag_us.quantile(0.99);
  s.lag_max_us = impl_->lag_us.quantile(1.0);
  s.connected = impl_->connected.load();
  return s;
}

Status Replica::status() const {
  std::lock_guard lock(impl_->mu);
  return impl_->status;
}

}  // namespace ecsdb
