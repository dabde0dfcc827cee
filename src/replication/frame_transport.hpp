// FrameTransport — how a replication session reaches its client: a TCP socket (the replication listener,
// replication_server.cpp) or a WebSocket on the HTTP server (`/api/replication`, server/http_server.cpp),
// where each binary message carries one frame. The session sees bytes in and frames out, whichever it is.
// Every handler runs on executor(), a strand: the session's state needs no lock.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/error_code.hpp>

namespace ecsdb::replication {

class FrameTransport {
 public:
  using ReadHandler = std::function<void(boost::system::error_code, std::span<const std::byte>)>;
  using WriteHandler = std::function<void(boost::system::error_code, std::size_t)>;

  virtual ~FrameTransport() = default;
  virtual boost::asio::any_io_executor executor() = 0;
  // The next bytes from the client (a WebSocket message, or what a TCP read returned); one read at a time.
  virtual void read(ReadHandler handler) = 0;
  // One whole frame; one write at a time. `frame` stays alive until the handler runs.
  virtual void write(std::shared_ptr<const std::string> frame, WriteHandler handler) = 0;
  // Ends the connection (the last write has completed).
  virtual void close() = 0;
  virtual std::string remote() const = 0;
  virtual const char* kind() const = 0;  // "tcp" or "websocket", for logs
};

}  // namespace ecsdb::replication
