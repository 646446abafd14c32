// Who sent the request being served: the API key it presented, once authenticated. Read by
// everything after authentication on the request's way (the limits, the access log, fair queuing
// by key and priority); empty when the configuration has no `auth` section.
#pragma once

#include <cstdint>
#include <string_view>

#include "config/config.h"

namespace modelgate::tenancy {

struct Key;

struct Caller {
  const Key* key = nullptr;  // lives as long as the snapshot the request is served by
  std::string_view name;     // the key's name ("" without auth)
  config::Priority priority = config::Priority::normal;
  std::uint32_t id = 0;      // stable while a key of this name exists, across reloads; 0: none

  explicit operator bool() const { return key != nullptr; }
};

}  // namespace modelgate::tenancy
