#include "support/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "support/process.h"

namespace modelgate::test {

std::string run_command(const std::vector<std::string>& argv) {
  Process p(argv.at(0), {argv.begin() + 1, argv.end()});
  const auto code = p.wait(10s);
  std::string command;
  for (const auto& a : argv) command += a + " ";
  if (!code) throw std::runtime_error("`" + command + "` did not finish in 10 s:\n" + p.output());
  if (*code != 0) {
    throw std::runtime_error("`" + command + "` exited with " + std::to_string(*code) + ":\n" + p.output());
  }
  return p.output();
}

std::optional<std::string> NetnsLab::unavailable() {
  if (::geteuid() != 0) return "network namespaces need root (CAP_NET_ADMIN); this test runs as uid " +
                               std::to_string(::geteuid());
  const std::string probe = "mgprobe" + std::to_string(::getpid());
  try {
    run_command({"ip", "netns", "add", probe});
  } catch (const std::exception& e) {
    return std::string("`ip netns add` failed here: ") + e.what();
  }
  try {
    run_command({"ip", "netns", "delete", probe});
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

NetnsLab::NetnsLab(const std::string& prefix) : prefix_(prefix + std::to_string(::getpid() % 100000)) {
  switch_ = prefix_ + "sw";
  run_command({"ip", "netns", "add", switch_});
  namespaces_.push_back(switch_);
  run_command({"ip", "-n", switch_, "link", "add", "br0", "type", "bridge"});
  run_command({"ip", "-n", switch_, "link", "set", "br0", "up"});
}

NetnsLab::~NetnsLab() {
  for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) {
    try {
      run_command({"ip", "netns", "delete", *it});
    } catch (const std::exception&) {
      // Already gone; nothing else to undo.
    }
  }
}

std::string NetnsLab::add_host(const std::string& name, const std::string& cidr) {
  const std::string ns = prefix_ + name;
  run_command({"ip", "netns", "add", ns});
  namespaces_.push_back(ns);
  const std::string port = "p" + name;  // the bridge's side of the veth pair
  run_command({"ip", "-n", switch_, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns});
  run_command({"ip", "-n", switch_, "link", "set", port, "master", "br0", "up"});
  run_command({"ip", "-n", ns, "link", "set", "lo", "up"});
  run_command({"ip", "-n", ns, "addr", "add", cidr, "dev", "eth0"});
  run_command({"ip", "-n", ns, "link", "set", "eth0", "up"});
  return ns;
}

std::vector<std::string> NetnsLab::in(const std::string& ns, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
  return argv;
}

bool NetnsLab::has_address(const std::string& ns, const std::string& address) {
  try {
    const auto out = run_command({"ip", "-n", ns, "-o", "-4", "addr", "show"});
    return out.find(" " + address + "/") != std::string::npos;
  } catch (const std::exception&) {
    return false;
  }
}

void enter_netns(const std::string& ns) {
  const int fd = ::open(NetnsLab::handle(ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + NetnsLab::handle(ns) + ": " + std::strerror(errno));
  const int rc = ::setns(fd, CLONE_NEWNET);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw std::runtime_error("setns(" + ns + "): " + std::strerror(err));
}

}  // namespace modelgate::test
