// Names of the persistence files that carry a number: "wal-<20 digits>.log", "snap-<20 digits>.ecss".
// Twenty zero-padded digits make lexical order equal numeric order, so directory listings sort right.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace ecsdb::persist {

inline std::string numbered_file_name(std::string_view prefix, std::uint64_t n, std::string_view suffix) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(n));
  std::string name(prefix);
  name.append(digits).append(suffix);
  return name;
}

// The number in `name` when it is exactly prefix + 20 digits + suffix; 0 otherwise.
inline std::uint64_t parse_numbered_file_name(std::string_view name, std::string_view prefix,
                                              std::string_view suffix) {
  if (name.size() != prefix.size() + 20 + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix)) {
    return 0;
  }
  std::uint64_t v = 0;
  for (char c : name.substr(prefix.size(), 20)) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

}  // namespace ecsdb::persist
