// The in-process Sim (sim.h): one listener on the caller's io_context.
#include "sim/sim.h"

#include "sim/listener.h"

namespace modelgate::sim {

struct Sim::State {
  std::shared_ptr<detail::SimCore> core;
  std::shared_ptr<detail::Listener> listener;
};

Sim::Sim(boost::asio::io_context& io, SimOptions options) : state_(std::make_shared<State>()) {
  auto address = detail::resolve_host(io, options.host);
  auto port = options.port;
  state_->core = std::make_shared<detail::SimCore>(std::move(options));
  state_->listener = std::make_shared<detail::Listener>(
      io, state_->core, boost::asio::ip::tcp::endpoint(address, port),
      /*reuse_port=*/false, /*strand_per_connection=*/true);
  state_->listener->start();
}

Sim::~Sim() { stop(); }

std::uint16_t Sim::port() const { return state_->listener->port(); }

void Sim::stop() {
  state_->listener->stop();
  if (state_->core->engines) state_->core->engines->stop();
}

}  // namespace modelgate::sim
