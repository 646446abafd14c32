// One model catalogue for every server behind the gateway: which model is served where, the
// gateway's own GET /v1/models, and the choice of a fallback model when none of the requested
// one is up.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/snapshot.h"

namespace modelgate::runtime {

using ServerSet = std::vector<const balancing::ServerState*>;

// The servers that list `model` (discovery), or nullptr when none does.
const ServerSet* servers_for(const Snapshot& snapshot, std::string_view model);
// How many of them can take a request now (healthy, not ejected, not draining).
std::size_t available(const ServerSet& servers);

// The OpenAI-shaped list: discovered models, each once with its number of available servers,
// and the aliases of the `models:` section.
std::string render_model_list(const Snapshot& snapshot);

// "a, b, c" of every model a client may name (for 404 messages).
std::string model_names(const Snapshot& snapshot, const std::vector<std::string>& more);

}  // namespace modelgate::runtime
