#include "bench/bench.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "bench/exchange.h"
#include "bench/report.h"
#include "text/json_escape.h"

namespace modelgate::bench {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// "http://host:port" (IPv4 or bracketed IPv6 literal; no TLS, no name lookup).
bool parse_url(const std::string& url, Target& out) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) return false;
  std::string rest = url.substr(scheme.size());
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    if (rest.substr(slash) != "/") return false;
    rest.resize(slash);
  }
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  out.host = rest.substr(0, colon);
  if (out.host.front() == '[' && out.host.back() == ']') out.host = out.host.substr(1, out.host.size() - 2);
  try {
    std::size_t used = 0;
    int port = std::stoi(rest.substr(colon + 1), &used);
    if (used != rest.size() - colon - 1 || port <= 0 || port > 65535) return false;
    out.port = static_cast<std::uint16_t>(port);
  } catch (...) {
    return false;
  }
  boost::system::error_code ec;
  asio::ip::make_address(out.host, ec);
  return !ec;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

struct Turn {
  std::string role, content;
};

std::string chat_body(const BenchOptions& o, const std::string& system, const std::vector<Turn>& history) {
  std::string body = R"({"model":)";
  text::append_json_string(body, o.model);
  body += R"(,"messages":[{"role":"system","content":)";
  text::append_json_string(body, system);
  body += '}';
  for (const auto& t : history) {
    body += R"(,{"role":")" + t.role + R"(","content":)";
    text::append_json_string(body, t.content);
    body += '}';
  }
  body += fmt::format(R"(],"max_tokens":{},"stream":true,"stream_options":{{"include_usage":true}}}})",
                      o.workload.output_tokens);
  return body;
}

// The state of one run, shared by its coroutines (all on one thread).
struct Run {
  const BenchOptions& options;
  std::vector<Target> targets;  // requests go to each in turn
  std::vector<Script> scripts;
  std::size_t budget;        // requests that may still start
  Clock::time_point start, deadline, last_end;
  Report report;
  std::mt19937_64 rng;
  std::size_t next_script = 0;
  std::size_t next_target = 0;

  bool may_start() {
    if (budget == 0 || Clock::now() >= deadline) return false;
    --budget;
    return true;
  }

  asio::awaitable<void> pause(double ms) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(std::chrono::microseconds(static_cast<std::int64_t>(ms * 1000)));
    co_await timer.async_wait(asio::use_awaitable);
  }

  // One script: its turns in order, each after the previous answer and a think time.
  asio::awaitable<void> play(const Script& script) {
    HeaderList headers;
    if (!options.session_header.empty()) headers.emplace_back(options.session_header, script.session);
    asio::ip::address source;
    if (options.source_addresses > 0)
      source = asio::ip::address_v4(0x7f000002u + fnv1a(script.session) % options.source_addresses);
    std::vector<Turn> history;
    for (std::size_t t = 0; t < script.questions.size(); ++t) {
      if (t > 0 && options.workload.think_ms > 0)
        co_await pause(std::exponential_distribution<double>(1.0 / options.workload.think_ms)(rng));
      if (!may_start()) co_return;
      history.push_back({"user", script.questions[t]});
      const Target& target = targets[next_target++ % targets.size()];
      auto r = co_await stream_chat(target, chat_body(options, script.system, history), headers, source,
                                    std::chrono::seconds(options.timeout_s));
      last_end = Clock::now();
      report.add(r, t);
      if (!r.ok) co_return;  // a conversation does not go on without its answer
      history.push_back({"assistant", std::move(r.content)});
    }
  }

  asio::awaitable<void> closed_loop_user() {
    while (next_script < scripts.size() && budget > 0 && Clock::now() < deadline)
      co_await play(scripts[next_script++]);
  }

  asio::awaitable<void> open_loop(double scripts_per_s) {
    auto executor = co_await asio::this_coro::executor;
    std::exponential_distribution<double> gap(scripts_per_s);
    for (const auto& script : scripts) {
      if (budget == 0 || Clock::now() >= deadline) break;
      asio::co_spawn(executor, play(script), asio::detached);
      co_await pause(1000 * gap(rng));
    }
  }
};

}  // namespace

int run(const BenchOptions& o) {
  std::vector<Target> targets;
  for (std::size_t from = 0; from <= o.url.size();) {
    const auto comma = std::min(o.url.find(',', from), o.url.size());
    const std::string one = o.url.substr(from, comma - from);
    if (!parse_url(one, targets.emplace_back())) {
      std::cerr << fmt::format("modelgate bench: --url \"{}\" is not http://ADDRESS:PORT with a numeric "
                               "address, e.g. http://127.0.0.1:8080 (several: comma-separated)\n", one);
      return 2;
    }
    from = comma + 1;
  }
  const auto& w = o.workload;
  if (w.groups < 1 || w.prompts < 1 || w.conversations < 1 || w.turns < 1 || w.output_tokens < 1 ||
      w.system_tokens < 0 || w.question_tokens < 1) {
    std::cerr << "modelgate bench: --groups, --prompts, --conversations, --turns, --question-tokens and "
                 "--output-tokens must be at least 1, --system-tokens at least 0\n";
    return 2;
  }
  if (o.rate <= 0 && o.concurrency < 1) {
    std::cerr << "modelgate bench: give --rate above 0 (open loop) or --concurrency of at least 1 (closed loop)\n";
    return 2;
  }

  auto scripts = make_workload(w);
  const std::size_t planned = request_count(scripts);
  RunInfo info{std::string(workload_name(w.kind)), o.rate > 0 ? "open" : "closed", o.rate,
               o.rate > 0 ? 0 : o.concurrency, planned, o.fleet_size};
  asio::io_context io(1);
  const auto start = Clock::now();
  Run state{o, std::move(targets), std::move(scripts), o.max_requests ? std::min(o.max_requests, planned) : planned,
            start, start + std::chrono::milliseconds(static_cast<std::int64_t>(o.duration_s * 1000)), start,
            Report(info), std::mt19937_64(w.seed ^ 0x5eedull), 0};
  if (o.rate > 0) {
    const double turns = static_cast<double>(planned) / static_cast<double>(state.scripts.size());
    asio::co_spawn(io, state.open_loop(o.rate / turns), asio::detached);
  } else {
    for (int i = 0; i < o.concurrency; ++i) asio::co_spawn(io, state.closed_loop_user(), asio::detached);
  }
  io.run();
  state.report.set_duration(std::chrono::duration<double>(state.last_end - start).count());

  if (o.json_path != "-") std::cout << state.report.table() << std::flush;
  if (o.json_path == "-") {
    std::cout << state.report.json() << std::flush;
  } else if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << state.report.json();
    if (!out) {
      std::cerr << "modelgate bench: could not write " << o.json_path << "\n";
      return 2;
    }
  }
  return state.report.succeeded() == state.report.sent() && state.report.sent() > 0 ? 0 : 1;
}

}  // namespace modelgate::bench
