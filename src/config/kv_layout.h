// Traefik's KV layout (etcd, Consul, ...) turned into the same YAML tree a configuration file
// gives, so that every check and message of the file applies to a key-value store unchanged.
//
// A key is a path under the root key; its segments are the YAML keys and its value the scalar:
//   traefik/http/routers/chat/rule                           -> http.routers.chat.rule
//   traefik/http/routers/chat/entrypoints/0                  -> http.routers.chat.entryPoints[0]
//   traefik/http/services/qwen/loadbalancer/servers/1/url    -> ...loadBalancer.servers[1].url
// A folder whose segments are all decimal numbers is a list, its items in numeric order (gaps are
// allowed, as Traefik's decoder allows them; `modelgate register` numbers its servers by a hash of
// the URL, docs/scale-out.md). Keys are case-insensitive as in Traefik: the reader
// matches them without the warning a file gets.
//
// The tree is written as YAML text with one key per line and each value double-quoted, and the
// etcd key each line stands for is kept beside it: a problem the reader finds at a line is then
// reported at its etcd key instead of FILE:LINE:COL. An empty value is written as no value (YAML
// null), as a folder marker or a section enabled by its presence (`.../healthcheck`) needs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.h"

namespace modelgate::config {

struct KvPair {
  std::string key;    // the full key, "traefik/http/routers/chat/rule"
  std::string value;
};

struct KvDocument {
  std::string text;                     // YAML, one key per line
  std::vector<std::string> line_keys;   // line i of text (0-based) stands for this key or folder
  std::vector<Diagnostic> diagnostics;  // keys that cannot be placed in a tree
};

// `root_key` without a trailing '/'. Pairs outside it are reported, not read.
KvDocument kv_document(std::string_view root_key, const std::vector<KvPair>& pairs);

// How a diagnostic about a key is named: "etcd key traefik/http/routers/chat/rule".
std::string kv_place(std::string_view provider, std::string_view key);

}  // namespace modelgate::config
