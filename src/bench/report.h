// What a `modelgate bench` run measured, summed over its requests, and the two ways it is shown:
// a table for people and one JSON object for scripts (bench/scheduling.py reads it).
//
// Percentiles are nearest-rank over the successful requests. Multi-turn runs also report TTFT over
// the turns after each conversation's first: a first turn's context is new to every server, so no
// placement can shorten it, and with few turns those requests alone set the overall p99. The prefix-cache hit rate is the
// fleet's: the sum of `cached_tokens` over the sum of `prompt_tokens` of the answers that
// reported usage, as vLLM and SGLang count it. The load ratio is the busiest server's request
// count over the idlest one's; a server of the fleet that got nothing makes it infinite (null in
// JSON), which is why the caller may say how many servers the fleet has.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/exchange.h"

namespace modelgate::bench {

struct RunInfo {
  std::string workload;
  std::string mode;        // "open" (Poisson arrivals) or "closed"
  double rate = 0;         // open loop: requests per second
  int concurrency = 0;     // closed loop: requests in flight
  std::size_t planned = 0; // requests in the workload
  int fleet_size = 0;      // servers expected to answer (0: those seen)
};

class Report {
 public:
  explicit Report(RunInfo info) : info_(std::move(info)) {}

  // `turn`: the request's place in its conversation (0: the first, or a single request).
  void add(const ExchangeResult& r, std::size_t turn = 0);
  void set_duration(double seconds) { duration_s_ = seconds; }

  std::size_t sent() const { return sent_; }
  std::size_t succeeded() const { return ttft_.size(); }
  std::string json() const;
  std::string table() const;

 private:
  struct Summary;
  Summary summarize() const;

  RunInfo info_;
  double duration_s_ = 0;
  std::size_t sent_ = 0;
  std::vector<double> ttft_, tpot_, e2e_;
  std::vector<double> ttft_later_;  // TTFT of turns after a conversation's first
  std::int64_t output_tokens_ = 0, prompt_tokens_ = 0, cached_tokens_ = 0;
  std::size_t with_usage_ = 0, with_cached_ = 0;
  std::map<std::string, std::size_t> servers_;
  std::map<std::string, std::size_t> errors_;
};

// The p-th percentile (0..100, nearest rank) of `values`, sorted in place; 0 when empty.
double percentile(std::vector<double>& values, double p);

}  // namespace modelgate::bench
