// ChangeSet — what a replication client still has to be sent, as keys and field masks only: which
// entities were created or destroyed and which rows were inserted, deleted or had which fields changed
// since the version it was last sent. The values are not kept: they are read from a pinned view when the
// frame is built (state-based catch-up, DESIGN.md §2.8). Memory is therefore bounded by the rows and
// entities that changed (about 40 bytes each), whatever the number of versions, and folding a delta costs
// one hash update per changed row, where merging deltas (Delta::merge) copies their values.
//
// It also carries the client's subscription filters (row_filter.hpp). For a filtered table it keeps the
// keys the client holds, so that a row that starts matching is sent as an insert (the whole row, from the
// view) and one that stops matching as a delete. A subscription changed on a live connection is staged
// (resubscribe) and sent by the next build() as the difference between what the client holds and what the
// new subscription selects, together with whatever changed meanwhile.
// One client's; not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ecsdb/database.hpp"
#include "replication/row_filter.hpp"

namespace ecsdb::replication {

class ChangeSet {
 public:
  // `tables`: by table id, the subscribed tables (their rows are tracked; entities always are).
  ChangeSet(const Schema& schema, std::vector<bool> tables, TableFilters filters = {});

  // Adds one published version's delta. REQUIRES: versions ascend.
  void fold(const Delta& d);
  bool empty() const noexcept { return version_ == 0; }        // no version folded
  std::uint64_t version() const noexcept { return version_; }  // newest version folded; 0 = none
  bool has_frame() const noexcept { return version_ != 0 || next_.has_value(); }
  std::size_t bytes() const noexcept;
  void clear();  // the changes, not the subscription or the held rows

  // ---- filters ----
  bool filtered() const noexcept { return filters_.any(); }
  bool filtered(std::uint16_t table) const noexcept { return filters_.filtered(table); }
  bool admits(std::uint16_t table, Entity entity, const std::byte* row) const { return filters_.admits(table, entity, row); }
  void hold(std::uint16_t table, std::uint64_t key) { held_[table].insert(key); }
  // A full sync starts: the staged subscription, if any, takes effect now, and the client will hold what
  // the sync sends.
  void start_sync();

  // A new subscription, sent by the next build() as a difference. REQUIRES: every version the client was
  // not sent yet is folded (the session folds its queue first).
  void resubscribe(std::vector<bool> tables, TableFilters filters);
  bool resubscribing() const noexcept { return next_.has_value(); }

  // The delta that brings a client from the state it was last sent to `view`'s, under the new
  // subscription when one is staged (which then takes effect). REQUIRES: view.version() == version(), or
  // nothing folded and the view is at the version the client was last sent (a subscription change alone),
  // so the values read from the view are exactly the state at that version.
  Delta build(const PinnedView& view);

 private:
  struct RowChange {
    bool existed;         // the row was there before the first change folded
    std::uint64_t mask;   // fields changed; every field when the row was (re)inserted
  };
  struct Next {
    std::vector<bool> tables;
    TableFilters filters;
  };
  void adopt_next();  // the staged subscription, if any, becomes the one in force
  void insert(std::uint16_t table, std::uint64_t key);
  void remove(std::uint16_t table, std::uint64_t key);
  void build_table(const Table& table, const detail::VersionState& s, bool full_scan, Delta& d);

  const Schema& schema_;
  std::vector<bool> subscribed_;  // by table id
  std::vector<bool> tracked_;     // subscribed now or after the staged change: whose rows are folded
  TableFilters filters_;
  std::optional<Next> next_;
  std::vector<std::uint64_t> all_fields_;                      // by table id
  std::unordered_map<std::uint64_t, int> entities_;            // entity bits -> +1 created, -1 destroyed
  std::vector<std::unordered_map<std::uint64_t, RowChange>> rows_;  // by table id
  std::vector<std::unordered_set<std::uint64_t>> held_;        // by table id: filtered tables' rows the client holds
  std::uint64_t version_ = 0;
};

}  // namespace ecsdb::replication
