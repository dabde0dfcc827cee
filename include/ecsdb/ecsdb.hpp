// ecsdb/ecsdb.hpp — the whole public API in one include: every header of include/ecsdb/ (detail/ aside).
//
// One header per concept, each opening with its contract (what, ownership, threads, how long a zero-copy
// reference stays valid):
//   database.hpp       Database: open, pin, writer, submit, subscribe, snapshot, flush, metadata
//   options.hpp        DatabaseOptions, DatabaseMetrics, Durability, WalRetention
//   pinned_view.hpp    PinnedView (get, each, query, dynamic reads, referencing), Reference
//   read_set.hpp       ReadSet: rows read from a view, validated before an optimistic transaction
//   transaction.hpp    Transaction: all-or-nothing writes, constraints checked at commit
//   writer_handle.hpp  WriterHandle: the owner thread's writer, implicit single-operation transactions
//   commit_ticket.hpp  CommitTicket, TransactionBody: transactions submitted from any thread
//   subscription.hpp   Subscription: committed changes pushed to other threads
//   delta.hpp          Delta: what a commit changed, as data
//   schema.hpp         Schema: the TOML schema, validated and laid out
//   bind.hpp           ECSDB_COMPONENT / ECSDB_STRUCT: C++ structs bound to tables
//   entity.hpp         Entity, RowId
//   value.hpp          Value, Row: dynamically typed fields
//   file_system.hpp    FileSystem: the seam all persistence I/O goes through
//   status.hpp         Status, Result<T>: the one error idiom
#pragma once

#include "ecsdb/bind.hpp"
#include "ecsdb/commit_ticket.hpp"
#include "ecsdb/database.hpp"
#include "ecsdb/delta.hpp"
#include "ecsdb/entity.hpp"
#include "ecsdb/file_system.hpp"
#include "ecsdb/options.hpp"
#include "ecsdb/pinned_view.hpp"
#include "ecsdb/read_set.hpp"
#include "ecsdb/schema.hpp"
#include "ecsdb/status.hpp"
#include "ecsdb/subscription.hpp"
#include "ecsdb/transaction.hpp"
#include "ecsdb/value.hpp"
#include "ecsdb/writer_handle.hpp"
