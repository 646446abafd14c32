// The sim's engine model (src/sim: tokenizer, kv_cache, engine), stepped by hand with an injected
// clock: prefix-stable tokens, cache hits and misses, LRU eviction order, continuous batching,
// FIFO queueing when slots or KV blocks run out, aborts, and the timing formulas
// (TTFT = queue wait + uncached prefill + one step; TPOT = one decode step at the batch size).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "sim/engine.h"
#include "sim/kv_cache.h"
#include "sim/tokenizer.h"

namespace md = modelgate::sim::detail;
using namespace std::chrono_literals;
using Clock = md::Engine::Clock;
using Ms = std::chrono::duration<double, std::milli>;

namespace {

md::TokenizedPrompt tokenize(std::string_view text, int block_tokens) {
  md::TokenizedPrompt p;
  md::Tokenizer t(block_tokens, p);
  t.add(text);
  t.finish();
  return p;
}

// N tokens of text (4 ASCII bytes each) that start with `prefix_tokens` tokens of `shared`
// and continue with tokens of `tail`.
std::string text(int prefix_tokens, char shared, int tail_tokens, char tail) {
  return std::string(static_cast<std::size_t>(prefix_tokens) * 4, shared) +
         std::string(static_cast<std::size_t>(tail_tokens) * 4, tail);
}

struct Recorder : md::SequenceSink {
  std::vector<md::Progress> seen;
  void on_progress(const md::Progress& p) override { seen.push_back(p); }
  int generated() const { return seen.empty() ? 0 : seen.back().generated; }
  bool finished() const { return !seen.empty() && seen.back().finished; }
  int cached() const { return seen.empty() ? -1 : seen.back().cached_tokens; }
};

// An engine with round numbers: 1 000 prefill tokens/s (1 ms a token), steps of 10 ms + 1 ms
// per running sequence, blocks of 16 tokens.
class SimEngineModel : public ::testing::Test {
 protected:
  static md::EngineConfig config() {
    md::EngineConfig c;
    c.max_running = 8;
    c.kv_cache_tokens = 16 * 64;
    c.block_tokens = 16;
    c.prefill_chunk_tokens = 4096;
    c.prefill_tokens_per_s = 1000;
    c.decode_step_ms = 10;
    c.decode_ms_per_running = 1;
    return c;
  }

  std::shared_ptr<Recorder> submit(md::Engine& e, std::uint64_t id, const std::string& prompt, int max_tokens) {
    auto sink = std::make_shared<Recorder>();
    auto p = tokenize(prompt, e.config().block_tokens);
    e.submit({id, p.tokens, p.block_keys, max_tokens, sink}, now);
    return sink;
  }
  // One engine step from `now`; returns its duration in ms.
  double step(md::Engine& e) {
    auto d = e.begin_step(now);
    now += d;
    e.end_step(now);
    return Ms(d).count();
  }
  void run_until_idle(md::Engine& e) {
    for (int i = 0; i < 10'000 && e.has_work(); ++i) step(e);
  }

  Clock::time_point now = Clock::time_point{} + 1h;
};

}  // namespace

TEST(SimTokenizer, AboutFourBytesPerTokenWithoutSplittingCharacters) {
  EXPECT_EQ(tokenize("abcdefgh", 16).tokens, 2);
  EXPECT_EQ(tokenize("abcdefghi", 16).tokens, 3);
  EXPECT_EQ(tokenize("", 16).tokens, 0);
  // "€" is 3 bytes: a token ends at a character boundary after at least 4 bytes.
  EXPECT_EQ(tokenize("\xe2\x82\xac\xe2\x82\xac", 16).tokens, 1);
  EXPECT_EQ(tokenize("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 16).tokens, 2);
  // Pieces tokenize as if concatenated.
  md::TokenizedPrompt p;
  md::Tokenizer t(2, p);
  t.add("abcdef");
  t.add("ghijklmnopq");
  t.finish();
  auto whole = tokenize("abcdefghijklmnopq", 2);
  EXPECT_EQ(p.tokens, whole.tokens);
  EXPECT_EQ(p.block_keys, whole.block_keys);
}

TEST(SimTokenizer, SharedPrefixSharesLeadingBlockKeysOnly) {
  auto a = tokenize(text(40, 's', 24, 'a'), 16);  // 64 tokens: 4 blocks
  auto b = tokenize(text(40, 's', 24, 'b'), 16);
  ASSERT_EQ(a.block_keys.size(), 4u);
  ASSERT_EQ(b.block_keys.size(), 4u);
  EXPECT_EQ(a.block_keys[0], b.block_keys[0]);
  EXPECT_EQ(a.block_keys[1], b.block_keys[1]);
  EXPECT_NE(a.block_keys[2], b.block_keys[2]);  // block 2 holds tokens 32..47: 40 is 'a' vs 'b'
  EXPECT_NE(a.block_keys[3], b.block_keys[3]);
  // A chain: the same block contents after a different prefix get a different key.
  auto c = tokenize(text(16, 'x', 16, 's'), 16);
  auto d = tokenize(text(16, 'y', 16, 's'), 16);
  EXPECT_NE(c.block_keys[1], d.block_keys[1]);
}

TEST(SimKvCache, ReusesPublishedBlocksAndEvictsLeastRecentlyReleasedTailFirst) {
  md::KvCache cache(4);
  const std::vector<std::uint64_t> a = {1, 2}, b = {7, 8};
  std::vector<int> ta, tb, tc;
  ASSERT_TRUE(cache.allocate(a, 0, 2, ta));
  cache.publish(ta[0], a[0]);
  cache.publish(ta[1], a[1]);
  ASSERT_TRUE(cache.allocate(b, 0, 2, tb));
  cache.publish(tb[0], b[0]);
  cache.publish(tb[1], b[1]);
  EXPECT_EQ(cache.used_blocks(), 4);
  std::vector<int> none;
  EXPECT_FALSE(cache.allocate({}, 0, 1, none)) << "every block is referenced";

  cache.release(ta);  // a first: least recently released
  cache.release(tb);
  EXPECT_EQ(cache.used_blocks(), 0);
  EXPECT_EQ(cache.match(a), 2);
  EXPECT_EQ(cache.match(b), 2);

  // One fresh block evicts a's tail (released first within a), keeping a's head.
  ASSERT_TRUE(cache.allocate({}, 0, 1, tc));
  EXPECT_EQ(cache.match(a), 1);
  EXPECT_EQ(cache.match(b), 2);
  // The next goes to a's head, then b's tail.
  ASSERT_TRUE(cache.allocate({}, 0, 1, tc));
  EXPECT_EQ(cache.match(a), 0);
  EXPECT_EQ(cache.match(b), 2);
  ASSERT_TRUE(cache.allocate({}, 0, 1, tc));
  EXPECT_EQ(cache.match(b), 1);
}

TEST(SimKvCache, TakingAnIdleCachedBlockIsNotCountedAsFreeSpace) {
  md::KvCache cache(2);
  const std::vector<std::uint64_t> a = {1, 2};
  std::vector<int> t;
  ASSERT_TRUE(cache.allocate(a, 0, 2, t));
  cache.publish(t[0], a[0]);
  cache.publish(t[1], a[1]);
  cache.release(t);
  EXPECT_EQ(cache.free_blocks(), 2);
  // Reusing both cached blocks and asking for one more: 3 > 2 blocks.
  std::vector<int> u;
  EXPECT_FALSE(cache.allocate(a, 2, 3, u));
  EXPECT_EQ(cache.match(a), 2) << "a failed allocation changes nothing";
  ASSERT_TRUE(cache.allocate(a, 2, 2, u));
  EXPECT_EQ(u, t);
  EXPECT_EQ(cache.used_blocks(), 2);
}

TEST_F(SimEngineModel, TimingFormulasOnAnIdleEngine) {
  md::Engine e(config());
  auto s = submit(e, 1, text(160, 'p', 0, 0), 3);
  // First step: prefill 160 tokens (160 ms) + 10 ms + 1 running × 1 ms; samples the first token.
  EXPECT_DOUBLE_EQ(step(e), 171);
  EXPECT_EQ(s->generated(), 1);
  EXPECT_EQ(s->cached(), 0);
  // Then one token per decode step at batch size 1: TPOT = 11 ms.
  EXPECT_DOUBLE_EQ(step(e), 11);
  EXPECT_EQ(s->generated(), 2);
  EXPECT_DOUBLE_EQ(step(e), 11);
  EXPECT_EQ(s->generated(), 3);
  EXPECT_TRUE(s->finished());
  EXPECT_FALSE(e.has_work());
  EXPECT_EQ(e.cache().used_blocks(), 0);
  EXPECT_EQ(e.stats().ttft_count.load(), 1u);
  EXPECT_EQ(e.stats().ttft_sum_us.load(), 171'000u);
}

TEST_F(SimEngineModel, SamePromptAgainHitsTheCacheExceptItsLastToken) {
  md::Engine e(config());
  const std::string prompt = text(160, 'p', 0, 0);  // 10 full blocks
  auto first = submit(e, 1, prompt, 1);
  EXPECT_DOUBLE_EQ(step(e), 171);
  ASSERT_TRUE(first->finished());

  auto second = submit(e, 2, prompt, 1);
  // 9 blocks (144 tokens) cached: the block holding the last token is computed again.
  EXPECT_DOUBLE_EQ(step(e), 16 + 11);
  EXPECT_TRUE(second->finished());
  EXPECT_EQ(second->cached(), 144);
  EXPECT_EQ(e.stats().prefix_queries.load(), 320u);
  EXPECT_EQ(e.stats().prefix_hits.load(), 144u);
}

TEST_F(SimEngineModel, SharedPrefixHitsOnlyTheSharedBlocks) {
  md::Engine e(config());
  submit(e, 1, text(100, 's', 60, 'a'), 1);
  run_until_idle(e);
  auto other = submit(e, 2, text(100, 's', 60, 'b'), 1);
  // 100 shared tokens = 6 full blocks (96 tokens); the remaining 64 are prefilled.
  EXPECT_DOUBLE_EQ(step(e), 64 + 11);
  EXPECT_EQ(other->cached(), 96);
  auto miss = submit(e, 3, text(160, 'z', 0, 0), 1);
  EXPECT_DOUBLE_EQ(step(e), 160 + 11);
  EXPECT_EQ(miss->cached(), 0);
}

TEST_F(SimEngineModel, RunningSequencesDecodeTogetherAndSlowEachStep) {
  md::Engine e(config());
  auto a = submit(e, 1, text(10, 'a', 0, 0), 4);
  auto b = submit(e, 2, text(20, 'b', 0, 0), 4);
  // Both prefilled in one step: 30 tokens + 10 ms + 2 × 1 ms.
  EXPECT_DOUBLE_EQ(step(e), 30 + 12);
  EXPECT_EQ(a->generated(), 1);
  EXPECT_EQ(b->generated(), 1);
  auto c = submit(e, 3, text(8, 'c', 0, 0), 1);
  // c prefills while a and b decode: 8 tokens + 10 ms + 3 × 1 ms.
  EXPECT_DOUBLE_EQ(step(e), 8 + 13);
  EXPECT_EQ(a->generated(), 2);
  EXPECT_EQ(b->generated(), 2);
  EXPECT_TRUE(c->finished());
  // Back to two running: TPOT 12 ms.
  EXPECT_DOUBLE_EQ(step(e), 12);
  EXPECT_EQ(a->generated(), 3);
}

TEST_F(SimEngineModel, LongPromptsArePrefilledInChunks) {
  auto c = config();
  c.prefill_chunk_tokens = 64;
  md::Engine e(c);
  auto a = submit(e, 1, text(150, 'a', 0, 0), 2);
  EXPECT_DOUBLE_EQ(step(e), 64 + 11);
  EXPECT_EQ(a->generated(), 0);
  EXPECT_DOUBLE_EQ(step(e), 64 + 11);
  EXPECT_DOUBLE_EQ(step(e), 22 + 11);
  EXPECT_EQ(a->generated(), 1);  // TTFT = 150 tokens + 3 steps' overhead
  EXPECT_EQ(e.stats().ttft_sum_us.load(), 183'000u);
}

TEST_F(SimEngineModel, WaitsInFifoOrderWhenNoSlotIsFree) {
  auto c = config();
  c.max_running = 1;
  md::Engine e(c);
  auto a = submit(e, 1, text(20, 'a', 0, 0), 2);
  auto b = submit(e, 2, text(30, 'b', 0, 0), 1);
  auto d = submit(e, 3, text(5, 'd', 0, 0), 1);
  EXPECT_DOUBLE_EQ(step(e), 20 + 11);
  EXPECT_EQ(e.running(), 1);
  EXPECT_EQ(e.waiting(), 2);
  EXPECT_EQ(e.stats().waiting.load(), 2);
  EXPECT_DOUBLE_EQ(step(e), 11);
  EXPECT_TRUE(a->finished());
  EXPECT_TRUE(b->seen.empty());
  // b is admitted only now: its TTFT = 42 ms queued + 30 tokens + one step.
  EXPECT_DOUBLE_EQ(step(e), 30 + 11);
  EXPECT_TRUE(b->finished());
  EXPECT_TRUE(d->seen.empty()) << "d queued behind b";
  EXPECT_EQ(e.stats().ttft_sum_us.load(), (31 + 83) * 1000u);
  step(e);
  EXPECT_TRUE(d->finished());
}

TEST_F(SimEngineModel, WaitsWhenTheKvCacheIsFull) {
  auto c = config();
  c.kv_cache_tokens = 64;  // 4 blocks
  md::Engine e(c);
  EXPECT_FALSE(e.fits(60, 8));
  EXPECT_TRUE(e.fits(48, 16));
  auto a = submit(e, 1, text(40, 'a', 0, 0), 2);  // 42 tokens: 3 blocks
  auto b = submit(e, 2, text(20, 'b', 0, 0), 1);  // 21 tokens: 2 blocks, only 1 left
  step(e);
  EXPECT_EQ(e.running(), 1);
  EXPECT_EQ(e.waiting(), 1);
  EXPECT_EQ(e.stats().used_blocks.load(), 3);
  step(e);
  EXPECT_TRUE(a->finished());
  // a's blocks are free again (its 2 full prompt blocks stay cached until evicted).
  EXPECT_DOUBLE_EQ(step(e), 20 + 11);
  EXPECT_TRUE(b->finished());
}

TEST_F(SimEngineModel, AbortFreesTheSlotAndBlocksAtOnce) {
  auto c = config();
  c.max_running = 1;
  md::Engine e(c);
  auto a = submit(e, 1, text(20, 'a', 0, 0), 100);
  auto b = submit(e, 2, text(10, 'b', 0, 0), 1);
  step(e);
  EXPECT_EQ(e.running(), 1);
  EXPECT_GT(e.cache().used_blocks(), 0);
  e.abort(1);
  EXPECT_EQ(e.running(), 0);
  EXPECT_EQ(e.cache().used_blocks(), 0);
  EXPECT_EQ(e.stats().running.load(), 0);
  EXPECT_DOUBLE_EQ(step(e), 10 + 11);
  EXPECT_TRUE(b->finished());
  EXPECT_EQ(a->generated(), 1);
  EXPECT_FALSE(a->finished());
  // Aborting a sequence that is still waiting removes it from the queue.
  submit(e, 3, text(10, 'c', 0, 0), 1);
  e.abort(3);
  EXPECT_FALSE(e.has_work());
}

TEST_F(SimEngineModel, AbortDuringAStepDropsThatSequencesWork) {
  md::Engine e(config());
  auto a = submit(e, 1, text(20, 'a', 0, 0), 5);
  auto d = e.begin_step(now);
  e.abort(1);
  now += d;
  e.end_step(now);
  EXPECT_TRUE(a->seen.empty());
  EXPECT_FALSE(e.has_work());
}
