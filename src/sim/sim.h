// A simulated OpenAI-compatible model server: the test double for every test and benchmark.
//
// It speaks the same HTTP API as vLLM, SGLang, Xinference, llama.cpp server and Ollama's OpenAI
// endpoints, with real timing (first token after ttft, one chunk per tpot), a bounded number of
// running requests (the rest queue), and faults on demand so that failover can be tested.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace modelgate::sim {

struct SimOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8001;          // 0: any free port (the bound one is announced)
  std::string name = "sim";           // X-Served-By and system_fingerprint
  std::vector<std::string> models = {"Qwen2.5-0.5B-Instruct"};
  int ttft_ms = 0;                    // delay before the first token
  int tpot_ms = 0;                    // delay between two tokens
  int max_concurrency = 0;            // 0: unlimited; beyond it requests wait in a queue
  int default_max_tokens = 16;        // completion length when the request names no max_tokens
  // Faults
  double fail_rate = 0;               // share of requests answered with 500
  int hang_after_ms = 0;              // 0: never; else stop answering anything after this long
  int die_after_requests = 0;         // 0: never; else the process exits on request N+1
  int stall_after_chunks = 0;         // 0: never; else streams stop (connection kept) after N chunks
  int threads = 1;
  // Engine model (docs/sim.md): empty for the fixed timing above, else "vllm" or "sglang" — a
  // continuous-batching engine per model whose timing comes from the options below, and whose
  // /metrics carry that engine's names.
  std::string engine;
  int kv_cache_tokens = 65536;        // the KV cache: about 32 prompts of 2 000 tokens
  int block_tokens = 16;
  int max_running = 256;              // sequences in the running batch at most
  int prefill_chunk_tokens = 2048;    // new prompt tokens per engine step at most
  double prefill_tokens_per_s = 8000;
  double decode_step_ms = 6;
  double decode_ms_per_running = 0.35;
};

// A sim running on an io_context owned by the caller (used by `modelgate demo` and tests).
class Sim {
 public:
  Sim(boost::asio::io_context& io, SimOptions options);
  ~Sim();
  Sim(const Sim&) = delete;
  Sim& operator=(const Sim&) = delete;

  std::uint16_t port() const;  // the bound port
  void stop();                 // stop accepting and close connections

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// `modelgate sim`: runs until SIGINT/SIGTERM; prints "sim NAME listening on HOST:PORT" once ready.
int run(const SimOptions& options);

}  // namespace modelgate::sim
