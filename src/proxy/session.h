// A client connection: read a request, route it, forward it, relay the answer, repeat.
#pragma once

#include <string>

#include "net/io.h"

namespace modelgate::proxy {

class Worker;

// `entry_point` must outlive the session (the worker's listener owns it).
net::Task<void> run_session(net::Socket socket, Worker& worker, const std::string& entry_point);

}  // namespace modelgate::proxy
