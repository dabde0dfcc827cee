// `ecsdb replica`: a replica from the command line (docs/replication.md).
//   ecsdb replica --connect 127.0.0.1:7070 --tables Position,Health --dump-json   (sync, print, exit)
//   ecsdb replica --connect 127.0.0.1:7070 --seconds 10                           (follow, print lag)
// The token comes from --token or ECSDB_TOKEN. Exit codes: 0 ok, 1 connection or server error, 2 refused
// (unknown table, not allowed, schema mismatch) or bad usage.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "cli/commands.hpp"
#include "ecsdb/replica.hpp"
#include "server/json_codec.hpp"
#include "server/server_config.hpp"

namespace ecsdb::cli {

namespace {

struct ReplicaArgs {
  std::string connect;
  std::string token;
  std::string tables;
  bool dump_json = false;
  bool durable_only = false;
  double seconds = 0;  // follow: stop after this long (0 = until interrupted)
  std::uint32_t timeout_ms = 5000;
};

// {"version": V, "tables": {"NAME": [row objects]}} (DESIGN.md §5): every replicated table's rows at the
// replica's version, in row order, as the HTTP API prints rows.
std::string dump_json(const Replica& replica) {
  namespace json = boost::json;
  const PinnedView view = replica.pin();
  const detail::VersionState& state = view.state();
  json::object tables;
  for (const Table& t : replica.schema().tables) {
    if (t.is_entity_table) continue;
    const detail::TableState& ts = state.tables[t.id];
    if (ts.row_count == 0) continue;
    json::array rows;
    rows.reserve(ts.row_count);
    for (std::uint32_t r = 0; r < ts.row_count; ++r) rows.push_back(server::row_object(t, state, r));
    tables[t.name] = std::move(rows);
  }
  // The view's own version: the replica may apply another frame meanwhile.
  return json::serialize(json::object{{"version", view.version()}, {"tables", std::move(tables)}});
}

int code_of(const Status& s) {
  switch (s.code()) {
    case StatusCode::kPermissionDenied:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound: return 2;
    default: return 1;
  }
}

int run_replica(const ReplicaArgs& a) {
  ReplicaOptions o;
  const std::size_t colon = a.connect.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    std::fprintf(stderr, "ecsdb replica: --connect '%s' is not HOST:PORT\n", a.connect.c_str());
    return 2;
  }
  o.host = a.connect.substr(0, colon);
  try {
    o.port = static_cast<std::uint16_t>(std::stoul(a.connect.substr(colon + 1)));
  } catch (const std::exception&) {
    std::fprintf(stderr, "ecsdb replica: --connect '%s': bad port\n", a.connect.c_str());
    return 2;
  }
  o.token = a.token;
  if (o.token.empty()) {
    if (const char* t = std::getenv("ECSDB_TOKEN")) o.token = t;
  }
  for (std::string_view t : server::split_list(a.tables, true)) o.tables.emplace_back(t);
  o.durable_only = a.durable_only;
  o.connect_timeout_ms = a.timeout_ms;
  o.reconnect = !a.dump_json;
  auto replica = Replica::connect(o);
  if (!replica) {
    std::fprintf(stderr, "ecsdb replica: %s\n", replica.status().to_string().c_str());
    return code_of(replica.status());
  }
  if (a.dump_json) {
    std::cout << dump_json(**replica) << "\n";
    return 0;
  }
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t last_frames = 0;
  while (a.seconds <= 0 || std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < a.seconds) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const ReplicaStats s = (*replica)->stats();
    const Status st = (*replica)->status();
    if (!st.is_ok()) {
      std::fprintf(stderr, "ecsdb replica: %s\n", st.to_string().c_str());
      return code_of(st);
    }
    std::printf("version %llu  frames/s %llu  lag p50 %llu us  p99 %llu us  max %llu us  received %llu B  reconnects %llu%s\n",
                static_cast<unsigned long long>(s.version), static_cast<unsigned long long>(s.frames - last_frames),
                static_cast<unsigned long long>(s.lag_p50_us), static_cast<unsigned long long>(s.lag_p99_us),
                static_cast<unsigned long long>(s.lag_max_us), static_cast<unsigned long long>(s.bytes_received),
                static_cast<unsigned long long>(s.reconnects), s.connected ? "" : "  (reconnecting)");
    std::fflush(stdout);
    last_frames = s.frames;
  }
  return 0;
}

}  // namespace

void add_replica_command(CLI::App& root, int& exit_code) {
  auto args = std::make_shared<ReplicaArgs>();
  CLI::App* cmd = root.add_subcommand(
      "replica", "Replicate a running `ecsdb serve --repl` into memory: print its state as JSON, or follow it and print lag");
  cmd->add_option("--connect", args->connect, "HOST:PORT of the server's replication listener")->required();
  cmd->add_option("--token", args->token, "bearer token (default: $ECSDB_TOKEN)");
  cmd->add_option("--tables", args->tables, "comma list of tables to subscribe to (default: every table the token may read)");
  cmd->add_flag("--dump-json", args->dump_json, "sync once, print {\"version\", \"tables\"} as JSON and exit");
  cmd->add_flag("--durable-only", args->durable_only, "receive versions only once they are durable on the server");
  cmd->add_option("--seconds", args->seconds, "follow for this long, then exit (default: until interrupted)");
  cmd->add_option("--timeout-ms", args->timeout_ms, "give up when the first sync has not arrived within this")->capture_default_str();
  cmd->callback([args, &exit_code] { exit_code = run_replica(*args); });
}

}  // namespace ecsdb::cli
