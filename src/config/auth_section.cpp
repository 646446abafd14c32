// The `auth` section: API keys inline (auth.keys) and in a file of their own (auth.keysFile, a
// YAML file whose only key is `keys:`, watched and reloaded with the main file), the budgets file,
// the limits store shared by several gateways (auth.store, auth.storeFailure), and the checks
// across all keys (a name or a secret given twice). docs/auth.md.
//
// A key's secret is hashed (SHA-256) as soon as it is read; the Config holds only digests, so the
// admin API's view of the configuration and every message are free of secrets. A problem in the
// keys file is reported at its own FILE:LINE:COL; like any error, it rejects the whole load, so a
// running gateway keeps the keys it has.
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "config/config_reader.h"
#include "config/suggest.h"
#include "config/values.h"
#include "text/glob.h"
#include "text/sha256.h"

namespace modelgate::config::detail {

namespace {

const Schema kAuth{{"keys", "keysFile", "budgetsFile", "store", "storeFailure"}};
const Schema kKeysFile{{"keys"}};
const Schema kKey{{"name", "key", "sha256", "models", "priority", "limits"}};
const Schema kKeyLimits{{"requestsPerMinute", "tokensPerMinute", "tokensPerDay", "tokensPerMonth", "concurrency"}};

constexpr std::string_view kDefaultBudgets = "modelgate-budgets.sqlite";

// A key's secret as a client sends it after "Bearer ": visible ASCII, no blank.
std::string secret_problem(std::string_view k) {
  if (k.empty()) return "the key is empty";
  if (k.size() > kMaxKeyBytes) return fmt::format("the key is {} bytes long, at most {} are allowed", k.size(), kMaxKeyBytes);
  for (const char c : k) {
    if (c <= ' ' || c > '~') return "the key may hold only visible ASCII characters (no blank, no control byte)";
  }
  return {};
}

bool read_count(YamlReader& r, const Entry& e, std::uint64_t& out) {
  std::uint64_t v = 0;
  const bool scalar = e.node.IsScalar();
  const std::string s = scalar ? e.node.Scalar() : std::string();
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!scalar || s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    r.type_error(e, "a whole number of 0 or more (0: no limit)");
    return false;
  }
  out = v;
  return true;
}

void read_limits(YamlReader& r, const Entry& e, KeyLimits& l) {
  r.each_key(e, kKeyLimits, [&](std::string_view k, const Entry& f) {
    std::uint64_t* target = k == "requestsPerMinute" ? &l.requestsPerMinute
                            : k == "tokensPerMinute" ? &l.tokensPerMinute
                            : k == "tokensPerDay"    ? &l.tokensPerDay
                            : k == "tokensPerMonth"  ? &l.tokensPerMonth
                                                     : &l.concurrency;
    read_count(r, f, *target);
  });
}

void read_priority(YamlReader& r, const Entry& e, Priority& p) {
  std::string v;
  if (!r.read_string(e, v, "interactive, default or batch")) return;
  if (v == "interactive") p = Priority::interactive;
  else if (v == "default") p = Priority::normal;
  else if (v == "batch") p = Priority::batch;
  else
    r.error(e.mark, fmt::format("{}: unknown priority \"{}\"{}", e.path, v,
                                hint(v, {"interactive", "default", "batch"})));
}

// One entry of a `keys:` list; false when it has an error (reported).
bool read_key(YamlReader& r, const Entry& e, ApiKey& key) {
  const std::size_t before = r.diagnostic_count();
  key.file = r.file();
  key.pos = r.pos(e.mark);
  if (!e.node.IsMap()) {
    r.type_error(e, "a map such as {name: team-a, key: sk-...}");
    return false;
  }
  bool has_secret = false;
  r.each_key(e, kKey, [&](std::string_view k, const Entry& f) {
    if (k == "name") {
      if (r.read_string(f, key.name, "a name for the key") && key.name.empty())
        r.error(f.mark, fmt::format("{}: the name is empty, expected a name such as team-a", f.path));
    } else if (k == "key" || k == "sha256") {
      std::string v;
      if (!r.read_string(f, v, k == "key" ? "the key's secret" : "64 hex digits")) return;
      if (has_secret) {
        r.error(f.mark, fmt::format("{}: give either \"key\" or \"sha256\", not both", f.path));
        return;
      }
      has_secret = true;
      if (k == "key") {
        if (auto why = secret_problem(v); !why.empty()) {
          r.error(f.mark, fmt::format("{}: {}", f.path, why));
          return;
        }
        key.digest = text::sha256(v);
      } else if (auto d = text::parse_sha256_hex(v)) {
        key.digest = *d;
      } else {
        r.error(f.mark, fmt::format("{}: expected the SHA-256 of the key as 64 hex digits (e.g. the output "
                                    "of `printf %s KEY | sha256sum`), got {} characters",
                                    f.path, v.size()));
      }
    } else if (k == "models") {
      const std::size_t first = key.models.size();
      r.read_string_list(f, key.models);
      for (std::size_t i = first; i < key.models.size(); ++i) {
        if (auto why = text::glob_problem(key.models[i]); !why.empty())
          r.error(f.mark, fmt::format("{}[{}]: bad glob \"{}\": {}", f.path, i, key.models[i], why));
      }
    } else if (k == "priority") {
      read_priority(r, f, key.priority);
    } else {
      read_limits(r, f, key.limits);
    }
  });
  if (key.name.empty() && r.diagnostic_count() == before)
    r.error(e.mark, fmt::format("{}: the key has no \"name\", expected one (the access log and metrics show it)", e.path));
  if (!has_secret && r.diagnostic_count() == before)
    r.error(e.mark, fmt::format("{}: the key has neither \"key\" nor \"sha256\", expected one of them", e.path));
  return r.diagnostic_count() == before;
}

void read_keys(YamlReader& r, const Entry& list, std::vector<ApiKey>& out) {
  r.each_item(list, "a list of keys such as [{name: team-a, key: sk-...}]", [&](const Entry& item) {
    ApiKey key;
    if (read_key(r, item, key)) out.push_back(std::move(key));
  });
}

// redis://[[user]:password@]host[:port][/db]: what redis-cli -u takes. "" or what is wrong.
std::string parse_store_url(std::string_view url, LimitsStore& out) {
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return "expected a URL such as redis://127.0.0.1:6379 (the scheme must be redis://)";
  std::string_view rest = url.substr(kScheme.size());
  std::string_view shown_auth;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view auth = rest.substr(0, at);
    const auto colon = auth.find(':');
    out.password = std::string(colon == std::string_view::npos ? auth : auth.substr(colon + 1));
    shown_auth = colon == std::string_view::npos ? std::string_view{} : auth.substr(0, colon);
    rest = rest.substr(at + 1);
  }
  std::string_view path;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string_view port;
  if (const auto colon = rest.rfind(':'); colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
    port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return "the URL names no host, expected redis://HOST:PORT";
  out.host = std::string(rest);
  if (!port.empty()) {
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
      return fmt::format("the port \"{}\" is not a number from 1 to 65535", port);
    out.port = static_cast<std::uint16_t>(p);
  }
  if (!path.empty()) {
    auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), out.db);
    if (ec != std::errc() || end != path.data() + path.size())
      return fmt::format("the database \"{}\" is not a number (redis://HOST:PORT/DB, DB from 0)", path);
  }
  out.url = fmt::format("redis://{}{}{}:{}/{}", shown_auth, out.password.empty() ? "" : ":***@", out.host, out.port,
                        out.db);
  return {};
}

void read_store(YamlReader& r, const Entry& e, Auth& auth) {
  std::string url;
  if (!r.read_string(e, url, "a Redis URL such as redis://127.0.0.1:6379")) return;
  LimitsStore store;
  if (auto problem = parse_store_url(url, store); !problem.empty()) {
    r.error(e.mark, fmt::format("{}: {}", e.path, problem));
    return;
  }
  auth.store = std::move(store);
}

// Relative paths are read from the main file's folder, as a user reading the file expects.
std::string beside(const std::string& main_file, const std::string& path) {
  const std::filesystem::path p(path);
  if (p.is_absolute()) return path;
  return (std::filesystem::path(main_file).parent_path() / p).lexically_normal().string();
}

}  // namespace

void ConfigReader::load_auth(const Entry& e) {
  config_.auth.enabled = e.node.IsNull() || e.node.IsMap();
  if (!e.node.IsNull() && !e.node.IsMap()) type_error(e, "a map such as {keys: [...]} or {keysFile: keys.yaml}");
  std::optional<Entry> keys_file;
  std::optional<bool> fail_open;
  each_key(e, kAuth, [&](std::string_view k, const Entry& f) {
    if (k == "store") {
      read_store(*this, f, config_.auth);
    } else if (k == "storeFailure") {
      std::string v;
      if (!read_string(f, v, "failOpen or failClosed")) return;
      if (v == "failOpen" || v == "failClosed") fail_open = v == "failOpen";
      else
        error(f.mark, fmt::format("{}: unknown policy \"{}\", expected failOpen (admit on this gateway's own "
                                  "limits) or failClosed (refuse keyed requests with 503){}",
                                  f.path, v, hint(v, {"failOpen", "failClosed"})));
    } else if (k == "keys") {
      read_keys(*this, f, config_.auth.keys);
    } else if (k == "keysFile") {
      keys_file = f;
    } else if (std::string p; read_string(f, p, "a file path") && !p.empty()) {
      config_.auth.budgetsFile = beside(file(), p);
    }
  });
  if (fail_open && config_.auth.store) config_.auth.store->failOpen = *fail_open;
  if (fail_open && !config_.auth.store)
    warning(e.mark, "auth.storeFailure: there is no auth.store, so the policy has no effect; limits are this gateway's own");
  if (config_.auth.budgetsFile.empty()) config_.auth.budgetsFile = beside(file(), std::string(kDefaultBudgets));
  if (keys_file) load_keys_file(*keys_file);
  check_keys();
}

void ConfigReader::load_keys_file(const Entry& e) {
  std::string name;
  if (!read_string(e, name, "the path of a YAML file with a `keys:` list")) return;
  const std::string path = beside(file(), name);
  config_.auth.keysFile = path;
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  if (in) content << in.rdbuf();
  if (!in || in.bad()) {
    error(e.mark, fmt::format("{}: cannot read the keys file {}: {}; check the path (relative paths start "
                              "at the folder of this file)",
                              e.path, path, std::strerror(errno)));
    return;
  }
  const std::string text = content.str();
  YamlReader keys(text, path);
  try {
    const YAML::Node root = YAML::Load(text);
    if (root.IsNull()) {
      keys.report(Severity::error, {}, "the keys file is empty, expected `keys:` and a list of keys");
    } else {
      keys.each_key(Entry{root, "", root.Mark()}, kKeysFile, [&](std::string_view, const Entry& f) {
        read_keys(keys, f, config_.auth.keys);
      });
    }
  } catch (const YAML::Exception& x) {
    keys.report(Severity::error, keys.pos_at(x.mark.line, x.mark.column), fmt::format("invalid YAML: {}", x.msg));
  }
  auto found = keys.take_diagnostics();
  keys_file_diagnostics_.insert(keys_file_diagnostics_.end(), found.begin(), found.end());
}

// A name or a secret given twice, inline or in the keys file: the second one is the error.
void ConfigReader::check_keys() {
  std::map<std::string, const ApiKey*> names;
  std::map<KeyDigest, const ApiKey*> secrets;
  for (const ApiKey& k : config_.auth.keys) {
    auto report_at = [&](std::string message) {
      if (k.file == file()) report(Severity::error, k.pos, std::move(message));
      else keys_file_diagnostics_.push_back(Diagnostic{Severity::error, k.file, k.pos.line, k.pos.column, std::move(message)});
    };
    if (auto [it, fresh] = names.emplace(k.name, &k); !fresh) {
      report_at(fmt::format("auth.keys: the name \"{}\" is already used by the key at {}:{}:{}, expected "
                            "a name of its own",
                            k.name, it->second->file, it->second->pos.line, it->second->pos.column));
    }
    if (auto [it, fresh] = secrets.emplace(k.digest, &k); !fresh) {
      report_at(fmt::format("auth.keys: key \"{}\" has the same secret as key \"{}\" ({}:{}:{}), expected "
                            "a secret of its own",
                            k.name, it->second->name, it->second->file, it->second->pos.line, it->second->pos.column));
    }
  }
}

}  // namespace modelgate::config::detail
