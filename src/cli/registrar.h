// `modelgate register`: keeps one model server in etcd, in Traefik's KV layout, for as long as it
// answers its health endpoint, so every gateway watching etcd has it in the service's pool.
//
//   <root>/http/services/<service>/loadbalancer/servers/<id>/url = <url>
//
// The key is written under a lease of `ttl`, renewed about every ttl/3: a machine that dies takes
// its server out of every gateway's pool when the lease lapses, without anyone deleting anything.
// The health endpoint is checked every `interval`; the key is deleted at the first failed check and
// written again at the first good one. On SIGTERM/SIGINT the lease is revoked, which deletes the
// key at once.
//
// <id> is a decimal number, the first 48 bits of the SHA-256 of the URL: the same URL always has
// the same id, so a restarted sidecar replaces its own entry instead of adding a second one, two
// sidecars for different URLs never share one (a collision needs ~10^7 servers in one service),
// and the segment is numeric as Traefik's own servers/0, servers/1 are.
//
// etcd unreachable: every call is retried with a backoff doubling from `interval` up to 5 s, and
// the log says so once when etcd goes and once when it is back. A lease that lapsed meanwhile
// (renewal answered "gone") is replaced by a new one and the key written again.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "config/config.h"
#include "etcd/client.h"
#include "net/tls.h"

namespace modelgate::cli {

struct RegisterOptions {
  std::vector<etcd::Endpoint> endpoints;
  std::string root_key = "traefik";
  std::string service;
  std::string url;
  std::string health = "/health";  // "": no check, registered while the sidecar runs
  std::chrono::seconds ttl{10};
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{2000};  // each health check and each etcd call
};

// The id of the server at `url` under its service (see above).
std::string server_id(std::string_view url);
// <root>/http/services/<service>/loadbalancer/servers/<id>/url
std::string server_key(const RegisterOptions& options);

class Registrar {
 public:
  // `server` is the URL parsed (config::parse_server_url).
  Registrar(boost::asio::any_io_executor ex, RegisterOptions options, config::Server server,
            std::shared_ptr<const net::ClientTls> tls);

  // Checks, writes, renews and deletes until cancelled.
  boost::asio::awaitable<void> run();
  // Revokes the lease (the key goes with it); logs when it cannot.
  boost::asio::awaitable<void> leave();

 private:
  using Clock = std::chrono::steady_clock;

  boost::asio::awaitable<void> check_health();
  // Brings etcd to what the last check said; throws etcd::Error when etcd cannot be reached.
  boost::asio::awaitable<void> converge();
  boost::asio::awaitable<void> renew_or_grant();

  boost::asio::any_io_executor ex_;
  RegisterOptions options_;
  config::Server server_;
  std::shared_ptr<const net::ClientTls> tls_;
  std::string key_;
  std::string host_header_;
  etcd::Client client_;

  bool healthy_ = false;
  bool checked_ = false;         // healthy_ holds a result
  std::int64_t lease_ = 0;       // 0: none granted (or it lapsed)
  bool written_ = false;         // the key is in etcd under lease_
  Clock::time_point next_check_{}, next_renewal_{}, retry_at_{};
  bool etcd_down_ = false;
  std::chrono::milliseconds backoff_;
};

}  // namespace modelgate::cli
