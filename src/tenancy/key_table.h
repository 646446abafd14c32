// The API keys of one snapshot, compiled for the request path (docs/auth.md).
//
// A presented key is hashed (SHA-256) and its digest looked up in a sorted array; the digest found
// is compared again with CRYPTO_memcmp. Comparing digests instead of secrets means the time a
// lookup takes tells nothing about the secrets: it depends only on digests, which an attacker can
// compute for their own guesses but cannot steer toward a real key's.
//
// Each key's limiter state (limiter.h) lives in a KeyRegistry, by key name, like the servers'
// state in runtime's ServerRegistry: a reload that keeps a key keeps what it has used, a key
// revoked and added again starts over only once nothing holds its old state. The registry also
// keeps the limits store (limits_store.h) across reloads that leave auth.store unchanged.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "tenancy/caller.h"
#include "tenancy/limiter.h"
#include "text/sha256.h"

namespace modelgate::tenancy {

class LimitsStore;

struct Key {
  std::string name;
  std::uint32_t id = 0;
  config::Priority priority = config::Priority::normal;
  std::vector<std::string> models;  // globs; empty: every model
  config::KeyLimits limits;
  std::shared_ptr<KeyState> state;
  StoreLink* store = nullptr;  // the limits store (auth.store), held by the table; null: none

  bool allows(const std::string& model) const;
  Caller caller() const { return Caller{this, name, priority, id}; }
};

// Why a presented Authorization header is not a key (empty: it is one).
enum class Credential : std::uint8_t { ok, missing, malformed, too_long, unknown };

class KeyTable {
 public:
  KeyTable(std::vector<Key> keys, std::vector<std::pair<text::Sha256, std::uint32_t>> index,
           std::shared_ptr<LimitsStore> store = nullptr);

  const Key* find(const text::Sha256& digest) const;
  // The key an `Authorization` header value names ("Bearer <key>"), or why there is none.
  const Key* authenticate(std::string_view authorization, Credential& why) const;
  std::span<const Key> keys() const { return keys_; }
  const LimitsStore* store() const { return store_.get(); }

 private:
  std::vector<Key> keys_;
  std::shared_ptr<LimitsStore> store_;
  std::vector<std::pair<text::Sha256, std::uint32_t>> index_;  // sorted by digest
};

class KeyRegistry {
 public:
  // The state of the key named `name` (made on first use) and its id.
  std::shared_ptr<KeyState> state(const std::string& name, std::uint32_t& id);
  // Each live key's name and state (budget_store.h keeps their budgets).
  std::vector<std::pair<std::string, std::shared_ptr<KeyState>>> live();
  void collect();  // forgets states no snapshot holds any more (and stores no table holds)
  // The limits store `spec` names: the one running when it is the same, else a new one (the
  // previous one stops once no table holds it, in collect(), not on a worker). Null for none.
  std::shared_ptr<LimitsStore> store(const std::optional<config::LimitsStore>& spec);
  std::shared_ptr<LimitsStore> current_store();

 private:
  std::shared_ptr<LimitsStore> store_;
  std::vector<std::shared_ptr<LimitsStore>> retired_stores_;
  struct Entry {
    std::weak_ptr<KeyState> state;
    std::uint32_t id = 0;
  };
  std::mutex mutex_;
  std::map<std::string, Entry> states_;
  std::uint32_t next_id_ = 1;
};

// Null when `auth` is off.
std::shared_ptr<const KeyTable> build_key_table(const config::Auth& auth, KeyRegistry& registry);

}  // namespace modelgate::tenancy
