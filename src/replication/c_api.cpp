// The C ABI over Replica (ecsdb/ecsdb_client.h). Each handle wraps the C++ object; nothing here throws across
// the ABI: every function that can allocate catches whatever it throws and reports ECSDB_INTERNAL.
#include "ecsdb/ecsdb_client.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <exception>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ecsdb/replica.hpp"

// The C constants are the C++ enums' numeric values: they must never drift apart.
static_assert(ECSDB_OK == static_cast<int>(ecsdb::StatusCode::kOk));
static_assert(ECSDB_INVALID_ARGUMENT == static_cast<int>(ecsdb::StatusCode::kInvalidArgument));
static_assert(ECSDB_NOT_FOUND == static_cast<int>(ecsdb::StatusCode::kNotFound));
static_assert(ECSDB_STALE_ENTITY == static_cast<int>(ecsdb::StatusCode::kStaleEntity));
static_assert(ECSDB_ALREADY_EXISTS == static_cast<int>(ecsdb::StatusCode::kAlreadyExists));
static_assert(ECSDB_CONSTRAINT_VIOLATION == static_cast<int>(ecsdb::StatusCode::kConstraintViolation));
static_assert(ECSDB_CONFLICT == static_cast<int>(ecsdb::StatusCode::kConflict));
static_assert(ECSDB_SCHEMA_ERROR == static_cast<int>(ecsdb::StatusCode::kSchemaError));
static_assert(ECSDB_BINDING_MISMATCH == static_cast<int>(ecsdb::StatusCode::kBindingMismatch));
static_assert(ECSDB_IO_ERROR == static_cast<int>(ecsdb::StatusCode::kIoError));
static_assert(ECSDB_CORRUPTION == static_cast<int>(ecsdb::StatusCode::kCorruption));
static_assert(ECSDB_ABORTED == static_cast<int>(ecsdb::StatusCode::kAborted));
static_assert(ECSDB_INTERNAL == static_cast<int>(ecsdb::StatusCode::kInternal));
static_assert(ECSDB_RESOURCE_EXHAUSTED == static_cast<int>(ecsdb::StatusCode::kResourceExhausted));
static_assert(ECSDB_UNAVAILABLE == static_cast<int>(ecsdb::StatusCode::kUnavailable));
static_assert(ECSDB_PERMISSION_DENIED == static_cast<int>(ecsdb::StatusCode::kPermissionDenied));
static_assert(ECSDB_FAILED_PRECONDITION == static_cast<int>(ecsdb::StatusCode::kFailedPrecondition));
static_assert(ECSDB_DEADLINE_EXCEEDED == static_cast<int>(ecsdb::StatusCode::kDeadlineExceeded));
static_assert(ECSDB_CARDINALITY_ONE == static_cast<int>(ecsdb::Cardinality::kOne));
static_assert(ECSDB_CARDINALITY_MANY == static_cast<int>(ecsdb::Cardinality::kMany));
static_assert(ECSDB_TYPE_SCALAR == static_cast<int>(ecsdb::TypeKind::kScalar));
static_assert(ECSDB_TYPE_ARRAY == static_cast<int>(ecsdb::TypeKind::kArray));
static_assert(ECSDB_TYPE_ENUM == static_cast<int>(ecsdb::TypeKind::kEnum));
static_assert(ECSDB_TYPE_STRUCT == static_cast<int>(ecsdb::TypeKind::kStruct));
static_assert(ECSDB_TYPE_STRING == static_cast<int>(ecsdb::TypeKind::kString));
static_assert(ECSDB_TYPE_ENTITY == static_cast<int>(ecsdb::TypeKind::kEntityRef));
static_assert(ECSDB_SCALAR_U8 == static_cast<int>(ecsdb::ScalarKind::kU8));
static_assert(ECSDB_SCALAR_U16 == static_cast<int>(ecsdb::ScalarKind::kU16));
static_assert(ECSDB_SCALAR_U32 == static_cast<int>(ecsdb::ScalarKind::kU32));
static_assert(ECSDB_SCALAR_U64 == static_cast<int>(ecsdb::ScalarKind::kU64));
static_assert(ECSDB_SCALAR_I8 == static_cast<int>(ecsdb::ScalarKind::kI8));
static_assert(ECSDB_SCALAR_I16 == static_cast<int>(ecsdb::ScalarKind::kI16));
static_assert(ECSDB_SCALAR_I32 == static_cast<int>(ecsdb::ScalarKind::kI32));
static_assert(ECSDB_SCALAR_I64 == static_cast<int>(ecsdb::ScalarKind::kI64));
static_assert(ECSDB_SCALAR_F32 == static_cast<int>(ecsdb::ScalarKind::kF32));
static_assert(ECSDB_SCALAR_F64 == static_cast<int>(ecsdb::ScalarKind::kF64));
static_assert(ECSDB_SCALAR_BOOL == static_cast<int>(ecsdb::ScalarKind::kBool));

// The handles. Their names are the C ABI's (snake_case), declared in the header.
// NOLINTBEGIN(readability-identifier-naming)

// A replica handle is freed when both ecsdb_replica_close and every view pinned from it are done with it:
// a view's PinnedView needs the replica's Database, and garbage-collected bindings cannot promise to release
// views before closing the replica.
struct ecsdb_replica {
  std::unique_ptr<ecsdb::Replica> replica;
  mutable std::atomic<std::uint64_t> refs{1};  // the handle itself, plus one per live view
  // The version the previous ecsdb_replica_poll saw; no version is ~0, so the first poll always reports.
  std::atomic<std::uint64_t> last_polled{~std::uint64_t{0}};
  std::mutex mu;
  std::unordered_map<std::uint64_t, ecsdb::ReplicaWriteTicket> requests;  // guarded by mu: not yet answered
  std::deque<ecsdb_overwritten> overwritten;                             // guarded by mu: taken, not handed out
};

struct ecsdb_view {
  const ecsdb_replica* owner;  // holds one of owner->refs
  ecsdb::PinnedView view;
};

struct ecsdb_write {
  ecsdb::ReplicaWrite write;
};

// NOLINTEND(readability-identifier-naming)

namespace {

using ecsdb::Status;
using ecsdb::StatusCode;

void unref(const ecsdb_replica* r) noexcept {
  if (r->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete r;
}

// Copies as much of `parts` as fits, NUL-terminated. Never allocates (it reports exceptions too).
void write_message(char* out, std::size_t size, std::initializer_list<std::string_view> parts) noexcept {
  if (out == nullptr || size == 0) return;
  std::size_t n = 0;
  for (std::string_view p : parts) {
    const std::size_t take = std::min(size - 1 - n, p.size());
    std::memcpy(out + n, p.data(), take);
    n += take;
  }
  out[n] = '\0';
}

int report(const Status& s, char* error, std::size_t size) {
  if (s.is_ok()) {
    write_message(error, size, {});
  } else {
    write_message(error, size, {ecsdb::to_string(s.code()), ": ", s.message()});
  }
  return static_cast<int>(s.code());
}

int invalid(char* error, std::size_t size, std::string_view what) noexcept {
  write_message(error, size, {"invalid argument: ", what});
  return ECSDB_INVALID_ARGUMENT;
}

// Runs `f` (returning a status code), turning an exception into ECSDB_INTERNAL with its message.
template <typename F>
int guarded(char* error, std::size_t size, F&& f) noexcept {
  try {
    return f();
  } catch (const std::exception& e) {
    write_message(error, size, {"internal error: ", e.what()});
  } catch (...) {
    write_message(error, size, {"internal error: unknown exception"});
  }
  return ECSDB_INTERNAL;
}

const ecsdb::Table* table_of(const ecsdb_replica* r, int table) noexcept {
  if (r == nullptr || table < 0) return nullptr;
  const std::vector<ecsdb::Table>& tables = r->replica->schema().tables;
  return static_cast<std::size_t>(table) < tables.size() ? &tables[static_cast<std::size_t>(table)] : nullptr;
}

// The view's state of `table`, or nullptr for a NULL view or a bad id.
const ecsdb::detail::TableState* table_state(const ecsdb_view* v, int table) noexcept {
  if (v == nullptr || table < 0) return nullptr;
  const std::vector<ecsdb::detail::TableState>& tables = v->view.state().tables;
  return static_cast<std::size_t>(table) < tables.size() ? &tables[static_cast<std::size_t>(table)] : nullptr;
}

int scalar_of(const ecsdb::Type& t) noexcept {
  switch (t.kind) {
    case ecsdb::TypeKind::kScalar:
    case ecsdb::TypeKind::kEnum: return static_cast<int>(t.scalar);
    case ecsdb::TypeKind::kEntityRef: return ECSDB_SCALAR_U64;
    case ecsdb::TypeKind::kArray:
      if (t.element != nullptr && (t.element->kind == ecsdb::TypeKind::kScalar || t.element->kind == ecsdb::TypeKind::kEnum)) {
        return static_cast<int>(t.element->scalar);
      }
      return -1;
    default: return -1;
  }
}

std::span<const std::byte> bytes_of(const void* row, std::size_t size) noexcept {
  return {static_cast<const std::byte*>(row), row == nullptr ? 0 : size};
}

// Adds one operation to a write: 0, or ECSDB_INVALID_ARGUMENT for a NULL write, table or row.
template <typename F>
int add_op(ecsdb_write* w, const char* table, bool needs_table, const void* row, bool needs_row, std::size_t size, F&& f) noexcept {
  if (w == nullptr || (needs_table && table == nullptr) || (needs_row && row == nullptr && size != 0)) return ECSDB_INVALID_ARGUMENT;
  return guarded(nullptr, 0, [&] {
    f(w->write);
    return ECSDB_OK;
  });
}


// The C filters as SubscriptionFilters; an error names the filter and what is wrong with it.
Status to_filters(const ecsdb_filter* filters, std::size_t count, std::vector<ecsdb::SubscriptionFilter>& out) {
  using F = ecsdb::SubscriptionFilter;
  if (count != 0 && filters == nullptr) return ecsdb::invalid_argument("filter_count without filters");
  for (std::size_t i = 0; i < count; ++i) {
    const ecsdb_filter& c = filters[i];
    const std::string at = "filter " + std::to_string(i) + ": ";
    const std::string table = c.table != nullptr ? c.table : "";
    switch (c.kind) {
      case ECSDB_FILTER_ENTITIES: {
        if (c.entity_count != 0 && c.entities == nullptr) return ecsdb::invalid_argument(at + "entity_count without entities");
        std::vector<ecsdb::Entity> set;
        set.reserve(c.entity_count);
        for (std::size_t k = 0; k < c.entity_count; ++k) set.push_back(ecsdb::Entity::from_bits(c.entities[k]));
        out.push_back(F::of_entities(std::move(set), table));
        break;
      }
      case ECSDB_FILTER_FIELD: {
        if (c.field == nullptr) return ecsdb::invalid_argument(at + "no field");
        if (c.op < ECSDB_OP_EQ || c.op > ECSDB_OP_GE) return ecsdb::invalid_argument(at + "unknown op " + std::to_string(c.op));
        ecsdb::Value v;
        switch (c.value_kind) {
          case ECSDB_VALUE_BOOL: v = ecsdb::Value::from_bool(c.uint_value != 0); break;
          case ECSDB_VALUE_INT: v = ecsdb::Value::from_int(c.int_value); break;
          case ECSDB_VALUE_UINT: v = ecsdb::Value::from_uint(c.uint_value); break;
          case ECSDB_VALUE_FLOAT: v = ecsdb::Value::from_float(c.float_value); break;
          case ECSDB_VALUE_ENTITY: v = ecsdb::Value::from_entity(ecsdb::Entity::from_bits(c.uint_value)); break;
          case ECSDB_VALUE_STRING:
            if (c.string_value == nullptr) return ecsdb::invalid_argument(at + "no string_value");
            v = ecsdb::Value::from_string(c.string_value);
            break;
          default: return ecsdb::invalid_argument(at + "unknown value_kind " + std::to_string(c.value_kind));
        }
        out.push_back(F::where(table, c.field, static_cast<F::Op>(c.op), std::move(v)));
        break;
      }
      case ECSDB_FILTER_CUSTOM: {
        if (c.name == nullptr) return ecsdb::invalid_argument(at + "no name");
        if (c.params_size != 0 && c.params == nullptr) return ecsdb::invalid_argument(at + "params_size without params");
        const auto* p = static_cast<const std::byte*>(c.params);
        out.push_back(F::custom(table, c.name, std::vector<std::byte>(p, p + c.params_size)));
        break;
      }
      default: return ecsdb::invalid_argument(at + "unknown kind " + std::to_string(c.kind));
    }
  }
  return Status::ok();
}

}  // namespace

extern "C" {

uint32_t ecsdb_client_abi_version(void) { return ECSDB_CLIENT_ABI_VERSION; }

const char* ecsdb_status_name(int code) {
  if (code < 0 || code > ECSDB_DEADLINE_EXCEEDED) return "unknown";
  // The names are string literals (status.cpp): NUL-terminated and static.
  return ecsdb::to_string(static_cast<StatusCode>(code)).data();
}

// ---- connection ----

int ecsdb_replica_connect(const ecsdb_replica_options* options, ecsdb_replica** out, char* error, size_t error_size) {
  if (out != nullptr) *out = nullptr;
  if (options == nullptr) return invalid(error, error_size, "null options");
  if (out == nullptr) return invalid(error, error_size, "null out pointer");
  if (options->table_count != 0 && options->tables == nullptr) return invalid(error, error_size, "table_count without tables");
  return guarded(error, error_size, [&] {
    ecsdb::ReplicaOptions o;
    if (options->host != nullptr && options->host[0] != '\0') o.host = options->host;
    o.port = options->port != 0 ? options->port : 7070;
    if (options->token != nullptr) o.token = options->token;
    for (std::size_t i = 0; i < options->table_count; ++i) {
      if (options->tables[i] == nullptr) return invalid(error, error_size, "a null table name");
      o.tables.emplace_back(options->tables[i]);
    }
    o.durable_only = options->durable_only != 0;
    o.compress = options->disable_compression == 0;
    if (Status s = to_filters(options->filters, options->filter_count, o.filters); !s.is_ok()) return report(s, error, error_size);
    if (options->connect_timeout_ms != 0) o.connect_timeout_ms = options->connect_timeout_ms;
    auto connected = ecsdb::Replica::connect(std::move(o));
    if (!connected) return report(connected.status(), error, error_size);
    auto handle = std::make_unique<ecsdb_replica>();
    handle->replica = std::move(*connected);
    *out = handle.release();
    return report(Status::ok(), error, error_size);
  });
}

int ecsdb_replica_set_subscription(ecsdb_replica* replica, const char* const* tables, size_t table_count,
                                   const ecsdb_filter* filters, size_t filter_count, char* error, size_t error_size) {
  if (replica == nullptr) return invalid(error, error_size, "null replica");
  if (table_count != 0 && tables == nullptr) return invalid(error, error_size, "table_count without tables");
  return guarded(error, error_size, [&] {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < table_count; ++i) {
      if (tables[i] == nullptr) return invalid(error, error_size, "a null table name");
      names.emplace_back(tables[i]);
    }
    std::vector<ecsdb::SubscriptionFilter> converted;
    if (Status s = to_filters(filters, filter_count, converted); !s.is_ok()) return report(s, error, error_size);
    return report(replica->replica->set_subscription(names, converted), error, error_size);
  });
}

void ecsdb_replica_close(ecsdb_replica* replica) {
  if (replica == nullptr) return;
  try {
    replica->replica->close();  // the local copy stays: views still pinned keep reading it
    std::lock_guard lock(replica->mu);
    replica->requests.clear();
  } catch (...) {
    // Nothing to report to: the handle is freed all the same.
  }
  unref(replica);
}

uint64_t ecsdb_replica_version(const ecsdb_replica* replica) {
  return replica == nullptr ? 0 : replica->replica->version();
}

int ecsdb_replica_wait_version(const ecsdb_replica* replica, uint64_t version, uint32_t timeout_ms) {
  if (replica == nullptr) return 0;
  try {
    return replica->replica->wait_for_version(version, std::chrono::milliseconds(timeout_ms)) ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int ecsdb_replica_poll(ecsdb_replica* replica, uint64_t* version) {
  if (replica == nullptr) {
    if (version != nullptr) *version = 0;
    return 0;
  }
  const std::uint64_t now = replica->replica->version();
  if (version != nullptr) *version = now;
  // Compared for inequality, not order: a replica resynced to a server that lost versions goes back.
  return replica->last_polled.exchange(now, std::memory_order_acq_rel) != now ? 1 : 0;
}

int ecsdb_replica_status(const ecsdb_replica* replica, char* error, size_t error_size) {
  if (replica == nullptr) return invalid(error, error_size, "null replica");
  return guarded(error, error_size, [&] { return report(replica->replica->status(), error, error_size); });
}

int ecsdb_replica_get_stats(const ecsdb_replica* replica, ecsdb_replica_stats* out) {
  if (replica == nullptr || out == nullptr) return ECSDB_INVALID_ARGUMENT;
  return guarded(nullptr, 0, [&] {
    const ecsdb::ReplicaStats s = replica->replica->stats();
    out->version = s.version;
    out->frames = s.frames;
    out->duplicates = s.duplicates;
    out->bytes_received = s.bytes_received;
    out->bytes_uncompressed = s.bytes_uncompressed;
    out->full_syncs = s.full_syncs;
    out->resumes = s.resumes;
    out->reconnects = s.reconnects;
    out->lag_p50_us = s.lag_p50_us;
    out->lag_p99_us = s.lag_p99_us;
    out->lag_max_us = s.lag_max_us;
    out->connected = s.connected ? 1 : 0;
    return ECSDB_OK;
  });
}

// ---- layout ----

int ecsdb_replica_table_count(const ecsdb_replica* replica) {
  return replica == nullptr ? 0 : static_cast<int>(replica->replica->schema().tables.size());
}

int ecsdb_replica_table(const ecsdb_replica* replica, const char* name) {
  if (replica == nullptr || name == nullptr) return -1;
  const ecsdb::Table* t = replica->replica->schema().find_table(name);
  return t == nullptr ? -1 : static_cast<int>(t->id);
}

const char* ecsdb_replica_table_name(const ecsdb_replica* replica, int table) {
  const ecsdb::Table* t = table_of(replica, table);
  return t == nullptr ? nullptr : t->name.c_str();
}

uint32_t ecsdb_replica_table_stride(const ecsdb_replica* replica, int table) {
  const ecsdb::Table* t = table_of(replica, table);
  return t == nullptr ? 0 : t->stride();
}

int ecsdb_replica_table_cardinality(const ecsdb_replica* replica, int table) {
  const ecsdb::Table* t = table_of(replica, table);
  return t == nullptr ? -1 : static_cast<int>(t->cardinality);
}

int ecsdb_replica_field_count(const ecsdb_replica* replica, int table) {
  const ecsdb::Table* t = table_of(replica, table);
  return t == nullptr ? -1 : static_cast<int>(t->layout.fields.size());
}

int ecsdb_replica_field_index(const ecsdb_replica* replica, int table, const char* name) {
  const ecsdb::Table* t = table_of(replica, table);
  if (t == nullptr || name == nullptr) return -1;
  const ecsdb::Field* f = t->find_field(name);
  return f == nullptr ? -1 : static_cast<int>(f->id);
}

int ecsdb_replica_field(const ecsdb_replica* replica, int table, int field_index, ecsdb_field_info* out) {
  const ecsdb::Table* t = table_of(replica, table);
  if (t == nullptr || out == nullptr || field_index < 0 ||
      static_cast<std::size_t>(field_index) >= t->layout.fields.size()) {
    return ECSDB_INVALID_ARGUMENT;
  }
  const ecsdb::Field& f = t->layout.fields[static_cast<std::size_t>(field_index)];
  out->name = f.name.c_str();
  out->type = f.type.spelling.c_str();
  out->id = f.id;
  out->kind = static_cast<int>(f.type.kind);
  out->scalar = scalar_of(f.type);
  out->offset = f.stored ? f.offset : 0;
  out->size = f.type.size;
  out->length = f.type.kind == ecsdb::TypeKind::kArray || f.type.kind == ecsdb::TypeKind::kString ? f.type.length : 0;
  out->stored = f.stored ? 1 : 0;
  out->is_owner_key = f.is_owner_key ? 1 : 0;
  return ECSDB_OK;
}

// ---- views ----

ecsdb_view* ecsdb_replica_pin(const ecsdb_replica* replica) {
  if (replica == nullptr) return nullptr;
  try {
    replica->refs.fetch_add(1, std::memory_order_relaxed);
    auto* v = new ecsdb_view{replica, replica->replica->pin()};
    return v;
  } catch (...) {
    unref(replica);
    return nullptr;
  }
}

void ecsdb_view_release(ecsdb_view* view) {
  if (view == nullptr) return;
  const ecsdb_replica* owner = view->owner;
  delete view;  // releases the pin while the replica's database is still there
  unref(owner);
}

uint64_t ecsdb_view_version(const ecsdb_view* view) { return view == nullptr ? 0 : view->view.version(); }

uint64_t ecsdb_view_entity_count(const ecsdb_view* view) { return view == nullptr ? 0 : view->view.entity_count(); }

int ecsdb_view_alive(const ecsdb_view* view, uint64_t entity) {
  return view != nullptr && view->view.alive(ecsdb::Entity::from_bits(entity)) ? 1 : 0;
}

uint32_t ecsdb_view_row_count(const ecsdb_view* view, int table) {
  const ecsdb::detail::TableState* ts = table_state(view, table);
  return ts == nullptr ? 0 : ts->row_count;
}

int ecsdb_view_row_at(const ecsdb_view* view, int table, uint32_t index, uint64_t* key, uint64_t* owner,
                      const void** bytes) {
  const ecsdb::detail::TableState* ts = table_state(view, table);
  if (ts == nullptr) return ECSDB_INVALID_ARGUMENT;
  if (index >= ts->row_count) return ECSDB_NOT_FOUND;
  if (key != nullptr) *key = ts->key_at(index, view->view.state().registry);
  if (owner != nullptr) {
    *owner = 0;
    const ecsdb::Table* t = table_of(view->owner, table);
    if (t != nullptr && t->cardinality == ecsdb::Cardinality::kMany) std::memcpy(owner, ts->owners.at(index), sizeof(std::uint64_t));
  }
  if (bytes != nullptr) *bytes = ts->stride == 0 ? nullptr : ts->rows.at(index);
  return ECSDB_OK;
}

const void* ecsdb_view_get(const ecsdb_view* view, int table, uint64_t key) {
  if (table_state(view, table) == nullptr) return nullptr;
  return view->view.state().find_row(static_cast<std::uint16_t>(table), key);
}

int ecsdb_view_has(const ecsdb_view* view, int table, uint64_t key) {
  if (table_state(view, table) == nullptr) return 0;
  return view->view.state().find_row_index(static_cast<std::uint16_t>(table), key) != ecsdb::detail::kNoRow ? 1 : 0;
}

// ---- writes ----

ecsdb_write* ecsdb_write_new(void) {
  try {
    return new ecsdb_write{};
  } catch (...) {
    return nullptr;
  }
}

void ecsdb_write_free(ecsdb_write* write) { delete write; }

int ecsdb_write_put(ecsdb_write* write, const char* table, uint64_t entity, const void* row, size_t size) {
  return add_op(write, table, true, row, true, size,
                [&](ecsdb::ReplicaWrite& w) { w.put(table, ecsdb::Entity::from_bits(entity), bytes_of(row, size)); });
}

int ecsdb_write_update(ecsdb_write* write, const char* table, uint64_t key, uint64_t field_mask, const void* row,
                       size_t size) {
  return add_op(write, table, true, row, true, size,
                [&](ecsdb::ReplicaWrite& w) { w.update(table, key, field_mask, bytes_of(row, size)); });
}

int ecsdb_write_remove(ecsdb_write* write, const char* table, uint64_t key) {
  return add_op(write, table, true, nullptr, false, 0, [&](ecsdb::ReplicaWrite& w) { w.remove(table, key); });
}

int ecsdb_write_destroy(ecsdb_write* write, uint64_t entity) {
  return add_op(write, nullptr, false, nullptr, false, 0,
                [&](ecsdb::ReplicaWrite& w) { w.destroy(ecsdb::Entity::from_bits(entity)); });
}

int ecsdb_write_insert(ecsdb_write* write, const char* table, uint64_t owner, const void* row, size_t size) {
  return add_op(write, table, true, row, true, size,
                [&](ecsdb::ReplicaWrite& w) { w.insert(table, ecsdb::Entity::from_bits(owner), bytes_of(row, size)); });
}

uint64_t ecsdb_replica_submit(ecsdb_replica* replica, const ecsdb_write* write) {
  if (replica == nullptr || write == nullptr) return 0;
  try {
    ecsdb::ReplicaWriteTicket ticket = replica->replica->submit(write->write);
    const std::uint64_t id = ticket.request_id();
    std::lock_guard lock(replica->mu);
    replica->requests.emplace(id, std::move(ticket));
    return id;
  } catch (...) {
    return 0;
  }
}

int ecsdb_replica_write_wait(ecsdb_replica* replica, uint64_t request, uint32_t timeout_ms, uint64_t* version,
                             char* error, size_t error_size) {
  if (version != nullptr) *version = 0;
  if (replica == nullptr) return invalid(error, error_size, "null replica");
  return guarded(error, error_size, [&] {
    ecsdb::ReplicaWriteTicket ticket;
    {
      std::lock_guard lock(replica->mu);
      auto it = replica->requests.find(request);
      if (it == replica->requests.end()) {
        write_message(error, error_size, {"no request ", std::to_string(request), " waiting for its answer"});
        return ECSDB_WRITE_UNKNOWN;
      }
      ticket = it->second;  // waited on outside the lock: other requests stay usable meanwhile
    }
    if (!ticket.wait_for(std::chrono::milliseconds(timeout_ms))) {
      write_message(error, error_size, {"request ", std::to_string(request), ": no answer yet"});
      return ECSDB_WRITE_PENDING;
    }
    const ecsdb::WriteOutcome outcome = ticket.outcome();
    {
      std::lock_guard lock(replica->mu);
      replica->requests.erase(request);
    }
    if (version != nullptr) *version = outcome.version;
    return report(outcome.status, error, error_size);
  });
}

void ecsdb_replica_write_forget(ecsdb_replica* replica, uint64_t request) {
  if (replica == nullptr) return;
  std::lock_guard lock(replica->mu);
  replica->requests.erase(request);
}

size_t ecsdb_replica_take_overwritten(ecsdb_replica* replica, ecsdb_overwritten* out, size_t capacity) {
  if (replica == nullptr) return 0;
  try {
    std::lock_guard lock(replica->mu);
    for (const ecsdb::WriteOverwritten& o : replica->replica->take_overwritten()) {
      const ecsdb::Table* t = replica->replica->schema().find_table(o.table);
      replica->overwritten.push_back({o.request_id, o.version, o.key, o.field_mask, t == nullptr ? -1 : static_cast<int>(t->id)});
    }
    if (out == nullptr || capacity == 0) return replica->overwritten.size();
    const std::size_t n = std::min(capacity, replica->overwritten.size());
    std::copy_n(replica->overwritten.begin(), n, out);
    replica->overwritten.erase(replica->overwritten.begin(), replica->overwritten.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
  } catch (...) {
    return 0;
  }
}

}  // extern "C"
