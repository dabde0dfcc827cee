// CommitSink — where the writer sends each committed transaction before publishing it: the seam between
// the transaction engine (txn) and durability (persist, which implements it with the write-ahead log).
// The writer never waits for the disk here; durability is reported asynchronously.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ecsdb/delta.hpp"
#include "ecsdb/options.hpp"
#include "ecsdb/status.hpp"

namespace ecsdb::detail {

struct QueuedTransaction;

class CommitSink {
 public:
  virtual ~CommitSink() = default;
  // Writer thread, at commit, before the version is published: records the transaction `delta` as log
  // sequence number `lsn`, to become visible as `version`. Must not block on I/O. A non-ok Status means
  // the log cannot accept commits (a previous fsync failed): the writer rolls the transaction back.
  virtual Status append(const Delta& delta, std::uint64_t lsn, std::uint64_t version) = 0;
  // Writer thread, after publishing: resolve these queued transactions (all with LSN <= `lsn`) once
  // `lsn` is durable — or at once, when the durability mode does not wait for the disk.
  virtual void resolve_when_durable(std::uint64_t lsn, std::uint64_t version,
                                    std::vector<std::shared_ptr<QueuedTransaction>>&& tickets) = 0;
  // Any thread: blocks until `lsn` is durable, or returns the I/O error that prevents it.
  virtual Status wait_durable(std::uint64_t lsn) = 0;
  // Highest LSN known durable.
  virtual std::uint64_t durable_lsn() const noexcept = 0;
  // Version of the record at durable_lsn() (0 when none).
  virtual std::uint64_t durable_record_version() const noexcept = 0;
  // Any thread: adds the log's figures (bytes, syncs, snapshot times) to `m`.
  virtual void fill_metrics(DatabaseMetrics& m) const { (void)m; }
};

// Resolves a queued transaction's ticket (release-publishes status and version, wakes waiters).
void resolve_ticket(QueuedTransaction& q, Status status, std::uint64_t version);

}  // namespace ecsdb::detail
