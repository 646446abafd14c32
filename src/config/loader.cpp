// Reads the YAML configuration (Traefik's file-provider shape plus modelgate's keys) into a Config:
// the run of one load, from text to LoadResult.
//
// The file is parsed by yaml-cpp (first in a child process under a memory and a time limit when
// the caller gives a guard: parse_guard.h), then walked once, section by section, by ConfigReader
// (config_reader.h; one file per section), on top of YamlReader (yaml_reader.h: typed values,
// schemas, places). One rule throughout: a problem is recorded and the walk goes on, so a single
// run reports everything wrong with the file. Names that refer to other sections and listening
// addresses are checked here after the walk, once every name is known. A Config is returned only
// when there is no error; warnings do not prevent it.
#include "config/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "config/config_reader.h"
#include "config/suggest.h"
#include "config/values.h"

namespace modelgate::config {

namespace detail {

namespace {

const Schema kTop{
    {"log", "ping", "admin", "accessLog", "usage", "shutdown", "entryPoints", "http", "models",
     "auth", "tls", "tcp", "providers"},
    {"api", "certificatesResolvers", "experimental", "metrics", "tracing",
     "serversTransport", "tcpServersTransport", "global", "hostResolver", "spiffe", "core", "ocsp",
     "udp"}};
const Schema kHttp{{"routers", "services", "serversTransports", "middlewares"}};

}  // namespace

LoadResult ConfigReader::run() {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(text().substr(0, file_bytes_)));
  } catch (const YAML::Exception& e) {
    report(Severity::error, pos_at(e.mark.line, e.mark.column),
           fmt::format("invalid YAML: {}", e.msg));
    return finish();
  }
  if (documents.empty() || documents[0].IsNull()) {
    report(Severity::error, {},
           "the file is empty, expected at least entryPoints and http.routers/http.services");
    return finish();
  }
  if (documents.size() > 1) {
    error(documents[1].Mark(), "a second YAML document starts here, expected a single document "
                               "(remove the \"---\" separator)");
  }
  try {
    if (kv_) {
      // Blank lines first, so that the marks of etcd's nodes are its lines in text().
      YAML::Node kv = YAML::Load(std::string(static_cast<std::size_t>(kv_first_line_), '\n') + kv_->text);
      merge_kv(documents[0], kv);
    }
    load_root(documents[0]);
    check_references();
    check_tcp();
    check_tls();
    check_middleware_refs();
    check_listeners();
  } catch (const YAML::Exception& e) {  // not expected: every access is type-checked first
    report(Severity::error, pos_at(e.mark.line, e.mark.column),
           fmt::format("cannot read this value: {}", e.msg));
  }
  return finish();
}

void ConfigReader::load_root(const YAML::Node& root) {
  if (!root.IsMap()) {
    error(root.Mark(), fmt::format("expected a map of sections (entryPoints, http, ...) at the "
                                   "top level, got {}",
                                   describe(root)));
    return;
  }
  each_key(Entry{root, "", root.Mark()}, kTop, [&](std::string_view key, const Entry& e) {
    if (key == "log") {
      load_log(e);
    } else if (key == "ping") {
      load_ping(e);
    } else if (key == "admin") {
      load_admin(e);
    } else if (key == "accessLog") {
      load_access_log(e);
    } else if (key == "usage") {
      load_usage(e);
    } else if (key == "shutdown") {
      load_shutdown(e);
    } else if (key == "entryPoints") {
      entry_points_key_ = e.mark;
      load_entry_points(e);
    } else if (key == "http") {
      load_http(e);
    } else if (key == "models") {
      load_models(e);
    } else if (key == "auth") {
      load_auth(e);
    } else if (key == "tls") {
      tls_key_ = e.mark;
      load_tls(e);
    } else if (key == "tcp") {
      load_tcp(e);
    } else if (key == "providers") {
      load_providers(e);
    }
  });
  if (config_.entryPoints.empty()) {
    constexpr std::string_view kFix =
        "no entry point is defined, add one, e.g. entryPoints: {web: {address: \":8080\"}}";
    if (entry_points_key_) {
      error(*entry_points_key_, fmt::format("entryPoints: {}", kFix));
    } else {
      report(Severity::error, {}, std::string(kFix));
    }
  }
}

void ConfigReader::load_http(const Entry& e) {
  each_key(e, kHttp, [&](std::string_view key, const Entry& f) {
    if (key == "routers") {
      each_named(f, "a map of routers such as {NAME: {rule: ..., service: ...}}",
                 [&](const std::string& name, const YAML::Mark& k, const Entry& v) {
                   load_router(name, k, v);
                 });
    } else if (key == "serversTransports") {
      each_named(f, "a map of transports such as {NAME: {rootCAs: [ca.pem]}}",
                 [&](const std::string& name, const YAML::Mark& k, const Entry& v) {
                   load_servers_transport(name, k, v);
                 });
    } else if (key == "middlewares") {
      load_middlewares(f);
    } else {
      each_named(f, "a map of services such as {NAME: {loadBalancer: {servers: [...]}}}",
                 [&](const std::string& name, const YAML::Mark& k, const Entry& v) {
                   load_service(name, k, v);
                 });
    }
  });
}

// --- after the walk --------------------------------------------------------------------------

void ConfigReader::check_references() {
  std::vector<std::string_view> services;
  for (const auto& [name, _] : config_.services) services.push_back(name);
  for (const auto& [router, ref] : service_refs_) {
    if (config_.services.count(ref.name)) continue;
    std::string expected = hint(ref.name, services, "one of the services");
    if (services.empty()) expected = ", and no service is defined under http.services";
    error(ref.mark, fmt::format("{}: unknown service \"{}\"{}", ref.path, ref.name, expected));
  }
  if (config_.entryPoints.empty()) return;  // reported once already
  std::vector<std::string_view> entry_points;
  for (const auto& [name, _] : config_.entryPoints) entry_points.push_back(name);
  for (const auto& ref : entry_point_refs_) {
    if (config_.entryPoints.count(ref.name)) continue;
    error(ref.mark, fmt::format("{}: unknown entry point \"{}\"{}", ref.path, ref.name,
                                hint(ref.name, entry_points, "one of the entry points")));
  }
}

// Two listeners on one port cannot both bind (a wildcard address takes the port on every address).
void ConfigReader::check_listeners() {
  if (config_.admin.enabled) {
    listeners_.push_back({"the admin API", "admin.address",
                          fmt::format("{}:{}", config_.admin.host, config_.admin.port),
                          config_.admin.host, config_.admin.port, admin_address_});
  }
  for (std::size_t j = 1; j < listeners_.size(); ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      const Listener& a = listeners_[i];
      const Listener& b = listeners_[j];
      if (a.port == 0 || a.port != b.port) continue;
      if (!iequal(a.host, b.host) && !is_wildcard(a.host) && !is_wildcard(b.host)) continue;
      const Listener& at = b.mark ? b : a;
      const Listener& other = b.mark ? a : b;
      const std::string where =
          other.mark ? fmt::format(" (line {})", pos(*other.mark).line) : std::string(" (default)");
      error(*at.mark, fmt::format("{}: address \"{}\" is already used by {}{}, use another port",
                                  at.path, at.text, other.what, where));
      break;
    }
  }
}

LoadResult ConfigReader::finish() {
  LoadResult result;
  result.diagnostics = take_diagnostics();
  if (kv_) {
    place_kv_diagnostics(result.diagnostics);
    result.diagnostics.insert(result.diagnostics.end(), kv_->diagnostics.begin(), kv_->diagnostics.end());
  }
  result.diagnostics.insert(result.diagnostics.end(), keys_file_diagnostics_.begin(),
                            keys_file_diagnostics_.end());
  if (!has_errors(result.diagnostics)) result.config = std::move(config_);
  return result;
}

}  // namespace detail

LoadResult load_text(std::string_view yaml, const std::string& name, const KvDocument* etcd) {
  if (!etcd) return detail::ConfigReader(yaml, name).run();
  std::string text(yaml);
  if (!text.empty() && text.back() != '\n') text += '\n';
  const auto first_line = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  text += etcd->text;
  return detail::ConfigReader(text, name, yaml.size(), first_line, *etcd).run();
}

LoadResult load_file(const std::string& path, const std::optional<ParseGuard>& guard,
                     const KvDocument* etcd) {
  auto cannot_read = [&](int err) {
    LoadResult r;
    r.diagnostics.push_back(Diagnostic{
        Severity::error, path, 0, 0,
        fmt::format("cannot read: {}, check the path given to --config", std::strerror(err))});
    return r;
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return cannot_read(errno);
  std::string text;
  char buffer[64 * 1024];
  std::size_t n = 0;
  errno = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f.get())) > 0) text.append(buffer, n);
  if (std::ferror(f.get())) return cannot_read(errno != 0 ? errno : EIO);
  const auto guarded = guard ? parse_in_child(text, path, *guard) : std::nullopt;
  if (guarded && guarded->severity == Severity::error) return LoadResult{std::nullopt, {*guarded}};
  LoadResult result = load_text(text, path, etcd);
  if (guarded) result.diagnostics.insert(result.diagnostics.begin(), *guarded);
  return result;
}

}  // namespace modelgate::config
