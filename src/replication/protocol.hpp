// The replication protocol's frames (docs/protocol.md is the contract, byte by byte): how a client and a
// server encode and decode what they send each other. Pure functions over byte buffers, no I/O, so the
// server (Asio), the replica (POSIX sockets), the C ABI and the fuzzers share one codec. Every decoder
// checks counts, ids and lengths against the schema and the buffer: malformed input is an error naming what
// is wrong and where, never a crash or an allocation sized by the sender (tests/fuzz/repl_frame_fuzz.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ecsdb/delta.hpp"
#include "ecsdb/schema.hpp"
#include "ecsdb/status.hpp"
#include "ecsdb/subscription_filter.hpp"

namespace ecsdb::replication {

inline constexpr std::uint32_t kMagic = 0x52534345;  // "ECSR" in little-endian byte order
inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::size_t kFrameHeaderBytes = 5;  // u32 length (of type + payload), u8 type

enum class FrameType : std::uint8_t {
  // client -> server
  kHello = 0x01,
  kAck = 0x02,
  kSubscribe = 0x03,
  kWrite = 0x04,
  // server -> client
  kWelcome = 0x81,
  kSyncBegin = 0x82,
  kSyncChunk = 0x83,
  kSyncEnd = 0x84,
  kDelta = 0x85,
  kWriteResult = 0x86,
  kOverwritten = 0x87,
  kCompressed = 0x88,  // a zstd-compressed frame (compression.hpp), to a client that asked for it
  kClose = 0x8F,
};
const char* frame_type_name(std::uint8_t type) noexcept;

inline constexpr std::uint16_t kHelloDurableOnly = 1;  // Hello::flags: receive versions only once durable
inline constexpr std::uint16_t kHelloCompress = 2;     // Hello::flags: the client accepts COMPRESSED frames

struct Hello {
  std::uint16_t protocol = kProtocolVersion;
  std::uint16_t flags = 0;
  std::uint64_t layout_hash = 0;   // 0: "send me your schema, I take it as it is"
  std::uint64_t last_version = 0;  // newest version the client applied; 0 = none (full sync)
  std::uint64_t epoch = 0;         // the server incarnation last_version came from (Welcome::epoch)
  std::string token;
  std::vector<std::string> tables;  // empty = every table the token may read
  std::vector<SubscriptionFilter> filters;  // optional trailing section (docs/protocol.md, "Filters")
};

// SUBSCRIBE: a new subscription replacing the connection's (tables, then optional filters, as in HELLO).
struct Subscription {
  std::vector<std::string> tables;
  std::vector<SubscriptionFilter> filters;
};

struct Welcome {
  std::uint16_t protocol = kProtocolVersion;
  std::uint64_t layout_hash = 0;
  std::uint64_t server_version = 0;
  std::uint64_t durable_version = 0;
  // This server incarnation (random at start). Version numbers beyond the version a restarted server
  // recovered to may mean other states in another incarnation: a client resumes only within one epoch
  // (or from exactly the recovered version, which every incarnation shares).
  std::uint64_t epoch = 0;
  bool resume = false;       // true: deltas follow from Hello::last_version; false: a full sync follows
  std::string schema_text;   // the server's schema TOML
  std::vector<std::string> tables;  // the subscribed tables, as granted
};

// A sync replaces the client's state of its subscribed tables with the server's at `version`:
// SyncBegin, then SyncChunks (each a delta body of created entities and inserted rows), then SyncEnd.
// `reset`: drop every local row and entity first (a resync of a client that already holds state).
struct SyncBegin {
  std::uint64_t version = 0;
  bool reset = false;
  std::vector<std::string> tables;  // the tables this sync covers (a live subscribe syncs only new ones)
};

struct DeltaFrame {
  std::uint64_t from_version = 0;
  std::uint64_t to_version = 0;
  std::uint64_t published_at_ns = 0;  // the server's CLOCK_REALTIME when it published to_version (lag)
  Delta delta;
};

// A client's write: operations applied in order in one transaction on the server.
enum class WriteOpKind : std::uint8_t { kPut = 1, kUpdate = 2, kRemove = 3, kDestroy = 4, kInsert = 5 };
struct WriteOp {
  WriteOpKind kind = WriteOpKind::kPut;
  std::uint16_t table = 0;
  std::uint64_t key = 0;            // entity (one tables, destroy) or row id (many: update/remove); owner for insert
  std::uint64_t field_mask = 0;     // kUpdate
  std::vector<std::byte> bytes;     // kPut/kInsert: the whole row; kUpdate: the masked fields, in row order
};
struct WriteRequest {
  std::uint64_t request_id = 0;
  std::uint64_t base_version = 0;   // the client's version when it made the write
  std::vector<WriteOp> ops;
};

struct WriteResult {
  std::uint64_t request_id = 0;
  bool committed = false;
  std::uint64_t version = 0;        // committed: the version that contains it
  std::uint16_t code = 0;           // rejected: the StatusCode
  std::string message;              // rejected: why
};

// A committed write of this client whose fields another commit changed before the client was sent the
// version with its write: the frame the client just applied carries the winner's values.
struct Overwritten {
  std::uint64_t request_id = 0;
  std::uint64_t version = 0;        // the version the client now has
  std::uint16_t table = 0;
  std::uint64_t key = 0;
  std::uint64_t field_mask = 0;     // the fields that differ from what the client wrote (all when removed)
};

struct CloseFrame {
  std::uint16_t code = 0;           // a StatusCode
  std::string reason;
};

// Limits a decoder enforces (a frame past them is refused before anything is allocated for it).
struct DecodeLimits {
  std::uint32_t max_frame_bytes = 64u << 20;
  std::uint32_t max_tables = 1024;
  std::uint32_t max_token_bytes = 4096;
  std::uint32_t max_filters = 64;
};

// ---- framing ----
// Appends a frame header for `type`; finish_frame patches the length once the payload is written.
std::size_t begin_frame(std::vector<std::byte>& out, FrameType type);
void finish_frame(std::vector<std::byte>& out, std::size_t frame_start);

// ---- messages (each encode_* appends one whole frame; each decode_* takes the payload after the type) ----
void encode_hello(const Hello& m, std::vector<std::byte>& out);
Result<Hello> decode_hello(std::span<const std::byte> payload, const DecodeLimits& limits = {});
void encode_ack(std::uint64_t version, std::vector<std::byte>& out);
Result<std::uint64_t> decode_ack(std::span<const std::byte> payload);
void encode_subscribe(const Subscription& m, std::vector<std::byte>& out);
Result<Subscription> decode_subscribe(std::span<const std::byte> payload, const DecodeLimits& limits = {});
void encode_welcome(const Welcome& m, std::vector<std::byte>& out);
Result<Welcome> decode_welcome(std::span<const std::byte> payload, const DecodeLimits& limits = {});
void encode_sync_begin(const SyncBegin& m, std::vector<std::byte>& out);
Result<SyncBegin> decode_sync_begin(std::span<const std::byte> payload, const DecodeLimits& limits = {});
void encode_sync_end(std::uint64_t version, std::vector<std::byte>& out);
Result<std::uint64_t> decode_sync_end(std::span<const std::byte> payload);
void encode_write_result(const WriteResult& m, std::vector<std::byte>& out);
Result<WriteResult> decode_write_result(std::span<const std::byte> payload);
void encode_overwritten(const Overwritten& m, std::vector<std::byte>& out);
Result<Overwritten> decode_overwritten(std::span<const std::byte> payload);
void encode_close(const CloseFrame& m, std::vector<std::byte>& out);
Result<CloseFrame> decode_close(std::span<const std::byte> payload);

// A delta body: `tables` (indexed by table id; empty = all) selects which tables' rows are carried;
// entities created and destroyed always are. Sync chunks use the same body.
void encode_delta_body(const Delta& d, const Schema& schema, const std::vector<bool>& tables, std::vector<std::byte>& out);
Result<Delta> decode_delta_body(std::span<const std::byte> body, const Schema& schema);
void encode_delta_frame(std::uint64_t from, std::uint64_t to, std::uint64_t published_at_ns, const Delta& d,
                        const Schema& schema, const std::vector<bool>& tables, std::vector<std::byte>& out);
Result<DeltaFrame> decode_delta_frame(std::span<const std::byte> payload, const Schema& schema);
void encode_sync_chunk(const Delta& d, const Schema& schema, std::vector<std::byte>& out);
Result<Delta> decode_sync_chunk(std::span<const std::byte> payload, const Schema& schema);

void encode_write(const WriteRequest& m, std::vector<std::byte>& out);
Result<WriteRequest> decode_write(std::span<const std::byte> payload, const Schema& schema);

// Incremental frame splitter over a byte stream: feed bytes, take whole frames. A length past
// max_frame_bytes (or below 1) is an error: the connection must close.
class FrameReader {
 public:
  explicit FrameReader(std::uint32_t max_frame_bytes) : max_(max_frame_bytes) {}
  void feed(std::span<const std::byte> bytes) { buffer_.insert(buffer_.end(), bytes.begin(), bytes.end()); }
  struct Frame {
    std::uint8_t type;
    std::span<const std::byte> payload;  // valid until the next feed/next call
  };
  // The next whole frame, nullopt when more bytes are needed, or an error.
  Result<std::optional<Frame>> next();
  std::size_t buffered() const noexcept { return buffer_.size() - consumed_; }

 private:
  std::uint32_t max_;
  std::vector<std::byte> buffer_;
  std::size_t consumed_ = 0;
};

}  // namespace ecsdb::replication
