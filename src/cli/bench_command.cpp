// `ecsdb bench SUITE [--entities N] [--seconds S] [--json]` (DESIGN.md §5, docs/benchmarks.md).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/suites/durability_suite.hpp"
#include "bench/suites/replication_suite.hpp"
#include "bench/suites/server_suite.hpp"
#include "bench/suites/txn_suite.hpp"
#include "cli/commands.hpp"

namespace ecsdb::cli {
namespace {

// Suites this build knows; `all` runs each of them into one results object.
constexpr std::string_view kSuites[] = {"txn", "durability", "server", "replication", "all"};
// Table order: each figure next to its baseline. Figures not listed follow, alphabetically.
constexpr std::string_view kDisplayOrder[] = {
    "read_ns", "read_unpinned_ns", "raw_read_ns", "sqlite_read_ns",
    "scan_ns_per_row", "raw_scan_ns_per_row", "membw_scan_ns_per_row", "scan2_ns_per_row", "query2_ns_per_row",
    "raw_scan2_ns_per_row", "membw_scan2_ns_per_row", "membw_gbps",
    "for_each_mut_ns_per_row", "raw_for_each_mut_ns_per_row",
    "create_ns", "insert_ns", "update_field_ns", "delete_ns", "destroy_ns",
    "create_publish_each_ns", "insert_publish_each_ns", "update_field_publish_each_ns",
    "delete_publish_each_ns", "destroy_publish_each_ns",
    "sqlite_insert_ns", "sqlite_update_ns", "sqlite_delete_ns",
    "queue_tps_1", "queue_tps_4", "commit_publish_us", "commit_publish_p99_us",
    "memory_overhead_pct", "memory_rss_overhead_pct", "bytes_in_use", "raw_packed_bytes",
    "durable_tps", "sqlite_wal_full_tps", "durable_tps_1", "durable_tps_16", "async_tps",
    "durable_single_p50_us", "raw_fdatasync_p50_us", "wal_bytes_per_update",
    "snapshot_ms", "snapshot_retired_ms", "raw_write_fsync_ms", "raw_write_writeback_ms", "snapshot_bytes", "recovery_ms",
    "http_txn_tps", "http_txn_p99_us", "http_read_tps", "http_read_p99_us", "redis_set_tps", "stream_lag_p99_us",
    "repl_lag_p50_us", "redis_fanout_lag_p50_us", "repl_lag_p90_us", "repl_lag_p99_us", "redis_fanout_lag_p99_us", "repl_lag_p999_us", "repl_lag_max_us",
    "repl_bytes_per_field", "repl_bytes_per_field_uncompressed", "redis_bytes_per_field", "repl_frames_per_s", "repl_server_cpu_pct",
    "repl_server_mem_bytes", "repl_server_mem_growth_bytes"};

struct BenchArgs {
  std::string suite;
  std::size_t entities = 1'000'000;
  double seconds = 10.0;
  std::string dir;
  bool json = false;
  std::size_t connections = 64;
  std::size_t stream_clients = 100;
  std::size_t clients = 64;
  std::size_t updates_per_tick = 10000;
  double tick_hz = 60;
  int compress = 1;
  std::uint32_t page_bytes = 16 * 1024;
  int ping_pong = 1;
  std::uint32_t threads = 2;
  bool entities_given = false;  // replication defaults to 100,000 entities, the others to 1,000,000
};

std::string suite_list() {
  std::string s;
  for (std::string_view name : kSuites) s.append(s.empty() ? "" : ", ").append(name);
  return s;
}

std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, v >= 1000 ? "%.0f" : "%.2f", v);
  return buf;
}

// name, value, unit, and "x.xx× baseline" where the figure has one.
void print_table(const nlohmann::json& out, std::ostream& os) {
  const nlohmann::json& machine = out["machine"];
  os << "machine: " << machine.value("model", "?") << ", " << machine.value("cpus", 0) << " cpus, "
     << machine.value("compiler", "?") << "\n";
  if (out.contains("config")) os << "config: " << out["config"].dump() << "\n";
  os << "\n";
  char line[160];
  std::snprintf(line, sizeof line, "%-30s %14s  %-6s  %s\n", "figure", "value", "unit", "vs baseline");
  os << line;
  const nlohmann::json& results = out["results"];
  std::vector<std::string> names;
  for (std::string_view name : kDisplayOrder) {
    if (results.contains(name)) names.emplace_back(name);
  }
  for (const auto& [name, r] : results.items()) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  for (const std::string& name : names) {
    const nlohmann::json& r = results[name];
    const double value = r["value"].get<double>();
    std::string ratio;
    if (r["baseline"].is_string()) {
      const std::string base = r["baseline"].get<std::string>();
      const auto it = results.find(base);
      if (it != results.end() && (*it)["value"].get<double>() > 0) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "%.2fx %s", value / (*it)["value"].get<double>(), base.c_str());
        ratio = buf;
      }
    }
    std::snprintf(line, sizeof line, "%-30s %14s  %-6s  %s\n", name.c_str(), format_value(value).c_str(),
                  r["unit"].get<std::string>().c_str(), ratio.c_str());
    os << line;
  }
}

int run_bench(const BenchArgs& args) {
  bool known = false;
  for (std::string_view name : kSuites) known = known || name == args.suite;
  if (!known) {
    std::cerr << "ecsdb bench: unknown suite '" << args.suite << "' (suites: " << suite_list() << ")\n";
    return 2;
  }
  if (args.entities == 0 || args.seconds <= 0) {
    std::cerr << "ecsdb bench: --entities and --seconds must be positive\n";
    return 2;
  }
  auto progress = [](const std::string& suite) {
    return [suite](std::string_view phase) { std::cerr << "ecsdb bench " << suite << ": " << phase << "...\n"; };
  };
  nlohmann::json out;
  if (args.suite == "txn" || args.suite == "all") {
    bench::TxnSuiteOptions options;
    options.entities = args.entities;
    options.seconds = args.seconds;
    options.page_bytes = args.page_bytes;
    options.ping_pong_pages = args.ping_pong != 0;
    options.reader_threads = args.threads;
    options.progress = progress("txn");
    Result<nlohmann::json> txn = bench::run_txn_suite(options);
    if (!txn) {
      std::cerr << "ecsdb bench txn: " << txn.status().to_string() << "\n";
      return 1;
    }
    out = std::move(*txn);
  }
  if (args.suite == "durability" || args.suite == "all") {
    bench::DurabilitySuiteOptions options;
    options.entities = args.entities;
    options.seconds = args.seconds;
    options.dir = args.dir;
    options.progress = progress("durability");
    Result<nlohmann::json> durability = bench::run_durability_suite(options);
    if (!durability) {
      std::cerr << "ecsdb bench durability: " << durability.status().to_string() << "\n";
      return 1;
    }
    if (out.is_null()) {
      out = std::move(*durability);
    } else {  // `all`: one results object, one config per suite
      for (auto& [name, r] : (*durability)["results"].items()) out["results"][name] = r;
      out["config"] = {{"txn", out["config"]}, {"durability", (*durability)["config"]}};
      out["config"]["suite"] = "all";
    }
  }
  if (args.suite == "server" || args.suite == "all") {
    bench::ServerSuiteOptions options;
    options.seconds = args.seconds;
    options.connections = args.connections;
    options.stream_clients = args.stream_clients;
    options.dir = args.dir;
    options.progress = progress("server");
    Result<nlohmann::json> served = bench::run_server_suite(options);
    if (!served) {
      std::cerr << "ecsdb bench server: " << served.status().to_string() << "\n";
      return 1;
    }
    if (out.is_null()) {
      out = std::move(*served);
    } else {
      for (auto& [name, r] : (*served)["results"].items()) out["results"][name] = r;
      out["config"]["server"] = (*served)["config"];
    }
  }
  if (args.suite == "replication" || args.suite == "all") {
    bench::ReplicationSuiteOptions options;
    options.entities = args.entities_given ? args.entities : 100000;
    options.seconds = args.seconds;
    options.clients = args.clients;
    options.updates_per_tick = args.updates_per_tick;
    options.tick_hz = args.tick_hz;
    options.compress = args.compress != 0;
    options.progress = progress("replication");
    Result<nlohmann::json> replicated = bench::run_replication_suite(options);
    if (!replicated) {
      std::cerr << "ecsdb bench replication: " << replicated.status().to_string() << "\n";
      return 1;
    }
    if (out.is_null()) {
      out = std::move(*replicated);
    } else {
      for (auto& [name, r] : (*replicated)["results"].items()) out["results"][name] = r;
      out["config"]["replication"] = (*replicated)["config"];
    }
  }
  if (args.json) {
    std::cout << out.dump(2) << "\n";
  } else {
    print_table(out, std::cout);
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& root, int& exit_code) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = root.add_subcommand("bench", "Run a benchmark suite and print its figures (docs/benchmarks.md)");
  cmd->add_option("suite", args->suite, "Suite to run: " + suite_list())->required();
  cmd->add_option("--entities", args->entities, "Entities in the database (default 1000000; replication: 100000)")
      ->each([args](const std::string&) { args->entities_given = true; });
  cmd->add_option("--seconds", args->seconds, "Measurement budget in seconds, set-up excluded (default 10)");
  cmd->add_option("--threads", args->threads, "txn: reader threads of the reader-scaling figures, 1, 2, 4, ... up to this (default 2)")
      ->check(CLI::Range(1u, 256u));
  cmd->add_option("--page-bytes", args->page_bytes, "txn: DatabaseOptions::page_bytes of its databases (default 16384)");
  cmd->add_option("--ping-pong", args->ping_pong, "txn: DatabaseOptions::ping_pong_pages of its databases, 1 or 0 (default 1)")
      ->check(CLI::Range(0, 1));
  cmd->add_option("--dir", args->dir, "durability: parent directory for its files (default: the system temp dir)");
  cmd->add_option("--connections", args->connections, "server: keep-alive connections of the load (default 64)");
  cmd->add_option("--stream-clients", args->stream_clients, "server: WebSocket subscribers for stream_lag_p99_us (default 100)");
  cmd->add_option("--clients", args->clients, "replication: replicas (default 64)");
  cmd->add_option("--updates-per-tick", args->updates_per_tick, "replication: field updates per tick (default 10000)");
  cmd->add_option("--tick-hz", args->tick_hz, "replication: ticks per second (default 60)");
  cmd->add_option("--compress", args->compress, "replication: 1 = the replicas ask for zstd (default), 0 = they do not");
  cmd->add_flag("--json", args->json, "Print one JSON object instead of a table");
  cmd->callback([args, &exit_code] { exit_code = run_bench(*args); });
}

}  // namespace ecsdb::cli
