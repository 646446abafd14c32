// `modelgate sim`: one io_context per thread, each with its own listener on the same port
// (SO_REUSEPORT), so that threads share nothing on the hot path but the counters and the model
// list. Announces "sim NAME listening on HOST:PORT" on stdout once every listener is bound.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>

#include "sim/listener.h"
#include "sim/sim.h"

namespace modelgate::sim {

namespace asio = boost::asio;

int run(const SimOptions& options) {
  std::signal(SIGPIPE, SIG_IGN);
  const int threads = std::max(1, options.threads);
  auto core = std::make_shared<detail::SimCore>(options);

  std::vector<std::unique_ptr<asio::io_context>> ios;
  std::vector<std::shared_ptr<detail::Listener>> listeners;
  std::uint16_t port = options.port;
  try {
    for (int i = 0; i < threads; ++i) {
      ios.push_back(std::make_unique<asio::io_context>(1));
      auto address = detail::resolve_host(*ios.back(), options.host);
      listeners.push_back(std::make_shared<detail::Listener>(
          *ios.back(), core, asio::ip::tcp::endpoint(address, port), /*reuse_port=*/threads > 1,
          /*strand_per_connection=*/false));
      port = listeners.back()->port();  // port 0: the others join the port the first one got
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "sim {}: cannot listen on {}:{}: {}\n", options.name, options.host,
               options.port, e.what());
    return 1;
  }
  for (auto& listener : listeners) listener->start();

  asio::signal_set signals(*ios[0], SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    for (auto& io : ios) io->stop();
  });

  fmt::print("sim {} listening on {}:{}\n", options.name, options.host, port);
  std::fflush(stdout);

  std::vector<std::thread> workers;
  for (int i = 1; i < threads; ++i) workers.emplace_back([&io = *ios[i]] { io.run(); });
  ios[0]->run();
  for (auto& io : ios) io->stop();
  for (auto& worker : workers) worker.join();
  if (core->engines) core->engines->stop();  // before the sessions' io_contexts go
  return 0;
}

}  // namespace modelgate::sim
