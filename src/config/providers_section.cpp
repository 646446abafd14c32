// The `providers` section: etcd, read in Traefik's KV layout (kv_layout.h) and combined with the
// file (kv_merge.cpp). Traefik's other providers are warned about and ignored, as before.
//
// Traefik's username/password and tls for etcd are refused rather than ignored: a gateway that
// silently talks to etcd without the credentials or the encryption asked for would be worse than
// one that does not start.
#include <fmt/format.h>

#include "config/config_reader.h"
#include "config/values.h"

namespace modelgate::config::detail {

namespace {

const Schema kProviders{{"etcd"},
                        {"providersThrottleDuration", "file", "docker", "swarm", "kubernetesCRD",
                         "kubernetesIngress", "kubernetesGateway", "consulCatalog", "nomad", "ecs",
                         "consul", "zooKeeper", "redis", "http", "plugin", "knative"}};
const Schema kEtcd{{"endpoints", "rootKey", "username", "password", "tls"}};

}  // namespace

void ConfigReader::load_providers(const Entry& e) {
  each_key(e, kProviders, [&](std::string_view, const Entry& f) {
    EtcdProvider p;
    p.enabled = section_enabled(f);
    each_key(f, kEtcd, [&](std::string_view k, const Entry& g) {
      if (k == "endpoints") {
        each_item(g, "a list of etcd addresses such as [\"127.0.0.1:2379\"]", [&](const Entry& item) {
          std::string a;
          if (!read_string(item, a, "an address such as \"127.0.0.1:2379\"")) return;
          if (a.starts_with("https://")) {
            error(item.mark, fmt::format("{}: \"{}\": TLS to etcd is not supported, use http:// on a trusted "
                                         "network or loopback",
                                         item.path, a));
            return;
          }
          if (a.starts_with("http://")) a.erase(0, 7);
          std::string host;
          std::uint16_t port = 0;
          if (auto why = parse_listen_address(a, host, port); !why.empty() || host.empty() || port == 0) {
            error(item.mark, fmt::format("{}: invalid etcd address \"{}\"{}, expected \"HOST:PORT\" such as "
                                         "\"127.0.0.1:2379\"",
                                         item.path, a, why.empty() ? "" : ": " + why));
            return;
          }
          p.endpoints.push_back(a);
        });
      } else if (k == "rootKey") {
        std::string root;
        if (!read_string(g, root, "a key prefix such as \"traefik\"")) return;
        while (root.ends_with('/')) root.pop_back();
        if (root.empty()) {
          error(g.mark, fmt::format("{}: the root key is empty, expected a prefix such as \"traefik\"", g.path));
          return;
        }
        p.rootKey = root;
      } else {
        error(g.mark, fmt::format("{}: not supported by modelgate's etcd provider (it connects without "
                                  "authentication or TLS), remove it and keep etcd on a trusted network",
                                  g.path));
      }
    });
    if (p.endpoints.empty()) p.endpoints.push_back("127.0.0.1:2379");  // Traefik's default
    config_.etcd = p;
  });
}

}  // namespace modelgate::config::detail
