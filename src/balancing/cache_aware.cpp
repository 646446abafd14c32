#include "balancing/cache_aware.h"

#include <algorithm>

#include "balancing/cost_model.h"
#include "balancing/rendezvous.h"

namespace modelgate::balancing {

namespace {
constexpr auto relaxed = std::memory_order_relaxed;
}

CacheAware::CacheAware(const ServerList& servers, const BalancerOptions& options)
    : servers_(servers),
      balance_abs_(options.balance_abs),
      balance_rel_(options.balance_rel),
      load_factor_(options.load_factor),
      new_prefix_slack_(options.new_prefix_slack),
      recent_(servers.size(), 0),
      matched_(servers.size(), 0),
      held_(servers.size(), 0),
      inflight_(servers.size(), 0),
      queued_(servers.size(), 0) {
  hash_urls();
}

void CacheAware::on_servers_changed(const MembershipChange& change) {
  servers_ = change.servers;
  matched_.assign(servers_.size(), 0);
  held_.assign(servers_.size(), 0);
  inflight_.assign(servers_.size(), 0);
  queued_.assign(servers_.size(), 0);
  recent_ = remapped(recent_, change, 0.0);
  hash_urls();
}

void CacheAware::hash_urls() {
  url_hash_.resize(servers_.size());
  for (std::size_t i = 0; i < servers_.size(); ++i) url_hash_[i] = text::hash_bytes(servers_[i]->spec.url);
}

bool CacheAware::over_share(std::uint32_t server, double mean) const {
  return recent_[server] > load_factor_ * mean && recent_[server] > mean + kShareSlack * step_;
}

bool CacheAware::under_share(std::uint32_t server, double mean) const {
  return recent_[server] * load_factor_ < mean && recent_[server] < mean - kShareSlack * step_;
}

void CacheAware::count_pick(std::uint32_t server) {
  step_ /= 1 - 1 / kShareWindow;
  recent_[server] += step_;
  if (step_ > 1e200) {
    for (auto& r : recent_) r /= step_;
    step_ = 1;
  }
}

std::uint32_t CacheAware::pick(const PickContext& ctx) {
  const auto& c = ctx.candidates;
  const PromptChain* prompt = ctx.prompt && ctx.prompt->valid ? ctx.prompt : nullptr;
  const std::uint64_t tokens = prompt ? prompt->prompt_tokens : 0;

  int least = INT32_MAX;
  bool spare = false;  // some candidate has no prefill of ours waiting
  for (auto i : c) {
    inflight_[i] = std::max(0, servers_[i]->inflight.load(relaxed));
    queued_[i] = std::max(0, servers_[i]->llm.pending_requests.load(relaxed));
    least = std::min(least, inflight_[i]);
    spare |= queued_[i] == 0;
  }
  const double hot_above = std::max(static_cast<double>(least) * balance_rel_,
                                    static_cast<double>(least) + balance_abs_);
  double mean = 0;
  for (auto i : c) mean += recent_[i];
  mean /= static_cast<double>(c.size());
  const auto guarded = [&](std::uint32_t i) {
    return spare && (static_cast<double>(inflight_[i]) > hot_above || over_share(i, mean));
  };
  bool any_hit = false;
  for (auto i : c) {
    matched_[i] = 0;
    held_[i] = 0;
    if (!prompt) continue;
    if (const PrefixIndex* index = servers_[i]->llm.index.load(std::memory_order_acquire)) {
      held_[i] = index->match(prompt->blocks);  // for the insert, credited or not
      if (guarded(i)) continue;
      matched_[i] = std::min<std::uint64_t>(held_[i] * kBlockTokens, tokens);
      any_hit |= matched_[i] > 0;
    }
  }
  // A new prefix: its home, the allowed candidate that scores highest for its first blocks among
  // those within new_prefix_slack_ requests of the least loaded allowed one (the best-scoring
  // under-used one, when some are).
  std::uint32_t home = UINT32_MAX;
  if (prompt && !any_hit && !prompt->blocks.empty()) {
    const std::uint64_t key = prompt->blocks[std::min(prompt->blocks.size(), kPlacementBlocks) - 1];
    int least_allowed = INT32_MAX;
    for (auto i : c)
      if (!guarded(i)) least_allowed = std::min(least_allowed, inflight_[i]);
    bool home_under = false;
    double home_score = 0;
    for (auto i : c) {
      if (guarded(i) || inflight_[i] - least_allowed > new_prefix_slack_) continue;
      const bool under = under_share(i, mean);
      const double score = rendezvous_score(key, url_hash_[i], servers_[i]->spec.weight);
      if (home == UINT32_MAX || (under && !home_under) || (under == home_under && score > home_score)) {
        home = i;
        home_under = under;
        home_score = score;
      }
    }
  }

  // With a hit somewhere: the cheapest; among equals the least loaded. Without: the new prefix's
  // home; failing one (no whole block), the least loaded, then the least queued work. Then the
  // fewest recent picks; among equals, the first at or after turn_.
  const std::uint32_t start = turn_++ % static_cast<std::uint32_t>(c.size());
  const bool placed = home != UINT32_MAX;
  std::uint32_t best = placed ? home : c[start];
  Cost best_cost = expected_cost(servers_[best]->llm, inflight_[best], tokens - matched_[best]);
  for (std::size_t k = 1; k < c.size() && !placed; ++k) {
    const auto i = c[(start + k) % c.size()];
    const Cost cost = expected_cost(servers_[i]->llm, inflight_[i], tokens - matched_[i]);
    const int by_load = inflight_[i] - inflight_[best];
    const bool fewer_picks = recent_[i] < recent_[best];
    const bool better = any_hit ? cost < best_cost || (cost == best_cost && (by_load < 0 || (by_load == 0 && fewer_picks)))
                                : by_load < 0 || (by_load == 0 && (cost.work < best_cost.work ||
                                                                   (cost.work == best_cost.work && fewer_picks)));
    if (better) {
      best = i;
      best_cost = cost;
    }
  }
  count_pick(best);

  LlmState& chosen = servers_[best]->llm;
  const std::uint64_t uncached = tokens - matched_[best];
  if (prompt) {
    if (PrefixIndex* index = chosen.index.load(std::memory_order_acquire)) index->insert(prompt->blocks, held_[best]);
  }
  if (ctx.note) {  // the caller gives the charge back at the first token, or when the request ends
    if (uncached > 0) {
      chosen.pending_tokens.fetch_add(static_cast<std::int64_t>(uncached), relaxed);
      chosen.pending_requests.fetch_add(1, relaxed);
    }
    ctx.note->predicted_cached = matched_[best];
    ctx.note->charged = uncached;
    ctx.note->work = static_cast<std::uint64_t>(std::max<std::int64_t>(0, best_cost.work));
    ctx.note->indexed = prompt != nullptr;
    ctx.note->sent = chosen.picks.fetch_add(1, relaxed) + 1;
    ctx.note->first_in_line = queued_[best] == 0;
  }
  return best;
}

}  // namespace modelgate::balancing
