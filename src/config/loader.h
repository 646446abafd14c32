// Reads a YAML configuration file into a validated Config.
//
// Every problem is reported with its place in the file; nothing stops at the first one.
// Unknown keys are errors with a "did you mean" hint; Traefik options modelgate does not implement
// (api, providers, tls, middlewares, ...) are warnings that name the option.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/diagnostics.h"
#include "config/kv_layout.h"
#include "config/parse_guard.h"

namespace modelgate::config {

struct LoadResult {
  std::optional<Config> config;       // set when there is no error (warnings allowed)
  std::vector<Diagnostic> diagnostics;
};

// With a guard, the YAML is first parsed in a child process under its limits (parse_guard.h): a
// file the parser cannot finish is an error, not a hang. Without one, in-process only.
// `etcd`: the dynamic configuration read from etcd (kv_layout.h), combined with the file's:
// routers, services, middlewares, serversTransports, models and auth.keys may come from either,
// a name defined in both is an error naming both places, everything else is the file's only.
// A problem in etcd's part is reported at its key ("etcd key traefik/http/routers/a/rule").
LoadResult load_file(const std::string& path, const std::optional<ParseGuard>& guard = std::nullopt,
                     const KvDocument* etcd = nullptr);
// `name` is used as FILE in diagnostics.
LoadResult load_text(std::string_view yaml, const std::string& name, const KvDocument* etcd = nullptr);

// "500ms", "2s", "5m", "1h", "1m30s"; a bare integer means seconds (as Traefik).
std::optional<Duration> parse_duration(std::string_view text);

}  // namespace modelgate::config
