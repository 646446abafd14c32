#include "proxy/gateway.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ranges>
#include <stdexcept>

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

void Gateway::bind() {
  for (const auto& ep : snapshot_->config.entryPoints | std::views::values) {
    std::uint16_t port = ep.port;  // 0: the first worker's bind picks it, the others share it
    for (auto& w : workers_) {
      tcp::endpoint endpoint = endpoint_of(ep, port);
      tcp::acceptor acceptor(w->io());
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
      if (port == 0) port = acceptor.local_endpoint().port();
      if (w.get() == workers_.front().get()) bound_.emplace_back(ep.name, acceptor.local_endpoint());
      w->add_listener(std::move(acceptor), ep.name);
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
