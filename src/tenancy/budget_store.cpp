#include "tenancy/budget_store.h"

#include <sqlite3.h>

#include <memory>

#include <fmt/format.h>

namespace modelgate::tenancy {

namespace {

struct Finalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Statement = std::unique_ptr<sqlite3_stmt, Finalize>;

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS budgets (name TEXT PRIMARY KEY, day INTEGER NOT NULL, day_used INTEGER NOT "
    "NULL, month INTEGER NOT NULL, month_used INTEGER NOT NULL)";

}  // namespace

BudgetStore::~BudgetStore() {
  if (db_) sqlite3_close(db_);
}

std::string BudgetStore::open(const std::string& path) {
  if (db_ && path == path_) return {};
  if (db_) sqlite3_close(db_);
  db_ = nullptr;
  seen_.clear();
  path_ = path;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return fmt::format("cannot open the budgets file {}: {}; check auth.budgetsFile and the folder's permissions",
                       path, why);
  }
  sqlite3_busy_timeout(db, 200);
  char* error = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string why = error ? error : "unknown error";
    sqlite3_free(error);
    sqlite3_close(db);
    return fmt::format("cannot use the budgets file {}: {}; is it a modelgate budgets file?", path, why);
  }
  db_ = db;
  return {};
}

std::string BudgetStore::restore(const std::string& name, KeyState& state, const Windows& w) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT day, day_used, month, month_used FROM budgets WHERE name = ?", -1, &raw,
                         nullptr) != SQLITE_OK)
    return sqlite3_errmsg(db_);
  Statement select(raw);
  sqlite3_bind_text(raw, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(raw) != SQLITE_ROW) return {};
  const auto day = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 0));
  const auto day_used = sqlite3_column_int64(raw, 1);
  const auto month = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 2));
  const auto month_used = sqlite3_column_int64(raw, 3);
  if (day == w.day) state.tokens_day.adjust(w.day, day_used);
  if (month == w.month) state.tokens_month.adjust(w.month, month_used);
  return {};
}

std::string BudgetStore::flush(KeyRegistry& registry, std::int64_t unix_ms) {
  if (!db_) return {};
  const Windows w = windows_at(unix_ms);
  const auto live = registry.live();
  std::string problem;
  for (const auto& [name, state] : live) {
    if (seen_.contains(name)) continue;
    if (auto why = restore(name, *state, w); !why.empty() && problem.empty()) problem = why;
    seen_[name] = Seen{~std::uint64_t{0}, ~std::uint64_t{0}};  // written below
  }
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO budgets (name, day, day_used, month, month_used) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET day = excluded.day, day_used = excluded.day_used, "
                         "month = excluded.month, month_used = excluded.month_used",
                         -1, &raw, nullptr) != SQLITE_OK)
    return sqlite3_errmsg(db_);
  Statement upsert(raw);
  bool began = false;
  for (const auto& [name, state] : live) {
    Seen& seen = seen_[name];
    const std::uint64_t day_raw = state->tokens_day.raw(), month_raw = state->tokens_month.raw();
    if (day_raw == seen.day_raw && month_raw == seen.month_raw) continue;
    if (!began) {
      sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr);
      began = true;
    }
    sqlite3_reset(raw);
    sqlite3_bind_text(raw, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(raw, 2, static_cast<sqlite3_int64>(w.day));
    sqlite3_bind_int64(raw, 3, static_cast<sqlite3_int64>(state->tokens_day.used(w.day)));
    sqlite3_bind_int64(raw, 4, static_cast<sqlite3_int64>(w.month));
    sqlite3_bind_int64(raw, 5, static_cast<sqlite3_int64>(state->tokens_month.used(w.month)));
    if (sqlite3_step(raw) != SQLITE_DONE) {
      if (problem.empty()) problem = sqlite3_errmsg(db_);
      continue;
    }
    seen = Seen{day_raw, month_raw};
  }
  if (began && sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK && problem.empty())
    problem = sqlite3_errmsg(db_);
  return problem.empty() ? problem : fmt::format("budgets file {}: {}", path_, problem);
}

}  // namespace modelgate::tenancy
