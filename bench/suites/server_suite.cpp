#include "bench/suites/server_suite.hpp"

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "bench/peers/redis_peer.hpp"
#include "bench/suites/bench_json.hpp"
#include "bench/suites/bench_schema.hpp"
#include "ecsdb/database.hpp"
#include "server/api.hpp"
#include "server/http_server.hpp"
#include "server/server_metrics.hpp"
#include "replication/delta_hub.hpp"

namespace ecsdb::bench {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;


// One keep-alive connection sending requests back to back; `make` builds each request.
class LoadConnection : public std::enable_shared_from_this<LoadConnection> {
 public:
  using Make = std::function<void(http::request<http::string_body>&, std::mt19937_64&)>;
  LoadConnection(net::io_context& io, tcp::endpoint ep, Make make, std::atomic<bool>& stop, std::uint64_t seed)
      : stream_(io), endpoint_(ep), make_(std::move(make)), stop_(stop), rng_(seed) {}

  void start() {
    auto self = shared_from_this();
    stream_.async_connect(endpoint_, [self](beast::error_code ec) {
      if (!ec) self->send();
    });
  }
  std::vector<double> latencies_us;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;

 private:
  void send() {
    if (stop_.load(std::memory_order_relaxed)) return;
    req_ = {};
    make_(req_, rng_);
    req_.version(11);
    req_.keep_alive(true);
    req_.prepare_payload();
    sent_ = Clock::now();
    auto self = shared_from_this();
    http::async_write(stream_, req_, [self](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->res_ = {};
      http::async_read(self->stream_, self->buffer_, self->res_, [self](beast::error_code e, std::size_t) {
        if (e) return;
        const double us = std::chrono::duration<double, std::micro>(Clock::now() - self->sent_).count();
        if (self->res_.result_int() == 200) {
          ++self->ok;
          self->latencies_us.push_back(us);
        } else {
          ++self->failed;
        }
        self->send();
      });
    });
  }

  beast::tcp_stream stream_;
  tcp::endpoint endpoint_;
  Make make_;
  std::atomic<bool>& stop_;
  std::mt19937_64 rng_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  Clock::time_point sent_;
};

struct LoadResult {
  double tps = 0;
  double p99_us = 0;
  std::uint64_t failed = 0;
};

LoadResult run_load(tcp::endpoint ep, std::size_t connections, double seconds, const LoadConnection::Make& make) {
  net::io_context io;
  std::atomic<bool> stop{false};
  std::vector<std::shared_ptr<LoadConnection>> conns;
  for (std::size_t i = 0; i < connections; ++i) {
    conns.push_back(std::make_shared<LoadConnection>(io, ep, make, stop, 1234 + i));
    conns.back()->start();
  }
  // Warm-up: a tenth of the time, then count.
  std::thread runner([&io] { io.run(); });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds * 0.1));
  std::uint64_t ok_before = 0;
  for (auto& c : conns) ok_before += c->ok;  // racy read of a counter: only a start offset
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  io.stop();
  runner.join();
  LoadResult r;
  std::uint64_t ok = 0;
  std::vector<double> all;
  for (auto& c : conns) {
    ok += c->ok;
    r.failed += c->failed;
    all.insert(all.end(), c->latencies_us.begin(), c->latencies_us.end());
  }
  r.tps = static_cast<double>(ok - ok_before) / elapsed;
  r.p99_us = percentile(all, 99);
  return r;
}

// Stream lag: `clients` WebSocket subscribers; commits are submitted at a steady rate and each version's
// publish time (the ticket's resolution) is compared with the time every client receives it.
double stream_lag_p99_us(Database& db, tcp::endpoint ep, std::size_t clients, double seconds,
                         const std::vector<Entity>& entities) {
  std::mutex mu;
  std::map<std::uint64_t, Clock::time_point> published;
  std::vector<double> lags;
  net::io_context io;
  std::atomic<bool> stop{false};
  struct Client {
    std::unique_ptr<websocket::stream<beast::tcp_stream>> ws;
    beast::flat_buffer buffer;
  };
  std::vector<std::unique_ptr<Client>> cs;
  for (std::size_t i = 0; i < clients; ++i) {
    auto c = std::make_unique<Client>();
    c->ws = std::make_unique<websocket::stream<beast::tcp_stream>>(io);
    beast::get_lowest_layer(*c->ws).connect(ep);
    // since = the current version: no initial state (10k rows to each of 100 clients would dominate the
    // first second), only the deltas that follow.
    c->ws->handshake("127.0.0.1", "/api/stream?tables=health&since=" + std::to_string(db.published_version()));
    cs.push_back(std::move(c));
  }
  std::function<void(Client*)> read = [&](Client* c) {
    c->ws->async_read(c->buffer, [&, c](beast::error_code ec, std::size_t) {
      if (ec) return;
      const auto now = Clock::now();
      const std::string text = beast::buffers_to_string(c->buffer.data());
      c->buffer.consume(c->buffer.size());
      if (text.find("\"type\":\"delta\"") != std::string::npos) {
        const std::size_t at = text.find("\"version\":");
        if (at != std::string::npos) {
          const std::uint64_t v = std::strtoull(text.c_str() + at + 10, nullptr, 10);
          std::lock_guard lock(mu);
          if (auto it = published.find(v); it != published.end()) {
            lags.push_back(std::chrono::duration<double, std::micro>(now - it->second).count());
          }
        }
      }
      if (!stop.load()) read(c);
    });
  };
  for (auto& c : cs) read(c.get());
  std::thread runner([&io] { io.run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the initial state messages
  std::mt19937_64 rng(7);
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  std::uint32_t n = 0;
  while (Clock::now() < end) {
    const Entity e = entities[rng() % entities.size()];
    const std::uint32_t hp = ++n;
    db.submit([e, hp](Transaction& t) { return t.set_field("health", e.bits(), "hp", Value::from_uint(hp)); },
              [&](const Status& s, std::uint64_t version) {
                if (!s.is_ok()) return;
                std::lock_guard lock(mu);
                published.emplace(version, Clock::now());
              });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // ~500 commits/s: a busy game's tick rate × entities moved
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop.store(true);
  for (auto& c : cs) {
    beast::error_code ec;
    beast::get_lowest_layer(*c->ws).socket().shutdown(tcp::socket::shutdown_both, ec);
  }
  io.stop();
  runner.join();
  std::lock_guard lock(mu);
  return percentile(lags, 99);
}

// redis-benchmark SET against a redis-server started here; 0 when either is missing or fails.
double redis_set_tps(std::size_t connections, double seconds, std::string& note) {
  if (std::system("command -v redis-benchmark >/dev/null 2>&1") != 0) {
    note = "redis-benchmark not installed (Debian: redis-tools)";
    return 0;
  }
  auto redis = RedisServer::start(0, note);
  if (redis == nullptr) return 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // SETs enough for about `seconds`: redis does ~100k/s per core here; redis-benchmark stops at -n.
  const long requests = std::max(50000L, static_cast<long>(seconds * 100000));
  const std::string cmd = "redis-benchmark -p " + std::to_string(redis->port()) + " -c " + std::to_string(connections) +
                          " -n " + std::to_string(requests) + " -t set -q --csv 2>/dev/null";
  double tps = 0;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      // "SET","123456.79",... (the second column is requests/s)
      if (std::strncmp(line, "\"SET\"", 5) == 0) tps = std::strtod(line + 7, nullptr);
    }
    pclose(f);
  }
  if (tps == 0) note = "redis-benchmark gave no SET figure";
  return tps;
}

}  // namespace

Result<nlohmann::json> run_server_suite(const ServerSuiteOptions& options) {
  auto say = [&](std::string_view phase) {
    if (options.progress) options.progress(phase);
  };
  // The benchmarks' game schema (transform + health): the requests touch only health.
  const std::shared_ptr<const Schema> schema = game_schema();
  if (schema == nullptr) return Status(StatusCode::kInternal, "the embedded game schema no longer parses");
  namespace fs = std::filesystem;
  const fs::path parent = options.dir.empty() ? fs::temp_directory_path() : fs::path(options.dir);
  const fs::path dir = parent / ("ecsdb-server-bench-" + std::to_string(getpid()));
  fs::remove_all(dir);

  server::ServerConfig config;
  config.schema = "(in process)";
  config.data = dir.string();
  config.durability = "async";
  config.http = "127.0.0.1:0";
  config.threads = options.server_threads;
  config.access_log = false;
  config.max_connections = static_cast<std::uint32_t>(options.connections + options.stream_clients + 16);
  DatabaseOptions db_options;
  db_options.data_dir = config.data;
  db_options.durability = Durability::kAsync;
  ECSDB_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::open(schema, db_options));
  std::vector<Entity> entities;
  {
    Transaction t = db->writer().begin();
    ECSDB_RETURN_IF_ERROR(t.create_many(options.entities, entities));
    for (Entity e : entities) {
      ECSDB_RETURN_IF_ERROR(t.add_row("health", e, {{"hp", Value::from_uint(100)}, {"max_hp", Value::from_uint(100)}}));
    }
    ECSDB_RETURN_IF_ERROR(t.commit());
    db->writer().publish();
  }
  ECSDB_RETURN_IF_ERROR(db->start_writer_thread());
  server::ServerMetrics metrics;
  server::Api api(config, metrics);
  replication::DeltaHub hub;
  server::HttpServer http(config, metrics, api, hub);
  ECSDB_RETURN_IF_ERROR(http.start());
  ECSDB_RETURN_IF_ERROR(hub.start(*db));
  api.attach(db.get());
  const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), http.port());
  const double share = options.seconds / 3;

  nlohmann::json results;
  say("http_txn_tps (one-op transactions)");
  auto ids = std::make_shared<std::vector<std::string>>();
  for (Entity e : entities) ids->push_back(std::to_string(e.index()) + ":" + std::to_string(e.generation()));
  const LoadResult txn = run_load(ep, options.connections, share, [ids](http::request<http::string_body>& req, std::mt19937_64& rng) {
    req.method(http::verb::post);
    req.target("/api/transactions");
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.body() = R"({"ops":[{"op":"set","table":"health","entity":")" + (*ids)[rng() % ids->size()] +
                 R"(","field":"hp","value":)" + std::to_string(rng() % 1000) + "}]}";
  });
  results["http_txn_tps"] = figure(txn.tps, "tx/s", "redis_set_tps");
  results["http_txn_p99_us"] = figure(txn.p99_us, "us");

  say("http_read_tps (GET one entity)");
  const LoadResult read = run_load(ep, options.connections, share, [ids](http::request<http::string_body>& req, std::mt19937_64& rng) {
    req.method(http::verb::get);
    req.target("/api/entities/" + (*ids)[rng() % ids->size()]);
    req.set(http::field::host, "127.0.0.1");
  });
  results["http_read_tps"] = figure(read.tps, "req/s", "redis_set_tps");
  results["http_read_p99_us"] = figure(read.p99_us, "us");

  say("stream_lag_p99_us (" + std::to_string(options.stream_clients) + " subscribers)");
  results["stream_lag_p99_us"] = figure(stream_lag_p99_us(*db, ep, options.stream_clients, share, entities), "us");

  hub.stop();
  api.detach();
  db->stop_writer_thread();  // answers what is still queued while the network threads run
  http.stop();
  db.reset();
  fs::remove_all(dir);

  say("redis_set_tps (redis-benchmark)");
  std::string redis_note;
  const double redis = redis_set_tps(options.connections, share, redis_note);
  if (redis > 0) results["redis_set_tps"] = figure(redis, "req/s");

  nlohmann::json out;
  out["machine"] = machine_json();
  out["config"] = {{"suite", "server"},
                   {"entities", options.entities},
                   {"connections", options.connections},
                   {"stream_clients", options.stream_clients},
                   {"server_threads", options.server_threads},
                   {"seconds", options.seconds},
                   {"failed_requests", txn.failed + read.failed}};
  if (!redis_note.empty()) out["config"]["redis"] = redis_note;
  out["results"] = std::move(results);
  return out;
}

}  // namespace ecsdb::bench
