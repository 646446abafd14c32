#include "runtime/catalogue.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <map>

#include "text/json_escape.h"
#include "text/percent.h"

namespace modelgate::runtime {

namespace {

constexpr std::string_view kListPath = "/v1/models";

bool usable(const balancing::ServerState& s, std::int64_t now_ns) {
  return s.healthy.load(std::memory_order_relaxed) && !s.ejected(now_ns) &&
         !s.draining.load(std::memory_order_relaxed) && !s.spec.drain;
}

template <class T>
void add_once(std::vector<T>& v, const T& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

bool discovers(const ServiceRuntime& svc) { return svc.lb.discoverModels.enabled; }

// Builds the entries of one entry point, keyed by model id.
class Builder {
 public:
  explicit Builder(const Snapshot& snapshot) : snap_(snapshot) {}

  // A router sends `model` to `svc`: its servers hold it (with discovery, those that list it).
  // `named`: a Model(...) matcher names it, so it is listed even when no server lists it yet.
  void hold(const std::string& model, const ServiceRuntime& svc, bool named) {
    const ServerSet* listing = discovers(svc) ? servers_for(snap_, model) : nullptr;
    ServerSet holders;
    for (const auto& server : svc.servers) {
      const bool lists =
          listing && std::find(listing->begin(), listing->end(), server.get()) != listing->end();
      if (!discovers(svc) || lists) holders.push_back(server.get());
    }
    if (holders.empty() && !named) return;
    auto& e = entry(model);
    add_once(e.services, svc.name);
    for (const auto* s : holders) add_once(e.servers, s);
  }

  void route(const Route& r) {
    const ServiceRuntime& svc = snap_.services[r.service];
    for (const auto& model : r.rule->served_models()) hold(model, svc, true);
    // A rule without model matchers takes every model its discovering service lists; a
    // ModelRegexp takes the discovered models it matches, wherever they were discovered.
    if (!r.rule->needs_model() && !discovers(svc)) return;
    for (const auto& model : snap_.models) {
      if (r.rule->may_match_model(model)) hold(model, svc, false);
    }
  }

  void aliases() {
    for (const auto& [name, alias] : snap_.config.models) {
      if (alias.target.empty() || by_id_.contains(name)) continue;
      CatalogueEntry e;
      e.id = name;
      e.alias_of = alias.target;
      if (auto it = by_id_.find(alias.target); it != by_id_.end()) {
        e.services = it->second.services;
        e.servers = it->second.servers;
      }
      by_id_.emplace(name, std::move(e));
    }
  }

  std::vector<CatalogueEntry> take() {
    std::vector<CatalogueEntry> out;
    out.reserve(by_id_.size());
    for (auto& [_, e] : by_id_) out.push_back(std::move(e));
    return out;  // std::map: sorted by id
  }

 private:
  CatalogueEntry& entry(const std::string& model) {
    auto [it, fresh] = by_id_.try_emplace(model);
    if (fresh) it->second.id = model;
    return it->second;
  }

  const Snapshot& snap_;
  std::map<std::string, CatalogueEntry, std::less<>> by_id_;
};

}  // namespace

const ServerSet* servers_for(const Snapshot& snapshot, std::string_view model) {
  auto it = snapshot.model_servers.find(std::string(model));
  return it == snapshot.model_servers.end() ? nullptr : &it->second;
}

std::size_t available(const ServerSet& servers, std::int64_t now_ns) {
  std::size_t n = 0;
  for (const auto* s : servers) n += usable(*s, now_ns);
  return n;
}

std::vector<CatalogueEntry> build_catalogue(const Snapshot& snapshot, const EntryPointRuntime& ep) {
  Builder b(snapshot);
  for (const auto& r : ep.routes) b.route(r);
  b.aliases();
  return b.take();
}

bool answers_model_list(const Snapshot& snapshot, const EntryPointRuntime& ep) {
  bool model_routed = !snapshot.config.models.empty();
  for (const auto& r : ep.routes) {
    if (r.rule->names_path_under(kListPath)) return false;
    model_routed = model_routed || r.rule->needs_model() || discovers(snapshot.services[r.service]);
  }
  return model_routed;
}

std::string render_model(const CatalogueEntry& e, std::int64_t now_ns) {
  // The same URL in two services is one machine: counted and listed once.
  std::vector<std::string_view> urls, up;
  for (const auto* s : e.servers) {
    add_once(urls, std::string_view(s->spec.url));
    if (usable(*s, now_ns)) add_once(up, std::string_view(s->spec.url));
  }
  std::string out =
      fmt::format(R"({{"id":{},"object":"model","created":0,"owned_by":"modelgate","servers":{})",
                  text::json_string(e.id), up.size());
  if (!e.alias_of.empty()) out += fmt::format(R"(,"alias_of":{})", text::json_string(e.alias_of));
  out += R"(,"modelgate":{"services":[)";
  for (std::size_t i = 0; i < e.services.size(); ++i)
    out += (i ? "," : "") + text::json_string(e.services[i]);
  out += R"(],"servers":[)";
  for (std::size_t i = 0; i < urls.size(); ++i) {
    const bool is_up = std::find(up.begin(), up.end(), urls[i]) != up.end();
    out += fmt::format(R"({}{{"url":{},"available":{}}})", i ? "," : "", text::json_string(urls[i]), is_up);
  }
  out += fmt::format(R"(],"available":{}}}}})", !up.empty());
  return out;
}

std::string render_model_list(const std::vector<CatalogueEntry>& entries, std::int64_t now_ns) {
  std::string out = R"({"object":"list","data":[)";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i) out += ',';
    out += render_model(entries[i], now_ns);
  }
  out += "]}";
  return out;
}

std::optional<ModelListAnswer> answer_model_request(const Snapshot& snapshot, const EntryPointRuntime& ep,
                                                    std::string_view path, std::int64_t now_ns,
                                                    const tenancy::Key* key) {
  if (!path.starts_with(kListPath)) return std::nullopt;
  const std::string_view rest = path.substr(kListPath.size());
  if (!rest.empty() && rest.front() != '/') return std::nullopt;  // /v1/modelsfoo
  if (!answers_model_list(snapshot, ep)) return std::nullopt;
  auto entries = build_catalogue(snapshot, ep);
  if (key) std::erase_if(entries, [&](const CatalogueEntry& e) { return !key->allows(e.id); });
  if (rest.empty()) return ModelListAnswer{200, render_model_list(entries, now_ns)};
  // GET /v1/models/{id}: ids may hold '/' (Hugging Face names), sent as is or as %2F.
  const std::string id = text::percent_decode(rest.substr(1));
  auto it = std::find_if(entries.begin(), entries.end(), [&](const CatalogueEntry& e) { return e.id == id; });
  if (it != entries.end()) return ModelListAnswer{200, render_model(*it, now_ns)};
  std::vector<std::string> ids;
  std::transform(entries.begin(), entries.end(), std::back_inserter(ids), [](const auto& e) { return e.id; });
  return ModelListAnswer{
      404, fmt::format("The model `{}` is not served by this gateway. Available models: {}", id,
                       ids.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(ids, ", ")))};
}

std::string model_names(const Snapshot& snapshot, const std::vector<std::string>& more) {
  std::vector<std::string> names = snapshot.models;
  for (const auto& [name, _] : snapshot.config.models) names.push_back(name);
  names.insert(names.end(), more.begin(), more.end());
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names.empty() ? "(none)" : fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace modelgate::runtime
