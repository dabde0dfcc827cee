// ChangeSet — what a replication client that fell behind still has to be sent, as keys and field masks only:
// which entities were created or destroyed and which rows were inserted, deleted or had which fields
// changed since the version it was last sent. The values are not kept: they are read from a pinned view
// when the catch-up frame is built (state-based catch-up, DESIGN.md §2.8). Memory is therefore bounded by
// the rows and entities that changed (about 40 bytes each), whatever the number of versions, and folding a
// delta costs one hash update per changed row, where merging deltas (Delta::merge) copies their values.
// One client's; not thread-safe.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "ecsdb/database.hpp"

namespace ecsdb::replication {

class ChangeSet {
 public:
  // `tables`: by table id, the subscribed tables (their rows are tracked; entities always are).
  ChangeSet(const Schema& schema, std::vector<bool> tables);

  // Adds one published version's delta. REQUIRES: versions ascend.
  void fold(const Delta& d);
  bool empty() const noexcept { return version_ == 0; }
  std::uint64_t version() const noexcept { return version_; }  // newest version folded; 0 = none
  std::size_t bytes() const noexcept;
  void clear();

  // The delta that brings a client from the state it was last sent to `view`'s. REQUIRES: view.version() ==
  // version() (every change up to the view is folded, none after it), so the values read from the view are
  // exactly the state at that version.
  Delta build(const PinnedView& view) const;

 private:
  struct RowChange {
    bool existed;         // the client has the row (it was there before the first change folded)
    std::uint64_t mask;   // fields changed; every field when the row was (re)inserted
  };
  void insert(std::uint16_t table, std::uint64_t key);
  void remove(std::uint16_t table, std::uint64_t key);

  const Schema& schema_;
  std::vector<bool> tables_;
  std::vector<std::uint64_t> all_fields_;                      // by table id
  std::unordered_map<std::uint64_t, int> entities_;            // entity bits -> +1 created, -1 destroyed
  std::vector<std::unordered_map<std::uint64_t, RowChange>> rows_;  // by table id
  std::uint64_t version_ = 0;
};

}  // namespace ecsdb::replication
