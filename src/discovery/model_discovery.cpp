#include "discovery/model_discovery.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "balancing/prediction_check.h"
#include "http1/probe.h"
#include "net/asio.h"

namespace modelgate::discovery {

namespace {

using net::nothrow;
using balancing::ServerState;

// The id of one list entry: the string itself, or the object's "id", "name" or "model".
std::optional<std::string_view> entry_id(simdjson::dom::element entry) {
  std::string_view id;
  if (!entry.get_string().get(id)) return id.empty() ? std::nullopt : std::optional(id);
  simdjson::dom::object obj;
  if (entry.get_object().get(obj)) return std::nullopt;
  for (const char* key : {"id", "name", "model"}) {
    if (!obj[key].get_string().get(id) && !id.empty()) return id;
  }
  return std::nullopt;
}

bool same_set(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

// One server's poller. Touched only on the control-plane thread.
struct Poller {
  Poller(asio::any_io_executor ex, std::shared_ptr<ServerState> s, std::string svc, config::DiscoverModels dm)
      : server(std::move(s)), service(std::move(svc)), settings(std::move(dm)), timer(ex),
        cancel(std::make_shared<asio::cancellation_signal>()) {}

  std::shared_ptr<ServerState> server;
  std::string service;
  config::DiscoverModels settings;  // replaced by update(); read once per poll
  std::shared_ptr<const net::ClientTls> tls;  // the service's, for an https:// server
  asio::steady_timer timer;
  std::shared_ptr<asio::cancellation_signal> cancel;  // shared with the completion handler
  bool stopped = false;
  bool first_done = false;  // its first poll has been answered or failed (or it was stopped)

  void stop() {
    stopped = true;
    timer.cancel();
    cancel->emit(asio::cancellation_type::terminal);
  }
};

bool same_settings(const config::DiscoverModels& a, const config::DiscoverModels& b) {
  return a.path == b.path && a.interval == b.interval;
}

std::chrono::milliseconds poll_timeout(std::chrono::milliseconds interval) {
  return std::clamp(interval, ModelDiscovery::kPollTimeoutMin, ModelDiscovery::kPollTimeoutMax);
}

// Stores a poll's outcome; true when the server's set of models changed.
bool absorb(Poller& p, const http1::ProbeResult& r, std::string_view target) {
  ServerState& s = *p.server;
  std::string error;
  std::optional<std::vector<std::string>> ids;
  if (!r.ok()) {
    error = fmt::format("GET {}: {}", target, r.error);
  } else if (r.status < 200 || r.status > 299) {
    error = fmt::format("GET {} answered {}", target, r.status);
  } else if (!(ids = parse_model_list(r.body))) {
    error = fmt::format("GET {}: the response is not a model list", target);
  }
  if (!error.empty()) {
    spdlog::debug("discovery: {} {}: {}; keeping the last known models", p.service, s.spec.url, error);
    s.update_info([&](ServerState::Info& info) {
      info.last_error = "model discovery: " + error;
      info.last_error_at = std::chrono::system_clock::now();
    });
    return false;
  }
  bool changed = false;
  std::vector<std::string> gone;
  s.update_info([&](ServerState::Info& info) {
    changed = !info.models_known || !same_set(info.models, *ids);
    if (changed && info.models_known) {
      for (const auto& m : info.models)
        if (std::find(ids->begin(), ids->end(), m) == ids->end()) gone.push_back(m);
    }
    info.models_known = true;
    if (changed) info.models = *ids;
  });
  if (changed) spdlog::info("discovery: {} {} serves [{}]", p.service, s.spec.url, fmt::join(*ids, ", "));
  if (!gone.empty()) {
    // An engine that unloads a model frees its KV cache: what the prefix index says the server
    // holds of that model is gone, and served again it starts cold.
    balancing::drop_index(s.llm);
    spdlog::info("discovery: {} {} no longer serves [{}]: its prefix index is dropped", p.service, s.spec.url,
                 fmt::join(gone, ", "));
  }
  return changed;
}

}  // namespace

struct ModelDiscovery::State {
  State(asio::io_context& io, std::function<void()> f) : io(io), on_change(std::move(f)) {}

  asio::io_context& io;
  const std::function<void()> on_change;
  // Control-plane thread only.
  std::unordered_map<const ServerState*, std::shared_ptr<Poller>> pollers;
  bool stopped = false;
  // Any thread.
  std::atomic<bool> stopping{false};
  mutable std::mutex mutex;
  mutable std::condition_variable round_done;
  int pending_updates = 0;  // posted, not applied yet     (guarded by mutex)
  int pending_first = 0;    // pollers without a first poll (guarded by mutex)

  void notify_change() {
    if (stopping.load() || !on_change) return;
    try {
      on_change();
    } catch (const std::exception& e) {
      spdlog::error("discovery: change callback failed: {}", e.what());
    }
  }

  void first_poll_over(Poller& p) {
    if (p.first_done) return;
    p.first_done = true;
    std::lock_guard lock(mutex);
    if (--pending_first == 0 && pending_updates == 0) round_done.notify_all();
  }

  static awaitable<void> run_poller(std::shared_ptr<State> st, std::shared_ptr<Poller> p);
  void spawn(const std::shared_ptr<State>& self, const std::shared_ptr<Poller>& p);
  void apply(const runtime::Snapshot& snap, const std::shared_ptr<State>& self);
  void stop_all();
};

// The poll loop: poll, wait until `interval` after the start of that poll, repeat. Holds the
// shared State (never the ModelDiscovery) and its Poller; exits at the first resumption after
// p->stop().
awaitable<void> ModelDiscovery::State::run_poller(std::shared_ptr<State> st, std::shared_ptr<Poller> p) {
  co_await asio::this_coro::throw_if_cancelled(false);
  auto ex = co_await asio::this_coro::executor;
  while (!p->stopped) {
    const auto started = std::chrono::steady_clock::now();
    const config::DiscoverModels settings = p->settings;
    const std::string target = p->server->spec.basePath + settings.path;
    http1::ProbeResult result = co_await http1::http_get(ex, p->server->spec.host, p->server->spec.port,
                                                           p->server->host_header, target,
                                                           poll_timeout(settings.interval), p->tls);
    if (p->stopped) break;
    if (absorb(*p, result, target)) st->notify_change();
    st->first_poll_over(*p);  // after on_change: a finished round has been reported
    if (p->stopped) break;  // on_change may have reconfigured us
    p->timer.expires_at(started + p->settings.interval);
    co_await p->timer.async_wait(net::nothrow);
  }
}

void ModelDiscovery::State::spawn(const std::shared_ptr<State>& self, const std::shared_ptr<Poller>& p) {
  auto signal = p->cancel;
  asio::co_spawn(io, run_poller(self, p),
                 asio::bind_cancellation_slot(signal->slot(), [signal](std::exception_ptr e) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     spdlog::error("discovery: poller stopped: {}", ex.what());
                   }
                 }));
}

void ModelDiscovery::State::apply(const runtime::Snapshot& snap, const std::shared_ptr<State>& self) {
  int added = 0;
  int dropped = 0;  // stopped before their first poll
  bool forgot = false;
  if (!stopped) {
    std::unordered_map<const ServerState*, std::shared_ptr<Poller>> next;
    std::vector<ServerState*> undiscovered;
    for (const auto& service : snap.services) {
      const auto& dm = service.lb.discoverModels;
      for (const auto& server : service.servers) {
        if (!dm.enabled) {
          undiscovered.push_back(server.get());
          continue;
        }
        if (auto it = pollers.find(server.get()); it != pollers.end()) {
          auto p = std::move(it->second);
          pollers.erase(it);
          p->service = service.name;
          p->tls = service.tls;
          if (!same_settings(p->settings, dm)) {
            p->settings = dm;
            p->timer.cancel();  // poll now with the new settings
          }
          next.emplace(server.get(), std::move(p));
          continue;
        }
        auto p = std::make_shared<Poller>(io.get_executor(), server, service.name, dm);
        p->tls = service.tls;
        next.emplace(server.get(), p);
        spawn(self, p);
        ++added;
      }
    }
    for (auto& [_, p] : pollers) {
      p->stop();
      if (!p->first_done) {
        p->first_done = true;
        ++dropped;
      }
    }
    pollers = std::move(next);
    for (ServerState* s : undiscovered) {
      s->update_info([&](ServerState::Info& info) {
        if (!info.models_known) return;
        info.models_known = false;
        info.models.clear();
        forgot = true;
      });
    }
  }
  {
    std::lock_guard lock(mutex);
    pending_first += added - dropped;
    --pending_updates;
    if (pending_first == 0 && pending_updates == 0) round_done.notify_all();
  }
  if (forgot) notify_change();
}

void ModelDiscovery::State::stop_all() {
  stopped = true;
  int dropped = 0;
  for (auto& [_, p] : pollers) {
    p->stop();
    if (!p->first_done) {
      p->first_done = true;
      ++dropped;
    }
  }
  pollers.clear();
  std::lock_guard lock(mutex);
  pending_first -= dropped;
  if (pending_first == 0 && pending_updates == 0) round_done.notify_all();
}

std::optional<std::vector<std::string>> parse_model_list(std::string_view json) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root)) return std::nullopt;

  simdjson::dom::array list;
  std::vector<std::string> ids;
  if (root.get_array().get(list)) {
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) return std::nullopt;
    std::string_view single;
    if (obj["data"].get_array().get(list) && obj["models"].get_array().get(list)) {
      if (obj["model_id"].get_string().get(single) || single.empty()) return std::nullopt;
      ids.emplace_back(single);
      return ids;
    }
  }
  std::unordered_set<std::string_view> seen;
  for (simdjson::dom::element entry : list) {
    auto id = entry_id(entry);
    if (id && seen.insert(*id).second) ids.emplace_back(*id);
  }
  if (ids.empty() && list.size() > 0) return std::nullopt;
  return ids;
}

ModelDiscovery::ModelDiscovery(asio::io_context& io, std::function<void()> on_change)
    : state_(std::make_shared<State>(io, std::move(on_change))) {}

ModelDiscovery::~ModelDiscovery() { stop(); }

void ModelDiscovery::update(std::shared_ptr<const runtime::Snapshot> snapshot) {
  if (!snapshot || state_->stopping.load()) return;
  {
    std::lock_guard lock(state_->mutex);
    ++state_->pending_updates;
  }
  asio::post(state_->io,
             [state = state_, snapshot = std::move(snapshot)] { state->apply(*snapshot, state); });
}

void ModelDiscovery::stop() {
  if (state_->stopping.exchange(true)) return;
  asio::post(state_->io, [state = state_] { state->stop_all(); });
}

bool ModelDiscovery::initial_round_done() const {
  std::lock_guard lock(state_->mutex);
  return state_->pending_updates == 0 && state_->pending_first == 0;
}

bool ModelDiscovery::wait_initial_round(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mutex);
  return state_->round_done.wait_for(lock, timeout, [&] {
    return state_->pending_updates == 0 && state_->pending_first == 0;
  });
}

}  // namespace modelgate::discovery
