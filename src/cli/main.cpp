// ecsdb — the command-line tool: validate and codegen schemas, inspect/dump/restore data directories, run the
// demo and the benchmark suites, serve a database over HTTP (serve) and talk to a server (get, tx, watch).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "cli/commands.hpp"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"ecsdb — an embedded, transactional, in-memory database for ECS game engines"};
  app.require_subcommand(1);
  int exit_code = 0;
  ecsdb::cli::add_validate_command(app, exit_code);
  ecsdb::cli::add_codegen_command(app, exit_code);
  ecsdb::cli::add_bench_command(app, exit_code);
  ecsdb::cli::add_demo_command(app, exit_code);
  ecsdb::cli::add_inspect_command(app, exit_code);
  ecsdb::cli::add_dump_command(app, exit_code);
  ecsdb::cli::add_restore_command(app, exit_code);
  ecsdb::cli::add_serve_command(app, exit_code);
  ecsdb::cli::add_client_commands(app, exit_code);
  ecsdb::cli::add_replica_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // e.g. out of memory in a command: a message and exit 1, not abort
    std::fprintf(stderr, "ecsdb: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "ecsdb: unexpected exception\n");
  }
  return 1;
}
