#include "proxy/worker.h"

#include <spdlog/spdlog.h>

#include "proxy/gateway.h"
#include "proxy/session.h"
#include "proxy/session_impl.h"

namespace modelgate::proxy {

Worker::Worker(Gateway& gateway, unsigned index)
    : gateway_(gateway), index_(index), upstreams_(io_.get_executor()) {
  deadlines_.start(io_.get_executor());
}

std::unique_ptr<ExchangeState> Worker::take_exchange() {
  if (free_exchanges_.empty()) return std::make_unique<ExchangeState>();
  auto state = std::move(free_exchanges_.back());
  free_exchanges_.pop_back();
  return state;
}

void Worker::give_back(std::unique_ptr<ExchangeState> state) {
  constexpr std::size_t kKeep = 256;  // beyond this many at once, a burst's extra states are freed
  if (free_exchanges_.size() < kKeep) free_exchanges_.push_back(std::move(state));
}

bool Worker::gateway_draining() const { return gateway_.draining(); }

Worker::~Worker() {
  io_.stop();
  join();
}

const std::shared_ptr<WorkerRoutes>& Worker::routes() {
  const auto gen = gateway_.generation();
  if (gen != routes_generation_ || !routes_) {
    auto snap = gateway_.current();
    auto next = std::make_shared<WorkerRoutes>();
    next->pools.reserve(snap->services.size());
    for (const auto& svc : snap->services) {
      next->pools.emplace_back(svc.servers,
                               balancing::make_balancer(svc.lb.strategy, svc.servers, balancing::options_for(svc.lb)));
    }
    next->snapshot = std::move(snap);
    routes_ = std::move(next);
    routes_generation_ = gen;
    // Idle connections to servers no longer in any service are closed.
    upstreams_.prune([&](const balancing::ServerState* s) {
      for (const auto& svc : routes_->snapshot->services)
        for (const auto& server : svc.servers)
          if (server.get() == s) return true;
      return false;
    });
  }
  return routes_;
}

void Worker::add_listener(tcp::acceptor acceptor, std::string entry_point) {
  // Bound by the gateway on this worker's loop; taken over with the worker's own executor type.
  auto own = std::make_unique<Acceptor>(io_);
  const auto protocol = acceptor.local_endpoint().protocol();
  own->assign(protocol, acceptor.release());
  acceptors_.push_back(std::move(own));
  acceptor_names_.push_back(std::move(entry_point));
}

void Worker::start() {
  for (std::size_t i = 0; i < acceptors_.size(); ++i) {
    asio::co_spawn(io_, accept_loop(*acceptors_[i], acceptor_names_[i]), asio::detached);
  }
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      spdlog::critical("worker {} stopped: {}", index_, e.what());
    }
  });
}

void Worker::stop_accepting() {
  asio::post(io_, [this] {
    for (auto& a : acceptors_) {
      beast::error_code ec;
      a->close(ec);
    }
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

Task<void> Worker::accept_loop(Acceptor& acceptor, const std::string& entry_point) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(try_op);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // EMFILE and friends: log and keep accepting; a busy loop is avoided by the short pause.
      spdlog::warn("accept on {}: {}", entry_point, ec.message());
      Timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(try_op);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(io_, run_session(std::move(socket), *this, entry_point), asio::detached);
  }
}

}  // namespace modelgate::proxy
