// tests/support/cli_runner.hpp — runs the real `ecsdb` binary for integration tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ecsdb::testing {

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Single-quotes `s` for /bin/sh, so paths with spaces or quotes reach the tool intact.
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `cli args...`; stdout is read through the pipe, stderr through a file in `scratch_dir` so the two
// stay apart.
inline CliRun run_cli(const std::string& cli, const std::vector<std::string>& args,
                      const std::filesystem::path& scratch_dir) {
  static int runs = 0;
  const std::filesystem::path err_file = scratch_dir / ("stderr_" + std::to_string(runs++) + ".txt");
  std::string command = shell_quote(cli);
  // Appended piecewise: g++ 12 warns falsely (-Wrestrict) on "literal" + std::string temporaries.
  for (const std::string& a : args) command.append(" ").append(shell_quote(a));
  command.append(" 2>").append(shell_quote(err_file.string()));

  CliRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen failed: " << command;
    return run;
  }
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) run.out.append(buf, n);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.err = read_text_file(err_file);
  return run;
}

}  // namespace ecsdb::testing
