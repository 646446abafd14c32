#include "balancing/feedback.h"

#include "balancing/cost_model.h"
#include "balancing/prediction_check.h"

namespace modelgate::balancing {

void record_answer(ServerState& server, const PickNote& note, std::optional<std::uint64_t> cached_tokens,
                   std::optional<std::chrono::nanoseconds> ttft) {
  if (!note.indexed) return;
  if (cached_tokens)
    PredictionCheck::record(server.llm, note.predicted_cached, *cached_tokens, server.spec.url, note.sent);
  if (ttft && note.first_in_line) learn_rate(server.llm, note.work, *ttft);
}

}  // namespace modelgate::balancing
