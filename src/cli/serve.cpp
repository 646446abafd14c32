// `modelgate serve` and `check`: load the configuration, run the gateway and its control plane,
// and answer the signals a service gets (docs/high-availability.md, "Running as a service").
#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "control/control_plane.h"
#include "control/service_notify.h"
#include "config/loader.h"
#include "observability/access_log.h"
#include "observability/metrics.h"
#include "proxy/gateway.h"

namespace modelgate::cli {

namespace {

void set_log_level(const std::string& level) {
  auto l = spdlog::level::from_str(level);
  spdlog::set_level(l);
}

void print_diagnostics(const std::vector<config::Diagnostic>& ds) {
  for (const auto& d : ds) std::cerr << d.str() << "\n";
}

// Signals are taken by the main thread from a signalfd, so no worker is ever interrupted by one,
// and the wait for a binary upgrade's new process shares the same poll().
sigset_t blocked_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&set, sig);
  return set;
}

struct SignalFd {
  int fd;
  ~SignalFd() {
    if (fd >= 0) ::close(fd);
  }
};

// Every listening socket of this process, for the new one of a binary upgrade.
std::vector<net::NamedFd> listeners_to_hand_over(const proxy::Gateway& gateway,
                                                 const control::ControlPlane& control) {
  auto fds = gateway.listeners();
  if (const int admin = control.admin_listener(); admin >= 0) fds.push_back({admin, net::kAdminListenerName});
  return fds;
}

}  // namespace

int run_gateway(config::Config cfg, unsigned workers, const std::string& source,
                const std::string& config_path, std::optional<config::ParseGuard> parse_guard,
                std::optional<UpgradeCommand> upgrade_command, Inheritance* inherited) {
  set_log_level(cfg.log.level);
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
  const auto drain = cfg.shutdown.drainTimeout;

  runtime::ServerRegistry registry;  // server states by service and url, kept across reloads
  auto built = runtime::build_snapshot(std::move(cfg), registry);
  if (auto* errors = std::get_if<std::vector<std::string>>(&built)) {
    for (const auto& e : *errors) std::cerr << source << ": error: " << e << "\n";
    std::cerr << "modelgate: refusing to start, fix the configuration above\n";
    return 2;
  }
  auto snapshot = std::get<std::shared_ptr<const runtime::Snapshot>>(std::move(built));

  sigset_t signals = blocked_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // inherited by the worker threads
  const SignalFd signal_fd{::signalfd(-1, &signals, SFD_CLOEXEC)};
  if (signal_fd.fd < 0) {
    std::cerr << "modelgate: cannot read signals (signalfd): " << std::strerror(errno) << "\n";
    return 1;
  }
  // Blocks of 1 MiB and more (large request bodies, a JSON parser grown by one) get mappings of
  // their own, returned to the kernel when freed. glibc's default raises this threshold to the
  // largest block ever freed; after one 8 MiB body, later ones came from a thread's heap, whose
  // free top stays resident (malloc_trim does not shrink it).
  ::mallopt(M_MMAP_THRESHOLD, 1024 * 1024);

  observability::Metrics metrics(workers);
  std::unique_ptr<observability::AccessLog> access_log;
  proxy::Gateway gateway(snapshot, registry, workers);
  net::InheritedListeners* handed = inherited ? &inherited->listeners : nullptr;
  try {
    if (snapshot->config.accessLog.enabled) {
      access_log = std::make_unique<observability::AccessLog>(snapshot->config.accessLog, workers);
    }
    if (auto why = gateway.tls().set(runtime::server_certificates(snapshot->config)); !why.empty()) {
      std::cerr << source << ": error: tls.certificates: " << why << "\n";
      return 2;
    }
    gateway.bind(handed);
  } catch (const std::exception& e) {
    std::cerr << "modelgate: " << e.what() << "\n";
    return 1;
  }
  gateway.attach(&metrics, access_log.get());
  gateway.start();
  control::ControlPlane control(gateway, config_path, std::move(parse_guard), workers, metrics, access_log.get());
  control.start(handed);
  if (handed) handed->close_rest();
  for (const auto& [name, endpoint] : gateway.bound()) {
    std::cout << fmt::format("modelgate: entry point {} listening on {}:{}\n", name,
                             endpoint.address().to_string(), endpoint.port());
  }
  std::cout << fmt::format("modelgate: ready ({} workers, config {})", workers, source) << std::endl;
  const auto serving = fmt::format("serving {} entry points with {} workers (pid {})", gateway.bound().size(),
                                   workers, ::getpid());
  if (inherited && inherited->handover.active()) {
    inherited->handover.ready();  // the old process names this one the main process
  } else {
    control::service::ready(serving);
  }

  std::optional<control::BinaryUpgrade> upgrade;
  if (upgrade_command) upgrade.emplace(upgrade_command->executable, upgrade_command->args);
  auto stop = [&](pid_t successor) {
    if (successor > 0) {
      spdlog::info("binary upgrade: process {} serves now; this one ({}) stops accepting and drains for "
                   "up to {} ms",
                   successor, ::getpid(), drain.count());
      control::service::main_pid(successor, fmt::format("serving (pid {}, upgraded)", successor));
      control.stop_admin();  // the new process answers the admin API (and GET /ready) from now on
    } else {
      control::service::stopping("draining");
      const auto grace = gateway.current()->config.shutdown.acceptGrace;  // as last reloaded
      if (grace.count() > 0) {
        control.announce_drain();
        spdlog::info("not ready; accepting for {} ms more (shutdown.acceptGrace)", grace.count());
        std::this_thread::sleep_for(grace);
      }
    }
    gateway.shutdown(drain);
    gateway.join();
    control.stop();
    if (access_log) access_log->stop();
    if (successor > 0) {
      std::cout << fmt::format("modelgate: handed over to process {}; stopped", successor) << std::endl;
    } else {
      std::cout << "modelgate: stopped" << std::endl;
    }
    return 0;
  };

  for (;;) {
    pollfd fds[2] = {{signal_fd.fd, POLLIN, 0}, {upgrade ? upgrade->fd() : -1, POLLIN, 0}};
    ::poll(fds, 2, 1000);
    if (upgrade) {
      const pid_t child = upgrade->child();
      const auto outcome = upgrade->check(std::chrono::steady_clock::now());
      if (outcome == control::BinaryUpgrade::Outcome::ready) return stop(child);
      if (outcome == control::BinaryUpgrade::Outcome::failed)
        control::service::status(serving + "; the last binary upgrade failed, see the log");
    }
    signalfd_siginfo info{};
    if (!(fds[0].revents & POLLIN) || ::read(signal_fd.fd, &info, sizeof info) != sizeof info) continue;
    const int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("signal {}: draining for up to {} ms", sig, drain.count());
      return stop(0);
    }
    if (sig == SIGHUP) {
      control.request_reload("SIGHUP");
    } else if (sig == SIGUSR1 && access_log) {
      access_log->reopen();
    } else if (sig == SIGUSR2) {
      if (!upgrade) {
        spdlog::warn("SIGUSR2: a binary upgrade needs `modelgate serve`; ignored");
      } else if (upgrade->start(listeners_to_hand_over(gateway, control))) {
        control::service::status(fmt::format("upgrading: waiting for process {}", upgrade->child()));
      }
    }
  }
}

int serve(const ServeOptions& options) {
  auto inherited = Inheritance::from_environment();
  // Held from the start: a signal that arrives while the configuration loads (a SIGUSR2 sent to
  // every process of the service, say) is answered once the gateway runs, instead of ending it.
  const sigset_t signals = blocked_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto result = config::load_file(options.config_path, options.parse_guard);
  print_diagnostics(result.diagnostics);
  if (!result.config) {
    std::cerr << fmt::format(
        "modelgate: refusing to start: {} is not valid, fix the errors above "
        "(`modelgate check --config {}` lists them)\n",
        options.config_path, options.config_path);
    return 2;
  }
  return run_gateway(std::move(*result.config), options.workers, options.config_path, options.config_path,
                     options.parse_guard, options.upgrade, &inherited);
}

int check(const std::string& config_path, const std::optional<config::ParseGuard>& parse_guard) {
  auto result = config::load_file(config_path, parse_guard);
  print_diagnostics(result.diagnostics);
  if (!result.config) return 2;
  runtime::ServerRegistry registry;
  const auto& cfg = *result.config;
  const auto counts = fmt::format("{} entry points, {} routers, {} services", cfg.entryPoints.size(),
                                  cfg.routers.size(), cfg.services.size());
  auto built = runtime::build_snapshot(cfg, registry);
  if (auto* errors = std::get_if<std::vector<std::string>>(&built)) {
    for (const auto& e : *errors) std::cerr << config_path << ": error: " << e << "\n";
    return 2;
  }
  std::cout << config_path << ": OK (" << counts << ")\n";
  return 0;
}

}  // namespace modelgate::cli
