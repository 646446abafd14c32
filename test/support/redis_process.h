// A real redis-server for integration tests (Debian redis-server): on 127.0.0.1 at a free port,
// nothing saved (`--save "" --appendonly no`), its working directory a temporary one, killed with
// the test. kill() is SIGKILL, as a crashed Redis; start() again on the same port brings it back
// empty, as a Redis restarted without persistence.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "support/process.h"

namespace modelgate::test {

class RedisProcess {
 public:
  // Starts it and waits until it accepts connections; throws with its output if it does not.
  RedisProcess();

  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  void kill();   // SIGKILL, reaped
  void start();  // again, on the same port
  // `redis-cli` with `args` against it: what it printed (stdout and stderr).
  std::string cli(const std::string& args) const;

 private:
  std::uint16_t port_ = 0;
  std::string dir_;
  std::unique_ptr<Process> process_;
};

}  // namespace modelgate::test
