// Every cache prediction checked against what the server reports.
//
// cache_aware predicts, at pick time, how many of the prompt's tokens the chosen server has
// cached. vLLM and SGLang report the truth in `usage.prompt_tokens_details.cached_tokens`. Each
// answer that carries it is compared with the prediction:
// - totals per server (metrics: modelgate_server_cache_predicted_tokens_total and
//   _realised_tokens_total), so a dashboard shows the model's accuracy server by server;
// - a window of kWindowAnswers answers: when the server delivered less than half of the tokens
//   predicted, its modelled cache shrinks to that fraction of itself, at least halved and at most
//   to an eighth (PrefixIndex::shrink: the real cache is smaller or busier than modelled) and a
//   warning is logged; when it delivered at least 90 %, the model grows back;
// - kZeroStreak answers in a row predicted to hit at least kMinPredictedTokens that found nothing
//   cached mean the server lost its cache (a restart, a different tokenizer or template): its index
//   is dropped (PrefixIndex::reset), and a warning is logged.
// A miss counts only when its request was sent after the previous counted miss was answered.
// Requests sent together with a new prefix are predicted to hit (the index records a prefix when
// it is sent), yet the engine caches it only once its prefill is done, so a burst of them finds
// nothing cached on a healthy server; counted, they dropped the index of every server a burst
// reached, and its prefixes were then spread over the fleet. Such misses are left out of the
// streak and of the window; the totals count them. After a real loss every later request misses
// too, so the streak still fills, one answer per round trip.
// Realised tokens are counted only up to the prediction: a server caching more than the model
// knew (another router, a warm-up) is not an error of the model.
//
// Runs once per answer, off the pick path; the window is closed by whichever worker completes it
// (an atomic exchange), so no lock.
#pragma once

#include <cstdint>
#include <string_view>

#include "balancing/llm_state.h"

namespace modelgate::balancing {

struct PredictionCheck {
  static constexpr std::uint32_t kWindowAnswers = 32;
  static constexpr std::uint32_t kZeroStreak = 3;
  static constexpr std::uint64_t kMinPredictedTokens = 64;

  enum class Verdict { none, shrunk, grown, reset };
  // Records one answer; `server` names it in log lines; `sent` is the request's PickNote::sent
  // (0: not known, the answer counts as sent after every other).
  static Verdict record(LlmState& s, std::uint64_t predicted, std::uint64_t realised,
                        std::string_view server, std::uint64_t sent = 0);
};

// The server's cache is gone (it restarted, lost it, or stopped serving a model): every block its
// index says it holds is forgotten, and counted (modelgate_server_cache_index_resets_total). The
// index is one table for all of the server's models, so it is dropped whole.
void drop_index(LlmState& s);

}  // namespace modelgate::balancing
