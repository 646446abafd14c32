// A client connection: read a request, route it, forward it, relay the answer, repeat.
#pragma once

#include "proxy/asio.h"

namespace modelgate::proxy {

class Worker;

awaitable<void> run_session(tcp::socket socket, Worker& worker, std::string entry_point);

}  // namespace modelgate::proxy
