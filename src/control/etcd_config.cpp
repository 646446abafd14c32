// The control plane's side of the etcd provider: the provider started, restarted or stopped as
// providers.etcd says, and each state it reads applied with the file like a reload
// (control_plane.h, etcd_source.h).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "control/control_plane.h"
#include "config/loader.h"
#include "control/etcd_source.h"

namespace modelgate::control {

void ControlPlane::sync_etcd(const config::EtcdProvider& settings) {
  if (config_path_.empty()) return;  // an embedded config (demo) has no file to combine with
  if (etcd_ && settings.enabled && etcd_->settings() == settings) return;
  if (etcd_) {
    etcd_->stop();
    etcd_.reset();
    spdlog::info("etcd provider: settings changed, reconnecting");
  }
  const bool had_part = etcd_doc_.has_value();
  etcd_doc_.reset();
  if (!settings.enabled) {
    // etcd's part leaves with the provider.
    if (had_part) load_and_apply("providers.etcd removed", nullptr, nullptr);
    return;
  }
  etcd_ = std::make_unique<EtcdSource>(io_, settings, [this](const auto& kvs, std::int64_t revision) {
    return apply_etcd(kvs, revision);
  });
  etcd_->start();
}

std::string ControlPlane::apply_etcd(const std::vector<config::KvPair>& kvs, std::int64_t revision) {
  if (!etcd_) return "the provider is stopped";
  config::KvDocument doc = config::kv_document(etcd_->settings().rootKey, kvs);
  const auto errors = load_and_apply(fmt::format("etcd revision {}", revision), &doc, nullptr);
  if (!errors.empty()) return errors.front();
  etcd_doc_ = std::move(doc);
  return {};
}

bool ControlPlane::retry_refused_etcd(const std::string& reason, service::Reloading* notice) {
  if (!etcd_) return false;
  auto refused = etcd_->refused();
  if (!refused) return false;
  config::KvDocument doc = config::kv_document(etcd_->settings().rootKey, *refused);
  if (!config::load_file(config_path_, parse_guard_, &doc).config) return false;  // still not: the usual reload
  if (!load_and_apply(reason + ", with etcd's state refused before", &doc, notice).empty()) return false;
  etcd_doc_ = std::move(doc);
  etcd_->applied_with_file();
  return true;
}

}  // namespace modelgate::control
