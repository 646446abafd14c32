// API keys on the control thread: the keys' budgets written to auth.budgetsFile, and the keys
// added and revoked through the admin API (docs/auth.md, "Admin API"). The latter are laid
// over every configuration the control plane applies, so a reload of the file or of the keys
// file does not undo them; they last until the gateway restarts (the answer to an added key gives
// its sha256, to put into the keys file for good). A key of the file with the same name as an
// added one takes its place.
#include <openssl/rand.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "control/control_plane.h"
#include "text/sha256.h"

namespace modelgate::control {

namespace {

constexpr std::string_view kAdminApi = "admin API";  // ApiKey::file of the keys added here

// "sk-mg-" and 48 hex digits: 192 random bits from OpenSSL's CSPRNG.
std::optional<std::string> new_secret() {
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return std::nullopt;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sk-mg-";
  for (const unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

bool has_key(const config::Config& cfg, std::string_view name) {
  return std::any_of(cfg.auth.keys.begin(), cfg.auth.keys.end(), [&](const auto& k) { return k.name == name; });
}

}  // namespace

void ControlPlane::merge_admin_keys(config::Config& cfg) {
  if (!cfg.auth.enabled) return;
  std::erase_if(cfg.auth.keys, [&](const config::ApiKey& k) {
    return std::find(revoked_keys_.begin(), revoked_keys_.end(), k.name) != revoked_keys_.end();
  });
  std::erase_if(admin_keys_, [&](const config::ApiKey& k) {
    const bool replaced = std::any_of(cfg.auth.keys.begin(), cfg.auth.keys.end(),
                                      [&](const auto& c) { return c.name == k.name && c.file != kAdminApi; });
    if (replaced) spdlog::warn("auth: key \"{}\" of the configuration replaces the one added by the admin API", k.name);
    return replaced;
  });
  for (const auto& k : admin_keys_) {
    if (!has_key(cfg, k.name)) cfg.auth.keys.push_back(k);
  }
}

void ControlPlane::flush_budgets() {
  const auto& auth = gateway_.current()->config.auth;
  if (!auth.enabled || auth.store) return;  // with a store, the budgets live in it
  std::string problem = budgets_.open(auth.budgetsFile);
  if (problem.empty()) problem = budgets_.flush(gateway_.registry().keys(), tenancy::Limiter::system_unix_ms());
  if (problem != budgets_error_) {
    if (!problem.empty()) spdlog::error("auth: {}; budgets are counted but not kept across a restart", problem);
    else spdlog::info("auth: budgets kept in {}", budgets_.path());
    budgets_error_ = problem;
  }
}

awaitable<void> ControlPlane::flush_budgets_periodically() {
  asio::steady_timer timer(io_);
  for (;;) {
    timer.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await timer.async_wait(net::nothrow);
    if (ec) co_return;
    flush_budgets();
  }
}

admin::AddedKey ControlPlane::add_key(const admin::KeyRequest& request) {
  return on_control_thread([&]() -> admin::AddedKey {
    auto cfg = gateway_.current()->config;
    if (!cfg.auth.enabled) {
      return {{false, 409, "the configuration has no `auth` section, so keys are not checked; add one first"}, {}, {}};
    }
    if (has_key(cfg, request.name)) {
      return {{false, 409, fmt::format("a key named \"{}\" exists already; revoke it first or pick another name",
                                       request.name)},
              {},
              {}};
    }
    auto secret = new_secret();
    if (!secret) return {{false, 500, "the system's random generator failed; try again"}, {}, {}};
    config::ApiKey key;
    key.name = request.name;
    key.digest = text::sha256(*secret);
    key.models = request.models;
    key.priority = request.priority;
    key.limits = request.limits;
    key.file = std::string(kAdminApi);
    admin_keys_.push_back(key);
    std::vector<std::string> errors;
    if (!apply(std::move(cfg), "admin API: add key", &errors)) {
      admin_keys_.pop_back();
      return {{false, 400, fmt::format("{}", fmt::join(errors, "; "))}, {}, {}};
    }
    return {{true, 201,
             fmt::format("key \"{}\" added; its secret is shown only in this answer. It lasts until the gateway "
                         "restarts: put {{name: {}, sha256: {}}} into the keys file to keep it",
                         request.name, request.name, text::sha256_hex(key.digest))},
            std::move(*secret),
            text::sha256_hex(key.digest)};
  });
}

admin::MutationResult ControlPlane::revoke_key(std::string_view name) {
  return on_control_thread([&]() -> admin::MutationResult {
    auto cfg = gateway_.current()->config;
    if (!has_key(cfg, name)) return {false, 404, fmt::format("no key named \"{}\"", name)};
    std::erase_if(admin_keys_, [&](const config::ApiKey& k) { return k.name == name; });
    revoked_keys_.emplace_back(name);
    std::vector<std::string> errors;
    if (!apply(std::move(cfg), "admin API: revoke key", &errors))
      return {false, 400, fmt::format("{}", fmt::join(errors, "; "))};
    return {true, 200,
            fmt::format("key \"{}\" revoked; requests already admitted finish. It stays revoked until the gateway "
                        "restarts: remove it from the configuration too",
                        name)};
  });
}

}  // namespace modelgate::control
