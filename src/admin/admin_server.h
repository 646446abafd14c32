// The admin HTTP server: the JSON API of api.h, GET /api/events (Server-Sent Events) and the
// embedded dashboard, on its own address (admin.address, 127.0.0.1:9090 by default).
//
// Everything runs on one strand of the io_context it is given: accepting, every connection, and
// the once-a-second sampler that feeds /api/events and the dashboard's chart. The backend is
// therefore never called concurrently by the admin server. The admin API carries little traffic
// and must never compete with the data plane, so the caller runs it on its own io_context and
// thread, not on a worker's.
//
// Why SSE rather than polling: one sampler call per second serves any number of open
// dashboards, every client sees the same sample (rates are computed once, server-side, from
// counters the browser never has to difference), and a dead gateway is noticed by the browser
// as a dropped stream at once. EventSource reconnects by itself (`retry: 2000`).
//
// Lifetime: stop() (also run by the destructor) closes the listener and every connection. The
// backend must outlive the io_context's processing of that stop: stop(), then stop/join the
// io_context's thread, then destroy the backend.
#pragma once

#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "admin/admin_backend.h"
#include "config/config.h"

namespace modelgate::admin {

namespace detail {
struct AdminState;
}

class AdminServer {
 public:
  AdminServer(boost::asio::io_context& io, const config::Admin& admin, AdminBackend& backend);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds admin.host:admin.port and starts accepting and sampling. Throws std::runtime_error
  // naming the address and the fix (admin.address) when it cannot listen. `inherited`: a socket
  // already listening there (a binary upgrade hands it over), used instead of binding.
  void start(int inherited = -1);
  std::uint16_t port() const;  // the bound port (admin.port may be 0: any free port)
  int native_handle() const;   // the listening socket, -1 before start() and after stop()
  // Thread-safe and idempotent: stops accepting, closes every connection, stops sampling.
  void stop();

 private:
  std::shared_ptr<detail::AdminState> state_;
  int fd_ = -1;  // the listener, written by start() before any other thread asks for it
};

}  // namespace modelgate::admin
