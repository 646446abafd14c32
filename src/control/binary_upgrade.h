// Zero-downtime binary upgrade (SIGUSR2), in the shape of nginx's: the running gateway starts
// the binary at its own path with its own arguments and hands it every listening socket
// (net/listen_fds.h). The new process binds what is new, loads its configuration, starts serving
// on the sockets it shares with the old one, and then writes one byte to a pipe the old process
// gave it (MODELGATE_UPGRADE_READY_FD). Only on that byte does the old process stop accepting,
// drain its requests and streams, and exit; under systemd it first names the new process as the
// service's main process (MAINPID=).
//
// A new process that exits, closes the pipe, or stays silent for kReadyTimeout has failed: the old
// one logs why and keeps serving, with its sockets untouched (a timed-out process is sent SIGTERM,
// so that connections it accepted meanwhile are drained rather than reset). One upgrade at a time.
//
// The pipe rather than a signal or a datagram: its end of file tells a crash apart from silence
// without a second mechanism, and nothing but the process started can write to it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "net/listen_fds.h"

namespace modelgate::control {

inline constexpr const char* kUpgradeReadyEnv = "MODELGATE_UPGRADE_READY_FD";

// The path of the running binary, resolved once at startup: /proc/self/exe, or `argv0` made
// absolute when /proc is not mounted. Resolved early because once a new build replaced the file,
// /proc/self/exe names the deleted old one.
std::string own_executable(const char* argv0);

// The new process's side: the pipe to report readiness on, when it was started by an upgrade.
class UpgradeHandover {
 public:
  // Reads and unsets MODELGATE_UPGRADE_READY_FD; the pipe is made close-on-exec again.
  static UpgradeHandover from_environment();
  UpgradeHandover() = default;
  UpgradeHandover(UpgradeHandover&& o) noexcept;
  UpgradeHandover& operator=(UpgradeHandover&&) = delete;
  ~UpgradeHandover();
  bool active() const { return fd_ >= 0; }
  // Tells the old process this one serves now.
  void ready();

 private:
  int fd_ = -1;
};

// The old process's side.
class BinaryUpgrade {
 public:
  static constexpr std::chrono::seconds kReadyTimeout{30};
  enum class Outcome { none, ready, failed };

  BinaryUpgrade(std::string executable, std::vector<std::string> args);
  ~BinaryUpgrade();
  BinaryUpgrade(const BinaryUpgrade&) = delete;
  BinaryUpgrade& operator=(const BinaryUpgrade&) = delete;

  // Starts the new process with `listeners` open. False (with a log line) when an upgrade is
  // already under way or the process cannot be started.
  bool start(const std::vector<net::NamedFd>& listeners);
  // The pipe to poll for readability while an upgrade is under way; -1 otherwise.
  int fd() const { return ready_fd_; }
  // Reads the pipe, checks the deadline and reaps failed processes; call when fd() is readable
  // and now and then. `ready` once, when the new process is serving; `failed` once, logged.
  Outcome check(std::chrono::steady_clock::time_point now);
  pid_t child() const { return child_; }

 private:
  Outcome fail(const std::string& why, bool terminate);
  void reap();

  std::string executable_;
  std::vector<std::string> args_;  // argv[1..]
  int ready_fd_ = -1;
  pid_t child_ = -1;
  std::chrono::steady_clock::time_point deadline_{};
  std::vector<pid_t> to_reap_;  // failed new processes not yet waited for
};

}  // namespace modelgate::control
