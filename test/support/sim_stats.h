// A sim's own counters (GET /admin/stats): requests, completed, aborted, inflight, queued,
// max_inflight, connections. -1 when the sim does not answer or has no such counter.
#pragma once

#include <cstdint>
#include <regex>
#include <string>

#include "support/http_client.h"

namespace modelgate::test {

// Reads the counters over one kept-alive connection, so that reading them adds 1 to the sim's
// `connections` once, not once per read: a test can count the connections others made (one per
// health check or discovery poll, which close theirs).
class SimStats {
 public:
  explicit SimStats(std::uint16_t port) : client_("127.0.0.1", port, std::chrono::seconds(3)) {}
  std::int64_t operator()(const std::string& name) {
    auto r = client_.get("/admin/stats");
    std::smatch m;
    if (r.status != 200 || !std::regex_search(r.body, m, std::regex("\"" + name + "\":(-?\\d+)"))) return -1;
    return std::stoll(m[1]);
  }

 private:
  HttpClient client_;
};

// One counter, read on a connection of its own.
inline std::int64_t sim_stat(std::uint16_t port, const std::string& name) { return SimStats(port)(name); }

}  // namespace modelgate::test
