#include "net/tls_store.h"

#include <sys/stat.h>

#include <fmt/format.h>

namespace modelgate::net {

std::string TlsStore::set(std::vector<CertificateFiles> certs) {
  if (certs == certs_ && !certs_.empty()) return refresh();  // the same files: only if they changed
  auto previous = std::move(certs_);
  certs_ = std::move(certs);
  if (certs_.empty()) {  // no TLS entry point needs them; what runs stays for open connections
    fingerprint_.clear();
    return {};
  }
  auto why = load();
  if (!why.empty()) certs_ = std::move(previous);
  return why;
}

std::string TlsStore::refresh() {
  if (certs_.empty()) return {};
  const auto fp = fingerprint();
  if (fp == fingerprint_ || fp == failed_fingerprint_) return {};
  auto why = load();
  if (!why.empty()) failed_fingerprint_ = fp;
  return why;
}

std::string TlsStore::load() {
  const auto fp = fingerprint();
  std::string error;
  auto next = ServerTls::load(certs_, error);
  if (!next) return error;
  {
    std::lock_guard lock(mutex_);
    current_ = std::move(next);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
  fingerprint_ = fp;
  failed_fingerprint_.clear();
  return {};
}

std::shared_ptr<const ServerTls> TlsStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::string TlsStore::fingerprint() const {
  std::string fp;
  for (const auto& c : certs_) {
    for (const std::string* path : {&c.certFile, &c.keyFile}) {
      struct stat st {};
      if (::stat(path->c_str(), &st) != 0) {
        fp += "-;";
        continue;
      }
      fp += fmt::format("{}:{}:{}.{};", st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    }
  }
  return fp;
}

}  // namespace modelgate::net
