#include "support/etcd_process.h"

#include <csignal>
#include <filesystem>
#include <regex>
#include <stdexcept>

#include "support/gateway_process.h"
#include "support/json.h"
#include "text/base64.h"

namespace modelgate::test {

namespace {

std::string decoded(std::string_view b64) {
  auto text = text::base64_decode(b64);
  if (!text) throw std::runtime_error("etcdctl printed a key or value that is not base64");
  return *text;
}

std::int64_t int_field(simdjson::dom::element e, const char* key) {
  std::int64_t n = 0;
  if (!e[key].get(n)) return n;
  std::uint64_t u = 0;  // etcdctl prints lease ids as unsigned numbers
  if (!e[key].get(u)) return static_cast<std::int64_t>(u);
  return 0;
}

}  // namespace

EtcdProcess::EtcdProcess() : data_dir_(temp_dir() + "/etcd") {
  client_port_ = free_port();
  do {
    peer_port_ = free_port();
  } while (peer_port_ == client_port_);
  start();
}

EtcdProcess::~EtcdProcess() {
  process_.reset();  // SIGKILL and reap
  std::error_code ignored;
  std::filesystem::remove_all(data_dir_, ignored);
}

void EtcdProcess::start() {
  if (running()) return;
  const std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
  const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  process_ = std::make_unique<Process>(
      "etcd", std::vector<std::string>{"--name", "test", "--data-dir", data_dir_, "--listen-client-urls", client,
                                       "--advertise-client-urls", client, "--listen-peer-urls", peer,
                                       "--initial-advertise-peer-urls", peer, "--initial-cluster", "test=" + peer,
                                       "--heartbeat-interval", "100", "--election-timeout", "500"});
  static const std::regex ready("ready to serve client requests");
  if (!process_->wait_for_line(ready, std::chrono::seconds(30))) {
    throw std::runtime_error("etcd did not come up on " + client + "; output:\n" + process_->output());
  }
}

void EtcdProcess::stop() {
  if (!running()) return;
  process_->signal(SIGTERM);
  if (!process_->wait(std::chrono::seconds(20))) process_->kill();
  process_->wait(std::chrono::seconds(5));
}

void EtcdProcess::kill() {
  if (!running()) return;
  process_->kill();
  process_->wait(std::chrono::seconds(5));
}

void EtcdProcess::wipe() {
  kill();
  std::filesystem::remove_all(data_dir_);
}

std::string EtcdProcess::etcdctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"--endpoints", endpoint(), "--command-timeout", "5s"};
  argv.insert(argv.end(), args.begin(), args.end());
  Process ctl("etcdctl", argv, {"ETCDCTL_API=3"});
  const auto status = ctl.wait(std::chrono::seconds(15));
  if (status != 0) {
    std::string command = "etcdctl";
    for (const auto& a : argv) command += " " + a;
    throw std::runtime_error(command + " failed; output:\n" + ctl.output());
  }
  return ctl.output();
}

void EtcdProcess::put(const std::string& key, const std::string& value) const {
  // "--" so a value that starts with '-' is not read as a flag.
  etcdctl({"put", "--", key, value});
}

void EtcdProcess::del(const std::string& key) const { etcdctl({"del", "--", key}); }

std::vector<EtcdKey> EtcdProcess::read(const std::vector<std::string>& args, std::int64_t* revision) const {
  std::vector<std::string> argv = {"get", "-w", "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  Json answer(etcdctl(argv));
  if (!answer.ok) throw std::runtime_error("etcdctl get -w json printed something that is not JSON");
  if (revision) *revision = int_field(answer.root["header"], "revision");
  std::vector<EtcdKey> keys;
  simdjson::dom::array kvs;
  if (answer.root["kvs"].get(kvs)) return keys;
  for (auto kv : kvs) {
    std::string_view key, value;
    (void)kv["key"].get(key);
    (void)kv["value"].get(value);
    keys.push_back({decoded(key), decoded(value), int_field(kv, "lease"), int_field(kv, "mod_revision")});
  }
  return keys;
}

std::optional<EtcdKey> EtcdProcess::get(const std::string& key) const {
  auto keys = read({"--", key});
  if (keys.empty()) return std::nullopt;
  return keys.front();
}

std::vector<EtcdKey> EtcdProcess::get_prefix(const std::string& prefix) const { return read({"--prefix", "--", prefix}); }

std::int64_t EtcdProcess::revision() const {
  std::int64_t revision = 0;
  read({"--", "\x01-no-such-key"}, &revision);
  return revision;
}

void EtcdProcess::compact(std::int64_t revision) const { etcdctl({"compaction", std::to_string(revision)}); }

}  // namespace modelgate::test
