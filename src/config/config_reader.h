// The reading of one configuration file into a Config: the state one load shares, and one member
// per section of the file. Internal to the config folder; load_text/load_file (loader.h) are the
// API.
//
// The members live beside the sections they read:
//   loader.cpp           the run: parse, top level and `http` dispatch, cross-references, result
//   global_sections.cpp  log, ping, admin, accessLog, usage, shutdown, models
//   auth_section.cpp     auth (API keys, inline and in auth.keysFile)
//   entry_points.cpp     entryPoints
//   routers.cpp          http.routers
//   services.cpp         http.services (load balancer, servers, health, retry, timeouts, discovery)
//   tls_sections.cpp     tls (certificates), http.serversTransports, entry points' http.tls
//   middlewares.cpp      http.middlewares (one kind each), and the references to them
//   middleware_kinds.cpp the settings of each middleware kind
//   tcp_sections.cpp     tcp.routers, tcp.services, and which entry points are TCP ones
//
// Names that refer to other sections (router -> service, router -> entry point, ping -> entry
// point) and addresses that would collide are only collected during the walk, and checked after
// it, once every name is known.
#pragma once

#include <yaml-cpp/yaml.h>

#include <climits>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/loader.h"
#include "config/yaml_reader.h"

namespace modelgate::config::detail {

class ConfigReader : private YamlReader {
 public:
  ConfigReader(std::string_view text, std::string file) : YamlReader(text, std::move(file)) {}
  // `text` holds the file's `file_bytes` bytes, then etcd's document from line `first_line` on
  // (kv_layout.h): the two are parsed apart and merged, one line table serves both.
  ConfigReader(std::string_view text, std::string file, std::size_t file_bytes, int first_line,
               const KvDocument& etcd)
      : YamlReader(text, std::move(file)), file_bytes_(file_bytes), kv_first_line_(first_line), kv_(&etcd) {
    quiet_case_from(first_line);
  }

  // Reads the whole file; the Config is set only when no error was found.
  LoadResult run();

 private:
  struct Reference {  // a name that must exist elsewhere in the file
    std::string name;
    std::string path;
    YAML::Mark mark;
  };
  struct Listener {  // an address modelgate will bind
    std::string what;  // entry point "web" | the admin API
    std::string path;
    std::string text;
    std::string host;
    std::uint16_t port = 0;
    std::optional<YAML::Mark> mark;  // unset: the admin default, not written in the file
  };

  // loader.cpp
  void load_root(const YAML::Node& root);
  void load_http(const Entry& e);
  void check_references();
  void check_listeners();
  LoadResult finish();

  // kv_merge.cpp: etcd's tree laid into the file's, before the walk
  void merge_kv(YAML::Node& root, const YAML::Node& kv);
  void merge_named(YAML::Node& file_section, const YAML::Node& kv_section, const std::string& path);
  bool only_keys(const YAML::Node& kv_auth);  // reports every other key of auth
  void merge_keys(YAML::Node& file_auth, const YAML::Node& kv_auth);
  void place_kv_diagnostics(std::vector<Diagnostic>& ds) const;
  // The node at `mark` was read from etcd (its line is one of etcd's, after the file's).
  bool from_kv(const YAML::Mark& mark) const { return kv_ && mark.line >= kv_first_line_; }

  // providers_section.cpp
  void load_providers(const Entry& e);

  // global_sections.cpp
  void load_log(const Entry& e);
  void load_ping(const Entry& e);
  void load_admin(const Entry& e);
  void load_access_log(const Entry& e);
  void load_usage(const Entry& e);
  void load_shutdown(const Entry& e);
  void load_models(const Entry& e);

  // auth_section.cpp
  void load_auth(const Entry& e);
  void load_keys_file(const Entry& e);
  void check_keys();

  // entry_points.cpp
  void load_entry_points(const Entry& e);
  void load_entry_point(const std::string& name, const YAML::Mark& key, const Entry& e);

  // tls_sections.cpp
  void load_entry_point_http(const Entry& e, EntryPoint& ep);
  void load_tls(const Entry& e);
  bool load_certificate(const Entry& e, TlsCertificate& out, bool client);
  void load_servers_transport(const std::string& name, const YAML::Mark& key, const Entry& e);
  void check_tls();

  // routers.cpp
  void load_router(const std::string& name, const YAML::Mark& key, const Entry& e);
  void check_rule(const Entry& e, Router& r);

  // middlewares.cpp
  void load_middlewares(const Entry& e);
  void load_middleware(const std::string& name, const YAML::Mark& key, const Entry& e);
  void read_middleware_names(const Entry& e, std::vector<std::string>& out);
  void check_middleware_refs();
  // middleware_kinds.cpp; false: the kind is not implemented (warned or refused)
  bool load_middleware_kind(std::string_view kind, const Entry& f, Middleware& m);
  void read_nets(const Entry& e, std::vector<routing::IpNet>& out);
  void load_ip_strategy(const Entry& e, IpStrategy& s);
  void load_source_criterion(const Entry& e, SourceCriterion& c);
  void read_htpasswd_line(std::string_view line, const std::string& where, SourcePos at,
                          std::vector<HtpasswdUser>& out);
  void read_htpasswd_file(const std::string& path, const Entry& e, std::vector<HtpasswdUser>& out);

  // tcp_sections.cpp
  void load_tcp(const Entry& e);
  void load_tcp_router(const std::string& name, const YAML::Mark& key, const Entry& e);
  void load_tcp_service(const std::string& name, const YAML::Mark& key, const Entry& e);
  void load_tcp_load_balancer(const Entry& e, TcpLoadBalancer& lb);
  void check_tcp();

  // services.cpp
  void load_service(const std::string& name, const YAML::Mark& key, const Entry& e);
  void load_load_balancer(const Entry& e, LoadBalancer& lb);
  void load_strategy(const Entry& e, LoadBalancer& lb);
  void load_servers(const Entry& e, LoadBalancer& lb);
  void load_health_check(const Entry& e, HealthCheck& hc);
  void load_passive_health(const Entry& e, PassiveHealth& ph);
  void load_retry(const Entry& e, Retry& r);
  void load_upstream_timeouts(const Entry& e, UpstreamTimeouts& t);
  void load_discover_models(const Entry& e, DiscoverModels& d);
  void load_cache_aware(const Entry& e, CacheAware& c);
  void load_server_metrics(const Entry& e, ServerMetrics& m);
  bool read_ratio(const Entry& e, double& out, double min, double max);

  Config config_;
  std::vector<std::pair<std::string, Reference>> service_refs_;  // router name, reference
  std::vector<Reference> entry_point_refs_;
  std::vector<std::pair<std::string, Reference>> http_entry_point_refs_;  // router name, entry point
  std::vector<std::pair<std::string, Reference>> tcp_service_refs_;      // TCP router name, service
  std::vector<Reference> transport_refs_;            // loadBalancer.serversTransport
  std::vector<std::pair<std::string, YAML::Mark>> tls_entry_points_;  // name, its http.tls
  std::optional<YAML::Mark> tls_key_;
  std::vector<Reference> middleware_refs_;
  std::set<std::string> ignored_middlewares_;  // defined with a kind that is not implemented
  std::vector<Listener> listeners_;
  std::optional<YAML::Mark> entry_points_key_;
  std::optional<YAML::Mark> admin_address_;
  std::vector<Diagnostic> keys_file_diagnostics_;  // of auth.keysFile, a file of its own
  std::size_t file_bytes_ = std::string_view::npos;  // of text(), the file's part
  int kv_first_line_ = INT_MAX;                      // 0-based line of etcd's first key
  const KvDocument* kv_ = nullptr;
};

}  // namespace modelgate::config::detail
