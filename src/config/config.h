// The configuration model: what a YAML file says, validated, with defaults applied.
//
// The shape follows Traefik's file provider (entryPoints, http.routers, http.services) so that
// its users recognise it; modelgate's own additions sit beside Traefik's names. A Config is a plain
// value: the loader produces it once, the proxy compiles it into an immutable runtime snapshot.
#pragma once

#include <chrono>
#include <cstdint>
#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/middleware.h"
#include "http1/field.h"
#include "routing/rule.h"

namespace modelgate::config {

using Duration = std::chrono::milliseconds;
using namespace std::chrono_literals;

// Where a value came from, 1-based; line 0 means "not from a file" (a default).
struct SourcePos {
  int line = 0;
  int column = 0;
};

struct EntryPointTimeouts {
  Duration readHeader = 10s;  // client must send a whole request header within this (slowloris)
  Duration readBody = 60s;    // longest wait between two reads of a request body (nginx client_body_timeout)
  Duration idle = 60s;        // keep-alive connection with no request in flight is closed after
};

// The most header fields a request may have (limits.maxHeaders): the proxy parses a head into a
// fixed array of this many fields.
inline constexpr int kMaxHeaderFields = static_cast<int>(http1::kMaxFields);  // the parser's array

// The balancing strategies a service may name (loadBalancer.strategy); balancing::make_balancer
// builds each of them (a unit test holds the two lists together).
inline constexpr std::array<std::string_view, 10> kStrategies = {
    "round_robin", "weighted_round_robin", "least_request", "p2c",     "random",
    "ip_hash",     "consistent_hash",      "session",       "least_load", "cache_aware"};

struct Limits {
  std::size_t maxHeaderBytes = 16 * 1024;        // over it: 431
  std::size_t maxHeaders = 100;                  // over it: 431; at most kMaxHeaderFields
  std::size_t maxBodyBytes = 32 * 1024 * 1024;   // body read for a Model rule; over it: 413
};

struct EntryPoint {
  std::string name;
  std::string host;         // "" or "0.0.0.0" = any IPv4, "::" = any
  std::uint16_t port = 0;
  EntryPointTimeouts timeouts;
  Limits limits;
  bool upstreamHeader = false;  // add X-Upstream to responses (observability)
  bool tls = false;             // http.tls: HTTPS with the certificates of the tls section (docs/tls.md)
  SourcePos pos;
};

struct Router {
  std::string name;
  std::string rule;
  std::string service;
  std::optional<int> priority;           // unset: length of the rule, as in Traefik
  std::vector<std::string> entryPoints;  // empty: every entry point
  std::vector<std::string> middlewares;  // names in Config::middlewares, run in this order
  bool upstreamHeader = false;
  SourcePos pos;
  SourcePos rulePos;  // position of the first character of the rule text in the file
  // The rule as the loader parsed it (shared, never parsed again: the snapshot's routes point at
  // it), and the models it serves (Rule::served_models()). Null in a Config built by hand.
  std::shared_ptr<const routing::Rule> compiled;
  std::vector<std::string> models;

  int effectivePriority() const { return priority ? *priority : static_cast<int>(rule.size()); }
};

struct Server {
  std::string url;          // as written, e.g. http://127.0.0.1:8001
  std::string host;         // 127.0.0.1, a name, or an IPv6 address without brackets
  std::uint16_t port = 80;  // 443 for https:// without a port
  bool tls = false;         // https://: TLS per the service's serversTransport
  std::string basePath;     // path part of the url without trailing '/', usually ""
  int weight = 1;
  bool backup = false;
  int maxConnections = 0;   // 0: unlimited
  bool drain = false;
  SourcePos pos;

  std::string hostHeader() const {  // an IPv6 host ("::1", stored without brackets) gets them back
    const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return port == (tls ? 443 : 80) ? h : h + ":" + std::to_string(port);
  }
};

struct HealthCheck {
  bool enabled = false;
  std::string path = "/health";
  Duration interval = 10s;
  Duration timeout = 2s;
  int expectStatus = 200;  // 0: any 2xx/3xx
  int rise = 2;
  int fall = 3;
};

struct PassiveHealth {
  int consecutiveFailures = 5;
  Duration baseEjection = 30s;
  int maxEjectionPercent = 50;
  bool endOnActiveCheck = true;  // a passed active health check ends an ejection (Envoy's default)
};

struct Retry {
  int attempts = 2;                       // total tries including the first
  std::vector<int> retryOn = {502, 503};
  int budgetPercent = 20;
};

struct UpstreamTimeouts {
  Duration connect = 5s;
  Duration responseHeader = 300s;  // generous: LLM prefill on a long prompt is slow
  Duration streamIdle = 120s;      // between two pieces of a response body
  Duration total = 0ms;            // 0: no limit
  Duration idleConnection = 4s;    // a pooled connection unused this long is closed
};

struct DiscoverModels {
  bool enabled = false;
  Duration interval = 10s;
  std::string path = "/v1/models";
};

// cache_aware's prefix index and hot-spot guard (docs/scheduling.md).
struct CacheAware {
  std::uint64_t maxIndexBytes = 16ull << 20;  // the service's index, split among its servers
  int balanceAbsThreshold = 8;                // in-flight requests
  double balanceRelThreshold = 1.5;
  int newPrefixSlack = 0;                     // in-flight requests; several gateways: 2

  bool operator==(const CacheAware&) const = default;
};

// Scraping each server's Prometheus /metrics for load signals (least_load, cache_aware).
struct ServerMetrics {
  bool enabled = false;
  Duration interval = 200ms;
  std::string path = "/metrics";
  std::string flavour = "auto";  // auto | vllm | sglang | llamacpp | tgi
};

struct LoadBalancer {
  std::vector<Server> servers;
  std::string serversTransport;       // http.serversTransports name, for https:// servers ("" = default)
  bool passHostHeader = true;
  std::string strategy = "round_robin";
  std::string hashKey = "client_ip";  // client_ip | header:NAME | cookie:NAME | body:FIELD
  bool hashKeySet = false;            // written in the file (session defaults to X-Session-ID)
  double loadFactor = 1.25;           // session: bounded loads, c
  CacheAware cacheAware;
  ServerMetrics serverMetrics;
  HealthCheck healthCheck;
  PassiveHealth passiveHealth;
  Retry retry;
  UpstreamTimeouts timeouts;
  DiscoverModels discoverModels;
};

struct Service {
  std::string name;
  LoadBalancer loadBalancer;
  SourcePos pos;
};

struct Ping {
  bool enabled = false;
  std::string entryPoint;  // empty: every entry point
  std::string path = "/ping";
};

struct Log {
  std::string level = "info";  // trace|debug|info|warn|error|off (Traefik's DEBUG/INFO/... accepted)
};

struct Admin {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9090;
  bool enabled = true;
  std::string token;
};

struct ModelAlias {
  std::string name;                    // public name clients use
  std::string target;                  // rewritten to this on the way to the server ("" = same)
  std::vector<std::string> fallbacks;  // tried in order when no healthy server has the model
  SourcePos pos;
};

struct AccessLog {
  bool enabled = false;
  std::string path;            // "" or "stdout": standard output
  std::string format = "common";  // common | json
  std::vector<std::string> fields;  // json: subset of fields, empty = all
};

struct Shutdown {
  Duration drainTimeout = 30s;
  // On SIGTERM: time during which GET /ready is already 503 but the entry points still accept,
  // so that a load balancer or keepalived moves traffic away before the listeners close (Traefik's
  // lifeCycle.requestAcceptGraceTimeout). The drain of drainTimeout follows.
  Duration acceptGrace = 0s;
};

// API keys (docs/auth.md). A key is kept only as the SHA-256 of its secret: `key:` in the file is
// hashed when it is read, `sha256:` gives the hash itself, so no secret needs to sit in a file.
enum class Priority : std::uint8_t { interactive, normal, batch };  // normal is "default" in files

struct KeyLimits {  // 0: no limit
  std::uint64_t requestsPerMinute = 0;
  std::uint64_t tokensPerMinute = 0;
  std::uint64_t tokensPerDay = 0;    // UTC calendar day
  std::uint64_t tokensPerMonth = 0;  // UTC calendar month
  std::uint64_t concurrency = 0;     // requests in flight

  bool operator==(const KeyLimits&) const = default;
};

using KeyDigest = std::array<std::uint8_t, 32>;

struct ApiKey {
  std::string name;                 // what the access log and the metrics show
  KeyDigest digest{};               // SHA-256 of the secret
  std::vector<std::string> models;  // globs (fnmatch); empty: every model
  Priority priority = Priority::normal;
  KeyLimits limits;
  std::string file;  // where it was defined, for messages
  SourcePos pos;
};

inline constexpr std::size_t kMaxKeyBytes = 256;  // a longer presented or configured key is refused

// auth.store: where the keys' request and token limits are shared between gateways (Redis).
struct LimitsStore {
  std::string url;       // as written, without its password (for status and messages)
  std::string host;
  std::uint16_t port = 6379;
  unsigned db = 0;
  std::string password;  // "" = none
  bool failOpen = true;  // auth.storeFailure: failOpen (local limits) | failClosed (503)

  bool operator==(const LimitsStore&) const = default;
};

struct Auth {
  bool enabled = false;          // an `auth:` section is present: every request needs a key
  std::vector<ApiKey> keys;      // inline ones first, then those of keysFile
  std::string keysFile;          // as resolved (relative to the main file's folder); "" = none
  std::string budgetsFile;       // where day and month budgets are kept across restarts (no store)
  std::optional<LimitsStore> store;  // auth.store: limits shared through Redis
};

// A certificate and its key, PEM files (tls.certificates, serversTransports.<n>.certificates).
struct TlsCertificate {
  std::string certFile;
  std::string keyFile;
  SourcePos pos;
};

// The top-level tls section, Traefik's shape: the certificates entry points with http.tls serve,
// SNI choosing among them; tls.stores.default.defaultCertificate (else the first) when no name
// matches.
struct Tls {
  std::vector<TlsCertificate> certificates;
  std::optional<TlsCertificate> defaultCertificate;

  // Every certificate, the default first (what net::ServerTls::load takes).
  std::vector<TlsCertificate> ordered() const {
    std::vector<TlsCertificate> all;
    if (defaultCertificate) all.push_back(*defaultCertificate);
    all.insert(all.end(), certificates.begin(), certificates.end());
    return all;
  }
};

// http.serversTransports.<name>: how https:// servers are reached (Traefik's names).
struct ServersTransport {
  std::string name;
  std::vector<std::string> rootCAs;           // PEM files; empty: the system's CAs
  std::vector<TlsCertificate> certificates;   // the client certificate (the first)
  bool insecureSkipVerify = false;
  std::string serverName;                     // the name checked and sent as SNI ("" = host)
  SourcePos pos;
};

// tcp.routers and tcp.services (docs/tcp.md): a TCP entry point relays connections, Traefik's
// shape. An entry point named by a TCP router serves no HTTP router.
inline constexpr std::array<std::string_view, 3> kTcpStrategies = {"round_robin", "least_connections",
                                                                   "ip_hash"};

struct TcpRouter {
  std::string name;
  std::string rule;
  std::string service;
  std::optional<int> priority;           // unset: length of the rule, as in Traefik
  std::vector<std::string> entryPoints;  // at least one (a TCP router takes its entry points whole)
  bool tlsPassthrough = false;           // tls: {passthrough: true}: route by SNI, do not terminate
  SourcePos pos;
  SourcePos rulePos;
  std::shared_ptr<const routing::Rule> compiled;  // parsed with the TCP syntax; null when built by hand

  int effectivePriority() const { return priority ? *priority : static_cast<int>(rule.size()); }
};

struct TcpLoadBalancer {
  std::vector<Server> servers;            // url holds the address as written ("10.0.0.3:8000")
  std::string strategy = "round_robin";   // kTcpStrategies
  HealthCheck healthCheck{false, ""};     // path "": a TCP connect check
  int proxyProtocol = 0;                  // proxyProtocol.version; 0: none, else 2
  Duration terminationDelay = 100ms;      // after one side ends, the other may send this long; <0: no limit
  Duration connectTimeout = 5s;           // timeouts.connect
};

struct TcpService {
  std::string name;
  TcpLoadBalancer loadBalancer;
  SourcePos pos;
};

// providers.etcd: the dynamic configuration also read from etcd v3 in Traefik's KV layout
// (kv_layout.h), watched, and combined with the file's (docs/scale-out.md).
struct EtcdProvider {
  bool enabled = false;
  std::vector<std::string> endpoints;  // HOST:PORT, tried in order
  std::string rootKey = "traefik";     // without a trailing '/'
  bool operator==(const EtcdProvider&) const = default;
};

struct Config {
  std::map<std::string, EntryPoint> entryPoints;
  EtcdProvider etcd;  // providers.etcd
  std::map<std::string, Router> routers;
  std::map<std::string, Service> services;
  std::map<std::string, ModelAlias> models;
  std::map<std::string, ServersTransport> serversTransports;
  Tls tls;
  std::map<std::string, Middleware> middlewares;  // implemented kinds only (others warned or refused)
  std::map<std::string, TcpRouter> tcpRouters;
  std::map<std::string, TcpService> tcpServices;
  Ping ping;
  Log log;
  Admin admin;
  AccessLog accessLog;
  Shutdown shutdown;
  Auth auth;
  std::string usage = "inject";  // inject | passthrough (token counting for streams)
};

}  // namespace modelgate::config
