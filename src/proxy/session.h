// A client connection: read a request, route it, forward it, relay the answer, repeat.
#pragma once

#include <string>

#include "proxy/io.h"

namespace modelgate::proxy {

class Worker;

// `entry_point` must outlive the session (the worker's listener owns it).
Task<void> run_session(Socket socket, Worker& worker, const std::string& entry_point);

}  // namespace modelgate::proxy
