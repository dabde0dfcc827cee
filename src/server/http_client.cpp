#include "server/http_client.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <chrono>
#include <optional>

namespace ecsdb::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;  // path + query
};

Result<Url> parse_url(std::string_view url) {
  Url u;
  if (url.starts_with("https://")) {
    u.tls = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    return invalid_argument("URL '" + std::string(url) + "' must start with http:// or https://");
  }
  const std::size_t slash = url.find('/');
  const std::string_view authority = url.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const std::size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    u.host = std::string(authority);
    u.port = u.tls ? "443" : "80";
  } else {
    u.host = std::string(authority.substr(0, colon));
    u.port = std::string(authority.substr(colon + 1));
  }
  if (u.host.empty()) return invalid_argument("URL '" + std::string(url) + "' has no host");
  return u;
}

void configure_tls(ssl::context& ctx, const ClientOptions& options) {
  if (!options.verify_tls) {
    ctx.set_verify_mode(ssl::verify_none);
    return;
  }
  ctx.set_verify_mode(ssl::verify_peer);
  if (!options.ca_file.empty()) ctx.load_verify_file(options.ca_file);
  else ctx.set_default_verify_paths();
}

template <typename Stream>
Result<ClientResponse> exchange(Stream& stream, const Url& u, std::string_view method, std::string_view body,
                                std::string_view content_type, const ClientOptions& options) {
  http::request<http::string_body> req{http::string_to_verb(method), u.target, 11};
  req.set(http::field::host, u.host);
  req.set(http::field::user_agent, "ecsdb-cli");
  if (!options.token.empty()) req.set(http::field::authorization, "Bearer " + options.token);
  if (!body.empty()) {
    req.set(http::field::content_type, content_type);
    req.body() = std::string(body);
  }
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1ull << 32);
  http::read(stream, buffer, parser);
  const auto& res = parser.get();
  return ClientResponse{res.result_int(), std::string(res[http::field::content_type]), res.body()};
}

}  // namespace

Result<ClientResponse> http_call(std::string_view method, std::string_view url, std::string_view body,
                                 std::string_view content_type, const ClientOptions& options) {
  ECSDB_ASSIGN_OR_RETURN(Url u, parse_url(url));
  try {
    net::io_context io;
    tcp::resolver resolver(io);
    const auto endpoints = resolver.resolve(u.host, u.port);
    if (u.tls) {
      ssl::context ctx(ssl::context::tls_client);
      configure_tls(ctx, options);
      beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
      SSL_set_tlsext_host_name(stream.native_handle(), u.host.c_str());
      if (options.verify_tls) stream.set_verify_callback(ssl::host_name_verification(u.host));
      beast::get_lowest_layer(stream).expires_after(std::chrono::milliseconds(options.timeout_ms));
      beast::get_lowest_layer(stream).connect(endpoints);
      stream.handshake(ssl::stream_base::client);
      return exchange(stream, u, method, body, content_type, options);
    }
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::milliseconds(options.timeout_ms));
    stream.connect(endpoints);
    return exchange(stream, u, method, body, content_type, options);
  } catch (const std::exception& e) {
    return Status(StatusCode::kIoError, std::string(method) + " " + std::string(url) + ": " + e.what());
  }
}

Status watch_stream(std::string_view url, const ClientOptions& options,
                    const std::function<bool(const std::string&)>& on_message) {
  ECSDB_ASSIGN_OR_RETURN(Url u, parse_url(url));
  auto run = [&](auto& ws) {
    ws.set_option(websocket::stream_base::decorator([&](websocket::request_type& req) {
      req.set(http::field::user_agent, "ecsdb-cli");
      if (!options.token.empty()) req.set(http::field::authorization, "Bearer " + options.token);
    }));
    websocket::response_type res;
    ws.handshake(res, u.host, u.target);
    beast::flat_buffer buffer;
    for (;;) {
      beast::error_code ec;
      ws.read(buffer, ec);
      if (ec == websocket::error::closed) return;
      if (ec) throw beast::system_error(ec);
      const std::string text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      if (!on_message(text)) {
        ws.close(websocket::close_code::normal, ec);
        return;
      }
    }
  };
  try {
    net::io_context io;
    tcp::resolver resolver(io);
    const auto endpoints = resolver.resolve(u.host, u.port);
    if (u.tls) {
      ssl::context ctx(ssl::context::tls_client);
      configure_tls(ctx, options);
      websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(io, ctx);
      SSL_set_tlsext_host_name(ws.next_layer().native_handle(), u.host.c_str());
      if (options.verify_tls) ws.next_layer().set_verify_callback(ssl::host_name_verification(u.host));
      beast::get_lowest_layer(ws).connect(endpoints);
      ws.next_layer().handshake(ssl::stream_base::client);
      run(ws);
    } else {
      websocket::stream<beast::tcp_stream> ws(io);
      beast::get_lowest_layer(ws).connect(endpoints);
      run(ws);
    }
  } catch (const beast::system_error& e) {
    if (e.code() == websocket::error::upgrade_declined) {
      return Status(StatusCode::kInvalidArgument, "watch " + std::string(url) + ": the server refused the stream (check the token and the table names)");
    }
    return Status(StatusCode::kIoError, "watch " + std::string(url) + ": " + e.code().message());
  } catch (const std::exception& e) {
    return Status(StatusCode::kIoError, "watch " + std::string(url) + ": " + e.what());
  }
  return Status::ok();
}

}  // namespace ecsdb::server
