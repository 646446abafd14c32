// The fair queue's tags without a queue: start-time fair queuing by tokens within a class, the
// virtual time an idle tenant comes back at, the cost a request that leaves unserved gives back.
#include "proxy/fair_share.h"

#include <gtest/gtest.h>

namespace modelgate::proxy {
namespace {

const int kService = 0, kOther = 0;
const void* const line = &kService;

Ticket of(std::uint32_t tenant, std::uint64_t cost, Priority p = Priority::normal) { return {p, tenant, cost}; }

TEST(FairShare, ATenantsTagsAdvanceByItsOwnTokens) {
  FairShare fs;
  EXPECT_EQ(fs.join(line, of(1, 1000)), 0u);
  EXPECT_EQ(fs.join(line, of(1, 1000)), 1000u);
  EXPECT_EQ(fs.join(line, of(1, 1000)), 2000u);
  EXPECT_EQ(fs.join(line, of(2, 10)), 0u) << "a light tenant starts at the line's virtual time";
  EXPECT_EQ(fs.join(line, of(2, 10)), 10u);
  EXPECT_EQ(fs.finish_tag(line, of(1, 0)), 3000u);
  EXPECT_EQ(fs.join(line, of(3, 0)), 0u);
  EXPECT_EQ(fs.finish_tag(line, of(3, 0)), 1u) << "a request costs at least 1";
}

TEST(FairShare, AnIdleTenantComesBackAtTheVirtualTimeWithoutBankedCredit) {
  FairShare fs;
  const auto a0 = fs.join(line, of(1, 100));  // keeps the line open throughout
  const auto b0 = fs.join(line, of(2, 100));
  fs.serve(line, Priority::normal, b0);
  fs.leave(line, of(2, 100), b0, true);
  std::uint64_t tag = 0;
  for (int i = 0; i < 50; ++i) {  // tenant 1 alone for a while: V follows its tags
    tag = fs.join(line, of(1, 100));
    fs.serve(line, Priority::normal, tag);
    fs.leave(line, of(1, 100), tag, true);
  }
  EXPECT_EQ(fs.virtual_time(line, Priority::normal), tag);
  EXPECT_EQ(fs.join(line, of(2, 100)), tag) << "tenant 2 was idle: it starts at V, not at its old 100";
  (void)a0;
}

TEST(FairShare, ALeaverUnservedGivesItsCostBackWhenItWasTheLatest) {
  FairShare fs;
  const auto keep = fs.join(line, of(9, 1));
  const auto t0 = fs.join(line, of(1, 500));
  const auto t1 = fs.join(line, of(1, 500));
  fs.leave(line, of(1, 500), t1, false);
  EXPECT_EQ(fs.finish_tag(line, of(1, 0)), t1) << "the latest left: its tokens are not charged";
  const auto t2 = fs.join(line, of(1, 500));
  EXPECT_EQ(t2, t1);
  fs.leave(line, of(1, 500), t0, false);
  EXPECT_EQ(fs.finish_tag(line, of(1, 0)), t2 + 500) << "an earlier one leaving leaves a gap, no more";
  (void)keep;
}

TEST(FairShare, LinesAndClassesKeepTheirOwnClocksAndAreForgottenWhenEmpty) {
  FairShare fs;
  const auto a = fs.join(line, of(1, 100));
  EXPECT_EQ(fs.join(&kOther, of(1, 100)), 0u) << "another service's line";
  EXPECT_EQ(fs.join(line, of(1, 100, Priority::batch)), 0u) << "another class";
  fs.serve(line, Priority::normal, 100);
  EXPECT_EQ(fs.virtual_time(line, Priority::batch), 0u);
  EXPECT_EQ(fs.members(line), 2u) << "every class";
  fs.leave(line, of(1, 100), a, true);
  EXPECT_EQ(fs.members(line), 1u);
  EXPECT_EQ(fs.virtual_time(line, Priority::normal), 0u) << "the line emptied: forgotten";
  EXPECT_EQ(fs.entries(), 4u) << "two clocks and two tenants left";
}

}  // namespace
}  // namespace modelgate::proxy
