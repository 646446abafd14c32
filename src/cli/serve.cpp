#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "control/control_plane.h"
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

// Signals are taken by one thread with sigwait, so no worker is ever interrupted by one.
sigset_t blocked_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  return set;
}

}  // namespace

int run_gateway(config::Config cfg, unsigned workers, const std::string& source,
                const std::string& config_path, std::optional<config::ParseGuard> parse_guard) {
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
  // Blocks of 1 MiB and more (large request bodies, a JSON parser grown by one) get mappings of
  // their own, returned to the kernel when freed. glibc's default raises this threshold to the
  // largest block ever freed; after one 8 MiB body, later ones came from a thread's heap, whose
  // free top stays resident (malloc_trim does not shrink it).
  ::mallopt(M_MMAP_THRESHOLD, 1024 * 1024);

  observability::Metrics metrics(workers);
  std::unique_ptr<observability::AccessLog> access_log;
  proxy::Gateway gateway(snapshot, registry, workers);
  try {
    if (snapshot->config.accessLog.enabled) {
      access_log = std::make_unique<observability::AccessLog>(snapshot->config.accessLog, workers);
    }
    if (auto why = gateway.tls().set(runtime::server_certificates(snapshot->config)); !why.empty()) {
      std::cerr << source << ": error: tls.certificates: " << why << "\n";
      return 2;
    }
    gateway.bind();
  } catch (const std::exception& e) {
    std::cerr << "modelgate: " << e.what() << "\n";
    return 1;
  }
  gateway.attach(&metrics, access_log.get());
  gateway.start();
  control::ControlPlane control(gateway, config_path, std::move(parse_guard), workers, metrics, access_log.get());
  control.start();
  for (const auto& [name, endpoint] : gateway.bound()) {
    std::cout << fmt::format("modelgate: entry point {} listening on {}:{}\n", name,
                             endpoint.address().to_string(), endpoint.port());
  }
  std::cout << fmt::format("modelgate: ready ({} workers, config {})", workers, source) << std::endl;

  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("signal {}: draining for up to {} ms", sig, drain.count());
      gateway.shutdown(drain);
      gateway.join();
      control.stop();
      if (access_log) access_log->stop();
      std::cout << "modelgate: stopped" << std::endl;
      return 0;
    }
    if (sig == SIGHUP) {
      control.request_reload("SIGHUP");
    } else if (sig == SIGUSR1 && access_log) {
      access_log->reopen();
    }
  }
}

int serve(const ServeOptions& options) {
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
                     options.parse_guard);
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
