#include "admin/sampler.h"

#include <algorithm>
#include <map>

#include "admin/api_json.h"
#include "admin/json_writer.h"

namespace modelgate::admin {

namespace {

// A counter that went backwards belongs to a new server state (removed and added again):
// count from zero rather than report a negative rate.
double rate(std::uint64_t now, std::uint64_t before, double seconds) {
  if (seconds <= 0 || now < before) return 0;
  return static_cast<double>(now - before) / seconds;
}

}  // namespace

void Sampler::record(std::chrono::steady_clock::time_point now,
                     std::chrono::system_clock::time_point wall,
                     const std::vector<ServiceInfo>& services, const StatusInfo& status) {
  const double seconds =
      previous_at_ ? std::chrono::duration<double>(now - *previous_at_).count() : 0.0;

  std::map<std::string, Counters> current;
  std::vector<std::vector<ServerRates>> rates(services.size());
  double total_rps = 0, total_eps = 0;
  std::uint64_t requests = 0, failures = 0;
  std::int64_t inflight = 0;
  // A URL in several services is one machine: counted once, in its most alarming state.
  std::map<std::string_view, int> machines;  // url -> severity: 0 up, 1 draining, 2 ejected, 3 down

  for (std::size_t i = 0; i < services.size(); ++i) {
    for (const auto& server : services[i].servers) {
      std::string key = services[i].name + '\n' + server.url;
      ServerRates r;
      if (auto it = previous_.find(key); it != previous_.end()) {
        r.rps = rate(server.requests, it->second.requests, seconds);
        r.eps = rate(server.failures, it->second.failures, seconds);
      }
      rates[i].push_back(r);
      current[std::move(key)] = {server.requests, server.failures};
      total_rps += r.rps;
      total_eps += r.eps;
      requests += server.requests;
      failures += server.failures;
      inflight += server.inflight;
      const auto state = server_state(server);
      const int severity = state == "down" ? 3 : state == "ejected" ? 2 : state == "draining" ? 1 : 0;
      auto [it, fresh] = machines.try_emplace(server.url, severity);
      if (!fresh) it->second = std::max(it->second, severity);
    }
  }
  const int servers = static_cast<int>(machines.size());
  int up = 0, down = 0, ejected = 0, draining = 0;
  for (const auto& [_, severity] : machines) {
    up += severity == 0;
    draining += severity == 1;
    ejected += severity == 2;
    down += severity == 3;
  }
  previous_ = std::move(current);
  previous_at_ = now;

  const auto unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count();
  history_.push_back({unix_ms, total_rps, total_eps});
  while (history_.size() > capacity_) history_.pop_front();

  JsonWriter w;
  w.begin_object().field("time", utc_text(wall)).field("time_ms", std::int64_t{unix_ms});
  w.key("status");
  write_status(w, status);
  w.key("totals")
      .begin_object()
      .field("requests", requests)
      .field("failures", failures)
      .field("inflight", inflight)
      .field("rps", total_rps)
      .field("eps", total_eps)
      .field("servers", servers)
      .field("servers_up", up)
      .field("servers_down", down)
      .field("servers_ejected", ejected)
      .field("servers_draining", draining)
      .end_object();
  w.key("services").begin_array();
  for (std::size_t i = 0; i < services.size(); ++i) write_service(w, services[i], &rates[i]);
  w.end_array().end_object();
  snapshot_ = w.take();
  ++sequence_;
}

std::string Sampler::history_json() const {
  JsonWriter w;
  w.begin_object().field("interval_ms", 1000).key("points").begin_array();
  for (const auto& p : history_) {
    w.begin_array().value(p.unix_ms).value(p.rps).value(p.eps).end_array();
  }
  w.end_array().end_object();
  return w.take();
}

}  // namespace modelgate::admin
