// A real etcd for integration tests: `etcd` (Debian etcd-server) on 127.0.0.1 with a free client
// port and a free peer port, a fresh data directory, started and waited for until it says it
// serves clients (its leader elected); stopped and its directory removed at the end.
//
// stop()/kill() and start() again keep the data directory and the ports, so a test can take etcd
// away under a client and bring it back as the same cluster, with its keys and leases.
//
// The helpers run `etcdctl` (Debian etcd-client), not modelgate's own client, so what a test sees
// in etcd does not depend on the code under test. They throw std::runtime_error, with etcdctl's
// output, when etcdctl fails.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/process.h"

namespace modelgate::test {

struct EtcdKey {
  std::string key, value;
  std::int64_t lease = 0;  // 0: none
  std::int64_t mod_revision = 0;
};

class EtcdProcess {
 public:
  EtcdProcess();  // starts it; throws with etcd's output when it does not come up
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  std::uint16_t port() const { return client_port_; }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }  // host:port
  const std::string& data_dir() const { return data_dir_; }
  Process& process() { return *process_; }
  bool running() { return process_ && process_->running(); }

  void start();  // again, on the same data directory and ports; no-op while running
  void stop();   // SIGTERM, and waits for it to exit
  void kill();   // SIGKILL, and waits
  void wipe();   // kills it and removes its data: the next start() is a new, empty cluster

  // etcdctl with `args` against this etcd: its output; throws when it exits non-zero.
  std::string etcdctl(const std::vector<std::string>& args) const;
  void put(const std::string& key, const std::string& value) const;
  void del(const std::string& key) const;
  std::optional<EtcdKey> get(const std::string& key) const;  // nullopt: no such key
  std::vector<EtcdKey> get_prefix(const std::string& prefix) const;
  std::int64_t revision() const;  // the store's current revision
  void compact(std::int64_t revision) const;

 private:
  std::vector<EtcdKey> read(const std::vector<std::string>& args, std::int64_t* revision = nullptr) const;

  std::string data_dir_;
  std::uint16_t client_port_ = 0;
  std::uint16_t peer_port_ = 0;
  std::unique_ptr<Process> process_;
};

}  // namespace modelgate::test
