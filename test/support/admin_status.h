// GET /api/status as the reload tests read it: the config generation and the last reload.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "support/http_client.h"
#include "support/json.h"

namespace modelgate::test {

struct ReloadStatus {
  std::uint64_t generation = 0;
  bool has_reload = false, reload_ok = false;
  std::vector<std::string> errors;
};

inline ReloadStatus reload_status(HttpClient& admin) {
  ReloadStatus st;
  auto r = admin.get("/api/status");
  Json j(r.body);
  if (r.status != 200 || !j.ok) return st;
  std::uint64_t g = 0;
  if (!j.root["generation"].get(g)) st.generation = g;
  simdjson::dom::object reload;
  if (j.root["last_reload"].get(reload)) return st;
  st.has_reload = true;
  bool ok = false;
  if (!reload["ok"].get(ok)) st.reload_ok = ok;
  simdjson::dom::array errors;
  if (!reload["errors"].get(errors)) {
    for (auto e : errors) {
      std::string_view s;
      if (!e.get(s)) st.errors.emplace_back(s);
    }
  }
  return st;
}

}  // namespace modelgate::test
