// The budgets file: what a key spent today and this month comes back after a restart (a new
// registry and store on the same file), but not on the next day or month.
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "tenancy/budget_store.h"

namespace modelgate::tenancy {
namespace {

constexpr std::int64_t kNoon = 1'775'001'540'000 - 12 * 3'600'000;  // 2026-03-31 11:59 UTC

std::string fresh_path(const char* name) {
  const std::string path = testing::TempDir() + "/" + name;
  std::remove(path.c_str());
  return path;
}

// One life of a gateway on the budgets file: its keys' states and its store.
struct Life {
  explicit Life(const std::string& path) { EXPECT_EQ(store.open(path), ""); }
  std::shared_ptr<KeyState> key(const std::string& name) {
    std::uint32_t id = 0;
    return registry.state(name, id);
  }
  void flush(std::int64_t unix_ms) { EXPECT_EQ(store.flush(registry, unix_ms), ""); }

  KeyRegistry registry;
  BudgetStore store;
};

TEST(BudgetStore, SpendingComesBackAfterARestartOnTheSameDay) {
  const std::string path = fresh_path("budgets_same_day.sqlite");
  const Windows w = windows_at(kNoon);
  {
    Life first(path);
    auto state = first.key("team-a");
    first.flush(kNoon);
    state->tokens_day.adjust(w.day, 1234);
    state->tokens_month.adjust(w.month, 5678);
    first.flush(kNoon);
  }
  Life second(path);
  auto state = second.key("team-a");
  auto other = second.key("team-b");
  second.flush(kNoon + 60'000);
  EXPECT_EQ(state->tokens_day.used(w.day), 1234u);
  EXPECT_EQ(state->tokens_month.used(w.month), 5678u);
  EXPECT_EQ(other->tokens_day.used(w.day), 0u);
}

TEST(BudgetStore, ANewDayAndMonthStartEmpty) {
  const std::string path = fresh_path("budgets_next_day.sqlite");
  const Windows w = windows_at(kNoon);
  {
    Life first(path);
    auto state = first.key("team-a");
    state->tokens_day.adjust(w.day, 100);
    state->tokens_month.adjust(w.month, 100);
    first.flush(kNoon);
  }
  const std::int64_t later_today = kNoon + 3'600'000;
  const std::int64_t tomorrow = kNoon + 86'400'000;  // 1 April: a new month too
  for (const auto& [when, expected] : {std::pair{later_today, 100u}, std::pair{tomorrow, 0u}}) {
    Life next(path);
    auto state = next.key("team-a");
    next.flush(when);
    const Windows now = windows_at(when);
    EXPECT_EQ(state->tokens_day.used(now.day), expected);
    EXPECT_EQ(state->tokens_month.used(now.month), expected);
  }
}

TEST(BudgetStore, AnUnopenableFileSaysWhatToCheck) {
  BudgetStore store;
  const std::string why = store.open("/nonexistent/dir/budgets.sqlite");
  EXPECT_NE(why.find("check auth.budgetsFile"), std::string::npos) << why;
  EXPECT_FALSE(store.is_open());
}

}  // namespace
}  // namespace modelgate::tenancy
