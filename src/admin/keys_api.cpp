// The admin API's API-key calls (docs/admin-api.md, docs/auth.md):
//   POST   /api/keys         {"name": "team-b", "models": ["Qwen*"], "priority": "batch",
//                             "limits": {"requestsPerMinute": 60, ...}} -> 201 with the new secret
//   DELETE /api/keys/{name}  -> 200, the key stops working for the next request
// The secret is made by the gateway and appears in the 201 answer only: the gateway keeps its
// SHA-256 alone. Changes are authorised as every other change (api.h).
#include <fmt/format.h>
#include <simdjson.h>

#include "admin/api.h"
#include "admin/json_writer.h"
#include "text/glob.h"

namespace modelgate::admin {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view kExample =
    R"(; send e.g. {"name": "team-b", "models": ["Qwen*"], "priority": "default", "limits": {"requestsPerMinute": 60}})";

std::string read_limits(simdjson::dom::element value, config::KeyLimits& l) {
  simdjson::dom::object object;
  if (value.get(object)) return "`limits` must be a JSON object";
  for (auto [key, v] : object) {
    std::uint64_t* target = key == "requestsPerMinute" ? &l.requestsPerMinute
                            : key == "tokensPerMinute" ? &l.tokensPerMinute
                            : key == "tokensPerDay"    ? &l.tokensPerDay
                            : key == "tokensPerMonth"  ? &l.tokensPerMonth
                            : key == "concurrency"     ? &l.concurrency
                                                       : nullptr;
    if (!target) {
      return fmt::format("Unknown limit `{}`: limits are requestsPerMinute, tokensPerMinute, tokensPerDay, "
                         "tokensPerMonth and concurrency",
                         key);
    }
    if (v.get(*target)) return fmt::format("`limits.{}` must be a whole number of 0 or more (0: no limit)", key);
  }
  return {};
}

std::string read_key_request(const std::string& body, KeyRequest& out) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object object;
  if (parser.parse(body).get(doc)) return fmt::format("The body is not valid JSON{}.", kExample);
  if (doc.get(object)) return fmt::format("The body must be a JSON object{}.", kExample);
  for (auto [key, value] : object) {
    if (key == "name") {
      std::string_view name;
      if (value.get(name) || name.empty()) return fmt::format("`name` must be a non-empty string{}.", kExample);
      out.name = name;
    } else if (key == "models") {
      simdjson::dom::array list;
      if (value.get(list)) return "`models` must be a list of globs such as [\"Qwen*\"].";
      for (auto item : list) {
        std::string_view glob;
        if (item.get(glob)) return "`models` must be a list of globs such as [\"Qwen*\"].";
        if (auto why = text::glob_problem(glob); !why.empty()) return fmt::format("Bad glob \"{}\" in `models`: {}.", glob, why);
        out.models.emplace_back(glob);
      }
    } else if (key == "priority") {
      std::string_view p;
      if (value.get(p) || (p != "interactive" && p != "default" && p != "batch"))
        return "`priority` must be \"interactive\", \"default\" or \"batch\".";
      out.priority = p == "interactive" ? config::Priority::interactive
                     : p == "batch"     ? config::Priority::batch
                                        : config::Priority::normal;
    } else if (key == "limits") {
      if (auto why = read_limits(value, out.limits); !why.empty()) return why + ".";
    } else {
      return fmt::format("Unknown field `{}`: the body takes name, models, priority and limits.", key);
    }
  }
  if (out.name.empty()) return fmt::format("`name` is missing{}.", kExample);
  return {};
}

Response json_answer(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response outcome(const MutationResult& m) {
  if (!m.ok) return error_response(m.status, m.message);
  JsonWriter w;
  w.begin_object().key("message").value(m.message).end_object();
  return json_answer(m.status, w.take());
}

}  // namespace

Response Api::keys_route(const Request& request, std::string_view path, const boost::asio::ip::address& client) {
  const auto method = request.method();
  constexpr std::string_view prefix = "/api/keys/";
  if (path == "/api/keys") {
    if (method != http::verb::post) return method_not_allowed(request.method_string(), path, "POST");
    if (auto refused = refuse_change(request, client)) return std::move(*refused);
    KeyRequest key;
    if (auto why = read_key_request(request.body(), key); !why.empty()) return error_response(400, why, "invalid_body");
    const AddedKey added = backend_.add_key(key);
    if (!added.result.ok) return outcome(added.result);
    JsonWriter w;
    w.begin_object()
        .key("name").value(key.name)
        .key("key").value(added.secret)
        .key("sha256").value(added.sha256)
        .key("message").value(added.result.message)
        .end_object();
    return json_answer(added.result.status, w.take());
  }
  if (method != http::verb::delete_) return method_not_allowed(request.method_string(), path, "DELETE");
  auto name = percent_decode(path.substr(prefix.size()));
  if (!name || name->empty()) {
    return error_response(400, fmt::format("Bad key name in {}: percent-encode it (RFC 3986).", path));
  }
  if (auto refused = refuse_change(request, client)) return std::move(*refused);
  return outcome(backend_.revoke_key(*name));
}

}  // namespace modelgate::admin
