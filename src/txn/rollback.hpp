// Rollback — takes the open transaction back: undoes the records of the working version's undo log,
// newest first, so that the version, its indexes, free lists and counters are exactly what they were at
// begin() (pages it copied stay copied: harmless). It cannot fail: each record's undo only puts back what
// its change took, in room the change left. Owner thread only.
#pragma once

#include "txn/working_version.hpp"

namespace ecsdb::detail {

// Undoes every record of `working`'s undo log, newest first; clearing the log is left to the caller.
void roll_back(WorkingVersion& working) noexcept;

}  // namespace ecsdb::detail
