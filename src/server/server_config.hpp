// ServerConfig — every option of `ecsdb serve`, from (lowest to highest precedence) its default, a TOML
// file (--config), ECSDB_* environment variables and command-line flags. Each option has one name used by
// all three: `max_body_bytes` in TOML, ECSDB_MAX_BODY_BYTES in the environment, --max-body-bytes as a flag.
// Tokens come from the TOML file only ([[tokens]] tables): secrets do not belong on command lines.
// docs/server.md lists every option with its default (`ecsdb serve --print-config` prints them).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ecsdb/status.hpp"

namespace ecsdb::server {

enum class Role : std::uint8_t { kNone = 0, kRead = 1, kWrite = 2, kAdmin = 3 };
std::string_view to_string(Role r) noexcept;

struct TokenConfig {
  std::string name;    // shown in logs and metrics (never the token)
  Role role = Role::kRead;
  std::string token;   // the secret as is, or...
  std::string sha256;  // ...its SHA-256 in hex (so the config file need not hold the secret)
  // Replication only (docs/replication.md, "Access"): tables this token's replicas may subscribe to and
  // write (empty: all), and row ownership: writes only to entities whose `owner_field` ("Table.field", an
  // entity reference) holds `owner` ("index:generation").
  std::vector<std::string> read_tables;
  std::vector<std::string> write_tables;
  std::string owner_field;
  std::uint64_t owner = 0;
};

struct ServerConfig {
  // ---- what to serve ----
  std::string schema;                      // the schema TOML file (required)
  std::string data;                        // data directory; empty = in memory only (said loudly)
  std::string http = "127.0.0.1:8080";     // HOST:PORT of the HTTP API (port 0 = any free port)
  std::string dashboard;                   // directory of the built dashboard served at / (empty: the installed
                                           // share/ecsdb/dashboard, or the build tree's dashboard/dist, if any)
  std::uint32_t simulate = 0;              // a simulated game world of this many entities (0 = none; `make demo`)
  std::uint32_t simulate_hz = 20;          // its ticks per second
  unsigned threads = 2;                    // network threads (the writer has its own)
  std::string repl;                        // HOST:PORT of the replication protocol; empty = off
  std::uint32_t repl_tick_ms = 0;          // 0: send each version to replicas as soon as it is published
  std::uint32_t repl_writes_per_second = 1000;  // per replication client; 0 = unlimited
  bool repl_compression = true;            // zstd for replication clients that ask for it (HELLO flag)
  // ---- durability ----
  std::string durability = "sync";         // sync | async | memory
  std::uint32_t async_flush_ms = 10;
  std::uint64_t snapshot_every_wal_bytes = 256ull << 20;
  std::uint32_t snapshot_every_seconds = 0;
  // ---- logs ----
  std::string log_level = "info";          // trace | debug | info | warn | error | off
  std::string log_format = "text";         // text | json
  bool access_log = true;
  // ---- security ----
  bool insecure = false;                   // allow a non-loopback address without tokens
  std::string tls_cert;                    // PEM files; both set = HTTPS only
  std::string tls_key;
  std::vector<std::string> cors_origins;   // allowed Origin values (comma list in env/flags); empty = CORS off
  std::vector<TokenConfig> tokens;
  // ---- limits ----
  std::uint64_t max_body_bytes = 1ull << 20;
  std::uint32_t max_json_depth = 32;
  std::uint32_t max_ops_per_transaction = 1000;
  std::uint32_t max_connections = 1024;
  double rate_limit_per_second = 0;        // requests per second per token (per client address without tokens); 0 = off
  std::uint32_t rate_limit_burst = 100;
  std::uint32_t header_timeout_ms = 10000; // a request's headers must arrive within this
  std::uint32_t request_timeout_ms = 30000;// its body within this
  std::uint32_t idle_timeout_ms = 60000;   // keep-alive connection with no request
  std::uint64_t ws_max_message_bytes = 64ull << 10;  // client -> server WebSocket message
  std::uint64_t stream_buffer_bytes = 4ull << 20;     // per stream client: queued output before coalescing
  std::uint32_t stream_ping_ms = 15000;    // WebSocket ping interval (a client silent for 2 intervals is dropped)
  std::uint32_t shutdown_grace_ms = 5000;  // SIGTERM: wait this long for in-flight requests
  std::uint32_t idempotency_keys = 10000;  // answers remembered for Idempotency-Key retries
  std::uint32_t version_retention_ms = 60000;  // how long a paged read's version stays pinned for `version=`
  std::uint32_t max_retained_versions = 8;     // versions pinned for paging at once (oldest dropped first)
};

// One option's name, help and accessors (for TOML, environment, flags and --print-config).
struct OptionInfo {
  std::string name;
  std::string help;
  std::function<Status(ServerConfig&, std::string_view)> set;  // from text
  std::function<std::string(const ServerConfig&)> get;         // as text
};
const std::vector<OptionInfo>& server_options();

// The items of a comma-separated list (`cors_origins`, `fields=`, `tables=`, offered subprotocols), in order,
// empty ones skipped; with `trim`, spaces around each item are dropped. The views point into `text`.
std::vector<std::string_view> split_list(std::string_view text, bool trim);

// Reads the TOML file into `config` (unknown keys are errors naming the file and line).
Status load_config_file(const std::string& path, ServerConfig& config);
// Applies ECSDB_<NAME> variables from `environ`-style entries ("NAME=value").
Status apply_environment(char** environ_entries, ServerConfig& config);
// Checks the whole: values in range, TLS files both given, non-loopback addresses need tokens or insecure.
Status validate_config(const ServerConfig& config);
// Lines "name = value  # help" for every option (tokens shown by name and role only).
std::string describe_config(const ServerConfig& config);

}  // namespace ecsdb::server
