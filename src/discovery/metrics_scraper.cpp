#include "discovery/metrics_scraper.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "balancing/load_signals.h"
#include "balancing/prediction_check.h"
#include "balancing/prompt_chain.h"
#include "http1/probe.h"
#include "net/asio.h"

namespace modelgate::discovery {

namespace {

using net::nothrow;
using balancing::ServerState;
constexpr auto relaxed = std::memory_order_relaxed;

struct Scraper {
  Scraper(asio::any_io_executor ex, std::shared_ptr<ServerState> s, config::ServerMetrics m)
      : server(std::move(s)), settings(std::move(m)), timer(ex),
        cancel(std::make_shared<asio::cancellation_signal>()) {}

  std::shared_ptr<ServerState> server;
  config::ServerMetrics settings;
  std::shared_ptr<const net::ClientTls> tls;  // the service's, for an https:// server
  asio::steady_timer timer;
  std::shared_ptr<asio::cancellation_signal> cancel;
  bool stopped = false;

  void stop() {
    stopped = true;
    timer.cancel();
    cancel->emit(asio::cancellation_type::terminal);
  }
};

void absorb(ServerState& s, const balancing::LoadSignals& sig) {
  auto& m = s.llm;
  const auto as_int = [](std::optional<double> v) { return static_cast<std::int32_t>(std::lround(std::max(0.0, *v))); };
  m.inflight_at_scrape.store(s.inflight.load(relaxed), relaxed);
  m.waiting.store(sig.waiting ? as_int(sig.waiting) : 0, relaxed);
  m.running.store(sig.running ? as_int(sig.running) : 0, relaxed);
  m.kv_permille.store(sig.kv_usage ? as_int(*sig.kv_usage * 1000.0) : -1, relaxed);
  if (sig.cache_queries) {
    const double before = m.cache_queries.exchange(*sig.cache_queries, relaxed);
    if (before > 0 && *sig.cache_queries < before) {
      balancing::drop_index(m);
      spdlog::warn("{}: its prefix cache counter went back ({} -> {}): the server restarted; its prefix "
                   "index is dropped",
                   s.spec.url, before, *sig.cache_queries);
    }
  }
  if (sig.kv_capacity_tokens) {
    if (balancing::PrefixIndex* index = m.index.load(std::memory_order_acquire))
      index->limit(static_cast<std::size_t>(*sig.kv_capacity_tokens) / balancing::kBlockTokens);
  }
  m.scraped_at_ns.store(balancing::steady_now_ns(), relaxed);
}

awaitable<void> run(std::shared_ptr<Scraper> p) {
  co_await asio::this_coro::throw_if_cancelled(false);
  auto ex = co_await asio::this_coro::executor;
  const auto flavour = balancing::parse_flavour(p->settings.flavour).value_or(balancing::Flavour::any);
  const std::string target = p->server->spec.basePath + p->settings.path;
  const auto timeout = std::clamp<std::chrono::milliseconds>(p->settings.interval, std::chrono::milliseconds(100),
                                                             std::chrono::milliseconds(2000));
  while (!p->stopped) {
    const auto started = std::chrono::steady_clock::now();
    auto r = co_await http1::http_get(ex, p->server->spec.host, p->server->spec.port, p->server->host_header,
                                       target, timeout, p->tls);
    if (p->stopped) break;
    if (!r.ok() || r.status < 200 || r.status > 299) {
      spdlog::debug("serverMetrics: GET {}{}: {}", p->server->spec.url, target,
                    r.ok() ? "status " + std::to_string(r.status) : r.error);
    } else if (auto sig = balancing::parse_load_signals(r.body, flavour); sig.any()) {
      absorb(*p->server, sig);
    } else {
      spdlog::debug("serverMetrics: {}{} lists none of the load metrics of flavour {}", p->server->spec.url,
                    target, p->settings.flavour);
    }
    p->timer.expires_at(started + p->settings.interval);
    co_await p->timer.async_wait(net::nothrow);
  }
}

}  // namespace

struct MetricsScraper::State {
  explicit State(asio::io_context& io) : io(io) {}
  asio::io_context& io;
  std::vector<std::shared_ptr<Scraper>> scrapers;  // control-plane thread only
  bool stopped = false;

  void stop_all() {
    for (auto& s : scrapers) s->stop();
    scrapers.clear();
  }
};

MetricsScraper::MetricsScraper(asio::io_context& io) : state_(std::make_shared<State>(io)) {}

MetricsScraper::~MetricsScraper() { stop(); }

void MetricsScraper::update(std::shared_ptr<const runtime::Snapshot> snapshot) {
  asio::post(state_->io, [st = state_, snapshot = std::move(snapshot)] {
    if (st->stopped) return;
    st->stop_all();
    for (const auto& service : snapshot->services) {
      const auto& m = service.lb.serverMetrics;
      if (!m.enabled) continue;
      for (const auto& server : service.servers) {
        auto p = std::make_shared<Scraper>(st->io.get_executor(), server, m);
        p->tls = service.tls;
        st->scrapers.push_back(p);
        auto signal = p->cancel;
        asio::co_spawn(st->io, run(p),
                       asio::bind_cancellation_slot(signal->slot(), [signal](std::exception_ptr e) {
                         if (!e) return;
                         try {
                           std::rethrow_exception(e);
                         } catch (const std::exception& ex) {
                           spdlog::error("serverMetrics: scraper stopped: {}", ex.what());
                         }
                       }));
      }
    }
  });
}

void MetricsScraper::stop() {
  state_->stopped = true;
  state_->stop_all();
}

}  // namespace modelgate::discovery
