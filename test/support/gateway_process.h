// The real gateway binary for integration tests: writes the config to a temporary file, starts
// `modelgate serve`, and learns each entry point's port from its "listening on" lines (configs use
// port 0, so tests never collide on fixed ports).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/process.h"

namespace modelgate::test {

class GatewayProcess {
 public:
  // Starts the gateway on `yaml` and waits until it is ready; throws with its output if it is not.
  explicit GatewayProcess(const std::string& yaml, unsigned workers = 2,
                          std::vector<std::string> extra_args = {});

  std::uint16_t port(const std::string& entry_point = "web") const { return ports_.at(entry_point); }
  Process& process() { return *process_; }
  const std::string& config_path() const { return config_path_; }
  // Rewrites the config file in place.
  void write_config(const std::string& yaml) const;

 private:
  std::string config_path_;
  std::unique_ptr<Process> process_;
  std::map<std::string, std::uint16_t> ports_;
};

// The admin API's port, from the gateway's "admin API listening on" line (config `admin.address`
// with port 0). Throws with the gateway's output when there is none.
std::uint16_t admin_port(Process& gateway);

// A config with entry point `web` on 127.0.0.1:0 and one service, `pool`, over the servers at
// 127.0.0.1:`ports`, which every request reaches; `lb_extra` is YAML under loadBalancer (indent 8).
std::string pool_config(const std::vector<std::uint16_t>& ports, const std::string& lb_extra = "");

// A fresh temporary directory removed at exit of the test binary's process.
std::string temp_dir();

// The non-empty lines of a file (an access log), [] when it does not exist yet.
std::vector<std::string> read_lines(const std::string& path);

}  // namespace modelgate::test
