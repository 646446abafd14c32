// simdjson's on-demand parser walks only as far as the "model" key: for a chat request the key is
// usually first, so a large prompt is not parsed at all.
#include "proxy/model_field.h"

#include <simdjson.h>

#include "text/json_parser.h"

namespace modelgate::proxy {

ModelField extract_model(std::string& body, std::string& model) {
  auto& parser = text::thread_json_parser();
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  simdjson::ondemand::document doc;
  if (parser.iterate(body.data(), body.size(), body.capacity()).get(doc)) return ModelField::not_json;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return ModelField::not_json;
  simdjson::ondemand::value v;
  auto err = obj.find_field_unordered("model").get(v);
  if (err == simdjson::NO_SUCH_FIELD) return ModelField::missing;
  if (err) return ModelField::not_json;
  std::string_view s;
  if (v.get_string().get(s)) return ModelField::missing;
  model.assign(s);
  return ModelField::present;
}

bool replace_model(std::string& body, std::string_view model) {
  auto& parser = text::thread_json_parser();
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  simdjson::ondemand::document doc;
  if (parser.iterate(body.data(), body.size(), body.capacity()).get(doc)) return false;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return false;
  simdjson::ondemand::value v;
  if (obj.find_field_unordered("model").get(v)) return false;
  std::string_view raw = v.raw_json_token();  // the token as written, quotes included
  while (!raw.empty() && raw.back() != '"') raw.remove_suffix(1);
  if (raw.size() < 2 || raw.front() != '"') return false;
  const auto offset = static_cast<std::size_t>(raw.data() - body.data());
  std::string quoted;
  quoted.reserve(model.size() + 2);
  quoted += '"';
  for (char c : model) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  quoted += '"';
  body.replace(offset, raw.size(), quoted);
  return true;
}

}  // namespace modelgate::proxy
