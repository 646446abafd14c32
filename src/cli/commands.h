// The subcommands of the modelgate binary, callable from main and from tests.
#pragma once

#include <optional>
#include <string>

#include "config/config.h"
#include "config/parse_guard.h"

namespace modelgate::cli {

struct ServeOptions {
  std::string config_path;
  unsigned workers = 0;  // 0: one per core
  // Every load of the file (startup and reloads) parses it in a child process first; unset (a
  // binary without the `parse-yaml` subcommand): in-process only. See config/parse_guard.h.
  std::optional<config::ParseGuard> parse_guard;
};

// `modelgate serve`: runs until SIGINT/SIGTERM, then drains. Exit codes: 0 clean stop,
// 2 invalid configuration, 1 could not start (e.g. address in use).
int serve(const ServeOptions& options);

// `modelgate check`: 0 when the file is valid (warnings allowed), 2 otherwise.
int check(const std::string& config_path, const std::optional<config::ParseGuard>& parse_guard = std::nullopt);

// `modelgate demo`: two simulated model servers and the gateway on 127.0.0.1:8080.
int demo(unsigned workers);

// Runs a gateway on an already loaded config (shared by serve and demo). `source` names the
// config in messages.
// `config_path` is watched and reloaded (through `parse_guard`); empty for an embedded config.
int run_gateway(config::Config cfg, unsigned workers, const std::string& source,
                const std::string& config_path = "",
                std::optional<config::ParseGuard> parse_guard = std::nullopt);

}  // namespace modelgate::cli
