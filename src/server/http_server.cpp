#include "server/http_server.hpp"

#include "ecsdb/replication_server.hpp"
#include "replication/frame_transport.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "ecsdb/detail/version_state.hpp"
#include "server/json_codec.hpp"
#include "server/predicate.hpp"
#include "storage/table_ops.hpp"

namespace ecsdb::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace json = boost::json;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

std::string sha256_hex(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

namespace {

using base::nanos_since;

// Percent-decoding of a path or query component ('+' is a space in queries).
std::string url_decode(std::string_view s, bool query) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) != 0 &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2])) != 0) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (query && c == '+') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

void split_target(std::string_view target, std::string& path, std::vector<std::pair<std::string, std::string>>& query) {
  const std::size_t q = target.find('?');
  path = url_decode(target.substr(0, q), false);
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    if (!pair.empty()) {
      const std::size_t eq = pair.find('=');
      query.emplace_back(url_decode(pair.substr(0, eq), true),
                         eq == std::string_view::npos ? std::string() : url_decode(pair.substr(eq + 1), true));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
}

// ---- auth and rate limits ----

struct TokenEntry {
  std::string name;
  Role role;
  std::string digest;  // sha256 hex of the secret
};

class RateLimiter {
 public:
  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}
  // 0 when allowed, else the seconds to wait.
  double take(const std::string& who) {
    if (rate_ <= 0) return 0;
    std::lock_guard lock(mu_);
    const auto now = Clock::now();
    auto [it, fresh] = buckets_.try_emplace(who, Bucket{burst_, now});
    Bucket& b = it->second;
    if (!fresh) {
      b.tokens = std::min(burst_, b.tokens + std::chrono::duration<double>(now - b.at).count() * rate_);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    if (buckets_.size() > 100000) buckets_.clear();  // bound memory against address churn
    return (1 - b.tokens) / rate_;
  }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point at;
  };
  const double rate_;
  const double burst_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
};

std::string_view mime_type(std::string_view path) {
  const auto ext = std::filesystem::path(path).extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".wasm") return "application/wasm";
  return "application/octet-stream";
}

}  // namespace

// ---- shared state of the server ----

struct HttpServer::Impl {
  Impl(const ServerConfig& c, ServerMetrics& m, Api& a, replication::DeltaHub& h)
      : config(c), metrics(m), api(a), hub(h), io(std::in_place, static_cast<int>(c.threads)), acceptor(std::in_place, *io),
        limiter(c.rate_limit_per_second, c.rate_limit_burst) {}

  const ServerConfig& config;
  ServerMetrics& metrics;
  Api& api;
  replication::DeltaHub& hub;
  std::atomic<ReplicationServer*> replication{nullptr};  // serves /api/replication once set
  // Optional so that stop() can destroy them, and with them every session still queued in the io_context
  // (sessions hold pinned views: they must go before the database does).
  std::optional<net::io_context> io;
  std::optional<tcp::acceptor> acceptor;
  std::optional<ssl::context> tls;
  std::vector<TokenEntry> tokens;
  RateLimiter limiter;
  std::vector<std::thread> threads;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::atomic<bool> stopping{false};
  std::atomic<std::int64_t> active_requests{0};
  std::unique_ptr<net::steady_timer> housekeeping;

  std::mutex streams_mu;
  std::vector<std::weak_ptr<void>> streams;     // stream sessions, for close_streams
  std::vector<std::function<void()>> closers;   // parallel to `streams`

  // The token's role and name; Role::kNone when missing or unknown. Compares digests in constant time
  // against every configured token (no early exit, no length leak: digests have one length).
  std::pair<Role, std::string> authenticate(std::string_view authorization) const {
    if (tokens.empty()) return {Role::kAdmin, "-"};
    if (!authorization.starts_with("Bearer ")) return {Role::kNone, ""};
    const std::string digest = sha256_hex(authorization.substr(7));
    Role role = Role::kNone;
    std::string name;
    for (const TokenEntry& t : tokens) {
      if (CRYPTO_memcmp(t.digest.data(), digest.data(), digest.size()) == 0 && t.digest.size() == digest.size()) {
        role = t.role;
        name = t.name;
      }
    }
    return {role, name};
  }

  void log_access(std::string_view method, std::string_view route, unsigned status, std::size_t bytes,
                  std::uint64_t micros, std::string_view token) const {
    if (!config.access_log) return;
    if (config.log_format == "json") {
      spdlog::info("{}", json::serialize(json::object{{"event", "request"}, {"method", method}, {"route", route},
                                                     {"status", status}, {"bytes", bytes}, {"us", micros},
                                                     {"token", token}}));
    } else {
      spdlog::info("{} {} {} {}B {}us token={}", method, route, status, bytes, micros, token);
    }
  }

  void register_stream(const std::shared_ptr<void>& s, std::function<void()> closer) {
    std::lock_guard lock(streams_mu);
    std::erase_if(streams, [](const std::weak_ptr<void>& w) { return w.expired(); });
    streams.push_back(s);
    closers.resize(streams.size());
    closers.back() = std::move(closer);
  }

  std::optional<HttpResponse> static_file(std::string_view path) const {
    if (config.dashboard.empty()) return std::nullopt;
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path root = fs::weakly_canonical(config.dashboard, ec);
    fs::path file = fs::weakly_canonical(root / fs::path(std::string(path.substr(1))), ec);
    const std::string rs = root.string();
    if (ec || file.string().compare(0, rs.size(), rs) != 0) return std::nullopt;  // outside the root
    if (path == "/" || !fs::is_regular_file(file, ec)) file = root / "index.html";  // client-side routes
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream body;
    body << in.rdbuf();
    HttpResponse r;
    r.content_type = std::string(mime_type(file.string()));
    r.body = body.str();
    // Vite's hashed file names under assets/ never change content: cache them for good.
    r.headers.emplace_back("Cache-Control", path.starts_with("/assets/") ? "public, max-age=31536000, immutable" : "no-cache");
    return r;
  }
};

namespace {

template <typename Stream>
beast::tcp_stream& tcp_of(Stream& s) {
  return beast::get_lowest_layer(s);
}

// ---- the change stream (WebSocket) ----

template <typename Stream>
class StreamSession : public replication::DeltaListener, public std::enable_shared_from_this<StreamSession<Stream>> {
 public:
  StreamSession(HttpServer::Impl& server, Stream&& stream)
      : server_(server), ws_(std::move(stream)), backlog_(server.config.stream_buffer_bytes) {
    server_.metrics.connections.fetch_add(1, std::memory_order_relaxed);  // still a connection (max_connections)
  }
  StreamSession(const StreamSession&) = delete;
  StreamSession& operator=(const StreamSession&) = delete;
  ~StreamSession() override {
    server_.metrics.connections.fetch_sub(1, std::memory_order_relaxed);
    if (counted_) server_.metrics.stream_clients.fetch_sub(1, std::memory_order_relaxed);
    server_.hub.remove(this);
  }

  void start(http::request<http::string_body> req, const HttpRequest& parsed) {
    db_ = server_.api.database();
    if (auto e = configure(parsed.query); e.has_value()) {
      // Refused before the upgrade: answer with the error.
      refuse(req, *e);
      return;
    }
    tcp_of(ws_.next_layer()).expires_never();
    websocket::stream_base::timeout t = websocket::stream_base::timeout::suggested(beast::role_type::server);
    t.idle_timeout = std::chrono::milliseconds(2 * server_.config.stream_ping_ms);
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(server_.config.ws_max_message_bytes);
    if (req[http::field::sec_websocket_protocol].find("ecsdb") != std::string_view::npos) {
      ws_.set_option(websocket::stream_base::decorator(
          [](websocket::response_type& res) { res.set(http::field::sec_websocket_protocol, "ecsdb"); }));
    }
    auto self = this->shared_from_this();
    ws_.async_accept(req, [self](beast::error_code ec) { self->on_accept(ec); });
  }

  void on_delta(std::shared_ptr<const replication::HubDelta> d) override {
    auto self = this->shared_from_this();
    net::post(ws_.get_executor(), [self, d = std::move(d)]() mutable { self->queue(std::move(d)); });
  }
  void on_lost() override {
    auto self = this->shared_from_this();
    net::post(ws_.get_executor(), [self] { self->begin_state(); });
  }

  void close() {
    auto self = this->shared_from_this();
    net::post(ws_.get_executor(), [self] {
      if (self->closed_) return;
      self->closed_ = true;
      self->ws_.async_close(websocket::close_code::going_away, [self](beast::error_code) {});
    });
  }

 private:

  std::optional<ApiError> configure(const std::vector<std::pair<std::string, std::string>>& query) {
    const Schema& schema = db_->schema();
    std::vector<bool> wanted(schema.tables.size(), false);
    std::vector<Predicate> predicates;
    bool any_table = false;
    since_.reset();
    bool rows_in_state = true;
    for (const auto& [k, v] : query) {
      if (k == "tables") {
        for (std::string_view name : split_list(v, false)) {
          const Table* t = schema.find_table(name);
          if (t == nullptr) return ApiError{404, "not_found", "no table named '" + std::string(name) + "'", {{"table", name}}};
          wanted[t->id] = true;
          any_table = true;
        }
      } else if (k == "where") {
        auto p = parse_predicate(schema, nullptr, v);
        if (!p) return ApiError{p.status().code() == StatusCode::kNotFound ? 404u : 400u,
                                p.status().code() == StatusCode::kNotFound ? "not_found" : "bad_request", p.status().message()};
        predicates.push_back(std::move(*p));
      } else if (k == "since") {
        std::uint64_t s = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
        if (ec != std::errc() || p != v.data() + v.size()) return ApiError{400, "bad_request", "since must be a version number"};
        since_ = s;
      } else if (k == "state") {
        if (v != "full" && v != "none") return ApiError{400, "bad_request", "state must be 'full' or 'none', got '" + v + "'"};
        rows_in_state = v == "full";
      }
    }
    if (!any_table) wanted.assign(schema.tables.size(), true);
    for (const Predicate& p : predicates) wanted[p.table->id] = true;
    wanted_ = std::move(wanted);
    predicates_ = std::move(predicates);
    rows_in_state_ = rows_in_state;
    return std::nullopt;
  }

  void refuse(const http::request<http::string_body>& req, const ApiError& e) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(e.status), req.version());
    res->set(http::field::content_type, "application/json");
    res->body() = json::serialize(e.to_json());
    res->keep_alive(false);
    res->prepare_payload();
    auto self = this->shared_from_this();
    http::async_write(ws_.next_layer(), *res, [self, res](beast::error_code, std::size_t) {
      beast::error_code ignored;
      tcp_of(self->ws_.next_layer()).socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  void on_accept(beast::error_code ec) {
    if (ec) return;
    server_.metrics.stream_clients.fetch_add(1, std::memory_order_relaxed);
    counted_ = true;
    auto self = this->shared_from_this();
    server_.register_stream(self, [weak = std::weak_ptr<StreamSession>(self)] {
      if (auto s = weak.lock()) s->close();
    });
    auto replay = server_.hub.add(self, since_);
    if (replay) {
      last_version_ = *since_;
      for (auto& d : *replay) {
        if (!d->delta->empty()) backlog_.push(std::move(d), last_version_, db_->schema());
      }
      write_next();
    } else {
      begin_state();
    }
    read();
  }

  void read() {
    auto self = this->shared_from_this();
    ws_.async_read(in_, [self](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      closed_ = true;
      return;  // closed, timed out, or over ws_max_message_bytes: the session ends
    }
    const std::string text = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    json::parse_options options;
    options.max_depth = server_.config.max_json_depth;
    boost::system::error_code jec;
    json::value v = json::parse(text, jec, {}, options);
    const json::object* o = jec ? nullptr : v.if_object();
    const json::value* type = o != nullptr ? o->if_contains("type") : nullptr;
    if (type == nullptr || !type->is_string() || type->as_string() != "subscribe") {
      send_error(ApiError{400, "bad_request", "expected {\"type\": \"subscribe\", \"tables\": [...], \"where\": [...]}"});
    } else {
      std::vector<std::pair<std::string, std::string>> query;
      bool ok = true;
      auto list = [&](std::string_view member, std::string_view key) {
        if (const json::value* m = o->if_contains(member)) {
          if (!m->is_array()) { ok = false; return; }
          for (const json::value& e : m->as_array()) {
            if (!e.is_string()) { ok = false; return; }
            query.emplace_back(std::string(key), std::string(e.as_string()));
          }
        }
      };
      list("tables", "tables");
      list("where", "where");
      if (const json::value* state = o->if_contains("state")) {
        if (state->is_string()) {
          query.emplace_back("state", std::string(state->as_string()));
        } else {
          ok = false;
        }
      }
      if (!ok) {
        send_error(ApiError{400, "bad_request", "'tables' and 'where' are arrays of strings, 'state' is \"full\" or \"none\""});
      } else if (auto e = configure(query)) {
        send_error(*e);
      } else {
        begin_state();
      }
    }
    read();
  }

  void send_error(const ApiError& e) {
    json::object m{{"type", "error"}, {"error", e.to_json().at("error")}};
    control_.push_back(json::serialize(m));
    write_next();
  }

  // A fresh state of the subscribed tables at the current version, in chunks; deltas up to it are dropped.
  void begin_state() {
    backlog_.clear();
    state_view_ = std::make_shared<PinnedView>(db_->pin());
    state_table_ = 0;
    state_row_ = 0;
    last_version_ = state_view_->version();
    write_next();
  }

  bool row_passes(const Table& t, const std::byte* row) const {
    for (const Predicate& p : predicates_) {
      if (p.table == &t && !p.matches(row)) return false;
    }
    return true;
  }

  // The next chunk of the state (at most kChunkRows rows), or empty when the state is complete.
  std::string next_state_chunk() {
    static constexpr std::size_t kChunkRows = 1000;
    const Schema& schema = db_->schema();
    const detail::VersionState& s = state_view_->state();
    json::object tables;
    std::size_t rows = 0;
    while (state_table_ < schema.tables.size() && rows < kChunkRows) {
      const Table& t = schema.tables[state_table_];
      if (!wanted_[t.id] || t.is_entity_table || !rows_in_state_) {
        ++state_table_;
        state_row_ = 0;
        continue;
      }
      json::array& list = tables[t.name].emplace_array();
      const detail::TableState& ts = s.tables[t.id];
      while (state_row_ < ts.row_count && rows < kChunkRows) {
        const std::byte* row = ts.stride == 0 ? nullptr : ts.rows.at(state_row_);
        if (row_passes(t, row)) {
          list.push_back(row_object(t, s, state_row_));
          ++rows;
        }
        ++state_row_;
      }
      if (state_row_ >= ts.row_count) {
        ++state_table_;
        state_row_ = 0;
      }
    }
    const bool last = state_table_ >= schema.tables.size();
    json::object m{{"type", "state"}, {"version", state_view_->version()}, {"tables", std::move(tables)}, {"last", last}};
    if (last) state_view_.reset();
    return json::serialize(m);
  }

  void queue(std::shared_ptr<const replication::HubDelta> d) {
    if (closed_ || d->delta->empty()) return;  // versions that changed nothing are not stream messages
    const std::size_t folded = backlog_.push(std::move(d), last_version_, db_->schema());
    server_.metrics.stream_coalesced_total.fetch_add(folded, std::memory_order_relaxed);
    write_next();
  }

  std::string delta_message(const Delta& d) {
    json::object m = delta_json(db_->schema(), d, last_version_, wanted_);
    if (!predicates_.empty()) {
      // Rows failing a predicate are left out: inserted rows by their values, updated rows by the row's
      // values in the newest version (a row that stops matching is sent once more, then no longer).
      const PinnedView now = db_->pin();
      json::object& tables = m["tables"].as_object();
      for (auto& kv : tables) {
        const Table* t = db_->schema().find_table(kv.key());
        bool filtered = false;
        for (const Predicate& p : predicates_) filtered = filtered || p.table == t;
        if (!filtered) continue;
        json::object& td = kv.value().as_object();
        const TableDelta* source = d.find(t->id);
        json::array kept;
        json::array& inserted = td["inserted"].as_array();
        for (std::size_t i = 0; i < inserted.size(); ++i) {
          const std::byte* row = t->stride() == 0 || source == nullptr ? nullptr : source->inserted_rows.data() + i * t->stride();
          if (row_passes(*t, row)) kept.push_back(std::move(inserted[i]));
        }
        td["inserted"] = std::move(kept);
        json::array kept_updates;
        for (json::value& u : td["updated"].as_array()) {
          const auto key = parse_id(u.as_object().at("key").as_string());
          const std::byte* row = key ? now.state().find_row(t->id, *key) : nullptr;
          if (row_passes(*t, row)) kept_updates.push_back(std::move(u));
        }
        td["updated"] = std::move(kept_updates);
      }
    }
    json::object typed{{"type", "delta"}};
    typed.reserve(m.size() + 1);
    for (auto& kv : m) typed.emplace(kv.key(), std::move(kv.value()));
    return json::serialize(typed);
  }

  void write_next() {
    if (writing_ || closed_) return;
    std::string message;
    Clock::time_point at{};
    if (!control_.empty()) {
      message = std::move(control_.front());
      control_.pop_front();
    } else if (state_view_ != nullptr) {
      message = next_state_chunk();
    } else {
      std::optional<replication::DeltaBacklog::Item> next = backlog_.pop(last_version_);
      if (!next) return;
      if (next->coalesced != nullptr) {
        message = delta_message(*next->coalesced);
        last_version_ = next->coalesced->version;
      } else {
        const std::shared_ptr<const replication::HubDelta>& p = next->shared;
        if (predicates_.empty()) {
          // Shared with every client on the same subscription at the same version: rendered once.
          shared_out_ = p->message(replication::HubDelta::Format::kStreamJson, last_version_, wanted_,
                                   [&] { return delta_message(*p->delta); });
        } else {
          message = delta_message(*p->delta);
        }
        last_version_ = p->delta->version;
        at = p->at;
      }
    }
    writing_ = true;
    if (shared_out_ == nullptr) out_ = std::move(message);
    const net::const_buffer bytes = shared_out_ != nullptr ? net::buffer(*shared_out_) : net::buffer(out_);
    ws_.text(true);
    auto self = this->shared_from_this();
    ws_.async_write(bytes, [self, at](beast::error_code ec, std::size_t) {
      self->shared_out_.reset();
      self->writing_ = false;
      if (ec) {
        self->closed_ = true;
        return;
      }
      self->server_.metrics.stream_messages_total.fetch_add(1, std::memory_order_relaxed);
      if (at != Clock::time_point{}) self->server_.metrics.stream_lag_seconds.record_ns(nanos_since(at));
      self->write_next();
    });
  }

  HttpServer::Impl& server_;
  websocket::stream<Stream> ws_;
  Database* db_ = nullptr;
  beast::flat_buffer in_;
  std::string out_;                                  // the message being written (own)...
  std::shared_ptr<const std::string> shared_out_;    // ...or one shared with other clients
  bool writing_ = false;
  bool closed_ = false;
  bool counted_ = false;
  std::optional<std::uint64_t> since_;
  std::vector<bool> wanted_;
  std::vector<Predicate> predicates_;
  // false with state=none: the state message marks the version deltas start from, without its rows (a
  // client that pages the rows itself, like the dashboard's data view of a million-row table).
  bool rows_in_state_ = true;
  replication::DeltaBacklog backlog_;
  std::deque<std::string> control_;
  std::uint64_t last_version_ = 0;
  std::shared_ptr<PinnedView> state_view_;
  std::size_t state_table_ = 0;
  std::uint32_t state_row_ = 0;
};

// ---- one HTTP connection ----

// The WebSocket form of the replication protocol (GET /api/replication, docs/protocol.md): each binary message
// carries one frame. Accepted here, then handed to the ReplicationServer, which runs the session.
template <typename Stream>
class WsFrameTransport final : public replication::FrameTransport {
 public:
  WsFrameTransport(Stream&& stream, std::string remote) : ws_(std::move(stream)), remote_(std::move(remote)) {}
  websocket::stream<Stream>& ws() { return ws_; }

  net::any_io_executor executor() override { return ws_.get_executor(); }
  void read(ReadHandler handler) override {
    in_.consume(in_.size());
    ws_.async_read(in_, [this, handler = std::move(handler)](beast::error_code ec, std::size_t) {
      const auto data = in_.cdata();
      handler(ec, std::span<const std::byte>(static_cast<const std::byte*>(data.data()), data.size()));
    });
  }
  void write(std::shared_ptr<const std::string> frame, WriteHandler handler) override {
    writing_ = true;
    ws_.binary(true);
    const auto bytes = net::buffer(*frame);
    ws_.async_write(bytes, [this, frame = std::move(frame), handler = std::move(handler)](beast::error_code ec, std::size_t n) {
      writing_ = false;
      if (close_wanted_) close();
      handler(ec, n);
    });
  }
  // A close must not overlap a write (Beast allows one of each kind): deferred until the write ends.
  void close() override {
    close_wanted_ = true;
    if (writing_ || closing_) return;
    closing_ = true;
    ws_.async_close(websocket::close_code::normal, [](beast::error_code) {});
  }
  std::string remote() const override { return remote_; }
  const char* kind() const override { return "websocket"; }

 private:
  websocket::stream<Stream> ws_;
  beast::flat_buffer in_;
  std::string remote_;
  bool writing_ = false;
  bool close_wanted_ = false;
  bool closing_ = false;
};

template <typename Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  HttpSession(HttpServer::Impl& server, Stream&& stream, std::string peer)
      : server_(server), stream_(std::move(stream)), peer_(std::move(peer)) {
    server_.metrics.connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~HttpSession() { server_.metrics.connections.fetch_sub(1, std::memory_order_relaxed); }

  void start() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      read();
    } else {
      tcp_of(stream_).expires_after(std::chrono::milliseconds(server_.config.header_timeout_ms));
      auto self = this->shared_from_this();
      stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
        if (!ec) self->read();
      });
    }
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(server_.config.max_body_bytes);
    parser_->header_limit(16 * 1024);
    tcp_of(stream_).expires_after(std::chrono::milliseconds(first_request_ ? server_.config.header_timeout_ms
                                                                            : server_.config.idle_timeout_ms));
    auto self = this->shared_from_this();
    http::async_read_header(stream_, buffer_, *parser_, [self](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec == http::error::body_limit) return fail_request(413, "payload_too_large");
    if (ec == http::error::header_limit) return fail_request(400, "bad_request");
    if (ec && ec != http::error::end_of_stream && ec.category() == http::make_error_code(http::error::bad_method).category()) {
      return fail_request(400, "bad_request");  // a malformed request line or header: say so, then close
    }
    if (ec) return close();  // end of stream, timeout (slow or idle client), reset
    tcp_of(stream_).expires_after(std::chrono::milliseconds(server_.config.request_timeout_ms));
    auto self = this->shared_from_this();
    http::async_read(stream_, buffer_, *parser_, [self](beast::error_code e, std::size_t) { self->on_body(e); });
  }

  void on_body(beast::error_code ec) {
    if (ec == http::error::body_limit) return fail_request(413, "payload_too_large");
    if (ec) {
      if (ec == beast::error::timeout || ec == http::error::end_of_stream || ec == net::error::eof) return close();
      return fail_request(400, "bad_request");
    }
    tcp_of(stream_).expires_never();
    first_request_ = false;
    handle(parser_->release());
  }

  // A request that could not be read whole: answer and close the connection.
  void fail_request(unsigned status, const char* code) {
    ApiError e{status, code,
               status == 413 ? "the request body is larger than max_body_bytes (" + std::to_string(server_.config.max_body_bytes) + ")"
                             : "malformed HTTP request"};
    if (status == 413) e.details["limit"] = server_.config.max_body_bytes;
    started_ = Clock::now();
    method_ = "-";
    route_ = "-";
    keep_alive_ = false;
    server_.active_requests.fetch_add(1);
    send(error_response(e), 11);
  }

  void handle(http::request<http::string_body> req) {
    started_ = Clock::now();
    server_.active_requests.fetch_add(1);
    version_ = req.version();
    keep_alive_ = req.keep_alive() && !server_.stopping.load();
    method_ = std::string(req.method_string());
    HttpRequest r;
    r.method = method_;
    split_target(req.target(), r.path, r.query);
    route_ = r.path;
    origin_ = std::string(req[http::field::origin]);

    if (req.method() == http::verb::options) return preflight();
    if (server_.stopping.load() && r.path != "/api/health") {
      keep_alive_ = false;
      return send(error_response(ApiError{503, "shutting_down", "the server is shutting down"}));
    }
    auto matched = match_route(r.method, r.path);
    if (auto* e = std::get_if<ApiError>(&matched)) {
      if (e->status == 404 && req.method() == http::verb::get && !r.path.starts_with("/api/") && r.path != "/metrics") {
        if (auto file = server_.static_file(r.path)) {
          route_ = "static";
          return send(std::move(*file));
        }
      }
      route_ = "unmatched";
      return send(error_response(*e));
    }
    const auto& [route, params] = std::get<std::pair<const Route*, std::vector<std::string>>>(matched);
    route_ = route->name;
    if (route->role != Role::kNone) {
      std::string authorization(req[http::field::authorization]);
      if (authorization.empty() && route->path == "/api/stream") {
        // Browsers cannot set headers on a WebSocket: they may offer the token as a subprotocol
        // "bearer.TOKEN" beside "ecsdb" (the one the server selects), never in the URL.
        authorization = bearer_from_protocols(req[http::field::sec_websocket_protocol]);
      }
      auto [role, name] = server_.authenticate(authorization);
      token_ = name;
      if (role == Role::kNone) {
        return send(error_response(ApiError{401, "unauthorized", "this route needs a bearer token: Authorization: Bearer <token>"}));
      }
      if (role < route->role) {
        return send(error_response(ApiError{403, "forbidden", "token '" + name + "' has role " + std::string(to_string(role)) +
                                                                  "; " + route->path + " needs " + std::string(to_string(route->role))}));
      }
      r.role = role;
      r.token_name = name;
    }
    const std::string who = token_.empty() || token_ == "-" ? peer_ : token_;
    if (const double wait = server_.limiter.take(who); wait > 0) {
      server_.metrics.rate_limited_total.fetch_add(1, std::memory_order_relaxed);
      HttpResponse res = error_response(ApiError{429, "rate_limited", "more than rate_limit_per_second requests from '" + who + "'"});
      res.headers.emplace_back("Retry-After", std::to_string(static_cast<long>(std::ceil(wait))));
      return send(std::move(res));
    }
    if (route->path == "/api/replication") return replication(std::move(req));
    if (route->path == "/api/stream") {
      if (!origin_.empty() && !cors_allowed() && !same_origin(req)) {
        // A page of another site may open a WebSocket to this server (no CORS for WebSockets): refuse
        // origins that are neither this server nor allow-listed.
        return send(error_response(ApiError{403, "forbidden", "WebSocket from origin '" + origin_ +
                                                                  "' refused: not this server and not in cors_origins"}));
      }
      if (!websocket::is_upgrade(req)) {
        return send(error_response(ApiError{400, "bad_request", "/api/stream is a WebSocket: send an Upgrade request"}));
      }
      if (server_.api.phase() != Phase::kReady) {
        return send(error_response(ApiError{503, "starting", "the database is recovering; try again shortly"}));
      }
      finish_metrics(101, 0);
      auto session = std::make_shared<StreamSession<Stream>>(server_, std::move(stream_));
      session->start(std::move(req), r);
      return;  // this HTTP session ends; the stream session owns the connection
    }
    r.content_type = std::string(req[http::field::content_type]);
    r.idempotency_key = std::string(req["Idempotency-Key"]);
    const bool visible = std::all_of(r.idempotency_key.begin(), r.idempotency_key.end(), [](char c) { return c > ' ' && c <= '~'; });
    if (r.idempotency_key.size() > 128 || !visible) {
      return send(error_response(bad_request("Idempotency-Key is 1 to 128 visible ASCII characters")));
    }
    r.body = std::move(req.body());
    auto self = this->shared_from_this();
    server_.api.handle(*route, params, r, [self](HttpResponse res) {
      net::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable { self->send(std::move(res)); });
    });
  }

  // GET /api/replication: the replication protocol over a WebSocket (auth is the HELLO's token).
  void replication(http::request<http::string_body> req) {
    if (!origin_.empty() && !cors_allowed() && !same_origin(req)) {
      return send(error_response(ApiError{403, "forbidden", "WebSocket from origin '" + origin_ +
                                                                "' refused: not this server and not in cors_origins"}));
    }
    if (!websocket::is_upgrade(req)) {
      return send(error_response(ApiError{400, "bad_request", "/api/replication is a WebSocket: send an Upgrade request"}));
    }
    ReplicationServer* repl = server_.replication.load(std::memory_order_acquire);
    if (server_.api.phase() != Phase::kReady || repl == nullptr) {
      return send(error_response(ApiError{503, "starting", "the database is recovering; try again shortly"}));
    }
    finish_metrics(101, 0);
    auto holder = std::make_shared<std::unique_ptr<WsFrameTransport<Stream>>>(
        std::make_unique<WsFrameTransport<Stream>>(std::move(stream_), peer_));
    websocket::stream<Stream>& ws = (*holder)->ws();
    tcp_of(ws.next_layer()).expires_never();
    websocket::stream_base::timeout t = websocket::stream_base::timeout::suggested(beast::role_type::server);
    t.keep_alive_pings = true;
    ws.set_option(t);
    ws.read_message_max(1u << 20);
    if (req[http::field::sec_websocket_protocol].find("ecsdb-repl") != std::string_view::npos) {
      ws.set_option(websocket::stream_base::decorator(
          [](websocket::response_type& res) { res.set(http::field::sec_websocket_protocol, "ecsdb-repl"); }));
    }
    ws.async_accept(req, [holder, repl](beast::error_code ec) {
      if (!ec) repl->adopt(std::move(*holder));
    });
  }

  void preflight() {
    HttpResponse r;
    r.status = cors_allowed() ? 204 : 403;
    r.content_type.clear();
    if (r.status == 204) {
      r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      r.headers.emplace_back("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key");
      r.headers.emplace_back("Access-Control-Max-Age", "600");
    } else {
      r = error_response(ApiError{403, "forbidden", "CORS: origin '" + origin_ + "' is not in cors_origins"});
    }
    route_ = "preflight";
    send(std::move(r));
  }

  static std::string bearer_from_protocols(std::string_view offered) {
    for (std::string_view item : split_list(offered, true)) {
      if (item.starts_with("bearer.")) return "Bearer " + std::string(item.substr(7));
    }
    return {};
  }

  // Origin "scheme://host[:port]" naming the Host this request was sent to.
  bool same_origin(const http::request<http::string_body>& req) const {
    const std::size_t scheme = origin_.find("://");
    return scheme != std::string::npos && origin_.substr(scheme + 3) == req[http::field::host];
  }

  bool cors_allowed() const {
    if (origin_.empty()) return false;
    for (const std::string& o : server_.config.cors_origins) {
      if (o == origin_ || o == "*") return true;
    }
    return false;
  }

  void finish_metrics(unsigned status, std::size_t bytes) {
    const std::uint64_t ns = nanos_since(started_);
    server_.metrics.request_seconds.record_ns(ns);
    server_.metrics.count_request(route_, status);
    server_.log_access(method_, route_, status, bytes, ns / 1000, token_.empty() ? "-" : token_);
    server_.active_requests.fetch_sub(1);
  }

  void send(HttpResponse r, unsigned http_version = 0) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status),
                                                                    http_version != 0 ? http_version : version_);
    res->set(http::field::server, "ecsdb");
    if (!r.content_type.empty()) res->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res->set(k, v);
    if (cors_allowed()) {
      res->set(http::field::access_control_allow_origin, origin_);
      res->set(http::field::vary, "Origin");
    }
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_ && !server_.stopping.load());
    res->prepare_payload();
    const unsigned status = r.status;
    const std::size_t bytes = res->body().size();
    auto self = this->shared_from_this();
    tcp_of(stream_).expires_after(std::chrono::milliseconds(server_.config.request_timeout_ms));
    http::async_write(stream_, *res, [self, res, status, bytes](beast::error_code ec, std::size_t) {
      self->finish_metrics(status, bytes);
      if (ec || !res->keep_alive()) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ec;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    } else {
      tcp_of(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  HttpServer::Impl& server_;
  Stream stream_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool first_request_ = true;
  bool keep_alive_ = false;
  unsigned version_ = 11;
  Clock::time_point started_;
  std::string method_, route_, token_, origin_;
};

void accept_loop(HttpServer::Impl& s) {
  s.acceptor->async_accept(net::make_strand(*s.io), [&s](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec != net::error::operation_aborted && s.acceptor->is_open()) accept_loop(s);
      return;
    }
    beast::error_code ignored;
    const std::string peer = socket.remote_endpoint(ignored).address().to_string();
    if (s.metrics.connections.load(std::memory_order_relaxed) >= static_cast<std::int64_t>(s.config.max_connections)) {
      // Over the limit: a short 503 and close, written synchronously (small, non-blocking in practice).
      s.metrics.rejected_connections_total.fetch_add(1, std::memory_order_relaxed);
      const std::string body = json::serialize(ApiError{503, "too_many_connections",
                                                        "max_connections (" + std::to_string(s.config.max_connections) + ") reached"}.to_json());
      const std::string res = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
      net::write(socket, net::buffer(res), ignored);
      socket.shutdown(tcp::socket::shutdown_both, ignored);
    } else if (s.tls) {
      std::make_shared<HttpSession<beast::ssl_stream<beast::tcp_stream>>>(
          s, beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *s.tls), peer)
          ->start();
    } else {
      std::make_shared<HttpSession<beast::tcp_stream>>(s, beast::tcp_stream(std::move(socket)), peer)->start();
    }
    accept_loop(s);
  });
}

void schedule_housekeeping(HttpServer::Impl& s) {
  s.housekeeping->expires_after(std::chrono::seconds(1));
  s.housekeeping->async_wait([&s](beast::error_code ec) {
    if (ec) return;
    s.api.expire_views();
    schedule_housekeeping(s);
  });
}

}  // namespace

HttpServer::HttpServer(const ServerConfig& config, ServerMetrics& metrics, Api& api, replication::DeltaHub& hub)
    : impl_(std::make_unique<Impl>(config, metrics, api, hub)) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
  Impl& s = *impl_;
  const ServerConfig& c = s.config;
  for (const TokenConfig& t : c.tokens) {
    s.tokens.push_back({t.name, t.role, t.sha256.empty() ? sha256_hex(t.token) : t.sha256});
    for (char& ch : s.tokens.back().digest) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  if (!c.tls_cert.empty()) {
    s.tls.emplace(ssl::context::tls_server);
    s.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    beast::error_code ec;
    s.tls->use_certificate_chain_file(c.tls_cert, ec);
    if (ec) return invalid_argument("tls_cert '" + c.tls_cert + "': " + ec.message());
    s.tls->use_private_key_file(c.tls_key, ssl::context::pem, ec);
    if (ec) return invalid_argument("tls_key '" + c.tls_key + "': " + ec.message());
  }
  const std::size_t colon = c.http.rfind(':');
  std::string host = c.http.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port = c.http.substr(colon + 1);
  beast::error_code ec;
  tcp::resolver resolver(*s.io);
  auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty()) return invalid_argument("http address '" + c.http + "': " + ec.message());
  const tcp::endpoint endpoint = results.begin()->endpoint();
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  if (!ec) s.acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status(StatusCode::kIoError, "cannot listen on " + c.http + ": " + ec.message());
  accept_loop(s);
  s.housekeeping = std::make_unique<net::steady_timer>(*s.io);
  schedule_housekeeping(s);
  s.work.emplace(s.io->get_executor());
  for (unsigned i = 0; i < c.threads; ++i) s.threads.emplace_back([&s] { s.io->run(); });
  return Status::ok();
}

net::io_context& HttpServer::io_context() { return *impl_->io; }

void HttpServer::set_replication(ReplicationServer* repl) { impl_->replication.store(repl, std::memory_order_release); }

std::pair<Role, std::string> HttpServer::authenticate_token(std::string_view token) const {
  return impl_->authenticate("Bearer " + std::string(token));
}

std::uint16_t HttpServer::port() const {
  beast::error_code ec;
  return impl_->acceptor ? impl_->acceptor->local_endpoint(ec).port() : 0;
}

void HttpServer::stop_accepting() {
  Impl& s = *impl_;
  s.stopping.store(true);
  s.api.set_phase(Phase::kShuttingDown);
  if (!s.io) return;
  net::post(*s.io, [&s] {
    beast::error_code ec;
    s.acceptor->close(ec);
  });
}

bool HttpServer::wait_idle(std::uint32_t grace_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(grace_ms);
  while (Clock::now() < deadline) {
    if (impl_->active_requests.load() == 0 && impl_->api.in_flight_transactions() == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

void HttpServer::close_streams() {
  std::vector<std::function<void()>> closers;
  {
    std::lock_guard lock(impl_->streams_mu);
    for (std::size_t i = 0; i < impl_->streams.size(); ++i) {
      if (!impl_->streams[i].expired()) closers.push_back(impl_->closers[i]);
    }
  }
  for (auto& c : closers) c();
}

void HttpServer::stop() {
  Impl& s = *impl_;
  if (!s.io) return;
  s.work.reset();
  s.io->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  // Destroy what is still queued (sessions, their views and deltas) now, while the database is open.
  s.housekeeping.reset();
  s.acceptor.reset();
  s.io.reset();
}

}  // namespace ecsdb::server
