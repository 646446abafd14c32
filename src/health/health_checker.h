// Active health checks: every server of a service with `healthCheck` is asked `GET <basePath><path>`
// every `interval` (a server of a TCP service without `path` is only connected to, and sent a
// PROXY v2 LOCAL header when its service speaks PROXY protocol: docs/tcp.md), and its ServerState::healthy follows the answers with hysteresis, as in HAProxy
// and nginx: a healthy server that fails `fall` checks in a row is taken out, an unhealthy one
// that passes `rise` checks in a row comes back. A check passes on a complete response whose status
// is `expectStatus` (any 2xx/3xx when it is 0); a refused connection, a timeout or another status
// fails it. Servers start healthy, so traffic flows before the first answer, and the first check
// runs at once, so a dead server is found after `fall - 1` intervals, not `fall`. A passed check
// of a healthy server also ends its passive-health ejection, unless the service sets
// `passiveHealth.endOnActiveCheck: false` (see outlier_detection.h).
//
// Threading: everything runs on the control-plane io_context given to the constructor. update()
// and stop() may be called from any thread; they post their work to that io_context, so a change
// takes effect once it runs there. Each server's probe is a coroutine that owns (through a
// shared_ptr) only its own Probe record and never touches the HealthChecker, which may therefore be
// destroyed while probes are still unwinding. A probe is stopped by a flag it checks after every
// await, plus a cancellation signal that aborts the wait or the request in flight.
//
// Counting results into a verdict is CheckTally's (check_tally.h), tested without sockets; the
// times it stamps (the end of an ejection) and the start of each interval come from the clock
// given to the constructor.
#pragma once

#include <cstddef>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "net/clock.h"
#include "runtime/snapshot.h"

namespace modelgate::health {

class HealthChecker {
 public:
  // `io` must outlive this object and run for the probes to run.
  explicit HealthChecker(boost::asio::io_context& io, net::Clock clock = {});
  ~HealthChecker();  // stop()
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Reconciles the probes with a (new) snapshot: a ServerState already probed keeps its probe and
  // its counters, with the new settings (a changed setting triggers a check at once); new servers
  // get a probe; probes of servers gone, or of services whose healthCheck was removed, stop.
  // Servers of services without healthCheck are marked healthy.
  void update(std::shared_ptr<const runtime::Snapshot> snapshot);
  // Stops every probe (servers keep their last verdict). Later update() calls are ignored.
  void stop();

  // Probes running after the last update() that has been applied (for tests and the admin API).
  std::size_t probe_count() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace modelgate::health
