// TEMPORARY stub (schema engineer): lets ecsdb_cli build before the demo exists. To be overwritten.
#include <iostream>

#include "cli/commands.hpp"

namespace ecsdb::cli {

void add_demo_command(CLI::App& root, int& exit_code) {
  CLI::App* cmd = root.add_subcommand("demo", "Run the demo (not yet implemented)");
  cmd->allow_extras();
  cmd->callback([&exit_code] {
    std::cerr << "ecsdb demo: not yet\n";
    exit_code = 1;
  });
}

}  // namespace ecsdb::cli
