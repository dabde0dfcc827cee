// `ecsdb replica`: a replica from the command line (docs/replication.md).
//   ecsdb replica --connect 127.0.0.1:7070 --tables Position,Health --dump-json   (sync, print, exit)
//   ecsdb replica --connect 127.0.0.1:7070 --seconds 10                           (follow, print lag)
//   ecsdb replica --connect 127.0.0.1:7070 --tables health --where 'health.hp<20' --dump-json  (filtered)
// The token comes from --token or ECSDB_TOKEN. Exit codes: 0 ok, 1 connection or server error, 2 refused
// (unknown table, not allowed, schema mismatch) or bad usage.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

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
  std::vector<std::string> where;  // "TABLE.FIELD OP VALUE"
  std::string entities;            // "INDEX:GEN,..."
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

// --where 'TABLE.FIELD OP VALUE', OP one of == != < <= > >= (= is ==). VALUE: true/false, INDEX:GENERATION
// (an entity), an integer, a number, or else a string (quotes optional; an enum's variant name).
constexpr std::pair<std::string_view, SubscriptionFilter::Op> kComparisons[] = {
    {"==", SubscriptionFilter::Op::kEq}, {"!=", SubscriptionFilter::Op::kNe}, {"<=", SubscriptionFilter::Op::kLe},
    {">=", SubscriptionFilter::Op::kGe}, {"<", SubscriptionFilter::Op::kLt},  {">", SubscriptionFilter::Op::kGt},
    {"=", SubscriptionFilter::Op::kEq}};

Result<SubscriptionFilter> parse_where(const std::string& text) {
  using Op = SubscriptionFilter::Op;
  const auto bad = [&](const std::string& why) { return invalid_argument("--where '" + text + "': " + why); };
  std::size_t at = std::string::npos, length = 0;
  Op op = Op::kEq;
  // The first comparison in the text, the longest at that place (<= before <).
  for (const auto& [spelling, o] : kComparisons) {
    const std::size_t p = text.find(spelling);
    if (p != std::string::npos && (at == std::string::npos || p < at || (p == at && spelling.size() > length))) {
      at = p;
      length = spelling.size();
      op = o;
    }
  }
  if (at == std::string::npos) return bad("no comparison (==, !=, <, <=, >, >=)");
  const auto trim = [](const std::string& s) {
    const auto first = s.find_first_not_of(" \t"), last = s.find_last_not_of(" \t");
    return first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
  };
  const std::string lhs = trim(text.substr(0, at)), rhs = trim(text.substr(at + length));
  const std::size_t dot = lhs.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == lhs.size()) return bad("expected TABLE.FIELD before the comparison");
  if (rhs.empty()) return bad("no value after the comparison");
  Value v;
  if (rhs == "true" || rhs == "false") {
    v = Value::from_bool(rhs == "true");
  } else if (auto bits = server::parse_id(rhs)) {
    v = Value::from_entity(Entity::from_bits(*bits));
  } else {
    char* end = nullptr;
    errno = 0;
    if (rhs[0] == '-') {
      const long long i = std::strtoll(rhs.c_str(), &end, 10);
      if (*end == '\0' && errno == 0) v = Value::from_int(i);
    } else {
      const unsigned long long u = std::strtoull(rhs.c_str(), &end, 10);
      if (*end == '\0' && errno == 0) v = Value::from_uint(u);
    }
    if (v.kind == Value::Kind::kNull) {
      const double d = std::strtod(rhs.c_str(), &end);
      if (*end == '\0') {
        v = Value::from_float(d);
      } else {
        std::string str = rhs;
        if (str.size() >= 2 && (str.front() == '"' || str.front() == '\'') && str.back() == str.front()) str = str.substr(1, str.size() - 2);
        v = Value::from_string(str);
      }
    }
  }
  return SubscriptionFilter::where(lhs.substr(0, dot), lhs.substr(dot + 1), op, v);
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
  for (const std::string& w : a.where) {
    auto f = parse_where(w);
    if (!f) {
      std::fprintf(stderr, "ecsdb replica: %s\n", f.status().message().c_str());
      return 2;
    }
    o.filters.push_back(std::move(*f));
  }
  if (!a.entities.empty()) {
    std::vector<Entity> set;
    for (std::string_view e : server::split_list(a.entities, true)) {
      const auto bits = server::parse_id(e);
      if (!bits) {
        std::fprintf(stderr, "ecsdb replica: --entities: '%.*s' is not an entity id INDEX:GENERATION\n",
                     static_cast<int>(e.size()), e.data());
        return 2;
      }
      set.push_back(Entity::from_bits(*bits));
    }
    o.filters.push_back(SubscriptionFilter::of_entities(std::move(set)));
  }
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
  cmd->add_option("--where", args->where,
                  "only rows where TABLE.FIELD OP VALUE (OP: == != < <= > >=; repeatable, all must hold), e.g. 'health.hp<20'");
  cmd->add_option("--entities", args->entities, "only rows of these entities (comma list of INDEX:GENERATION), in every table");
  cmd->add_flag("--dump-json", args->dump_json, "sync once, print {\"version\", \"tables\"} as JSON and exit");
  cmd->add_flag("--durable-only", args->durable_only, "receive versions only once they are durable on the server");
  cmd->add_option("--seconds", args->seconds, "follow for this long, then exit (default: until interrupted)");
  cmd->add_option("--timeout-ms", args->timeout_ms, "give up when the first sync has not arrived within this")->capture_default_str();
  cmd->callback([args, &exit_code] { exit_code = run_replica(*args); });
}

}  // namespace ecsdb::cli
