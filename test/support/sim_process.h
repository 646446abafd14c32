// A simulated model server in its own process: `modelgate sim --listen 127.0.0.1:0 --name NAME
// ARGS...`, started through Process, with the port it announces ("sim NAME listening on
// HOST:PORT") parsed. Throws std::runtime_error, with the sim's output, if it does not come up.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/process.h"

namespace modelgate::test {

class SimProcess {
 public:
#ifdef MODELGATE_BIN
  static constexpr const char* kDefaultBinary = MODELGATE_BIN;
#else
  static constexpr const char* kDefaultBinary = "modelgate";
#endif

  // args: further sim options, e.g. {"--models", "a,b", "--ttft-ms", "50"}; with "--listen"
  // among them (a restart on a known port) instead of a free port.
  explicit SimProcess(std::string name = "sim", std::vector<std::string> args = {},
                      std::chrono::milliseconds startup_timeout = std::chrono::seconds(10),
                      std::string binary = kDefaultBinary)
      : name_(std::move(name)) {
    std::vector<std::string> argv = {"sim", "--name", name_};
    if (std::find(args.begin(), args.end(), "--listen") == args.end()) argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
    argv.insert(argv.end(), args.begin(), args.end());
    process_ = std::make_unique<Process>(std::move(binary), std::move(argv));
    static const std::regex announced(R"(^sim (\S+) listening on (\S+):(\d+)$)");
    auto line = process_->wait_for_line(announced, startup_timeout);
    if (!line) {
      throw std::runtime_error("sim " + name_ + " did not announce its port; output:\n" +
                               process_->output());
    }
    port_ = static_cast<std::uint16_t>(std::stoi((*line)[3]));
  }

  const std::string& name() const { return name_; }
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  Process& process() { return *process_; }

 private:
  std::string name_;
  std::uint16_t port_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace modelgate::test
