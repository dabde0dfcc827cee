// `ecsdb serve`: the HTTP/JSON API, change stream and metrics over a database (docs/server.md). Options
// come from defaults < --config FILE < ECSDB_* environment < flags; every option is also a flag
// (--max-body-bytes for max_body_bytes).
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "cli/commands.hpp"
#include "server/api.hpp"
#include "server/http_server.hpp"
#include "server/serve.hpp"
#include "server/server_config.hpp"

extern char** environ;

namespace ecsdb::cli {

namespace {

struct ServeArgs {
  std::string config_file;
  std::map<std::string, std::string> flags;  // option name -> value, for the flags given
  bool list_routes = false;
  bool print_config = false;
  std::string hash_token;
};

std::string flag_name(const std::string& option) {
  std::string f = "--" + option;
  for (char& c : f) c = c == '_' ? '-' : c;
  return f;
}

int run_serve(const ServeArgs& args) {
  if (args.list_routes) {
    for (const server::Route& r : server::api_routes()) std::printf("%s %s\n", r.method.c_str(), r.path.c_str());
    return 0;
  }
  if (!args.hash_token.empty()) {
    std::printf("%s\n", server::sha256_hex(args.hash_token).c_str());
    return 0;
  }
  server::ServerConfig config;
  if (!args.config_file.empty()) {
    if (Status s = server::load_config_file(args.config_file, config); !s.is_ok()) {
      std::fprintf(stderr, "ecsdb serve: %s\n", s.message().c_str());
      return 2;
    }
  }
  if (Status s = server::apply_environment(environ, config); !s.is_ok()) {
    std::fprintf(stderr, "ecsdb serve: %s\n", s.message().c_str());
    return 2;
  }
  for (const server::OptionInfo& o : server::server_options()) {
    auto it = args.flags.find(o.name);
    if (it == args.flags.end()) continue;
    if (Status s = o.set(config, it->second); !s.is_ok()) {
      std::fprintf(stderr, "ecsdb serve: %s: %s\n", flag_name(o.name).c_str(), s.message().c_str());
      return 2;
    }
  }
  if (args.print_config) {
    std::fputs(server::describe_config(config).c_str(), stdout);
    return 0;
  }
  if (Status s = server::validate_config(config); !s.is_ok()) {
    std::fprintf(stderr, "ecsdb serve: %s\n", s.message().c_str());
    return 2;
  }
  return server::serve(config);
}

}  // namespace

void add_serve_command(CLI::App& root, int& exit_code) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = root.add_subcommand("serve", "Serve a database over HTTP/JSON, a WebSocket change stream and /metrics");
  cmd->add_option("--config", args->config_file, "TOML file of options (see --print-config)")->check(CLI::ExistingFile);
  for (const server::OptionInfo& o : server::server_options()) {
    const std::string name = o.name;
    const std::string by_default = o.get(server::ServerConfig{});
    if (by_default == "false") {
      cmd->add_flag_callback(flag_name(name), [args, name] { args->flags[name] = "true"; }, o.help);
    } else if (by_default == "true") {
      // On by default: the flag turns it off (--no-repl-compression); config and environment set either way.
      cmd->add_flag_callback("--no-" + flag_name(name).substr(2), [args, name] { args->flags[name] = "false"; },
                             "turn off: " + o.help);
    } else {
      cmd->add_option_function<std::string>(flag_name(name), [args, name](const std::string& v) { args->flags[name] = v; }, o.help);
    }
  }
  cmd->add_flag("--list-routes", args->list_routes, "Print the served routes (METHOD PATH) and exit");
  cmd->add_flag("--print-config", args->print_config, "Print the effective options and exit");
  cmd->add_option("--hash-token", args->hash_token, "Print the SHA-256 of a token (for sha256 = in [[tokens]]) and exit");
  cmd->callback([args, &exit_code] { exit_code = run_serve(*args); });
}

}  // namespace ecsdb::cli
