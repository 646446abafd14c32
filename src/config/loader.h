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
#include "config/parse_guard.h"

namespace modelgate::config {

struct LoadResult {
  std::optional<Config> config;       // set when there is no error (warnings allowed)
  std::vector<Diagnostic> diagnostics;
};

// With a guard, the YAML is first parsed in a child process under its limits (parse_guard.h): a
// file the parser cannot finish is an error, not a hang. Without one, in-process only.
LoadResult load_file(const std::string& path, const std::optional<ParseGuard>& guard = std::nullopt);
// `name` is used as FILE in diagnostics.
LoadResult load_text(std::string_view yaml, const std::string& name);

// "500ms", "2s", "5m", "1h", "1m30s"; a bare integer means seconds (as Traefik).
std::optional<Duration> parse_duration(std::string_view text);

}  // namespace modelgate::config
