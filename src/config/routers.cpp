// The http.routers section: which requests go to which service. A rule is parsed here, once, with
// the router's own parser (routing/rule.h), so a syntax error points at its character in the file
// and the parsed rule travels in the Config to the runtime snapshot;
// services and entry points a router names are checked after the walk (loader.cpp). See
// config_reader.h.
#include <climits>
#include <string>
#include <variant>

#include <fmt/format.h>

#include "config/config_reader.h"
#include "routing/rule.h"

namespace modelgate::config::detail {

namespace {

const Schema kRouter{{"rule", "service", "priority", "entryPoints", "upstreamHeader", "middlewares"},
                     {"tls", "observability", "ruleSyntax"}};

}  // namespace

void ConfigReader::load_router(const std::string& name, const YAML::Mark& key, const Entry& e) {
  Router r;
  r.name = name;
  r.pos = pos(key);
  bool has_rule = false;
  bool has_service = false;
  each_key(e, kRouter, [&](std::string_view k, const Entry& f) {
    if (k == "rule") {
      has_rule = true;
      if (read_string(f, r.rule, "a rule such as \"PathPrefix(`/v1`)\"")) check_rule(f, r);
    } else if (k == "service") {
      has_service = true;
      if (read_string(f, r.service, "the name of a service")) {
        // Traefik's provider suffix: names are one namespace here (a name is defined once).
        if (r.service.ends_with("@file") || r.service.ends_with("@etcd")) r.service.resize(r.service.size() - 5);
        service_refs_.push_back({name, {r.service, f.path, f.mark}});
      }
    } else if (k == "priority") {
      int p = 0;
      if (read_int(f, p, INT_MIN, INT_MAX)) r.priority = p;
    } else if (k == "entryPoints") {
      each_item(f, "a list of entry point names such as [web]", [&](const Entry& item) {
        std::string ep;
        if (!read_string(item, ep, "the name of an entry point")) return;
        entry_point_refs_.push_back({ep, item.path, item.mark});
        http_entry_point_refs_.push_back({name, {ep, item.path, item.mark}});
        r.entryPoints.push_back(std::move(ep));
      });
    } else if (k == "middlewares") {
      read_middleware_names(f, r.middlewares);
    } else if (k == "upstreamHeader") {
      read_bool(f, r.upstreamHeader);
    }
  });
  if (e.node.IsNull() || e.node.IsMap()) {
    if (!has_rule) {
      error(key, fmt::format("{}: missing \"rule\", expected e.g. rule: \"PathPrefix(`/v1`)\"",
                             e.path));
    }
    if (!has_service) {
      error(key, fmt::format("{}: missing \"service\", expected the name of a service defined under "
                             "http.services",
                             e.path));
    }
  }
  config_.routers[name] = std::move(r);
}

void ConfigReader::check_rule(const Entry& e, Router& r) {
  r.rulePos = scalar_char_pos(e.node, 0);
  auto parsed = routing::parse_rule(r.rule);
  if (const auto* err = std::get_if<routing::RuleError>(&parsed)) {
    report(Severity::error, scalar_char_pos(e.node, err->offset),
           fmt::format("{}: {}", e.path, err->message));
    return;
  }
  // Kept: the snapshot routes with this very object and lists these models (no second parse).
  r.compiled = std::make_shared<const routing::Rule>(std::get<routing::Rule>(std::move(parsed)));
  r.models = r.compiled->served_models();
}

}  // namespace modelgate::config::detail
