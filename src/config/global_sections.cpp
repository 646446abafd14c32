// The gateway-wide sections of a configuration file: log, ping, admin, accessLog, usage, shutdown
// and models (public model names, their targets and fallbacks). See config_reader.h.
#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "config/config_reader.h"
#include "config/suggest.h"
#include "config/values.h"

namespace modelgate::config::detail {

namespace {

const Schema kLog{{"level"}, {"filePath", "format", "noColor", "maxSize", "maxAge", "maxBackups",
                              "compress"}};
const Schema kPing{{"entryPoint", "path"}, {"manualRouting", "terminatingStatusCode"}};
const Schema kAdmin{{"address", "token", "enabled"}};
const Schema kAccessLog{{"path", "format", "fields"},
                        {"bufferingSize", "filters", "addInternals"},
                        {{"filePath", "path"}}};
const Schema kShutdown{{"drainTimeout", "acceptGrace"}};
const Schema kModel{{"target", "fallbacks"}};

}  // namespace

void ConfigReader::load_log(const Entry& e) {
  each_key(e, kLog, [&](std::string_view, const Entry& f) {
    std::string level;
    if (!read_string(f, level, "a log level")) return;
    std::string l = lower(level);
    if (l == "fatal" || l == "panic") l = "error";  // Traefik's levels above error
    if (l == "warning") l = "warn";
    static const std::vector<std::string_view> kLevels = {"trace", "debug", "info",
                                                          "warn",  "error", "off"};
    if (std::find(kLevels.begin(), kLevels.end(), l) == kLevels.end()) {
      error(f.mark, fmt::format("{}: unknown log level \"{}\"{}", f.path, level, hint(l, kLevels)));
      return;
    }
    config_.log.level = l;
  });
}

void ConfigReader::load_ping(const Entry& e) {
  config_.ping.enabled = section_enabled(e);
  if (!e.node.IsMap()) return;
  each_key(e, kPing, [&](std::string_view key, const Entry& f) {
    if (key == "entryPoint") {
      if (read_string(f, config_.ping.entryPoint, "the name of an entry point")) {
        entry_point_refs_.push_back({config_.ping.entryPoint, f.path, f.mark});
      }
    } else if (key == "path") {
      read_url_path(f, config_.ping.path);
    }
  });
}

void ConfigReader::load_admin(const Entry& e) {
  each_key(e, kAdmin, [&](std::string_view key, const Entry& f) {
    if (key == "address") {
      if (read_listen_address(f, config_.admin.host, config_.admin.port)) admin_address_ = f.mark;
    } else if (key == "token") {
      read_string(f, config_.admin.token);
    } else if (key == "enabled") {
      read_bool(f, config_.admin.enabled);
    }
  });
  const Admin& a = config_.admin;
  if (a.enabled && a.token.empty() && !is_loopback(a.host)) {
    warning(admin_address_.value_or(e.mark),
            fmt::format("admin: the admin API listens on \"{}\" without a token, anyone who can "
                        "reach it can change the balancer; set admin.token or listen on 127.0.0.1",
                        a.host.empty() ? "*" : a.host));
  }
}

void ConfigReader::load_access_log(const Entry& e) {
  config_.accessLog.enabled = section_enabled(e);
  if (!e.node.IsMap()) return;
  each_key(e, kAccessLog, [&](std::string_view key, const Entry& f) {
    if (key == "path") {
      read_string(f, config_.accessLog.path, "a file path or \"stdout\"");
    } else if (key == "format") {
      std::string fmt_name;
      if (!read_string(f, fmt_name, "common or json")) return;
      if (fmt_name == "common" || fmt_name == "json") {
        config_.accessLog.format = fmt_name;
      } else {
        error(f.mark, fmt::format("{}: unknown format \"{}\"{}", f.path, fmt_name,
                                  hint(fmt_name, {"common", "json"})));
      }
    } else if (key == "fields") {
      if (f.node.IsMap()) {
        warning(f.mark, fmt::format("{}: Traefik's form of \"fields\" (a map) is not implemented by "
                                    "modelgate and is ignored, expected a list of field names",
                                    f.path));
        return;
      }
      read_string_list(f, config_.accessLog.fields);
    }
  });
}

void ConfigReader::load_shutdown(const Entry& e) {
  each_key(e, kShutdown, [&](std::string_view key, const Entry& f) {
    read_duration(f, key == "acceptGrace" ? config_.shutdown.acceptGrace : config_.shutdown.drainTimeout,
                  /*allow_zero=*/true);
  });
}

void ConfigReader::load_usage(const Entry& e) {
  std::string u;
  if (!read_string(e, u, "inject or passthrough")) return;
  if (u == "inject" || u == "passthrough") {
    config_.usage = u;
  } else {
    error(e.mark, fmt::format("usage: unknown mode \"{}\"{}", u, hint(u, {"inject", "passthrough"})));
  }
}

void ConfigReader::load_models(const Entry& e) {
  each_named(e, "a map of model aliases such as {gpt-4o-mini: {target: NAME}}",
             [&](const std::string& name, const YAML::Mark& key, const Entry& v) {
               ModelAlias a;
               a.name = name;
               a.pos = pos(key);
               bool problem = false;
               each_key(v, kModel, [&](std::string_view k, const Entry& f) {
                 if (k == "target") {
                   if (!read_string(f, a.target, "a model name")) {
                     problem = true;
                   } else if (a.target.empty()) {
                     problem = true;
                     error(f.mark, fmt::format("{}: the target is empty, expected a model name",
                                               f.path));
                   }
                 } else {
                   const std::size_t before = diagnostic_count();
                   read_string_list(f, a.fallbacks);
                   problem = problem || diagnostic_count() != before;
                 }
               });
               if (!v.node.IsNull() && !v.node.IsMap()) return;  // reported
               if (!problem && a.target.empty() && a.fallbacks.empty()) {
                 error(key, fmt::format("{}: neither \"target\" nor \"fallbacks\" is set, expected "
                                        "at least one, e.g. {{target: Qwen2.5-0.5B-Instruct}}",
                                        v.path));
               }
               config_.models[name] = std::move(a);
             });
}

}  // namespace modelgate::config::detail
