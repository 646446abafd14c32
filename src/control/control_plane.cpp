#include "control/control_plane.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>

#include "admin/admin_server.h"
#include "balancing/prompt_chain.h"
#include "control/etcd_source.h"
#include "control/service_notify.h"
#include "config/loader.h"
#include "discovery/metrics_scraper.h"
#include "discovery/model_discovery.h"
#include "health/health_checker.h"
#include "observability/access_log.h"
#include "observability/metrics.h"
#include "tenancy/key_metrics.h"

namespace modelgate::control {

using net::nothrow;

ControlPlane::ControlPlane(proxy::Gateway& gateway, std::string config_path,
                           std::optional<config::ParseGuard> parse_guard, unsigned workers,
                           observability::Metrics& metrics, observability::AccessLog* access_log)
    : gateway_(gateway),
      config_path_(std::move(config_path)),
      parse_guard_(std::move(parse_guard)),
      workers_(workers),
      metrics_(metrics),
      access_log_(access_log) {}

ControlPlane::~ControlPlane() { stop(); }

namespace {

// The inherited admin socket for `admin`'s address (a name resolved as the admin server does),
// -1 when there is none.
int inherited_admin(net::InheritedListeners* inherited, const config::Admin& admin) {
  if (!inherited) return -1;
  beast::error_code ec;
  auto address = asio::ip::make_address(admin.host, ec);
  if (ec) {
    asio::io_context io;
    tcp::resolver resolver(io);
    auto results = resolver.resolve(admin.host, "", ec);
    if (ec || results.empty()) return -1;
    address = results.begin()->endpoint().address();
  }
  return inherited->take(net::kAdminListenerName, tcp::endpoint(address, admin.port));
}

}  // namespace

int ControlPlane::admin_listener() const { return admin_ ? admin_->native_handle() : -1; }

void ControlPlane::start(net::InheritedListeners* inherited) {
  health_ = std::make_unique<health::HealthChecker>(io_);
  discovery_ = std::make_unique<discovery::ModelDiscovery>(
      io_, [this] { asio::post(io_, [this] { rebuild_for_discovery(); }); });
  scraper_ = std::make_unique<discovery::MetricsScraper>(io_);
  auto snapshot = gateway_.current();
  health_->update(snapshot);
  discovery_->update(snapshot);
  scraper_->update(snapshot);
  keys_file_ = snapshot->config.auth.keysFile;
  flush_budgets();
  if (!config_path_.empty()) fingerprint_ = file_fingerprint();
  certificates_generation_ = gateway_.tls().generation();

  const auto& admin = snapshot->config.admin;
  if (admin.enabled) {
    admin_ = std::make_unique<admin::AdminServer>(io_, admin, *this);
    try {
      admin_->start(inherited_admin(inherited, admin));
      std::cout << fmt::format("modelgate: admin API listening on {}:{}\n", admin.host, admin_->port());
    } catch (const std::exception& e) {
      // Traffic matters more than the admin API: keep serving, say so loudly.
      spdlog::error("admin API not available: {}", e.what());
      admin_.reset();
    }
  }
  if (!config_path_.empty()) {
    asio::co_spawn(io_, watch_file(), asio::detached);
    asio::co_spawn(io_, poll_file(), asio::detached);
  }
  asio::co_spawn(io_, flush_budgets_periodically(), asio::detached);
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      spdlog::critical("control plane stopped: {}", e.what());
    }
  });
  // etcd's part before the first request, when etcd answers at once (else the file's part serves
  // until it does).
  if (!config_path_.empty() && snapshot->config.etcd.enabled) {
    on_control_thread([&] { sync_etcd(snapshot->config.etcd); });
    etcd_->wait_first_round(std::chrono::seconds(3));
  }
  // The first requests should find the models the servers list: wait for the first polls, then
  // for the catalogue built from them (queued behind their change notices).
  if (discovery_->wait_initial_round(std::chrono::seconds(3))) {
    on_control_thread([this] { rebuild_for_discovery(); });
  }
}

void ControlPlane::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    if (admin_) admin_->stop();
    if (etcd_) etcd_->stop();
    flush_budgets();
    health_->stop();
    discovery_->stop();
    scraper_->stop();
    io_.stop();
  });
  thread_.join();
}

void ControlPlane::stop_admin() {
  if (admin_) admin_->stop();
}

void ControlPlane::request_reload(std::string reason) {
  asio::post(io_, [this, reason = std::move(reason)] { reload_from_file(reason); });
}

std::string ControlPlane::file_fingerprint() const {
  std::ifstream in(config_path_, std::ios::binary);
  if (!in) return {};
  std::stringstream content;
  content << in.rdbuf();
  if (!keys_file_.empty()) {
    // A missing keys file counts as a change too: the reload then reports it.
    std::ifstream keys(keys_file_, std::ios::binary);
    content << "\n#keys\n";
    if (keys) content << keys.rdbuf();
    else content << "(missing)";
  }
  return std::to_string(std::hash<std::string>{}(content.str())) + "/" + std::to_string(content.str().size());
}

void ControlPlane::reload_from_file(const std::string& reason) {
  if (config_path_.empty()) return;
  const auto fp = file_fingerprint();
  if (reason != "SIGHUP" && fp == fingerprint_) return;  // touched, not changed
  if (fp.empty()) {
    spdlog::warn("config {} cannot be read right now ({}); keeping the running config", config_path_, reason);
    return;
  }
  fingerprint_ = fp;
  service::Reloading notice;  // the service manager sees the reload, and READY=1 after it
  if (retry_refused_etcd(reason, &notice)) return;
  load_and_apply(reason, etcd_doc_ ? &*etcd_doc_ : nullptr, &notice);
}

std::vector<std::string> ControlPlane::load_and_apply(const std::string& reason, const config::KvDocument* etcd,
                                                      service::Reloading* notice) {
  auto loaded = config::load_file(config_path_, parse_guard_, etcd);
  std::vector<std::string> errors;
  for (const auto& d : loaded.diagnostics) {
    if (d.severity == config::Severity::error) {
      errors.push_back(d.str());
    } else {
      spdlog::warn("{}", d.str());
    }
  }
  if (!loaded.config) {
    for (const auto& e : errors) spdlog::error("{}", e);
    spdlog::error("config reload ({}) rejected: {} error(s); the previous config keeps serving", reason,
                  errors.size());
    metrics_.config_reload(false);
    if (notice) notice->set_status(fmt::format("serving; the last reload ({}) was rejected, see the log", reason));
    std::lock_guard lock(status_mutex_);
    last_reload_ = admin::ReloadInfo{std::chrono::system_clock::now(), false, errors};
    return errors;
  }
  const config::EtcdProvider etcd_settings = loaded.config->etcd;
  if (!apply(std::move(*loaded.config), reason, &errors)) {
    if (notice) notice->set_status(fmt::format("serving; the last reload ({}) was rejected, see the log", reason));
    return errors;
  }
  sync_etcd(etcd_settings);
  return {};
}

bool ControlPlane::apply(config::Config cfg, const std::string& reason,
                         std::vector<std::string>* errors_out) {
  const auto current = gateway_.current();
  merge_admin_keys(cfg);
  const std::string keys_file = cfg.auth.keysFile;
  std::vector<std::string> warnings;
  if (cfg.entryPoints.size() != current->config.entryPoints.size()) {
    warnings.push_back(
        "entry points were added or removed: send modelgate SIGUSR2 (a binary upgrade, which keeps "
        "every connection) or restart it to listen on them");
  }
  for (const auto& [name, ep] : cfg.entryPoints) {
    auto it = current->config.entryPoints.find(name);
    if (it != current->config.entryPoints.end() &&
        (it->second.host != ep.host || it->second.port != ep.port)) {
      warnings.push_back(
          fmt::format("entry point {} changed its address: send modelgate SIGUSR2 (a binary upgrade) "
                      "or restart it to listen there", name));
    }
  }
  auto certificates = runtime::server_certificates(cfg);
  auto built = runtime::build_snapshot(std::move(cfg), gateway_.registry());
  if (auto* errors = std::get_if<std::vector<std::string>>(&built)) {
    for (const auto& e : *errors) spdlog::error("config ({}): {}", reason, e);
    spdlog::error("config change ({}) rejected; the previous config keeps serving", reason);
    metrics_.config_reload(false);
    if (errors_out) *errors_out = *errors;
    std::lock_guard lock(status_mutex_);
    last_reload_ = admin::ReloadInfo{std::chrono::system_clock::now(), false, *errors};
    return false;
  }
  auto snapshot = std::get<std::shared_ptr<const runtime::Snapshot>>(std::move(built));
  if (auto why = gateway_.tls().set(std::move(certificates)); !why.empty()) {
    spdlog::error("config ({}): tls.certificates: {}; the running certificates are kept", reason, why);
  }
  gateway_.swap(snapshot);
  if (keys_file != keys_file_) {
    keys_file_ = keys_file;
    if (!config_path_.empty()) fingerprint_ = file_fingerprint();
  }
  flush_budgets();
  health_->update(snapshot);
  discovery_->update(snapshot);
  scraper_->update(snapshot);
  for (const auto& w : warnings) spdlog::warn("config ({}): {}", reason, w);
  spdlog::info("config applied ({}), generation {}", reason, gateway_.generation());
  metrics_.config_reload(true);
  std::lock_guard lock(status_mutex_);
  last_reload_ = admin::ReloadInfo{std::chrono::system_clock::now(), true, {}};
  return true;
}

void ControlPlane::rebuild_for_discovery() {
  // Same config, new model lists: a new snapshot with the catalogue recomputed.
  auto current = gateway_.current();
  auto built = runtime::build_snapshot(current->config, gateway_.registry());
  if (auto* snap = std::get_if<std::shared_ptr<const runtime::Snapshot>>(&built)) {
    gateway_.swap(*snap);
    spdlog::debug("model catalogue updated: {} models", (*snap)->models.size());
  }
}

awaitable<void> ControlPlane::watch_file() {
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    spdlog::warn("inotify unavailable ({}); config changes are seen by polling", std::strerror(errno));
    co_return;
  }
  asio::posix::stream_descriptor events(io_, fd);
  const auto path = std::filesystem::absolute(config_path_);
  const auto dir = path.parent_path().string();
  constexpr std::uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY |
                                  IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
  inotify_add_watch(fd, dir.c_str(), kMask);
  if (!keys_file_.empty()) {  // a keys file moved elsewhere by a reload is seen by the poll
    inotify_add_watch(fd, std::filesystem::absolute(keys_file_).parent_path().c_str(), kMask);
  }
  int file_watch = inotify_add_watch(fd, path.c_str(), kMask);
  std::array<char, 4096> buf;
  asio::steady_timer settle(io_);
  for (;;) {
    auto [ec, n] = co_await events.async_read_some(asio::buffer(buf), net::nothrow);
    if (ec) co_return;
    // Editors write in several steps: let the burst settle, then look once (the fingerprint
    // makes later events of the same burst no-ops).
    settle.expires_after(std::chrono::milliseconds(100));
    co_await settle.async_wait(net::nothrow);
    // A replaced file is a new inode: watch the new one.
    inotify_rm_watch(fd, file_watch);
    file_watch = inotify_add_watch(fd, path.c_str(), kMask);
    reload_from_file("file changed");
  }
}

// The entry points' certificate files, looked at once a second: a changed file is loaded for new
// handshakes; a bad one leaves the running certificates in place (net/tls_store.h).
void ControlPlane::refresh_certificates() {
  if (auto why = gateway_.tls().refresh(); !why.empty()) {
    spdlog::error("certificate reload failed: {}; the running certificates are kept", why);
  } else if (gateway_.tls().generation() != certificates_generation_) {
    if (certificates_generation_ != 0) spdlog::info("certificates reloaded for new TLS connections");
  }
  certificates_generation_ = gateway_.tls().generation();
}

awaitable<void> ControlPlane::poll_file() {
  asio::steady_timer timer(io_);
  for (;;) {
    timer.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await timer.async_wait(net::nothrow);
    if (ec) co_return;
    if (file_fingerprint() != fingerprint_) reload_from_file("file changed (poll)");
    refresh_certificates();
  }
}

// ---- AdminBackend -------------------------------------------------------------------------------

std::vector<admin::EntryPointInfo> ControlPlane::entry_points() {
  std::vector<admin::EntryPointInfo> out;
  for (const auto& [name, endpoint] : gateway_.bound()) {
    const auto addr = endpoint.address();
    out.push_back({name, addr.is_v6() ? fmt::format("[{}]:{}", addr.to_string(), endpoint.port())
                                      : fmt::format("{}:{}", addr.to_string(), endpoint.port())});
  }
  return out;
}

std::vector<admin::RouterInfo> ControlPlane::routers() {
  auto snap = gateway_.current();
  std::vector<std::pair<int, admin::RouterInfo>> list;
  for (const auto& [name, r] : snap->config.routers) {
    list.push_back({r.effectivePriority(),
                    admin::RouterInfo{name, r.rule, r.service, r.effectivePriority(), r.entryPoints}});
  }
  std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<admin::RouterInfo> out;
  for (auto& [_, info] : list) out.push_back(std::move(info));
  return out;
}

namespace {

admin::ServerInfo::Scheduling scheduling_of(const balancing::ServerState& s) {
  const auto& m = s.llm;
  admin::ServerInfo::Scheduling out{m.predicted_cached.load(), m.realised_cached.load(), {}, {}, {}, {}};
  if (m.scraped_at_ns.load() > 0) {
    out.waiting = m.waiting.load();
    out.running = m.running.load();
    if (const int kv = m.kv_permille.load(); kv >= 0) out.kv_usage = kv / 1000.0;
  }
  if (const double r = m.prefill_rate.load(); r > 0) out.prefill_rate = r;
  return out;
}

}  // namespace

// Time to first token per server, and over the whole service, from what the metrics record.
void ControlPlane::fill_ttft(admin::ServiceInfo& info) const {
  std::vector<std::string_view> all;
  for (auto& server : info.servers) {
    all.push_back(server.url);
    if (auto q = metrics_.ttft_quantiles({server.url})) {
      server.ttft_p50_ms = q->p50_ms;
      server.ttft_p99_ms = q->p99_ms;
    }
  }
  if (auto q = metrics_.ttft_quantiles(all)) {
    info.ttft_p50_ms = q->p50_ms;
    info.ttft_p99_ms = q->p99_ms;
  }
}

std::vector<admin::ServiceInfo> ControlPlane::services() {
  auto snap = gateway_.current();
  const auto now = balancing::steady_now_ns();
  std::vector<admin::ServiceInfo> out;
  for (const auto& svc : snap->services) {
    admin::ServiceInfo info{svc.name, svc.lb.strategy, {}, std::nullopt, std::nullopt};
    for (const auto& s : svc.servers) {
      auto extra = s->info();
      info.servers.push_back(admin::ServerInfo{s->spec.url, s->spec.weight, s->spec.backup, s->healthy.load(),
                                               s->ejected(now), s->spec.drain || s->draining.load(),
                                               s->inflight.load(), s->requests.load(), s->failures.load(),
                                               extra.models, extra.last_error, std::nullopt, std::nullopt,
                                               std::nullopt});
      if (svc.wants_prompt || svc.lb.serverMetrics.enabled) info.servers.back().scheduling = scheduling_of(*s);
    }
    fill_ttft(info);
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<admin::RouterInfo> ControlPlane::tcp_routers() {
  auto snap = gateway_.current();
  std::vector<admin::RouterInfo> out;
  for (const auto& [name, r] : snap->config.tcpRouters) {
    out.push_back(admin::RouterInfo{name, r.rule, r.service, r.effectivePriority(), r.entryPoints});
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.priority > b.priority; });
  return out;
}

std::vector<admin::TcpServiceInfo> ControlPlane::tcp_services() {
  auto snap = gateway_.current();
  std::vector<admin::TcpServiceInfo> out;
  for (const auto& svc : snap->tcp_services) {
    admin::TcpServiceInfo info{svc.balancing.name, svc.tcp.strategy, svc.tcp.proxyProtocol, {}};
    for (const auto& s : svc.balancing.servers) {
      info.servers.push_back(admin::TcpServerInfo{s->spec.url, s->healthy.load(), s->draining.load(),
                                                  std::max(0, s->inflight.load()), s->requests.load(),
                                                  s->tcp.bytes_in.load(), s->tcp.bytes_out.load(),
                                                  s->tcp.connect_failures.load(), s->info().last_error});
    }
    out.push_back(std::move(info));
  }
  return out;
}

config::Config ControlPlane::config() { return gateway_.current()->config; }

admin::StatusInfo ControlPlane::status() {
  admin::StatusInfo st;
  st.version = MODELGATE_VERSION;
  st.uptime_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  st.workers = workers_;
  st.generation = gateway_.generation();
  st.draining = draining_announced_ || gateway_.draining();
  if (auto store = gateway_.registry().keys().current_store()) {
    const auto now = store->status();
    st.limits_store = admin::LimitsStoreInfo{store->spec().url, store->fail_open() ? "failOpen" : "failClosed",
                                             now.connected, now.last_error, now.since_unix_ms, now.round_trips,
                                             now.failures};
  }
  if (etcd_) st.providers.push_back(etcd_->info());
  std::lock_guard lock(status_mutex_);
  st.last_reload = last_reload_;
  return st;
}

std::string ControlPlane::metrics() {
  observability::ExtraGauges extra;
  auto snap = gateway_.current();
  const auto now = balancing::steady_now_ns();
  for (const auto& svc : snap->services) {
    for (const auto& s : svc.servers) {
      const bool up = s->healthy.load() && !s->ejected(now) && !s->draining.load() && !s->spec.drain;
      extra.servers.push_back({svc.name, s->spec.url, up, s->inflight.load(), std::nullopt});
      if (svc.wants_prompt || svc.lb.serverMetrics.enabled) {
        const auto& m = s->llm;
        const int kv = m.kv_permille.load();
        const auto* index = m.index.load(std::memory_order_acquire);
        extra.servers.back().scheduling = observability::SchedulingGauge{
            m.predicted_cached.load(), m.realised_cached.load(), m.checked_answers.load(),
            m.index_resets.load(),     m.prefill_rate.load(),    m.pending_tokens.load(),
            m.waiting.load(),          m.running.load(),         kv < 0 ? -1.0 : kv / 1000.0,
            index ? static_cast<std::int64_t>(index->window_blocks() * balancing::kBlockTokens) : -1};
      }
    }
  }
  for (const auto& svc : snap->tcp_services) {
    for (const auto& s : svc.balancing.servers) {
      const bool up = s->healthy.load() && !s->draining.load();
      extra.tcp_servers.push_back({svc.balancing.name, s->spec.url, up,
                                   static_cast<std::uint64_t>(std::max(0, s->inflight.load())), s->requests.load(),
                                   s->tcp.bytes_in.load(), s->tcp.bytes_out.load(), s->tcp.connect_failures.load()});
    }
  }
  if (access_log_) extra.access_log_dropped = access_log_->dropped();
  std::string out = metrics_.render_prometheus(extra);
  if (snap->keys) tenancy::render_key_metrics(*snap->keys, tenancy::Limiter::system_unix_ms(), out);
  if (auto store = gateway_.registry().keys().current_store()) tenancy::render_store_metrics(store->status(), out);
  if (etcd_) etcd_->render_metrics(out);
  return out;
}

namespace {

// A server URL checked by the config loader itself, so the API accepts exactly what a file does.
std::variant<config::Server, std::string> parse_server(std::string_view url, int weight) {
  if (url.find_first_of("\"\n\r\\") != std::string_view::npos)
    return std::string("the url contains a quote or a line break");
  auto loaded = config::load_text(
      fmt::format("entryPoints: {{api: {{address: \"127.0.0.1:1\"}}}}\nadmin: {{enabled: false}}\n"
                  "http: {{services: {{s: {{loadBalancer: {{servers: [{{url: \"{}\", weight: {}}}]}}}}}}}}\n",
                  url, weight),
      "request");
  if (!loaded.config) {
    std::string why;
    for (const auto& d : loaded.diagnostics) {
      if (d.severity == config::Severity::error) why += (why.empty() ? "" : "; ") + d.message;
    }
    return why;
  }
  return loaded.config->services.at("s").loadBalancer.servers.at(0);
}

}  // namespace

admin::MutationResult ControlPlane::add_server(std::string_view service, std::string_view url, int weight) {
  return on_control_thread([&]() -> admin::MutationResult {
    auto cfg = gateway_.current()->config;
    auto it = cfg.services.find(std::string(service));
    if (it == cfg.services.end()) return {false, 404, fmt::format("no service named \"{}\"", service)};
    auto parsed = parse_server(url, weight);
    if (auto* why = std::get_if<std::string>(&parsed)) return {false, 400, "invalid server: " + *why};
    auto server = std::get<config::Server>(std::move(parsed));
    auto& servers = it->second.loadBalancer.servers;
    for (const auto& s : servers) {
      if (s.url == server.url)
        return {false, 409, fmt::format("{} is already a server of \"{}\"", url, service)};
    }
    servers.push_back(std::move(server));
    std::vector<std::string> errors;
    if (!apply(std::move(cfg), "admin API: add server", &errors))
      return {false, 400, fmt::format("{}", fmt::join(errors, "; "))};
    return {true, 201, fmt::format("{} added to \"{}\"", url, service)};
  });
}

admin::MutationResult ControlPlane::remove_server(std::string_view service, std::string_view url) {
  return on_control_thread([&]() -> admin::MutationResult {
    auto cfg = gateway_.current()->config;
    auto it = cfg.services.find(std::string(service));
    if (it == cfg.services.end()) return {false, 404, fmt::format("no service named \"{}\"", service)};
    auto& servers = it->second.loadBalancer.servers;
    auto pos = std::find_if(servers.begin(), servers.end(), [&](const auto& s) { return s.url == url; });
    if (pos == servers.end()) return {false, 404, fmt::format("\"{}\" has no server {}", service, url)};
    if (servers.size() == 1) {
      return {false, 409,
              "a service needs at least one server: drain it instead, or remove the service from the file"};
    }
    servers.erase(pos);
    std::vector<std::string> errors;
    if (!apply(std::move(cfg), "admin API: remove server", &errors))
      return {false, 400, fmt::format("{}", fmt::join(errors, "; "))};
    return {true, 200,
            fmt::format("{} removed from \"{}\"; requests already running on it finish", url, service)};
  });
}

admin::MutationResult ControlPlane::drain_server(std::string_view service, std::string_view url) {
  auto snap = gateway_.current();
  for (const auto& svc : snap->services) {
    if (svc.name != service) continue;
    for (const auto& s : svc.servers) {
      if (s->spec.url == url) {
        s->draining = true;
        return {true, 200,
                fmt::format("{} is draining: no new requests, {} running finish", url, s->inflight.load())};
      }
    }
    return {false, 404, fmt::format("\"{}\" has no server {}", service, url)};
  }
  return {false, 404, fmt::format("no service named \"{}\"", service)};
}

}  // namespace modelgate::control
