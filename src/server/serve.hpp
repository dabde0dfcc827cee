// `ecsdb serve` from start to exit: logs, bind (health answers "starting"), open or recover the database,
// writer thread, change stream, then wait for SIGINT/SIGTERM and shut down gracefully (docs/server.md,
// "Shutdown"). Returns the process exit code: 0 after a clean shutdown, 1 on a runtime error, 2 on bad
// configuration or schema.
#pragma once

#include "server/server_config.hpp"

namespace ecsdb::server {

int serve(const ServerConfig& config);

// Sets up spdlog from log_level and log_format (text: "[time] [level] message"; json: one object per line).
void configure_logging(const ServerConfig& config);

}  // namespace ecsdb::server
