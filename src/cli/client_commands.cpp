// `ecsdb get`, `ecsdb tx`, `ecsdb watch`: the CLI as a client of a running `ecsdb serve`.
//   ecsdb get http://127.0.0.1:8080/entities/12:1          (paths without /api/ get it prepended)
//   ecsdb tx http://127.0.0.1:8080 --file ops.json         (or the ops on stdin)
//   ecsdb watch http://127.0.0.1:8080 --table health --count 10
// The token comes from --token or ECSDB_TOKEN. Exit codes: 0 ok, 1 connection or server error (5xx),
// 2 refused request (4xx) or bad usage; the server's error JSON is printed on stderr.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "cli/commands.hpp"
#include "server/http_client.hpp"

namespace ecsdb::cli {

namespace {

struct ClientArgs {
  std::string url;
  std::string token;
  std::string file;
  std::string table;
  std::string where;
  std::string ca_file;
  bool no_verify = false;
  long count = 0;  // watch: stop after this many messages (0 = until the server closes)
};

server::ClientOptions options_of(const ClientArgs& a) {
  server::ClientOptions o;
  o.token = a.token;
  if (o.token.empty()) {
    if (const char* t = std::getenv("ECSDB_TOKEN")) o.token = t;
  }
  o.ca_file = a.ca_file;
  o.verify_tls = !a.no_verify;
  return o;
}

// base URL + path: "http://h:p/entities/1:1" -> "http://h:p/api/entities/1:1"; "http://h:p" + "/api/x".
std::string api_url(std::string url, const std::string& default_path) {
  const std::size_t scheme = url.find("://");
  const std::size_t slash = scheme == std::string::npos ? std::string::npos : url.find('/', scheme + 3);
  if (slash == std::string::npos) return url + default_path;
  const std::string path = url.substr(slash);
  if (path == "/") return url.substr(0, slash) + default_path;
  if (path.starts_with("/api/") || path == "/metrics") return url;
  return url.substr(0, slash) + "/api" + path;
}

int report(const Result<server::ClientResponse>& r) {
  if (!r) {
    std::fprintf(stderr, "ecsdb: %s\n", r.status().message().c_str());
    return 1;
  }
  if (r->status >= 200 && r->status < 300) {
    std::fwrite(r->body.data(), 1, r->body.size(), stdout);
    if (r->body.empty() || r->body.back() != '\n') std::fputc('\n', stdout);
    return 0;
  }
  std::fprintf(stderr, "ecsdb: HTTP %u: %s\n", r->status, r->body.c_str());
  return r->status >= 500 ? 1 : 2;
}

void add_common(CLI::App* cmd, ClientArgs& a) {
  cmd->add_option("--token", a.token, "Bearer token (default: $ECSDB_TOKEN)");
  cmd->add_option("--cacert", a.ca_file, "https: trust this PEM certificate")->check(CLI::ExistingFile);
  cmd->add_flag("--no-verify", a.no_verify, "https: do not check the certificate (self-signed test servers)");
}

}  // namespace

void add_client_commands(CLI::App& root, int& exit_code) {
  auto get = std::make_shared<ClientArgs>();
  CLI::App* g = root.add_subcommand("get", "GET a route of a running server and print its JSON");
  g->add_option("url", get->url, "e.g. http://127.0.0.1:8080/entities/12:1 or .../tables/health/rows?limit=5")->required();
  add_common(g, *get);
  g->callback([get, &exit_code] {
    exit_code = report(server::http_call("GET", api_url(get->url, "/api/info"), "", "", options_of(*get)));
  });

  auto tx = std::make_shared<ClientArgs>();
  CLI::App* t = root.add_subcommand("tx", "POST a transaction ({\"ops\": [...]}) to a running server");
  t->add_option("url", tx->url, "the server, e.g. http://127.0.0.1:8080")->required();
  t->add_option("--file", tx->file, "JSON file of the transaction (default: stdin)")->check(CLI::ExistingFile);
  add_common(t, *tx);
  t->callback([tx, &exit_code] {
    std::string body;
    if (tx->file.empty()) {
      body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      std::ifstream in(tx->file);
      std::ostringstream s;
      s << in.rdbuf();
      body = s.str();
    }
    std::string url = tx->url;
    const std::size_t scheme = url.find("://");
    const std::size_t slash = scheme == std::string::npos ? std::string::npos : url.find('/', scheme + 3);
    if (slash != std::string::npos) url = url.substr(0, slash);
    exit_code = report(server::http_call("POST", url + "/api/transactions", body, "application/json", options_of(*tx)));
  });

  auto watch = std::make_shared<ClientArgs>();
  CLI::App* w = root.add_subcommand("watch", "Print the change stream of a running server, one JSON message per line");
  w->add_option("url", watch->url, "the server, e.g. http://127.0.0.1:8080")->required();
  w->add_option("--table", watch->table, "tables to watch, comma separated (default: all)");
  w->add_option("--where", watch->where, "a predicate, e.g. health.hp<10");
  w->add_option("--count", watch->count, "exit after this many messages");
  add_common(w, *watch);
  w->callback([watch, &exit_code] {
    std::string url = watch->url;
    const std::size_t scheme = url.find("://");
    const std::size_t slash = scheme == std::string::npos ? std::string::npos : url.find('/', scheme + 3);
    if (slash != std::string::npos) url = url.substr(0, slash);
    url += "/api/stream";
    std::string sep = "?";
    if (!watch->table.empty()) { url += sep + "tables=" + watch->table; sep = "&"; }
    if (!watch->where.empty()) {
      std::string encoded;
      for (char c : watch->where) {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') encoded += c;
        else { char buf[4]; std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c)); encoded += buf; }
      }
      url += sep + "where=" + encoded;
    }
    long seen = 0;
    const Status s = server::watch_stream(url, options_of(*watch), [&](const std::string& message) {
      std::fwrite(message.data(), 1, message.size(), stdout);
      std::fputc('\n', stdout);
      std::fflush(stdout);
      return watch->count == 0 || ++seen < watch->count;
    });
    if (!s.is_ok()) std::fprintf(stderr, "ecsdb: %s\n", s.message().c_str());
    exit_code = s.is_ok() ? 0 : s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  });
}

}  // namespace ecsdb::cli
