// Api — the routes of the HTTP/JSON API (docs/openapi.yaml is the contract), independent of the network:
// HttpServer parses, authenticates and limits requests, then hands them here as plain values. Handlers run
// on network threads; only POST /api/transactions reaches the writer, through the queue (Database::submit),
// answering from the writer's completion callback without blocking a network thread.
#pragma once

#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/mutex.hpp"
#include "ecsdb/database.hpp"
#include "ecsdb/replication_server.hpp"
#include "server/api_error.hpp"
#include "server/server_config.hpp"
#include "server/server_metrics.hpp"

namespace ecsdb::server {

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string path;     // decoded path, no query
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order (repeats kept)
  std::string content_type;
  std::string idempotency_key;
  std::string body;
  Role role = Role::kAdmin;   // of the caller's token (kAdmin when the server has no tokens)
  std::string token_name;     // for logs

  // The first value of a query parameter, or nullptr.
  const std::string* param(std::string_view name) const;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};
using Respond = std::function<void(HttpResponse)>;

HttpResponse json_response(unsigned status, const boost::json::value& body);
HttpResponse error_response(const ApiError& e);

// One served route: what the spec lists and what the router matches.
struct Route {
  std::string method;
  std::string path;  // OpenAPI template, e.g. /api/tables/{table}/rows
  Role role;         // least role allowed (kNone = public)
  std::string name;  // label of the route in metrics (the template)
};
const std::vector<Route>& api_routes();
// The route matching method + path, with its path parameters; 404/405 errors otherwise.
ApiResult<std::pair<const Route*, std::vector<std::string>>> match_route(std::string_view method, std::string_view path);

enum class Phase : std::uint8_t { kStarting, kReady, kShuttingDown };

class Api {
 public:
  Api(const ServerConfig& config, ServerMetrics& metrics);
  ~Api();

  // Once recovery is done (before: every route but health answers 503 starting). `repl`: the replication
  // server, when one runs (its clients appear in metrics and /api/replication/clients).
  void attach(Database* db, const ReplicationServer* repl = nullptr);
  // Before the database closes: releases the versions retained for paging (they pin it).
  void detach();
  void set_phase(Phase p) { phase_.store(p, std::memory_order_release); }
  Phase phase() const { return phase_.load(std::memory_order_acquire); }
  Database* database() const { return db_.load(std::memory_order_acquire); }

  // Handles a matched route. `respond` is called exactly once (maybe later, from another thread).
  void handle(const Route& route, const std::vector<std::string>& params, const HttpRequest& req, Respond respond);
  // Releases retained versions past version_retention_ms (called periodically).
  void expire_views();
  std::size_t in_flight_transactions() const { return in_flight_.load(std::memory_order_acquire); }

 private:
  using View = std::shared_ptr<const PinnedView>;
  // The version a read answers at: `version=` (retained, else 410) or the newest, retained for later
  // pages when `retain` (the paged routes) so that their `next` cursors stay valid.
  ApiResult<View> view_for(const HttpRequest& req, bool retain);
  ApiResult<boost::json::value> parse_json_body(const HttpRequest& req) const;

  HttpResponse health();
  HttpResponse info();
  HttpResponse schema();
  HttpResponse validate_schema(const HttpRequest& req);
  HttpResponse tables(const HttpRequest& req);
  HttpResponse rows(const HttpRequest& req, const std::string& table);
  HttpResponse entity(const HttpRequest& req, const std::string& id);
  HttpResponse query(const HttpRequest& req);
  HttpResponse metrics_json();
  HttpResponse whoami(const HttpRequest& req);
  HttpResponse replication_clients();
  boost::json::value replication_json() const;
  HttpResponse prometheus();
  void snapshot(Respond respond);
  void transaction(const HttpRequest& req, Respond respond);

  const ServerConfig& config_;
  ServerMetrics& metrics_;
  std::atomic<Database*> db_{nullptr};
  std::atomic<const ReplicationServer*> repl_{nullptr};
  std::atomic<Phase> phase_{Phase::kStarting};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::size_t> snapshots_running_{0};

  // Versions pinned for paging (`version=`), newest use last.
  struct Retained {
    View view;
    std::chrono::steady_clock::time_point last_used;
  };
  base::Mutex views_mu_;
  std::map<std::uint64_t, Retained> views_ ECSDB_GUARDED_BY(views_mu_);

  // Idempotency-Key -> the first answer (or a marker while it is being committed).
  struct Remembered {
    std::uint64_t body_hash = 0;
    bool done = false;
    HttpResponse response;
    std::uint64_t order = 0;
  };
  base::Mutex keys_mu_;
  std::map<std::string, Remembered, std::less<>> keys_ ECSDB_GUARDED_BY(keys_mu_);
  std::uint64_t key_order_ ECSDB_GUARDED_BY(keys_mu_) = 0;
};

}  // namespace ecsdb::server
