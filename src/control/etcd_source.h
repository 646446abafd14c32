// The etcd provider at run time: reads every key under providers.etcd.rootKey, hands the set to
// the control plane to apply (validated with the file, like a reload), and watches the prefix for
// changes, on the control thread.
//
// The cycle: range the prefix (the whole state and its revision), apply it, watch from
// revision + 1. Events that arrive together (a transaction, a register sidecar writing its keys,
// a script putting several keys) are gathered for kBatch and applied once. When etcd cannot be
// reached, at start or later, the state last applied keeps serving (at start: the file's part
// only); the cycle starts again after a backoff (100 ms doubling to 5 s), and the new range
// catches up with everything that changed meanwhile, deletions included. A compacted watch
// revision ranges again at once. No polling: between changes the only traffic is the watch
// stream (and TCP keepalives, which notice an etcd machine that vanished).
//
// State a set of keys that was refused keeps the running configuration; the same set is not
// tried again until a key changes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin/admin_backend.h"
#include "config/config.h"
#include "config/kv_layout.h"
#include "net/asio.h"

namespace modelgate::control {

class EtcdSource {
 public:
  static constexpr std::chrono::milliseconds kBatch{5};

  // `apply` runs on the control thread with every key under the root; it answers "" when the
  // state was applied, else why it was refused (shown in /api/status).
  using Apply = std::function<std::string(const std::vector<config::KvPair>& kvs, std::int64_t revision)>;

  EtcdSource(asio::io_context& io, config::EtcdProvider settings, Apply apply);
  ~EtcdSource();  // stops
  EtcdSource(const EtcdSource&) = delete;
  EtcdSource& operator=(const EtcdSource&) = delete;

  void start();
  void stop();  // control thread; the watch ends, nothing more is applied
  // Any thread but the control thread: waits until the first range was tried (applied, refused
  // or etcd unreachable), at most `timeout`. True when it was.
  bool wait_first_round(std::chrono::milliseconds timeout);

  const config::EtcdProvider& settings() const;
  // Control thread. etcd's keys when the state last read was refused (nullopt otherwise): a file
  // reload tries them again, as the file may be what they were missing.
  std::optional<std::vector<config::KvPair>> refused() const;
  void applied_with_file();  // that state was applied by a file reload
  admin::ProviderInfo info() const;  // thread-safe
  // modelgate_provider_connected, _revision, _updates_total (docs/observability.md).
  void render_metrics(std::string& out) const;

 private:
  struct State;  // shared with the watch coroutine, which may outlive this object by a handler
  static awaitable<void> run(std::shared_ptr<State> s);
  std::shared_ptr<State> state_;
};

}  // namespace modelgate::control
