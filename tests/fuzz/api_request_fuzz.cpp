// Fuzz target: the body of POST /api/transactions (server/transaction_request.cpp) and the where-clauses
// of the read routes (server/predicate.cpp), as the network threads decode them. Input: one mode byte,
// then the text. Even mode: the text is a transaction body — JSON parsed with the server's depth limit,
// decoded into a plan, and a plan that decodes is applied to a fresh database in one transaction (what
// the writer runs). Odd mode: the text is a predicate, parsed against each table and matched on a row.
// Contract under test: bad input is an error value, never a crash, a sanitizer report or a half-checked
// operation reaching the writer (the writer's own checks may still refuse it, with a status).
#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "server/predicate.hpp"
#include "server/transaction_request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ecsdb;
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const Schema& schema = *fuzz::schema();
  if ((data[0] & 1) != 0) {
    for (const Table& t : schema.tables) {
      auto p = server::parse_predicate(schema, &t, text);
      if (!p) continue;
      std::vector<std::byte> row(t.stride() + 64, std::byte{0});
      (void)p->matches(row.data());
    }
    (void)server::parse_predicate(schema, nullptr, text);
    return 0;
  }
  boost::json::parse_options options;
  options.max_depth = 32;
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(text, ec, {}, options);
  if (ec) return 0;
  auto plan = server::decode_transaction(schema, body, 64);
  if (std::holds_alternative<server::ApiError>(plan)) return 0;
  static auto db = fuzz::fresh_database();
  Transaction txn = db->writer().begin();
  server::TransactionOutcome outcome;
  const Status s = server::apply_transaction(std::get<server::TransactionPlan>(plan), txn, outcome);
  if (!s.is_ok() && !outcome.error) __builtin_trap();  // a failure must say which op and why
  if (s.is_ok()) txn.commit().ignore();
  else txn.rollback();
  return 0;
}
