#include "tenancy/key_table.h"

#include <algorithm>

#include "tenancy/limits_store.h"
#include "text/glob.h"

namespace modelgate::tenancy {

bool Key::allows(const std::string& model) const {
  if (models.empty()) return true;
  return std::any_of(models.begin(), models.end(), [&](const std::string& g) { return text::glob_match(g, model); });
}

KeyTable::KeyTable(std::vector<Key> keys, std::vector<std::pair<text::Sha256, std::uint32_t>> index,
                   std::shared_ptr<LimitsStore> store)
    : keys_(std::move(keys)), store_(std::move(store)), index_(std::move(index)) {
  std::sort(index_.begin(), index_.end());
}

const Key* KeyTable::find(const text::Sha256& digest) const {
  auto it = std::lower_bound(index_.begin(), index_.end(), digest,
                             [](const auto& entry, const text::Sha256& d) { return entry.first < d; });
  if (it == index_.end() || !text::same_digest(it->first, digest)) return nullptr;
  return &keys_[it->second];
}

// RFC 6750 §2.1: "Bearer" (any case) and one or more spaces, then the token.
const Key* KeyTable::authenticate(std::string_view value, Credential& why) const {
  constexpr std::string_view kScheme = "bearer";
  if (value.empty()) {
    why = Credential::missing;
    return nullptr;
  }
  const bool bearer = value.size() > kScheme.size() && value[kScheme.size()] == ' ' &&
                      std::equal(kScheme.begin(), kScheme.end(), value.begin(),
                                 [](char a, char b) { return a == (b | 0x20); });
  if (!bearer) {
    why = Credential::malformed;
    return nullptr;
  }
  std::string_view token = value.substr(kScheme.size());
  token.remove_prefix(std::min(token.find_first_not_of(' '), token.size()));
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  if (token.empty() || token.find_first_of(" \t") != std::string_view::npos) {
    why = Credential::malformed;
    return nullptr;
  }
  if (token.size() > config::kMaxKeyBytes) {
    why = Credential::too_long;
    return nullptr;
  }
  const Key* key = find(text::sha256(token));
  why = key ? Credential::ok : Credential::unknown;
  return key;
}

std::shared_ptr<KeyState> KeyRegistry::state(const std::string& name, std::uint32_t& id) {
  std::lock_guard lock(mutex_);
  Entry& e = states_[name];
  auto s = e.state.lock();
  if (!s) {
    s = std::make_shared<KeyState>();
    e.state = s;
    if (e.id == 0) e.id = next_id_++;
  }
  id = e.id;
  return s;
}

std::vector<std::pair<std::string, std::shared_ptr<KeyState>>> KeyRegistry::live() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, std::shared_ptr<KeyState>>> out;
  for (const auto& [name, e] : states_) {
    if (auto s = e.state.lock()) out.emplace_back(name, std::move(s));
  }
  return out;
}

void KeyRegistry::collect() {
  std::vector<std::shared_ptr<LimitsStore>> stopping;
  {
    std::lock_guard lock(mutex_);
    std::erase_if(states_, [](const auto& entry) { return entry.second.state.expired(); });
    std::erase_if(retired_stores_, [&](auto& s) {
      if (s.use_count() > 1) return false;
      stopping.push_back(std::move(s));
      return true;
    });
  }
  // `stopping` joins their threads here, outside the lock.
}

std::shared_ptr<LimitsStore> KeyRegistry::store(const std::optional<config::LimitsStore>& spec) {
  std::lock_guard lock(mutex_);
  if (store_ && spec && store_->spec() == *spec) return store_;
  if (store_) retired_stores_.push_back(std::move(store_));
  store_ = spec ? std::make_shared<LimitsStore>(*spec) : nullptr;
  return store_;
}

std::shared_ptr<LimitsStore> KeyRegistry::current_store() {
  std::lock_guard lock(mutex_);
  return store_;
}

std::shared_ptr<const KeyTable> build_key_table(const config::Auth& auth, KeyRegistry& registry) {
  if (!auth.enabled) {
    registry.store(std::nullopt);
    return nullptr;
  }
  std::vector<Key> keys;
  std::vector<std::pair<text::Sha256, std::uint32_t>> index;
  keys.reserve(auth.keys.size());
  auto store = registry.store(auth.store);
  std::map<std::string, LimitsStore::Tracked> tracked;
  for (const auto& k : auth.keys) {
    Key key{k.name, 0, k.priority, k.models, k.limits, nullptr, store.get()};
    key.state = registry.state(k.name, key.id);
    if (store) tracked.emplace(k.name, LimitsStore::Tracked{key.state, k.limits});
    index.emplace_back(k.digest, static_cast<std::uint32_t>(keys.size()));
    keys.push_back(std::move(key));
  }
  if (store) store->track(std::move(tracked));
  return std::make_shared<const KeyTable>(std::move(keys), std::move(index), std::move(store));
}

}  // namespace modelgate::tenancy
