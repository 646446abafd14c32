// Telling the service manager what the gateway is doing (sd_notify(3), systemd's Type=notify):
// READY=1 once every listener is bound and the configuration is loaded, RELOADING=1 and READY=1
// around a reload (with MONOTONIC_USEC, which Type=notify-reload of systemd 253 and later wants),
// STOPPING=1 on shutdown, MAINPID= when a binary upgrade hands the service to a new process, and a
// STATUS= line for `systemctl status`. Without NOTIFY_SOCKET (not run by systemd) every call is a
// no-op. The variable is left in the environment so the process of a binary upgrade can notify too.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace modelgate::control::service {

void ready(std::string_view status);
void stopping(std::string_view status);
void status(std::string_view status);
// The service's main process is now `pid` (sent by the current main process).
void main_pid(pid_t pid, std::string_view status);

// RELOADING=1 for as long as it lives, then READY=1 with the STATUS it was given (a rejected
// reload too: the previous configuration keeps serving, so the service is ready again).
class Reloading {
 public:
  Reloading();
  ~Reloading();
  Reloading(const Reloading&) = delete;
  Reloading& operator=(const Reloading&) = delete;
  void set_status(std::string_view status);

 private:
  std::string status_ = "serving";
};

}  // namespace modelgate::control::service
