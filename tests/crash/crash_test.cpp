// Crash test with an expected-state oracle (the shape of RocksDB's db_crashtest, our own code).
//
// A child process opens a real on-disk database in kSync mode, writes a deterministic history of
// transactions and reports every acknowledged one through a pipe; the parent SIGKILLs it at a random
// moment. The next child reopens the database, reads the step counter k* that every transaction bumps,
// and compares the WHOLE database with the oracle's state after exactly k* steps. That proves at once:
//   * nothing acknowledged was lost        (k* >= every k the previous children acknowledged),
//   * no transaction is partially applied  (any torn step would differ from both model(k*-1) and model(k*)),
//   * the state is a prefix of the history (model(k*) is the history's k*-th prefix by construction).
// The history continues across crashes: each child goes on from the recovered state.
//
// Step k is chosen by plan_step(seed, k, state after k-1): the same function drives the children (which
// apply it to a Transaction) and the oracle (which applies it to a plain struct), so the state a step
// reads is the one all earlier steps produced, whichever thread submitted it or whichever process ran it.
//
// Usage: ecsdb_crash_test [--cycles N] [--seed S] [--keep]   (ECSDB_CRASH_CYCLES=N overrides the default)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "ecsdb/database.hpp"
#include "support/test_schema.hpp"

namespace ecsdb::testing {
namespace {

constexpr int kSlots = 48;              // logical entities; Transform.x holds the slot number
constexpr float kCounterMarker = -1.0f; // Transform.x of the counter entity, whose Health.hp is k
constexpr std::size_t kMaxItemsPerSlot = 4;
constexpr int kDefaultCycles = 60;

// ---- the oracle ---------------------------------------------------------------------------------------

struct SlotState {
  bool alive = false;
  float y = 0, z = 0;                      // Transform (x is the slot)
  std::optional<Health> health;
  std::optional<std::uint32_t> score;      // Player{score, "p<slot>"}
  std::optional<int> aim;                  // Aim: target slot, -1 = null
  std::vector<std::pair<std::uint16_t, std::uint16_t>> items;  // Item{kind, count}, in insertion order
};

struct ModelState {
  std::uint64_t k = 0;  // steps applied
  std::array<SlotState, kSlots> slots;
};

enum class OpKind : std::uint8_t {
  kCreate, kDestroy, kTransfer, kPutHealth, kRemoveHealth, kPutPlayer, kRemovePlayer, kAddItem, kPutAim,
  kRemoveAim, kMove,
  kAge,  // a for_each_mut pass: every health's hp grows by `a` (mod 1000); the later ops may move its rows
};

// One operation with the absolute values it writes, so a Transaction can apply it without reading.
struct Op {
  OpKind kind;
  int slot = 0;
  int other = -1;               // transfer destination, aim target (-1: null)
  std::uint32_t a = 0, b = 0;   // hp / max_hp, score, kind / count, new hp of `slot` and `other`
  float y = 0, z = 0;
};

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return splitmix64(state_); }
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }

 private:
  std::uint64_t state_;
};

std::string player_name(int slot) {
  char name[16];
  std::snprintf(name, sizeof name, "p%d", slot);  // not "p" + to_string: g++ 12 warns falsely (-Wrestrict)
  return name;
}

void apply_op(ModelState& m, const Op& op) {
  SlotState& s = m.slots[static_cast<std::size_t>(op.slot)];
  switch (op.kind) {
    case OpKind::kCreate:
      s = SlotState{};
      s.alive = true;
      s.y = op.y;
      s.z = op.z;
      s.health = Health{op.a, op.b};
      break;
    case OpKind::kDestroy:
      s = SlotState{};
      // on_delete = set_null: every Aim at the destroyed entity now aims at nothing.
      for (SlotState& other : m.slots) {
        if (other.aim == op.slot) other.aim = -1;
      }
      break;
    case OpKind::kTransfer:
      s.health->hp = op.a;
      m.slots[static_cast<std::size_t>(op.other)].health->hp = op.b;
      break;
    case OpKind::kPutHealth: s.health = Health{op.a, op.b}; break;
    case OpKind::kRemoveHealth: s.health.reset(); break;
    case OpKind::kPutPlayer: s.score = op.a; break;
    case OpKind::kRemovePlayer: s.score.reset(); break;
    case OpKind::kAddItem: s.items.emplace_back(op.a, op.b); break;
    case OpKind::kPutAim: s.aim = op.other; break;
    case OpKind::kRemoveAim: s.aim.reset(); break;
    case OpKind::kMove: s.y = op.y; s.z = op.z; break;
    case OpKind::kAge:
      for (SlotState& each : m.slots) {
        if (each.health) each.health->hp = (each.health->hp + op.a) % 1000;
      }
      break;
  }
}

// Chooses step k (k >= 1) from the seed and the state after step k-1, applying it to `m` as it goes (later
// operations of the step see earlier ones). Deterministic: the same (seed, k, state) gives the same step.
std::vector<Op> plan_step(std::uint64_t seed, ModelState& m) {
  const std::uint64_t k = m.k + 1;
  Rng rng(seed ^ (k * 0xD1B54A32D192ED03ull));
  std::vector<Op> ops;
  const std::uint32_t n = 1 + rng.below(4);
  auto random_alive = [&]() -> int {
    const int start = static_cast<int>(rng.below(kSlots));
    for (int i = 0; i < kSlots; ++i) {
      const int s = (start + i) % kSlots;
      if (m.slots[static_cast<std::size_t>(s)].alive) return s;
    }
    return -1;
  };
  for (std::uint32_t i = 0; i < n; ++i) {
    Op op{OpKind::kMove};
    op.slot = static_cast<int>(rng.below(kSlots));
    SlotState& s = m.slots[static_cast<std::size_t>(op.slot)];
    const std::uint32_t choice = rng.below(100);
    if (!s.alive) {
      op.kind = OpKind::kCreate;
      op.y = static_cast<float>(k % 100000);
      op.z = static_cast<float>(rng.below(1000));
      op.a = 50 + rng.below(100);
      op.b = 200;
    } else if (choice < 8) {
      op.kind = OpKind::kDestroy;
    } else if (choice < 35) {
      // Value moves between two entities: a torn step would break the sum.
      const int to = random_alive();
      SlotState& t = m.slots[static_cast<std::size_t>(to)];
      if (to == op.slot || !s.health || !t.health) {
        op.kind = OpKind::kPutHealth;
        op.a = rng.below(300);
        op.b = 300;
      } else {
        const std::uint32_t amount = s.health->hp == 0 ? 0 : rng.below(s.health->hp + 1);
        op.kind = OpKind::kTransfer;
        op.other = to;
        op.a = s.health->hp - amount;
        op.b = t.health->hp + amount;
      }
    } else if (choice < 42) {
      op.kind = s.health ? OpKind::kRemoveHealth : OpKind::kPutHealth;
      op.a = rng.below(300);
      op.b = 300;
    } else if (choice < 55) {
      op.kind = s.score && rng.below(4) == 0 ? OpKind::kRemovePlayer : OpKind::kPutPlayer;
      op.a = static_cast<std::uint32_t>(k);
    } else if (choice < 67) {
      op.kind = s.items.size() < kMaxItemsPerSlot ? OpKind::kAddItem : OpKind::kMove;
      op.a = rng.below(8);
      op.b = static_cast<std::uint32_t>(k & 0xFFFF);
      op.y = static_cast<float>(rng.below(5000));
      op.z = static_cast<float>(k % 1000);
    } else if (choice < 80) {
      op.kind = s.aim && rng.below(3) == 0 ? OpKind::kRemoveAim : OpKind::kPutAim;
      op.other = rng.below(4) == 0 ? -1 : random_alive();
    } else if (choice < 95) {
      op.kind = OpKind::kMove;
      op.y = static_cast<float>(rng.below(5000));
      op.z = static_cast<float>(k % 1000);
    } else {
      op.kind = OpKind::kAge;
      op.a = 1 + rng.below(5);
    }
    apply_op(m, op);
    ops.push_back(op);
  }
  m.k = k;
  return ops;
}

ModelState model_after(std::uint64_t seed, std::uint64_t k) {
  ModelState m;
  while (m.k < k) plan_step(seed, m);
  return m;
}

// ---- applying steps to the database --------------------------------------------------------------------

// Writer-side state: the model the next step is planned from and the entity of every slot. Touched only
// by transaction bodies, which the writer runs one at a time in queue order, so it needs no lock.
struct WriterMirror {
  std::uint64_t seed = 0;
  ModelState model;
  std::array<Entity, kSlots> entities{};
  Entity counter;
};

Status apply_to_txn(Transaction& tx, std::array<Entity, kSlots>& entities, const Op& op) {
  Entity& e = entities[static_cast<std::size_t>(op.slot)];
  auto entity_of = [&](int slot) { return slot < 0 ? Entity::null() : entities[static_cast<std::size_t>(slot)]; };
  switch (op.kind) {
    case OpKind::kCreate: {
      ECSDB_ASSIGN_OR_RETURN(e, tx.create());
      ECSDB_RETURN_IF_ERROR(tx.add(e, Transform{static_cast<float>(op.slot), op.y, op.z}));
      return tx.add(e, Health{op.a, op.b});
    }
    case OpKind::kDestroy: {
      const Status s = tx.destroy(e);
      e = Entity::null();
      return s;
    }
    case OpKind::kTransfer:
      ECSDB_RETURN_IF_ERROR(tx.set(e, &Health::hp, op.a));
      return tx.set(entity_of(op.other), &Health::hp, op.b);
    case OpKind::kPutHealth: return tx.put(e, Health{op.a, op.b});
    case OpKind::kRemoveHealth: return tx.remove<Health>(e);
    case OpKind::kPutPlayer: return tx.put(e, Player{op.a, FixedString<16>(std::string_view(player_name(op.slot)))});
    case OpKind::kRemovePlayer: return tx.remove<Player>(e);
    case OpKind::kAddItem:
      return tx.insert_child(e, Item{static_cast<std::uint16_t>(op.a), static_cast<std::uint16_t>(op.b)}).status();
    case OpKind::kPutAim: return tx.put(e, Aim{entity_of(op.other)});
    case OpKind::kRemoveAim: return tx.remove<Aim>(e);
    case OpKind::kMove:
      ECSDB_RETURN_IF_ERROR(tx.set(e, &Transform::y, op.y));
      return tx.set(e, &Transform::z, op.z);
    case OpKind::kAge:
      // The counter's health ages too; the step sets it to k after its operations.
      return tx.for_each_mut<Health>([&op](Entity, Health& h) { h.hp = (h.hp + op.a) % 1000; });
  }
  return Status::ok();
}

// Adds the next step to `tx` and returns its number. The mirror advances only when every operation was
// accepted; the caller treats a failed commit as fatal, so the mirror never runs ahead of the database.
Result<std::uint64_t> add_next_step(Transaction& tx, WriterMirror& w) {
  ModelState next = w.model;
  const std::vector<Op> ops = plan_step(w.seed, next);
  std::array<Entity, kSlots> entities = w.entities;
  for (const Op& op : ops) ECSDB_RETURN_IF_ERROR(apply_to_txn(tx, entities, op));
  ECSDB_RETURN_IF_ERROR(tx.set(w.counter, &Health::hp, static_cast<std::uint32_t>(next.k)));
  w.model = std::move(next);
  w.entities = entities;
  return w.model.k;
}

// ---- the oracle check ----------------------------------------------------------------------------------

Status oracle_mismatch(std::string what) { return Status(StatusCode::kInternal, std::move(what)); }

// Compares the whole database with model(k*), where k* is the counter it holds. Fills `mirror` so a
// writer can continue from it. Returns an error naming the first difference.
Status check_against_model(Database& db, std::uint64_t seed, std::uint64_t min_k, WriterMirror& mirror) {
  PinnedView v = db.pin();
  std::array<Entity, kSlots> entities{};
  Entity counter;
  std::string problem;
  v.each<Transform>([&](Entity e, const Transform& t) {
    if (t.x == kCounterMarker) {
      if (!counter.is_null()) problem = "two counter entities";
      counter = e;
      return;
    }
    const int slot = static_cast<int>(t.x);
    if (slot < 0 || slot >= kSlots || static_cast<float>(slot) != t.x) {
      problem = "transform with bad slot " + std::to_string(t.x);
    } else if (!entities[static_cast<std::size_t>(slot)].is_null()) {
      problem = "two entities for slot " + std::to_string(slot);
    } else {
      entities[static_cast<std::size_t>(slot)] = e;
    }
  });
  if (!problem.empty()) return oracle_mismatch(problem);
  if (counter.is_null() || v.get<Health>(counter) == nullptr) return oracle_mismatch("no counter entity");
  const std::uint64_t k = v.get<Health>(counter)->hp;
  if (k < min_k) {
    return oracle_mismatch("LOST acknowledged transactions: recovered step " + std::to_string(k) +
                          " < acknowledged " + std::to_string(min_k));
  }
  const ModelState m = model_after(seed, k);
  auto fail = [&](int slot, const std::string& what) {
    return oracle_mismatch("step " + std::to_string(k) + ", slot " + std::to_string(slot) + ": " + what);
  };
  std::size_t alive = 0, healths = 0, players = 0, aims = 0, items = 0;
  const std::uint16_t item_table = db.table_id("item").value();
  for (int slot = 0; slot < kSlots; ++slot) {
    const SlotState& s = m.slots[static_cast<std::size_t>(slot)];
    const Entity e = entities[static_cast<std::size_t>(slot)];
    if (s.alive != !e.is_null()) return fail(slot, s.alive ? "missing entity" : "entity that should not exist");
    if (!s.alive) continue;
    ++alive;
    const Transform* t = v.get<Transform>(e);
    if (t->y != s.y || t->z != s.z) return fail(slot, "transform differs");
    const Health* h = v.get<Health>(e);
    if (h == nullptr ? s.health.has_value() : !s.health || h->hp != s.health->hp || h->max_hp != s.health->max_hp) {
      return fail(slot, "health differs");
    }
    healths += s.health ? 1 : 0;
    const Player* p = v.get<Player>(e);
    if (p == nullptr ? s.score.has_value()
                     : !s.score || p->score != *s.score || p->name.view() != player_name(slot)) {
      return fail(slot, "player differs");
    }
    players += s.score ? 1 : 0;
    const Aim* a = v.get<Aim>(e);
    if (a == nullptr ? s.aim.has_value()
                     : !s.aim || a->at != (*s.aim < 0 ? Entity::null() : entities[static_cast<std::size_t>(*s.aim)])) {
      return fail(slot, "aim differs");
    }
    aims += s.aim ? 1 : 0;
    auto rows = v.children("item", e);
    if (!rows) return rows.status();
    std::vector<std::pair<std::uint16_t, std::uint16_t>> got, want = s.items;
    for (RowId r : *rows) {
      const auto* item = reinterpret_cast<const Item*>(v.state().find_row(item_table, r.bits()));
      if (item == nullptr) return fail(slot, "child row without data");
      got.emplace_back(item->kind, item->count);
    }
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    if (got != want) return fail(slot, "items differ");
    items += want.size();
  }
  // Nothing beyond the model: counts of every table (the counter entity has a Transform and a Health).
  const auto item_keys = v.keys("item");
  if (!item_keys) return item_keys.status();
  if (v.entity_count() != alive + 1 || v.count<Transform>() != alive + 1 || v.count<Health>() != healths + 1 ||
      v.count<Player>() != players || v.count<Aim>() != aims || item_keys->size() != items ||
      v.count<Follow>() != 0 || v.count<Guard>() != 0) {
    return oracle_mismatch("step " + std::to_string(k) + ": table sizes differ from the model");
  }
  mirror.seed = seed;
  mirror.model = m;
  mirror.entities = entities;
  mirror.counter = counter;
  return Status::ok();
}

// ---- child <-> parent protocol -------------------------------------------------------------------------

enum class MessageKind : std::uint32_t { kRecovered = 1, kAcknowledged = 2 };
struct Message {  // 16 bytes < PIPE_BUF: writes from several threads never interleave
  MessageKind kind;
  std::uint32_t unused = 0;
  std::uint64_t value;
};

void send(int fd, MessageKind kind, std::uint64_t value) {
  const Message m{kind, 0, value};
  if (::write(fd, &m, sizeof m) != static_cast<ssize_t>(sizeof m)) ::_exit(4);
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "crash child: %s\n", what.c_str());
  ::_exit(3);
}

// How one cycle writes: from where commits come and how the files are laid out.
struct CycleConfig {
  bool writer_thread = false;     // Database::submit from `submitters` threads, else the owner's writer
  int submitters = 1;
  int in_flight = 1;              // tickets each submitter keeps outstanding
  std::uint64_t wal_segment_bytes = 64 * 1024;
  std::uint64_t snapshot_every_wal_bytes = 0;
  int snapshot_every_steps = 0;   // explicit Database::snapshot() calls (0 = none)
};

DatabaseOptions options_for(const std::string& dir, const CycleConfig& c) {
  DatabaseOptions o;
  o.data_dir = dir;
  o.durability = Durability::kSync;
  o.wal_segment_bytes = c.wal_segment_bytes;
  o.snapshot_every_wal_bytes = c.snapshot_every_wal_bytes;
  return o;
}

std::unique_ptr<Database> open_or_die(const std::string& dir, const CycleConfig& c) {
  auto db = Database::open(test_schema(), options_for(dir, c));
  if (!db) die("open: " + db.status().to_string());
  return std::move(*db);
}

void check_or_die(const Status& s, const char* what) {
  if (!s.is_ok()) die(std::string(what) + ": " + s.to_string());
}

// Creates the counter entity (step 0) and makes it durable.
void initialize(const std::string& dir) {
  auto db = open_or_die(dir, CycleConfig{});
  Transaction tx = db->writer().begin();
  auto e = tx.create();
  if (!e) die(e.status().to_string());
  check_or_die(tx.add(*e, Transform{kCounterMarker, 0, 0}), "add counter");
  check_or_die(tx.add(*e, Health{0, 0}), "add counter");
  check_or_die(tx.commit(), "commit");
  check_or_die(db->flush(), "flush");
}

void write_with_owner(Database& db, WriterMirror& mirror, const CycleConfig& c, int out) {
  for (;;) {
    Transaction tx = db.writer().begin();
    auto k = add_next_step(tx, mirror);
    if (!k) die("step: " + k.status().to_string());
    check_or_die(tx.commit(), "commit");
    // Durable once flush() returns; batching flushes makes the kill land between commit and sync too.
    if (*k % 4 == 0) {
      check_or_die(db.flush(), "flush");
      for (std::uint64_t acked = *k - 3; acked <= *k; ++acked) send(out, MessageKind::kAcknowledged, acked);
    }
    if (c.snapshot_every_steps != 0 && *k % static_cast<std::uint64_t>(c.snapshot_every_steps) == 0) {
      check_or_die(db.snapshot(), "snapshot");
    }
  }
}

void write_with_submitters(Database& db, WriterMirror& mirror, const CycleConfig& c, int out) {
  check_or_die(db.start_writer_thread(), "start writer thread");
  auto submitter = [&](int id) {
    std::deque<std::pair<CommitTicket, std::shared_ptr<std::uint64_t>>> pending;
    for (std::uint64_t n = 0;; ++n) {
      auto step = std::make_shared<std::uint64_t>(0);
      pending.emplace_back(db.submit([&mirror, step](Transaction& tx) -> Status {
                             ECSDB_ASSIGN_OR_RETURN(*step, add_next_step(tx, mirror));
                             return Status::ok();
                           }),
                           step);
      while (pending.size() >= static_cast<std::size_t>(c.in_flight)) {
        check_or_die(pending.front().first.wait(), "commit");
        // The ticket resolved after the body ran: *step is the step this transaction made durable.
        send(out, MessageKind::kAcknowledged, *pending.front().second);
        pending.pop_front();
      }
      if (id == 0 && c.snapshot_every_steps != 0 && n % static_cast<std::uint64_t>(c.snapshot_every_steps) == 0) {
        check_or_die(db.snapshot(), "snapshot");
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < c.submitters; ++i) threads.emplace_back(submitter, i);
  for (auto& t : threads) t.join();  // never: the parent kills the process
}

// The child: recover, check against the oracle, report k*, then write until killed.
[[noreturn]] void run_child(const std::string& dir, std::uint64_t seed, std::uint64_t max_acked,
                            const CycleConfig& c, bool write, int out) {
  auto db = open_or_die(dir, c);
  WriterMirror mirror;
  check_or_die(check_against_model(*db, seed, max_acked, mirror), "recovered state");
  send(out, MessageKind::kRecovered, mirror.model.k);
  if (!write) {
    db.reset();
    ::_exit(0);
  }
  if (c.writer_thread) write_with_submitters(*db, mirror, c, out);
  else write_with_owner(*db, mirror, c, out);
  ::_exit(0);
}

// ---- the parent ----------------------------------------------------------------------------------------

struct CycleResult {
  bool ok = false;
  std::uint64_t recovered = 0;
  std::uint64_t acknowledged = 0;     // acknowledgements received this cycle
  std::uint64_t max_acknowledged = 0;
};

using Clock = std::chrono::steady_clock;

// Forks a child, waits for its recovery report, lets it write for `run_for` (none: verify only), kills it.
CycleResult run_cycle(const std::string& dir, std::uint64_t seed, std::uint64_t max_acked, const CycleConfig& c,
                      std::optional<std::chrono::microseconds> run_for) {
  CycleResult r;
  int fds[2];
  if (::pipe(fds) != 0) return r;
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return r;
  if (pid == 0) {
    ::close(fds[0]);
    run_child(dir, seed, max_acked, c, run_for.has_value(), fds[1]);
  }
  ::close(fds[1]);
  bool recovered = false;
  bool killed = false;
  auto deadline = Clock::now() + std::chrono::seconds(30);  // recovery must not hang
  for (;;) {
    if (!killed && Clock::now() >= deadline) {
      if (!recovered || !run_for) std::fprintf(stderr, "crash test: child timed out\n");
      ::kill(pid, SIGKILL);
      killed = true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, killed ? -1 : static_cast<int>(std::max<std::int64_t>(left, 0)));
    if (ready <= 0) continue;
    Message m;
    const ssize_t n = ::read(fds[0], &m, sizeof m);
    if (n == 0) break;  // every write end closed: the child is gone
    if (n != static_cast<ssize_t>(sizeof m)) continue;
    if (m.kind == MessageKind::kRecovered) {
      recovered = true;
      r.recovered = m.value;
      if (run_for) deadline = Clock::now() + *run_for;
    } else {
      ++r.acknowledged;
      r.max_acknowledged = std::max(r.max_acknowledged, m.value);
    }
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const bool expected_end = run_for ? (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
                                    : (WIFEXITED(status) && WEXITSTATUS(status) == 0);
  r.ok = recovered && expected_end && !(run_for && !killed);
  if (!r.ok) {
    std::fprintf(stderr, "crash test: child ended unexpectedly (status 0x%x, recovered=%d)\n", status,
                 recovered ? 1 : 0);
  }
  return r;
}

CycleConfig random_config(Rng& rng) {
  CycleConfig c;
  c.writer_thread = rng.below(3) != 0;
  c.submitters = 1 + static_cast<int>(rng.below(4));
  c.in_flight = 1 + static_cast<int>(rng.below(8));
  // Small segments cross segment rolls; the snapshot triggers make recovery start from snapshot + WAL.
  const std::uint64_t segments[] = {16 * 1024, 64 * 1024, 1 << 20};
  c.wal_segment_bytes = segments[rng.below(3)];
  const std::uint64_t auto_snapshots[] = {0, 32 * 1024, 256 * 1024};
  c.snapshot_every_wal_bytes = auto_snapshots[rng.below(3)];
  c.snapshot_every_steps = rng.below(3) == 0 ? static_cast<int>(50 + rng.below(200)) : 0;
  return c;
}

std::string make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  pattern += "/ecsdb-crash-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return {};
  return pattern;
}

int run(int argc, char** argv) {
  int cycles = kDefaultCycles;
  std::uint64_t seed = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  bool keep = false;
  if (const char* env = std::getenv("ECSDB_CRASH_CYCLES"); env != nullptr && *env != '\0') cycles = std::atoi(env);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--cycles" && i + 1 < argc) cycles = std::atoi(argv[++i]);
    else if (arg == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--keep") keep = true;
    else {
      std::fprintf(stderr, "usage: %s [--cycles N] [--seed S] [--keep]\n", argv[0]);
      return 2;
    }
  }
  const std::string dir = make_temp_dir();
  if (dir.empty()) {
    std::fprintf(stderr, "crash test: mkdtemp failed\n");
    return 1;
  }
  std::printf("crash test: seed %" PRIu64 ", %d cycles, data in %s\n", seed, cycles, dir.c_str());
  std::fflush(stdout);

  // Step 0 runs in a child too, so the parent never opens the database and stays single-threaded (fork
  // from a process with threads is unsafe).
  std::fflush(nullptr);
  const pid_t init = ::fork();
  if (init == 0) {
    initialize(dir);
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(init, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "crash test: initialisation failed\n");
    return 1;
  }

  Rng rng(seed);
  std::uint64_t max_acked = 0, acknowledged = 0, recovered = 0;
  bool ok = true;
  for (int cycle = 0; cycle < cycles && ok; ++cycle) {
    const CycleConfig c = random_config(rng);
    const auto run_for = std::chrono::microseconds(2000 + rng.below(100000));
    const CycleResult r = run_cycle(dir, seed, max_acked, c, run_for);
    ok = r.ok;
    if (!ok) {
      std::fprintf(stderr, "crash test: cycle %d failed (seed %" PRIu64 ", data kept in %s)\n", cycle, seed,
                   dir.c_str());
      break;
    }
    recovered = r.recovered;
    acknowledged += r.acknowledged;
    max_acked = std::max(max_acked, r.max_acknowledged);
  }
  if (ok) {
    // A last recovery, without writing, checks what the last kill left.
    const CycleResult r = run_cycle(dir, seed, max_acked, CycleConfig{}, std::nullopt);
    ok = r.ok;
    recovered = r.recovered;
  }
  std::printf("crash test: %s: cycles=%d acknowledged=%" PRIu64 " max_acknowledged_step=%" PRIu64
              " recovered_step=%" PRIu64 " lost=%s seed=%" PRIu64 "\n",
              ok ? "PASS" : "FAIL", cycles, acknowledged, max_acked, recovered,
              ok ? "0" : "see above", seed);
  if (ok && !keep) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace ecsdb::testing

int main(int argc, char** argv) { return ecsdb::testing::run(argc, argv); }
