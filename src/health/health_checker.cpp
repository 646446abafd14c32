#include "health/health_checker.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <unordered_map>

#include "health/check_tally.h"
#include "http1/probe.h"
#include "net/asio.h"
#include "net/proxy_protocol.h"

namespace modelgate::health {

namespace {

using net::nothrow;
using balancing::ServerState;

bool same_settings(const config::HealthCheck& a, const config::HealthCheck& b) {
  return a.path == b.path && a.interval == b.interval && a.timeout == b.timeout &&
         a.expectStatus == b.expectStatus && a.rise == b.rise && a.fall == b.fall;
}

// One server's probe. Touched only on the control-plane thread.
struct Probe {
  Probe(asio::any_io_executor ex, net::Clock clock, std::shared_ptr<ServerState> s, std::string svc,
        config::HealthCheck hc)
      : clock(clock), server(std::move(s)), service(std::move(svc)), settings(std::move(hc)), timer(ex),
        cancel(std::make_shared<asio::cancellation_signal>()), tally(clock) {}

  net::Clock clock;

  std::shared_ptr<ServerState> server;
  std::string service;
  config::HealthCheck settings;  // replaced by update(); read once per check
  std::shared_ptr<const net::ClientTls> tls;  // the service's, for an https:// server
  asio::steady_timer timer;      // the wait between two checks
  // Shared with the coroutine's completion handler, which holds the slot bound to it.
  std::shared_ptr<asio::cancellation_signal> cancel;
  bool stopped = false;
  bool ends_ejection = true;  // passiveHealth.endOnActiveCheck of the service
  bool proxy_local = false;   // a TCP service with proxyProtocol: a connect check says LOCAL first
  CheckTally tally;

  void stop() {
    stopped = true;
    timer.cancel();
    cancel->emit(asio::cancellation_type::terminal);
  }
};

// Why a response does not pass, or "" when it does.
std::string verdict(const http1::ProbeResult& r, const config::HealthCheck& hc, std::string_view target) {
  if (!r.ok()) return fmt::format("GET {}: {}", target, r.error);
  if (hc.expectStatus == 0) {
    if (r.status >= 200 && r.status < 400) return {};
    return fmt::format("GET {} answered {}, expected 2xx or 3xx", target, r.status);
  }
  if (r.status == hc.expectStatus) return {};
  return fmt::format("GET {} answered {}, expected {}", target, r.status, hc.expectStatus);
}

// The probe loop: check, wait until `interval` after the start of that check, repeat. Holds only
// `p`; exits at the first resumption after p->stop().
awaitable<void> run_probe(std::shared_ptr<Probe> p) {
  co_await asio::this_coro::throw_if_cancelled(false);  // cancellation ends the loop through `stopped`
  auto ex = co_await asio::this_coro::executor;
  while (!p->stopped) {
    const auto started = p->clock.now();
    const config::HealthCheck settings = p->settings;
    const std::string target = p->server->spec.basePath + settings.path;
    std::string failure;
    if (settings.path.empty()) {  // a TCP service's connect check
      std::string local;
      if (p->proxy_local) {
        net::ProxyV2Header header{};
        const auto n = net::write_proxy_v2_local(header);
        local.assign(reinterpret_cast<const char*>(header.data()), n);
      }
      http1::ProbeResult result = co_await http1::tcp_connect(ex, p->server->spec.host, p->server->spec.port,
                                                              settings.timeout, std::move(local));
      if (!result.ok()) failure = result.error;
    } else {
      http1::ProbeResult result = co_await http1::http_get(ex, p->server->spec.host, p->server->spec.port,
                                                           p->server->host_header, target, settings.timeout, p->tls);
      failure = verdict(result, settings, target);
    }
    if (p->stopped) break;
    p->tally.record(*p->server, p->settings, p->ends_ejection, p->service, failure);
    p->timer.expires_after(started + p->settings.interval - p->clock.now());
    co_await p->timer.async_wait(net::nothrow);  // cancelled early by a settings change or stop()
  }
}

}  // namespace

struct HealthChecker::State {
  State(asio::io_context& io, net::Clock clock) : io(io), clock(clock) {}

  asio::io_context& io;
  const net::Clock clock;
  // Control-plane thread only.
  std::unordered_map<const ServerState*, std::shared_ptr<Probe>> probes;
  bool stopped = false;
  // Any thread.
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> count{0};

  void spawn(const std::shared_ptr<Probe>& p) {
    auto signal = p->cancel;
    asio::co_spawn(io, run_probe(p),
                   asio::bind_cancellation_slot(signal->slot(), [signal](std::exception_ptr e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       spdlog::error("health: probe stopped: {}", ex.what());
                     }
                   }));
  }

  void apply(const runtime::Snapshot& snap) {
    if (stopped) return;
    std::unordered_map<const ServerState*, std::shared_ptr<Probe>> next;
    std::vector<ServerState*> unchecked;
    std::vector<std::pair<const runtime::ServiceRuntime*, bool>> services;  // bool: PROXY LOCAL
    for (const auto& service : snap.services) services.emplace_back(&service, false);
    for (const auto& tcp : snap.tcp_services) services.emplace_back(&tcp.balancing, tcp.tcp.proxyProtocol != 0);
    for (const auto& [service_ptr, proxy_local] : services) {
      const auto& service = *service_ptr;
      const auto& hc = service.lb.healthCheck;
      for (const auto& server : service.servers) {
        if (!hc.enabled) {
          unchecked.push_back(server.get());
          continue;
        }
        if (auto it = probes.find(server.get()); it != probes.end()) {
          auto p = std::move(it->second);
          probes.erase(it);
          p->service = service.name;
          p->ends_ejection = service.lb.passiveHealth.endOnActiveCheck;
          p->tls = service.tls;
          p->proxy_local = proxy_local;
          if (!same_settings(p->settings, hc)) {
            p->settings = hc;
            p->timer.cancel();  // check now with the new settings
          }
          next.emplace(server.get(), std::move(p));
          continue;
        }
        auto p = std::make_shared<Probe>(io.get_executor(), clock, server, service.name, hc);
        p->ends_ejection = service.lb.passiveHealth.endOnActiveCheck;
        p->tls = service.tls;
        p->proxy_local = proxy_local;
        next.emplace(server.get(), p);
        spawn(p);
      }
    }
    for (auto& [_, p] : probes) p->stop();  // servers gone or no longer checked
    probes = std::move(next);
    for (ServerState* s : unchecked) s->healthy.store(true, std::memory_order_relaxed);
    count.store(probes.size(), std::memory_order_relaxed);
  }

  void stop_all() {
    stopped = true;
    for (auto& [_, p] : probes) p->stop();
    probes.clear();
    count.store(0, std::memory_order_relaxed);
  }
};

HealthChecker::HealthChecker(asio::io_context& io, net::Clock clock)
    : state_(std::make_shared<State>(io, clock)) {}

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::update(std::shared_ptr<const runtime::Snapshot> snapshot) {
  if (!snapshot || state_->stopping.load()) return;
  asio::post(state_->io, [state = state_, snapshot = std::move(snapshot)] { state->apply(*snapshot); });
}

void HealthChecker::stop() {
  if (state_->stopping.exchange(true)) return;
  asio::post(state_->io, [state = state_] { state->stop_all(); });
}

std::size_t HealthChecker::probe_count() const { return state_->count.load(std::memory_order_relaxed); }

}  // namespace modelgate::health
