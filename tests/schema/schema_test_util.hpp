// Helpers shared by the schema tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ecsdb/schema.hpp"

namespace ecsdb::testing {

// A [database] header of exactly 3 lines: a body's line 1 is the file's line 4.
inline std::string with_database(std::string_view body) {
  return "[database]\nname = \"db\"\nversion = \"1\"\n" + std::string(body);
}

inline std::shared_ptr<const Schema> parse_ok(std::string_view text) {
  std::vector<SchemaDiagnostic> diagnostics;
  auto result = parse_schema(text, "test.toml", &diagnostics);
  EXPECT_TRUE(result.has_value()) << result.status().to_string();
  return result.has_value() ? *result : nullptr;
}

inline std::vector<SchemaDiagnostic> parse_errors(std::string_view text) {
  std::vector<SchemaDiagnostic> diagnostics;
  auto result = parse_schema(text, "test.toml", &diagnostics);
  EXPECT_FALSE(result.has_value());
  if (!result.has_value()) {
    EXPECT_EQ(result.status().code(), StatusCode::kSchemaError);
  }
  return diagnostics;
}

inline std::string source_dir() { return ECSDB_SOURCE_DIR; }

}  // namespace ecsdb::testing
