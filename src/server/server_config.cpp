#include "server/server_config.hpp"

#include <toml++/toml.h>

#include "ecsdb/entity.hpp"

#include <charconv>
#include <cstring>
#include <sstream>

namespace ecsdb::server {

std::string_view to_string(Role r) noexcept {
  switch (r) {
    case Role::kRead: return "read";
    case Role::kWrite: return "write";
    case Role::kAdmin: return "admin";
    case Role::kNone: break;
  }
  return "none";
}

namespace {

template <typename T>
Status parse_number(std::string_view name, std::string_view text, T& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
    return invalid_argument("option " + std::string(name) + ": '" + std::string(text) + "' is not a valid number");
  }
  return Status::ok();
}

Status parse_bool(std::string_view name, std::string_view text, bool& out) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") { out = true; return Status::ok(); }
  if (text == "false" || text == "0" || text == "no" || text == "off") { out = false; return Status::ok(); }
  return invalid_argument("option " + std::string(name) + ": '" + std::string(text) + "' is not true or false");
}

template <typename T>
OptionInfo number_option(const std::string& name, std::string help, T ServerConfig::*member) {
  return OptionInfo{name, std::move(help),
                    [name, member](ServerConfig& c, std::string_view v) { return parse_number(name, v, c.*member); },
                    [member](const ServerConfig& c) {
                      std::ostringstream s;
                      s << c.*member;
                      return s.str();
                    }};
}

OptionInfo string_option(const std::string& name, std::string help, std::string ServerConfig::*member,
                         std::initializer_list<std::string_view> allowed = {}) {
  std::vector<std::string> choices(allowed.begin(), allowed.end());
  return OptionInfo{name, std::move(help),
                    [name, member, choices](ServerConfig& c, std::string_view v) -> Status {
                      if (!choices.empty()) {
                        bool ok = false;
                        for (const auto& a : choices) ok = ok || a == v;
                        if (!ok) {
                          std::string list;
                          for (const auto& a : choices) list += (list.empty() ? "" : ", ") + a;
                          return invalid_argument("option " + name + ": '" + std::string(v) + "' is not one of " + list);
                        }
                      }
                      c.*member = std::string(v);
                      return Status::ok();
                    },
                    [member](const ServerConfig& c) { return c.*member; }};
}

OptionInfo bool_option(const std::string& name, std::string help, bool ServerConfig::*member) {
  return OptionInfo{name, std::move(help),
                    [name, member](ServerConfig& c, std::string_view v) { return parse_bool(name, v, c.*member); },
                    [member](const ServerConfig& c) { return std::string(c.*member ? "true" : "false"); }};
}

std::vector<OptionInfo> make_options() {
  using C = ServerConfig;
  std::vector<OptionInfo> o;
  o.push_back(string_option("schema", "schema TOML file (required)", &C::schema));
  o.push_back(string_option("data", "data directory (WAL, snapshots); empty = in memory only", &C::data));
  o.push_back(string_option("http", "HOST:PORT of the HTTP API", &C::http));
  o.push_back(string_option("dashboard", "directory of the built dashboard served at / (default: the installed one, if any)",
                            &C::dashboard));
  o.push_back(number_option("simulate", "run a simulated game world of N entities (game schema; 0 = off)", &C::simulate));
  o.push_back(number_option("simulate_hz", "ticks per second of the simulated world", &C::simulate_hz));
  o.push_back(number_option("threads", "network threads", &C::threads));
  o.push_back(string_option("repl", "HOST:PORT of the replication protocol (empty = off)", &C::repl));
  o.push_back(number_option("repl_tick_ms", "replication: at most one frame per client per tick (0 = every version)",
                            &C::repl_tick_ms));
  o.push_back(bool_option("repl_compression", "replication: zstd-compress frames for clients that ask for it",
                          &C::repl_compression));
  o.push_back(number_option("repl_writes_per_second", "replication: writes per client per second (0 = unlimited)",
                            &C::repl_writes_per_second));
  o.push_back(string_option("durability", "when a commit is acknowledged: sync | async | memory", &C::durability,
                            {"sync", "async", "memory"}));
  o.push_back(number_option("async_flush_ms", "write a commit nobody waits for within this many ms (sync mode: at most 1; 0: at once)", &C::async_flush_ms));
  o.push_back(number_option("snapshot_every_wal_bytes", "background snapshot after this many WAL bytes (0 = off)",
                            &C::snapshot_every_wal_bytes));
  o.push_back(number_option("snapshot_every_seconds", "background snapshot every N seconds (0 = off)",
                            &C::snapshot_every_seconds));
  o.push_back(string_option("log_level", "trace | debug | info | warn | error | off", &C::log_level,
                            {"trace", "debug", "info", "warn", "error", "off"}));
  o.push_back(string_option("log_format", "text | json (one JSON object per line)", &C::log_format, {"text", "json"}));
  o.push_back(bool_option("access_log", "one log line per request", &C::access_log));
  o.push_back(bool_option("insecure", "allow a non-loopback address without tokens", &C::insecure));
  o.push_back(string_option("tls_cert", "TLS certificate chain (PEM); with tls_key: HTTPS only", &C::tls_cert));
  o.push_back(string_option("tls_key", "TLS private key (PEM)", &C::tls_key));
  o.push_back(OptionInfo{"cors_origins", "allowed CORS origins, comma separated (empty = CORS off)",
                         [](C& c, std::string_view v) {
                           const auto items = split_list(v, true);
                           c.cors_origins.assign(items.begin(), items.end());
                           return Status::ok();
                         },
                         [](const C& c) {
                           std::string s;
                           for (const auto& x : c.cors_origins) s += (s.empty() ? "" : ",") + x;
                           return s;
                         }});
  o.push_back(number_option("max_body_bytes", "largest request body (413 past it)", &C::max_body_bytes));
  o.push_back(number_option("max_json_depth", "deepest JSON nesting accepted (400 past it)", &C::max_json_depth));
  o.push_back(number_option("max_ops_per_transaction", "operations in one POST /api/transactions (422 past it)",
                            &C::max_ops_per_transaction));
  o.push_back(number_option("max_connections", "open connections (503 past it)", &C::max_connections));
  o.push_back(number_option("rate_limit_per_second", "requests/s per token or client address; 0 = off (429 past it)",
                            &C::rate_limit_per_second));
  o.push_back(number_option("rate_limit_burst", "requests allowed at once above the rate", &C::rate_limit_burst));
  o.push_back(number_option("header_timeout_ms", "a request's headers must arrive within this", &C::header_timeout_ms));
  o.push_back(number_option("request_timeout_ms", "a request's body must arrive within this", &C::request_timeout_ms));
  o.push_back(number_option("idle_timeout_ms", "close a keep-alive connection idle this long", &C::idle_timeout_ms));
  o.push_back(number_option("ws_max_message_bytes", "largest WebSocket message from a client", &C::ws_max_message_bytes));
  o.push_back(number_option("stream_buffer_bytes", "per stream client: output queued before deltas are coalesced",
                            &C::stream_buffer_bytes));
  o.push_back(number_option("stream_ping_ms", "WebSocket ping interval", &C::stream_ping_ms));
  o.push_back(number_option("shutdown_grace_ms", "on SIGTERM, wait this long for in-flight requests", &C::shutdown_grace_ms));
  o.push_back(number_option("idempotency_keys", "Idempotency-Key answers remembered", &C::idempotency_keys));
  o.push_back(number_option("version_retention_ms", "how long a paged read's version stays pinned", &C::version_retention_ms));
  o.push_back(number_option("max_retained_versions", "versions pinned for paging at once", &C::max_retained_versions));
  return o;
}

Role parse_role(std::string_view s) {
  if (s == "read") return Role::kRead;
  if (s == "write") return Role::kWrite;
  if (s == "admin") return Role::kAdmin;
  return Role::kNone;
}

std::string node_text(const toml::node& n) {
  if (const auto* s = n.as_string()) return s->get();
  if (const auto* i = n.as_integer()) return std::to_string(i->get());
  if (const auto* f = n.as_floating_point()) {
    std::ostringstream o;
    o << f->get();
    return o.str();
  }
  if (const auto* b = n.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* a = n.as_array()) {
    std::string s;
    for (const auto& e : *a) s += (s.empty() ? "" : ",") + node_text(e);
    return s;
  }
  return {};
}

}  // namespace

std::vector<std::string_view> split_list(std::string_view text, bool trim) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (trim && !item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (trim && !item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

const std::vector<OptionInfo>& server_options() {
  static const std::vector<OptionInfo> options = make_options();
  return options;
}

Status load_config_file(const std::string& path, ServerConfig& config) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return invalid_argument(path + ":" + std::to_string(e.source().begin.line) + ":" +
                            std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
  }
  for (const auto& [key, node] : root) {
    const auto line = std::to_string(node.source().begin.line);
    if (key.str() == "tokens") {
      const toml::array* list = node.as_array();
      if (list == nullptr) return invalid_argument(path + ":" + line + ": tokens must be an array of tables [[tokens]]");
      for (const auto& item : *list) {
        const toml::table* t = item.as_table();
        const auto at = path + ":" + std::to_string(item.source().begin.line);
        if (t == nullptr) return invalid_argument(at + ": each [[tokens]] entry is a table");
        TokenConfig tc;
        for (const auto& [k, v] : *t) {
          const std::string value = node_text(v);
          if (k.str() == "name") tc.name = value;
          else if (k.str() == "role") tc.role = parse_role(value);
          else if (k.str() == "token") tc.token = value;
          else if (k.str() == "sha256") tc.sha256 = value;
          else if (k.str() == "read_tables") for (auto name : split_list(value, true)) tc.read_tables.emplace_back(name);
          else if (k.str() == "write_tables") for (auto name : split_list(value, true)) tc.write_tables.emplace_back(name);
          else if (k.str() == "owner_field") tc.owner_field = value;
          else if (k.str() == "owner") {
            const auto colon = value.find(':');
            std::uint32_t index = 0, generation = 0;
            const bool ok = colon != std::string::npos &&
                            std::from_chars(value.data(), value.data() + colon, index).ec == std::errc() &&
                            std::from_chars(value.data() + colon + 1, value.data() + value.size(), generation).ec == std::errc();
            if (!ok) return invalid_argument(at + ": token owner '" + value + "' is not an entity id \"index:generation\"");
            tc.owner = ecsdb::Entity(index, generation).bits();
          }
          else return invalid_argument(at + ": unknown token key '" + std::string(k.str()) +
                                       "' (name, role, token, sha256, read_tables, write_tables, owner_field, owner)");
        }
        if (tc.name.empty()) return invalid_argument(at + ": a token needs a name");
        if (tc.role == Role::kNone) return invalid_argument(at + ": token '" + tc.name + "': role must be read, write or admin");
        if (tc.token.empty() == tc.sha256.empty()) {
          return invalid_argument(at + ": token '" + tc.name + "': give exactly one of token and sha256");
        }
        if (!tc.sha256.empty() && tc.sha256.size() != 64) {
          return invalid_argument(at + ": token '" + tc.name + "': sha256 must be 64 hex digits");
        }
        config.tokens.push_back(std::move(tc));
      }
      continue;
    }
    const OptionInfo* option = nullptr;
    for (const OptionInfo& o : server_options()) {
      if (o.name == key.str()) option = &o;
    }
    if (option == nullptr) {
      return invalid_argument(path + ":" + line + ": unknown option '" + std::string(key.str()) +
                              "' (ecsdb serve --print-config lists them)");
    }
    if (Status s = option->set(config, node_text(node)); !s.is_ok()) {
      return invalid_argument(path + ":" + line + ": " + s.message());
    }
  }
  return Status::ok();
}

Status apply_environment(char** environ_entries, ServerConfig& config) {
  for (char** e = environ_entries; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (!entry.starts_with("ECSDB_")) continue;
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(entry.substr(6, eq - 6));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const OptionInfo& o : server_options()) {
      if (o.name != name) continue;
      if (Status s = o.set(config, entry.substr(eq + 1)); !s.is_ok()) {
        return invalid_argument("environment ECSDB_" + std::string(entry.substr(6, eq - 6)) + ": " + s.message());
      }
    }
  }
  return Status::ok();
}

Status validate_config(const ServerConfig& c) {
  if (c.schema.empty()) return invalid_argument("option schema: a schema file is required (--schema FILE)");
  const std::size_t colon = c.http.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return invalid_argument("option http: '" + c.http + "' is not HOST:PORT (e.g. 127.0.0.1:8080)");
  }
  if (c.threads == 0 || c.threads > 256) return invalid_argument("option threads: between 1 and 256");
  const std::size_t repl_colon = c.repl.rfind(':');
  if (!c.repl.empty()) {
    unsigned port = 0;
    const char* digits = c.repl.data() + repl_colon + 1;
    const auto [end, ec] = repl_colon == std::string::npos ? std::from_chars_result{digits, std::errc::invalid_argument}
                                                          : std::from_chars(digits, c.repl.data() + c.repl.size(), port);
    if (repl_colon == std::string::npos || repl_colon == 0 || ec != std::errc() || end != c.repl.data() + c.repl.size() ||
        port > 65535) {
      return invalid_argument("option repl: '" + c.repl + "' is not HOST:PORT (e.g. 127.0.0.1:7070)");
    }
  }
  if (c.tls_cert.empty() != c.tls_key.empty()) return invalid_argument("options tls_cert and tls_key go together");
  if (c.max_body_bytes == 0 || c.max_json_depth == 0 || c.max_ops_per_transaction == 0 || c.max_connections == 0) {
    return invalid_argument("limits max_body_bytes, max_json_depth, max_ops_per_transaction and max_connections must be > 0");
  }
  if (c.rate_limit_per_second < 0) return invalid_argument("option rate_limit_per_second: must be >= 0");
  for (const std::string& address : {c.http, c.repl}) {
    if (address.empty()) continue;
    const std::string host = address.substr(0, address.rfind(':'));
    const bool loopback = host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]";
    if (!loopback && c.tokens.empty() && !c.insecure) {
      return invalid_argument("refusing to serve on " + address +
                              " without tokens: anyone who can reach that address could read and write the database. "
                              "Configure [[tokens]] in the --config file, or pass --insecure to accept the risk "
                              "(loopback addresses need neither)");
    }
  }
  for (std::size_t i = 0; i < c.tokens.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (c.tokens[i].name == c.tokens[j].name) return invalid_argument("token name '" + c.tokens[i].name + "' is used twice");
    }
  }
  return Status::ok();
}

std::string describe_config(const ServerConfig& config) {
  std::string out;
  for (const OptionInfo& o : server_options()) {
    std::string value = o.get(config);
    out += o.name + " = " + value + "    # " + o.help + "\n";
  }
  for (const TokenConfig& t : config.tokens) out += "token " + t.name + " (role " + std::string(to_string(t.role)) + ")\n";
  return out;
}

}  // namespace ecsdb::server
