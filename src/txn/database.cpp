#include "ecsdb/database.hpp"

#include <algorithm>
#include <cstring>

#include "storage/field_codec.hpp"
#include "storage/table_ops.hpp"
#include "txn/ref_index_upkeep.hpp"
#include "txn/writer_core.hpp"

namespace ecsdb {

namespace {
// A Transaction that was committed or rolled back has no core: its operations report that.
Status inactive() {
  return invalid_argument("transaction is not active (already committed or rolled back, or another one is open)");
}

// Runs a writer operation. No exception crosses the public API: when memory runs out inside the writer
// (every operation allocates before it changes anything, see WriterCore), the whole transaction is
// rolled back, leaving the database exactly as it was at begin(), and reported as kResourceExhausted.
template <typename F>
auto guarded(detail::WriterCore* core, F&& op) -> decltype(op()) {
  if (core == nullptr) return inactive();
  try {
    return op();
  } catch (const std::bad_alloc&) {
    core->rollback();
    return Status(StatusCode::kResourceExhausted, "out of memory in the writer: the transaction was rolled back");
  }
}
}  // namespace

namespace detail {

std::uint32_t next_type_index() noexcept {
  static std::atomic<std::uint32_t> next{0};
  const std::uint32_t i = next.fetch_add(1, std::memory_order_relaxed);
  // More bound C++ types than slots is a programming error; fail loudly rather than alias bindings.
  if (i >= kMaxBoundTypes) std::abort();
  return i;
}


Status txn_add(WriterCore* c, std::uint16_t table, Entity e, const void* bytes) {
  return guarded(c, [&] { return c->add(table, e, bytes); });
}
Status txn_update(WriterCore* c, std::uint16_t table, std::uint64_t key, const void* bytes) {
  return guarded(c, [&] { return c->update(table, key, bytes); });
}
Status txn_put(WriterCore* c, std::uint16_t table, Entity e, const void* bytes) {
  return guarded(c, [&] { return c->put(table, e, bytes); });
}
Status implicit_write(WriterCore* c, ImplicitOp op, std::uint16_t table, std::uint64_t key, std::uint32_t offset,
                      std::uint32_t size, const void* bytes) {
  if (op == ImplicitOp::kSet) return guarded(c, [&] { return c->implicit_set(table, key, offset, size, bytes); });
  if (op == ImplicitOp::kAdd) return guarded(c, [&] { return c->implicit_add(table, key, offset, size, bytes); });
  return guarded(c, [&] { return c->implicit_remove(table, key); });  // ImplicitOp::kRemove
}
Status txn_add_many(WriterCore* c, std::uint16_t table, const Entity* entities, std::size_t n, const void* rows) {
  return guarded(c, [&] { return c->add_many(table, entities, n, static_cast<const std::byte*>(rows)); });
}
Status txn_remove(WriterCore* c, std::uint16_t table, std::uint64_t key) {
  return guarded(c, [&] { return c->remove(table, key); });
}
Status txn_set_bytes(WriterCore* c, std::uint16_t table, std::uint64_t key, std::uint32_t offset,
                     std::uint32_t size, const void* bytes) {
  return guarded(c, [&] { return c->set_bytes(table, key, offset, size, bytes); });
}
Result<RowId> txn_insert_child(WriterCore* c, std::uint16_t table, Entity owner, const void* bytes) {
  return guarded(c, [&] { return c->insert_child(table, owner, bytes); });
}
const std::byte* txn_get(const WriterCore* c, std::uint16_t table, std::uint64_t key) {
  return c == nullptr ? nullptr : c->get(table, key);
}
Status txn_for_each_mut(WriterCore* c, std::uint16_t table, void* ctx, RowsVisitor visit) {
  return guarded(c, [&] { return c->for_each_mut(table, ctx, visit); });
}
Status implicit_for_each_mut(WriterCore* c, std::uint16_t table, void* ctx, RowsVisitor visit) {
  return guarded(c, [&] { return c->implicit_for_each_mut(table, ctx, visit); });
}

}  // namespace detail

// ---- Database ----

Database::Database(std::shared_ptr<const Schema> schema, DatabaseOptions options)
    : schema_(std::move(schema)),
      options_(std::move(options)),
      core_(std::make_unique<detail::WriterCore>(schema_, options_)),
      writer_(core_.get(), this),
      bindings_(new std::atomic<std::uint32_t>[detail::kMaxBoundTypes]) {
  for (std::uint32_t i = 0; i < detail::kMaxBoundTypes; ++i) bindings_[i].store(0, std::memory_order_relaxed);
  core_->set_database(this);
  // Memory and view-age policy, set before any reader can pin.
  version::PublishedVersions& versions = core_->versions();
  versions.pool().set_max_idle_bytes(options_.pool_max_idle_bytes);
  if (options_.max_view_age_ms != 0) {
    versions.track_view_ages(options_.max_view_age_ms, options_.view_clock_ms != nullptr
                                                           ? options_.view_clock_ms
                                                           : &version::coarse_monotonic_ms);
  }
}

Database::~Database() {
  core_->stop_thread();
  persistence_.reset();  // flushes the WAL, stops background snapshots
}

CommitTicket Database::submit(TransactionBody body) { return core_->submit(std::move(body)); }

CommitTicket Database::submit(TransactionBody body, OnResolved on_resolved) {
  return core_->submit(std::move(body), std::move(on_resolved));
}

CommitTicket Database::submit(TransactionBody body, ReadSet reads) {
  return core_->submit([body = std::move(body), reads = std::move(reads)](Transaction& t) -> Status {
    ECSDB_RETURN_IF_ERROR(t.check_unchanged(reads));
    return body(t);
  });
}

void ReadSet::record(std::uint16_t table, std::uint64_t key, const std::byte* row_or_null, std::uint32_t size) {
  Entry e{table, key, row_or_null != nullptr, static_cast<std::uint32_t>(bytes_.size()), 0};
  if (row_or_null != nullptr) {
    e.size = size;
    bytes_.insert(bytes_.end(), row_or_null, row_or_null + size);
  }
  entries_.push_back(e);
}

Status Transaction::check_unchanged(const ReadSet& reads) const {
  if (core_ == nullptr) return inactive();
  for (const ReadSet::Entry& e : reads.entries_) {
    if (e.table == detail::kNoTable) return invalid_argument("read set holds a row of an unbound type");
    const std::byte* now = core_->get(e.table, e.key);
    const bool same = (now != nullptr) == e.present &&
                      (now == nullptr || std::memcmp(now, reads.bytes_.data() + e.offset, e.size) == 0);
    if (!same) {
      return Status(StatusCode::kConflict, "table '" + db_->schema().tables[e.table].name + "', " +
                                               core_->describe_key(e.table, e.key) +
                                               " changed since it was read (optimistic transaction)");
    }
  }
  return Status::ok();
}
Result<Subscription> Database::subscribe(const SubscriptionOptions& options) {
  return core_->hub().subscribe(*schema_, options);
}
Status Database::start_writer_thread() { return core_->start_thread(); }
void Database::stop_writer_thread() { core_->stop_thread(); }

bool CommitTicket::ready() const noexcept {
  return state_ != nullptr && state_->done.load(std::memory_order_acquire) != 0;
}

Status CommitTicket::wait() const {
  if (state_ == nullptr) return invalid_argument("CommitTicket::wait on an empty ticket");
  for (int i = 0; i < 4096 && state_->done.load(std::memory_order_acquire) == 0; ++i) __builtin_ia32_pause();
  if (state_->done.load(std::memory_order_acquire) == 0) {
    state_->sleepers.fetch_add(1, std::memory_order_seq_cst);  // before the re-check: see QueuedTransaction
    while (state_->done.load(std::memory_order_seq_cst) == 0) state_->done.wait(0, std::memory_order_seq_cst);
    state_->sleepers.fetch_sub(1, std::memory_order_relaxed);
  }
  return state_->status;
}

std::uint64_t CommitTicket::version() const noexcept {
  return ready() && state_->status.is_ok() ? state_->version : 0;
}

// Database::open and the durability methods live in src/persist/database_open.cpp: persistence sits
// above the transaction engine.

PinnedView Database::pin() const noexcept {
  const version::Pin p = core_->versions().pin();
  return PinnedView(this, p.state, p.slot, p.pinned_at_ms);
}

void Database::unpin(std::uint32_t slot) const noexcept { core_->versions().unpin(slot); }

std::uint64_t Database::published_version() const noexcept { return core_->versions().published_number(); }

std::uint64_t Database::durable_version() const noexcept {
  const std::uint64_t published = published_version();
  const detail::CommitSink* sink = core_->sink();
  if (sink == nullptr) return published;
  // Every logged commit durable: the whole published version is (commits are logged before they are
  // published). Otherwise the version of the newest durable record may still have later commits that
  // are not: only the version before it is known complete.
  if (sink->durable_lsn() >= core_->logged_lsn()) return published;
  const std::uint64_t v = sink->durable_record_version();
  return std::min(published, v == 0 ? 0 : v - 1);
}

Result<PinnedView> Database::pin_durable() const {
  PinnedView view = pin();
  detail::CommitSink* sink = core_->sink();
  if (sink == nullptr || sink->durable_lsn() >= view.state().lsn) return view;
  // The pinned version holds commits up to its LSN: wait for those (one group commit; in async mode
  // this forces the flush).
  ECSDB_RETURN_IF_ERROR(sink->wait_durable(view.state().lsn));
  return view;
}

DatabaseMetrics Database::metrics() const {
  DatabaseMetrics m;
  const version::VersionMetrics v = core_->versions().metrics();
  m.published_version = v.published;
  m.durable_version = durable_version();
  m.pinned_views = v.pinned_views;
  m.overflow_views = v.overflow_views;
  m.overflow_pins_total = v.overflow_pins_total;
  m.oldest_pinned_version = v.oldest_pinned;
  m.views_over_max_age = v.views_over_max_age;
  m.oldest_view_age_ms = v.oldest_view_age_ms;
  m.retired_bytes = v.retired_bytes;
  m.reclaimed_bytes_total = v.reclaimed_bytes_total;
  // Writer-side counters: exact when read from the owner thread, approximate from others.
  m.commits = core_->commits();
  m.rollbacks = core_->rollbacks();
  m.pages_copied_total = core_->pages_copied();
  m.pages_replayed_total = core_->pages_replayed();
  m.bytes_copied_total = core_->bytes_copied();
  const storage::PoolStats pool = core_->pool().stats();
  m.bytes_in_use = pool.bytes_in_use;
  m.bytes_pooled = pool.bytes_pooled;
  m.bytes_parked = pool.bytes_parked;
  m.bytes_released_total = pool.bytes_released_total;
  m.writer_scratch_bytes = core_->scratch_bytes();
  // Recorded at publish, so metrics() takes no pin: it works with every reader slot held.
  m.entities_alive = v.published_entities;
  core_->fill_queue_metrics(m);
  if (const detail::CommitSink* sink = core_->sink(); sink != nullptr) sink->fill_metrics(m);
  return m;
}

Result<std::uint16_t> Database::table_id(std::string_view name) const {
  const Table* t = schema_->find_table(name);
  if (t == nullptr) return not_found("no table named '" + std::string(name) + "' in schema '" + schema_->database + "'");
  return t->id;
}

Result<std::vector<Row>> Database::metadata(std::string_view table) const {
  const Schema& sc = *schema_;
  std::vector<Row> out;
  auto str = [](std::string v) { return Value::from_string(std::move(v)); };
  auto uint = [](std::uint64_t v) { return Value::from_uint(v); };
  if (table == "database") {
    out.push_back({{"name", str(sc.database)}, {"version", str(sc.version)}, {"layout_hash", uint(sc.layout_hash())}});
  } else if (table == "tables") {
    for (const Table& t : sc.tables) {
      out.push_back({{"name", str(t.name)},
                     {"id", uint(t.id)},
                     {"cardinality", str(std::string(to_string(t.cardinality)))},
                     {"parent_table", str(t.parent_table)},
                     {"primary_key", str(t.primary_key)},
                     {"stride", uint(t.layout.stride)},
                     {"align", uint(t.layout.align)},
                     {"field_count", uint(t.layout.fields.size())}});
    }
  } else if (table == "fields") {
    for (const Table& t : sc.tables) {
      for (const Field& f : t.layout.fields) {
        std::string def;
        if (f.default_value) {
          switch (f.default_value->kind) {
            case DefaultValue::Kind::kInteger: def = std::to_string(f.default_value->integer); break;
            case DefaultValue::Kind::kFloat: def = std::to_string(f.default_value->floating); break;
            case DefaultValue::Kind::kBool: def = f.default_value->boolean ? "true" : "false"; break;
            case DefaultValue::Kind::kString: def = f.default_value->string; break;
          }
        }
        out.push_back({{"table", str(t.name)},
                       {"name", str(f.name)},
                       {"id", uint(f.id)},
                       {"type", str(f.type.spelling)},
                       {"offset", uint(f.offset)},
                       {"size", uint(f.type.size)},
                       {"align", uint(f.type.align)},
                       {"stored", Value::from_bool(f.stored)},
                       {"owner_key", Value::from_bool(f.is_owner_key)},
                       {"unique", Value::from_bool(f.unique)},
                       {"auto_increment", Value::from_bool(f.auto_increment)},
                       {"deprecated", Value::from_bool(f.deprecated)},
                       {"foreign_key", str(f.foreign_key ? f.foreign_key->table + "." + f.foreign_key->field : "")},
                       {"on_delete", str(f.foreign_key ? std::string(to_string(f.on_delete)) : "")},
                       {"default", str(def)}});
      }
    }
  } else if (table == "enums") {
    for (const auto& e : sc.enums) {
      for (const auto& [variant, value] : e->variants) {
        out.push_back({{"enum", str(e->name)}, {"variant", str(variant)}, {"value", Value::from_int(value)},
                       {"underlying", str(std::string(to_string(e->underlying)))}});
      }
    }
  } else {
    return not_found("no metadata table '" + std::string(table) + "' (database, tables, fields, enums)");
  }
  return out;
}

namespace {

std::string describe(const CppType& t) {
  if (t.kind == TypeKind::kScalar || t.kind == TypeKind::kEnum) return std::string(to_string(t.scalar));
  return std::to_string(t.size) + "-byte value";
}

// Whether a C++ member type can alias a schema type byte for byte.
bool compatible(const CppType& c, const Type& s) {
  if (c.size != s.size || c.align > s.align) return false;
  switch (s.kind) {
    case TypeKind::kScalar:
      return c.kind == TypeKind::kScalar && c.scalar == s.scalar;
    case TypeKind::kEnum:
      return (c.kind == TypeKind::kEnum || c.kind == TypeKind::kScalar) && c.scalar == s.scalar;
    case TypeKind::kEntityRef:
      return c.kind == TypeKind::kEntityRef || (c.kind == TypeKind::kScalar && c.scalar == ScalarKind::kU64);
    case TypeKind::kString:
      return c.kind == TypeKind::kString || (c.kind == TypeKind::kArray && c.element->size == 1);
    case TypeKind::kArray:
      return c.kind == TypeKind::kArray && c.length == s.length && compatible(*c.element, *s.element);
    case TypeKind::kStruct:
      return c.kind == TypeKind::kStruct && (c.struct_name.empty() || c.struct_name == s.struct_def->name);
  }
  return false;
}

}  // namespace

Status Database::bind_type(std::uint32_t type_index, std::string_view table_name,
                           std::span<const FieldBinding> fields, std::size_t size, std::size_t align) const {
  // Typed reads bind on first use from noexcept paths (PinnedView::get): out of memory here must be a
  // status (the type stays unbound and is retried next time), never an exception.
  try {
    return check_and_bind(type_index, table_name, fields, size, align);
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kResourceExhausted, "");  // no message: building one would allocate
  }
}

Status Database::check_and_bind(std::uint32_t type_index, std::string_view table_name,
                                std::span<const FieldBinding> fields, std::size_t size, std::size_t align) const {
  const Table* table = schema_->find_table(table_name);
  const std::string where = "binding of table '" + std::string(table_name) + "'";
  if (table == nullptr) return Status(StatusCode::kBindingMismatch, where + ": no such table in the schema");
  const Layout& layout = table->layout;
  if (size != layout.stride) {
    return Status(StatusCode::kBindingMismatch, where + ": sizeof is " + std::to_string(size) +
                                                    " bytes but the row stride is " + std::to_string(layout.stride) +
                                                    " (declare the members in row order: see `ecsdb validate`)");
  }
  if (align > detail::kPageAlign || (layout.stride != 0 && layout.stride % align != 0)) {
    return Status(StatusCode::kBindingMismatch, where + ": alignment " + std::to_string(align) +
                                                    " does not divide the row stride " + std::to_string(layout.stride));
  }
  std::vector<bool> covered(layout.fields.size(), false);
  for (const FieldBinding& b : fields) {
    const Field* f = layout.find_field(b.name);
    if (f == nullptr || !f->stored) {
      return Status(StatusCode::kBindingMismatch,
                    where + ": member '" + std::string(b.name) + "' is not a stored field of the table" +
                        (f != nullptr ? " (it is the owner key, kept beside the row)" : ""));
    }
    if (b.offset != f->offset) {
      return Status(StatusCode::kBindingMismatch,
                    where + ", field '" + f->name + "': member is at offset " + std::to_string(b.offset) +
                        " but the schema puts it at " + std::to_string(f->offset) +
                        " (fields are laid out by alignment, largest first)");
    }
    if (!compatible(b.type, f->type)) {
      return Status(StatusCode::kBindingMismatch, where + ", field '" + f->name + "': member type (" +
                                                      describe(b.type) + ", " + std::to_string(b.type.size) +
                                                      " bytes) does not match schema type " + f->type.spelling +
                                                      " (" + std::to_string(f->type.size) + " bytes)");
    }
    covered[f->id] = true;
  }
  for (const Field& f : layout.fields) {
    if (f.stored && !covered[f.id]) {
      return Status(StatusCode::kBindingMismatch, where + ": field '" + f.name + "' (offset " +
                                                      std::to_string(f.offset) + ") is not listed in the binding");
    }
  }
  const std::uint32_t many = table->cardinality == Cardinality::kMany ? kManyBit : 0;
  bindings_[type_index].store((static_cast<std::uint32_t>(table->id) + 1) | many, std::memory_order_release);
  return Status::ok();
}

// ---- WriterHandle ----

Transaction WriterHandle::begin() {
  // A second begin while one is open is a programming error reported by the first operation.
  const Status s = core_->begin();
  return Transaction(s.is_ok() ? core_ : nullptr, db_);
}

void WriterHandle::publish() {
  if (core_->thread_running()) return;  // the writer thread owns the writer
  try {
    core_->drain();  // queued transactions join this tick
    core_->publish();
  } catch (const std::bad_alloc&) {
    // Out of memory: what committed stays committed (publish changes nothing when it fails) and
    // becomes visible at the next publish that succeeds.
  }
}

std::size_t WriterHandle::drain() {
  if (core_->thread_running()) return 0;  // only one consumer may drain the queue
  std::size_t total = 0;
  try {
    while (std::size_t n = core_->drain()) total += n;
  } catch (const std::bad_alloc&) {
    // The batch could not start (or publish): what is still queued runs at the next drain.
  }
  return total;
}

Result<Entity> WriterHandle::create() {
  Transaction t = begin();
  ECSDB_ASSIGN_OR_RETURN(const Entity e, t.create());
  ECSDB_RETURN_IF_ERROR(t.commit());
  return e;
}

Status WriterHandle::create_many(std::size_t n, std::vector<Entity>& out) {
  return run([&](Transaction& t) { return t.create_many(n, out); });
}

Status WriterHandle::destroy(Entity e) {
  return guarded(core_, [&] { return core_->implicit_destroy(e); });
}

bool WriterHandle::alive(Entity e) const { return core_->alive(e); }

// ---- Transaction ----


Status Transaction::commit() {
  detail::WriterCore* core = std::exchange(core_, nullptr);
  return guarded(core, [&] { return core->commit(); });
}

Status Transaction::commit(Durability wait_for) {
  if (core_ == nullptr) return inactive();
  detail::WriterCore* core = core_;
  ECSDB_RETURN_IF_ERROR(commit());
  detail::CommitSink* sink = core->sink();
  if (wait_for != Durability::kSync || sink == nullptr) return Status::ok();
  // This commit's record is the last one logged (or it logged nothing, and waiting for the previous
  // LSN is then what makes everything it depends on durable).
  return sink->wait_durable(core->logged_lsn());
}

void Transaction::rollback() noexcept {
  if (core_ == nullptr) return;
  std::exchange(core_, nullptr)->rollback();
}

Result<Entity> Transaction::create() {
  return guarded(core_, [&] { return core_->create(); });
}
Status Transaction::create_many(std::size_t n, std::vector<Entity>& out) {
  return guarded(core_, [&] { return core_->create_many(n, out); });
}
Status Transaction::destroy(Entity e) {
  return guarded(core_, [&] { return core_->destroy(e); });
}
bool Transaction::alive(Entity e) const { return core_ != nullptr && core_->alive(e); }

Status Transaction::remove_child(std::string_view table, RowId row) {
  return guarded(core_, [&]() -> Status {
    ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, db_->table_id(table));
    return core_->remove(t, row.bits());
  });
}

Status Transaction::remove_row(std::string_view table, std::uint64_t key) {
  return guarded(core_, [&]() -> Status {
    ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, db_->table_id(table));
    return core_->remove(t, key);
  });
}

namespace {
// The row bytes of `values` over the table's defaults; fields not stored (the owner key) are skipped.
Status encode_row(const detail::TableInfo& info, const Row& values, std::vector<std::byte>& row) {
  row = info.default_row;
  for (const auto& [name, value] : values) {
    const Field* f = info.table->find_field(name);
    if (f == nullptr) return invalid_argument("table '" + info.table->name + "' has no field '" + name + "'");
    if (!f->stored) continue;
    ECSDB_RETURN_IF_ERROR(storage::encode_value(f->type, value, row.data() + f->offset,
                                                "table '" + info.table->name + "', field '" + name + "'"));
  }
  return Status::ok();
}
}  // namespace

Status Transaction::add_row(std::string_view table, Entity e, const Row& values) {
  return guarded(core_, [&]() -> Status {
    ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, db_->table_id(table));
    const detail::TableInfo& info = core_->info(t);
    std::vector<std::byte> row;
    ECSDB_RETURN_IF_ERROR(encode_row(info, values, row));
    if (info.many) return core_->insert_child(t, e, row.data()).status();
    return core_->add(t, e, row.data());
  });
}

Result<RowId> Transaction::insert_row(std::string_view table, Entity owner, const Row& values) {
  return guarded(core_, [&]() -> Result<RowId> {
    ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, db_->table_id(table));
    const detail::TableInfo& info = core_->info(t);
    if (!info.many) {
      return invalid_argument("table '" + info.table->name + "' has cardinality one: add or put its row instead");
    }
    std::vector<std::byte> row;
    ECSDB_RETURN_IF_ERROR(encode_row(info, values, row));
    return core_->insert_child(t, owner, row.data());
  });
}

Status Transaction::put_row(std::string_view table, Entity e, const Row& values) {
  return guarded(core_, [&]() -> Status {
    ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, db_->table_id(table));
    const detail::TableInfo& info = core_->info(t);
    if (info.many) {
      return invalid_argument("table '" + info.table->name + "' has cardinality many: insert rows instead");
    }
    std::vector<std::byte> row;
    ECSDB_RETURN_IF_ERROR(encode_row(info, values, row));
    return core_->put(t, e, row.data());
  });
}

Result<Row> Transaction::read_row(std::string_view table, std::uint64_t key) const {
  if (core_ == nullptr) return invalid_argument("transaction is no longer active");
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, db_->table_id(table));
  const Table& tab = *core_->info(t).table;
  const std::byte* bytes = core_->get(t, key);
  const bool present = bytes != nullptr || (tab.stride() == 0 && core_->has_row(t, key));
  if (!present) {
    return not_found("no row for key " + std::to_string(static_cast<std::uint32_t>(key)) + "v" +
                     std::to_string(key >> 32) + " in table '" + tab.name + "'");
  }
  Row row;
  for (const Field& f : tab.layout.fields) {
    if (f.stored) row.emplace_back(f.name, storage::decode_value(f.type, bytes + f.offset));
  }
  return row;
}

Status Transaction::set_field(std::string_view table, std::uint64_t key, std::string_view field, const Value& value) {
  return guarded(core_, [&]() -> Status {
    ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, db_->table_id(table));
    const Table& tab = *core_->info(t).table;
    const Field* f = tab.find_field(field);
    if (f == nullptr) return invalid_argument("table '" + tab.name + "' has no field '" + std::string(field) + "'");
    if (!f->stored) return invalid_argument("table '" + tab.name + "', field '" + f->name + "' is the row's key and cannot be set");
    std::vector<std::byte> bytes(f->type.size);
    ECSDB_RETURN_IF_ERROR(storage::encode_value(f->type, value, bytes.data(),
                                                "table '" + tab.name + "', field '" + f->name + "'"));
    return core_->set_bytes(t, key, f->offset, f->type.size, bytes.data());
  });
}

// ---- PinnedView dynamic access ----

Status Database::view_status(std::uint64_t version, std::uint64_t pinned_at_ms) const {
  if (!options_.invalidate_expired_views || options_.max_view_age_ms == 0) return Status::ok();
  const std::uint64_t now = core_->versions().clock()();
  const std::uint64_t age = now > pinned_at_ms ? now - pinned_at_ms : 0;
  if (age <= options_.max_view_age_ms) return Status::ok();
  return Status(StatusCode::kAborted,
                "pinned view of version " + std::to_string(version) + " has expired: held for " + std::to_string(age) +
                    " ms, over DatabaseOptions::max_view_age_ms = " + std::to_string(options_.max_view_age_ms) +
                    " (release it and pin a new one; its memory stays valid until it is released)");
}

Status PinnedView::status() const {
  if (db_ == nullptr) return invalid_argument("the pinned view was released (moved from)");
  return db_->view_status(state_->number, pinned_at_ms_);
}

Result<Row> PinnedView::read_row(std::string_view table, Entity e) const {
  ECSDB_RETURN_IF_ERROR(status());
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, db_->table_id(table));
  const Table& tab = db_->schema().tables[t];
  Row row;
  if (tab.is_entity_table) {
    if (!alive(e)) return Status(StatusCode::kStaleEntity, "entity " + std::to_string(e.index()) + "v" + std::to_string(e.generation()) + " is not alive");
    for (const Field& f : tab.layout.fields) {
      row.emplace_back(f.name, f.type.kind == TypeKind::kEntityRef || f.name == tab.primary_key
                                   ? Value::from_entity(e) : Value::from_uint(e.generation()));
    }
    return row;
  }
  const std::uint32_t r = state_->find_row_index(t, e.bits());
  if (r == detail::kNoRow) {
    return not_found("no row for key " + std::to_string(e.index()) + "v" + std::to_string(e.generation()) +
                     " in table '" + tab.name + "'");
  }
  const detail::TableState& ts = state_->tables[t];
  const std::byte* bytes = ts.stride == 0 ? nullptr : ts.rows.at(r);
  for (const Field& f : tab.layout.fields) {
    if (f.is_owner_key) row.emplace_back(f.name, Value::from_entity(Entity::from_bits(storage::row_owner(ts, r, state_->registry))));
    else if (f.stored) row.emplace_back(f.name, storage::decode_value(f.type, bytes + f.offset));
  }
  return row;
}

Result<Value> PinnedView::read_field(std::string_view table, Entity e, std::string_view field) const {
  ECSDB_ASSIGN_OR_RETURN(Row row, read_row(table, e));
  for (auto& [name, value] : row) {
    if (name == field) return std::move(value);
  }
  return not_found("table '" + std::string(table) + "' has no field '" + std::string(field) + "'");
}

Result<std::vector<std::uint64_t>> PinnedView::keys(std::string_view table) const {
  ECSDB_RETURN_IF_ERROR(status());
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, db_->table_id(table));
  std::vector<std::uint64_t> out;
  if (db_->schema().tables[t].is_entity_table) {
    const detail::RegistryState& reg = state_->registry;
    for (std::uint32_t i = 0; i < reg.used; ++i) {
      if (reg.slot(i)->alive()) out.push_back(Entity(i, reg.slot(i)->generation).bits());
    }
    return out;
  }
  const detail::TableState& ts = state_->tables[t];
  out.reserve(ts.row_count);
  for (std::uint32_t r = 0; r < ts.row_count; ++r) out.push_back(storage::row_key(ts, r, state_->registry));
  return out;
}

namespace {
// Keys of the rows whose reference column `c` holds exactly `target` in version `s`, in row order.
std::vector<std::uint64_t> referrers_in(const detail::VersionState& s, const detail::RefColumn& col,
                                        std::uint16_t c, Entity target) {
  std::vector<std::pair<std::uint32_t, std::uint64_t>> found;  // (row, key)
  detail::referrers_of(s, col, c, target, found);
  std::sort(found.begin(), found.end());
  std::vector<std::uint64_t> keys;
  keys.reserve(found.size());
  for (const auto& [row, key] : found) keys.push_back(key);
  return keys;
}
}  // namespace

Result<std::vector<RowId>> PinnedView::children(std::string_view table, Entity owner) const {
  ECSDB_RETURN_IF_ERROR(status());
  ECSDB_ASSIGN_OR_RETURN(const std::uint16_t t, db_->table_id(table));
  if (db_->schema().tables[t].cardinality != Cardinality::kMany) {
    return invalid_argument("table '" + std::string(table) + "' has cardinality one; use get() or read_row()");
  }
  std::vector<RowId> out;
  const auto& columns = db_->core_->ref_columns();
  for (std::size_t column = 0; column < columns.size(); ++column) {
    const auto c = static_cast<std::uint16_t>(column);
    if (columns[c].table != t || !columns[c].owner) continue;
    for (std::uint64_t key : referrers_in(*state_, columns[c], c, owner)) out.push_back(RowId::from_bits(key));
  }
  return out;
}

std::vector<Reference> PinnedView::referencing(Entity target) const {
  std::vector<Reference> out;
  const auto& columns = db_->core_->ref_columns();
  for (std::size_t column = 0; column < columns.size(); ++column) {
    const auto c = static_cast<std::uint16_t>(column);
    const detail::RefColumn& col = columns[c];
    const Table& table = db_->schema().tables[col.table];
    const std::string_view field = col.field != nullptr ? std::string_view(col.field->name) : std::string_view();
    for (std::uint64_t key : referrers_in(*state_, col, c, target)) out.push_back({table.name, field, key});
  }
  return out;
}

}  // namespace ecsdb
