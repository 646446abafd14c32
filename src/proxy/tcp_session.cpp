// See tcp_session.h. The steps of one relayed connection:
//   1. SNI: when a route of the entry point needs the server name, the ClientHello is read into
//      the relay's first buffer (at most one record, net/client_hello.h) within the entry point's
//      timeouts.readHeader; a connection that sends nothing in time is closed, one that is not TLS
//      has no name (HostSNI(`*`) and ClientIP routes may still take it, with what it sent).
//   2. Route: the TCP routes in priority order, matched against the SNI ("" when not read) and the
//      client's address. No match: the connection is closed.
//   3. Server: the service's pool picks (health and drain judged as for HTTP, balancing/pool.h);
//      a server that refuses or does not answer within timeouts.connect is counted a connect
//      failure and the next one is tried, each at most once.
//   4. The PROXY v2 header, then the peeked bytes, go first; then the relay runs.
// The connection counts as a request of the worker while it is open, so a drain (SIGTERM, binary
// upgrade) waits for it up to shutdown.drainTimeout.
#include "proxy/tcp_session.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "balancing/hash_key.h"
#include "balancing/tried_set.h"
#include "net/proxy_protocol.h"
#include "proxy/client_ip.h"
#include "proxy/tcp_relay.h"
#include "proxy/worker.h"

namespace modelgate::proxy {

namespace {

struct Counted {
  explicit Counted(std::atomic<int>& c) : c_(c) { c_.fetch_add(1, std::memory_order_relaxed); }
  ~Counted() { c_.fetch_sub(1, std::memory_order_relaxed); }
  std::atomic<int>& c_;
};

// Reads until the ClientHello's first record is whole, or the first bytes show it is not TLS; the
// SNI ("" without one, or not TLS: only routes that need no name can take it, as in Traefik), or
// nullopt when the connection ends or is too slow.
net::Task<std::optional<std::string_view>> peek_sni(TcpRelay& relay, std::size_t& held,
                                                    std::chrono::milliseconds timeout) {
  auto& buffer = relay.up();
  relay.deadline().after(timeout);
  for (;;) {
    auto [ec, n] = co_await relay.client().async_read_some(
        asio::buffer(buffer.data() + held, buffer.size() - held), net::try_op);
    if (ec) co_return std::nullopt;
    held += n;
    const auto hello = net::parse_client_hello({buffer.data(), held});
    switch (hello.status) {
      case net::HelloStatus::need_more:
        if (held == buffer.size()) co_return std::nullopt;  // cannot happen: a record fits
        continue;
      case net::HelloStatus::sni:
        co_return hello.name;
      case net::HelloStatus::no_sni:
      case net::HelloStatus::not_tls:
        co_return std::string_view{};
    }
  }
}

// An IP address as written needs no resolver (no allocation); a name is resolved each time.
net::Task<std::optional<tcp::endpoint>> endpoint_of(const balancing::ServerState& s, net::Executor ex) {
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(s.spec.host, ec);
  if (!ec) co_return tcp::endpoint(addr, s.spec.port);
  asio::ip::basic_resolver<tcp, net::Executor> resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(s.spec.host, std::to_string(s.spec.port), net::try_op);
  if (rec || results.empty()) co_return std::nullopt;
  co_return results.begin()->endpoint();
}

}  // namespace

net::Task<void> run_tcp_session(net::Socket socket, Worker& worker, const std::string& entry_point) {
  const std::shared_ptr<WorkerRoutes> routes = worker.routes();  // held: its pools and snapshot
  const runtime::Snapshot& snap = *routes->snapshot;
  const runtime::EntryPointRuntime* ep = snap.entry_point(entry_point);
  if (ep == nullptr || !ep->tcp) co_return;
  Counted counted(worker.active_requests);
  boost::system::error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  const tcp::endpoint local = socket.local_endpoint(ec);
  if (ec) co_return;
  auto relay = std::make_unique<TcpRelay>(std::move(socket), worker.deadlines());

  std::size_t held = 0;
  std::string_view sni;
  if (ep->needs_sni) {
    auto name = co_await peek_sni(*relay, held, ep->spec.timeouts.readHeader);
    if (!name) {
      spdlog::debug("{}: {} sent nothing in time, closed", entry_point, remote.address().to_string());
      co_return;
    }
    sni = *name;
  }
  routing::RequestView view;
  view.host = sni;
  view.client_ip = to_ip(unmapped(remote.address()));
  const runtime::TcpRoute* route = nullptr;
  for (const auto& r : ep->tcp_routes) {
    if (r.rule->matches(view)) {
      route = &r;
      break;
    }
  }
  if (route == nullptr) {
    spdlog::debug("{}: no TCP router matches {} (SNI \"{}\"), closed", entry_point, remote.address().to_string(), sni);
    co_return;
  }
  const runtime::TcpServiceRuntime& service = snap.tcp_services[route->service];
  balancing::Pool& pool = *routes->tcp_pools[route->service];
  const std::uint64_t key_hash =
      service.balancing.hash_key ? balancing::hash_request_key(*service.balancing.hash_key, view, {}) : 0;

  balancing::TriedSet tried;
  balancing::ServerState* server = nullptr;
  relay->connecting(true);
  for (;;) {
    const auto pick = pool.pick(balancing::PickRequest{&tried, key_hash, {}, false});
    if (pick.server == nullptr) break;
    tried.insert(pick.index);
    auto endpoint = co_await endpoint_of(*pick.server, relay->client().get_executor());
    if (endpoint) {
      relay->server() = net::Socket(relay->client().get_executor());
      relay->deadline().after(service.tcp.connectTimeout);
      auto [cec] = co_await relay->server().async_connect(*endpoint, net::try_op);
      if (!cec) {
        server = pick.server;
        break;
      }
    }
    pick.server->tcp.connect_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("{}: cannot connect to {} of TCP service {}; trying another", entry_point, pick.server->spec.url,
                  service.balancing.name);
  }
  relay->deadline().clear();
  if (server == nullptr) co_return;
  relay->server().set_option(tcp::no_delay(true), ec);
  server->requests.fetch_add(1, std::memory_order_relaxed);
  server->inflight.fetch_add(1, std::memory_order_relaxed);
  struct Open {
    balancing::ServerState* s;
    ~Open() { s->inflight.fetch_sub(1, std::memory_order_relaxed); }
  } open{server};

  if (service.tcp.proxyProtocol == 2) {
    net::ProxyV2Header header{};
    const std::size_t n = net::write_proxy_v2(header, remote, local);
    relay->deadline().after(ep->spec.timeouts.idle);
    auto [wec, written] = co_await asio::async_write(relay->server(), asio::buffer(header.data(), n), net::try_op);
    if (wec) co_return;
  }
  co_await relay->run(held, RelayTimes{ep->spec.timeouts.idle, service.tcp.terminationDelay},
                      RelayCounters{&server->tcp.bytes_in, &server->tcp.bytes_out});
}

}  // namespace modelgate::proxy
