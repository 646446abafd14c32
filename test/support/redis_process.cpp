#include "support/redis_process.h"

#include <array>
#include <cstdio>
#include <regex>
#include <stdexcept>

#include "support/gateway_process.h"

namespace modelgate::test {

RedisProcess::RedisProcess() : port_(free_port()), dir_(temp_dir()) { start(); }

void RedisProcess::start() {
  process_ = std::make_unique<Process>(
      "redis-server", std::vector<std::string>{"--port", std::to_string(port_), "--bind", "127.0.0.1",
                                               "--save", "", "--appendonly", "no", "--dir", dir_});
  if (!process_->wait_for_line(std::regex("Ready to accept connections"), 10s))
    throw std::runtime_error("redis-server did not start; output:\n" + process_->output());
}

void RedisProcess::kill() {
  process_->kill();
  process_->wait(5s);
}

std::string RedisProcess::cli(const std::string& args) const {
  const std::string command = "redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " " + args + " 2>&1";
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    std::array<char, 4096> buffer{};
    while (std::size_t n = fread(buffer.data(), 1, buffer.size(), p)) out.append(buffer.data(), n);
    pclose(p);
  }
  return out;
}

}  // namespace modelgate::test
