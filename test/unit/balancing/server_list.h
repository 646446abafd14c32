// Pools of servers for the balancing tests and the pick benchmark.
#pragma once

#include <memory>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "balancing/balancer.h"

namespace modelgate::test {

// n alike servers (weight 1, 127.0.0.1:10000 + i).
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

// Every index of a pool of n servers, ascending: the candidates when all may be chosen.
inline std::vector<std::uint32_t> all(std::size_t n) {
  std::vector<std::uint32_t> c(n);
  for (std::uint32_t i = 0; i < n; ++i) c[i] = i;
  return c;
}

}  // namespace modelgate::test
