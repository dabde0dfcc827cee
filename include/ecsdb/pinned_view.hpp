// ecsdb/pinned_view.hpp — PinnedView: a consistent, immutable snapshot of every table, read without locks.
//
//   ecsdb::PinnedView view = db->pin();                      // any thread
//   const Health* h = view.get<Health>(e);                   // zero-copy: points into the pinned version
//   for (auto [e, t, h] : view.query<Transform, Health>()) { ... }
//
// Threads: any thread pins (Database::pin) and releases a view. Pinning costs two atomic operations and a
// store through a reader slot, or a short critical section past DatabaseOptions::reader_slots; releasing
// costs one store. Readers never wait for the writer, and the writer never waits for them.
// Ownership: a view holds one reader pin on one version; it is move-only, and destroying it (or assigning
// to it) releases the pin. The Database must outlive its views.
// Lifetime of zero-copy references: every pointer, reference and name a view returns (get, get_many, each,
// query, Reference::table and ::field) stays valid and unchanged until the view is destroyed, and not a
// moment longer. Hold a view for a frame, not forever: it keeps alive the pages of its version that later
// versions replaced, reported in DatabaseMetrics::retired_bytes (and see DatabaseOptions::max_view_age_ms).
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "ecsdb/bind.hpp"
#include "ecsdb/detail/table_binding.hpp"
#include "ecsdb/detail/version_state.hpp"
#include "ecsdb/entity.hpp"
#include "ecsdb/status.hpp"
#include "ecsdb/value.hpp"

namespace ecsdb {

class Database;

// A row that references an entity (PinnedView::referencing).
struct Reference {
  std::string_view table;  // names live as long as the database's schema
  std::string_view field;  // the entity-ref field, or the owner key of a `many` table
  std::uint64_t key;       // the referencing row: Entity bits (cardinality one) or RowId bits (many)
};

// Components an `each` must skip: view.each<A, B>(ecsdb::exclude<C>, f) visits entities with A and B but
// not C. Tested with C's row lookup, which C's identity run answers without a load (ADR 0021).
template <typename... T>
struct Exclude {};
template <typename... T>
inline constexpr Exclude<T...> exclude{};

// A consistent snapshot of every table, pinned at one version (see the top of this file).
class PinnedView {
 public:
  PinnedView(PinnedView&& other) noexcept
      : db_(std::exchange(other.db_, nullptr)), state_(other.state_), slot_(other.slot_),
        pinned_at_ms_(other.pinned_at_ms_) {}
  PinnedView& operator=(PinnedView&& other) noexcept;
  PinnedView(const PinnedView&) = delete;
  PinnedView& operator=(const PinnedView&) = delete;
  ~PinnedView() { release(); }

  std::uint64_t version() const noexcept { return state_->number; }
  // Ok while the view may be used. Fails with kAborted once the view is older than max_view_age_ms when
  // DatabaseOptions::invalidate_expired_views is set (naming the version and the age), and with
  // kInvalidArgument on a released (moved-from) view. The dynamic accessors below check it first.
  Status status() const;
  bool alive(Entity e) const noexcept { return state_->registry.is_alive(e); }
  std::uint64_t entity_count() const noexcept { return state_->registry.alive; }

  // The component of `e`, or nullptr when e is stale or lacks it. T must be bound (ECSDB_COMPONENT).
  template <BoundComponent T>
  const T* get(Entity e) const noexcept;
  template <BoundComponent T>
  bool has(Entity e) const noexcept;
  template <BoundComponent T>
  std::size_t count() const noexcept;
  // Batch form of get: out[i] = get<T>(entities[i]). Lookups are issued in waves with prefetching so that
  // many cache misses overlap: use it when a system reads components of many unrelated entities (targets,
  // neighbours). REQUIRES out.size() >= entities.size().
  template <BoundComponent T>
  void get_many(std::span<const Entity> entities, std::span<const T*> out) const noexcept;
  // A reader of T for a loop of random gets (a system that reads the targets, owners or neighbours of many
  // entities): `auto health = view.reader<Health>(); ... health.get(e)`. It resolves T's table once and
  // holds its own copy of the table's and the registry's array descriptors (directory pointer, page count,
  // shift: a pinned version's never change), so a loop of get keeps them in registers where view.get<T>
  // reloads them for every call. Same answers as view.get<T> / has<T>. It borrows the view's pin: use it
  // only while the view holds the version it was made from (moving the view keeps it valid; assigning
  // another pin to the view, or releasing it, ends it).
  template <BoundComponent T>
  class Reader;
  template <BoundComponent T>
  Reader<T> reader() const noexcept;

  // Calls f(Entity, const A&, const B&, ...) for every entity that has all of A, B, ...; driven by the
  // smallest of the tables.
  template <BoundComponent... T, typename F>
  void each(F&& f) const;
  // The same, skipping entities that have any of X... (see Exclude).
  template <BoundComponent... T, BoundComponent... X, typename F>
  void each(Exclude<X...>, F&& f) const;

  // Range form: for (auto [e, t, h] : view.query<Transform, Health>()) { ... }. A std::ranges::forward_range
  // of std::tuple<Entity, const T&...>: std::ranges algorithms and views work on it, and copies of an
  // iterator walk independently.
  template <BoundComponent... T>
  class Query;
  template <BoundComponent... T>
  Query<T...> query() const;

  // Dynamic access by name (tools, CLI, HTTP). Errors name the table, field and entity.
  Result<Row> read_row(std::string_view table, Entity e) const;
  Result<Value> read_field(std::string_view table, Entity e, std::string_view field) const;
  // Keys (Entity bits for `one` tables, RowId bits for `many`) of every row of `table`, in row order.
  Result<std::vector<std::uint64_t>> keys(std::string_view table) const;
  // Rows of a `many` table owned by `owner` (from the reverse-reference index: no table scan).
  Result<std::vector<RowId>> children(std::string_view table, Entity owner) const;
  // Every row that references `target`: entity-ref fields holding it and rows of `many` tables it owns.
  // Served by the reverse-reference index kept in every version, so the cost follows the number of
  // references, not the size of the tables.
  std::vector<Reference> referencing(Entity target) const;

  const detail::VersionState& state() const noexcept { return *state_; }
  const Database& database() const noexcept { return *db_; }

 private:
  friend class Database;
  PinnedView(const Database* db, const detail::VersionState* state, std::uint32_t slot,
             std::uint64_t pinned_at_ms) noexcept
      : db_(db), state_(state), slot_(slot), pinned_at_ms_(pinned_at_ms) {}
  void release() noexcept;
  template <typename T>
  std::uint16_t table_of() const noexcept;
  // Rows per chunk of a join over tables `ids`: the largest power of two that stays inside one page of
  // each table's keys and rows.
  static std::uint32_t join_chunk(const detail::VersionState& s, std::span<const std::uint16_t> ids) noexcept {
    std::uint32_t chunk = 1u << s.registry.slots.shift;  // (implied keys, ChunkKeys)
    for (const std::uint16_t id : ids) {
      const detail::TableState& t = s.tables[id];
      if (t.stride != 0) chunk = std::min(chunk, 1u << t.rows.shift);
      chunk = std::min(chunk, 1u << t.keys.shift);
    }
    return chunk;
  }
  using ChunkKeys = detail::ChunkKeys;
  // Whether every table of `ids` holds the driver's entities in the driver's rows [start, end): known
  // without reading keys below both tables' identity_rows (TableState::identity_rows), else by comparing
  // the keys. REQUIRES: [start, end) within one chunk (join_chunk) of the driver's rows.
  static bool join_rows_line_up(const detail::VersionState& s, std::span<const std::uint16_t> ids, std::size_t driver,
                                std::uint32_t start, std::uint32_t end) noexcept {
    const detail::TableState& d = s.tables[ids[driver]];
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i == driver) continue;
      const detail::TableState& t = s.tables[ids[i]];
      if (end > t.row_count || t.stride == 0) return false;
      if (end <= std::min(t.identity_rows, d.identity_rows)) continue;
      const ChunkKeys a = detail::chunk_keys(t, s.registry, start);
      const ChunkKeys b = detail::chunk_keys(d, s.registry, start);
      if (a.stored != nullptr && b.stored != nullptr) {
        if (std::memcmp(a.stored, b.stored, std::size_t{end - start} * 8) != 0) return false;
        continue;
      }
      for (std::uint32_t r = 0; r < end - start; ++r) {  // one side's keys are implied (rare: a run in one table only)
        if (a[r] != b[r]) return false;
      }
    }
    return true;
  }

  const Database* db_;
  const detail::VersionState* state_;
  std::uint32_t slot_;             // reader slot, or overflow entry past the slots
  std::uint64_t pinned_at_ms_;     // view clock at pin time (0 when ages are not tracked)
};

// ---- Inline implementation. release() is defined at the end of database.hpp: it needs Database
// complete. ----

inline PinnedView& PinnedView::operator=(PinnedView&& other) noexcept {
  if (this != &other) {
    release();
    db_ = std::exchange(other.db_, nullptr);
    state_ = other.state_;
    slot_ = other.slot_;
    pinned_at_ms_ = other.pinned_at_ms_;
  }
  return *this;
}

template <typename T>
std::uint16_t PinnedView::table_of() const noexcept {
  return detail::table_of<T>(*db_);
}

template <BoundComponent T>
const T* PinnedView::get(Entity e) const noexcept {
  const std::uint16_t t = table_of<T>();
  if (t == detail::kNoTable) return nullptr;
  // The row bytes were written as a T by the writer (layout checked at bind): the cast is valid.
  return detail::find_row_as<T>(state_->tables[t], state_->registry, e.bits());
}

template <BoundComponent T>
class PinnedView::Reader {
 public:
  // The component of `e`, or nullptr when e is stale or lacks it (PinnedView::get).
  const T* get(Entity e) const noexcept {
    // The row bytes were written as a T by the writer (layout checked at bind): the cast is valid. An unbound
    // T's empty table has no run and no sparse pages: every get misses.
    return detail::find_row_as<T>(table_, registry_, e.bits());
  }
  bool has(Entity e) const noexcept { return table_.row_of(e.bits(), registry_) != detail::kNoRow; }

 private:
  friend class PinnedView;
  Reader(const detail::TableState& table, const detail::RegistryState& registry) noexcept
      : table_(table), registry_(registry) {}
  // Copies, not references: the compiler may keep their fields in registers across a loop, since nothing
  // the loop writes can alias them. An unbound T gets an empty table (stride 0, no rows): every get misses.
  detail::TableState table_;
  detail::RegistryState registry_;
};

template <BoundComponent T>
PinnedView::Reader<T> PinnedView::reader() const noexcept {
  const std::uint16_t t = table_of<T>();
  return Reader<T>(t == detail::kNoTable ? detail::TableState{} : state_->tables[t], state_->registry);
}

template <BoundComponent T>
void PinnedView::get_many(std::span<const Entity> entities, std::span<const T*> out) const noexcept {
  const std::uint16_t t = table_of<T>();
  if (t == detail::kNoTable) {
    for (std::size_t i = 0; i < entities.size(); ++i) out[i] = nullptr;
    return;
  }
  // Copies, as a Reader holds them: the compiler keeps their fields in registers across the loops.
  const detail::TableState ts = state_->tables[t];
  const detail::RegistryState registry = state_->registry;
  constexpr std::size_t kWave = 16;
  for (std::size_t base = 0; base < entities.size(); base += kWave) {
    const std::size_t n = entities.size() - base < kWave ? entities.size() - base : kWave;
    // Wave 1: what each lookup will read, prefetched, so that all n lookups' misses overlap. In the identity
    // run that is the row and the registry slot (detail::find_row_as); past it, the sparse slot and the row
    // at the entity's index, where tables filled in entity order keep most rows (detail::find_row_off_run
    // prefetches the row the slot names when it is another).
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t index = entities[base + i].index();
      if (index < ts.identity_rows) {
        __builtin_prefetch(ts.rows.at(index));
        __builtin_prefetch(registry.slot(index));
        continue;
      }
      if (index < ts.row_count) __builtin_prefetch(ts.rows.at(index));
      if (index < ts.sparse.capacity() && ts.sparse.present(index)) __builtin_prefetch(ts.sparse.at(index));
    }
    // Wave 2: the lookups, on what has arrived.
    for (std::size_t i = 0; i < n; ++i) out[base + i] = detail::find_row_as<T>(ts, registry, entities[base + i].bits());
  }
}

template <BoundComponent T>
bool PinnedView::has(Entity e) const noexcept {
  const std::uint16_t t = table_of<T>();
  return t != detail::kNoTable && state_->find_row_index(t, e.bits()) != detail::kNoRow;
}

template <BoundComponent T>
std::size_t PinnedView::count() const noexcept {
  const std::uint16_t t = table_of<T>();
  return t == detail::kNoTable ? 0 : state_->tables[t].row_count;
}

template <BoundComponent... T, BoundComponent... X, typename F>
void PinnedView::each(Exclude<X...>, F&& f) const {
  // An entity has X when X's table finds its row (ADR 0021). Each visits live entities by their current
  // generation, so X's identity run answers for the entities below it with no look at X's keys
  // (TableState::live_key_has_row): the common case of a scan whose entities were spawned together.
  struct Without {
    const detail::TableState* table;  // nullptr: X is not in this database's schema
    std::uint32_t identity_rows;      // the table's, read once for the whole scan
  };
  const auto without_of = [&](std::uint16_t id) {
    return id == detail::kNoTable ? Without{nullptr, 0} : Without{&state_->tables[id], state_->tables[id].identity_rows};
  };
  const Without without[] = {without_of(table_of<X>())...};
  const detail::RegistryState& registry = state_->registry;
  each<T...>([&](Entity e, const T&... components) {
    for (const Without& x : without) {
      if (x.table == nullptr) continue;
      if (x.table->live_key_has_row(e.bits(), registry, x.identity_rows)) return;
    }
    f(e, components...);
  });
}

template <BoundComponent... T, typename F>
void PinnedView::each(F&& f) const {
  static_assert(sizeof...(T) >= 1, "each<T...>() needs at least one component");
  const std::uint16_t ids[] = {table_of<T>()...};
  std::size_t driver = 0;
  for (std::size_t i = 0; i < sizeof...(T); ++i) {
    if (ids[i] == detail::kNoTable) return;
    if (state_->tables[ids[i]].row_count < state_->tables[ids[driver]].row_count) driver = i;
  }
  const detail::VersionState* s = state_;
  if constexpr (sizeof...(T) == 1) {
    // One component: walk each page's rows as a T array (compile-time stride).
    using T0 = std::tuple_element_t<0, std::tuple<T...>>;
    const detail::TableState& t = s->tables[ids[0]];
    const std::uint32_t n = t.row_count;
    const std::uint32_t chunk = join_chunk(*s, ids);
    for (std::uint32_t start = 0; start < n; start += chunk) {
      const std::uint32_t count = start + chunk < n ? chunk : n - start;
      const T0* rows = reinterpret_cast<const T0*>(t.rows.at(start));
      const ChunkKeys keys = detail::chunk_keys(t, s->registry, start);
      if (keys.stored != nullptr) {
        for (std::uint32_t r = 0; r < count; ++r) f(Entity::from_bits(keys.stored[r]), rows[r]);
      } else {
        for (std::uint32_t r = 0; r < count; ++r) f(Entity(start + r, keys.implied_generation(r)), rows[r]);
      }
    }
  } else {
    // Rows are visited in chunks that stay inside one page of every table involved. When another table
    // holds the same entities in the same rows for a whole chunk (tables filled together, as spawning
    // does), the chunk is walked with plain pointer increments; otherwise rows are found per entity
    // through the sparse index. Rows below both tables' identity_rows line up without a look at their keys
    // (TableState::identity_rows); elsewhere the chunk's keys are compared.
    const detail::TableState& d = s->tables[ids[driver]];
    const std::uint32_t chunk = join_chunk(*s, ids);
    const std::uint32_t n = d.row_count;
    for (std::uint32_t start = 0; start < n; start += chunk) {
      const std::uint32_t end = start + chunk < n ? start + chunk : n;
      const ChunkKeys keys = detail::chunk_keys(d, s->registry, start);
      if (join_rows_line_up(*s, ids, driver, start, end)) {
        const std::byte* base[sizeof...(T)];
        for (std::size_t i = 0; i < sizeof...(T); ++i) base[i] = s->tables[ids[i]].rows.at(start);
        const auto walk = [&]<std::size_t... I>(std::index_sequence<I...>, auto entity_of) {
          for (std::uint32_t r = 0; r < end - start; ++r) {
            f(entity_of(r), *reinterpret_cast<const T*>(base[I] + std::size_t{r} * sizeof(T))...);
          }
        };
        if (keys.stored != nullptr) {
          walk(std::index_sequence_for<T...>{}, [&](std::uint32_t r) { return Entity::from_bits(keys.stored[r]); });
        } else {
          walk(std::index_sequence_for<T...>{}, [&](std::uint32_t r) { return Entity(start + r, keys.implied_generation(r)); });
        }
        continue;
      }
      for (std::uint32_t r = start; r < end; ++r) {
        const std::uint64_t key = keys[r - start];
        const std::byte* rows[sizeof...(T)];
        bool all = true;
        for (std::size_t i = 0; i < sizeof...(T) && all; ++i) {
          rows[i] = i == driver ? d.rows.at(r) : s->find_row(ids[i], key);
          all = rows[i] != nullptr;
        }
        if (!all) continue;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
          f(Entity::from_bits(key), *reinterpret_cast<const T*>(rows[I])...);
        }(std::index_sequence_for<T...>{});
      }
    }
  }
}

template <BoundComponent... T>
class PinnedView::Query {
  // A stretch of rows the iterator walks by pointer steps alone: the rest of a chunk whose rows line up in
  // every table, or one row whose other components were found through the sparse index. Chunks stay
  // inside one page of every table involved (chunk_). The iterator gets a Run by value from find_run and
  // never hands out its own address, so a range-for can keep its state in registers.
  struct Run {
    // The current row's key, or its entity's registry slot where the identity run elides the key
    // (ChunkKeys); nullptr once the range is done.
    const std::byte* key = nullptr;
    const std::byte* key_end = nullptr;      // one past the run's last key (or slot)
    std::uint32_t key_step = 0;              // bytes from one row's key (or slot) to the next
    std::uint32_t row = 0;                   // the driver's current row: an implied key's entity index
    bool implied = false;                    // `key` points at registry slots
    const std::byte* rows[sizeof...(T)] = {};
    std::uint32_t next_row = 0;              // the driver's row after the run
    bool misaligned_chunk = false;           // the run's chunk was checked and found not to line up
  };

 public:
  using Item = std::tuple<Entity, const T&...>;

  // A std::forward_iterator, so std::ranges algorithms and views take a Query. Its reference type is Item, a
  // tuple of references returned by value (a proxy, like std::views::zip's), so value_type is Item too.
  class iterator {
   public:
    using value_type = Item;
    using difference_type = std::ptrdiff_t;

    iterator() = default;  // equals every finished iterator, end() included
    Item operator*() const {
      const Entity e = run_.implied
                           ? Entity(run_.row, reinterpret_cast<const detail::EntitySlot*>(run_.key)->generation)
                           : Entity::from_bits(*reinterpret_cast<const std::uint64_t*>(run_.key));
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return Item(e, *reinterpret_cast<const T*>(run_.rows[I])...);
      }(std::index_sequence_for<T...>{});
    }
    iterator& operator++() {
      ++run_.row;
      if ((run_.key += run_.key_step) != run_.key_end) [[likely]] {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
          ((run_.rows[I] += sizeof(T)), ...);
        }(std::index_sequence_for<T...>{});
      } else {
        run_ = query_->find_run(run_.next_row, run_.misaligned_chunk);
      }
      return *this;
    }
    iterator operator++(int) {
      iterator before = *this;
      ++*this;
      return before;
    }
    // Two iterators of one range are equal when they stand on the same row (the same key, or registry slot,
    // in the pinned version's memory); every finished iterator equals end().
    bool operator==(const iterator& o) const noexcept { return run_.key == o.run_.key; }

   private:
    friend class Query;
    iterator(const Query* q, Run run) : query_(q), run_(run) {}
    const Query* query_ = nullptr;
    Run run_;
  };

  iterator begin() const { return iterator(this, find_run(0, false)); }
  iterator end() const { return iterator(this, Run{}); }

 private:
  friend class PinnedView;
  explicit Query(const PinnedView& v) : state_(v.state_), ids_{v.table_of<T>()...} {
    for (std::size_t i = 0; i < sizeof...(T); ++i) {
      if (ids_[i] == detail::kNoTable) return;  // unbound type: empty range
      if (state_->tables[ids_[i]].row_count < state_->tables[ids_[driver_]].row_count) driver_ = i;
    }
    end_ = state_->tables[ids_[driver_]].row_count;
    chunk_ = join_chunk(*state_, ids_);
  }

  // The first run at or after the driver's row `row`. `misaligned_chunk` says that row's chunk was already
  // found not to line up, so a walk through such a chunk compares its keys once, not once per row.
  Run find_run(std::uint32_t row, bool misaligned_chunk) const {
    const detail::TableState& d = state_->tables[ids_[driver_]];
    Run run;
    // Only a chunk's first row may come without a verdict on the chunk (begin(), or the end of a run).
    assert(row % chunk_ == 0 || misaligned_chunk || row >= end_);
    while (row < end_) {  // also stops at once for an unbound type (end_ == 0)
      const std::uint32_t chunk_start = row & ~(chunk_ - 1);  // chunk_ is a power of two
      const std::uint32_t chunk_end = chunk_start + chunk_ < end_ ? chunk_start + chunk_ : end_;
      const ChunkKeys keys = detail::chunk_keys(d, state_->registry, chunk_start);
      run.implied = keys.stored == nullptr;
      run.key_step = run.implied ? keys.step : sizeof(std::uint64_t);
      const std::byte* first_key = run.implied ? keys.slots : reinterpret_cast<const std::byte*>(keys.stored);
      if (row == chunk_start) misaligned_chunk = !join_rows_line_up(*state_, ids_, driver_, chunk_start, chunk_end);
      run.misaligned_chunk = misaligned_chunk;
      if (!misaligned_chunk) {
        run.key = first_key + std::size_t{row - chunk_start} * run.key_step;
        run.key_end = first_key + std::size_t{chunk_end - chunk_start} * run.key_step;
        run.row = row;
        for (std::size_t i = 0; i < sizeof...(T); ++i) run.rows[i] = state_->tables[ids_[i]].rows.at(row);
        run.next_row = chunk_end;
        return run;
      }
      for (; row < chunk_end; ++row) {
        const std::uint64_t key = keys[row - chunk_start];
        bool all = true;
        for (std::size_t i = 0; i < sizeof...(T) && all; ++i) {
          run.rows[i] = i == driver_ ? d.rows.at(row) : state_->find_row(ids_[i], key);
          all = run.rows[i] != nullptr;
        }
        if (all) {
          run.key = first_key + std::size_t{row - chunk_start} * run.key_step;
          run.key_end = run.key + run.key_step;
          run.row = row;
          run.next_row = row + 1;
          return run;
        }
      }
    }
    return Run{};
  }

  const detail::VersionState* state_;
  std::uint16_t ids_[sizeof...(T)];
  std::size_t driver_ = 0;
  std::uint32_t end_ = 0;
  std::uint32_t chunk_ = 1;
};

template <BoundComponent... T>
PinnedView::Query<T...> PinnedView::query() const {
  return Query<T...>(*this);
}

}  // namespace ecsdb

// Defines the members above that need Database complete. Last, so that a file including only this header
// still gets a complete API.
#include "ecsdb/database.hpp"
