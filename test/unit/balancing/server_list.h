// A pool of n alike servers (weight 1, 127.0.0.1:10000 + i), for tests and the pick benchmark.
#pragma once

#include <memory>
#include <string>

#include "balancing/balancer.h"

namespace modelgate::test {

inline balancing::ServerList alike_servers(int n) {
  balancing::ServerList list;
  for (int i = 0; i < n; ++i) {
    config::Server s;
    s.host = "127.0.0.1";
    s.port = static_cast<std::uint16_t>(10000 + i);
    s.url = "http://127.0.0.1:" + std::to_string(s.port);
    list.push_back(std::make_shared<balancing::ServerState>(s));
  }
  return list;
}

}  // namespace modelgate::test
