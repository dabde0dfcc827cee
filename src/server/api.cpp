#include "server/api.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <thread>

#include "ecsdb/detail/version_state.hpp"
#include "server/json_codec.hpp"
#include "server/predicate.hpp"
#include "server/transaction_request.hpp"
#include "storage/field_codec.hpp"
#include "storage/table_ops.hpp"

namespace ecsdb::server {

namespace json = boost::json;

namespace {

constexpr std::string_view kEcsdbVersion = "0.1.0";

using base::nanos_since;

std::string_view durability_name(const ServerConfig& c) {
  return c.data.empty() ? std::string_view("memory") : std::string_view(c.durability);
}

// FNV-1a, to tell a retried body from a different one under the same Idempotency-Key.
std::uint64_t hash_bytes(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

template <typename T>
bool parse_uint(std::string_view text, T& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size() && !text.empty();
}

ApiResult<std::size_t> parse_limit(const std::string* text) {
  if (text == nullptr) return std::size_t{100};
  std::size_t n = 0;
  if (!parse_uint(*text, n) || n < 1 || n > 1000) {
    ApiError e = bad_request("limit must be an integer from 1 to 1000, got '" + *text + "'");
    e.details["limit"] = 1000;
    return e;
  }
  return n;
}

// Cursors are offsets into one version's ordered result: "o<offset>". Opaque to clients.
ApiResult<std::size_t> parse_cursor(const std::string* text) {
  if (text == nullptr || text->empty()) return std::size_t{0};
  std::size_t n = 0;
  if (text->size() < 2 || (*text)[0] != 'o' || !parse_uint(std::string_view(*text).substr(1), n)) {
    return bad_request("'after' must be a cursor returned as 'next' or 'prev' by a page, got '" + *text + "'");
  }
  return n;
}

// "Application/JSON ; charset=utf-8" -> "application/json" (RFC 9110: case-insensitive, parameters apart).
std::string media_type(std::string_view content_type) {
  if (const std::size_t semi = content_type.find(';'); semi != std::string_view::npos) content_type = content_type.substr(0, semi);
  while (!content_type.empty() && (content_type.back() == ' ' || content_type.back() == '\t')) content_type.remove_suffix(1);
  while (!content_type.empty() && (content_type.front() == ' ' || content_type.front() == '\t')) content_type.remove_prefix(1);
  std::string out(content_type);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

ApiError table_not_found(std::string_view name) {
  ApiError e{404, "not_found", "no table named '" + std::string(name) + "'"};
  e.details["table"] = name;
  return e;
}

ApiError field_not_found(const Table& t, std::string_view name) {
  ApiError e{404, "not_found", "table '" + t.name + "' has no field '" + std::string(name) + "' stored in its rows"};
  e.details["table"] = t.name;
  e.details["field"] = name;
  return e;
}

ApiError predicate_error(const Status& s) {
  ApiError e = from_status(s);
  if (e.status == 400) e.code = "bad_request";
  return e;
}

// Rows of `t` in the view (live entities for the entity table, which has no rows of its own).
std::uint64_t rows_of(const PinnedView& view, const Table& t) {
  return t.is_entity_table ? view.entity_count() : view.state().tables[t.id].row_count;
}

// Calls f(entity bits) for every live entity of `state`, in index order.
template <typename F>
void for_each_alive(const detail::VersionState& state, F&& f) {
  const detail::RegistryState& reg = state.registry;
  for (std::uint32_t i = 0; i < reg.used; ++i) {
    if (reg.slot(i)->alive()) f(Entity(i, reg.slot(i)->generation).bits());
  }
}

// One candidate row of a listing: its key and its bytes (null for tables without data).
struct Candidate {
  std::uint64_t key;
  std::uint32_t row;  // row index (detail::kNoRow for entities)
};

json::object page_fields(json::object o, std::size_t offset, std::size_t limit, std::size_t total) {
  o["total"] = total;
  o["next"] = offset + limit < total ? json::value("o" + std::to_string(offset + limit)) : json::value(nullptr);
  // Cursors are offsets into the result at the page's version, so the page before is well defined too
  // (pass it as 'after' with the same 'version').
  o["prev"] = offset > 0 ? json::value("o" + std::to_string(offset > limit ? offset - limit : 0)) : json::value(nullptr);
  return o;
}

}  // namespace

// ---- requests and responses ----

const std::string* HttpRequest::param(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return &v;
  }
  return nullptr;
}

HttpResponse json_response(unsigned status, const json::value& body) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

HttpResponse error_response(const ApiError& e) {
  HttpResponse r = json_response(e.status, e.to_json());
  if (e.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  if (const auto* allow = e.details.if_contains("allow"); e.status == 405 && allow != nullptr && allow->is_string()) {
    r.headers.emplace_back("Allow", std::string(allow->as_string()));
  }
  return r;
}

// ---- routing ----

const std::vector<Route>& api_routes() {
  static const std::vector<Route> routes = {
      {"GET", "/api/health", Role::kNone, "/api/health"},
      {"GET", "/api/info", Role::kRead, "/api/info"},
      {"GET", "/api/schema", Role::kRead, "/api/schema"},
      {"POST", "/api/schema/validate", Role::kRead, "/api/schema/validate"},
      {"GET", "/api/tables", Role::kRead, "/api/tables"},
      {"GET", "/api/tables/{table}/rows", Role::kRead, "/api/tables/{table}/rows"},
      {"GET", "/api/entities/{id}", Role::kRead, "/api/entities/{id}"},
      {"POST", "/api/transactions", Role::kWrite, "/api/transactions"},
      {"POST", "/api/query", Role::kRead, "/api/query"},
      {"POST", "/api/snapshot", Role::kAdmin, "/api/snapshot"},
      {"GET", "/api/metrics", Role::kRead, "/api/metrics"},
      {"GET", "/api/whoami", Role::kRead, "/api/whoami"},
      {"GET", "/api/replication/clients", Role::kRead, "/api/replication/clients"},
      {"GET", "/metrics", Role::kRead, "/metrics"},
      {"GET", "/api/stream", Role::kRead, "/api/stream"},
      {"GET", "/api/replication", Role::kNone, "/api/replication"},
  };
  return routes;
}

namespace {
// Splits "/a/b/c" into segments; template segments "{x}" match any one non-empty segment.
std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}
}  // namespace

ApiResult<std::pair<const Route*, std::vector<std::string>>> match_route(std::string_view method, std::string_view path) {
  // The templates' segments, split once (every request is matched against them).
  static const std::vector<std::vector<std::string_view>> templates = [] {
    std::vector<std::vector<std::string_view>> t;
    for (const Route& r : api_routes()) t.push_back(segments(r.path));
    return t;
  }();
  const auto want = segments(path);
  bool path_known = false;
  std::string allow;
  for (std::size_t k = 0; k < api_routes().size(); ++k) {
    const Route& r = api_routes()[k];
    const auto& have = templates[k];
    if (have.size() != want.size()) continue;
    std::vector<std::string> params;
    bool ok = true;
    for (std::size_t i = 0; ok && i < have.size(); ++i) {
      if (have[i].starts_with('{')) params.emplace_back(want[i]);
      else ok = have[i] == want[i];
    }
    if (!ok) continue;
    path_known = true;
    if (r.method == method) return std::make_pair(&r, std::move(params));
    allow += (allow.empty() ? "" : ", ") + r.method;
  }
  if (path_known) {
    ApiError e{405, "method_not_allowed", std::string(method) + " is not allowed on " + std::string(path) + " (allowed: " + allow + ")"};
    e.details["allow"] = allow;
    return e;
  }
  return ApiError{404, "not_found", "no route " + std::string(path) + " (the API is described at docs/openapi.yaml)"};
}

// ---- Api ----

Api::Api(const ServerConfig& config, ServerMetrics& metrics) : config_(config), metrics_(metrics) {}

Api::~Api() {
  base::MutexLock lock(views_mu_);
  views_.clear();
}

void Api::attach(Database* db, const ReplicationServer* repl) {
  repl_.store(repl, std::memory_order_release);
  db_.store(db, std::memory_order_release);
  set_phase(Phase::kReady);
}

void Api::detach() {
  set_phase(Phase::kShuttingDown);
  // A snapshot thread uses the database until it finishes: wait for it (bounded by the snapshot's I/O).
  while (snapshots_running_.load(std::memory_order_acquire) != 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::map<std::uint64_t, Retained> dropped;
  {
    base::MutexLock lock(views_mu_);
    dropped.swap(views_);
  }
}

void Api::expire_views() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<View> dropped;  // released outside the lock
  base::MutexLock lock(views_mu_);
  for (auto it = views_.begin(); it != views_.end();) {
    if (now - it->second.last_used > std::chrono::milliseconds(config_.version_retention_ms)) {
      dropped.push_back(std::move(it->second.view));
      it = views_.erase(it);
    } else {
      ++it;
    }
  }
}

ApiResult<Api::View> Api::view_for(const HttpRequest& req, bool retain) {
  Database* db = database();
  const auto now = std::chrono::steady_clock::now();
  if (const std::string* v = req.param("version")) {
    std::uint64_t version = 0;
    if (!parse_uint(*v, version)) return bad_request("version must be a version number, got '" + *v + "'");
    {
      base::MutexLock lock(views_mu_);
      if (auto it = views_.find(version); it != views_.end()) {
        it->second.last_used = now;
        return it->second.view;
      }
    }
    auto view = std::make_shared<const PinnedView>(db->pin());
    if (view->version() == version) {
      base::MutexLock lock(views_mu_);
      views_[version] = Retained{view, now};
      return view;
    }
    ApiError e{410, "version_gone",
               "version " + std::to_string(version) + " is no longer retained (the current version is " +
                   std::to_string(view->version()) + "; versions stay pinned " +
                   std::to_string(config_.version_retention_ms) + " ms after their last use): start again without 'version'"};
    e.details["version"] = view->version();
    return e;
  }
  auto view = std::make_shared<const PinnedView>(db->pin());
  if (!retain) return view;
  std::vector<View> dropped;
  base::MutexLock lock(views_mu_);
  auto [it, inserted] = views_.try_emplace(view->version(), Retained{view, now});
  if (!inserted) {
    it->second.last_used = now;
    return it->second.view;
  }
  while (views_.size() > config_.max_retained_versions) {
    auto oldest = views_.begin();
    for (auto i = views_.begin(); i != views_.end(); ++i) {
      if (i->second.last_used < oldest->second.last_used) oldest = i;
    }
    dropped.push_back(std::move(oldest->second.view));
    views_.erase(oldest);
  }
  return view;
}

ApiResult<json::value> Api::parse_json_body(const HttpRequest& req) const {
  if (media_type(req.content_type) != "application/json") {
    return ApiError{415, "unsupported_media_type",
                    "the body must be application/json, got '" + (req.content_type.empty() ? std::string("none") : req.content_type) + "'"};
  }
  json::parse_options options;
  options.max_depth = config_.max_json_depth;
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec, {}, options);
  if (ec) {
    ApiError e = bad_request("the body is not valid JSON: " + ec.message() +
                                 (ec == json::error::too_deep ? " (max_json_depth " + std::to_string(config_.max_json_depth) + ")" : ""),
                             "invalid_json");
    return e;
  }
  return v;
}

void Api::handle(const Route& route, const std::vector<std::string>& params, const HttpRequest& req, Respond respond) {
  if (route.path == "/api/health") return respond(health());
  const Phase p = phase();
  if (p == Phase::kStarting) {
    return respond(error_response(ApiError{503, "starting", "the database is recovering; try again shortly"}));
  }
  if (route.path == "/api/info") return respond(info());
  if (route.path == "/api/schema") return respond(schema());
  if (route.path == "/api/schema/validate") return respond(validate_schema(req));
  if (route.path == "/api/tables") return respond(tables(req));
  if (route.path == "/api/tables/{table}/rows") return respond(rows(req, params.at(0)));
  if (route.path == "/api/entities/{id}") return respond(entity(req, params.at(0)));
  if (route.path == "/api/query") return respond(query(req));
  if (route.path == "/api/metrics") return respond(metrics_json());
  if (route.path == "/api/whoami") return respond(whoami(req));
  if (route.path == "/api/replication/clients") return respond(replication_clients());
  if (route.path == "/metrics") return respond(prometheus());
  if (p == Phase::kShuttingDown) {
    return respond(error_response(ApiError{503, "shutting_down", "the server is shutting down"}));
  }
  if (route.path == "/api/transactions") return transaction(req, std::move(respond));
  if (route.path == "/api/snapshot") return snapshot(std::move(respond));
  respond(error_response(ApiError{404, "not_found", "no handler for " + route.path}));
}

HttpResponse Api::health() {
  Database* db = database();
  if (phase() == Phase::kStarting || db == nullptr) {
    return json_response(503, json::object{{"status", "starting"}, {"version", 0}});
  }
  json::object o{{"version", db->published_version()}};
  if (Status s = db->health(); !s.is_ok()) {
    o["status"] = "degraded";
    o["reason"] = s.to_string();
  } else {
    o["status"] = "ok";
  }
  // Background durability work that fails leaves the database writable, but the log grows until it
  // succeeds again: say so beside the status (the failures themselves are in /api/info's notes).
  const DatabaseMetrics m = db->metrics();
  json::array warnings;
  if (m.snapshot_failing) warnings.push_back(json::string("the latest snapshot failed: the write-ahead log is not being trimmed"));
  if (m.retention_failing) warnings.push_back(json::string("retention after the latest snapshot failed: covered log segments stay on disk"));
  if (!warnings.empty()) o["warnings"] = std::move(warnings);
  return json_response(200, o);
}

HttpResponse Api::info() {
  Database* db = database();
  const Schema& s = db->schema();
  json::array recovery;
  for (const std::string& note : db->recovery_notes()) recovery.push_back(json::string(note));
  return json_response(
      200, json::object{
               {"ecsdb_version", kEcsdbVersion},
               {"schema", json::object{{"name", s.database}, {"version", s.version}, {"layout_hash", layout_hash_hex(s)}}},
               {"committed_version", db->published_version()},
               {"durable_version", db->durable_version()},
               {"uptime_seconds", static_cast<double>(nanos_since(started_)) * 1e-9},
               {"durability", durability_name(config_)},
               {"data_dir", config_.data.empty() ? json::value(nullptr) : json::value(config_.data)},
               {"read_only", !db->health().is_ok()},
               {"recovery", std::move(recovery)},
           });
}

HttpResponse Api::schema() {
  const Schema& s = database()->schema();
  return json_response(200, json::object{{"name", s.database},
                                         {"version", s.version},
                                         {"layout_hash", layout_hash_hex(s)},
                                         {"toml", s.text},
                                         {"tables", tables_json(s)},
                                         {"structs", structs_json(s)},
                                         {"enums", enums_json(s)}});
}

HttpResponse Api::validate_schema(const HttpRequest& req) {
  const std::string type = media_type(req.content_type);
  if (type != "application/toml" && type != "text/plain") {
    return error_response(ApiError{415, "unsupported_media_type",
                                   "the body must be TOML (application/toml or text/plain), got '" + req.content_type + "'"});
  }
  std::vector<SchemaDiagnostic> diagnostics;
  auto parsed = parse_schema(req.body, "request", &diagnostics);
  if (parsed) {
    const Schema& s = **parsed;
    return json_response(200, json::object{{"valid", true},
                                           {"name", s.database},
                                           {"version", s.version},
                                           {"layout_hash", layout_hash_hex(s)},
                                           {"tables", tables_json(s)},
                                           {"structs", structs_json(s)},
                                           {"enums", enums_json(s)}});
  }
  json::array errors;
  for (const SchemaDiagnostic& d : diagnostics) {
    errors.push_back(json::object{{"line", d.location.line},
                                  {"column", d.location.column},
                                  {"table", d.table},
                                  {"field", d.field},
                                  {"message", d.message},
                                  {"hint", d.hint}});
  }
  if (errors.empty()) {
    errors.push_back(json::object{{"line", 0}, {"column", 0}, {"table", ""}, {"field", ""},
                                  {"message", parsed.status().message()}, {"hint", ""}});
  }
  return json_response(200, json::object{{"valid", false}, {"errors", std::move(errors)}});
}

HttpResponse Api::tables(const HttpRequest& req) {
  auto v = view_for(req, false);
  if (auto* e = std::get_if<ApiError>(&v)) return error_response(*e);
  const PinnedView& view = *std::get<View>(v);
  json::array list;
  for (const Table& t : database()->schema().tables) {
    const std::uint64_t rows = rows_of(view, t);
    list.push_back(json::object{{"name", t.name},
                                {"cardinality", to_string(t.cardinality)},
                                {"rows", rows},
                                {"stride", t.stride()},
                                {"bytes", rows * t.stride()}});
  }
  return json_response(200, json::object{{"version", view.version()}, {"tables", std::move(list)}});
}

HttpResponse Api::rows(const HttpRequest& req, const std::string& table_name) {
  const Schema& schema = database()->schema();
  const Table* table = schema.find_table(table_name);
  if (table == nullptr) return error_response(table_not_found(table_name));
  auto limit = parse_limit(req.param("limit"));
  if (auto* e = std::get_if<ApiError>(&limit)) return error_response(*e);
  auto offset = parse_cursor(req.param("after"));
  if (auto* e = std::get_if<ApiError>(&offset)) return error_response(*e);
  std::vector<Predicate> predicates;
  for (const auto& [k, text] : req.query) {
    if (k != "where") continue;
    auto p = parse_predicate(schema, table, text);
    if (!p) return error_response(predicate_error(p.status()));
    predicates.push_back(std::move(*p));
  }
  const Field* sort = nullptr;
  bool descending = false;
  if (const std::string* s = req.param("sort"); s != nullptr && !s->empty()) {
    std::string_view name = *s;
    if (name.front() == '-') {
      descending = true;
      name.remove_prefix(1);
    }
    sort = table->find_field(name);
    if (sort == nullptr || !sort->stored) return error_response(field_not_found(*table, name));
    if (sort->type.kind == TypeKind::kArray || sort->type.kind == TypeKind::kStruct) {
      return error_response(bad_request("cannot sort by field '" + sort->name + "' of type " + sort->type.spelling));
    }
  }
  std::vector<std::uint16_t> projection;
  if (const std::string* f = req.param("fields"); f != nullptr) {
    for (std::string_view name : split_list(*f, false)) {
      const Field* field = table->find_field(name);
      if (field == nullptr) return error_response(field_not_found(*table, name));
      projection.push_back(field->id);
    }
  }
  auto v = view_for(req, true);
  if (auto* e = std::get_if<ApiError>(&v)) return error_response(*e);
  const PinnedView& view = *std::get<View>(v);
  const detail::VersionState& state = view.state();

  std::vector<Candidate> found;
  if (table->is_entity_table) {
    for_each_alive(state, [&](std::uint64_t e) { found.push_back({e, detail::kNoRow}); });
  } else {
    const detail::TableState& ts = state.tables[table->id];
    for (std::uint32_t r = 0; r < ts.row_count; ++r) {
      const std::byte* bytes = ts.stride == 0 ? nullptr : ts.rows.at(r);
      bool ok = true;
      for (const Predicate& p : predicates) ok = ok && p.matches(bytes);
      if (ok) found.push_back({storage::row_key(ts, r, state.registry), r});
    }
  }
  if (sort != nullptr && !table->is_entity_table) {
    const detail::TableState& ts = state.tables[table->id];
    std::vector<std::pair<Value, std::size_t>> keyed;
    keyed.reserve(found.size());
    for (std::size_t i = 0; i < found.size(); ++i) {
      keyed.emplace_back(storage::decode_value(sort->type, ts.rows.at(found[i].row) + sort->offset), i);
    }
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
      const int c = compare_values(a.first, b.first);
      return descending ? c > 0 : c < 0;
    });
    std::vector<Candidate> sorted;
    sorted.reserve(found.size());
    for (const auto& k : keyed) sorted.push_back(found[k.second]);
    found.swap(sorted);
  }
  const std::size_t begin = std::min(std::get<std::size_t>(offset), found.size());
  const std::size_t end = std::min(begin + std::get<std::size_t>(limit), found.size());
  json::array rows;
  for (std::size_t i = begin; i < end; ++i) {
    if (found[i].row == detail::kNoRow) {
      rows.push_back(json::object{{"key", id_string(found[i].key)}, {"values", json::object{}}});
    } else {
      rows.push_back(row_object(*table, state, found[i].row, projection));
    }
  }
  json::object o{{"table", table->name}, {"version", view.version()}, {"rows", std::move(rows)}};
  return json_response(200, page_fields(std::move(o), begin, std::get<std::size_t>(limit), found.size()));
}

HttpResponse Api::entity(const HttpRequest& req, const std::string& id) {
  const auto bits = parse_id(id);
  if (!bits) {
    ApiError e = bad_request("'" + id + "' is not an entity id (\"index:generation\", e.g. \"12:1\")", "invalid_value");
    e.details["entity"] = id;
    return error_response(e);
  }
  auto v = view_for(req, false);
  if (auto* e = std::get_if<ApiError>(&v)) return error_response(*e);
  const PinnedView& view = *std::get<View>(v);
  const Entity e = Entity::from_bits(*bits);
  if (!view.alive(e)) {
    ApiError err{404, "not_found", "entity " + id + " is not alive at version " + std::to_string(view.version())};
    err.details["entity"] = id;
    return error_response(err);
  }
  const Schema& schema = database()->schema();
  const detail::VersionState& state = view.state();
  json::object components;
  json::object children;
  json::array references;
  auto add_references = [&](const Table& t, const std::byte* row) {
    for (const Field& f : t.layout.fields) {
      if (!f.stored || f.type.kind != TypeKind::kEntityRef) continue;
      const Entity target = storage::decode_value(f.type, row + f.offset).entity;
      if (!target.is_null() && view.alive(target)) {
        references.push_back(json::object{{"table", t.name}, {"field", f.name}, {"entity", id_string(target.bits())}});
      }
    }
  };
  for (const Table& t : schema.tables) {
    if (t.is_entity_table) continue;
    if (t.cardinality == Cardinality::kOne) {
      const std::uint32_t r = state.find_row_index(t.id, e.bits());
      if (r == detail::kNoRow) continue;
      const std::byte* row = t.stride() == 0 ? nullptr : state.tables[t.id].rows.at(r);
      components[t.name] = row_values(t, row);
      if (row != nullptr) add_references(t, row);
    } else {
      auto owned = view.children(t.name, e);
      if (!owned || owned->empty()) continue;
      json::array list;
      for (RowId child : *owned) {
        const std::uint32_t r = state.find_row_index(t.id, child.bits());
        if (r == detail::kNoRow) continue;
        list.push_back(row_object(t, state, r));
        if (t.stride() != 0) add_references(t, state.tables[t.id].rows.at(r));
      }
      children[t.name] = std::move(list);
    }
  }
  json::array referenced_by;
  for (const Reference& ref : view.referencing(e)) {
    const Table* t = schema.find_table(ref.table);
    json::value owner = nullptr;
    if (t != nullptr && t->cardinality == Cardinality::kMany) {
      const std::uint32_t r = state.find_row_index(t->id, ref.key);
      if (r != detail::kNoRow) {
        const std::uint64_t o = storage::row_owner(state.tables[t->id], r, state.registry);
        if (o != 0) owner = json::string(id_string(o));
      }
    }
    referenced_by.push_back(json::object{{"table", ref.table}, {"field", ref.field}, {"key", id_string(ref.key)}, {"owner", owner}});
  }
  return json_response(200, json::object{{"entity", id_string(e.bits())},
                                         {"version", view.version()},
                                         {"components", std::move(components)},
                                         {"children", std::move(children)},
                                         {"references", std::move(references)},
                                         {"referenced_by", std::move(referenced_by)}});
}

HttpResponse Api::query(const HttpRequest& req) {
  auto body = parse_json_body(req);
  if (auto* e = std::get_if<ApiError>(&body)) return error_response(*e);
  const json::value& jv = std::get<json::value>(body);
  if (!jv.is_object()) return error_response(bad_request("the query must be a JSON object", "invalid_json"));
  const json::object& q = jv.as_object();
  const Schema& schema = database()->schema();
  static constexpr std::string_view kMembers[] = {"with", "without", "where", "order_by", "desc", "limit", "after", "version", "include"};
  for (const auto& kv : q) {
    if (std::find(std::begin(kMembers), std::end(kMembers), kv.key()) == std::end(kMembers)) {
      return error_response(bad_request("unknown member '" + std::string(kv.key()) +
                                            "' (with, without, where, order_by, desc, limit, after, version, include)",
                                        "invalid_json"));
    }
  }
  auto table_list = [&](std::string_view member, std::vector<const Table*>& out) -> std::optional<ApiError> {
    const json::value* v = q.if_contains(member);
    if (v == nullptr) return std::nullopt;
    if (!v->is_array()) return bad_request("'" + std::string(member) + "' must be an array of table names", "invalid_json");
    for (const json::value& n : v->as_array()) {
      if (!n.is_string()) return bad_request("'" + std::string(member) + "' must be an array of table names", "invalid_json");
      const Table* t = schema.find_table(n.as_string());
      if (t == nullptr) return table_not_found(n.as_string());
      if (t->is_entity_table || t->cardinality != Cardinality::kOne) {
        return ApiError{422, "invalid_operation",
                        "'" + std::string(member) + "': table '" + t->name + "' is not a component table (cardinality one)"};
      }
      out.push_back(t);
    }
    return std::nullopt;
  };
  std::vector<const Table*> with, without, include;
  if (auto e = table_list("with", with)) return error_response(*e);
  if (auto e = table_list("without", without)) return error_response(*e);
  if (auto e = table_list("include", include)) return error_response(*e);
  std::vector<Predicate> predicates;
  if (const json::value* w = q.if_contains("where")) {
    if (!w->is_array()) return error_response(bad_request("'where' must be an array of \"table.field OP value\" strings", "invalid_json"));
    for (const json::value& p : w->as_array()) {
      if (!p.is_string()) return error_response(bad_request("'where' must be an array of \"table.field OP value\" strings", "invalid_json"));
      auto parsed = parse_predicate(schema, nullptr, p.as_string());
      if (!parsed) return error_response(predicate_error(parsed.status()));
      if (parsed->table->cardinality != Cardinality::kOne || parsed->table->is_entity_table) {
        return error_response(ApiError{422, "invalid_operation", "predicate '" + parsed->text + "': not a component table"});
      }
      if (std::find(with.begin(), with.end(), parsed->table) == with.end()) with.push_back(parsed->table);
      predicates.push_back(std::move(*parsed));
    }
  }
  const Field* order = nullptr;
  const Table* order_table = nullptr;
  if (const json::value* o = q.if_contains("order_by")) {
    if (!o->is_string()) return error_response(bad_request("'order_by' is \"table.field\"", "invalid_json"));
    const std::string_view text = o->as_string();
    const std::size_t dot = text.find('.');
    if (dot == std::string_view::npos) return error_response(bad_request("'order_by' must be \"table.field\", got '" + std::string(text) + "'"));
    order_table = schema.find_table(text.substr(0, dot));
    if (order_table == nullptr) return error_response(table_not_found(text.substr(0, dot)));
    order = order_table->find_field(text.substr(dot + 1));
    if (order == nullptr || !order->stored) return error_response(field_not_found(*order_table, text.substr(dot + 1)));
    if (std::find(with.begin(), with.end(), order_table) == with.end()) with.push_back(order_table);
  }
  bool desc = false;
  if (const json::value* d = q.if_contains("desc")) {
    if (!d->is_bool()) return error_response(bad_request("'desc' is a bool", "invalid_json"));
    desc = d->as_bool();
  }
  std::size_t limit = 100;
  if (const json::value* l = q.if_contains("limit")) {
    if (!l->is_int64() || l->as_int64() < 1 || l->as_int64() > 1000) {
      return error_response(bad_request("'limit' must be an integer from 1 to 1000"));
    }
    limit = static_cast<std::size_t>(l->as_int64());
  }
  HttpRequest paging = req;  // `after` and `version` travel in the body here
  paging.query.clear();
  if (const json::value* a = q.if_contains("after")) {
    if (!a->is_string()) return error_response(bad_request("'after' is the 'next' cursor of the previous page"));
    paging.query.emplace_back("after", std::string(a->as_string()));
  }
  if (const json::value* v = q.if_contains("version")) {
    if (!v->is_int64() || v->as_int64() < 0) return error_response(bad_request("'version' must be a version number"));
    paging.query.emplace_back("version", std::to_string(v->as_int64()));
  }
  auto offset = parse_cursor(paging.param("after"));
  if (auto* e = std::get_if<ApiError>(&offset)) return error_response(*e);
  if (include.empty()) include = with;

  auto v = view_for(paging, true);
  if (auto* e = std::get_if<ApiError>(&v)) return error_response(*e);
  const PinnedView& view = *std::get<View>(v);
  const detail::VersionState& state = view.state();

  auto row_of = [&](const Table* t, std::uint64_t key) -> std::pair<bool, const std::byte*> {
    const std::uint32_t r = state.find_row_index(t->id, key);
    if (r == detail::kNoRow) return {false, nullptr};
    return {true, t->stride() == 0 ? nullptr : state.tables[t->id].rows.at(r)};
  };
  std::vector<std::uint64_t> found;
  auto consider = [&](std::uint64_t key) {
    for (const Table* t : with) {
      if (!row_of(t, key).first) return;
    }
    for (const Table* t : without) {
      if (row_of(t, key).first) return;
    }
    for (const Predicate& p : predicates) {
      if (!p.matches(row_of(p.table, key).second)) return;
    }
    found.push_back(key);
  };
  if (with.empty()) {
    for_each_alive(state, consider);
  } else {
    // Driven by the smallest table.
    const Table* driver = *std::min_element(with.begin(), with.end(), [&](const Table* a, const Table* b) {
      return state.tables[a->id].row_count < state.tables[b->id].row_count;
    });
    const detail::TableState& ts = state.tables[driver->id];
    for (std::uint32_t r = 0; r < ts.row_count; ++r) consider(storage::row_key(ts, r, state.registry));
  }
  if (order != nullptr) {
    std::vector<std::pair<Value, std::uint64_t>> keyed;
    keyed.reserve(found.size());
    for (std::uint64_t key : found) keyed.emplace_back(storage::decode_value(order->type, row_of(order_table, key).second + order->offset), key);
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
      const int c = compare_values(a.first, b.first);
      return desc ? c > 0 : c < 0;
    });
    for (std::size_t i = 0; i < keyed.size(); ++i) found[i] = keyed[i].second;
  }
  const std::size_t begin = std::min(std::get<std::size_t>(offset), found.size());
  const std::size_t end = std::min(begin + limit, found.size());
  json::array entities;
  for (std::size_t i = begin; i < end; ++i) {
    json::object components;
    for (const Table* t : include) {
      auto [present, row] = row_of(t, found[i]);
      if (present) components[t->name] = row_values(*t, row);
    }
    entities.push_back(json::object{{"entity", id_string(found[i])}, {"components", std::move(components)}});
  }
  json::object o{{"version", view.version()}, {"entities", std::move(entities)}};
  return json_response(200, page_fields(std::move(o), begin, limit, found.size()));
}

void Api::transaction(const HttpRequest& req, Respond respond) {
  Database* db = database();
  auto body = parse_json_body(req);
  if (auto* e = std::get_if<ApiError>(&body)) return respond(error_response(*e));
  auto plan = decode_transaction(db->schema(), std::get<json::value>(body), config_.max_ops_per_transaction);
  if (auto* e = std::get_if<ApiError>(&plan)) return respond(error_response(*e));
  if (Status h = db->health(); !h.is_ok()) {
    return respond(error_response(ApiError{503, "read_only", "the database is read-only after an I/O error: " + h.to_string()}));
  }
  const std::string key = req.idempotency_key;
  const std::uint64_t body_hash = hash_bytes(req.body);
  if (!key.empty()) {
    base::MutexLock lock(keys_mu_);
    if (auto it = keys_.find(key); it != keys_.end()) {
      if (it->second.body_hash != body_hash) {
        return respond(error_response(ApiError{422, "invalid_operation",
                                               "Idempotency-Key '" + key + "' was used with a different body"}));
      }
      if (!it->second.done) {
        return respond(error_response(ApiError{409, "conflict", "a request with Idempotency-Key '" + key + "' is still being committed"}));
      }
      HttpResponse replay = it->second.response;
      replay.headers.emplace_back("Idempotent-Replay", "true");
      return respond(std::move(replay));
    }
    keys_[key] = Remembered{body_hash, false, {}, ++key_order_};
  }
  auto shared_plan = std::make_shared<TransactionPlan>(std::move(std::get<TransactionPlan>(plan)));
  auto outcome = std::make_shared<TransactionOutcome>();
  const bool durable = !config_.data.empty() && config_.durability == "sync";
  const auto submitted = std::chrono::steady_clock::now();
  in_flight_.fetch_add(1, std::memory_order_acq_rel);
  db->submit(
      [shared_plan, outcome](Transaction& txn) { return apply_transaction(*shared_plan, txn, *outcome); },
      [this, outcome, key, durable, submitted, respond = std::move(respond)](const Status& s, std::uint64_t version) {
        metrics_.commit_seconds.record_ns(nanos_since(submitted));
        HttpResponse r;
        if (s.is_ok()) {
          json::array created;
          for (std::uint64_t e : outcome->created) created.push_back(json::string(id_string(e)));
          json::array rows;
          for (std::uint64_t k : outcome->rows) rows.push_back(json::string(id_string(k)));
          r = json_response(200, json::object{{"version", version}, {"created", std::move(created)},
                                              {"rows", std::move(rows)}, {"durable", durable}});
        } else {
          r = error_response(outcome->error ? *outcome->error : from_status(s));
        }
        if (!key.empty()) {
          base::MutexLock lock(keys_mu_);
          auto it = keys_.find(key);
          // Only answers that changed or decided something are remembered; a refusal for a passing reason
          // (read-only, shutting down) may be retried with the same key.
          if (it != keys_.end() && r.status < 500) {
            it->second.done = true;
            it->second.response = r;
          } else if (it != keys_.end()) {
            keys_.erase(it);
          }
          while (keys_.size() > config_.idempotency_keys) {
            auto oldest = keys_.end();
            for (auto i = keys_.begin(); i != keys_.end(); ++i) {
              if (i->second.done && (oldest == keys_.end() || i->second.order < oldest->second.order)) oldest = i;
            }
            if (oldest == keys_.end()) break;
            keys_.erase(oldest);
          }
        }
        respond(std::move(r));
        in_flight_.fetch_sub(1, std::memory_order_acq_rel);
      });
}

void Api::snapshot(Respond respond) {
  Database* db = database();
  if (config_.data.empty()) {
    return respond(error_response(ApiError{422, "invalid_operation", "the server has no data directory (--data): nothing to snapshot into"}));
  }
  in_flight_.fetch_add(1, std::memory_order_acq_rel);
  snapshots_running_.fetch_add(1, std::memory_order_acq_rel);
  // Writing a snapshot takes as long as the data: off the network threads (the writer keeps going).
  std::thread([this, db, respond = std::move(respond)] {
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t version = db->published_version();
    Status s = db->snapshot();
    if (s.is_ok()) {
      respond(json_response(200, json::object{{"version", version},
                                              {"durable_version", db->durable_version()},
                                              {"seconds", static_cast<double>(nanos_since(start)) * 1e-9}}));
    } else {
      respond(error_response(from_status(s)));
    }
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    snapshots_running_.fetch_sub(1, std::memory_order_acq_rel);
  }).detach();
}

json::value Api::replication_json() const {
  const ReplicationServer* repl = repl_.load(std::memory_order_acquire);
  if (repl == nullptr) return nullptr;
  const ReplicationStats s = repl->stats();
  return json::object{{"clients", s.clients},
                      {"connections_total", s.connections_total},
                      {"frames_sent_total", s.frames_sent},
                      {"bytes_sent_total", s.bytes_sent},
                      {"bytes_uncompressed_total", s.bytes_uncompressed},
                      {"full_syncs_total", s.full_syncs},
                      {"resubscribes_total", s.resubscribes},
                      {"resumes_total", s.resumes},
                      {"coalesced_total", s.coalesced},
                      {"writes_committed_total", s.writes_committed},
                      {"writes_rejected_total", s.writes_rejected},
                      {"overwritten_total", s.overwritten},
                      {"refused_total", s.refused},
                      {"backlog_bytes", s.backlog_bytes}};
}

HttpResponse Api::replication_clients() {
  const ReplicationServer* repl = repl_.load(std::memory_order_acquire);
  json::array list;
  if (repl != nullptr) {
    for (const ReplicationClientInfo& c : repl->clients()) {
      json::array tables;
      for (const std::string& t : c.tables) tables.emplace_back(t);
      list.push_back(json::object{{"id", c.id},
                                  {"address", c.address},
                                  {"token", c.token_name},
                                  {"tables", std::move(tables)},
                                  {"filters", c.filters},
                                  {"durable_only", c.durable_only},
                                  {"sent_version", c.sent_version},
                                  {"acked_version", c.acked_version},
                                  {"lag_versions", c.lag_versions},
                                  {"bytes_sent", c.bytes_sent},
                                  {"bytes_uncompressed", c.bytes_uncompressed},
                                  {"compressed", c.compressed},
                                  {"frames_sent", c.frames_sent},
                                  {"bytes_per_second", c.bytes_per_second},
                                  {"backlog_bytes", c.backlog_bytes},
                                  {"writes_committed", c.writes_committed},
                                  {"writes_rejected", c.writes_rejected},
                                  {"connected_seconds", c.connected_seconds}});
    }
  }
  json::value tcp_port = nullptr;
  if (repl != nullptr && repl->port() != 0) tcp_port = repl->port();
  return json_response(200, json::object{{"enabled", repl != nullptr}, {"tcp_port", tcp_port}, {"clients", std::move(list)}});
}

HttpResponse Api::metrics_json() {
  Database* db = database();
  const DatabaseMetrics m = db->metrics();
  const PinnedView view = db->pin();
  json::object tables;
  for (const Table& t : db->schema().tables) {
    tables[t.name] = rows_of(view, t);
  }
  auto quantiles = [](std::uint64_t count, double p50, double p99) {
    return json::object{{"count", count}, {"p50", p50}, {"p99", p99}};
  };
  return json_response(
      200, json::object{
               {"uptime_seconds", static_cast<double>(nanos_since(started_)) * 1e-9},
               {"committed_version", m.published_version},
               {"durable_version", m.durable_version},
               {"commits_total", m.commits},
               {"rollbacks_total", m.rollbacks},
               {"queue_depth", m.queue_depth},
               {"entities", m.entities_alive},
               {"pinned_versions", m.pinned_views},
               {"oldest_pinned_version", m.oldest_pinned_version},
               {"retired_bytes", m.retired_bytes},
               {"bytes_in_use", m.bytes_in_use},
               {"wal_bytes_total", m.wal_bytes_total},
               {"wal_fsyncs_total", m.wal_syncs_total},
               {"snapshots_total", m.snapshots_total},
               {"last_snapshot_seconds", static_cast<double>(m.last_snapshot_ns) * 1e-9},
               {"snapshot_failures_total", m.snapshot_failures_total},
               {"retention_failures_total", m.retention_failures_total},
               {"snapshot_failing", m.snapshot_failing},
               {"retention_failing", m.retention_failing},
               {"stream_clients", metrics_.stream_clients.load(std::memory_order_relaxed)},
               {"replication", replication_json()},
               {"http_requests_total", metrics_.requests_total()},
               {"tables", std::move(tables)},
               {"commit_latency_seconds", quantiles(metrics_.commit_seconds.count(), metrics_.commit_seconds.quantile_seconds(0.5),
                                                     metrics_.commit_seconds.quantile_seconds(0.99))},
               {"wal_fsync_seconds", quantiles(m.wal_syncs_total, static_cast<double>(m.wal_sync_p50_ns) * 1e-9,
                                                static_cast<double>(m.wal_sync_p99_ns) * 1e-9)},
               {"http_request_seconds", quantiles(metrics_.request_seconds.count(), metrics_.request_seconds.quantile_seconds(0.5),
                                                   metrics_.request_seconds.quantile_seconds(0.99))},
               // Every commit through the queue (Database::submit: HTTP transactions and an embedding
               // program's own, such as --simulate), submitted to visible in a published version.
               {"queue_latency_seconds", quantiles(m.submit_to_visible_count, static_cast<double>(m.submit_to_visible_p50_ns) * 1e-9,
                                                    static_cast<double>(m.submit_to_visible_p99_ns) * 1e-9)},
               {"stream_lag_seconds", quantiles(metrics_.stream_lag_seconds.count(), metrics_.stream_lag_seconds.quantile_seconds(0.5),
                                                 metrics_.stream_lag_seconds.quantile_seconds(0.99))},
               {"pages_copied_total", m.pages_copied_total},
               {"pages_replayed_total", m.pages_replayed_total},
               {"bytes_copied_total", m.bytes_copied_total},
               {"bytes_pooled", m.bytes_pooled},
               {"bytes_parked", m.bytes_parked},
               {"writer_scratch_bytes", m.writer_scratch_bytes},
           });
}

// What the caller's token may do, so that a client (the dashboard) can offer only what will be allowed.
// Without tokens configured every caller is admin and `token` is null.
HttpResponse Api::whoami(const HttpRequest& req) {
  const bool anonymous = req.token_name.empty() || req.token_name == "-";
  return json_response(200, json::object{{"role", to_string(req.role)},
                                         {"token", anonymous ? json::value(nullptr) : json::value(req.token_name)},
                                         {"auth_required", !anonymous}});
}

HttpResponse Api::prometheus() {
  Database* db = database();
  const DatabaseMetrics m = db->metrics();
  std::string out;
  char line[256];
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, value);
    out += line;
  };
  auto u = [](std::uint64_t v) { return static_cast<double>(v); };
  metric("ecsdb_commits_total", "counter", "Transactions committed.", u(m.commits));
  metric("ecsdb_rollbacks_total", "counter", "Transactions rolled back.", u(m.rollbacks));
  metric("ecsdb_committed_version", "gauge", "Newest published version.", u(m.published_version));
  metric("ecsdb_durable_version", "gauge", "Newest version whose commits are all on disk.", u(m.durable_version));
  metric("ecsdb_queue_depth", "gauge", "Transactions submitted but not yet taken by the writer.", u(m.queue_depth));
  metric("ecsdb_entities", "gauge", "Live entities in the published version.", u(m.entities_alive));
  metric("ecsdb_pinned_versions", "gauge", "Views pinned now.", u(m.pinned_views));
  metric("ecsdb_oldest_pinned_version", "gauge", "Oldest pinned version (0 when none).", u(m.oldest_pinned_version));
  metric("ecsdb_retired_bytes", "gauge", "Old pages kept alive for pinned views.", u(m.retired_bytes));
  metric("ecsdb_memory_in_use_bytes", "gauge", "Pages and directories allocated.", u(m.bytes_in_use));
  metric("ecsdb_pages_copied_total", "counter", "Copy-on-write page copies.", u(m.pages_copied_total));
  metric("ecsdb_pages_replayed_total", "counter", "Of those copies, the ones made by replaying written granules into a parked copy.",
         u(m.pages_replayed_total));
  metric("ecsdb_bytes_copied_total", "counter", "Bytes moved by copy-on-write copies and replays.", u(m.bytes_copied_total));
  metric("ecsdb_memory_pooled_bytes", "gauge", "Freed pages kept for reuse.", u(m.bytes_pooled));
  metric("ecsdb_memory_parked_bytes", "gauge", "Older copies of written pages kept for ping-pong reuse.", u(m.bytes_parked));
  metric("ecsdb_writer_scratch_bytes", "gauge", "Undo buffers the writer keeps for the next transaction.", u(m.writer_scratch_bytes));
  metric("ecsdb_wal_bytes_total", "counter", "Write-ahead log bytes appended by this process.", u(m.wal_bytes_total));
  metric("ecsdb_snapshots_total", "counter", "Snapshots written by this process.", u(m.snapshots_total));
  metric("ecsdb_snapshot_seconds", "gauge", "Duration of the last snapshot.", static_cast<double>(m.last_snapshot_ns) * 1e-9);
  metric("ecsdb_snapshot_failures_total", "counter", "Snapshots that failed (on demand and background).", u(m.snapshot_failures_total));
  metric("ecsdb_retention_failures_total", "counter", "Retention runs after a snapshot that failed.", u(m.retention_failures_total));
  metric("ecsdb_snapshot_failing", "gauge", "1 while the latest snapshot failed.", m.snapshot_failing ? 1.0 : 0.0);
  metric("ecsdb_retention_failing", "gauge", "1 while the latest retention run failed.", m.retention_failing ? 1.0 : 0.0);
  // The database keeps log-scaled histograms: exported as summaries (p50, p99, sum, count).
  auto summary = [&](const char* name, const char* help, double p50_ns, double p99_ns, double sum_ns, std::uint64_t count) {
    char block[1024];
    std::snprintf(block, sizeof block,
                  "# HELP %s %s\n# TYPE %s summary\n%s{quantile=\"0.5\"} %.9f\n%s{quantile=\"0.99\"} %.9f\n%s_sum %.9f\n%s_count %llu\n",
                  name, help, name, name, p50_ns * 1e-9, name, p99_ns * 1e-9, name, sum_ns * 1e-9, name,
                  static_cast<unsigned long long>(count));
    out += block;
  };
  summary("ecsdb_wal_fsync_seconds", "Duration of the WAL's group-commit fdatasyncs.", u(m.wal_sync_p50_ns),
          u(m.wal_sync_p99_ns), u(m.wal_sync_sum_ns), m.wal_syncs_total);
  summary("ecsdb_commit_visible_seconds", "Queued transaction submitted to visible (the database's own figure).",
          u(m.submit_to_visible_p50_ns), u(m.submit_to_visible_p99_ns), u(m.submit_to_visible_sum_ns),
          m.submit_to_visible_count);
  out += metrics_.commit_seconds.prometheus("ecsdb_commit_latency_seconds",
                                            "POST /api/transactions: submitted to acknowledged (durable in sync mode).");
  out += metrics_.request_seconds.prometheus("ecsdb_http_request_seconds", "HTTP requests: read to answered.");
  out += metrics_.stream_lag_seconds.prometheus("ecsdb_stream_lag_seconds", "Stream: version published to message written.");
  {
    const PinnedView view = db->pin();
    out += "# HELP ecsdb_table_rows Rows per table in the published version.\n# TYPE ecsdb_table_rows gauge\n";
    for (const Table& t : db->schema().tables) {
      const std::uint64_t rows = rows_of(view, t);
      std::snprintf(line, sizeof line, "ecsdb_table_rows{table=\"%s\"} %llu\n", t.name.c_str(), static_cast<unsigned long long>(rows));
      out += line;
    }
  }
  out += "# HELP ecsdb_http_requests_total HTTP requests answered, by route and status code.\n"
         "# TYPE ecsdb_http_requests_total counter\n";
  for (const auto& [key, count] : metrics_.requests()) {
    std::snprintf(line, sizeof line, "ecsdb_http_requests_total{route=\"%s\",code=\"%u\"} %llu\n", key.first.c_str(), key.second,
                  static_cast<unsigned long long>(count));
    out += line;
  }
  metric("ecsdb_http_connections", "gauge", "Open HTTP and WebSocket connections.",
         static_cast<double>(metrics_.connections.load(std::memory_order_relaxed)));
  metric("ecsdb_http_rejected_connections_total", "counter", "Connections refused past max_connections.",
         u(metrics_.rejected_connections_total.load(std::memory_order_relaxed)));
  metric("ecsdb_http_rate_limited_total", "counter", "Requests refused with 429.",
         u(metrics_.rate_limited_total.load(std::memory_order_relaxed)));
  if (const ReplicationServer* repl = repl_.load(std::memory_order_acquire)) {
    const ReplicationStats r = repl->stats();
    metric("ecsdb_replication_clients", "gauge", "Replication clients connected.", u(r.clients));
    metric("ecsdb_replication_frames_sent_total", "counter", "Replication frames sent.", u(r.frames_sent));
    metric("ecsdb_replication_bytes_sent_total", "counter", "Replication bytes sent (on the wire).", u(r.bytes_sent));
    metric("ecsdb_replication_bytes_uncompressed_total", "counter", "Replication bytes sent, counted before zstd.",
           u(r.bytes_uncompressed));
    metric("ecsdb_replication_full_syncs_total", "counter", "Full syncs sent to replication clients.", u(r.full_syncs));
    metric("ecsdb_replication_resubscribes_total", "counter", "Replication subscriptions changed on live connections.",
           u(r.resubscribes));
    metric("ecsdb_replication_resumes_total", "counter", "Replication clients resumed from their version.", u(r.resumes));
    metric("ecsdb_replication_coalesced_total", "counter", "Deltas folded into a later frame for slow replicas.", u(r.coalesced));
    metric("ecsdb_replication_writes_committed_total", "counter", "Replica writes committed.", u(r.writes_committed));
    metric("ecsdb_replication_writes_rejected_total", "counter", "Replica writes rejected.", u(r.writes_rejected));
    metric("ecsdb_replication_refused_total", "counter", "Replication connections closed for a bad or unauthorised frame.",
           u(r.refused));
    metric("ecsdb_replication_backlog_bytes", "gauge", "Bytes queued for replication clients.", u(r.backlog_bytes));
  }
  metric("ecsdb_stream_clients", "gauge", "WebSocket change-stream clients.",
         static_cast<double>(metrics_.stream_clients.load(std::memory_order_relaxed)));
  metric("ecsdb_stream_messages_total", "counter", "Change-stream messages sent.",
         u(metrics_.stream_messages_total.load(std::memory_order_relaxed)));
  metric("ecsdb_stream_coalesced_total", "counter", "Deltas folded into a later message for slow stream clients.",
         u(metrics_.stream_coalesced_total.load(std::memory_order_relaxed)));
  metric("ecsdb_uptime_seconds", "gauge", "Seconds since the server started.", static_cast<double>(nanos_since(started_)) * 1e-9);
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  return r;
}

}  // namespace ecsdb::server
