// A connection accepted on a TCP entry point (docs/tcp.md): read the TLS server name when a route
// needs it, choose a router and a server, connect, say who the client is (PROXY protocol v2) when
// the service asks, then relay (tcp_relay.h).
#pragma once

#include <string>

#include "net/io.h"

namespace modelgate::proxy {

class Worker;

// `entry_point` must outlive the session (the worker's listener owns it).
net::Task<void> run_tcp_session(net::Socket socket, Worker& worker, const std::string& entry_point);

}  // namespace modelgate::proxy
