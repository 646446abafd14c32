// Model discovery: every server of a service with `discoverModels` is asked which models it
// serves (`GET <basePath><path>`, by default the OpenAI-compatible /v1/models) every `interval`,
// the first time at once. The answer is stored in ServerState::Info (models, models_known) and
// `on_change` is called when a server's set of models changed, so routing can follow models being
// loaded and unloaded at runtime.
//
// A failed poll (no answer, a non-2xx status, a body that is not a model list) keeps the last
// known list: a server that is briefly unreachable should not lose its models, and whether it is
// down is the health check's call. The failure is logged at debug level and recorded as the
// server's last_error. When discovery is turned off for a service, its servers' lists are
// forgotten (models_known = false) and `on_change` is called.
//
// Threading and lifetime are those of HealthChecker: the pollers are coroutines on the
// control-plane io_context, each owning only its own Poller record; update() and stop() may be
// called from any thread and take effect when the posted work runs. `on_change` is called on the
// control-plane thread, holding no lock, and may call update().
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "runtime/snapshot.h"

namespace modelgate::discovery {

// The model ids in a model-list response, in the server's order without duplicates; nullopt when
// the body is not a model list. Understood shapes:
//   {"object":"list","data":[{"id":"m"},...]}   OpenAI: vLLM, SGLang, TGI, Xinference, llama.cpp,
//                                                Ollama /v1/models, LM Studio, the sim
//   {"models":[{"name":"m","model":"m"},...]}   Ollama /api/tags, llama.cpp (which sends both)
//   [{"id":"m"},...]                            a bare array
//   {"model_id":"m"}                            TGI /info
// An entry's id is its "id", else "name", else "model"; an entry that is a string is the id itself.
// Entries without one are skipped, but a non-empty list in which no entry has one is not a list.
std::optional<std::vector<std::string>> parse_model_list(std::string_view json);

class ModelDiscovery {
 public:
  // `io` must outlive this object and run for the pollers to run.
  ModelDiscovery(boost::asio::io_context& io, std::function<void()> on_change);
  ~ModelDiscovery();  // stop()
  ModelDiscovery(const ModelDiscovery&) = delete;
  ModelDiscovery& operator=(const ModelDiscovery&) = delete;

  // Reconciles the pollers with a (new) snapshot, as HealthChecker::update does: a ServerState
  // already polled keeps its poller, with the new settings (a changed setting polls at once).
  void update(std::shared_ptr<const runtime::Snapshot> snapshot);
  // Stops every poller; the lists stay as they are. Later update() calls are ignored.
  void stop();

  // True when every server of the last update() has had its first poll answered or failed (each
  // poll times out, see kPollTimeout*), and on_change has been called for what it found. False
  // from update() until then.
  bool initial_round_done() const;
  // Blocks until initial_round_done() or `timeout`; returns initial_round_done(). For startup:
  // never call it on the control-plane thread (the polls could not run).
  bool wait_initial_round(std::chrono::milliseconds timeout) const;

  // A poll times out after its interval, but never sooner than the minimum or later than the
  // maximum.
  static constexpr std::chrono::milliseconds kPollTimeoutMin{1000};
  static constexpr std::chrono::milliseconds kPollTimeoutMax{5000};

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace modelgate::discovery
