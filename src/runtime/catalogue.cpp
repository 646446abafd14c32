#include "runtime/catalogue.h"

#include <fmt/format.h>

#include <algorithm>

#include "text/json_escape.h"

namespace modelgate::runtime {

const ServerSet* servers_for(const Snapshot& snapshot, std::string_view model) {
  auto it = snapshot.model_servers.find(std::string(model));
  return it == snapshot.model_servers.end() ? nullptr : &it->second;
}

std::size_t available(const ServerSet& servers) {
  const auto now = balancing::steady_now_ns();
  std::size_t n = 0;
  for (const auto* s : servers) {
    n += s->healthy.load(std::memory_order_relaxed) && !s->ejected(now) &&
         !s->draining.load(std::memory_order_relaxed) && !s->spec.drain;
  }
  return n;
}

std::string render_model_list(const Snapshot& snapshot) {
  std::string out = R"({"object":"list","data":[)";
  bool first = true;
  auto add = [&](std::string_view id, std::size_t servers, std::string_view target) {
    out += first ? "" : ",";
    first = false;
    out += fmt::format(R"({{"id":{},"object":"model","created":0,"owned_by":"modelgate","servers":{})",
                       text::json_string(id), servers);
    if (!target.empty()) out += fmt::format(R"(,"alias_of":{})", text::json_string(target));
    out += "}";
  };
  for (const auto& model : snapshot.models) add(model, available(*servers_for(snapshot, model)), "");
  for (const auto& [name, alias] : snapshot.config.models) {
    if (alias.target.empty() || servers_for(snapshot, name)) continue;
    const auto* servers = servers_for(snapshot, alias.target);
    add(name, servers ? available(*servers) : 0, alias.target);
  }
  out += "]}";
  return out;
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
