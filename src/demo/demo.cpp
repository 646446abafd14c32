// `modelgate demo`: the scenario modelgate exists for, on one machine.
//
// Machine A (vm02) serves Qwen2.5-0.5B-Instruct; machine B (vm03) serves Qwen2.5-0.5B-Instruct and
// glm4-9b-chat. Both are simulated in this process; the gateway on 127.0.0.1:8080 balances Qwen
// across both and sends glm4 to B only, reading the model from the request body. Its admin API
// and dashboard are on 127.0.0.1:9090.
#include <fmt/format.h>

#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "config/loader.h"
#include "sim/sim.h"

namespace modelgate::cli {

namespace {

constexpr std::string_view kDemoConfig = R"yaml(# modelgate demo: two model servers behind one endpoint
entryPoints:
  web:
    address: "127.0.0.1:8080"
ping: {}
admin:
  address: "127.0.0.1:9090"
http:
  routers:
    glm4:
      rule: "Model(`glm4-9b-chat`)"
      service: machine-b
    qwen:
      rule: "Model(`Qwen2.5-0.5B-Instruct`)"
      service: qwen-pool
  services:
    qwen-pool:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:8001
          - url: http://127.0.0.1:8002
    machine-b:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:8002
)yaml";

constexpr std::string_view kCurls = R"text(
Dashboard: http://127.0.0.1:9090/dashboard/

Try it (another terminal):

  # the models behind the gateway, as an OpenAI client's models.list() sees them
  curl -s http://127.0.0.1:8080/v1/models

  # streamed, balanced across vm02 and vm03 (see "system_fingerprint")
  curl -N http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model":"Qwen2.5-0.5B-Instruct","stream":true,"messages":[{"role":"user","content":"Tell me a story"}]}'

  # not streamed, only ever served by vm03
  curl -s http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model":"glm4-9b-chat","messages":[{"role":"user","content":"Hello"}]}'

  # a model nobody serves: 404 model_not_found with the list of models
  curl -s http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model":"gpt-5","messages":[]}'

Ctrl-C stops everything.
)text";

}  // namespace

int demo(unsigned workers) {
  auto loaded = config::load_text(kDemoConfig, "<demo>");
  for (const auto& d : loaded.diagnostics) std::cerr << d.str() << "\n";
  if (!loaded.config) return 2;

  boost::asio::io_context sims_io;
  std::unique_ptr<sim::Sim> a, b;
  try {
    a = std::make_unique<sim::Sim>(sims_io, sim::SimOptions{.port = 8001,
                                                            .name = "vm02",
                                                            .models = {"Qwen2.5-0.5B-Instruct"},
                                                            .ttft_ms = 150,
                                                            .tpot_ms = 40});
    b = std::make_unique<sim::Sim>(sims_io,
                                   sim::SimOptions{.port = 8002,
                                                   .name = "vm03",
                                                   .models = {"Qwen2.5-0.5B-Instruct", "glm4-9b-chat"},
                                                   .ttft_ms = 150,
                                                   .tpot_ms = 40});
  } catch (const std::exception& e) {
    std::cerr << "modelgate demo: cannot start the simulated model servers on 127.0.0.1:8001 and "
                 ":8002: "
              << e.what() << "; stop whatever uses those ports and try again\n";
    return 1;
  }
  std::cout << "modelgate demo: vm02 (Qwen2.5-0.5B-Instruct) on 127.0.0.1:8001, "
               "vm03 (Qwen2.5-0.5B-Instruct, glm4-9b-chat) on 127.0.0.1:8002\n"
            << kCurls << std::endl;
  // The sims' thread must not take the gateway's signals: block them before it starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread sims_thread([&] { sims_io.run(); });
  int rc = run_gateway(std::move(*loaded.config), workers, "<demo>");
  a->stop();
  b->stop();
  sims_io.stop();
  sims_thread.join();
  return rc;
}

}  // namespace modelgate::cli
