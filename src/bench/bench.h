// `modelgate bench`: a load client for the scheduling workloads (bench/workload.h) against one
// OpenAI-compatible endpoint — the gateway, or a single server. It knows nothing of the proxy: it
// speaks HTTP to whatever listens at --url. Several comma-separated URLs (gateways in front of the
// same fleet) take the requests in turn, one each, as DNS round robin or a virtual IP spreads
// connections (every request opens its own): a conversation's turns alternate between them.
//
// Open loop (--rate > 0): scripts start at Poisson arrival times, whether or not earlier answers
// have come back, as users do; for multi-turn the conversations start at rate / turns per second
// so that requests arrive at about `rate` once conversations overlap. Closed loop (--rate 0):
// `concurrency` users each run one script after another. Either way the run is bounded by a
// number of requests and by seconds: no request starts after the deadline, and each one that has
// started is allowed its timeout.
#pragma once

#include <cstddef>
#include <string>

#include "bench/workload.h"

namespace modelgate::bench {

struct BenchOptions {
  std::string url = "http://127.0.0.1:8080";  // or several, comma-separated: each request the next
  std::string model = "Qwen2.5-0.5B-Instruct";
  WorkloadOptions workload;
  double rate = 4;              // open loop: requests per second; 0: closed loop
  int concurrency = 8;          // closed loop: requests in flight
  std::size_t max_requests = 0; // 0: the whole workload
  double duration_s = 120;      // no request starts later than this
  int timeout_s = 120;          // per request
  std::string session_header = "X-Session-ID";  // carries the group or conversation ("": none)
  int source_addresses = 0;     // >0: each session connects from one of 127.0.0.2..N+1 (ip_hash)
  int fleet_size = 0;           // servers behind --url, for the load ratio (0: those that answered)
  std::string json_path;        // write the JSON report here ("-": stdout instead of the table)
};

// Runs the workload and prints the report. Exit status: 0 when every request succeeded, 1 when
// some failed, 2 when the options are unusable (with a message saying what to change).
int run(const BenchOptions& options);

}  // namespace modelgate::bench
