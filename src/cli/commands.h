// The subcommands of the modelgate binary, callable from main and from tests.
#pragma once

#include <string>

#include "config/config.h"

namespace modelgate::cli {

struct ServeOptions {
  std::string config_path;
  unsigned workers = 0;  // 0: one per core
};

// `modelgate serve`: runs until SIGINT/SIGTERM, then drains. Exit codes: 0 clean stop,
// 2 invalid configuration, 1 could not start (e.g. address in use).
int serve(const ServeOptions& options);

// `modelgate check`: 0 when the file is valid (warnings allowed), 2 otherwise.
int check(const std::string& config_path);

// `modelgate demo`: two simulated model servers and the gateway on 127.0.0.1:8080.
int demo(unsigned workers);

// Runs a gateway on an already loaded config (shared by serve and demo). `source` names the
// config in messages.
// `config_path` is watched and reloaded; empty for an embedded config.
int run_gateway(config::Config cfg, unsigned workers, const std::string& source,
                const std::string& config_path = "");

}  // namespace modelgate::cli
