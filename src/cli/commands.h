// The subcommands of the modelgate binary, callable from main and from tests.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/parse_guard.h"
#include "control/binary_upgrade.h"
#include "net/listen_fds.h"

namespace modelgate::cli {

// How a binary upgrade (SIGUSR2) starts the new process: control/binary_upgrade.h.
struct UpgradeCommand {
  std::string executable;         // resolved at startup (control::own_executable)
  std::vector<std::string> args;  // the gateway's own arguments, argv[1..]
};

// What the process of a binary upgrade was handed (both empty otherwise). Taken from the
// environment before anything else runs, so no child process (the parse guard) inherits it.
struct Inheritance {
  net::InheritedListeners listeners;
  control::UpgradeHandover handover;
  static Inheritance from_environment() {
    return {net::InheritedListeners::from_environment(), control::UpgradeHandover::from_environment()};
  }
};

struct ServeOptions {
  std::string config_path;
  unsigned workers = 0;  // 0: one per core
  // Every load of the file (startup and reloads) parses it in a child process first; unset (a
  // binary without the `parse-yaml` subcommand): in-process only. See config/parse_guard.h.
  std::optional<config::ParseGuard> parse_guard;
  // Unset: SIGUSR2 is refused with a log line.
  std::optional<UpgradeCommand> upgrade;
};

// `modelgate serve`: runs until SIGINT/SIGTERM, then drains; SIGHUP reloads, SIGUSR2 upgrades the
// binary (the new process takes over and this one drains and exits 0). Under systemd it notifies
// readiness, reloads and shutdown (control/service_notify.h). Exit codes: 0 clean stop,
// 2 invalid configuration, 1 could not start (e.g. address in use).
int serve(const ServeOptions& options);

// `modelgate check`: 0 when the file is valid (warnings allowed), 2 otherwise.
int check(const std::string& config_path, const std::optional<config::ParseGuard>& parse_guard = std::nullopt);

// `modelgate demo`: two simulated model servers and the gateway on 127.0.0.1:8080.
int demo(unsigned workers);

// `modelgate register` as typed (docs/scale-out.md, "Self-registration"); checked by
// register_server, which prints what is wrong with a flag and returns 2.
struct RegisterFlags {
  std::string etcd = "127.0.0.1:2379";  // HOST:PORT[,HOST:PORT...]
  std::string root_key = "traefik";
  std::string service;
  std::string url;
  std::string health = "/health";
  std::string ttl = "10s";
  std::string interval = "1s";
  std::string timeout = "2s";
};

// Runs until SIGINT/SIGTERM, which revoke the lease: 0; 2 for bad flags, 1 when it cannot run.
int register_server(const RegisterFlags& flags);

// Runs a gateway on an already loaded config (shared by serve and demo). `source` names the
// config in messages.
// `config_path` is watched and reloaded (through `parse_guard`); empty for an embedded config.
int run_gateway(config::Config cfg, unsigned workers, const std::string& source,
                const std::string& config_path = "",
                std::optional<config::ParseGuard> parse_guard = std::nullopt,
                std::optional<UpgradeCommand> upgrade = std::nullopt, Inheritance* inherited = nullptr);

}  // namespace modelgate::cli
