// The gateway's server certificates as they are now, replaced whole when a file changes.
//
// The control plane sets the list of certificate files (from the configuration, at start and on
// each reload) and calls refresh() once a second: when a file's inode, size or modification time
// changed, every certificate is loaded again into a new ServerTls. Handshakes that begin after the
// swap use the new one; connections already open keep the one they began with (their SSL objects
// hold references to their contexts), so none is dropped. A file that cannot be loaded leaves the
// running certificates in place and is reported, by name, once per change.
//
// Workers take the current set once per new TLS connection: a generation counter (one atomic
// load) tells a worker when its cached pointer is stale; only then does it take the mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/tls.h"

namespace modelgate::net {

class TlsStore {
 public:
  // Loads `certs` (the first is the default); on failure keeps what runs and returns why.
  std::string set(std::vector<CertificateFiles> certs);
  // Loads the files again when one of them changed since the last load; "" when nothing changed
  // or the reload worked, else why the running certificates were kept.
  std::string refresh();

  bool empty() const { return generation_.load(std::memory_order_acquire) == 0; }
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  std::shared_ptr<const ServerTls> current() const;

 private:
  std::string fingerprint() const;  // of the files in certs_
  std::string load();

  mutable std::mutex mutex_;  // guards current_ (control plane, and workers on a new generation)
  std::shared_ptr<const ServerTls> current_;
  std::atomic<std::uint64_t> generation_{0};
  // Control plane only:
  std::vector<CertificateFiles> certs_;
  std::string fingerprint_;
  std::string failed_fingerprint_;  // a change already reported as bad
};

// A worker's view of a TlsStore: the current set, re-read only when the store's generation moved.
class TlsStoreView {
 public:
  explicit TlsStoreView(const TlsStore& store) : store_(store) {}
  const std::shared_ptr<const ServerTls>& current() {
    const auto gen = store_.generation();
    if (gen != generation_) {
      cached_ = store_.current();
      generation_ = gen;
    }
    return cached_;
  }

 private:
  const TlsStore& store_;
  std::uint64_t generation_ = 0;
  std::shared_ptr<const ServerTls> cached_;
};

}  // namespace modelgate::net
