// ecsdb/replication_server.hpp — serves a Database to replicas over the binary replication protocol
// (docs/protocol.md, docs/replication.md).
//
//   ecsdb::ReplicationOptions opts;
//   opts.port = 7070;
//   ecsdb::ReplicationServer repl(*db, opts);
//   repl.start().ignore();        // binds, then serves from its own network thread(s)
//
// Each client gets a full sync of the tables it subscribes to (at one pinned version, in chunks), then one
// DELTA frame per published version (or per tick), coalesced into the latest state of what changed when it
// falls behind, so a slow client never makes the server buffer without bound. Clients may write: their
// transactions go through Database::submit like any other and are answered committed or rejected.
// `ecsdb serve --repl ADDR` attaches one to the server's io_context.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ecsdb/database.hpp"
#include "ecsdb/subscription_filter.hpp"

namespace boost::asio {
class io_context;
}
namespace ecsdb::replication {
class FrameTransport;  // internal (src/replication/frame_transport.hpp)
}

namespace ecsdb {

// What a token may do over replication. Empty table lists mean every table.
struct ReplicationAccess {
  std::string name;                       // shown in logs and client listings (never the token)
  bool write = false;                     // may send WRITE frames
  std::vector<std::string> read_tables;   // tables it may subscribe to
  std::vector<std::string> write_tables;  // tables its writes may touch
  // Row ownership: when set, a write may only touch entities whose `owner_field` (an entity reference in
  // the written table, e.g. "Player.owner") is `owner`, and rows of `many` tables owned by such entities.
  std::string owner_field;
  std::uint64_t owner = 0;
};

// A server-side row filter, for SubscriptionFilter::custom (interest management: a spatial query, a team, a
// zone). Called on network threads, concurrently for different clients: `admits` must be thread-safe.
class RowFilter {
 public:
  virtual ~RowFilter() = default;
  // Whether the client receives the row. `entity`: the row's entity (a `many` row: the entity that owns it);
  // `row`: its bytes in the table's layout (Table::layout), null for tables without stored fields.
  virtual bool admits(Entity entity, const std::byte* row) const = 0;
};
// Makes a client's filter for `table` from the parameters it sent; an error refuses the subscription (the
// message reaches the client in CLOSE).
using RowFilterFactory = std::function<Result<std::shared_ptr<const RowFilter>>(const Table& table, std::span<const std::byte> params)>;

struct ReplicationOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 7070;              // 0: any free port (see ReplicationServer::port)
  bool listen = true;                     // false: no TCP listener, clients come through adopt() only
  std::uint32_t threads = 1;              // network threads when the server runs its own io_context
  // Who may connect: called with the HELLO's token; nullopt refuses the client. Null: anyone may read and
  // write every table (the loopback default of `ecsdb serve`).
  std::function<std::optional<ReplicationAccess>(std::string_view token)> authenticate;
  std::uint32_t max_clients = 1024;
  std::uint32_t max_client_frame_bytes = 1u << 20;      // a client frame past this closes the connection
  std::uint64_t client_buffer_bytes = 4ull << 20;       // queued per client before deltas coalesce
  std::uint32_t sync_chunk_rows = 4096;                 // rows per SYNC_CHUNK
  std::uint32_t tick_ms = 0;              // 0: send each version as soon as it is published
  std::uint32_t max_writes_per_second = 1000;           // per client; 0: unlimited
  std::uint32_t max_ops_per_write = 1024;
  std::uint32_t hello_timeout_ms = 5000;
  std::uint32_t ring_versions = 256;      // recent versions kept to resume a reconnecting client
  // zstd for clients that ask for it (HELLO flag): frames of at least compress_min_bytes go out compressed,
  // through one stream per client whose window (2^compress_window_log bytes) spans frames.
  bool compression = true;
  int compression_level = 1;
  int compress_window_log = 18;
  std::uint32_t compress_min_bytes = 256;
  // Custom subscription filters by name (SubscriptionFilter::custom); the built-in ones (entity sets, field
  // comparisons) need nothing here.
  std::map<std::string, RowFilterFactory, std::less<>> custom_filters;
  std::uint32_t max_filter_entities = 65536;  // entities in one client's entity-set filters, all together
};

struct ReplicationClientInfo {
  std::uint64_t id = 0;
  std::string address;                    // "ip:port"
  std::string token_name;
  std::vector<std::string> tables;
  std::size_t filters = 0;                // subscription filters (SubscriptionFilter) in force
  bool durable_only = false;
  std::uint64_t sent_version = 0;         // newest version sent
  std::uint64_t acked_version = 0;        // newest version the client said it applied
  std::uint64_t lag_versions = 0;         // published version - acked version
  std::uint64_t bytes_sent = 0;           // on the wire (compressed where it was)
  std::uint64_t bytes_uncompressed = 0;   // the same frames before compression
  bool compressed = false;                // the client asked for zstd and the server grants it
  std::uint64_t frames_sent = 0;
  double bytes_per_second = 0;            // over the connection's life
  std::uint64_t backlog_bytes = 0;        // queued for it now (bounded, see docs/replication.md)
  std::uint64_t writes_committed = 0;
  std::uint64_t writes_rejected = 0;
  double connected_seconds = 0;
};

struct ReplicationStats {
  std::uint64_t clients = 0;
  std::uint64_t connections_total = 0;
  std::uint64_t frames_sent = 0;
  std::uint64_t bytes_sent = 0;           // on the wire
  std::uint64_t bytes_uncompressed = 0;   // before zstd
  std::uint64_t full_syncs = 0;
  std::uint64_t resumes = 0;
  std::uint64_t resubscribes = 0;         // subscriptions changed on live connections (sent as differences)
  std::uint64_t coalesced = 0;            // deltas folded into a later frame for slow clients
  std::uint64_t writes_committed = 0;
  std::uint64_t writes_rejected = 0;
  std::uint64_t overwritten = 0;          // OVERWRITTEN notices sent
  std::uint64_t refused = 0;              // connections closed for a bad, oversized or unauthorised frame
  std::uint64_t backlog_bytes = 0;        // queued for all clients now
};

class ReplicationServer {
 public:
  // `shared`: run on that io_context (its owner runs its threads); null: own io_context and threads.
  ReplicationServer(Database& db, ReplicationOptions options, boost::asio::io_context* shared = nullptr);
  ~ReplicationServer();
  ReplicationServer(const ReplicationServer&) = delete;
  ReplicationServer& operator=(const ReplicationServer&) = delete;

  // Binds (errors name the address) and serves.
  Status start();
  std::uint16_t port() const noexcept;
  // Closes every client (CLOSE "server shutting down") and stops accepting. Idempotent.
  void stop();

  // A connection accepted elsewhere (`ecsdb serve`'s WebSocket route /api/replication) becomes a client.
  // Any thread. Internal: the transport type is not part of the installed API.
  void adopt(std::unique_ptr<replication::FrameTransport> transport);

  std::vector<ReplicationClientInfo> clients() const;
  ReplicationStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace ecsdb
