// The etcd provider's range-apply-watch cycle; see etcd_source.h.
#include "control/etcd_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <span>

#include "etcd/client.h"
#include "text/prometheus.h"

namespace modelgate::control {

namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{5000};
constexpr std::chrono::milliseconds kCallTimeout{2000};

}  // namespace

struct EtcdSource::State : std::enable_shared_from_this<State> {
  State(asio::io_context& io, config::EtcdProvider s, Apply a)
      : settings(std::move(s)), apply(std::move(a)), batch(io), retry(io), first_round_seen(first_round.get_future().share()) {}

  const config::EtcdProvider settings;
  const Apply apply;
  asio::cancellation_signal cancel;
  bool stopped = false;

  // Control thread only.
  std::map<std::string, std::string> kvs;  // etcd's keys as last read
  std::int64_t revision = 0;
  std::optional<std::map<std::string, std::string>> tried;  // the set last handed to apply
  bool tried_refused = false;
  asio::steady_timer batch;
  bool batch_pending = false;
  asio::steady_timer retry;

  std::promise<void> first_round;
  std::shared_future<void> first_round_seen;
  bool first_round_set = false;

  mutable std::mutex mutex;  // guards the status below
  bool connected = false;
  std::int64_t applied_revision = 0;
  std::string last_error;
  std::chrono::system_clock::time_point since = std::chrono::system_clock::now();
  std::uint64_t applied = 0, rejected = 0;

  void set_connected(bool now, std::string why) {
    std::lock_guard lock(mutex);
    if (now != connected) since = std::chrono::system_clock::now();
    if (!now && connected) spdlog::warn("etcd provider: disconnected ({}); the configuration last applied keeps serving", why);
    if (now && !connected) spdlog::info("etcd provider: connected, watching {}/", settings.rootKey);
    connected = now;
    if (!now || !why.empty()) last_error = std::move(why);
  }

  void first_round_done() {
    if (first_round_set) return;
    first_round_set = true;
    first_round.set_value();
  }

  // Hands the keys to the control plane unless this very set was handed already.
  void flush() {
    if (stopped || (tried && *tried == kvs)) return;
    tried = kvs;
    std::string why = apply(pairs(), revision);
    tried_refused = !why.empty();
    std::lock_guard lock(mutex);
    if (why.empty()) {
      record_applied();
    } else {
      ++rejected;
      last_error = fmt::format("revision {} refused: {}", revision, why);
    }
  }

  std::vector<config::KvPair> pairs() const {
    std::vector<config::KvPair> out;
    out.reserve(kvs.size());
    for (const auto& [k, v] : kvs) out.push_back({k, v});
    return out;
  }

  void record_applied() {  // under mutex
    ++applied;
    applied_revision = revision;
    last_error.clear();
  }

  void schedule_flush() {
    if (batch_pending) return;
    batch_pending = true;
    batch.expires_after(kBatch);
    batch.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      self->batch_pending = false;
      if (!ec) self->flush();
    });
  }
};

EtcdSource::EtcdSource(asio::io_context& io, config::EtcdProvider settings, Apply apply)
    : state_(std::make_shared<State>(io, std::move(settings), std::move(apply))) {}

EtcdSource::~EtcdSource() { stop(); }

void EtcdSource::start() {
  asio::co_spawn(state_->batch.get_executor(), run(state_),
                 asio::bind_cancellation_slot(state_->cancel.slot(), asio::detached));
}

void EtcdSource::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  state_->cancel.emit(asio::cancellation_type::terminal);
  state_->batch.cancel();
  state_->retry.cancel();
}

bool EtcdSource::wait_first_round(std::chrono::milliseconds timeout) {
  return state_->first_round_seen.wait_for(timeout) == std::future_status::ready;
}

const config::EtcdProvider& EtcdSource::settings() const { return state_->settings; }

std::optional<std::vector<config::KvPair>> EtcdSource::refused() const {
  if (!state_->tried_refused || !state_->tried || *state_->tried != state_->kvs) return std::nullopt;
  return state_->pairs();
}

void EtcdSource::applied_with_file() {
  state_->tried_refused = false;
  std::lock_guard lock(state_->mutex);
  state_->record_applied();
}

admin::ProviderInfo EtcdSource::info() const {
  std::lock_guard lock(state_->mutex);
  return admin::ProviderInfo{"etcd",          state_->settings.endpoints, state_->settings.rootKey,
                             state_->connected, state_->applied_revision, state_->last_error,
                             state_->since,     state_->applied,          state_->rejected};
}

void EtcdSource::render_metrics(std::string& out) const {
  const admin::ProviderInfo p = info();
  out += "# HELP modelgate_provider_connected 1 while the provider is connected and watching, else 0.\n"
         "# TYPE modelgate_provider_connected gauge\n";
  out += fmt::format("modelgate_provider_connected{{provider=\"etcd\"}} {}\n", p.connected ? 1 : 0);
  out += "# HELP modelgate_provider_revision The provider's revision last applied (etcd's store revision).\n"
         "# TYPE modelgate_provider_revision gauge\n";
  out += fmt::format("modelgate_provider_revision{{provider=\"etcd\"}} {}\n", p.revision);
  out += "# HELP modelgate_provider_updates_total States read from the provider, by result.\n"
         "# TYPE modelgate_provider_updates_total counter\n";
  out += fmt::format("modelgate_provider_updates_total{{provider=\"etcd\",result=\"applied\"}} {}\n", p.updates_applied);
  out += fmt::format("modelgate_provider_updates_total{{provider=\"etcd\",result=\"rejected\"}} {}\n", p.updates_rejected);
}

namespace {

std::vector<etcd::Endpoint> endpoints_of(const config::EtcdProvider& settings) {
  std::vector<etcd::Endpoint> out;
  for (const auto& text : settings.endpoints) {
    if (auto e = etcd::parse_endpoint(text)) out.push_back(*e);
  }
  return out;
}

}  // namespace

awaitable<void> EtcdSource::run(std::shared_ptr<State> s) {
  etcd::Client client(co_await asio::this_coro::executor, endpoints_of(s->settings), kCallTimeout);
  const std::string prefix = s->settings.rootKey + "/";
  auto backoff = kFirstBackoff;
  while (!s->stopped) {
    std::string why;
    bool again_now = false;
    try {
      auto range = co_await client.range_prefix(prefix);
      s->kvs.clear();
      for (auto& kv : range.kvs) s->kvs.emplace(std::move(kv.key), std::move(kv.value));
      s->revision = range.revision;
      s->set_connected(true, "");
      s->flush();
      s->first_round_done();
      backoff = kFirstBackoff;
      co_await client.watch_prefix(prefix, range.revision + 1,
                                   [s](std::span<const etcd::WatchEvent> events, std::int64_t revision) {
                                     for (const auto& e : events) {
                                       if (e.type == etcd::WatchEvent::Type::put) {
                                         s->kvs[e.kv.key] = e.kv.value;
                                       } else {
                                         s->kvs.erase(e.kv.key);
                                       }
                                     }
                                     s->revision = std::max(s->revision, revision);
                                     s->schedule_flush();
                                   });
      why = "etcd closed the watch";
    } catch (const etcd::Error& e) {
      again_now = e.compacted();
      why = e.what();
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (s->stopped) break;
    if (again_now) continue;  // compacted: range again
    s->set_connected(false, why);
    s->first_round_done();
    s->retry.expires_after(backoff);
    co_await s->retry.async_wait(net::nothrow);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
  s->first_round_done();
}

}  // namespace modelgate::control
