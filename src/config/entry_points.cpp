// The entryPoints section: where modelgate listens, with the timeouts and size limits of each
// listener. Each address is recorded for the check that no two listeners share a port
// (loader.cpp). See config_reader.h.
#include <string>

#include <fmt/format.h>

#include "config/config_reader.h"

namespace modelgate::config::detail {

namespace {

const Schema kEntryPoint{{"address", "timeouts", "limits", "upstreamHeader", "http"},
                         {"transport", "forwardedHeaders", "proxyProtocol", "http2", "http3",
                          "udp", "asDefault", "observability", "reusePort", "allowACMEByPass"}};
const Schema kEntryPointTimeouts{{"readHeader", "readBody", "idle"}};
const Schema kLimits{{"maxHeaderBytes", "maxHeaders", "maxBodyBytes"}};

}  // namespace

void ConfigReader::load_entry_points(const Entry& e) {
  each_named(e, "a map of entry points such as {web: {address: \":8080\"}}",
             [&](const std::string& name, const YAML::Mark& key, const Entry& v) {
               load_entry_point(name, key, v);
             });
}

void ConfigReader::load_entry_point(const std::string& name, const YAML::Mark& key, const Entry& e) {
  EntryPoint ep;
  ep.name = name;
  ep.pos = pos(key);
  bool has_address = false;
  each_key(e, kEntryPoint, [&](std::string_view k, const Entry& f) {
    if (k == "address") {
      has_address = true;
      if (read_listen_address(f, ep.host, ep.port)) {
        listeners_.push_back({fmt::format("entry point \"{}\"", name), f.path, f.node.Scalar(),
                              ep.host, ep.port, f.mark});
      }
    } else if (k == "timeouts") {
      each_key(f, kEntryPointTimeouts, [&](std::string_view t, const Entry& g) {
        auto& timeouts = ep.timeouts;
        read_duration(g, t == "readHeader" ? timeouts.readHeader : t == "readBody" ? timeouts.readBody : timeouts.idle,
                      false);
      });
    } else if (k == "limits") {
      each_key(f, kLimits, [&](std::string_view l, const Entry& g) {
        if (l == "maxHeaderBytes") {
          read_size(g, ep.limits.maxHeaderBytes);
        } else if (l == "maxBodyBytes") {
          read_size(g, ep.limits.maxBodyBytes);
        } else if (l == "maxHeaders") {
          // The request parser holds at most kMaxHeaderFields fields (a fixed array, no allocation).
          int n = 0;
          if (read_int(g, n, 1, kMaxHeaderFields)) ep.limits.maxHeaders = static_cast<std::size_t>(n);
        }
      });
    } else if (k == "upstreamHeader") {
      read_bool(f, ep.upstreamHeader);
    } else if (k == "http") {
      load_entry_point_http(f, ep);
    }
  });
  if (!has_address && (e.node.IsNull() || e.node.IsMap())) {
    error(key, fmt::format("{}: missing \"address\", expected e.g. address: \":8080\"", e.path));
  }
  config_.entryPoints[name] = std::move(ep);
}

}  // namespace modelgate::config::detail
