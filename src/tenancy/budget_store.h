// The API keys' day and month budgets across restarts (auth.budgetsFile, docs/auth.md): one SQLite
// row per key name with the day and month it counted and what it used in each.
//
// Only the control thread touches the file: flush() runs once a second and at shutdown, reading the
// keys' atomic windows (limiter.h) and writing the rows that changed in one transaction, so no
// request ever waits for a disk. A key seen for the first time (at start, or added by a reload)
// is first given back what the file holds for its name, when the day and month are still the
// current ones. A crash thus loses at most one second of spending.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tenancy/key_table.h"

struct sqlite3;

namespace modelgate::tenancy {

class BudgetStore {
 public:
  BudgetStore() = default;
  ~BudgetStore();
  BudgetStore(const BudgetStore&) = delete;
  BudgetStore& operator=(const BudgetStore&) = delete;

  // Opens (creating it if need be) the file at `path`; "" when it worked, else what went wrong.
  // Opening the file already open does nothing; another path closes the first.
  std::string open(const std::string& path);
  bool is_open() const { return db_ != nullptr; }
  const std::string& path() const { return path_; }

  // Restores the keys not seen before and writes what changed; "" or the error.
  std::string flush(KeyRegistry& registry, std::int64_t unix_ms);

 private:
  struct Seen {
    std::uint64_t day_raw = 0, month_raw = 0;  // the windows as last written
  };
  std::string restore(const std::string& name, KeyState& state, const Windows& w);

  sqlite3* db_ = nullptr;
  std::string path_;
  std::map<std::string, Seen> seen_;
};

}  // namespace modelgate::tenancy
