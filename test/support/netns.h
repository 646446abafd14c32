// Network namespaces for tests that need several machines: each namespace is a host with its own
// interfaces, addresses and ARP, joined to the others by veth pairs on a Linux bridge (which
// lives in a namespace of its own, so nothing of the test touches the host's network).
//
// Everything the lab creates goes with it: the destructor deletes its namespaces, which removes
// their links and addresses, after the processes started in them (owned by the test, declared
// after the lab) are gone. Creating namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN):
// unavailable() says why not, for a GTEST_SKIP.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace modelgate::test {

// Runs `argv` (argv[0] searched in PATH) to completion: its output, or throws std::runtime_error
// with the command and its output when it fails or takes more than 10 s.
std::string run_command(const std::vector<std::string>& argv);

class NetnsLab {
 public:
  // Why namespaces cannot be created here (not root, no `ip`, `ip netns add` refused); nullopt
  // when they can.
  static std::optional<std::string> unavailable();

  // Namespace names start with `prefix` and this process's id, so parallel runs do not collide.
  explicit NetnsLab(const std::string& prefix);
  ~NetnsLab();
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  // A host `name` (its namespace's full name is returned) with `lo` up and `eth0` at `cidr`
  // (e.g. "10.213.0.11/24") plugged into the lab's bridge.
  std::string add_host(const std::string& name, const std::string& cidr);

  // argv prefixed with `ip netns exec NS`: for a Process, or run_command.
  static std::vector<std::string> in(const std::string& ns, std::vector<std::string> argv);
  // Whether `address` is on an interface of namespace `ns` right now.
  static bool has_address(const std::string& ns, const std::string& address);
  // The path of the namespace's handle, for setns(2).
  static std::string handle(const std::string& ns) { return "/run/netns/" + ns; }

 private:
  std::string prefix_;
  std::string switch_;  // the namespace holding bridge br0
  std::vector<std::string> namespaces_;
};

// Moves the calling thread into namespace `ns` (setns(2) affects one thread): sockets it opens
// afterwards belong there. Throws std::runtime_error when it cannot.
void enter_netns(const std::string& ns);

}  // namespace modelgate::test
