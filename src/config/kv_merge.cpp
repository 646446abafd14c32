// etcd's part of the dynamic configuration laid into the file's tree before the walk, so that one
// walk checks the whole: a router in etcd may name a service in the file and the other way round,
// and every message of the file applies to etcd's keys (kv_layout.h).
//
// What etcd may hold: http.routers, http.services, http.middlewares, http.serversTransports,
// models and auth.keys (appended to the file's). Entry points, TLS, the admin API and the rest of
// auth are the file's only: they decide what the process listens on and who may change it, which
// a key-value store shared by many gateways should not. A name defined in both is an error that
// names both places (Traefik would keep both as NAME@file and NAME@etcd; modelgate has one
// namespace, so a request never depends on which provider's router wins).
#include <fmt/format.h>

#include "config/config_reader.h"
#include "config/suggest.h"
#include "config/values.h"

namespace modelgate::config::detail {

namespace {

constexpr std::string_view kKvTop[] = {"http", "models", "auth"};
constexpr std::string_view kKvHttp[] = {"routers", "services", "middlewares", "serversTransports"};
constexpr std::string_view kFileOnly[] = {"log", "ping", "admin", "accessLog", "usage", "shutdown",
                                          "entryPoints", "providers"};
constexpr std::string_view kTraefikIgnored[] = {"tcp", "udp", "tls"};

template <std::size_t N>
std::optional<std::string_view> match(std::string_view name, const std::string_view (&names)[N]) {
  for (std::string_view n : names) {
    if (iequal(n, name)) return n;
  }
  return std::nullopt;
}

template <std::size_t N>
std::vector<std::string_view> list(const std::string_view (&names)[N]) {
  return {std::begin(names), std::end(names)};
}

// The file's value for `name` in `map` (any case), or an undefined node.
YAML::Node find(const YAML::Node& map, std::string_view name, YAML::Node* key_out = nullptr) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (it->first.IsScalar() && iequal(it->first.Scalar(), name)) {
      if (key_out) *key_out = it->first;
      return it->second;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// Puts etcd's `value` at `key` in the file's `map` when the file has nothing there; true then.
// False when the file has a map (or list) there to merge into, or a value of another kind (the
// walk reports that one).
bool adopt(YAML::Node& map, const YAML::Node& key, const YAML::Node& value, YAML::Node& existing) {
  existing = find(map, key.Scalar());
  if (!existing.IsDefined()) {
    map.force_insert(key, value);
    return true;
  }
  if (existing.IsNull()) {
    existing = value;  // shares etcd's node, marks included
    return true;
  }
  return false;
}

}  // namespace

void ConfigReader::merge_kv(YAML::Node& root, const YAML::Node& kv) {
  if (!root.IsMap() || !kv.IsMap()) return;
  for (auto it = kv.begin(); it != kv.end(); ++it) {
    const YAML::Node& key = it->first;
    const std::string& name = key.Scalar();
    const auto section = match(name, kKvTop);
    if (!section) {
      if (auto t = match(name, kTraefikIgnored)) {
        warning(key.Mark(), fmt::format("Traefik's {} configuration is not read from etcd by modelgate and is "
                                        "ignored{}",
                                        *t, *t == "tls" ? " (TLS is set in the configuration file)" : ""));
      } else if (auto f = match(name, kFileOnly)) {
        error(key.Mark(), fmt::format("{} is read from the configuration file only, set it there (etcd may "
                                      "hold http routers, services, middlewares, serversTransports, models and "
                                      "auth keys)",
                                      *f));
      } else {
        error(key.Mark(), fmt::format("unknown key \"{}\"{}", name, hint(name, list(kKvTop))));
      }
      continue;
    }
    if (*section == "auth" && !only_keys(it->second)) continue;
    YAML::Node file_section;
    if (adopt(root, key, it->second, file_section) || !file_section.IsMap() || !it->second.IsMap()) continue;
    if (*section == "models") {
      merge_named(file_section, it->second, "models");
    } else if (*section == "auth") {
      merge_keys(file_section, it->second);
    } else {
      for (auto h = it->second.begin(); h != it->second.end(); ++h) {
        const auto kind = match(h->first.Scalar(), kKvHttp);
        if (!kind) {
          error(h->first.Mark(), fmt::format("http: unknown key \"{}\"{}", h->first.Scalar(),
                                             hint(h->first.Scalar(), list(kKvHttp))));
          continue;
        }
        YAML::Node file_kind;
        if (adopt(file_section, h->first, h->second, file_kind) || !file_kind.IsMap() || !h->second.IsMap()) continue;
        merge_named(file_kind, h->second, fmt::format("http.{}", *kind));
      }
    }
  }
}

void ConfigReader::merge_named(YAML::Node& file_section, const YAML::Node& kv_section, const std::string& path) {
  for (auto it = kv_section.begin(); it != kv_section.end(); ++it) {
    YAML::Node file_key;
    const YAML::Node existing = find(file_section, it->first.Scalar(), &file_key);
    if (!existing.IsDefined()) {
      file_section.force_insert(it->first, it->second);
      continue;
    }
    const SourcePos at = pos(file_key.Mark());
    error(it->first.Mark(),
          fmt::format("{}.{}: \"{}\" is also defined in {}:{}:{}; a name is defined in one place only, remove "
                      "it from etcd or from the file",
                      path, it->first.Scalar(), file_key.Scalar(), file(), at.line, at.column));
  }
}

bool ConfigReader::only_keys(const YAML::Node& kv_auth) {
  bool only = true;
  if (!kv_auth.IsMap()) return true;  // the walk reports it
  for (auto it = kv_auth.begin(); it != kv_auth.end(); ++it) {
    const std::string& name = it->first.Scalar();
    if (iequal(name, "keys")) continue;
    only = false;
    error(it->first.Mark(), fmt::format("auth.{} is read from the configuration file only, set it there "
                                        "(etcd may hold auth keys: auth/keys/0/name, auth/keys/0/sha256, ...)",
                                        name));
  }
  return only;
}

void ConfigReader::merge_keys(YAML::Node& file_auth, const YAML::Node& kv_auth) {
  for (auto it = kv_auth.begin(); it != kv_auth.end(); ++it) {
    YAML::Node file_keys;
    if (adopt(file_auth, it->first, it->second, file_keys) || !file_keys.IsSequence()) continue;
    if (!it->second.IsSequence()) {
      error(it->first.Mark(), "auth.keys: expected a list, keys numbered auth/keys/0/..., auth/keys/1/...");
      continue;
    }
    for (const auto& item : it->second) file_keys.push_back(item);
  }
}

void ConfigReader::place_kv_diagnostics(std::vector<Diagnostic>& ds) const {
  for (auto& d : ds) {
    const int line = d.line - 1 - kv_first_line_;  // d.line is 1-based
    if (d.file != file() || d.line <= 0 || line < 0 || static_cast<std::size_t>(line) >= kv_->line_keys.size()) continue;
    d.file = kv_place("etcd", kv_->line_keys[static_cast<std::size_t>(line)]);
    d.line = 0;
    d.column = 0;
  }
}

}  // namespace modelgate::config::detail
