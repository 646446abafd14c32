// simdjson's on-demand parser: stage 1 indexes the body's structure once, then the walk over the
// top-level keys skips every value but the model's along that index (a long prompt string is one
// step), so looking past the first "model" for a second one costs no second pass over the bytes.
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
  // Every top-level key, to find a second "model": values other than the model's are skipped on
  // the structural index the parser built anyway, without touching their bytes again.
  bool seen = false;
  bool is_string = false;
  for (auto f : obj) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return ModelField::not_json;
    if (key != "model") continue;
    if (seen) return ModelField::duplicate;
    seen = true;
    simdjson::ondemand::json_type type;
    if (field.value().type().get(type)) return ModelField::not_json;
    std::string_view s;
    is_string = type == simdjson::ondemand::json_type::string && !field.value().get_string().get(s);
    if (is_string) model.assign(s);
  }
  return is_string ? ModelField::present : ModelField::missing;
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
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20) {  // control characters must be escaped in a JSON string (RFC 8259 §7)
      constexpr char kHex[] = "0123456789abcdef";
      quoted += "\\u00";
      quoted += kHex[u >> 4];
      quoted += kHex[u & 15];
      continue;
    }
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  quoted += '"';
  body.replace(offset, raw.size(), quoted);
  return true;
}

FormModel extract_form_model(std::string_view body, std::string_view boundary) {
  http1::FormParts parts(body, boundary);
  FormModel found;
  http1::FormPart part;
  while (parts.next(part)) {
    if (part.name != "model") continue;
    if (found.status == ModelField::present) return {ModelField::duplicate, {}, {}};
    if (!part.identity_coding) return {ModelField::bad_form, {}, "the model part has a Content-Transfer-Encoding; send it as plain text"};
    found = {ModelField::present, part.content, {}};
  }
  if (!parts.problem().empty()) return {ModelField::bad_form, {}, parts.problem()};
  return found;
}

}  // namespace modelgate::proxy
