#include "balancing/prediction_check.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace modelgate::balancing {

namespace {
constexpr auto relaxed = std::memory_order_relaxed;
}

PredictionCheck::Verdict PredictionCheck::record(LlmState& s, std::uint64_t predicted,
                                                 std::uint64_t realised, std::string_view server,
                                                 std::uint64_t sent) {
  const std::uint64_t counted = std::min(realised, predicted);
  s.predicted_cached.fetch_add(predicted, relaxed);
  s.realised_cached.fetch_add(counted, relaxed);
  s.checked_answers.fetch_add(1, relaxed);
  PrefixIndex* index = s.index.load(std::memory_order_acquire);

  if (predicted >= kMinPredictedTokens && realised == 0) {
    // Sent before the last counted miss was answered: maybe together with its prefix's first
    // request, still in prefill then (see the header). Not evidence either way.
    if (sent != 0 && sent <= s.miss_mark.load(relaxed)) return Verdict::none;
    s.miss_mark.store(s.picks.load(relaxed), relaxed);
    if (s.zero_streak.fetch_add(1, relaxed) + 1 >= kZeroStreak) {
      s.zero_streak.store(0, relaxed);
      s.window_predicted.store(0, relaxed);
      s.window_realised.store(0, relaxed);
      s.window_answers.store(0, relaxed);
      drop_index(s);
      spdlog::warn("{}: {} answers in a row found nothing cached where the prefix index predicted "
                   "hits; the server probably restarted or lost its cache: its index is dropped",
                   server, kZeroStreak);
      return Verdict::reset;
    }
  } else if (realised > 0) {
    s.zero_streak.store(0, relaxed);
  }

  if (predicted == 0) return Verdict::none;
  s.window_predicted.fetch_add(predicted, relaxed);
  s.window_realised.fetch_add(counted, relaxed);
  if (s.window_answers.fetch_add(1, relaxed) + 1 != kWindowAnswers) return Verdict::none;
  // This worker closes the window.
  const auto p = s.window_predicted.exchange(0, relaxed);
  const auto r = s.window_realised.exchange(0, relaxed);
  s.window_answers.store(0, relaxed);
  if (p == 0 || !index) return Verdict::none;
  if (r * 2 < p) {
    index->shrink(static_cast<double>(r) / static_cast<double>(p));
    s.index_shrinks.fetch_add(1, relaxed);
    spdlog::warn("{}: the server reported {} of the {} cached prompt tokens the prefix index "
                 "predicted over its last {} answers ({}%); its modelled cache shrinks to {} blocks",
                 server, r, p, kWindowAnswers, r * 100 / p, index->window_blocks());
    return Verdict::shrunk;
  }
  if (r * 10 >= p * 9 && index->window_blocks() < index->capacity_blocks()) {
    index->grow();
    return Verdict::grown;
  }
  return Verdict::none;
}

void drop_index(LlmState& s) {
  if (PrefixIndex* index = s.index.load(std::memory_order_acquire)) index->reset();
  s.index_resets.fetch_add(1, relaxed);
}

}  // namespace modelgate::balancing
