// ecsdb/replica.hpp — a live, read-only local copy of (part of) a remote ECSDb, kept up to date over the
// replication protocol (docs/protocol.md, docs/replication.md).
//
//   ecsdb::ReplicaOptions o;
//   o.host = "127.0.0.1"; o.port = 7070; o.tables = {"Position", "Health"};
//   auto replica = ecsdb::Replica::connect(o).value();   // returns once the first full sync is applied
//   {
//     ecsdb::PinnedView view = replica->pin();           // the same zero-copy read API as an embedded DB
//     const Position* p = view.get<Position>(player);
//   }
//   auto ticket = replica->submit(ecsdb::ReplicaWrite().update(player, Position{1, 2, 3}));
//   ticket.wait();                                       // committed (with its version) or rejected
//
// One background thread owns the connection: it applies each frame as one local commit, published under
// the server's version number, so views, iteration and subscriptions work exactly as on the server's
// database. It reconnects with exponential back-off and resumes from its version (or takes a full sync
// when the server no longer has what it missed). Everything here is safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ecsdb/database.hpp"
#include "ecsdb/subscription_filter.hpp"

namespace ecsdb {

struct ReplicaOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7070;
  std::string token;
  std::vector<std::string> tables;      // empty: every table the token may read
  // Which rows of those tables (ecsdb/subscription_filter.hpp); empty: all. A filtered replica takes a
  // full sync of what its filters select at each connection (it is not resumed).
  std::vector<SubscriptionFilter> filters;
  bool durable_only = false;            // receive versions only once they are durable on the server
  bool compress = true;                 // ask for zstd-compressed frames (the server may decline)
  // The schema the application was built for: the server's must have the same layout (checked at
  // connect). Null: take the server's schema as it is (tools, `ecsdb replica`).
  std::shared_ptr<const Schema> schema;
  bool reconnect = true;
  std::uint32_t reconnect_min_ms = 50;  // back-off doubles from here...
  std::uint32_t reconnect_max_ms = 5000;  // ...up to here
  std::uint32_t connect_timeout_ms = 5000;  // connect() gives up after this without a first sync
  std::uint32_t max_frame_bytes = 256u << 20;
  DatabaseOptions database;             // of the local copy (reader slots, view ages); always in memory
  // Called on the replica's thread after each DELTA frame is applied and visible, with its version and
  // the lag from the server's publish (µs, CLOCK_REALTIME on both sides). Must not block.
  std::function<void(std::uint64_t version, std::uint64_t lag_us)> on_applied;
};

struct ReplicaStats {
  std::uint64_t version = 0;            // server version of the newest applied state
  std::uint64_t frames = 0;             // DELTA frames applied
  std::uint64_t duplicates = 0;         // frames ignored as already applied
  std::uint64_t bytes_received = 0;     // on the wire
  std::uint64_t bytes_uncompressed = 0; // the frames received, after zstd (= bytes_received without it)
  std::uint64_t full_syncs = 0;
  std::uint64_t resumes = 0;
  std::uint64_t reconnects = 0;
  // Server published -> applied here, on CLOCK_REALTIME (meaningful across machines only with synced clocks).
  std::uint64_t lag_p50_us = 0;
  std::uint64_t lag_p99_us = 0;
  std::uint64_t lag_max_us = 0;
  bool connected = false;
};

// A write for the server, applied there in order in one transaction. Table by name; row bytes in the
// table's layout (Schema: Table::layout). Typed helpers take bound component structs.
class ReplicaWrite {
 public:
  enum class Kind : std::uint8_t { kPut = 1, kUpdate = 2, kRemove = 3, kDestroy = 4, kInsert = 5 };
  struct Op {
    Kind kind;
    std::string table;
    std::uint64_t key;
    std::uint64_t field_mask;           // kUpdate: which fields `bytes` holds (in row order)
    std::vector<std::byte> bytes;
  };

  // Adds or replaces the row of `e` in a `one` table.
  ReplicaWrite& put(std::string_view table, Entity e, std::span<const std::byte> row);
  // Writes the fields in `field_mask` (bit = Field::id) from a whole row image.
  ReplicaWrite& update(std::string_view table, std::uint64_t key, std::uint64_t field_mask, std::span<const std::byte> row);
  ReplicaWrite& remove(std::string_view table, std::uint64_t key);
  ReplicaWrite& destroy(Entity e);
  // A new row of a `many` table, owned by `owner`.
  ReplicaWrite& insert(std::string_view table, Entity owner, std::span<const std::byte> row);

  template <BoundComponent T>
  ReplicaWrite& put(Entity e, const T& value) {
    return put(ComponentTraits<T>::table, e, as_bytes(value));
  }
  // Every field of T (all_fields) or those in `field_mask`.
  template <BoundComponent T>
  ReplicaWrite& update(Entity e, const T& value, std::uint64_t field_mask = ~0ull) {
    return update(ComponentTraits<T>::table, e.bits(), field_mask, as_bytes(value));
  }
  template <BoundComponent T>
  ReplicaWrite& remove(Entity e) {
    return remove(ComponentTraits<T>::table, e.bits());
  }

  const std::vector<Op>& ops() const noexcept { return ops_; }

 private:
  template <typename T>
  static std::span<const std::byte> as_bytes(const T& v) {
    return {reinterpret_cast<const std::byte*>(&v), sizeof(T)};
  }
  std::vector<Op> ops_;
};

// The answer to a write: committed (version: the server version that holds it; the replica has it once
// Replica::version() reaches it) or rejected (the reason).
struct WriteOutcome {
  Status status;
  std::uint64_t version = 0;
};

class ReplicaWriteTicket {
 public:
  struct State;
  ReplicaWriteTicket() = default;
  explicit ReplicaWriteTicket(std::shared_ptr<State> s) : s_(std::move(s)) {}
  std::uint64_t request_id() const noexcept;
  bool ready() const;
  WriteOutcome wait() const;
  // False when the timeout passed first.
  bool wait_for(std::chrono::milliseconds timeout) const;
  WriteOutcome outcome() const;  // REQUIRES: ready()

 private:
  std::shared_ptr<State> s_;
};

// One of this replica's committed writes whose fields another commit changed before the replica received
// the version with its write (last write wins in server commit order): the replica already holds the
// winner's values. A game corrects its prediction from them.
struct WriteOverwritten {
  std::uint64_t request_id = 0;
  std::uint64_t version = 0;            // the replica's version when it was told
  std::string table;
  std::uint64_t key = 0;
  std::uint64_t field_mask = 0;         // the fields whose values differ from the write
};

class Replica {
 public:
  // Connects, authenticates, subscribes and applies the first full sync; fails (naming the server's
  // reason) when that is refused or does not happen within connect_timeout_ms.
  static Result<std::unique_ptr<Replica>> connect(ReplicaOptions options);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // The local copy: read it like any database (pin, metadata, table ids). Never write to it.
  const Database& database() const noexcept;
  const Schema& schema() const noexcept;
  PinnedView pin() const noexcept;
  // Local subscription: one delta per applied frame (or full sync), as on the server.
  Result<Subscription> subscribe(const SubscriptionOptions& options = {});

  std::uint64_t version() const noexcept;
  // Waits until version() >= v; false on timeout or when the replica stopped.
  bool wait_for_version(std::uint64_t v, std::chrono::milliseconds timeout) const;

  // Changes the subscribed tables (keeping the filters) or the whole subscription on the live connection.
  // The server sends only the difference: rows now selected arrive, rows no longer selected are removed,
  // in one frame applied as one local commit. Not connected: it applies at the next connection.
  Status set_tables(const std::vector<std::string>& tables);
  Status set_subscription(const std::vector<std::string>& tables, const std::vector<SubscriptionFilter>& filters);
  // Sends a write to the server; the ticket resolves with its outcome (rejected at once when disconnected).
  ReplicaWriteTicket submit(const ReplicaWrite& write);
  // Overwritten-write notices received since the last call.
  std::vector<WriteOverwritten> take_overwritten();

  ReplicaStats stats() const;
  // Ok while the replica runs (connected or reconnecting); the error that stopped it otherwise (refused by
  // the server, schema mismatch, a frame it could not apply).
  Status status() const;
  // Disconnects and stops; the local copy stays readable.
  void close();

  struct Impl;

 private:
  explicit Replica(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ecsdb
