#include "bench/suites/replication_suite.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "base/latency_histogram.hpp"
#include "bench/peers/redis_peer.hpp"
#include "bench/suites/bench_json.hpp"
#include "bench/suites/bench_schema.hpp"
#include "ecsdb/database.hpp"
#include "ecsdb/replica.hpp"
#include "ecsdb/replication_server.hpp"
#include "replication/protocol.hpp"

namespace ecsdb::bench {

namespace {

using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

bool write_all(int fd, const void* p, std::size_t n) {
  const auto* b = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, b, n);
    if (w <= 0) return false;
    b += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}
bool read_all(int fd, void* p, std::size_t n) {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, b, n);
    if (r <= 0) return false;
    b += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// What the server process reports after its ticks.
struct ServerReport {
  std::uint64_t ticks = 0;
  std::uint64_t fields = 0;       // field updates committed
  double cpu_seconds = 0;         // during the ticks
  double wall_seconds = 0;
  std::uint64_t rss_start = 0;    // at the first tick
  std::uint64_t rss_third = 0;    // a third of the way (warmed up: ring and client queues filled)
  std::uint64_t rss_end = 0;
  std::uint64_t frames_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t coalesced = 0;
  std::uint64_t backlog_bytes = 0;  // queued for clients at the end (the paused one's share)
};

// The child: database, ReplicationServer, tick loop. Talks to the parent over two pipes: it writes its port,
// waits for "go", ticks, writes its report, waits for "quit".
[[noreturn]] void server_process(const ReplicationSuiteOptions& o, int to_parent, int from_parent) {
  spdlog::set_level(spdlog::level::off);  // the connection log would go to stdout, into `--json` output
  auto fail = [&](const Status& s) {
    std::fprintf(stderr, "ecsdb bench replication (server): %s\n", s.to_string().c_str());
    std::uint16_t zero = 0;
    write_all(to_parent, &zero, sizeof zero);
    _exit(1);
  };
  auto db = Database::open(game_schema());
  if (!db) fail(db.status());
  std::vector<Entity> entities;
  {
    Transaction t = (*db)->writer().begin();
    if (Status s = t.create_many(o.entities, entities); !s.is_ok()) fail(s);
    for (std::size_t i = 0; i < entities.size(); ++i) {
      if (Status s = t.add(entities[i], transform_of(i)); !s.is_ok()) fail(s);
    }
    if (Status s = t.commit(); !s.is_ok()) fail(s);
  }
  ReplicationOptions ro;
  ro.port = 0;
  ro.threads = 1;
  ro.max_clients = static_cast<std::uint32_t>(o.clients + 8);
  ReplicationServer repl(**db, ro);
  if (Status s = repl.start(); !s.is_ok()) fail(s);
  const std::uint16_t port = repl.port();
  write_all(to_parent, &port, sizeof port);
  char go = 0;
  if (!read_all(from_parent, &go, 1)) _exit(1);

  ServerReport r;
  std::mt19937_64 rng(1);
  std::vector<std::uint32_t> order(entities.size());
  std::iota(order.begin(), order.end(), 0u);
  const std::size_t per_tick = std::min(o.updates_per_tick, entities.size());
  const auto tick = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o.tick_hz));
  r.rss_start = resident_bytes();
  const double cpu0 = cpu_seconds();
  const auto start = Clock::now();
  auto next = start;
  WriterHandle& w = (*db)->writer();
  while (Clock::now() - start < std::chrono::duration<double>(o.seconds)) {
    // Distinct entities this tick: a partial Fisher-Yates shuffle.
    for (std::size_t i = 0; i < per_tick; ++i) std::swap(order[i], order[i + rng() % (order.size() - i)]);
    Transaction t = w.begin();
    const float value = static_cast<float>(r.ticks);
    for (std::size_t i = 0; i < per_tick; ++i) {
      if (Status s = t.set(entities[order[i]], &Transform::position_x, value + static_cast<float>(i)); !s.is_ok()) fail(s);
    }
    if (Status s = t.commit(); !s.is_ok()) fail(s);  // publishes: replicas get it now
    ++r.ticks;
    if (r.rss_third == 0 && Clock::now() - start >= std::chrono::duration<double>(o.seconds / 3)) r.rss_third = resident_bytes();
    r.fields += per_tick;
    next += tick;
    std::this_thread::sleep_until(next);
  }
  r.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.cpu_seconds = cpu_seconds() - cpu0;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the last frames go out
  r.rss_end = resident_bytes();
  const ReplicationStats st = repl.stats();
  r.frames_sent = st.frames_sent;
  r.bytes_sent = st.bytes_sent;
  r.coalesced = st.coalesced;
  r.backlog_bytes = st.backlog_bytes;
  write_all(to_parent, &r, sizeof r);
  char quit = 0;
  (void)read_all(from_parent, &quit, 1);
  repl.stop();
  _exit(0);
}

int tcp_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

struct RedisResult {
  std::vector<double> lags_us;
  std::uint64_t bytes = 0;
  std::uint64_t fields = 0;  // field updates published
  std::string note;
};

// The Redis pub/sub peer (see the top of replication_suite.hpp).
RedisResult redis_fanout(const ReplicationSuiteOptions& o) {
  RedisResult out;
  auto redis = RedisServer::start(7, out.note);
  if (redis == nullptr) return out;
  const int port = redis->port();
  int publisher = -1;
  for (int i = 0; i < 50 && publisher < 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    publisher = tcp_connect(static_cast<std::uint16_t>(port));
  }
  if (publisher < 0) {
    out.note = "redis-server did not start";
    return out;
  }
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::atomic<std::size_t> subscribed{0};
  std::vector<std::thread> subscribers;
  for (std::size_t c = 0; c < o.clients; ++c) {
    subscribers.emplace_back([&, port] {
      const int fd = tcp_connect(static_cast<std::uint16_t>(port));
      if (fd < 0) return;
      const std::string cmd = "SUBSCRIBE w\r\n";
      write_all(fd, cmd.data(), cmd.size());
      std::vector<char> buf;
      std::vector<double> lags;
      std::uint64_t bytes = 0;
      bool counted = false;
      std::array<char, 65536> chunk{};
      while (!stop.load()) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const ssize_t n = ::read(fd, chunk.data(), chunk.size());
        if (n <= 0) break;
        bytes += static_cast<std::uint64_t>(n);
        buf.insert(buf.end(), chunk.data(), chunk.data() + n);
        // RESP push messages: *3\r\n$7\r\nmessage\r\n$1\r\nw\r\n$LEN\r\nPAYLOAD\r\n (and one subscribe reply).
        for (;;) {
          const std::string_view v(buf.data(), buf.size());
          const std::size_t kind = v.find("$7\r\nmessage\r\n$1\r\nw\r\n$");
          if (!counted && v.find("subscribe") != std::string_view::npos) {
            counted = true;
            subscribed.fetch_add(1);
          }
          if (kind == std::string_view::npos) {
            if (buf.size() > 64) buf.erase(buf.begin(), buf.end() - 64);
            break;
          }
          const std::size_t len_at = kind + 22;
          const std::size_t crlf = v.find("\r\n", len_at);
          if (crlf == std::string_view::npos) break;
          const std::size_t len = std::strtoull(v.data() + len_at, nullptr, 10);
          if (v.size() < crlf + 2 + len + 2) break;
          const char* payload = v.data() + crlf + 2;
          std::uint64_t sent = 0;
          std::memcpy(&sent, payload, 8);
          // Decode every update, as a client applying them would have to read them.
          volatile float sink = 0;
          for (std::size_t at = 8; at + 8 <= len; at += 8) {
            float value = 0;
            std::memcpy(&value, payload + at + 4, 4);
            sink = sink + value;
          }
          const std::uint64_t now = base::unix_nanos();
          lags.push_back(now > sent ? static_cast<double>(now - sent) / 1000.0 : 0);
          buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(crlf + 2 + len + 2));
        }
      }
      ::close(fd);
      std::lock_guard lock(mu);
      out.lags_us.insert(out.lags_us.end(), lags.begin(), lags.end());
      out.bytes += bytes;
    });
  }
  for (int i = 0; i < 200 && subscribed.load() < o.clients; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::mt19937_64 rng(1);
  const std::size_t per_tick = std::min(o.updates_per_tick, o.entities);
  std::vector<std::uint32_t> order(o.entities);
  std::iota(order.begin(), order.end(), 0u);
  const auto tick = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o.tick_hz));
  const auto start = Clock::now();
  auto next = start;
  std::string message;
  std::array<char, 4096> drain{};
  for (std::uint64_t t = 0; Clock::now() - start < std::chrono::duration<double>(o.seconds); ++t) {
    for (std::size_t i = 0; i < per_tick; ++i) std::swap(order[i], order[i + rng() % (order.size() - i)]);
    std::string payload(8 + per_tick * 8, '\0');
    const std::uint64_t now = base::unix_nanos();
    std::memcpy(payload.data(), &now, 8);
    for (std::size_t i = 0; i < per_tick; ++i) {
      const float value = static_cast<float>(t + i);
      std::memcpy(payload.data() + 8 + i * 8, &order[i], 4);
      std::memcpy(payload.data() + 12 + i * 8, &value, 4);
    }
    message = "*3\r\n$7\r\nPUBLISH\r\n$1\r\nw\r\n$" + std::to_string(payload.size()) + "\r\n" + payload + "\r\n";
    write_all(publisher, message.data(), message.size());
    pollfd p{publisher, POLLIN, 0};
    while (::poll(&p, 1, 0) > 0 && ::read(publisher, drain.data(), drain.size()) > 0) {}  // ":N\r\n" replies
    out.fields += per_tick;
    next += tick;
    std::this_thread::sleep_until(next);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (auto& s : subscribers) s.join();
  ::close(publisher);
  return out;
}

}  // namespace

Result<nlohmann::json> run_replication_suite(const ReplicationSuiteOptions& o) {
  auto say = [&](std::string_view phase) {
    if (o.progress) o.progress(phase);
  };
  if (game_schema() == nullptr) return Status(StatusCode::kInternal, "the embedded game schema no longer parses");
  int up[2], down[2];
  if (::pipe(up) != 0 || ::pipe(down) != 0) return Status(StatusCode::kIoError, "pipe failed");
  say("server process: " + std::to_string(o.entities) + " entities");
  const pid_t child = fork();
  if (child < 0) return Status(StatusCode::kIoError, "fork failed");
  if (child == 0) {
    ::close(up[0]);
    ::close(down[1]);
    server_process(o, up[1], down[0]);
  }
  ::close(up[1]);
  ::close(down[0]);
  auto finish_child = [&] {
    char quit = 'q';
    write_all(down[1], &quit, 1);
    ::close(down[1]);
    ::close(up[0]);
    waitpid(child, nullptr, 0);
  };
  std::uint16_t port = 0;
  if (!read_all(up[0], &port, sizeof port) || port == 0) {
    finish_child();
    return Status(StatusCode::kInternal, "the server process did not start");
  }

  say(std::to_string(o.clients) + " replicas: full sync");
  std::vector<std::vector<double>> lags(o.clients);
  std::vector<std::unique_ptr<Replica>> replicas;
  for (std::size_t c = 0; c < o.clients; ++c) {
    lags[c].reserve(static_cast<std::size_t>(o.seconds * o.tick_hz * 2) + 16);
    ReplicaOptions ro;
    ro.port = port;
    ro.tables = {"transform"};
    ro.compress = o.compress;
    ro.connect_timeout_ms = 60000;
    ro.on_applied = [&lag = lags[c]](std::uint64_t, std::uint64_t lag_us) { lag.push_back(static_cast<double>(lag_us)); };
    auto r = Replica::connect(ro);
    if (!r) {
      finish_child();
      return r.status();
    }
    replicas.push_back(std::move(*r));
  }
  // The paused client: HELLO, then never a read for the whole run.
  const int paused = tcp_connect(port);
  if (paused >= 0) {
    std::vector<std::byte> hello;
    replication::encode_hello({replication::kProtocolVersion, 0, 0, 0, 0, {}, {"transform"}, {}}, hello);
    write_all(paused, hello.data(), hello.size());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::uint64_t bytes0 = 0, raw0 = 0, frames0 = 0;
  for (auto& r : replicas) {
    bytes0 += r->stats().bytes_received;
    raw0 += r->stats().bytes_uncompressed;
    frames0 += r->stats().frames;
  }
  for (auto& l : lags) l.clear();  // the sync's own frames are not part of the figure

  say("ticks: " + std::to_string(o.updates_per_tick) + " updates at " + std::to_string(o.tick_hz) + " Hz for " +
      std::to_string(o.seconds) + " s");
  char go = 'g';
  write_all(down[1], &go, 1);
  ServerReport report;
  const bool reported = read_all(up[0], &report, sizeof report);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::uint64_t bytes = 0, raw = 0, frames = 0;
  for (auto& r : replicas) {
    bytes += r->stats().bytes_received;
    raw += r->stats().bytes_uncompressed;
    frames += r->stats().frames;
  }
  bytes -= bytes0;
  raw -= raw0;
  frames -= frames0;
  replicas.clear();
  if (paused >= 0) ::close(paused);
  finish_child();
  if (!reported) return Status(StatusCode::kInternal, "the server process did not report");

  std::vector<double> all;
  for (auto& l : lags) all.insert(all.end(), l.begin(), l.end());
  nlohmann::json results;
  results["repl_lag_p50_us"] = figure(percentile(all, 50), "us");
  results["repl_lag_p90_us"] = figure(percentile(all, 90), "us");
  results["repl_lag_p999_us"] = figure(percentile(all, 99.9), "us");
  results["repl_lag_p99_us"] = figure(percentile(all, 99), "us", "redis_fanout_lag_p99_us");
  results["repl_lag_max_us"] = figure(all.empty() ? 0 : *std::max_element(all.begin(), all.end()), "us");
  const double fields = static_cast<double>(report.fields) * static_cast<double>(o.clients);
  results["repl_bytes_per_field"] = figure(fields > 0 ? static_cast<double>(bytes) / fields : 0, "B", "redis_bytes_per_field");
  // The same frames before zstd (the replicas ask for it, as by default): what compression saved.
  results["repl_bytes_per_field_uncompressed"] = figure(fields > 0 ? static_cast<double>(raw) / fields : 0, "B");
  results["repl_frames_per_s"] = figure(static_cast<double>(frames) / report.wall_seconds, "frames/s");
  results["repl_server_cpu_pct"] = figure(100.0 * report.cpu_seconds / report.wall_seconds, "%");
  results["repl_server_mem_bytes"] = figure(static_cast<double>(report.rss_end), "B");
  // Growth over the last two thirds of the ticks: flat means bounded (the paused client included).
  results["repl_server_mem_growth_bytes"] =
      figure(static_cast<double>(report.rss_end) - static_cast<double>(report.rss_third), "B");

  say("redis pub/sub fan-out: " + std::to_string(o.clients) + " subscribers");
  RedisResult redis = redis_fanout(o);
  if (!redis.lags_us.empty()) {
    results["redis_fanout_lag_p50_us"] = figure(percentile(redis.lags_us, 50), "us");
    results["redis_fanout_lag_p99_us"] = figure(percentile(redis.lags_us, 99), "us");
    const double redis_fields = static_cast<double>(redis.fields) * static_cast<double>(o.clients);
    results["redis_bytes_per_field"] = figure(redis_fields > 0 ? static_cast<double>(redis.bytes) / redis_fields : 0, "B");
  }

  nlohmann::json out;
  out["machine"] = machine_json();
  out["config"] = {{"suite", "replication"},
                   {"entities", o.entities},
                   {"clients", o.clients},
                   {"updates_per_tick", o.updates_per_tick},
                   {"tick_hz", o.tick_hz},
                   {"compress", o.compress},
                   {"seconds", o.seconds},
                   {"ticks", report.ticks},
                   {"lag_samples", all.size()},
                   {"server_frames_sent", report.frames_sent},
                   {"server_coalesced", report.coalesced},
                   {"server_rss_at_first_tick", report.rss_start},
                   {"backlog_bytes_all_clients", report.backlog_bytes}};
  if (!redis.note.empty()) out["config"]["redis"] = redis.note;
  out["results"] = std::move(results);
  // The lag distributions, for plots (bench/plot_lag.py): [percentile, µs] pairs.
  const auto distribution = [](const std::vector<double>& samples) {
    nlohmann::json points = nlohmann::json::array();
    if (samples.empty()) return points;
    for (double p : {1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.5, 99.9, 100.0}) {
      points.push_back({p, percentile(samples, p)});
    }
    return points;
  };
  out["lag_distribution"] = {{"replication_us", distribution(all)}, {"redis_fanout_us", distribution(redis.lags_us)}};
  return out;
}

}  // namespace ecsdb::bench
