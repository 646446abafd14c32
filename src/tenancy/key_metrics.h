// The API keys' Prometheus families, read from their limiter states (docs/auth.md, "Metrics"):
// counters per key name, never per secret.
#pragma once

#include <string>

#include "tenancy/key_table.h"
#include "tenancy/limits_store.h"

namespace modelgate::tenancy {

// Appends the families to `out` in the text exposition format; nothing when `keys` has no key.
void render_key_metrics(const KeyTable& keys, std::int64_t unix_ms, std::string& out);
// The limits store's families (auth.store): connected, lease round trips and failures.
void render_store_metrics(const LimitsStore::Status& status, std::string& out);

}  // namespace modelgate::tenancy
