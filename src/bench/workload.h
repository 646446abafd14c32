// The scheduling workloads of `modelgate bench`: deterministic scripts of chat requests whose
// prompts share (or do not share) leading text the way the benchmarks of LLM routers do.
//
// - shared-prefix: G groups x P prompts; every prompt of a group starts with the group's system
//   prompt of S tokens and asks its own question of Q tokens (SGLang bench_serving's
//   "generated-shared-prefix": 64 x 16, 2048 / 128 / 256 output). Requests in shuffled order.
// - hot-prefix: the same G*P requests, but each one's group is drawn from a Zipf law, so a few
//   groups carry most of the traffic and pinning a group to one server overloads it.
// - multi-turn: C conversations x T turns; each conversation opens with its own context of S
//   tokens, each turn resends the whole history (the answers as received) plus a new question.
// - uniform: G*P requests of S + Q tokens that share nothing (the control case).
//
// Text is made of 4-byte "words" (three letters and a space) drawn from a seeded generator: the
// simulated engine's tokenizer counts about 4 bytes of UTF-8 per token, so S tokens are 4*S bytes,
// and the same seed gives the same bytes on every run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelgate::bench {

enum class WorkloadKind { shared_prefix, multi_turn, hot_prefix, uniform };

std::optional<WorkloadKind> parse_workload(std::string_view name);
std::string_view workload_name(WorkloadKind kind);

struct WorkloadOptions {
  WorkloadKind kind = WorkloadKind::shared_prefix;
  int groups = 16;            // shared-prefix, hot-prefix, uniform: groups * prompts requests
  int prompts = 8;
  int system_tokens = 1024;   // the shared prefix (multi-turn: each conversation's opening context)
  int question_tokens = 64;
  int output_tokens = 64;     // max_tokens of every request
  int conversations = 16;     // multi-turn
  int turns = 4;
  int think_ms = 500;         // multi-turn: mean pause between an answer and the next question
  double zipf = 1.1;          // hot-prefix: popularity of the k-th group ~ 1 / k^zipf
  std::uint64_t seed = 1;
};

// One unit of the schedule: a single request, or a whole conversation whose turns are sent one
// after the other. `session` names the group or conversation; it goes in the session header.
struct Script {
  std::string session;
  std::string system;                  // the first message (role system)
  std::vector<std::string> questions;  // one per turn
};

// The scripts in the order they are started.
std::vector<Script> make_workload(const WorkloadOptions& options);

// `tokens` words of deterministic text for stream `stream` of `seed` (exposed for tests).
std::string make_text(std::uint64_t seed, std::uint64_t stream, int tokens);

// The number of requests the scripts hold.
std::size_t request_count(const std::vector<Script>& scripts);

}  // namespace modelgate::bench
