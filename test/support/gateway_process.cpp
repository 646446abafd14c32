#include "support/gateway_process.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace modelgate::test {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string temp_dir() {
  static std::string root = [] {
    std::string templ = (std::filesystem::temp_directory_path() / "modelgate-test-XXXXXX").string();
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    return templ;
  }();
  static int n = 0;
  auto dir = std::filesystem::path(root) / std::to_string(++n);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string pool_config(const std::vector<std::uint16_t>& ports, const std::string& lb_extra) {
  std::string yaml = R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
http:
  routers:
    all:
      rule: "PathPrefix(`/`)"
      service: pool
  services:
    pool:
      loadBalancer:
        servers:
)y";
  for (auto port : ports) yaml += "          - url: http://127.0.0.1:" + std::to_string(port) + "\n";
  return yaml + lb_extra;
}

std::uint16_t admin_port(Process& gateway) {
  auto line = gateway.wait_for_line(std::regex(R"(modelgate: admin API listening on \S+:(\d+))"), 5s);
  if (!line) throw std::runtime_error("no admin API line; gateway output:\n" + gateway.output());
  return static_cast<std::uint16_t>(std::stoi((*line)[1]));
}

void GatewayProcess::write_config(const std::string& yaml) const {
  std::ofstream out(config_path_, std::ios::trunc);
  out << yaml;
}

GatewayProcess::GatewayProcess(const std::string& yaml, unsigned workers,
                               std::vector<std::string> extra_args) {
  config_path_ = temp_dir() + "/modelgate.yaml";
  write_config(yaml);
  std::vector<std::string> args = {"serve", "--config", config_path_, "--workers", std::to_string(workers)};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<Process>(MODELGATE_BIN, args);
  auto ready = process_->wait_for_line(std::regex("modelgate: ready"), 10s);
  if (!ready) {
    throw std::runtime_error("gateway did not start; its output:\n" + process_->output());
  }
  const std::regex listening(R"(entry point (\S+) listening on \S+:(\d+))");
  std::string out = process_->output();
  for (std::sregex_iterator it(out.begin(), out.end(), listening), end; it != end; ++it) {
    ports_[(*it)[1]] = static_cast<std::uint16_t>(std::stoi((*it)[2]));
  }
}

}  // namespace modelgate::test
