#include "proxy/worker.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "proxy/gateway.h"
#include "net/log_failure.h"
#include "proxy/session.h"
#include "proxy/session_impl.h"
#include "proxy/tcp_session.h"
#include "text/json_parser.h"

namespace modelgate::proxy {

Worker::Worker(Gateway& gateway, unsigned index)
    : gateway_(gateway), index_(index), upstreams_(io_.get_executor()), tls_view_(gateway.tls()) {
  deadlines_.start(io_.get_executor());
}

std::unique_ptr<ExchangeState> Worker::take_exchange() {
  peak_lent_ = std::max(peak_lent_, ++lent_);
  if (free_exchanges_.empty()) return std::make_unique<ExchangeState>();
  auto state = std::move(free_exchanges_.back());
  free_exchanges_.pop_back();
  return state;
}

// A state is kept for the next request with the capacity an ordinary request needs; what a large
// one made it grow to is freed here (a capacity compare per buffer for the others).
void Worker::give_back(std::unique_ptr<ExchangeState> state) {
  constexpr std::size_t kKeep = 256;  // beyond this many at once, a burst's extra states are freed
  --lent_;
  auto& x = *state;
  for (std::string* s : {&x.body, &x.head, &x.tap_out}) {
    if (s->capacity() > kExchangeKeep) {
      std::string().swap(*s);
      gave_back_ = true;
    }
  }
  if (x.body_in.capacity() > kExchangeKeep && x.body_in.empty()) {
    x.body_in.release();
    gave_back_ = true;
  }
  if (free_exchanges_.size() < kKeep) free_exchanges_.push_back(std::move(state));
}

// While waiters of the service wait on other workers too, every other release goes to them: handed
// only among its own waiters, a worker whose requests hold the slots would keep them, and a waiter
// elsewhere would get one only when its fallback found one free, maybe never.
void Worker::slot_released(const runtime::ServiceCounters& counters) {
  const int queued = counters.queued.load(std::memory_order_relaxed);
  if (queued == 0) return;  // nobody waits anywhere
  const bool elsewhere = static_cast<std::size_t>(queued) > slot_queue_.places(&counters);
  if (elsewhere && slot_queue_.turn_elsewhere()) {
    slot_queue_.handed_elsewhere(&counters);
    return gateway_.wake_slot_waiters(&counters, index_);
  }
  if (!slot_queue_.wake(&counters)) gateway_.wake_slot_waiters(&counters, index_);
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
    next->pools = pools_.adopt(*snap);
    std::vector<const runtime::ServiceRuntime*> tcp_services;
    for (const auto& svc : snap->tcp_services) tcp_services.push_back(&svc.balancing);
    next->tcp_pools = tcp_pools_.adopt(tcp_services);
    next->snapshot = std::move(snap);
    routes_ = std::move(next);
    routes_generation_ = gen;
    // Idle connections to servers no longer in any service are closed (none can be when no
    // server list changed: a discovery change, most reloads).
    if (pools_.servers_changed()) upstreams_.prune([&](const balancing::ServerState* s) {
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
  auto own = std::make_unique<net::Acceptor>(io_);
  const auto protocol = acceptor.local_endpoint().protocol();
  own->assign(protocol, acceptor.release());
  acceptors_.push_back(std::move(own));
  acceptor_names_.push_back(std::move(entry_point));
}

void Worker::start() {
  for (std::size_t i = 0; i < acceptors_.size(); ++i) {
    // An accept loop that fails leaves nobody accepting on its listener: it is closed, so that the
    // kernel sends the connections to the other workers.
    asio::co_spawn(io_, accept_loop(i), [this, i](std::exception_ptr e) {
      if (!e) return;
      net::LogFailure{"accept loop", index_}(e);
      beast::error_code ec;
      acceptors_[i]->close(ec);
    });
  }
  asio::co_spawn(io_, housekeeping(), net::LogFailure{"housekeeping", index_});
  thread_ = std::thread([this] { run_loop(); });
}

// An exception out of a handler unwinds io_.run(); the loop's state is intact, so it is run again
// and the worker's connections carry on. A loop that keeps dying closes its listeners, so that the
// kernel hands new connections (SO_REUSEPORT) to the other workers instead of to a sick one.
void Worker::run_loop() {
  constexpr int kRestartsBeforeClosing = 5;
  for (int deaths = 0;;) {
    try {
      io_.run();
      return;  // stopped
    } catch (const std::exception& e) {
      spdlog::critical("worker {}: event loop failed: {}; restarting it", index_, e.what());
    } catch (...) {
      spdlog::critical("worker {}: event loop failed (not a std::exception); restarting it", index_);
    }
    if (++deaths == kRestartsBeforeClosing) {
      spdlog::critical("worker {}: event loop failed {} times; it stops accepting connections", index_,
                       deaths);
      close_listeners();
    }
  }
}

// After a burst: the exchange states kept beyond what the last second needed, the per-thread JSON
// parser grown by a large body, and then the allocator's free pages (glibc keeps freed memory of
// large blocks in its heaps; malloc_trim returns it to the kernel).
void Worker::give_memory_back() {
  constexpr std::size_t kMinKept = 8;
  const std::size_t keep = std::max(peak_lent_, kMinKept);
  if (free_exchanges_.size() > keep) {
    free_exchanges_.resize(keep);
    gave_back_ = true;
  }
  peak_lent_ = lent_;
  if (text::thread_json_parser().capacity() > text::kJsonParserKeep) {
    text::trim_thread_json_parser();
    gave_back_ = true;
  }
  if (gave_back_) {
    gave_back_ = false;
    ::malloc_trim(0);
  }
}

void Worker::close_listeners() {
  accepting_.store(false, std::memory_order_relaxed);
  for (auto& a : acceptors_) {
    beast::error_code ec;
    a->close(ec);
  }
}

net::Task<void> Worker::housekeeping() {
  net::Timer tick(io_);
  for (;;) {
    tick.expires_after(kHousekeepingTick);
    auto [ec] = co_await tick.async_wait(net::try_op);
    if (ec) co_return;
    upstreams_.sweep(net::Deadline::coarse_now());
    give_memory_back();
  }
}

void Worker::stop_accepting() {
  asio::post(io_, [this] { close_listeners(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

net::Task<void> Worker::accept_loop(std::size_t listener) {
  net::Acceptor& acceptor = *acceptors_[listener];
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(net::try_op);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // EMFILE and friends: log and keep accepting; a busy loop is avoided by the short pause.
      spdlog::warn("accept on {}: {}", acceptor_names_[listener], ec.message());
      net::Timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(net::try_op);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    Worker& home = gateway_.home_for_connection(*this);
    home.connections.fetch_add(1, std::memory_order_relaxed);
    if (&home == this) {
      serve(std::move(socket), listener);
      continue;
    }
    const auto protocol = acceptor.local_endpoint(ec).protocol();
    home.adopt(socket.release(ec), protocol, listener);
  }
}

// An entry point that TCP routers use relays connections (tcp_session.h); the others serve HTTP.
// Judged per connection, so a reload that adds or removes TCP routers takes effect at once.
void Worker::serve(net::Socket socket, std::size_t listener) {
  const std::string& name = acceptor_names_[listener];
  const auto* ep = routes()->snapshot->entry_point(name);
  auto done = [this](std::exception_ptr e) {
    connections.fetch_sub(1, std::memory_order_relaxed);
    if (e) net::LogFailure{"session", index_}(e);
  };
  if (ep != nullptr && ep->tcp) {
    asio::co_spawn(io_, run_tcp_session(std::move(socket), *this, name), done);
  } else {
    asio::co_spawn(io_, run_session(std::move(socket), *this, name), done);
  }
}

namespace {

// A descriptor in flight between two workers' loops: closed if the loop it was posted to stops
// before taking it.
struct PassedFd {
  int fd = -1;
  explicit PassedFd(int f) : fd(f) {}
  PassedFd(PassedFd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  PassedFd& operator=(PassedFd&&) = delete;
  ~PassedFd() {
    if (fd >= 0) ::close(fd);
  }
  int take() { return std::exchange(fd, -1); }
};

}  // namespace

void Worker::adopt(int fd, tcp protocol, std::size_t listener) {
  asio::post(io_, [this, passed = PassedFd(fd), protocol, listener]() mutable {
    net::Socket socket(io_);
    beast::error_code ec;
    socket.assign(protocol, passed.fd, ec);
    if (ec) {  // passed closes it
      connections.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    passed.take();  // the socket owns it now
    serve(std::move(socket), listener);
  });
}

}  // namespace modelgate::proxy
