// Delta building — what the open transaction did, as the Delta that the log, subscribers and replicas
// receive (DESIGN.md §2.7), read from its undo log and the working version: entities created and
// destroyed; per table the rows inserted (with their bytes), updated (a changed-field mask and only those
// fields' bytes) and deleted; and, where "deletes in order, then inserts in order" would not reproduce the
// commit's dense row order, the row sequence that does (TableDelta::sequence). Changes nothing.
#pragma once

#include "ecsdb/delta.hpp"
#include "txn/working_version.hpp"

namespace ecsdb::detail {

// Appends the open transaction's changes to `d` (REQUIRES: `d` empty).
void build_delta(const WorkingVersion& working, Delta& d);

}  // namespace ecsdb::detail
