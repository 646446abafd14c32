#include "cli/registrar.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "http1/probe.h"
#include "net/asio.h"
#include "text/sha256.h"

namespace modelgate::cli {

namespace {

constexpr std::chrono::milliseconds kMaxBackoff{5000};

bool lease_not_found(const etcd::Error& e) {
  return e.kind() == etcd::Error::Kind::rejected &&
         std::string_view(e.what()).find("lease not found") != std::string_view::npos;
}

}  // namespace

std::string server_id(std::string_view url) {
  const auto digest = text::sha256(url);
  std::uint64_t id = 0;
  for (int i = 0; i < 6; ++i) id = (id << 8) | digest[static_cast<std::size_t>(i)];
  return std::to_string(id);
}

std::string server_key(const RegisterOptions& options) {
  return fmt::format("{}/http/services/{}/loadbalancer/servers/{}/url", options.root_key, options.service,
                     server_id(options.url));
}

Registrar::Registrar(asio::any_io_executor ex, RegisterOptions options, config::Server server,
                     std::shared_ptr<const net::ClientTls> tls)
    : ex_(ex),
      options_(std::move(options)),
      server_(std::move(server)),
      tls_(std::move(tls)),
      key_(server_key(options_)),
      host_header_(server_.host.find(':') != std::string::npos
                       ? fmt::format("[{}]:{}", server_.host, server_.port)
                       : fmt::format("{}:{}", server_.host, server_.port)),
      client_(ex, options_.endpoints, options_.timeout),
      backoff_(options_.interval) {}

awaitable<void> Registrar::check_health() {
  next_check_ = Clock::now() + options_.interval;
  if (options_.health.empty()) {
    healthy_ = checked_ = true;
    co_return;
  }
  const std::string target = server_.basePath + options_.health;
  const http1::ProbeResult r =
      co_await http1::http_get(ex_, server_.host, server_.port, host_header_, target, options_.timeout, tls_);
  const bool ok = r.ok() && r.status >= 200 && r.status < 400;
  if (checked_ && ok == healthy_) co_return;
  if (ok) {
    spdlog::info("{} answers GET {} ({})", options_.url, options_.health, r.status);
  } else {
    spdlog::warn("{} does not answer GET {}: {}", options_.url, options_.health,
                 r.ok() ? fmt::format("status {}", r.status) : r.error);
  }
  healthy_ = ok;
  checked_ = true;
}

awaitable<void> Registrar::renew_or_grant() {
  if (lease_ != 0 && Clock::now() >= next_renewal_) {
    const std::int64_t left = co_await client_.keep_alive(lease_);
    if (left == 0) {
      spdlog::warn("lease {:x} lapsed; granting a new one and writing {} again", lease_, key_);
      lease_ = 0;
      written_ = false;
    } else {
      next_renewal_ = Clock::now() + options_.ttl / 3;
    }
  }
  if (lease_ == 0) {
    lease_ = co_await client_.grant_lease(options_.ttl);
    written_ = false;
    next_renewal_ = Clock::now() + options_.ttl / 3;
    spdlog::info("lease {:x} granted by etcd at {} (TTL {} s)", lease_, client_.current_endpoint(),
                 options_.ttl.count());
  }
}

awaitable<void> Registrar::converge() {
  for (int attempt = 0;; ++attempt) {
    try {
      co_await renew_or_grant();
      if (healthy_ && !written_) {
        co_await client_.put(key_, options_.url, lease_);
        written_ = true;
        spdlog::info("registered {} = {} under lease {:x}", key_, options_.url, lease_);
      } else if (!healthy_ && written_) {
        co_await client_.remove(key_);
        written_ = false;
        spdlog::info("withdrew {}: {} failed its health check", key_, options_.url);
      }
      co_return;
    } catch (const etcd::Error& e) {
      // The lease lapsed between the renewal and the write: a new lease, once.
      if (!lease_not_found(e) || attempt > 0) throw;
      lease_ = 0;
      written_ = false;
    }
  }
}

awaitable<void> Registrar::run() {
  asio::steady_timer timer(ex_);
  spdlog::info("registering {} as {} in etcd at {} while GET {} answers", options_.url, key_,
               client_.endpoints().front().to_string(), options_.health.empty() ? "(no check)" : options_.health);
  for (;;) {
    if (Clock::now() >= next_check_) co_await check_health();
    if (Clock::now() >= retry_at_) {
      try {
        co_await converge();
        if (etcd_down_) spdlog::info("etcd reachable again at {}", client_.current_endpoint());
        etcd_down_ = false;
        backoff_ = options_.interval;
      } catch (const etcd::Error& e) {
        if (!etcd_down_) spdlog::warn("{}; retrying, backing off up to {} ms", e.what(), kMaxBackoff.count());
        etcd_down_ = true;
        retry_at_ = Clock::now() + backoff_;
        backoff_ = std::min(backoff_ * 2, kMaxBackoff);
      }
    }
    auto wake = std::min(next_check_, etcd_down_ ? retry_at_ : next_renewal_);
    if (lease_ == 0 && !etcd_down_) wake = next_check_;
    timer.expires_at(wake);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

awaitable<void> Registrar::leave() {
  if (lease_ == 0) co_return;
  try {
    co_await client_.revoke(lease_);
    spdlog::info("revoked lease {:x}: {} left the pool", lease_, key_);
  } catch (const etcd::Error& e) {
    spdlog::warn("could not revoke lease {:x} ({}); {} goes when the lease lapses, within {} s", lease_, e.what(),
                 key_, options_.ttl.count());
  }
  lease_ = 0;
}

}  // namespace modelgate::cli
