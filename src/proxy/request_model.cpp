#include "proxy/request_model.h"

#include <fmt/format.h>

namespace modelgate::proxy {

ModelField read_model(std::string& body, std::string_view form, std::string& model, ErrorReply& error) {
  if (body.empty()) return ModelField::missing;
  if (form.empty()) {
    const ModelField field = extract_model(body, model);
    if (field == ModelField::duplicate) {
      error = ErrorReply{400, "duplicate_model",
                         "the JSON body has the key \"model\" more than once; send it once (the gateway "
                         "routes by one and the server would read the other)"};
    }
    return field;
  }
  const FormModel found = extract_form_model(body, form);
  switch (found.status) {
    case ModelField::present:
      model.assign(found.model);
      break;
    case ModelField::duplicate:
      error = ErrorReply{400, "duplicate_model",
                         "the multipart/form-data body has more than one \"model\" part; send it once "
                         "(the gateway routes by one and the server would read the other)"};
      break;
    case ModelField::bad_form:
      error = ErrorReply{400, "invalid_multipart",
                         fmt::format("the multipart/form-data body cannot be read: {}", found.problem)};
      break;
    case ModelField::missing:
    case ModelField::not_json:
      break;
  }
  return found.status;
}

ErrorReply alias_in_form(std::string_view alias, std::string_view target) {
  return ErrorReply{400, "alias_not_supported",
                    fmt::format("`{}` is an alias of `{}`, and a multipart/form-data body is forwarded "
                                "unchanged: name `{}` in its \"model\" part",
                                alias, target, target)};
}

}  // namespace modelgate::proxy
