#include "txn/undo_log.hpp"

#include <cstring>

namespace ecsdb::detail {

std::size_t UndoLog::save_bytes(const void* p, std::size_t n) {
  const std::size_t at = arena_.size();
  arena_.resize(at + n);
  if (n != 0) std::memcpy(arena_.data() + at, p, n);
  return at;
}

std::size_t UndoLog::append_space(std::size_t n) {
  const std::size_t at = arena_.size();
  arena_.resize(at + n);
  return at;
}

}  // namespace ecsdb::detail
