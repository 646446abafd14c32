// The control plane of a running gateway: everything that changes what the workers see, on one
// thread of its own so that no worker ever waits for it.
//
// - config reloads: the file is watched with inotify (the directory too, so a replacement by
//   rename, an editor's save or a Kubernetes `..data` symlink swap is seen), on SIGHUP, and by a
//   one-second stat poll as a fallback for mounts that deliver no events. A new file is validated
//   first; an invalid one is logged, shown by the admin API and the old config keeps serving.
//   The file's YAML is parsed in a child process first (config/parse_guard.h), so a file the
//   parser cannot finish costs the control thread at most the guard's timeout, never the gateway.
// - active health checks and model discovery, reconfigured with each applied config;
// - the admin API, whose changes to pools are applied like a reload (they last until the file is
//   next reloaded); API keys it adds or revokes are laid over every config applied, until restart.
// - auth.keysFile is watched with the config file: a change to either reloads both.
// - providers.etcd (etcd_source.h): etcd's part of the dynamic configuration, watched, combined
//   with the file's and applied like a reload; a file reload uses etcd's part last applied.
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "admin/admin_backend.h"
#include "config/config.h"
#include "config/kv_layout.h"
#include "config/parse_guard.h"
#include "net/asio.h"
#include "net/listen_fds.h"
#include "proxy/gateway.h"
#include "tenancy/budget_store.h"

namespace modelgate::health {
class HealthChecker;
}
namespace modelgate::discovery {
class ModelDiscovery;
class MetricsScraper;
}
namespace modelgate::admin {
class AdminServer;
}
namespace modelgate::observability {
class Metrics;
class AccessLog;
}  // namespace modelgate::observability

namespace modelgate::control {

class EtcdSource;
namespace service {
class Reloading;
}

class ControlPlane final : public admin::AdminBackend {
 public:
  // `config_path` empty: an embedded config (demo), never reloaded from a file. `parse_guard`:
  // how reloads of the file are parsed (unset: in-process only).
  ControlPlane(proxy::Gateway& gateway, std::string config_path,
               std::optional<config::ParseGuard> parse_guard, unsigned workers,
               observability::Metrics& metrics, observability::AccessLog* access_log);
  ~ControlPlane() override;

  // Starts health checks, discovery, the admin API and the config watcher on the control thread.
  // Waits briefly for the first discovery round so the first requests find their models. The
  // admin API takes its socket from `inherited` when a binary upgrade handed one over.
  void start(net::InheritedListeners* inherited = nullptr);
  // The admin API's listening socket (-1: none), for a binary upgrade to hand over.
  int admin_listener() const;
  void stop();
  // Thread-safe: closes this process's copy of the admin listener and its admin connections, for
  // the old process of a binary upgrade. The new process holds the same socket and answers from
  // then on, so a check of GET /ready (keepalived) never sees the old one's 503 and moves the
  // address for nothing while the old process drains.
  void stop_admin();
  // Thread-safe: GET /ready answers 503 (draining) from now on, before the gateway stops accepting
  // (shutdown.acceptGrace).
  void announce_drain() { draining_announced_ = true; }
  // Thread-safe: re-reads the config file (SIGHUP).
  void request_reload(std::string reason);

  // AdminBackend
  std::vector<admin::EntryPointInfo> entry_points() override;
  std::vector<admin::RouterInfo> routers() override;
  std::vector<admin::ServiceInfo> services() override;
  std::vector<admin::RouterInfo> tcp_routers() override;
  std::vector<admin::TcpServiceInfo> tcp_services() override;
  config::Config config() override;
  admin::StatusInfo status() override;
  std::string metrics() override;
  admin::MutationResult add_server(std::string_view service, std::string_view url, int weight) override;
  admin::MutationResult remove_server(std::string_view service, std::string_view url) override;
  admin::MutationResult drain_server(std::string_view service, std::string_view url) override;
  admin::AddedKey add_key(const admin::KeyRequest& request) override;
  admin::MutationResult revoke_key(std::string_view name) override;

 private:
  void fill_ttft(admin::ServiceInfo& info) const;  // the TTFT quantiles the metrics record
  // Control thread only.
  void reload_from_file(const std::string& reason);
  // The file with etcd's part `etcd` (null: none), validated whole and applied; the errors that
  // refused it (empty: applied).
  std::vector<std::string> load_and_apply(const std::string& reason, const config::KvDocument* etcd,
                                          service::Reloading* notice);
  // etcd_config.cpp: the provider as providers.etcd says (started, restarted or stopped).
  void sync_etcd(const config::EtcdProvider& settings);
  std::string apply_etcd(const std::vector<config::KvPair>& kvs, std::int64_t revision);
  // A file reload when etcd's current state was refused: the new file with that state, when the
  // two are valid together (the file may be what it lacked). True when applied.
  bool retry_refused_etcd(const std::string& reason, service::Reloading* notice);
  bool apply(config::Config cfg, const std::string& reason, std::vector<std::string>* errors);
  void rebuild_for_discovery();
  awaitable<void> watch_file();
  void refresh_certificates();
  std::uint64_t certificates_generation_ = 0;
  awaitable<void> poll_file();
  std::string file_fingerprint() const;  // of the config file and of auth.keysFile
  // api_keys.cpp: the keys added and revoked through the admin API, laid over every config applied.
  void merge_admin_keys(config::Config& cfg);
  // The keys' budgets to auth.budgetsFile (tenancy/budget_store.h), once a second and at stop.
  void flush_budgets();
  awaitable<void> flush_budgets_periodically();
  template <class F>
  auto on_control_thread(F&& f) -> decltype(f());

  proxy::Gateway& gateway_;
  std::string config_path_;
  std::optional<config::ParseGuard> parse_guard_;
  unsigned workers_;
  observability::Metrics& metrics_;
  observability::AccessLog* access_log_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  asio::io_context io_{1};
  std::thread thread_;
  std::unique_ptr<health::HealthChecker> health_;
  std::unique_ptr<discovery::ModelDiscovery> discovery_;
  std::unique_ptr<discovery::MetricsScraper> scraper_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<EtcdSource> etcd_;
  std::optional<config::KvDocument> etcd_doc_;  // etcd's part of the config applied
  std::string fingerprint_;  // of the file content last applied or rejected
  std::string keys_file_;    // auth.keysFile of the config applied, watched with it
  std::vector<config::ApiKey> admin_keys_;  // added by the admin API (until restart)
  std::vector<std::string> revoked_keys_;   // names revoked by the admin API (until restart)
  tenancy::BudgetStore budgets_;
  std::string budgets_error_;  // the last one logged, so a broken disk is not logged every second

  std::atomic<bool> draining_announced_{false};
  std::mutex status_mutex_;  // guards last_reload_
  std::optional<admin::ReloadInfo> last_reload_;
};

template <class F>
auto ControlPlane::on_control_thread(F&& f) -> decltype(f()) {
  if (!thread_.joinable() || std::this_thread::get_id() == thread_.get_id()) return f();
  std::packaged_task<decltype(f())()> task(std::forward<F>(f));
  auto result = task.get_future();
  asio::post(io_, [&task] { task(); });
  return result.get();
}

}  // namespace modelgate::control
