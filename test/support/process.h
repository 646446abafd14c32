// A child process for integration tests: spawned with fork/exec, its stdout and stderr merged
// into one pipe that a reader thread copies into a buffer, so a test can wait for a line
// ("... listening on ...") with a timeout and print everything the child said when it fails.
//
// The child dies with the test: the destructor sends SIGKILL and reaps it, and the child asks
// the kernel (PR_SET_PDEATHSIG) to be killed if the spawning thread exits, so even a crashed
// test binary leaves no servers behind. Spawn from the test's own thread (gtest's main thread).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace modelgate::test {

using namespace std::chrono_literals;

// A matched line: groups[0] is the whole match, groups[i] the i-th sub-match.
struct LineMatch {
  std::string line;
  std::vector<std::string> groups;
  const std::string& operator[](std::size_t i) const { return groups.at(i); }
};

class Process {
 public:
  // Starts `executable` with `args` (not including argv[0]). `env` adds "NAME=value" entries to
  // the inherited environment. Throws std::runtime_error if it cannot be started (with errno).
  Process(std::string executable, std::vector<std::string> args, std::vector<std::string> env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }

  // Waits until a complete output line (any line so far, from the start) matches `pattern`
  // (std::regex_search). nullopt on timeout, or when the output ended without a match.
  std::optional<LineMatch> wait_for_line(const std::regex& pattern, std::chrono::milliseconds timeout);
  // Like wait_for_line, but only lines after the last line either of them matched.
  std::optional<LineMatch> wait_for_next_line(const std::regex& pattern, std::chrono::milliseconds timeout);

  std::string output() const;  // everything written to stdout and stderr so far

  void signal(int sig);  // no-op once the child has been reaped
  void kill();           // SIGKILL

  // Waits for the child to exit: its exit code, or 128 + signal number when a signal killed
  // it; nullopt if it is still running after `timeout`. Later calls return the same status.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();

 private:
  std::optional<LineMatch> wait_for(const std::regex& pattern, std::chrono::milliseconds timeout,
                                    bool after_last_match);
  bool reap(bool block);  // true once the exit status is known
  void read_output();

  std::string executable_;
  pid_t pid_ = -1;
  int output_fd_ = -1;
  std::optional<int> status_;
  std::thread reader_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string output_;     // guarded by mutex_
  bool output_ended_ = false;
  bool stop_reading_ = false;
  std::size_t next_line_ = 0;  // offset of the line after the last match
};

// A TCP port free on 127.0.0.1 right now (bind to port 0, read it, close). Prefer letting a
// server bind port 0 itself and announce its port; use this only when a port must be chosen
// before the process starts.
std::uint16_t free_port();

}  // namespace modelgate::test
