// modelgate: one binary, one subcommand per job.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>

#include "bench/bench.h"
#include "cli/commands.h"
#include "config/parse_guard.h"
#include "control/binary_upgrade.h"
#include "sim/sim.h"

namespace {

// "host:port", ":port" or "[v6]:port".
bool parse_listen(const std::string& text, std::string& host, std::uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  try {
    std::size_t used = 0;
    int p = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || p < 0 || p > 65535) return false;
    port = static_cast<std::uint16_t>(p);
  } catch (...) {
    return false;
  }
  return true;
}

// "modelgate 0.1.0", with `git describe` of the source tree when the build had one.
std::string version_line() {
  std::string line = std::string("modelgate ") + MODELGATE_VERSION;
#ifdef MODELGATE_GIT_DESCRIBE
  if (std::string_view(MODELGATE_GIT_DESCRIBE).size() > 0) {
    line += std::string(" (") + MODELGATE_GIT_DESCRIBE + ")";
  }
#endif
  return line;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    auto item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"modelgate: a load balancer and gateway for OpenAI-compatible model servers"};
  const std::string version = version_line();
  app.set_version_flag("--version", version);
  app.require_subcommand(1);

  auto* version_cmd = app.add_subcommand("version", "print the version and exit");

  modelgate::cli::ServeOptions serve_opts;
  auto* serve = app.add_subcommand("serve", "run the gateway");
  serve->add_option("-c,--config", serve_opts.config_path, "configuration file (YAML)")->required();
  serve->add_option("-w,--workers", serve_opts.workers, "worker threads (default: one per core)");

  std::string check_path;
  auto* check = app.add_subcommand("check", "validate a configuration file and exit");
  check->add_option("-c,--config", check_path, "configuration file (YAML)")->required();

  unsigned demo_workers = 0;
  auto* demo = app.add_subcommand("demo", "two simulated model servers behind the gateway on 127.0.0.1:8080");
  demo->add_option("-w,--workers", demo_workers, "worker threads (default: one per core)");

  modelgate::sim::SimOptions sim_opts;
  std::string listen = "127.0.0.1:8001", models = "Qwen2.5-0.5B-Instruct";
  auto* sim = app.add_subcommand("sim", "a simulated OpenAI-compatible model server (test double)");
  sim->add_option("--listen", listen, "address to listen on, host:port (port 0: any free port)")
      ->capture_default_str();
  sim->add_option("--name", sim_opts.name, "name stamped on responses (X-Served-By, system_fingerprint)")
      ->capture_default_str();
  sim->add_option("--models", models, "comma-separated model ids")->capture_default_str();
  sim->add_option("--ttft-ms", sim_opts.ttft_ms, "time to first token")->check(CLI::NonNegativeNumber);
  sim->add_option("--tpot-ms", sim_opts.tpot_ms, "time per output token")->check(CLI::NonNegativeNumber);
  sim->add_option("--max-concurrency", sim_opts.max_concurrency,
                  "running requests at most; more wait (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  sim->add_option("--max-tokens", sim_opts.default_max_tokens, "completion length when the request sets none")
      ->check(CLI::PositiveNumber);
  sim->add_option("--fail-rate", sim_opts.fail_rate, "share of requests answered with 500")
      ->check(CLI::Range(0.0, 1.0));
  sim->add_option("--hang-after-ms", sim_opts.hang_after_ms, "stop answering after this long (0: never)")
      ->check(CLI::NonNegativeNumber);
  sim->add_option("--die-after-requests", sim_opts.die_after_requests,
                  "exit abruptly on request N+1 (0: never)")
      ->check(CLI::NonNegativeNumber);
  sim->add_option("--stall-after-chunks", sim_opts.stall_after_chunks,
                  "streams stop after N chunks (0: never)")
      ->check(CLI::NonNegativeNumber);
  sim->add_option("--keep-alive-timeout-ms", sim_opts.keep_alive_timeout_ms,
                  "close a connection idle this long between requests (0: 60 s)")
      ->check(CLI::NonNegativeNumber);
  sim->add_option("--threads", sim_opts.threads, "event-loop threads")->check(CLI::PositiveNumber);
  auto engine_group = "Engine model (--engine)";
  sim->add_option("--engine", sim_opts.engine,
                  "model a continuous-batching engine and publish its metrics: vllm or sglang")
      ->check(CLI::IsMember({"vllm", "sglang"}))
      ->group(engine_group);
  sim->add_option("--kv-cache-tokens", sim_opts.kv_cache_tokens, "KV-cache size in tokens")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(engine_group);
  sim->add_option("--block-tokens", sim_opts.block_tokens, "tokens per KV-cache block")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(engine_group);
  sim->add_option("--max-running", sim_opts.max_running, "sequences in the running batch at most")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(engine_group);
  sim->add_option("--prefill-chunk-tokens", sim_opts.prefill_chunk_tokens,
                  "prompt tokens prefilled per engine step at most")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(engine_group);
  sim->add_option("--prefill-tokens-per-s", sim_opts.prefill_tokens_per_s, "prefill speed")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(engine_group);
  sim->add_option("--decode-step-ms", sim_opts.decode_step_ms, "fixed time of an engine step")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(engine_group);
  sim->add_option("--decode-ms-per-running", sim_opts.decode_ms_per_running,
                  "added step time per running sequence")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(engine_group);

  modelgate::cli::RegisterFlags reg;
  auto* register_cmd = app.add_subcommand(
      "register", "keep a model server in etcd (Traefik's KV layout) while its health endpoint answers");
  register_cmd->add_option("--etcd", reg.etcd, "etcd client endpoints, HOST:PORT[,HOST:PORT...]")->required();
  register_cmd->add_option("--root-key", reg.root_key, "prefix of the keys the gateways read")->capture_default_str();
  register_cmd->add_option("--service", reg.service, "service whose pool the server joins")->required();
  register_cmd->add_option("--url", reg.url, "the model server, http://HOST:PORT")->required();
  register_cmd->add_option("--health", reg.health, "path checked every interval (\"\": no check)")
      ->capture_default_str();
  register_cmd->add_option("--ttl", reg.ttl, "lease: how long a dead machine stays in the pool")->capture_default_str();
  register_cmd->add_option("--interval", reg.interval, "time between health checks")->capture_default_str();
  register_cmd->add_option("--timeout", reg.timeout, "for each health check and each etcd call")
      ->capture_default_str();

  modelgate::bench::BenchOptions bench_opts;
  std::string workload = "shared-prefix";
  auto& wl = bench_opts.workload;
  auto* bench = app.add_subcommand("bench", "scheduling workloads against an OpenAI-compatible endpoint (docs/scheduling.md)");
  bench->add_option("--url", bench_opts.url, "endpoint, http://ADDRESS:PORT")->capture_default_str();
  bench->add_option("--model", bench_opts.model, "model of every request")->capture_default_str();
  bench->add_option("--workload", workload, "shared-prefix, multi-turn, hot-prefix or uniform")
      ->capture_default_str();
  bench->add_option("--rate", bench_opts.rate, "open loop: requests per second, Poisson arrivals (0: closed loop)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  bench->add_option("--concurrency", bench_opts.concurrency, "closed loop: requests in flight")
      ->capture_default_str();
  bench->add_option("--requests", bench_opts.max_requests, "stop after this many requests (0: the whole workload)")
      ->capture_default_str();
  bench->add_option("--duration", bench_opts.duration_s, "start no request after this many seconds")
      ->check(CLI::PositiveNumber)->capture_default_str();
  bench->add_option("--timeout", bench_opts.timeout_s, "seconds allowed per request")
      ->check(CLI::PositiveNumber)->capture_default_str();
  bench->add_option("--groups", wl.groups, "shared-prefix, hot-prefix, uniform: groups")->capture_default_str();
  bench->add_option("--prompts", wl.prompts, "prompts per group")->capture_default_str();
  bench->add_option("--system-tokens", wl.system_tokens, "shared system prompt (multi-turn: opening context) in tokens")
      ->capture_default_str();
  bench->add_option("--question-tokens", wl.question_tokens, "question length in tokens")->capture_default_str();
  bench->add_option("--output-tokens", wl.output_tokens, "max_tokens of each request")->capture_default_str();
  bench->add_option("--conversations", wl.conversations, "multi-turn: conversations")->capture_default_str();
  bench->add_option("--turns", wl.turns, "multi-turn: turns per conversation")->capture_default_str();
  bench->add_option("--think-ms", wl.think_ms, "multi-turn: mean pause before the next question")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  bench->add_option("--zipf", wl.zipf, "hot-prefix: popularity exponent")->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  bench->add_option("--seed", wl.seed, "seed of the prompt text and arrival times")->capture_default_str();
  bench->add_option("--session-header", bench_opts.session_header,
                    "header carrying the group or conversation id (\"\": none)")->capture_default_str();
  bench->add_option("--source-addresses", bench_opts.source_addresses,
                    "connect each session from one of N loopback addresses 127.0.0.2.. (0: the default)")
      ->check(CLI::Range(0, 250));
  bench->add_option("--fleet-size", bench_opts.fleet_size, "servers behind the endpoint, for the max/min load ratio")
      ->check(CLI::NonNegativeNumber);
  bench->add_option("--json", bench_opts.json_path, "write the report as JSON to this file (-: stdout)");

  // Internal: the YAML parse of a config file, run by this same binary in a child process with
  // these limits (config/parse_guard.h). Hidden from --help.
  const modelgate::config::ParseGuard parse_guard{"/proc/self/exe"};
  auto* parse_yaml = app.add_subcommand("parse-yaml", "parse YAML from stdin under limits (internal)");
  parse_yaml->group("");
  std::size_t memory_limit = parse_guard.memory_limit;
  std::int64_t timeout_ms = parse_guard.timeout.count();
  parse_yaml->add_option("--memory-limit", memory_limit, "bytes of address space");
  parse_yaml->add_option("--timeout-ms", timeout_ms, "wall-clock limit");
  serve_opts.parse_guard = parse_guard;
  // SIGUSR2 starts the binary at this path again with these arguments (control/binary_upgrade.h).
  serve_opts.upgrade = modelgate::cli::UpgradeCommand{modelgate::control::own_executable(argv[0]),
                                                      std::vector<std::string>(argv + 1, argv + argc)};

  CLI11_PARSE(app, argc, argv);

  if (*parse_yaml) {
    return modelgate::config::parse_yaml_child(memory_limit, std::chrono::milliseconds(timeout_ms));
  }

  if (*version_cmd) {
    std::cout << version << "\n";
    return 0;
  }
  try {
    if (*serve) return modelgate::cli::serve(serve_opts);
    if (*check) return modelgate::cli::check(check_path, parse_guard);
    if (*demo) return modelgate::cli::demo(demo_workers);
    if (*register_cmd) return modelgate::cli::register_server(reg);
    if (*bench) {
      auto kind = modelgate::bench::parse_workload(workload);
      if (!kind) {
        std::cerr << fmt::format("modelgate bench: --workload \"{}\" is not one of shared-prefix, multi-turn, "
                                 "hot-prefix, uniform\n", workload);
        return 2;
      }
      wl.kind = *kind;
      return modelgate::bench::run(bench_opts);
    }
    if (*sim) {
      if (!parse_listen(listen, sim_opts.host, sim_opts.port)) {
        std::cerr << fmt::format("modelgate sim: --listen \"{}\" is not host:port, e.g. 127.0.0.1:8001\n",
                                 listen);
        return 2;
      }
      sim_opts.models = split_list(models);
      return modelgate::sim::run(sim_opts);
    }
  } catch (const std::exception& e) {
    std::cerr << "modelgate: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
