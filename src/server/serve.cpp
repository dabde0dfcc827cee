#include "server/serve.hpp"


#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <csignal>
#include <filesystem>
#include <cstdlib>
#include <thread>

#include "ecsdb/database.hpp"
#include "ecsdb/replication_server.hpp"
#include "server/api.hpp"
#include "server/http_server.hpp"
#include "server/server_metrics.hpp"
#include "server/simulation.hpp"
#include "replication/delta_hub.hpp"

namespace ecsdb::server {

namespace {

// JSON log lines: the message itself is JSON-escaped into "msg" unless it already is an object.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    boost::json::object line;
    const auto seconds = std::chrono::duration<double>(msg.time.time_since_epoch()).count();
    line["ts"] = seconds;
    line["level"] = std::string_view(spdlog::level::to_string_view(msg.level).data(), spdlog::level::to_string_view(msg.level).size());
    boost::system::error_code ec;
    if (!text.empty() && text.front() == '{') {
      boost::json::value v = boost::json::parse(text, ec);
      if (!ec && v.is_object()) {
        for (auto& kv : v.as_object()) line[kv.key()] = kv.value();
      } else {
        line["msg"] = text;
      }
    } else {
      line["msg"] = text;
    }
    const std::string out = boost::json::serialize(line) + "\n";
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

void log_event(const ServerConfig& c, std::string_view event, const std::string& text) {
  if (c.log_format == "json") {
    spdlog::info("{}", boost::json::serialize(boost::json::object{{"event", event}, {"msg", text}}));
  } else {
    spdlog::info("{}", text);
  }
}

Durability durability_of(const ServerConfig& c) {
  if (c.data.empty() || c.durability == "memory") return Durability::kMemory;
  return c.durability == "async" ? Durability::kAsync : Durability::kSync;
}

}  // namespace

void configure_logging(const ServerConfig& config) {
  auto logger = std::make_shared<spdlog::logger>("ecsdb", std::make_shared<spdlog::sinks::stdout_sink_mt>());
  if (config.log_format == "json") logger->set_formatter(std::make_unique<JsonFormatter>());
  else logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  logger->set_level(spdlog::level::from_str(config.log_level));
  logger->flush_on(spdlog::level::trace);  // one line per event, visible at once (tests and tail -f read it)
  spdlog::set_default_logger(logger);
}

// The built dashboard when no --dashboard is given: installed beside the binary (PREFIX/bin/ecsdb ->
// PREFIX/share/ecsdb/dashboard), or in the source tree of a build (build/ecsdb -> dashboard/dist).
std::string default_dashboard() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (const fs::path& dir : {exe.parent_path() / "../share/ecsdb/dashboard", exe.parent_path() / "../dashboard/dist"}) {
    if (fs::is_regular_file(dir / "index.html", ec)) return fs::weakly_canonical(dir, ec).string();
  }
  return {};
}

int serve(const ServerConfig& given) {
  ServerConfig config = given;
  if (config.dashboard.empty()) config.dashboard = default_dashboard();
  if (config.dashboard == "none") config.dashboard.clear();  // no dashboard, even where one is installed
  configure_logging(config);
  auto schema = load_schema_file(config.schema);
  if (!schema) {
    spdlog::error("{}", schema.status().to_string());
    return 2;
  }
  // SIGINT/SIGTERM are taken by sigwait below: block them before any thread starts, so none gets them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ServerMetrics metrics;
  Api api(config, metrics);
  replication::DeltaHub hub;
  HttpServer http(config, metrics, api, hub);
  if (Status s = http.start(); !s.is_ok()) {
    spdlog::error("{}", s.to_string());
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  const std::size_t colon = config.http.rfind(':');
  const std::string scheme = config.tls_cert.empty() ? "http" : "https";
  log_event(config, "listening",
            "listening on " + scheme + "://" + config.http.substr(0, colon) + ":" + std::to_string(http.port()) +
                " (health answers 'starting' until the database is open)");
  if (config.data.empty()) {
    spdlog::warn("NO DATA DIRECTORY: the database lives in memory only and everything is lost when the server stops "
                 "(give --data DIR to keep it)");
  }
  if (config.tokens.empty()) spdlog::warn("no tokens configured: every client has the admin role (loopback only)");

  DatabaseOptions options;
  options.data_dir = config.data;
  options.durability = durability_of(config);
  options.async_flush_ms = config.async_flush_ms;
  options.snapshot_every_wal_bytes = config.snapshot_every_wal_bytes;
  options.snapshot_every_seconds = config.snapshot_every_seconds;
  const auto open_start = std::chrono::steady_clock::now();
  auto opened = Database::open(*schema, options);
  if (!opened) {
    spdlog::error("{}", opened.status().to_string());
    http.stop();
    return 1;
  }
  std::unique_ptr<Database> db = std::move(*opened);
  for (const std::string& note : db->recovery_notes()) log_event(config, "recovery", "recovery: " + note);
  log_event(config, "ready",
            "database '" + db->schema().database + "' open at version " + std::to_string(db->published_version()) + " in " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - open_start).count()) +
                " ms; durability " + (config.data.empty() ? std::string("memory") : config.durability));
  if (Status s = db->start_writer_thread(); !s.is_ok()) {
    spdlog::error("{}", s.to_string());
    http.stop();
    return 1;
  }
  if (Status s = hub.start(*db); !s.is_ok()) {
    spdlog::error("{}", s.to_string());
    http.stop();
    db->stop_writer_thread();
    return 1;
  }
  // Replication, on the HTTP server's event loop and threads (DESIGN.md §2.9): always over the WebSocket
  // route /api/replication, and over TCP on `repl` when it is given.
  ReplicationOptions ro;
  ro.listen = !config.repl.empty();
  if (ro.listen) {
    const std::size_t at = config.repl.rfind(':');
    ro.address = config.repl.substr(0, at);
    if (ro.address == "localhost") ro.address = "127.0.0.1";
    ro.port = static_cast<std::uint16_t>(std::stoul(config.repl.substr(at + 1)));
  }
  ro.tick_ms = config.repl_tick_ms;
  ro.max_writes_per_second = config.repl_writes_per_second;
  ro.compression = config.repl_compression;
  ro.max_clients = config.max_connections;
  ro.client_buffer_bytes = config.stream_buffer_bytes;
  if (!config.tokens.empty()) {
    ro.authenticate = [&http, &config](std::string_view token) -> std::optional<ReplicationAccess> {
      auto [role, name] = http.authenticate_token(token);
      if (role == Role::kNone) return std::nullopt;
      ReplicationAccess a;
      a.name = name;
      a.write = role == Role::kWrite || role == Role::kAdmin;
      for (const TokenConfig& t : config.tokens) {
        if (t.name != name) continue;
        a.read_tables = t.read_tables;
        a.write_tables = t.write_tables;
        a.owner_field = t.owner_field;
        a.owner = t.owner;
      }
      return a;
    };
  }
  auto repl = std::make_unique<ReplicationServer>(*db, ro, &http.io_context());
  if (Status s = repl->start(); !s.is_ok()) {
    spdlog::error("{}", s.to_string());
    hub.stop();
    http.stop();
    db->stop_writer_thread();
    return 1;
  }
  if (ro.listen) log_event(config, "listening", "replication listening on " + ro.address + ":" + std::to_string(repl->port()));
  http.set_replication(repl.get());
  api.attach(db.get(), repl.get());
  WorldSimulation simulation;
  if (config.simulate != 0) {
    if (Status s = simulation.start(*db, config.simulate, config.simulate_hz); !s.is_ok()) {
      spdlog::error("{}", s.to_string());
      api.detach();
      http.set_replication(nullptr);
      repl->stop();
      hub.stop();
      db->stop_writer_thread();
      repl.reset();
      http.stop();
      return 2;
    }
    log_event(config, "simulation", "simulating a world of " + std::to_string(config.simulate) + " entities at " +
                                        std::to_string(config.simulate_hz) + " ticks/s");
  }
  if (!config.dashboard.empty()) {
    log_event(config, "dashboard", "dashboard: " + scheme + "://" + config.http.substr(0, colon) + ":" + std::to_string(http.port()) +
                                       "/ (from " + config.dashboard + ")");
  }
  log_event(config, "ready", "ready");

  int sig = 0;
  sigwait(&signals, &sig);
  log_event(config, "shutdown", std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                                    ": stopping (a second signal exits at once)");
  // A second signal: skip the wait for requests in flight, but still make every acknowledged commit
  // durable (flush) before exiting.
  Database* raw = db.get();
  sigset_t watch = signals;
  sigaddset(&watch, SIGUSR2);  // our own wake-up of the watcher at the end of a clean shutdown
  pthread_sigmask(SIG_BLOCK, &watch, nullptr);
  std::thread second([watch, raw] {
    int again = 0;
    sigwait(&watch, &again);
    if (again == SIGUSR2) return;
    (void)raw->flush();
    std::_Exit(1);
  });

  simulation.stop();  // its tick in progress is answered: the writer still runs
  http.stop_accepting();
  http.set_replication(nullptr);
  repl->stop();  // replicas are told "server shutting down" and reconnect elsewhere or later
  const bool idle = http.wait_idle(config.shutdown_grace_ms);
  if (!idle) spdlog::warn("requests still in flight after shutdown_grace_ms ({} ms); closing", config.shutdown_grace_ms);
  http.close_streams();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let close frames go out
  hub.stop();
  api.detach();              // releases paging views; waits for a snapshot in progress
  db->stop_writer_thread();  // drains the queue: everything submitted is committed or refused, and answered
  repl.reset();              // before the event loop it runs on goes
  http.stop();               // joins the network threads; destroys the sessions left (and their views)
  const Status flushed = db->flush();
  if (!flushed.is_ok()) spdlog::error("final flush failed: {}", flushed.to_string());
  log_event(config, "stopped", "stopped at version " + std::to_string(db->published_version()) + ", durable " +
                                   std::to_string(db->durable_version()));
  db.reset();
  pthread_kill(second.native_handle(), SIGUSR2);
  second.join();
  return flushed.is_ok() ? 0 : 1;
}

}  // namespace ecsdb::server
