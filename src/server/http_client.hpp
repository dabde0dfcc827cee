// A small blocking client of the server's API for the CLI (`ecsdb get`, `ecsdb tx`, `ecsdb watch`) and the
// server benchmark: HTTP/1.1 over TCP or TLS, and the WebSocket change stream.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "ecsdb/status.hpp"

namespace ecsdb::server {

struct ClientOptions {
  std::string token;          // bearer token; empty = none
  std::string ca_file;        // https: trust this PEM file (else the system's store)
  bool verify_tls = true;     // https: check the certificate (off for self-signed test servers)
  std::uint32_t timeout_ms = 30000;
};

struct ClientResponse {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

// `url` is http[s]://HOST:PORT/PATH[?QUERY]. Errors (connection, TLS, timeout) name the URL.
Result<ClientResponse> http_call(std::string_view method, std::string_view url, std::string_view body,
                                 std::string_view content_type, const ClientOptions& options);

// Connects the change stream at `url` (ws path and query included, http[s] scheme) and calls
// on_message(text) for each message until it returns false or the server closes.
Status watch_stream(std::string_view url, const ClientOptions& options,
                    const std::function<bool(const std::string&)>& on_message);

}  // namespace ecsdb::server
