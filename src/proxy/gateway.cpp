#include "proxy/gateway.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ranges>
#include <stdexcept>

#include "net/listen_fds.h"
#include "proxy/accept_balance.h"

namespace modelgate::proxy {

namespace {

tcp::endpoint endpoint_of(const config::EntryPoint& ep, std::uint16_t port) {
  if (ep.host.empty()) return tcp::endpoint(tcp::v4(), port);
  beast::error_code ec;
  auto addr = asio::ip::make_address(ep.host, ec);
  if (ec) {
    asio::io_context io;
    tcp::resolver r(io);
    auto results = r.resolve(ep.host, std::to_string(port), ec);
    if (ec || results.empty()) {
      throw std::runtime_error(fmt::format("entry point \"{}\": cannot resolve \"{}\": {}", ep.name, ep.host,
                                           ec ? ec.message() : "no address"));
    }
    return *results.begin();
  }
  return tcp::endpoint(addr, port);
}

}  // namespace

Gateway::Gateway(std::shared_ptr<const runtime::Snapshot> initial, runtime::ServerRegistry& registry, unsigned workers)
    : snapshot_(std::move(initial)), registry_(registry) {
  if (workers == 0) workers = 1;
  for (unsigned i = 0; i < workers; ++i) workers_.push_back(std::make_unique<Worker>(*this, i));
}

Gateway::~Gateway() {
  for (auto& w : workers_) w->stop_now();
  join();
}

// A new SO_REUSEPORT listener of `ep` on `endpoint`, for the loop of `io`.
tcp::acceptor Gateway::open_listener(asio::io_context& io, const config::EntryPoint& ep,
                                     const tcp::endpoint& endpoint) {
  tcp::acceptor acceptor(io);
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) {
    int one = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec = beast::error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("entry point \"{}\": cannot listen on {}: {}; choose another address in "
                    "entryPoints.{}.address or stop the process using it",
                    ep.name, fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port()),
                    ec.message(), ep.name));
  }
  return acceptor;
}

// Each worker takes an inherited socket of the entry point when there is one, else binds its own.
// Inherited sockets beyond one per worker (the old process ran more workers) are given out too, a
// round at a time, so that no connection waits in a socket nobody accepts on; the workers without
// one in such a round bind their own, since a listener index means the same entry point on every
// worker.
void Gateway::bind(net::InheritedListeners* inherited) {
  for (const auto& ep : snapshot_->config.entryPoints | std::views::values) {
    std::uint16_t port = ep.port;  // 0: the first worker's bind picks it, the others share it
    bool first_round = true;
    while (first_round || (inherited && inherited->count(ep.name, endpoint_of(ep, port)) > 0)) {
      for (auto& w : workers_) {
        const tcp::endpoint endpoint = endpoint_of(ep, port);
        const int fd = inherited ? inherited->take(ep.name, endpoint) : -1;
        tcp::acceptor acceptor(w->io());
        if (fd >= 0) {
          acceptor.assign(endpoint.protocol(), fd);
        } else {
          acceptor = open_listener(w->io(), ep, endpoint);
        }
        if (port == 0) port = acceptor.local_endpoint().port();
        if (first_round && w.get() == workers_.front().get()) {
          bound_.emplace_back(ep.name, acceptor.local_endpoint());
        }
        listeners_.push_back({acceptor.native_handle(), ep.name});
        w->add_listener(std::move(acceptor), ep.name);
      }
      first_round = false;
    }
  }
}

Worker& Gateway::home_for_connection(const Worker& acceptor) {
  const auto i = choose_worker(
      acceptor.index(), workers_.size(),
      [&](std::size_t w) { return workers_[w]->connections.load(std::memory_order_relaxed); },
      [&](std::size_t w) { return workers_[w]->accepting(); });
  return *workers_[i];
}

void Gateway::start() {
  for (auto& w : workers_) w->start();
}

void Gateway::shutdown(std::chrono::milliseconds drain) {
  draining_ = true;
  for (auto& w : workers_) w->stop_accepting();
  const auto deadline = std::chrono::steady_clock::now() + drain;
  auto busy = [&] {
    for (auto& w : workers_)
      if (w->active_requests.load() > 0) return true;
    return false;
  };
  while (busy() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& w : workers_) w->stop_now();
}

void Gateway::join() {
  for (auto& w : workers_) w->join();
}

void Gateway::wake_slot_waiters(const void* key, unsigned from) {
  for (auto& w : workers_) {
    if (w->index() == from || w->slot_queue().waiting() == 0) continue;
    Worker* worker = w.get();  // workers outlive their loops: a posted wake never finds one gone
    asio::post(worker->io(), [worker, key] { worker->slot_queue().wake(key); });
  }
}

void Gateway::swap(std::shared_ptr<const runtime::Snapshot> next) {
  {
    std::lock_guard lock(mutex_);
    snapshot_ = std::move(next);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
  registry_.collect();
}

std::shared_ptr<const runtime::Snapshot> Gateway::current() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

}  // namespace modelgate::proxy
