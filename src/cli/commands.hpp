// The `ecsdb` tool's subcommands. Each add_*_command registers one CLI11 subcommand on `root`; when it
// runs, its callback stores the process exit code in `exit_code` (0 ok, 1 runtime error, 2 usage or
// validation error — DESIGN.md §5).
#pragma once

#include <CLI/CLI.hpp>

namespace ecsdb::cli {

void add_validate_command(CLI::App& root, int& exit_code);  // schema_commands.cpp
void add_codegen_command(CLI::App& root, int& exit_code);   // schema_commands.cpp
void add_bench_command(CLI::App& root, int& exit_code);     // bench_command.cpp
void add_demo_command(CLI::App& root, int& exit_code);      // demo_command.cpp
void add_inspect_command(CLI::App& root, int& exit_code);   // data_commands.cpp
void add_dump_command(CLI::App& root, int& exit_code);      // data_commands.cpp
void add_restore_command(CLI::App& root, int& exit_code);   // data_commands.cpp
void add_serve_command(CLI::App& root, int& exit_code);     // serve_command.cpp
void add_client_commands(CLI::App& root, int& exit_code);   // client_commands.cpp: get, tx, watch
void add_replica_command(CLI::App& root, int& exit_code);   // replica_command.cpp

}  // namespace ecsdb::cli
