#include "txn/writer_core.hpp"

#include <exception>
#include <string>

#include "ecsdb/transaction.hpp"

namespace ecsdb::detail {

WriterCore::WriterCore(std::shared_ptr<const Schema> schema, const DatabaseOptions& options)
    : TransactionWriter(std::move(schema), options),
      pipeline_(*this, options, [this](TransactionBody& body) { return run_queued(body); }) {}

WriterCore::~WriterCore() {
  // The writer thread stops, and transactions still queued are told they will never run, before
  // anything of the writer goes away.
  pipeline_.stop_thread();
  pipeline_.abort_queued();
}

void WriterCore::fill_queue_metrics(DatabaseMetrics& m) const {
  pipeline_.fill_metrics(m);
  m.pages_copied_per_publish_mean = pages_copied_per_publish_mean();
}

Status WriterCore::run_queued(TransactionBody& body) {
  if (Status b = begin(); !b.is_ok()) return b;
  Transaction t(this, db_);
  Status s;
  try {
    s = body(t);
  } catch (const std::exception& e) {
    s = Status(StatusCode::kAborted, std::string("transaction body threw: ") + e.what());
  } catch (...) {
    s = Status(StatusCode::kAborted, "transaction body threw a non-standard exception");
  }
  if (s.is_ok()) {
    if (t.active()) s = t.commit();
  } else {
    t.rollback();
  }
  return s;
}

}  // namespace ecsdb::detail
