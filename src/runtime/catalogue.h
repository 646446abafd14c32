// One model catalogue for every server behind the gateway: which model is served where, the
// gateway's own GET /v1/models and GET /v1/models/{id}, and the names listed in 404 messages.
//
// What an entry point lists (docs/routing.md, "The gateway's model list"): every model a client
// of it can name and have routed, each once —
//   - the names of its routers' Model(...) matchers (not under `!`);
//   - the models discovered on servers (discoverModels) that one of its routers can send there:
//     a router whose rule may match that model (a ModelRegexp that matches it, or no model
//     matcher at all) and whose service has a server that lists it; a ModelRegexp router to a
//     service without discovery takes the discovered models its regexp matches;
//   - the aliases of the `models:` section, with the services and servers of their target.
// Each entry names the services and servers that hold it and whether any of them is available
// now. The list is built per request from the snapshot (a few microseconds for hundreds of models):
// /v1/models is asked once per client session, and the health it reports must be live.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/snapshot.h"

namespace modelgate::runtime {

using ServerSet = std::vector<const balancing::ServerState*>;

// The servers that list `model` (discovery), or nullptr when none does.
const ServerSet* servers_for(const Snapshot& snapshot, std::string_view model);
// How many of them can take a request now (healthy, not ejected, not draining).
std::size_t available(const ServerSet& servers, std::int64_t now_ns = balancing::steady_now_ns());

struct CatalogueEntry {
  std::string id;
  std::string alias_of;               // the target, for an alias; empty otherwise
  std::vector<std::string> services;  // in router order, each once
  ServerSet servers;                  // each ServerState once
};

// The models entry point `ep` serves, sorted by id.
std::vector<CatalogueEntry> build_catalogue(const Snapshot& snapshot, const EntryPointRuntime& ep);

// Whether the gateway answers GET /v1/models and /v1/models/{id} itself on `ep`: some router
// routes by model (a Model/ModelRegexp matcher, or a service that discovers its models), or the
// `models:` section has aliases — and no router names those paths with Path/PathPrefix.
bool answers_model_list(const Snapshot& snapshot, const EntryPointRuntime& ep);

// The OpenAI list object, and one model object.
std::string render_model_list(const std::vector<CatalogueEntry>& entries, std::int64_t now_ns);
std::string render_model(const CatalogueEntry& entry, std::int64_t now_ns);

// The gateway's answer to GET `path` on `ep`: nullopt when it is not the gateway's to answer (not
// /v1/models or /v1/models/{id}, or answers_model_list is false); otherwise status 200 with the
// JSON body, or 404 with the message of a model_not_found error.
struct ModelListAnswer {
  int status = 200;
  std::string body;  // 200: JSON; 404: the error message
};
// With `key`, only the models the API key may use are listed (and the others are not found).
std::optional<ModelListAnswer> answer_model_request(const Snapshot& snapshot, const EntryPointRuntime& ep,
                                                    std::string_view path,
                                                    std::int64_t now_ns = balancing::steady_now_ns(),
                                                    const tenancy::Key* key = nullptr);

// "a, b, c" of every model a client may name (for 404 messages).
std::string model_names(const Snapshot& snapshot, const std::vector<std::string>& more);

}  // namespace modelgate::runtime
