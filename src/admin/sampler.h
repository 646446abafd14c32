// Once a second the admin server asks the backend for its services and hands them to the
// Sampler, which turns the cumulative counters into rates (requests/s and failures/s per server
// and in total), keeps the last few minutes of totals for the dashboard's chart, and builds the
// JSON snapshot that GET /api/events pushes to every client. One backend call per second
// however many dashboards are open; clocks are passed in, so tests need no sleeping.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "admin/admin_backend.h"

namespace modelgate::admin {

class Sampler {
 public:
  explicit Sampler(std::size_t history_points = 300) : capacity_(history_points) {}

  void record(std::chrono::steady_clock::time_point now, std::chrono::system_clock::time_point wall,
              const std::vector<ServiceInfo>& services, const StatusInfo& status);

  // {"time":..,"time_ms":..,"status":{..},"totals":{..},"services":[..with rps/eps..]};
  // "" before the first record().
  const std::string& snapshot_json() const { return snapshot_; }
  // {"interval_ms":1000,"points":[[unix_ms, requests/s, failures/s], ...]}, oldest first.
  std::string history_json() const;
  std::uint64_t sequence() const { return sequence_; }  // bumped by every record()

 private:
  struct Counters {
    std::uint64_t requests = 0;
    std::uint64_t failures = 0;
  };
  struct Point {
    std::int64_t unix_ms = 0;
    double rps = 0;
    double eps = 0;
  };

  std::size_t capacity_;
  std::map<std::string, Counters> previous_;  // by "service\nurl"
  std::optional<std::chrono::steady_clock::time_point> previous_at_;
  std::deque<Point> history_;
  std::string snapshot_;
  std::uint64_t sequence_ = 0;
};

}  // namespace modelgate::admin
