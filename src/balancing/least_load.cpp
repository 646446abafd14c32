#include "balancing/least_load.h"

#include <algorithm>

namespace modelgate::balancing {

namespace {
constexpr auto relaxed = std::memory_order_relaxed;
}

LeastLoad::LeastLoad(const ServerList& servers, const BalancerOptions& options)
    : servers_(servers), fallback_(servers), weights_(servers), max_age_ns_(options.metrics_max_age_ns) {}

std::int64_t LeastLoad::load_of(const ServerState& s, std::int64_t now_ns, std::int64_t max_age_ns,
                                bool& fresh) {
  const LlmState& m = s.llm;
  const std::int64_t inflight = std::max(0, s.inflight.load(relaxed));
  const std::int64_t at = m.scraped_at_ns.load(relaxed);
  const std::int32_t waiting = m.waiting.load(relaxed);
  const std::int32_t running = m.running.load(relaxed);
  fresh = at > 0 && now_ns - at <= max_age_ns && waiting >= 0 && running >= 0;
  if (!fresh) return inflight * 1000;
  const std::int64_t since = std::max<std::int64_t>(0, inflight - m.inflight_at_scrape.load(relaxed));
  const std::int64_t kv = std::clamp(m.kv_permille.load(relaxed), 0, 1000);
  return (2 * std::int64_t{waiting} + running + since) * (1000 + kv);
}

std::uint32_t LeastLoad::pick(const PickContext& ctx) {
  const auto& c = ctx.candidates;
  if (c.size() == 1) return c.front();
  const std::int64_t now = steady_now_ns();
  bool any_fresh = false;
  // The least load per weight; the first at or after turn_ among equals.
  const std::uint32_t start = turn_++ % static_cast<std::uint32_t>(c.size());
  std::uint32_t best = c[start];
  bool fresh = false;
  std::int64_t best_load = load_of(*servers_[best], now, max_age_ns_, fresh);
  any_fresh |= fresh;
  for (std::size_t k = 1; k < c.size(); ++k) {
    const auto i = c[(start + k) % c.size()];
    const std::int64_t load = load_of(*servers_[i], now, max_age_ns_, fresh);
    any_fresh |= fresh;
    if (load * weights_.of[best] < best_load * weights_.of[i]) {
      best = i;
      best_load = load;
    }
  }
  return any_fresh ? best : fallback_.pick(ctx);
}

}  // namespace modelgate::balancing
