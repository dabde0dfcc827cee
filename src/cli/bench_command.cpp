// TEMPORARY stub (schema engineer): lets ecsdb_cli build before the bench suites exist. To be overwritten.
#include <iostream>

#include "cli/commands.hpp"

namespace ecsdb::cli {

void add_bench_command(CLI::App& root, int& exit_code) {
  CLI::App* cmd = root.add_subcommand("bench", "Run a benchmark suite (not yet implemented)");
  cmd->allow_extras();
  cmd->callback([&exit_code] {
    std::cerr << "ecsdb bench: not yet\n";
    exit_code = 1;
  });
}

}  // namespace ecsdb::cli
