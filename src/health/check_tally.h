// One server's active-check results turned into its verdict, without sockets or timers.
//
// HAProxy's and nginx's hysteresis: a healthy server that fails `fall` checks in a row is taken
// out, an unhealthy one that passes `rise` checks in a row comes back; one result of the other
// kind starts the count again. A passed check of a healthy server also ends its passive-health
// ejection when the service lets it (`passiveHealth.endOnActiveCheck`), at the tally's clock's
// time, which starts the quiet period that decays the ejection multiplier (outlier_detection.h).
// The probe loop in health_checker.cpp feeds it; tests feed it directly with a manual clock.
#pragma once

#include <string>
#include <string_view>

#include "balancing/server_state.h"
#include "config/config.h"
#include "net/clock.h"

namespace modelgate::health {

class CheckTally {
 public:
  enum class Change { none, up, down };

  explicit CheckTally(net::Clock clock = {}) : clock_(clock) {}

  // Counts one check of `server` (`failure` empty: it passed; else why it failed) and sets
  // server.healthy when the count reaches rise or fall. `service` only names it in the log.
  Change record(balancing::ServerState& server, const config::HealthCheck& settings, bool ends_ejection,
                std::string_view service, const std::string& failure);

  int successes() const { return successes_; }  // in a row
  int failures() const { return failures_; }    // in a row

 private:
  net::Clock clock_;
  int successes_ = 0;
  int failures_ = 0;
};

}  // namespace modelgate::health
