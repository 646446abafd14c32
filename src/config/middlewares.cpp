// The http.middlewares section: each name holds exactly one kind (Traefik's shape), read here into
// a config::Middleware; the settings of each kind are read in middleware_kinds.cpp.
//
// A kind modelgate does not implement is refused when it guards access (an auth or allow-list
// kind: ignoring it would open what the file closes) and warned about otherwise (it is then
// skipped where a router names it). Router -> middleware and chain -> middleware references, and
// chains that contain themselves, are checked after the walk (check_middleware_refs).
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>

#include <fmt/format.h>

#include "config/config_reader.h"
#include "config/suggest.h"
#include "config/values.h"

namespace modelgate::config::detail {

namespace {

// Traefik's kinds that restrict who gets through: not implemented means refused.
constexpr std::string_view kRefusedKinds[] = {"digestAuth", "plugin", "passTLSClientCert"};

const Schema kKinds{
    {"headers", "stripPrefix", "addPrefix", "replacePath", "replacePathRegex", "ipAllowList",
     "basicAuth", "forwardAuth", "rateLimit", "inFlightReq", "redirectScheme", "chain",
     "digestAuth", "plugin", "passTLSClientCert"},
    {"buffering", "circuitBreaker", "compress", "contentType", "errors", "grpcWeb", "redirectRegex",
     "retry", "stripPrefixRegex"},
    {{"ipWhiteList", "ipAllowList"}}};

// "name@file" and "name@etcd" are Traefik's names for "name" (one namespace here: a name is
// defined once, docs/scale-out.md); another provider is not read by modelgate.
std::string strip_provider(std::string name, std::string& error) {
  const auto at = name.rfind('@');
  if (at == std::string::npos) return name;
  if (name.compare(at, std::string::npos, "@file") != 0 && name.compare(at, std::string::npos, "@etcd") != 0) {
    error = fmt::format("provider \"{}\" is not read by modelgate, expected \"{}\" or \"{}@file\"",
                        name.substr(at + 1), name.substr(0, at), name.substr(0, at));
  }
  name.resize(at);
  return name;
}

}  // namespace

void ConfigReader::load_middlewares(const Entry& e) {
  each_named(e, "a map of middlewares such as {NAME: {stripPrefix: {prefixes: [/api]}}}",
             [&](const std::string& name, const YAML::Mark& key, const Entry& v) {
               load_middleware(name, key, v);
             });
}

void ConfigReader::load_middleware(const std::string& name, const YAML::Mark& key, const Entry& e) {
  if (!e.node.IsMap() || e.node.size() != 1) {
    error(e.node.IsMap() ? e.mark : key,
          fmt::format("{}: expected exactly one kind of middleware, such as {{stripPrefix: "
                      "{{prefixes: [/api]}}}} or {{basicAuth: {{users: [...]}}}}",
                      e.path));
    return;
  }
  Middleware m;
  m.name = name;
  m.line = pos(key).line;
  m.definition = YAML::Dump(e.node);
  bool known = false;
  each_key(e, kKinds, [&](std::string_view kind, const Entry& f) {
    if (std::find(std::begin(kRefusedKinds), std::end(kRefusedKinds), kind) != std::end(kRefusedKinds)) {
      error(f.node.IsNull() ? e.mark : f.mark,
            fmt::format("{}: middleware kind \"{}\" is not implemented by modelgate, and it guards "
                        "access, so the file is refused rather than served open; use basicAuth, "
                        "forwardAuth or ipAllowList instead",
                        e.path, kind));
      return;
    }
    known = load_middleware_kind(kind, f, m);
  });
  if (known) {
    config_.middlewares[name] = std::move(m);
  } else {
    ignored_middlewares_.insert(name);  // warned (or refused) already; a router may still name it
  }
}

void ConfigReader::read_middleware_names(const Entry& e, std::vector<std::string>& out) {
  each_item(e, "a list of middleware names such as [strip-api, auth]", [&](const Entry& item) {
    std::string name;
    if (!read_string(item, name, "the name of a middleware")) return;
    std::string why;
    name = strip_provider(std::move(name), why);
    if (!why.empty()) {
      error(item.mark, fmt::format("{}: {}", item.path, why));
      return;
    }
    middleware_refs_.push_back({name, item.path, item.mark});
    out.push_back(std::move(name));
  });
}

void ConfigReader::check_middleware_refs() {
  std::vector<std::string_view> names;
  for (const auto& [name, _] : config_.middlewares) names.push_back(name);
  for (const auto& ref : middleware_refs_) {
    if (config_.middlewares.count(ref.name) || ignored_middlewares_.count(ref.name)) continue;
    std::string expected = hint(ref.name, names, "one of the middlewares");
    if (names.empty()) expected = ", and no middleware is defined under http.middlewares";
    error(ref.mark, fmt::format("{}: unknown middleware \"{}\"{}", ref.path, ref.name, expected));
  }
  // Names of ignored kinds are dropped from the lists: nothing runs for them.
  const auto drop_ignored = [&](std::vector<std::string>& list) {
    std::erase_if(list, [&](const std::string& n) { return ignored_middlewares_.count(n) != 0; });
  };
  for (auto& [_, r] : config_.routers) drop_ignored(r.middlewares);
  for (auto& [_, m] : config_.middlewares) drop_ignored(m.chain);
  // A chain must not contain itself, directly or through another chain.
  std::set<std::string> done;
  std::vector<std::string> path;
  std::function<void(const Middleware&)> visit = [&](const Middleware& m) {
    if (done.count(m.name)) return;
    if (std::find(path.begin(), path.end(), m.name) != path.end()) {
      std::string cycle;
      for (auto it = std::find(path.begin(), path.end(), m.name); it != path.end(); ++it) cycle += *it + " -> ";
      report(Severity::error, {m.line, 1},
             fmt::format("http.middlewares.{}: the chain contains itself ({}{}), remove one of these "
                         "references",
                         m.name, cycle, m.name));
      done.insert(m.name);
      return;
    }
    path.push_back(m.name);
    for (const auto& next : m.chain) {
      auto it = config_.middlewares.find(next);
      if (it != config_.middlewares.end()) visit(it->second);
    }
    path.pop_back();
    done.insert(m.name);
  };
  for (const auto& [_, m] : config_.middlewares) visit(m);
}

}  // namespace modelgate::config::detail
