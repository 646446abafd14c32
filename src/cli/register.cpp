// `modelgate register`: the flags checked into RegisterOptions (every mistake named with the fix),
// then the registrar (cli/registrar.h) on one thread until SIGTERM or SIGINT, which revoke the
// lease before the process exits.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "cli/commands.h"
#include "cli/registrar.h"
#include "config/loader.h"
#include "config/values.h"
#include "net/asio.h"

namespace modelgate::cli {

namespace {

// A duration flag: nullopt, with the message printed, when it is not one.
std::optional<std::chrono::milliseconds> duration_flag(std::string_view flag, const std::string& text) {
  auto d = config::parse_duration(text);
  if (!d || d->count() <= 0) {
    std::cerr << fmt::format("modelgate register: {} \"{}\" is not a duration above zero; write e.g. 500ms, 2s, 1m\n",
                             flag, text);
    return std::nullopt;
  }
  return *d;
}

// The options, or nullopt with every problem printed.
std::optional<RegisterOptions> check_flags(const RegisterFlags& flags, config::Server& server) {
  RegisterOptions o;
  bool ok = true;
  auto fail = [&](const std::string& message) {
    std::cerr << "modelgate register: " << message << "\n";
    ok = false;
  };
  std::string bad;
  if (auto endpoints = etcd::parse_endpoints(flags.etcd, &bad)) {
    o.endpoints = std::move(*endpoints);
  } else {
    fail(fmt::format("--etcd \"{}\": {} is not HOST:PORT; write e.g. --etcd 127.0.0.1:2379,127.0.0.2:2379",
                     flags.etcd, bad.empty() ? "no endpoint" : "\"" + bad + "\""));
  }
  o.root_key = flags.root_key;
  while (o.root_key.ends_with('/')) o.root_key.pop_back();
  if (o.root_key.empty()) fail("--root-key is empty; write the prefix the gateways read, e.g. --root-key traefik");
  o.service = flags.service;
  if (o.service.empty() || o.service.find_first_of("/ ") != std::string::npos) {
    fail(fmt::format("--service \"{}\" is not a service name (no '/' or spaces); write the name the gateways' "
                     "routers use, e.g. --service chat",
                     flags.service));
  }
  o.url = flags.url;
  while (o.url.ends_with('/')) o.url.pop_back();
  if (auto why = config::detail::parse_server_url(o.url, server); !why.empty()) {
    fail(fmt::format("--url \"{}\": {}; write the model server's address, e.g. --url http://10.0.0.5:8000",
                     flags.url, why));
  }
  o.health = flags.health;
  if (!o.health.empty() && o.health.front() != '/') {
    fail(fmt::format("--health \"{}\" is not a path; write e.g. --health /health (or --health \"\" for no check)",
                     flags.health));
  }
  const auto ttl = duration_flag("--ttl", flags.ttl);
  const auto interval = duration_flag("--interval", flags.interval);
  const auto timeout = duration_flag("--timeout", flags.timeout);
  if (!ttl || !interval || !timeout) return std::nullopt;
  // etcd counts leases in whole seconds, and refuses (or lengthens) one shorter than its election
  // timeout allows.
  o.ttl = std::chrono::ceil<std::chrono::seconds>(*ttl);
  o.interval = *interval;
  o.timeout = *timeout;
  if (o.ttl < std::chrono::seconds(2)) {
    fail(fmt::format("--ttl {} is below etcd's shortest lease; use 2s or more", flags.ttl));
  } else if (o.interval >= o.ttl) {
    fail(fmt::format("--interval {} is not shorter than --ttl {}: a failed server would outlive its lease; "
                     "check more often or lengthen the lease", flags.interval, flags.ttl));
  }
  if (!ok) return std::nullopt;
  return o;
}

}  // namespace

int register_server(const RegisterFlags& flags) {
  config::Server server;
  auto options = check_flags(flags, server);
  if (!options) return 2;
  std::shared_ptr<const net::ClientTls> tls;
  if (server.tls) {
    std::string error;
    tls = net::ClientTls::make({}, error);
    if (!tls) {
      std::cerr << "modelgate register: " << error << "\n";
      return 1;
    }
  }

  asio::io_context io(1);
  Registrar registrar(io.get_executor(), *options, server, tls);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  auto body = [&]() -> awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    auto work = registrar.run();  // named: see net/asio.h on temporaries in a co_await
    auto signal = signals.async_wait(asio::use_awaitable);
    auto ended = co_await (std::move(work) || std::move(signal));
    if (ended.index() == 1) spdlog::info("signal {}: leaving", std::get<1>(ended));
    co_await registrar.leave();
  };
  int status = 0;
  asio::co_spawn(io, body(), [&](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::critical("register stopped: {}", ex.what());
      status = 1;
    }
  });
  io.run();
  return status;
}

}  // namespace modelgate::cli
